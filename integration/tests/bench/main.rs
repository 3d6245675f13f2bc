//! The benchmark: cable-engine next to libreswan (configured exactly as
//! Submariner's libreswan driver configures it) and strongSwan, on the same
//! topologies in the same lab boot. `cargo xtask bench` builds a release
//! engine, runs this program inside the lab VM and copies what it writes
//! (`results.json`, `RESULTS.md`, `setup.svg`, `hub.svg`) to
//! `integration/bench/`.
//!
//! What is measured (pod traffic passes only through IPsec everywhere: an
//! iptables `policy` match drops what arrives without it):
//! - set-up latency: from both gateways being told about each other to
//!   every subnet pair passing a ping, 1x1 and 3x2 subnets, `BENCH_REPS`
//!   repetitions (default 3);
//! - hub scale: one hub and K spokes (`BENCH_HUB`, default `10,20`) with 2x2
//!   subnets each on one bridge: time until the hub passes traffic to every
//!   pair of every spoke, then the hub daemon's RSS and CPU seconds;
//! - restart: the daemon SIGKILLed and restarted under 0.1 s pings;
//! - rekey under traffic: pings lost per Child SA rekey.
//!
//! The VM emulates its CPU (QEMU TCG): absolute times are not real-hardware
//! times; only ratios measured in the same run mean anything.

#[path = "../lab/common.rs"]
#[allow(dead_code)]
mod common;

use anyhow::{bail, Context, Result};
use common::{
    libreswan_short_lifetimes, tunnel_only_from, workdir, ENGINE_SHORT_LIFETIMES, UP_LIMIT,
};

/// Keep daemons' logs under `$CABLE_ENGINE_LAB_OUT/bench/logs/`.
fn keep_logs(case: &str, logs: &[(&str, String)]) {
    let dir = out_dir().join("logs");
    let _ = std::fs::create_dir_all(&dir);
    for (name, text) in logs {
        let _ = std::fs::write(dir.join(format!("{case}-{name}.log")), text);
    }
}
use integration::peers::libreswan::{Cable, Mode, Pluto};
use integration::peers::strongswan::{StrongSwan, SwanConn};
use integration::sites::{all_connected, Engine, Site, TEST_PSK};
use integration::topo::{host_sh, Netns, TwoSites};
use integration::traffic::{engine_counter, BackgroundPing};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const ENGINE: &str = "cable-engine";
/// The engine measured from its process start (both daemons started with
/// both Endpoints), not from being told while running.
const ENGINE_COLD: &str = "cable-engine+start";
const LIBRESWAN: &str = "libreswan";
const STRONGSWAN: &str = "strongswan";
const METRICS_PORT: u16 = 32780;
/// How long set-up may take before a repetition counts as failed: longer
/// than the tests' limit, as libreswan's slow outliers are part of what is
/// measured.
const PROBE_LIMIT: Duration = Duration::from_secs(300);

/// A subnet pair to probe: from a pod address in `ns` to a remote pod.
struct Probe<'a> {
    ns: &'a Netns,
    from: String,
    to: String,
}

/// The pod address standing for a /16 (`10.11.0.0/16` -> `10.11.0.1`).
fn pod_ip(cidr: &str) -> String {
    cidr.replace(".0.0/16", ".0.1")
}

/// What the probes saw.
enum Probed {
    /// Every pair passed; the time from `t0` to the last one.
    All(Duration),
    /// Some pairs had no reply within [`PROBE_LIMIT`].
    Partial { passed: usize, total: usize },
}

impl Probed {
    /// The time, or an error naming how many pairs passed.
    fn time(self) -> Result<Duration> {
        match self {
            Probed::All(d) => Ok(d),
            Probed::Partial { passed, total } => bail!(
                "only {passed} of {total} subnet pairs passed a ping within {} s",
                PROBE_LIMIT.as_secs()
            ),
        }
    }
}

/// Time from `t0` until every probe got one echo reply. Each probe is a
/// `ping -c1` sending every `interval` until the first reply, so the figure
/// is not quantised to ping's default one second.
fn all_pairs_pass(probes: &[Probe], t0: Instant, interval: f64) -> Result<Probed> {
    let limit = PROBE_LIMIT.as_secs().to_string();
    let interval = format!("{interval:.2}");
    let mut running: Vec<(Child, String)> = Vec::new();
    for p in probes {
        let child =
            p.ns.command("ping")
                .args(["-n", "-q", "-c1", "-w", &limit, "-i", &interval, "-I"])
                .args([&p.from, &p.to])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting ping")?;
        running.push((child, format!("{} -> {}", p.from, p.to)));
    }
    let (mut last, mut failed) = (Duration::ZERO, 0);
    let mut told = Instant::now();
    while !running.is_empty() {
        if told.elapsed() > Duration::from_secs(15) {
            told = Instant::now();
            let left: Vec<&str> = running.iter().map(|r| r.1.as_str()).collect();
            println!(
                "bench:   {:.0} s, waiting for {}",
                t0.elapsed().as_secs_f64(),
                left.join(", ")
            );
        }
        let mut still = Vec::new();
        for (mut child, what) in running {
            match child.try_wait()? {
                Some(st) if st.success() => last = last.max(t0.elapsed()),
                Some(_) => {
                    println!("bench:   {what}: no reply within {limit} s");
                    failed += 1;
                }
                None => still.push((child, what)),
            }
        }
        running = still;
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(if failed == 0 {
        Probed::All(last)
    } else {
        Probed::Partial {
            passed: probes.len() - failed,
            total: probes.len(),
        }
    })
}

/// Two sites with `l` and `r` subnets (the first from [`TwoSites`]), routes
/// to every remote subnet, pod traffic allowed only through IPsec.
fn two_sites(l: usize, r: usize) -> Result<(TwoSites, Site, Site)> {
    let t = TwoSites::new()?;
    let nets = |first: u8, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("10.{}.0.0/16", first as usize + 10 * i))
            .collect()
    };
    let es = Site {
        cluster_id: "cluster-a".into(),
        private_ip: TwoSites::LEFT_IP.into(),
        public_ip: TwoSites::LEFT_IP.into(),
        health_check_ip: TwoSites::LEFT_POD_IP.into(),
        subnets: nets(1, l),
        nat_enabled: false,
        preferred_server: false,
        ..Default::default()
    };
    let mut ps = es.clone();
    ps.cluster_id = "cluster-b".into();
    ps.private_ip = TwoSites::RIGHT_IP.into();
    ps.public_ip = TwoSites::RIGHT_IP.into();
    ps.health_check_ip = TwoSites::RIGHT_POD_IP.into();
    ps.subnets = nets(2, r);
    for (ns, mine, theirs, gw) in [
        (&t.left, &es.subnets, &ps.subnets, TwoSites::RIGHT_IP),
        (&t.right, &ps.subnets, &es.subnets, TwoSites::LEFT_IP),
    ] {
        for net in mine.iter().skip(1) {
            ns.add_pod_addr(&format!("{}/16", pod_ip(net)))?;
        }
        for net in theirs.iter().skip(1) {
            ns.sh(&format!("ip route add {net} via {gw}"))?;
        }
        tunnel_only_from(ns, theirs);
    }
    Ok((t, es, ps))
}

/// Every (left subnet, right subnet) pair, probed from the left.
fn pair_probes<'a>(ns: &'a Netns, mine: &[String], theirs: &[String]) -> Vec<Probe<'a>> {
    let mut v = Vec::new();
    for l in mine {
        for r in theirs {
            v.push(Probe {
                ns,
                from: pod_ip(l),
                to: pod_ip(r),
            });
        }
    }
    v
}

fn engine_env() -> Vec<(&'static str, &'static str)> {
    vec![("SUBMARINER_HEALTHCHECKINTERVAL", "1")]
}

/// Each side's endpoints directory holds both sites.
fn endpoints_dirs(work: &Path, sites: &[&Site]) -> Result<()> {
    for s in sites {
        let dir = work.join(format!("endpoints-{}", s.cluster_id));
        for o in sites {
            o.write_into(&dir)?;
        }
    }
    Ok(())
}

/// Start the left and right engines of [`two_sites`], each reading its own
/// directory of both Endpoints (see [`endpoints_dirs`]), with `env_left` and
/// [`engine_env`] on the right.
fn start_engines(
    t: &TwoSites,
    es: &Site,
    ps: &Site,
    work: &Path,
    env_left: &[(&str, &str)],
) -> Result<(Engine, Engine)> {
    let dir = |s: &Site| work.join(format!("endpoints-{}", s.cluster_id));
    let a = Engine::start(&t.left, es, &dir(es), work, env_left)?;
    let b = Engine::start(&t.right, ps, &dir(ps), work, &engine_env())?;
    Ok((a, b))
}

/// The engine's phases, as its log (info level) marks them.
const PHASES: &[(&str, &str)] = &[
    ("first log line (process up)", "cable-engine 0.1.0 starting"),
    ("endpoints read, cables planned", "would connect"),
    ("IKE socket and XFRM ready", "IKE listening"),
    ("first IKE_SA_INIT sent", "initiating IKE SA"),
    ("first IKE SA up", "IKE SA established"),
    (
        "first Child SA and policies installed",
        "Child SA installed",
    ),
    ("last Child SA and policies installed", "cable connected"),
];

/// Seconds of the day of a log line's RFC 3339 UTC timestamp
/// (`2026-12-05T01:47:33.741675Z ...`).
fn log_time(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?.split_once('T')?.1;
    let t = t.strip_suffix('Z')?;
    let mut it = t.split(':');
    let (h, m, sec): (f64, f64, f64) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    Some(h * 3600.0 + m * 60.0 + sec)
}

/// Seconds of the day now (UTC), to line the log up with the bench's clock.
fn now_of_day() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() % 86400.0)
        .unwrap_or(0.0)
}

/// Each phase's first appearance in `log`, in seconds after `t0` (seconds
/// of the day when the clock started).
fn phases(log: &str, t0: f64) -> Value {
    let mut v = serde_json::Map::new();
    for (name, needle) in PHASES {
        if let Some(t) = log.lines().find(|l| l.contains(needle)).and_then(log_time) {
            v.insert((*name).into(), json!(((t - t0 + 86400.0) % 86400.0)));
        }
    }
    Value::Object(v)
}

/// Both engines started at once; returns the time and the left engine's
/// phases.
fn engine_setup(case: &str, l: usize, r: usize) -> Result<(f64, Value)> {
    let (t, es, ps) = two_sites(l, r)?;
    let work = workdir(case);
    endpoints_dirs(&work, &[&es, &ps])?;
    let env = engine_env();
    let wall0 = now_of_day();
    let t0 = Instant::now();
    let (a, b) = start_engines(&t, &es, &ps, &work, &env)?;
    let took = all_pairs_pass(&pair_probes(&t.left, &es.subnets, &ps.subnets), t0, 0.05);
    keep_logs(case, &[("left", a.log_text()), ("right", b.log_text())]);
    let took = took?.time()?.as_secs_f64();
    let mut ph = phases(&a.log_text(), wall0);
    ph["every pair passes a ping"] = json!(took);
    Ok((took, ph))
}

/// How often the engines read their endpoints directory in the bench (a
/// Kubernetes watch delivers an Endpoint at once; the directory source
/// polls).
const POLL_MS: &str = "50";

/// Both engines already running, each knowing only its own Endpoint (as a
/// gateway that is up before the remote cluster joins); the clock starts
/// when each is given the other's Endpoint, as libreswan's clock starts
/// when its driver is told. Returns the time and the left engine's phases.
fn engine_setup_running(case: &str, l: usize, r: usize) -> Result<(f64, Value)> {
    let (t, es, ps) = two_sites(l, r)?;
    let work = workdir(case);
    let (dir_a, dir_b) = (work.join("endpoints-a"), work.join("endpoints-b"));
    es.write_into(&dir_a)?;
    ps.write_into(&dir_b)?;
    let env = engine_env();
    let args = ["--endpoints-poll-ms", POLL_MS];
    let a = Engine::start_with_args(&t.left, &es.cluster_id, &dir_a, &work, &env, &args)?;
    let b = Engine::start_with_args(&t.right, &ps.cluster_id, &dir_b, &work, &env, &args)?;
    let ready = Instant::now();
    while !(a.log_text().contains("IKE listening") && b.log_text().contains("IKE listening")) {
        if ready.elapsed() > UP_LIMIT {
            bail!("the engines did not get ready within {UP_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall0 = now_of_day();
    let t0 = Instant::now();
    ps.write_into_atomically(&dir_a)?;
    es.write_into_atomically(&dir_b)?;
    let took = all_pairs_pass(&pair_probes(&t.left, &es.subnets, &ps.subnets), t0, 0.05);
    keep_logs(case, &[("left", a.log_text()), ("right", b.log_text())]);
    let took = took?.time()?.as_secs_f64();
    let mut ph = phases(&a.log_text(), wall0);
    if let Some(m) = ph.as_object_mut() {
        // Phases from before the clock started (the daemon's own start).
        m.retain(|_, v| v.as_f64().is_some_and(|x| x < 43200.0));
    }
    ph["every pair passes a ping"] = json!(took);
    Ok((took, ph))
}

/// The driver's cable on the gateway of `local` towards `remote`.
fn driver_cable(local: &Site, remote: &Site) -> Cable {
    Cable {
        remote_cable_name: remote.cable_name(),
        local_private_ip: local.private_ip.clone(),
        remote_private_ip: remote.private_ip.clone(),
        remote_use_ip: remote.private_ip.clone(),
        local_subnets: local.subnets.clone(),
        remote_subnets: remote.subnets.clone(),
        mode: Mode::Bidirectional,
        encaps: false,
        local_port: 4500,
        remote_port: 4500,
        extra_args: Vec::new(),
        release: Default::default(),
    }
}

/// Both plutos run before the drivers are told (as in a gateway pod); the
/// clock starts when both drivers make their whack calls, concurrently.
fn libreswan_setup(case: &str, l: usize, r: usize) -> Result<(f64, Value)> {
    let (t, es, ps) = two_sites(l, r)?;
    let work = workdir(case);
    let left = Pluto::start(&t.left, TEST_PSK, &work.join("left"))?;
    let right = Pluto::start(&t.right, TEST_PSK, &work.join("right"))?;
    let (cl, cr) = (driver_cable(&es, &ps), driver_cable(&ps, &es));
    let t0 = Instant::now();
    let took = std::thread::scope(|s| {
        let a = s.spawn(|| left.connect(&cl));
        let b = s.spawn(|| right.connect(&cr));
        let took = all_pairs_pass(&pair_probes(&t.left, &es.subnets, &ps.subnets), t0, 0.05)
            .and_then(Probed::time);
        for h in [a, b] {
            h.join()
                .map_err(|_| anyhow::anyhow!("whack thread panicked"))??;
        }
        took
    });
    keep_logs(
        case,
        &[("left", left.log_text()), ("right", right.log_text())],
    );
    let took = took?;
    Ok((took.as_secs_f64(), Value::Null))
}

/// strongSwan, as it is usually run: the responder's charon is up, the
/// clock starts with the initiator's charon (`start_action = start`).
fn strongswan_setup(case: &str, l: usize, r: usize) -> Result<(f64, Value)> {
    let (t, es, ps) = two_sites(l, r)?;
    let work = workdir(case);
    let conn = |me: &Site, peer: &Site, start: bool| SwanConn {
        local_addr: me.private_ip.clone(),
        remote_addr: peer.private_ip.clone(),
        local_id: me.private_ip.clone(),
        remote_id: peer.private_ip.clone(),
        local_ts: me.subnets.clone(),
        remote_ts: peer.subnets.clone(),
        psk: TEST_PSK.into(),
        start,
        encap: false,
        ike_extra: Vec::new(),
        child_extra: Vec::new(),
        charon_extra: Vec::new(),
    };
    let _right = StrongSwan::start(&t.right, &conn(&ps, &es, false), &work.join("right"))?;
    let t0 = Instant::now();
    let _left = StrongSwan::start(&t.left, &conn(&es, &ps, true), &work.join("left"))?;
    let took = all_pairs_pass(&pair_probes(&t.left, &es.subnets, &ps.subnets), t0, 0.05)?.time()?;
    Ok((took.as_secs_f64(), Value::Null))
}

/// `VmRSS` in KiB and user+system CPU seconds of a process.
fn rss_and_cpu(pid: u32) -> Result<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').context("odd /proc/pid/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((rss, ticks / hz))
}

/// One hub gateway (index 0) and `k` spokes on one bridge, 2x2 subnets
/// each: gateway n is 192.168.100.(n+1) with 10.n.0.0/16 and 100.n.0.0/16.
struct Hub {
    _bridge: Netns,
    gws: Vec<Netns>,
    sites: Vec<Site>,
}

impl Hub {
    fn new(k: usize) -> Result<Hub> {
        let bridge = Netns::new("bhub")?;
        bridge.sh("ip link add lan0 type bridge && ip link set lan0 up")?;
        let mut gws = Vec::new();
        let mut sites = Vec::new();
        for n in 0..=k {
            let gw = Netns::new(&format!("gw{n}"))?;
            let tmp = format!("b{}x{n}", std::process::id());
            host_sh(&format!(
                "ip link add {tmp}a type veth peer name {tmp}b && ip link set {tmp}a netns {g} name wan && ip link set {tmp}b netns {b} name port{n}",
                g = gw.name(),
                b = bridge.name()
            ))?;
            bridge.sh(&format!(
                "ip link set port{n} master lan0 && ip link set port{n} up"
            ))?;
            let ip = format!("192.168.100.{}", n + 1);
            gw.sh(&format!(
                "ip addr add {ip}/24 dev wan && ip link set wan up"
            ))?;
            let subnets = vec![format!("10.{n}.0.0/16"), format!("100.{n}.0.0/16")];
            for net in &subnets {
                gw.add_pod_addr(&format!("{}/16", pod_ip(net)))?;
            }
            sites.push(Site {
                cluster_id: format!("cluster{n}"),
                private_ip: ip.clone(),
                public_ip: ip,
                health_check_ip: pod_ip(&subnets[0]),
                subnets,
                nat_enabled: false,
                preferred_server: false,
                ..Default::default()
            });
            gws.push(gw);
        }
        for n in 1..=k {
            for (a, b) in [(0, n), (n, 0)] {
                for net in &sites[b].subnets {
                    gws[a].sh(&format!(
                        "ip route add {net} via {} src {}",
                        sites[b].private_ip,
                        pod_ip(&sites[a].subnets[0])
                    ))?;
                }
                tunnel_only_from(&gws[a], &sites[b].subnets);
            }
        }
        Ok(Hub {
            _bridge: bridge,
            gws,
            sites,
        })
    }

    fn probes(&self) -> Vec<Probe<'_>> {
        let mut v = Vec::new();
        for spoke in &self.sites[1..] {
            v.extend(pair_probes(
                &self.gws[0],
                &self.sites[0].subnets,
                &spoke.subnets,
            ));
        }
        v
    }
}

/// Hub figures: time to all pairs (or how many passed within the limit),
/// then RSS (KiB) and CPU seconds of the hub's daemon 10 s after.
fn hub_figures(probed: Probed, pid: u32) -> Result<Value> {
    std::thread::sleep(Duration::from_secs(10));
    let (rss, cpu) = rss_and_cpu(pid)?;
    Ok(match probed {
        Probed::All(t) => json!({"time_s": t.as_secs_f64(), "rss_kib": rss, "cpu_s": cpu}),
        Probed::Partial { passed, total } => json!({
            "timeout_s": PROBE_LIMIT.as_secs(), "pairs_passed": passed, "pairs": total,
            "rss_kib": rss, "cpu_s": cpu,
        }),
    })
}

fn engine_hub(k: usize) -> Result<Value> {
    let hub = Hub::new(k)?;
    let work = workdir(&format!("bench-hub-engine-{k}"));
    let env = engine_env();
    // The hub knows every spoke; a spoke knows only the hub.
    for (n, site) in hub.sites.iter().enumerate() {
        let dir = work.join(format!("endpoints-{n}"));
        site.write_into(&dir)?;
        if n == 0 {
            for s in &hub.sites[1..] {
                s.write_into(&dir)?;
            }
        } else {
            hub.sites[0].write_into(&dir)?;
        }
    }
    let t0 = Instant::now();
    let mut engines = Vec::new();
    for (n, site) in hub.sites.iter().enumerate() {
        engines.push(Engine::start(
            &hub.gws[n],
            site,
            &work.join(format!("endpoints-{n}")),
            &work,
            &env,
        )?);
    }
    let probed = all_pairs_pass(&hub.probes(), t0, 0.1)?;
    hub_figures(probed, engines[0].child.id())
}

fn libreswan_hub(k: usize) -> Result<Value> {
    let hub = Hub::new(k)?;
    let work = workdir(&format!("bench-hub-libreswan-{k}"));
    let mut plutos = Vec::new();
    for (n, gw) in hub.gws.iter().enumerate() {
        plutos.push(Pluto::start(gw, TEST_PSK, &work.join(format!("gw{n}")))?);
    }
    let t0 = Instant::now();
    let took = std::thread::scope(|s| {
        let mut threads = Vec::new();
        // The hub's driver connects to one Endpoint after the other.
        let (hub_pluto, sites) = (&plutos[0], &hub.sites);
        threads.push(s.spawn(move || {
            sites[1..]
                .iter()
                .try_for_each(|spoke| hub_pluto.connect(&driver_cable(&sites[0], spoke)))
        }));
        for n in 1..=k {
            let (p, sites) = (&plutos[n], &hub.sites);
            threads.push(s.spawn(move || p.connect(&driver_cable(&sites[n], &sites[0]))));
        }
        let took = all_pairs_pass(&hub.probes(), t0, 0.1);
        for t in threads {
            t.join()
                .map_err(|_| anyhow::anyhow!("whack thread panicked"))??;
        }
        took
    })?;
    hub_figures(took, plutos[0].pid())
}

/// Pings every 0.1 s from the left pod to the right pod.
fn pings(t: &TwoSites) -> Result<BackgroundPing> {
    BackgroundPing::start(
        &t.left,
        TwoSites::LEFT_POD_IP,
        TwoSites::RIGHT_POD_IP,
        Duration::from_millis(100),
    )
}

fn engine_restart() -> Result<Value> {
    let (t, es, ps) = two_sites(1, 1)?;
    let work = workdir("bench-restart-engine");
    endpoints_dirs(&work, &[&es, &ps])?;
    let env = engine_env();
    let dir_a = work.join("endpoints-cluster-a");
    let (mut a, mut b) = start_engines(&t, &es, &ps, &work, &env)?;
    a.wait_for("left connected", UP_LIMIT, all_connected)?;
    b.wait_for("right connected", UP_LIMIT, all_connected)?;
    let ping = pings(&t)?;
    std::thread::sleep(Duration::from_secs(3));
    drop(a); // SIGKILL
    let t0 = Instant::now();
    let mut a = Engine::start(&t.left, &es, &dir_a, &work, &env)?;
    a.wait_for("left connected again", UP_LIMIT, all_connected)?;
    let back = t0.elapsed();
    std::thread::sleep(Duration::from_secs(10));
    let tally = ping.stop()?;
    Ok(json!({"lost": tally.lost(), "sent": tally.sent, "connected_again_s": back.as_secs_f64()}))
}

fn libreswan_restart() -> Result<Value> {
    let (t, es, ps) = two_sites(1, 1)?;
    let work = workdir("bench-restart-libreswan");
    let mut left = Pluto::start(&t.left, TEST_PSK, &work.join("left"))?;
    let right = Pluto::start(&t.right, TEST_PSK, &work.join("right"))?;
    let (cl, cr) = (driver_cable(&es, &ps), driver_cable(&ps, &es));
    left.connect(&cl)?;
    right.connect(&cr)?;
    left.wait_up(&cl, UP_LIMIT)?;
    right.wait_up(&cr, UP_LIMIT)?;
    let ping = pings(&t)?;
    std::thread::sleep(Duration::from_secs(3));
    left.kill();
    // A gateway pod restart: a new pluto, and the driver adds the cable again.
    let t0 = Instant::now();
    let left = Pluto::start(&t.left, TEST_PSK, &work.join("left-again"))?;
    left.connect(&cl)?;
    left.wait_up(&cl, UP_LIMIT)?;
    let back = t0.elapsed();
    std::thread::sleep(Duration::from_secs(10));
    let tally = ping.stop()?;
    Ok(json!({"lost": tally.lost(), "sent": tally.sent, "connected_again_s": back.as_secs_f64()}))
}

/// Rekeys under 0.1 s pings for this long, short lifetimes on the left
/// side (as the lab's rekey tests set them); pings lost and Child SA
/// rekeys counted.
const REKEY_WINDOW: Duration = Duration::from_secs(60);

fn engine_rekey() -> Result<Value> {
    let (t, es, ps) = two_sites(1, 1)?;
    let work = workdir("bench-rekey-engine");
    endpoints_dirs(&work, &[&es, &ps])?;
    let mut env = engine_env();
    env.extend_from_slice(ENGINE_SHORT_LIFETIMES);
    let (mut a, mut b) = start_engines(&t, &es, &ps, &work, &env)?;
    a.wait_for("left connected", UP_LIMIT, all_connected)?;
    b.wait_for("right connected", UP_LIMIT, all_connected)?;
    let counter = || engine_counter(&t.left, METRICS_PORT, "cable_engine_child_sa_rekeys");
    let before = counter()?;
    let ping = pings(&t)?;
    std::thread::sleep(REKEY_WINDOW);
    let tally = ping.stop()?;
    let rekeys = counter()? - before;
    Ok(json!({"lost": tally.lost(), "sent": tally.sent, "rekeys": rekeys}))
}

fn libreswan_rekey() -> Result<Value> {
    let (t, es, ps) = two_sites(1, 1)?;
    let work = workdir("bench-rekey-libreswan");
    let left = Pluto::start(&t.left, TEST_PSK, &work.join("left"))?;
    let right = Pluto::start(&t.right, TEST_PSK, &work.join("right"))?;
    let mut cl = driver_cable(&es, &ps);
    cl.extra_args = libreswan_short_lifetimes();
    let cr = driver_cable(&ps, &es);
    left.connect(&cl)?;
    right.connect(&cr)?;
    left.wait_up(&cl, UP_LIMIT)?;
    right.wait_up(&cr, UP_LIMIT)?;
    // pluto logs each Child SA it establishes, the rekeyed ones included.
    let established = || left.log_text().matches("established Child SA").count();
    let before = established();
    let ping = pings(&t)?;
    std::thread::sleep(REKEY_WINDOW);
    let tally = ping.stop()?;
    let rekeys = established() - before;
    Ok(json!({"lost": tally.lost(), "sent": tally.sent, "rekeys": rekeys}))
}

// ---- statistics and output ----

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let med = if s.is_empty() {
        f64::NAN
    } else if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (
        s.first().copied().unwrap_or(f64::NAN),
        med,
        s.last().copied().unwrap_or(f64::NAN),
    )
}

fn median_of(v: &Value) -> Option<f64> {
    let xs: Vec<f64> = v.as_array()?.iter().filter_map(Value::as_f64).collect();
    (!xs.is_empty()).then(|| stats(&xs).1)
}

/// `<needle> <version>` from the first output line of `cmd args` that
/// mentions `needle` (e.g. `Libreswan 4.10`, `strongSwan 5.9.8`).
fn version(cmd: &str, args: &[&str], needle: &str) -> String {
    let out = match std::process::Command::new(cmd).args(args).output() {
        Ok(o) => {
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
        }
        Err(e) => return format!("{needle} (unknown: {e})"),
    };
    out.lines()
        .find_map(|l| {
            let at = l.find(needle)?;
            let mut words = l[at..].split_whitespace();
            let name = words.next()?;
            // swanctl says "strongSwan swanctl 5.9.8".
            let v = words.find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
            Some(format!("{name} {v}"))
        })
        .unwrap_or_else(|| format!("{needle} (version not found)"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!("{:.1}x", b / a),
        _ => "-".into(),
    }
}

fn markdown(r: &Value) -> String {
    let mut md = String::from(
        "# cable-engine benchmark\n\nWritten by `cargo xtask bench`: every figure below comes from one lab boot, \
         cable-engine (release build) next to libreswan configured as Submariner's libreswan driver configures it \
         (bidirectional, its whack calls) and strongSwan, on the same topologies, with pod traffic allowed only \
         through IPsec. **The lab VM emulates its CPU (QEMU TCG): absolute times are not real-hardware times; \
         compare the ratios, which are measured in the same run.** Raw numbers: `results.json`.\n\n",
    );
    md += &format!(
        "Run: {}; peers: {}, {}.\n\n",
        r["when"].as_str().unwrap_or_default(),
        r["versions"]["libreswan"].as_str().unwrap_or_default(),
        r["versions"]["strongswan"].as_str().unwrap_or_default()
    );
    md += "## Set-up latency\n\nFrom both gateways being told about each other (cable-engine: see below; \
           libreswan: both drivers' whack calls, pluto already running; strongSwan: the initiator's charon started) \
           to every subnet pair passing a ping (probes every 50 ms). Seconds, min / median / max.\n\n\
           The engine is measured twice: running, then told (its Endpoint directory gets the other's Endpoint, \
           read within 50 ms: `--endpoints-poll-ms 50`), which is how libreswan is measured; and from its process \
           start, both Endpoints already there (`+start`).\n\n\
           | subnets | cable-engine | cable-engine+start | libreswan | strongSwan | libreswan / engine | strongSwan / engine | libreswan / engine+start |\n|---|---|---|---|---|---|---|---|\n";
    for shape in ["1x1", "3x2"] {
        let cell = |who: &str| {
            let xs: Vec<f64> = r["setup"][shape][who]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let failed = match r["setup_failed"][shape][who].as_u64() {
                Some(n) if n > 0 => {
                    format!(" ({n} failed: no ping within {} s)", PROBE_LIMIT.as_secs())
                }
                _ => String::new(),
            };
            if xs.is_empty() {
                return format!("-{failed}");
            }
            let (lo, med, hi) = stats(&xs);
            format!("{lo:.2} / **{med:.2}** / {hi:.2}{failed}")
        };
        let med = |who: &str| median_of(&r["setup"][shape][who]);
        md += &format!(
            "| {shape} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(ENGINE),
            cell(ENGINE_COLD),
            cell(LIBRESWAN),
            cell(STRONGSWAN),
            ratio(med(ENGINE), med(LIBRESWAN)),
            ratio(med(ENGINE), med(STRONGSWAN)),
            ratio(med(ENGINE_COLD), med(LIBRESWAN))
        );
    }
    md +=
        "\n**Where the engine's set-up time goes** (left engine, from its info log; seconds after \
           the clock started, median over the repetitions; `+start`: from the process start):\n\n\
           | phase | 1x1 | 3x2 | 1x1 +start | 3x2 +start |\n|---|---|---|---|---|\n";
    let phase_median = |shape: &str, who: &str, name: &str| -> String {
        let xs: Vec<f64> = r["phases"][shape][who]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p[name].as_f64()).collect())
            .unwrap_or_default();
        if xs.is_empty() {
            "-".into()
        } else {
            format!("{:.2}", stats(&xs).1)
        }
    };
    for name in PHASES
        .iter()
        .map(|p| p.0)
        .chain(["every pair passes a ping"])
    {
        md += &format!(
            "| {name} | {} | {} | {} | {} |\n",
            phase_median("1x1", ENGINE, name),
            phase_median("3x2", ENGINE, name),
            phase_median("1x1", ENGINE_COLD, name),
            phase_median("3x2", ENGINE_COLD, name)
        );
    }
    md += "\n## Hub scale\n\nOne hub gateway and K spoke clusters, 2x2 subnets each, on one bridge, all told at \
           once (cable-engine: every daemon started then, its process start included; libreswan: every pluto \
           already running, every driver's whack calls then, the hub's one Endpoint after the other). Time until the hub passes traffic to every pair of every spoke; the hub daemon's RSS and \
           CPU seconds 10 s later.\n\n| K | cable-engine: time / RSS / CPU | libreswan: time / RSS / CPU | time: libreswan / engine | RSS: engine / libreswan |\n|---|---|---|---|---|\n";
    if let Some(hubs) = r["hub"].as_object() {
        for (k, v) in hubs {
            let cell = |who: &str| {
                let x = &v[who];
                let time = match (x["time_s"].as_f64(), x["timeout_s"].as_f64()) {
                    (Some(t), _) => Some(format!("{t:.2} s")),
                    (None, Some(limit)) => Some(format!(
                        "> {limit:.0} s ({} of {} pairs)",
                        x["pairs_passed"], x["pairs"]
                    )),
                    _ => None,
                };
                match (time, x["rss_kib"].as_f64(), x["cpu_s"].as_f64()) {
                    (Some(t), Some(m), Some(c)) => {
                        format!("{t} / {:.1} MiB / {c:.2} s", m / 1024.0)
                    }
                    _ => x["error"]
                        .as_str()
                        .map(|e| format!("failed: {e}"))
                        .unwrap_or("-".into()),
                }
            };
            let rss = |who: &str| v[who]["rss_kib"].as_f64();
            let rss_ratio = match (rss(ENGINE), rss(LIBRESWAN)) {
                (Some(e), Some(l)) if l > 0.0 => format!("{:.2}", e / l),
                _ => "-".into(),
            };
            md += &format!(
                "| {k} | {} | {} | {} | {rss_ratio} |\n",
                cell(ENGINE),
                cell(LIBRESWAN),
                match (
                    v[ENGINE]["time_s"].as_f64(),
                    v[LIBRESWAN]["timeout_s"].as_f64()
                ) {
                    (Some(e), Some(limit)) if e > 0.0 => format!("> {:.1}x", limit / e),
                    _ => ratio(
                        v[ENGINE]["time_s"].as_f64(),
                        v[LIBRESWAN]["time_s"].as_f64()
                    ),
                }
            );
        }
    }
    md += "\n## Restart and rekey under traffic\n\nPings every 0.1 s pod to pod. Restart: the daemon on one side \
           SIGKILLed and started again (libreswan: a new pluto and the driver's whack calls, as a gateway pod restart \
           does); time from the restart to the daemon reporting the cable up, and pings lost. Rekey: short \
           lifetimes on one side (Child SA 25 s, IKE SA 50 s) for 60 s; rekeys counted by the engine's metric / \
           pluto's log.\n\n| case | cable-engine | libreswan |\n|---|---|---|\n";
    // Counts print as whole numbers, durations with one decimal.
    let f = |v: &Value, k: &str| match v[k].as_f64() {
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "-".into(),
    };
    let rs = |who: &str| {
        let v = &r["restart"][who];
        if let Some(e) = v["error"].as_str() {
            return format!("failed: {e}");
        }
        format!(
            "{} of {} lost; up again after {} s",
            f(v, "lost"),
            f(v, "sent"),
            f(v, "connected_again_s")
        )
    };
    md += &format!("| restart | {} | {} |\n", rs(ENGINE), rs(LIBRESWAN));
    let rk = |who: &str| {
        let v = &r["rekey"][who];
        if let Some(e) = v["error"].as_str() {
            return format!("failed: {e}");
        }
        let per = match (v["lost"].as_f64(), v["rekeys"].as_f64()) {
            (Some(l), Some(k)) if k > 0.0 => format!("{:.2}", l / k),
            _ => "-".into(),
        };
        format!(
            "{} lost of {} over {} rekeys: **{per} per rekey**",
            f(v, "lost"),
            f(v, "sent"),
            f(v, "rekeys")
        )
    };
    md += &format!("| rekey | {} | {} |\n", rk(ENGINE), rk(LIBRESWAN));
    md +=
        "\n## Targets (issue 16), medians of this run\n\n| target | measured | |\n|---|---|---|\n";
    let setup_ratio = |shape: &str| {
        let m = |w: &str| median_of(&r["setup"][shape][w]);
        match (m(ENGINE), m(LIBRESWAN)) {
            (Some(e), Some(l)) if e > 0.0 => Some(l / e),
            _ => None,
        }
    };
    let hub20 = &r["hub"]["20"];
    let hub_ratio = match (
        hub20[ENGINE]["time_s"].as_f64(),
        hub20[LIBRESWAN]["time_s"]
            .as_f64()
            .or(hub20[LIBRESWAN]["timeout_s"].as_f64()),
    ) {
        (Some(e), Some(l)) if e > 0.0 => Some(l / e),
        _ => None,
    };
    let hub_rss = match (
        hub20[ENGINE]["rss_kib"].as_f64(),
        hub20[LIBRESWAN]["rss_kib"].as_f64(),
    ) {
        (Some(e), Some(l)) if l > 0.0 => Some(e / l),
        _ => None,
    };
    for (what, got, want, more_is_better) in [
        (
            "set-up 1x1: libreswan / engine >= 5",
            setup_ratio("1x1"),
            5.0,
            true,
        ),
        (
            "set-up 3x2: libreswan / engine >= 10",
            setup_ratio("3x2"),
            10.0,
            true,
        ),
        ("hub K=20: libreswan / engine >= 10", hub_ratio, 10.0, true),
        ("hub K=20 RSS: engine / pluto <= 0.5", hub_rss, 0.5, false),
    ] {
        let verdict = match got {
            Some(g) if (more_is_better && g >= want) || (!more_is_better && g <= want) => "met",
            Some(_) => "**missed**",
            None => "not measured",
        };
        let bound = if what.starts_with("hub K=20: ") && hub20[LIBRESWAN]["time_s"].is_null() {
            "> "
        } else {
            ""
        };
        md += &format!(
            "| {what} | {} | {verdict} |\n",
            got.map_or("-".into(), |g| format!("{bound}{g:.2}"))
        );
    }
    md += "\nCharts: [set-up latency](setup.svg), [hub scale](hub.svg).\n";
    md
}

/// A horizontal bar chart: one group per label, one bar per series.
fn svg_bars(title: &str, unit: &str, groups: &[(String, Vec<(&str, f64)>)]) -> String {
    let colors = [
        (ENGINE, "#2a7ab0"),
        (ENGINE_COLD, "#7fb3d5"),
        (LIBRESWAN, "#d0783a"),
        (STRONGSWAN, "#5a9e4b"),
    ];
    let max = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|x| x.1))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let (left, width, bar) = (90.0, 520.0, 16.0);
    let mut y = 50.0;
    let mut body = String::new();
    for (label, bars) in groups {
        body += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{label}</text>\n",
            left - 8.0,
            y + bar * bars.len() as f64 / 2.0 + 4.0
        );
        for (who, v) in bars {
            let color = colors
                .iter()
                .find(|c| c.0 == *who)
                .map(|c| c.1)
                .unwrap_or("#888");
            let w = (v / max * width).max(1.0);
            body += &format!(
                "<rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{color}\"/>\n<text x=\"{:.1}\" y=\"{}\" font-size=\"11\">{who}: {v:.2} {unit}</text>\n",
                bar - 2.0,
                left + w + 4.0,
                y + bar - 5.0
            );
            y += bar;
        }
        y += 12.0;
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"{}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"24\" font-size=\"15\">{title}</text>\n{body}</svg>\n",
        y + 10.0
    )
}

fn charts(r: &Value) -> (String, String) {
    let mut setup = Vec::new();
    for shape in ["1x1", "3x2"] {
        let bars: Vec<(&str, f64)> = [ENGINE, ENGINE_COLD, LIBRESWAN, STRONGSWAN]
            .into_iter()
            .filter_map(|w| median_of(&r["setup"][shape][w]).map(|m| (w, m)))
            .collect();
        setup.push((shape.to_string(), bars));
    }
    let mut hub = Vec::new();
    if let Some(hubs) = r["hub"].as_object() {
        for (k, v) in hubs {
            let bars: Vec<(&str, f64)> = [ENGINE, LIBRESWAN]
                .into_iter()
                .filter_map(|w| v[w]["time_s"].as_f64().map(|t| (w, t)))
                .collect();
            hub.push((format!("K={k}"), bars));
        }
    }
    (
        svg_bars(
            "Set-up latency, median (s; emulated VM, compare ratios)",
            "s",
            &setup,
        ),
        svg_bars(
            "Hub: time to every spoke pair (s; emulated VM, compare ratios)",
            "s",
            &hub,
        ),
    )
}

/// A measurement's value, or its error (kept, not fatal: the rest runs;
/// `failures` counts it).
fn keep(failures: &mut usize, what: &str, r: Result<Value>) -> Value {
    match r {
        Ok(v) => {
            println!("bench: {what}: {v}");
            v
        }
        Err(e) => {
            *failures += 1;
            println!("bench: {what}: FAILED: {e:#}");
            json!({"error": format!("{e:#}").lines().next().unwrap_or_default()})
        }
    }
}

fn out_dir() -> PathBuf {
    integration::lab::out_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("bench")
}

fn main() -> Result<()> {
    if !integration::lab::in_lab() {
        bail!("the benchmark runs inside the kernel lab: use `cargo xtask bench`");
    }
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let hubs: Vec<usize> = std::env::var("BENCH_HUB")
        .unwrap_or_else(|_| "10,20".into())
        .split(',')
        .filter_map(|k| k.trim().parse().ok())
        .collect();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let shapes = std::env::var("BENCH_SHAPES").unwrap_or_default();
    let whos = std::env::var("BENCH_WHO").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    let mut failures = 0;
    let mut r = json!({
        "when": std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        "versions": {
            "cable-engine": version(
                &integration::sites::engine_binary()?.to_string_lossy(), &["--version"], "cable-engine"),
            "libreswan": version("/usr/libexec/ipsec/pluto", &["--version"], "Libreswan"),
            "strongswan": version("/usr/sbin/swanctl", &["--version"], "strongSwan"),
        },
        "emulated": true,
        "setup": {}, "setup_failed": {}, "phases": {}, "hub": {}, "restart": {}, "rekey": {},
    });

    if wanted("setup") {
        // The first ESP SA after boot makes the guest kernel load and
        // self-test the ESP and AES-GCM modules (seconds under emulation),
        // and the first start of each daemon reads its binary over the
        // shared filesystem: one discarded set-up per implementation first.
        for (who, f) in [
            (
                ENGINE,
                engine_setup as fn(&str, usize, usize) -> Result<(f64, Value)>,
            ),
            (LIBRESWAN, libreswan_setup),
            (STRONGSWAN, strongswan_setup),
        ] {
            match f(&format!("bench-warmup-{who}"), 1, 1) {
                Ok((x, _)) => println!("bench: warm-up {who}: {x:.2} s (not counted)"),
                Err(e) => println!("bench: warm-up {who}: FAILED (not counted): {e:#}"),
            }
        }
        for (shape, l, rr) in [("1x1", 1, 1), ("3x2", 3, 2)] {
            for (who, f) in [
                (
                    ENGINE,
                    engine_setup_running as fn(&str, usize, usize) -> Result<(f64, Value)>,
                ),
                (ENGINE_COLD, engine_setup),
                (LIBRESWAN, libreswan_setup),
                (STRONGSWAN, strongswan_setup),
            ] {
                if !shapes.is_empty() && !shapes.split(',').any(|x| x == shape) {
                    continue;
                }
                if !whos.is_empty() && !whos.split(',').any(|x| x == who) {
                    continue;
                }
                let (mut xs, mut failed, mut ph) = (Vec::new(), 0, Vec::new());
                for i in 0..reps {
                    let case = format!("bench-setup-{who}-{shape}-{i}");
                    match f(&case, l, rr) {
                        Ok((x, phases)) => {
                            println!("bench: set-up {shape} {who} #{i}: {x:.2} s");
                            xs.push(json!(x));
                            if !phases.is_null() {
                                ph.push(phases);
                            }
                        }
                        Err(e) => {
                            failures += 1;
                            failed += 1;
                            println!("bench: set-up {shape} {who} #{i}: FAILED: {e:#}");
                        }
                    }
                }
                r["setup"][shape][who] = Value::Array(xs);
                if !ph.is_empty() {
                    r["phases"][shape][who] = Value::Array(ph);
                }
                r["setup_failed"][shape][who] = json!(failed);
            }
        }
    }
    if wanted("hub") {
        for k in &hubs {
            let key = k.to_string();
            r["hub"][&key] = json!({});
            r["hub"][&key][ENGINE] = keep(
                &mut failures,
                &format!("hub K={k} {ENGINE}"),
                engine_hub(*k),
            );
            r["hub"][&key][LIBRESWAN] = keep(
                &mut failures,
                &format!("hub K={k} {LIBRESWAN}"),
                libreswan_hub(*k),
            );
        }
    }
    if wanted("restart") {
        r["restart"][ENGINE] = keep(&mut failures, "restart cable-engine", engine_restart());
        r["restart"][LIBRESWAN] = keep(&mut failures, "restart libreswan", libreswan_restart());
    }
    if wanted("rekey") {
        r["rekey"][ENGINE] = keep(&mut failures, "rekey cable-engine", engine_rekey());
        r["rekey"][LIBRESWAN] = keep(&mut failures, "rekey libreswan", libreswan_rekey());
    }
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&r)?)?;
    let md = markdown(&r);
    std::fs::write(dir.join("RESULTS.md"), &md)?;
    let (setup_svg, hub_svg) = charts(&r);
    std::fs::write(dir.join("setup.svg"), setup_svg)?;
    std::fs::write(dir.join("hub.svg"), hub_svg)?;
    println!("{md}");
    if failures > 0 {
        bail!("{failures} measurement(s) failed (see above)");
    }
    Ok(())
}
