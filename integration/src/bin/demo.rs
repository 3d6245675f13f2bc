//! The demo (`cargo xtask demo` runs it inside the kernel lab): three
//! simulated clusters from `integration/demo/endpoints/`, one `cable-engine`
//! per gateway, all cables up, `show connections` with live RTTs, pings
//! between pods of different clusters, and a clean stop.

use anyhow::{bail, Context, Result};
use integration::sites::{all_connected, Engine};
use integration::topo::{host_sh, Netns};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CLUSTERS: usize = 3;

fn say(s: &str) {
    println!("demo: {s}");
}

/// A hub namespace with a bridge, and one gateway namespace per cluster
/// attached to it: 192.168.100.N/24, pods 10.N.0.1/16, services 100.N.0.1/16,
/// routes to the other clusters' CIDRs through their gateways.
fn build_network() -> Result<(Netns, Vec<Netns>)> {
    let hub = Netns::new("hub")?;
    hub.sh("ip link add lan0 type bridge && ip link set lan0 up")?;
    let mut gws = Vec::new();
    for n in 1..=CLUSTERS {
        let gw = Netns::new(&format!("cluster{n}"))?;
        host_sh(&format!(
            "ip link add dmo{n}a type veth peer name dmo{n}b && ip link set dmo{n}a netns {gw} name wan && ip link set dmo{n}b netns {hub} name port{n}",
            gw = gw.name(),
            hub = hub.name()
        ))?;
        hub.sh(&format!(
            "ip link set port{n} master lan0 && ip link set port{n} up"
        ))?;
        gw.sh(&format!(
            "ip addr add 192.168.100.{n}/24 dev wan && ip link set wan up"
        ))?;
        gw.add_pod_addr(&format!("10.{n}.0.1/16"))?;
        gw.add_pod_addr(&format!("100.{n}.0.1/16"))?;
        for m in (1..=CLUSTERS).filter(|m| *m != n) {
            gw.sh(&format!(
                "ip route add 10.{m}.0.0/16 via 192.168.100.{m} src 10.{n}.0.1 && ip route add 100.{m}.0.0/16 via 192.168.100.{m} src 10.{n}.0.1"
            ))?;
        }
        gws.push(gw);
    }
    Ok((hub, gws))
}

fn endpoints_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("demo")
        .join("endpoints")
}

fn run() -> Result<()> {
    if !integration::lab::in_lab() {
        bail!("the demo runs inside the kernel lab: use `cargo xtask demo`");
    }
    let dir = endpoints_dir();
    say(&format!("{CLUSTERS} clusters from {}", dir.display()));
    let (_hub, gws) = build_network()?;
    say("network: gateways 192.168.100.1-3 on one LAN; pods 10.N.0.0/16 and services 100.N.0.0/16 behind each");
    let work = PathBuf::from(format!("/tmp/cable-engine-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let started = Instant::now();
    let mut engines = Vec::new();
    for (i, gw) in gws.iter().enumerate() {
        let id = format!("cluster{}", i + 1);
        engines.push(Engine::start_cluster(
            gw,
            &id,
            &dir,
            &work,
            &[("SUBMARINER_HEALTHCHECKINTERVAL", "1")],
        )?);
    }
    say("started one cable-engine per gateway (IKEv2 on UDP 4500, PSK from CE_IPSEC_PSK)");

    let with_rtt = |c: &[serde_json::Value]| {
        c.len() == CLUSTERS - 1
            && all_connected(c)
            && c.iter().all(|x| {
                x["latencyRTT"]["average"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty() && s != "0s")
            })
    };
    for (i, e) in engines.iter_mut().enumerate() {
        e.wait_for(
            &format!("cluster{} connected", i + 1),
            Duration::from_secs(180),
            with_rtt,
        )?;
    }
    say(&format!(
        "all {} cables connected after {:.1?} (emulated VM: real hardware is much faster)",
        CLUSTERS * (CLUSTERS - 1) / 2,
        started.elapsed()
    ));
    for (i, e) in engines.iter().enumerate() {
        println!("\n$ cable-engine show connections   # on cluster{}", i + 1);
        print!("{}", e.show(false)?);
    }
    println!();
    for m in 2..=CLUSTERS {
        let out = gws[0].sh(&format!("ping -c3 -i0.3 -W2 -I 10.1.0.1 10.{m}.0.1"))?;
        let summary = out
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or("")
            .to_string();
        if !out.contains("3 received") {
            bail!("ping from a cluster1 pod to a cluster{m} pod failed:\n{out}");
        }
        say(&format!(
            "ping pod 10.1.0.1 (cluster1) -> 10.{m}.0.1 (cluster{m}): {summary}"
        ));
    }
    // Without the larval SAs of SPIs reserved ahead of need (source 0.0.0.0).
    let states = gws[0].sh("ip xfrm state | grep '^src' | grep -vc '^src 0.0.0.0 ' || true")?;
    say(&format!(
        "cluster1's gateway holds {} ESP SAs, programmed over netlink by cable-engine",
        states.trim()
    ));
    for (i, mut e) in engines.into_iter().enumerate() {
        let st = e.terminate(Duration::from_secs(20))?;
        if !st.success() {
            bail!("cluster{} engine exited with {st}\n{}", i + 1, e.log_text());
        }
    }
    for (i, gw) in gws.iter().enumerate() {
        let sas = gw.sh("ip xfrm state | grep -c '^src' || true")?;
        // Policy entries show a `dir` line (the IKE socket's own bypass
        // policies, `socket in/out`, are gone with the process).
        let policies = gw.sh("ip xfrm policy | grep -c '^\\s*dir ' || true")?;
        if sas.trim() != "0" || policies.trim() != "0" {
            bail!(
                "cluster{}: {} SAs and {} policies left after SIGTERM",
                i + 1,
                sas.trim(),
                policies.trim()
            );
        }
    }
    say("engines stopped with SIGTERM; no SA or policy left in any gateway's kernel");
    say(&format!(
        "shown: {CLUSTERS} clusters meshed over IKEv2/ESP by cable-engine, live RTTs in `show connections`, pods pinging across clusters, clean teardown"
    ));
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run().context("the demo failed") {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
