//! What the interop lab tests share: the two topologies' addresses, the
//! engine's and the peer's sites, starting the engine, the peers'
//! configurations as Submariner would set them, the tunnel-only filter,
//! pings, XFRM inspection, and the results/log files kept for the host.

use integration::peers::libreswan::{Cable, Mode, Pluto};
use integration::peers::strongswan::{StrongSwan, SwanConn};
use integration::sites::{
    all_connected, connection_of, families_connected, rtt_measured, Engine, IpFamily, Site,
    TEST_PSK,
};
use integration::topo::{Netns, RoutedSites, TwoSites};
use integration::traffic::BackgroundPing;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Short engine lifetimes for rekey cases: Child SAs rekeyed every 15-20 s,
/// the IKE SA at 40-45 s.
pub const ENGINE_SHORT_LIFETIMES: &[(&str, &str)] = &[
    ("CE_IPSEC_SALIFETIME", "25s"),
    ("CE_IPSEC_IKELIFETIME", "50s"),
    ("CE_IPSEC_REKEYMARGIN", "5s"),
];

/// The same short lifetimes as whack options for libreswan (which refuses
/// lifetimes below its default margin, 540 s, unless the margin is set).
pub fn libreswan_short_lifetimes() -> Vec<String> {
    [
        "--ikelifetime",
        "50",
        "--ipseclifetime",
        "25",
        "--rekeymargin",
        "5",
        "--rekeyfuzz",
        "50",
    ]
    .map(String::from)
    .to_vec()
}

/// Generous: IKE with ECDH in software emulation, on 2 shared vCPUs.
pub const UP_LIMIT: Duration = Duration::from_secs(120);

/// The addresses of one topology, left = engine, right = peer.
#[derive(Clone, Copy)]
pub struct Addrs {
    pub left_ip: &'static str,
    pub right_ip: &'static str,
    pub left_public: &'static str,
    pub right_public: &'static str,
    pub left_pods: &'static str,
    pub right_pods: &'static str,
    pub left_pod_ip: &'static str,
    pub right_pod_ip: &'static str,
}

pub fn two_sites_addrs() -> Addrs {
    Addrs {
        left_ip: TwoSites::LEFT_IP,
        right_ip: TwoSites::RIGHT_IP,
        left_public: TwoSites::LEFT_IP,
        right_public: TwoSites::RIGHT_IP,
        left_pods: TwoSites::LEFT_PODS,
        right_pods: TwoSites::RIGHT_PODS,
        left_pod_ip: TwoSites::LEFT_POD_IP,
        right_pod_ip: TwoSites::RIGHT_POD_IP,
    }
}

/// The IPv6 addresses of [`TwoSites`] (after [`TwoSites::add_ipv6`]), in
/// the same roles: an IPv6-only topology for the helpers that take
/// [`Addrs`] (sites, strongSwan connection, tunnel-only filter, pings).
pub fn two_sites_addrs6() -> Addrs {
    Addrs {
        left_ip: TwoSites::LEFT_IP6,
        right_ip: TwoSites::RIGHT_IP6,
        left_public: TwoSites::LEFT_IP6,
        right_public: TwoSites::RIGHT_IP6,
        left_pods: TwoSites::LEFT_PODS6,
        right_pods: TwoSites::RIGHT_PODS6,
        left_pod_ip: TwoSites::LEFT_POD_IP6,
        right_pod_ip: TwoSites::RIGHT_POD_IP6,
    }
}

pub fn routed_addrs(t: &RoutedSites) -> Addrs {
    Addrs {
        left_ip: RoutedSites::LEFT_IP,
        right_ip: RoutedSites::RIGHT_IP,
        left_public: t.left_public_ip(),
        right_public: t.right_public_ip(),
        left_pods: RoutedSites::LEFT_PODS,
        right_pods: RoutedSites::RIGHT_PODS,
        left_pod_ip: RoutedSites::LEFT_POD_IP,
        right_pod_ip: RoutedSites::RIGHT_POD_IP,
    }
}

/// The engine's site (cluster-a, left).
pub fn engine_site(a: &Addrs, preferred_server: bool) -> Site {
    Site {
        cluster_id: "cluster-a".into(),
        private_ip: a.left_ip.into(),
        public_ip: a.left_public.into(),
        health_check_ip: a.left_pod_ip.into(),
        subnets: vec![a.left_pods.into()],
        nat_enabled: a.left_public != a.left_ip,
        preferred_server,
        ..Default::default()
    }
}

/// The peer's site (cluster-b, right), as its Endpoint would say.
pub fn peer_site(a: &Addrs, preferred_server: bool) -> Site {
    Site {
        cluster_id: "cluster-b".into(),
        private_ip: a.right_ip.into(),
        public_ip: a.right_public.into(),
        health_check_ip: a.right_pod_ip.into(),
        subnets: vec![a.right_pods.into()],
        nat_enabled: a.right_public != a.right_ip,
        preferred_server,
        ..Default::default()
    }
}

pub fn workdir(name: &str) -> PathBuf {
    let p = Path::new("/tmp").join(format!("interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Start the engine on `ns` with both sites in its endpoints directory.
pub fn start_engine(
    ns: &Netns,
    local: &Site,
    remote: &Site,
    work: &Path,
    extra_env: &[(&str, &str)],
) -> Engine {
    let dir = work.join("endpoints");
    local.write_into(&dir).unwrap();
    remote.write_into(&dir).unwrap();
    let mut env = vec![("SUBMARINER_HEALTHCHECKINTERVAL", "1")];
    env.extend_from_slice(extra_env);
    Engine::start(ns, local, &dir, work, &env).expect("starting cable-engine")
}

/// The strongSwan side for the engine site `local`/peer site `peer`.
pub fn swan_conn(a: &Addrs, engine: &Site, start: bool, encap: bool, psk: &str) -> SwanConn {
    SwanConn {
        local_addr: a.right_ip.into(),
        // Submariner's rule: a remote with nat_enabled is reached on its public IP.
        remote_addr: if engine.nat_enabled {
            engine.public_ip.clone()
        } else {
            engine.private_ip.clone()
        },
        local_id: a.right_ip.into(),
        remote_id: engine.private_ip.clone(),
        local_ts: vec![a.right_pods.into()],
        remote_ts: vec![a.left_pods.into()],
        psk: psk.into(),
        start,
        encap,
        ike_extra: Vec::new(),
        child_extra: Vec::new(),
        charon_extra: Vec::new(),
    }
}

/// The libreswan side as Submariner's driver (0.21+) on cluster-b would
/// set up the `family` half of the cable to a dual-stack (or single-family)
/// engine: that family's private IPs, reach address and subnets, named
/// `<cable>-v4|v6-<i>-<j>` with `--ipv4|--ipv6`. Panics when a site lacks
/// the family.
pub fn libreswan_cable_family(engine: &Site, peer: &Site, mode: Mode, family: IpFamily) -> Cable {
    let ip = |s: &Site, what: &str, v: Option<&str>| -> String {
        v.unwrap_or_else(|| panic!("{} has no {} {what}", s.cluster_id, family.label()))
            .to_string()
    };
    let use_nat = engine.nat_enabled;
    Cable {
        remote_cable_name: engine.cable_name(),
        local_private_ip: ip(peer, "private IP", peer.private_ip_of(family)),
        remote_private_ip: ip(engine, "private IP", engine.private_ip_of(family)),
        remote_use_ip: if use_nat {
            ip(engine, "public IP", engine.public_ip_of(family))
        } else {
            ip(engine, "private IP", engine.private_ip_of(family))
        },
        local_subnets: peer.subnets_of(family),
        remote_subnets: engine.subnets_of(family),
        mode,
        encaps: use_nat,
        local_port: 4500,
        remote_port: 4500,
        extra_args: Vec::new(),
        release: Default::default(),
    }
}

/// The libreswan side as Submariner's driver on cluster-b would set it up.
pub fn libreswan_cable(engine: &Site, peer: &Site, mode: Mode) -> Cable {
    let use_nat = engine.nat_enabled;
    Cable {
        remote_cable_name: engine.cable_name(),
        local_private_ip: peer.private_ip.clone(),
        remote_private_ip: engine.private_ip.clone(),
        remote_use_ip: if use_nat {
            engine.public_ip.clone()
        } else {
            engine.private_ip.clone()
        },
        local_subnets: peer.subnets.clone(),
        remote_subnets: engine.subnets.clone(),
        mode,
        encaps: use_nat,
        local_port: 4500,
        remote_port: 4500,
        extra_args: Vec::new(),
        release: Default::default(),
    }
}

/// Pod traffic between the sites must go through the tunnel: drop what
/// arrives from the other site's pod CIDR without IPsec (`-m policy --pol
/// none`). Without this the topology's routes would carry unencrypted pings
/// (and health checks) when no tunnel exists, as a real network would not.
pub fn tunnel_only(left: &Netns, right: &Netns, a: &Addrs) {
    tunnel_only_from(left, &[a.right_pods]);
    tunnel_only_from(right, &[a.left_pods]);
}

/// [`tunnel_only`] for one namespace and any number of remote subnets,
/// IPv4 ones with iptables, IPv6 ones with ip6tables (the same policy
/// match).
pub fn tunnel_only_from(ns: &Netns, remote_subnets: &[impl AsRef<str>]) {
    for net in remote_subnets {
        let net = net.as_ref();
        let tool = match IpFamily::of(net) {
            Some(IpFamily::V6) => "ip6tables",
            _ => "iptables",
        };
        ns.sh(&format!(
            "{tool} -A INPUT -s {net} -m policy --dir in --pol none -j DROP"
        ))
        .unwrap_or_else(|e| panic!("{tool} policy match (xt_policy): {e}"));
    }
}

/// `ping ` for an IPv4 target, `ping -6 ` for an IPv6 one.
pub fn ping_cmd(to: &str) -> &'static str {
    match IpFamily::of(to) {
        Some(IpFamily::V6) => "ping -6 ",
        _ => "ping ",
    }
}

/// Ping pod to pod in both directions through the tunnel; all must pass
/// (`ping -6` when the addresses are IPv6).
pub fn ping_both_ways(left: &Netns, right: &Netns, a: &Addrs) {
    for (ns, from, to) in [
        (left, a.left_pod_ip, a.right_pod_ip),
        (right, a.right_pod_ip, a.left_pod_ip),
    ] {
        let out = ns
            .sh(&format!("{}-c3 -i0.3 -W3 -I {from} {to}", ping_cmd(to)))
            .unwrap_or_else(|e| panic!("ping {from} -> {to} through the tunnel: {e}"));
        assert!(out.contains("3 received"), "ping {from} -> {to}: {out}");
    }
}

/// A namespace's XFRM states, without keys and without the engine's
/// reserved SPIs (see [`strip_reserved`]).
pub fn xfrm_state(ns: &Netns) -> String {
    strip_reserved(&ns.sh("ip xfrm state list nokeys").unwrap_or_default())
}

/// The same with keys (tests that measure them).
pub fn xfrm_state_keys(ns: &Netns) -> String {
    strip_reserved(&ns.sh("ip xfrm state").unwrap_or_default())
}

/// An `ip xfrm state` dump without the larval SAs of SPIs the engine
/// reserved ahead of need (XFRM_MSG_ALLOCSPI, source `0.0.0.0`/`::`,
/// up to 30 s each): they carry no traffic and come and go on their own.
pub fn strip_reserved(dump: &str) -> String {
    let mut out = String::new();
    let mut keep = true;
    for line in dump.lines() {
        if line.starts_with("src ") {
            keep = !(line.starts_with("src 0.0.0.0 ") || line.starts_with("src :: "));
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// ESP states in a namespace's kernel, without the kernel's own larval
/// ACQUIRE states (SPI 0: a packet met a policy whose SA is not there yet,
/// e.g. a pair held until its Child SA is up).
pub fn esp_states(ns: &Netns) -> usize {
    xfrm_state(ns)
        .lines()
        .filter(|l| l.trim_start().starts_with("proto esp spi "))
        .filter(|l| !l.contains("spi 0x00000000 "))
        .count()
}

/// ESP states from `src` to `dst` (outer addresses, as `ip xfrm state`
/// prints them: `src fd00:50::1 dst fd00:50::2` then `proto esp spi ..`),
/// larval ACQUIRE states (SPI 0) left out.
pub fn esp_states_between(ns: &Netns, src: &str, dst: &str) -> usize {
    let head = format!("src {src} dst {dst}");
    let dump = xfrm_state(ns);
    let lines: Vec<&str> = dump.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].trim_end() == head)
        .filter(|w| {
            let l = w[1].trim_start();
            l.starts_with("proto esp spi ") && !l.contains("spi 0x00000000 ")
        })
        .count()
}

/// Both directions of an ESP SA pair between `a` and `b` in `ns`'s kernel;
/// returns the dump for further checks.
pub fn assert_esp_pair(ns: &Netns, who: &str, a: &str, b: &str) -> String {
    let (out, back) = (esp_states_between(ns, a, b), esp_states_between(ns, b, a));
    let st = xfrm_state(ns);
    assert!(
        out > 0 && back > 0,
        "{who}: wanted ESP states {a} -> {b} and {b} -> {a}, found {out} and {back}:\n{st}"
    );
    st
}

/// The SPIs of the ESP states in a namespace's kernel (larval ACQUIRE
/// states, SPI 0, left out).
pub fn esp_spis(ns: &Netns) -> std::collections::BTreeSet<String> {
    xfrm_state(ns)
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "spi" && w[1] != "0x00000000")
        .map(|w| w[1].to_string())
        .collect()
}

/// Append one line to the results file shared with the host, and print it.
pub fn record(case: &str, peer: &str, role: &str, nat: &str, setup: Duration, note: &str) {
    let peer = integration::peers::release_label(peer);
    let line = format!(
        "{case}\t{peer}\t{role}\t{nat}\t{:.1}s\t{note}",
        setup.as_secs_f64()
    );
    println!("RESULT {line}");
    if let Some(dir) = integration::lab::out_dir() {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("interop-results.txt"))
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Keep the daemons' logs of a case in `$CABLE_ENGINE_LAB_OUT/interop-logs/`
/// (the host sees them after the run).
pub fn keep_logs(case: &str, logs: &[(&str, String)]) {
    if let Some(dir) = integration::lab::out_dir() {
        let dir = dir.join("interop-logs");
        let _ = std::fs::create_dir_all(&dir);
        for (name, text) in logs {
            let _ = std::fs::write(dir.join(format!("{case}-{name}.log")), text);
        }
    }
}

/// Wait for the engine to report the cable connected; on failure, the
/// panic shows the engine's and the peer's logs, and at its end (what a
/// truncated CI excerpt keeps) the engine's SA events.
pub fn wait_connected(
    engine: &mut Engine,
    peer_log: impl Fn() -> String,
) -> Vec<serde_json::Value> {
    match engine.wait_for("engine connected", UP_LIMIT, all_connected) {
        Ok(c) => c,
        Err(e) => panic!(
            "{e:#}\n--- peer log ---\n{}\n--- engine: SA events (last 40) ---\n{}",
            peer_log(),
            sa_events(&engine.log_text(), 40)
        ),
    }
}

/// The last `n` lines of an engine log about IKE and Child SAs coming,
/// going and waiting (no retries of refused pairs).
pub fn sa_events(log: &str, n: usize) -> String {
    let keep = |l: &&str| {
        [
            "IKE SA",
            "Child SA installed",
            "deleted",
            "closed",
            "rekey",
            "waits",
            "ERROR",
        ]
        .iter()
        .any(|k| l.contains(k))
    };
    let lines: Vec<&str> = log.lines().filter(keep).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The engine's table mentions the remote cluster as connected.
pub fn assert_table_connected(engine: &Engine) {
    let table = engine.show(false).expect("show connections");
    println!("{table}");
    assert!(
        table.contains("cluster-b") && table.contains("connected"),
        "show connections:\n{table}"
    );
}

/// Drop the engine's own IKE_SA_INIT requests (exchange type 34 with only
/// the Initiator flag, after the non-ESP marker on port 4500), so that the
/// peer's initiation is the one that builds the IKE SA.
pub fn block_engine_initiation(ns: &Netns) {
    ns.sh(
        "iptables -A OUTPUT -p udp --dport 4500 -m u32 --u32 '0>>22&0x3C@28&0xFFFF=0x2208' -j DROP",
    )
    .expect("iptables u32 rule (xt_u32)");
}

/// [`block_engine_initiation`] over IPv6: the same IKE header bytes at a
/// fixed offset (40 bytes of IPv6 header, no extension headers, + 8 UDP + 4
/// marker + 16 into the IKE header), with ip6tables.
pub fn block_engine_initiation6(ns: &Netns) {
    ns.sh("ip6tables -A OUTPUT -p udp --dport 4500 -m u32 --u32 '68&0xFFFF=0x2208' -j DROP")
        .expect("ip6tables u32 rule (xt_u32)");
}

/// Wait until the engine reports every entry connected and one entry of
/// each of `families` (entries told apart by `usingIP`); on failure, the
/// panic shows the logs as [`wait_connected`] does.
pub fn wait_families(
    engine: &mut Engine,
    families: &[IpFamily],
    peer_log: impl Fn() -> String,
) -> Vec<serde_json::Value> {
    let what = format!(
        "engine connected for {}",
        families
            .iter()
            .map(|f| f.label())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    match engine.wait_for(&what, UP_LIMIT, |c| families_connected(c, families)) {
        Ok(c) => c,
        Err(e) => panic!(
            "{e:#}\n--- peer log ---\n{}\n--- engine: SA events (last 40) ---\n{}",
            peer_log(),
            sa_events(&engine.log_text(), 40)
        ),
    }
}

/// The status entry of `family`, which must exist and have `status`.
pub fn assert_family<'a>(
    c: &'a [serde_json::Value],
    family: IpFamily,
    status: &str,
) -> &'a serde_json::Value {
    let entry = connection_of(c, family).unwrap_or_else(|| {
        panic!(
            "no {} status entry (by usingIP) in {}",
            family.label(),
            serde_json::to_string(c).unwrap_or_default()
        )
    });
    assert_eq!(entry["status"], status, "{} entry: {entry}", family.label());
    entry
}

/// Wait until the entry of each of `families` has an answered health check
/// ([`rtt_measured`]) while every entry stays connected.
pub fn wait_rtt(engine: &mut Engine, families: &[IpFamily]) -> Vec<serde_json::Value> {
    engine
        .wait_for("health checks answered", UP_LIMIT, |c| {
            families_connected(c, families)
                && families
                    .iter()
                    .all(|f| connection_of(c, *f).is_some_and(rtt_measured))
        })
        .unwrap_or_else(|e| panic!("{e:#}"))
}

pub fn assert_espinudp(ns: &Netns, who: &str) -> String {
    let st = xfrm_state(ns);
    let esp = st.matches("proto esp").count();
    let encap = st.matches("encap type espinudp").count();
    assert!(
        esp > 0 && encap == esp,
        "{who}: every ESP state should carry ESP-in-UDP encapsulation:\n{st}"
    );
    st
}

/// The engine (left) and a third-party peer (right) on [`TwoSites`], with
/// pod traffic allowed only through the tunnel, both reporting it up.
pub struct Pair<P> {
    pub t: TwoSites,
    pub a: Addrs,
    /// The engine's site.
    pub es: Site,
    pub work: PathBuf,
    pub peer: P,
    pub engine: Engine,
    /// From the engine's start to both sides up.
    pub setup: Duration,
}

/// strongSwan responding with its defaults (the engine initiates), after
/// `adjust` changed its connection; the engine gets `env`.
pub fn strongswan_pair(
    case: &str,
    adjust: impl FnOnce(&mut SwanConn),
    env: &[(&str, &str)],
) -> Pair<StrongSwan> {
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let mut conn = swan_conn(&a, &es, false, false, TEST_PSK);
    adjust(&mut conn);
    let sw = StrongSwan::start(&t.right, &conn, &work.join("strongswan")).expect("strongSwan");
    let t0 = Instant::now();
    let mut engine = start_engine(&t.left, &es, &ps, &work, env);
    wait_connected(&mut engine, || sw.log_text());
    sw.wait_up(UP_LIMIT).expect("strongSwan SAs");
    Pair {
        setup: t0.elapsed(),
        t,
        a,
        es,
        work,
        peer: sw,
        engine,
    }
}

/// libreswan set up by Submariner's driver in `mode` (its cable changed by
/// `adjust`), returned with the cable; the engine gets `env`.
pub fn libreswan_pair(
    case: &str,
    mode: Mode,
    adjust: impl FnOnce(&mut Cable),
    env: &[(&str, &str)],
) -> (Pair<Pluto>, Cable) {
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let mut cable = libreswan_cable(&es, &ps, mode);
    adjust(&mut cable);
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("pluto");
    let t0 = Instant::now();
    let mut engine = start_engine(&t.left, &es, &ps, &work, env);
    pluto.connect(&cable).expect("whack (as the driver)");
    wait_connected(&mut engine, || pluto.log_text());
    pluto.wait_up(&cable, UP_LIMIT).expect("libreswan up");
    let pair = Pair {
        setup: t0.elapsed(),
        t,
        a,
        es,
        work,
        peer: pluto,
        engine,
    };
    (pair, cable)
}

/// Pings every 0.1 s from the left pod to the right pod of [`TwoSites`]
/// (both directions of the tunnel: requests out, replies back), until
/// stopped.
pub fn pod_pings(left: &Netns) -> BackgroundPing {
    BackgroundPing::start(
        left,
        TwoSites::LEFT_POD_IP,
        TwoSites::RIGHT_POD_IP,
        Duration::from_millis(100),
    )
    .expect("background ping")
}
