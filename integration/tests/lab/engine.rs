//! Two `cable-engine` daemons, configured only through endpoints directories
//! and CE_IPSEC_PSK, build a real tunnel.

use crate::common::xfrm_state;
use integration::lab::require_lab;
use integration::sites::{all_connected, http_get, Engine, Site};
use integration::topo::TwoSites;
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) fn sites() -> (Site, Site) {
    let a = Site {
        cluster_id: "cluster-a".into(),
        private_ip: TwoSites::LEFT_IP.into(),
        public_ip: TwoSites::LEFT_IP.into(),
        health_check_ip: TwoSites::LEFT_POD_IP.into(),
        subnets: vec![TwoSites::LEFT_PODS.into()],
        nat_enabled: false,
        preferred_server: false,
        ..Default::default()
    };
    let b = Site {
        cluster_id: "cluster-b".into(),
        private_ip: TwoSites::RIGHT_IP.into(),
        public_ip: TwoSites::RIGHT_IP.into(),
        health_check_ip: TwoSites::RIGHT_POD_IP.into(),
        subnets: vec![TwoSites::RIGHT_PODS.into()],
        nat_enabled: false,
        preferred_server: false,
        ..Default::default()
    };
    (a, b)
}

fn xfrm_entries(ns: &integration::topo::Netns) -> (usize, usize) {
    let states = xfrm_state(ns);
    let policies = ns.sh("ip xfrm policy").unwrap_or_default();
    let states = states.lines().filter(|l| l.starts_with("src ")).count();
    // Per-socket policies (the IKE socket's bypass) show as "socket in/out"
    // and are not entries of the policy database: count only dir lines.
    let policies = policies
        .lines()
        .filter(|l| l.trim_start().starts_with("dir "))
        .count();
    (states, policies)
}

#[test]
fn engine_pair_connects() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let work = tempdir("engine-pair");
    let (a, b) = sites();
    // Each engine reads its own copy, so one side's view can change alone.
    let dir_a = work.join("endpoints-a");
    let dir_b = work.join("endpoints-b");
    for dir in [&dir_a, &dir_b] {
        a.write_into(dir).unwrap();
        b.write_into(dir).unwrap();
    }
    let env = [("SUBMARINER_HEALTHCHECKINTERVAL", "1")];
    let limit = Duration::from_secs(90);
    let (mut ea, mut eb) = connect_pair(&t, (&a, &dir_a), (&b, &dir_b), &work, &env, limit);

    // Traffic between the pod CIDRs goes through the tunnel.
    let ping = t
        .left
        .sh(&format!(
            "ping -c3 -i0.3 -W2 -I {} {}",
            TwoSites::LEFT_POD_IP,
            TwoSites::RIGHT_POD_IP
        ))
        .expect("ping through the tunnel");
    assert!(ping.contains("3 received"), "{ping}");
    let states = t.left.sh("ip -s xfrm state").unwrap();
    assert!(
        states.contains("proto esp"),
        "no ESP state on the left:\n{states}"
    );

    // Both sides report connected with an RTT from the health check.
    let has_rtt = |c: &[serde_json::Value]| {
        all_connected(c)
            && c.iter().all(|x| {
                x["latencyRTT"]["average"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty() && s != "0s")
            })
    };
    let ca = ea.wait_for("RTT on cluster-a", limit, has_rtt).unwrap();
    eb.wait_for("RTT on cluster-b", limit, has_rtt).unwrap();
    assert_eq!(ca[0]["endpoint"]["cluster_id"], "cluster-b");
    let table = ea.show(false).unwrap();
    println!("{table}");
    assert!(
        table.contains("cluster-b") && table.contains("connected"),
        "{table}"
    );

    // Probes and Submariner's metrics, with bytes from the kernel SA counters.
    assert!(http_get(&t.left, 32780, "/healthz")
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    assert!(http_get(&t.left, 32780, "/readyz")
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    let metric = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("remote_cluster=\"cluster-b\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let start = std::time::Instant::now();
    let metrics = loop {
        let m = http_get(&t.left, 32780, "/metrics").unwrap();
        if metric(&m, "submariner_gateway_rx_bytes").unwrap_or(0.0) > 0.0
            || start.elapsed() > Duration::from_secs(20)
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        metric(&metrics, "submariner_gateway_rx_bytes").unwrap_or(0.0) > 0.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "submariner_gateway_tx_bytes").unwrap_or(0.0) > 0.0,
        "{metrics}"
    );
    assert!(metrics.contains("status=\"connected\"} 1"), "{metrics}");
    assert!(
        metric(&metrics, "submariner_connection_latency_seconds").is_some_and(|v| v > 0.0),
        "{metrics}"
    );
    assert!(
        metric(&metrics, "submariner_connection_established_timestamp").is_some_and(|v| v > 1.6e9),
        "{metrics}"
    );

    // Removing the remote Endpoint removes every SA and policy on that side.
    std::fs::remove_file(b.endpoint_file(&dir_a)).unwrap();
    wait_until(
        "left XFRM state emptied",
        Duration::from_secs(30),
        || xfrm_entries(&t.left) == (0, 0),
        &ea,
    );

    // SIGTERM leaves no owned XFRM state behind.
    let (s, p) = xfrm_entries(&t.right);
    assert!(
        s > 0 && p > 0,
        "right side should still have its SAs before SIGTERM"
    );
    let status = eb.terminate(Duration::from_secs(20)).expect("SIGTERM");
    assert!(
        status.success(),
        "engine exited with {status}\n{}",
        eb.log_text()
    );
    assert_eq!(
        xfrm_entries(&t.right),
        (0, 0),
        "XFRM entries left after SIGTERM:\n{}\n{}",
        t.right.sh("ip xfrm state list nokeys").unwrap_or_default(),
        t.right.sh("ip xfrm policy").unwrap_or_default()
    );
}

/// Start one engine per site (left reads `dir_a`, right `dir_b`) and wait
/// until both report every cable connected.
pub(crate) fn connect_pair(
    t: &TwoSites,
    (a, dir_a): (&Site, &Path),
    (b, dir_b): (&Site, &Path),
    work: &Path,
    env: &[(&str, &str)],
    limit: Duration,
) -> (Engine, Engine) {
    let mut ea = Engine::start(&t.left, a, dir_a, work, env).expect("engine a");
    let mut eb = Engine::start(&t.right, b, dir_b, work, env).expect("engine b");
    ea.wait_for("cluster-a connected", limit, all_connected)
        .unwrap();
    eb.wait_for("cluster-b connected", limit, all_connected)
        .unwrap();
    (ea, eb)
}

fn wait_until(what: &str, limit: Duration, f: impl Fn() -> bool, engine: &Engine) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "{what}: not within {limit:?}\n--- log ---\n{}",
        engine.log_text()
    );
}

pub(crate) fn tempdir(name: &str) -> std::path::PathBuf {
    let p = Path::new("/tmp").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// An engine that crashes (SIGKILL) and starts again finds its SAs still in
/// the kernel, keeps them while it rebuilds the cable, and the traffic
/// between the pod CIDRs goes on. The lost pings are counted and printed.
#[test]
fn engine_restart_keeps_traffic_flowing() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let work = tempdir("engine-restart");
    let (a, b) = sites();
    let dir = work.join("endpoints");
    a.write_into(&dir).unwrap();
    b.write_into(&dir).unwrap();
    let limit = Duration::from_secs(90);
    let (mut ea, _eb) = connect_pair(&t, (&a, &dir), (&b, &dir), &work, &[], limit);

    // 0.2 s pings for the whole restart.
    let ping_log = work.join("ping.log");
    let mut ping = t
        .left
        .command("sh")
        .args([
            "-c",
            &format!(
                "ping -i0.2 -W1 -w45 -I {} {} > {}",
                TwoSites::LEFT_POD_IP,
                TwoSites::RIGHT_POD_IP,
                ping_log.display()
            ),
        ])
        .spawn()
        .expect("ping");
    std::thread::sleep(Duration::from_secs(3));

    ea.child.kill().expect("SIGKILL engine a");
    let _ = ea.child.wait();
    let (s, p) = xfrm_entries(&t.left);
    assert!(
        s >= 2 && p >= 3,
        "a crashed engine's SAs stay in the kernel: {s} SAs, {p} policies"
    );
    let work2 = work.join("second");
    std::fs::create_dir_all(&work2).unwrap();
    let mut ea2 = Engine::start(&t.left, &a, &dir, &work2, &[]).expect("engine a again");
    ea2.wait_for("cluster-a connected again", limit, all_connected)
        .unwrap();
    let log = ea2.log_text();
    assert!(
        log.contains("found SAs and policies of an earlier run"),
        "{log}"
    );

    let status = ping.wait().expect("ping ends");
    let out = std::fs::read_to_string(&ping_log).unwrap_or_default();
    let summary = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("")
        .to_string();
    let num = |key: &str| -> u32 {
        summary
            .split(',')
            .find(|p| p.contains(key))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (sent, received) = (num("transmitted"), num("received"));
    println!(
        "engine restart: {sent} pings sent every 0.2 s, {received} answered, {} lost ({status})",
        sent - received.min(sent)
    );
    assert!(sent > 100, "{out}");
    // Rebuilding the IKE SA replaces the Child SAs on both sides; a few
    // pings may cross the switch, but the tunnel must not go down for long.
    assert!(
        sent - received <= 10,
        "too many pings lost across the restart: {summary}\n--- a log ---\n{log}"
    );
    // And the leftovers are gone once the cable is whole again.
    wait_until(
        "left side back to one Child SA pair",
        Duration::from_secs(30),
        || xfrm_entries(&t.left).0 == 2,
        &ea2,
    );
}

/// Three local and two remote subnets: six Child SAs under one IKE SA (one
/// in IKE_AUTH, five with CREATE_CHILD_SA), each carrying its own pair.
#[test]
fn engine_pair_with_three_by_two_subnets() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let work = tempdir("engine-3x2");
    let (mut a, mut b) = sites();
    a.subnets = vec![
        "10.1.0.0/16".into(),
        "10.11.0.0/16".into(),
        "10.21.0.0/16".into(),
    ];
    b.subnets = vec!["10.2.0.0/16".into(), "10.12.0.0/16".into()];
    for (ns, mine, theirs, gw) in [
        (&t.left, &a.subnets, &b.subnets, TwoSites::RIGHT_IP),
        (&t.right, &b.subnets, &a.subnets, TwoSites::LEFT_IP),
    ] {
        for net in mine.iter().skip(1) {
            ns.add_pod_addr(&net.replace(".0.0/16", ".0.1/16")).unwrap();
        }
        for net in theirs.iter().skip(1) {
            ns.sh(&format!("ip route add {net} via {gw}")).unwrap();
        }
    }
    let dir = work.join("endpoints");
    a.write_into(&dir).unwrap();
    b.write_into(&dir).unwrap();
    let limit = Duration::from_secs(120);
    let (ea, _eb) = connect_pair(&t, (&a, &dir), (&b, &dir), &work, &[], limit);
    for src in &a.subnets {
        for dst in &b.subnets {
            let (s, d) = (
                src.replace(".0.0/16", ".0.1"),
                dst.replace(".0.0/16", ".0.1"),
            );
            let out = t
                .left
                .sh(&format!("ping -c2 -i0.3 -W2 -I {s} {d}"))
                .unwrap_or_else(|e| panic!("ping {s} -> {d}: {e}\n{}", ea.log_text()));
            assert!(out.contains("2 received"), "{s} -> {d}: {out}");
        }
    }
    let (states, policies) = xfrm_entries(&t.left);
    assert!(
        states >= 12,
        "6 Child SAs need at least 12 SAs, found {states}"
    );
    assert_eq!(policies, 18, "6 pairs x out/in/fwd");
}

/// Preferred-server mode between two engines, both ways round: the server
/// only responds, the client initiates, identities are the per-pair FQDNs.
#[test]
fn engine_pair_preferred_server_both_ways() {
    require_lab();
    for server_is_left in [true, false] {
        let t = TwoSites::new().expect("topology");
        let work = tempdir(if server_is_left {
            "engine-ps-left"
        } else {
            "engine-ps-right"
        });
        let (mut a, mut b) = sites();
        a.preferred_server = server_is_left;
        b.preferred_server = !server_is_left;
        let dir = work.join("endpoints");
        a.write_into(&dir).unwrap();
        b.write_into(&dir).unwrap();
        let limit = Duration::from_secs(90);
        let (ea, eb) = connect_pair(&t, (&a, &dir), (&b, &dir), &work, &[], limit);
        let ping = t
            .left
            .sh(&format!(
                "ping -c2 -i0.3 -W2 -I {} {}",
                TwoSites::LEFT_POD_IP,
                TwoSites::RIGHT_POD_IP
            ))
            .expect("ping through the tunnel");
        assert!(ping.contains("2 received"), "{ping}");
        let (server, client) = if server_is_left {
            (&ea, &eb)
        } else {
            (&eb, &ea)
        };
        let server_log = server.log_text();
        assert!(
            server_log.contains("initiator=false"),
            "the server must only respond:\n{server_log}"
        );
        assert!(
            !server_log.contains("initiator=true"),
            "the server initiated:\n{server_log}"
        );
        assert!(
            client.log_text().contains("initiator=true"),
            "{}",
            client.log_text()
        );
    }
}

/// The SPIs of a namespace's ESP states.
fn spis(ns: &integration::topo::Netns) -> std::collections::BTreeSet<String> {
    xfrm_state(ns)
        .split_whitespace()
        .skip_while(|w| *w != "spi")
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "spi")
        .map(|w| w[1].to_string())
        .collect()
}

/// A remote Endpoint whose healthCheckIP changes keeps its tunnel (no SA
/// is replaced); both health checks follow: the remote side pings from
/// its new address, this side pings the new address. The old address stops
/// answering, so a health check left on it would turn the cable to error.
#[test]
fn health_check_ip_change_keeps_the_tunnel() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let work = tempdir("engine-hcip");
    let (a, mut b) = sites();
    let dir = work.join("endpoints");
    a.write_into(&dir).unwrap();
    b.write_into(&dir).unwrap();
    let env = [("SUBMARINER_HEALTHCHECKINTERVAL", "1")];
    let limit = Duration::from_secs(90);
    let (ea, eb) = connect_pair(&t, (&a, &dir), (&b, &dir), &work, &env, limit);
    // Crossed initiations leave a redundant Child SA whose SAs stay a few
    // seconds after it is deleted (the peer may still send on them): wait
    // for both kernels to hold the same single SA pair.
    let settled = || {
        let s = (spis(&t.left), spis(&t.right));
        (s.0.len() == 2 && s.0 == s.1).then_some(s)
    };
    let start = std::time::Instant::now();
    let before = loop {
        if let Some(s) = settled() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            (spis(&t.left), spis(&t.right))
        );
        std::thread::sleep(Duration::from_millis(250));
    };

    t.right.add_pod_addr("10.2.0.2/16").unwrap();
    b.health_check_ip = "10.2.0.2".into();
    b.write_into(&dir).unwrap();
    t.right
        .sh("iptables -A INPUT -d 10.2.0.1 -p icmp -j DROP")
        .unwrap();
    let limit = Duration::from_secs(30);
    wait_until(
        "cluster-a pings the new healthCheckIP",
        limit,
        || ea.log_text().contains("remote healthCheckIP changed"),
        &ea,
    );
    wait_until(
        "cluster-b pings from its new healthCheckIP",
        limit,
        || eb.log_text().contains("local healthCheckIP"),
        &eb,
    );
    // Longer than the loss window (5 lost pings at 1 s each).
    std::thread::sleep(Duration::from_secs(10));
    for (e, who) in [(&ea, "cluster-a"), (&eb, "cluster-b")] {
        let c = e.connections().unwrap();
        assert!(
            all_connected(&c),
            "{who} after the change: {c:?}\n{}",
            e.log_text()
        );
    }
    assert_eq!(
        (spis(&t.left), spis(&t.right)),
        before,
        "no SA should have been replaced"
    );
}

/// A rolling update (issue 13, item 9): with `CABLE_ENGINE_CLEANUP_ON_EXIT=false`
/// a SIGTERM leaves the engine's SAs and policies in the kernel, the next
/// engine adopts them and pod traffic (pings every 0.1 s) goes on.
#[test]
fn rolling_update_keeps_traffic_flowing() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let work = tempdir("rolling-update");
    let (a, b) = sites();
    let dir = work.join("endpoints");
    a.write_into(&dir).unwrap();
    b.write_into(&dir).unwrap();
    let keep = [("CABLE_ENGINE_CLEANUP_ON_EXIT", "false")];
    let limit = Duration::from_secs(90);
    let (mut ea, _eb) = connect_pair(&t, (&a, &dir), (&b, &dir), &work, &keep, limit);
    let ping = integration::traffic::BackgroundPing::start(
        &t.left,
        TwoSites::LEFT_POD_IP,
        TwoSites::RIGHT_POD_IP,
        Duration::from_millis(100),
    )
    .expect("ping");
    std::thread::sleep(Duration::from_secs(2));
    let st = ea.terminate(Duration::from_secs(15)).expect("SIGTERM");
    assert!(st.success(), "{st}");
    let (s, p) = xfrm_entries(&t.left);
    assert!(
        s >= 2 && p >= 3,
        "kept after SIGTERM: {s} SAs, {p} policies"
    );
    let t0 = Instant::now();
    let work2 = work.join("second");
    std::fs::create_dir_all(&work2).unwrap();
    let mut env = vec![("SUBMARINER_HEALTHCHECKINTERVAL", "1")];
    env.extend_from_slice(&keep);
    let mut ea2 = Engine::start(&t.left, &a, &dir, &work2, &env).expect("engine a again");
    ea2.wait_for("cluster-a connected again", limit, all_connected)
        .unwrap();
    let took = t0.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let tally = ping.stop().expect("ping summary");
    println!("rolling update: {tally:?}, connected again after {took:?}");
    assert!(tally.sent >= 40, "{tally:?}");
    assert_eq!(
        tally.lost(),
        0,
        "pings lost across the rolling update: {tally:?}\n--- new engine ---\n{}",
        ea2.log_text()
    );
}
