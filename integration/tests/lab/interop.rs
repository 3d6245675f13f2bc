//! End-to-end interop: the engine against strongSwan 5.9 (swanctl) and
//! against libreswan 4.x configured exactly as Submariner's libreswan driver
//! configures it, with and without NAT, plus failure cases.
//!
//! The engine always runs on the left site, the third-party peer on the
//! right. Every test builds its own namespaces and daemons and tears them
//! down through Drop guards, also when it fails. Set-up times are measured
//! inside the lab VM (software emulation: slow, and only comparable with
//! each other) and appended to `$CABLE_ENGINE_LAB_OUT/interop-results.txt`.

use integration::lab::require_lab;
use integration::peers::libreswan::{Cable, Mode, Pluto};
use integration::peers::strongswan::{StrongSwan, SwanConn};
use integration::sites::{all_connected, Engine, Site, TEST_PSK};
use integration::topo::{Nat, Netns, RoutedSites, TwoSites};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Generous: IKE with ECDH in software emulation, on 2 shared vCPUs.
const UP_LIMIT: Duration = Duration::from_secs(120);

/// The addresses of one topology, left = engine, right = peer.
#[derive(Clone, Copy)]
struct Addrs {
    left_ip: &'static str,
    right_ip: &'static str,
    left_public: &'static str,
    right_public: &'static str,
    left_pods: &'static str,
    right_pods: &'static str,
    left_pod_ip: &'static str,
    right_pod_ip: &'static str,
}

fn two_sites_addrs() -> Addrs {
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

fn routed_addrs(t: &RoutedSites) -> Addrs {
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
fn engine_site(a: &Addrs, preferred_server: bool) -> Site {
    Site {
        cluster_id: "cluster-a".into(),
        private_ip: a.left_ip.into(),
        public_ip: a.left_public.into(),
        health_check_ip: a.left_pod_ip.into(),
        subnets: vec![a.left_pods.into()],
        nat_enabled: a.left_public != a.left_ip,
        preferred_server,
    }
}

/// The peer's site (cluster-b, right), as its Endpoint would say.
fn peer_site(a: &Addrs, preferred_server: bool) -> Site {
    Site {
        cluster_id: "cluster-b".into(),
        private_ip: a.right_ip.into(),
        public_ip: a.right_public.into(),
        health_check_ip: a.right_pod_ip.into(),
        subnets: vec![a.right_pods.into()],
        nat_enabled: a.right_public != a.right_ip,
        preferred_server,
    }
}

fn workdir(name: &str) -> PathBuf {
    let p = Path::new("/tmp").join(format!("interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Start the engine on `ns` with both sites in its endpoints directory.
fn start_engine(
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
fn swan_conn(a: &Addrs, engine: &Site, start: bool, encap: bool, psk: &str) -> SwanConn {
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
    }
}

/// The libreswan side as Submariner's driver on cluster-b would set it up.
fn libreswan_cable(engine: &Site, peer: &Site, mode: Mode) -> Cable {
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
    }
}

/// Pod traffic between the sites must go through the tunnel: drop what
/// arrives from the other site's pod CIDR without IPsec (`-m policy --pol
/// none`). Without this the topology's routes would carry unencrypted pings
/// (and health checks) when no tunnel exists, as a real network would not.
fn tunnel_only(left: &Netns, right: &Netns, a: &Addrs) {
    for (ns, remote_pods) in [(left, a.right_pods), (right, a.left_pods)] {
        ns.sh(&format!(
            "iptables -A INPUT -s {remote_pods} -m policy --dir in --pol none -j DROP"
        ))
        .expect("iptables policy match (xt_policy)");
    }
}

/// Ping pod to pod in both directions through the tunnel; all must pass.
fn ping_both_ways(left: &Netns, right: &Netns, a: &Addrs) {
    for (ns, from, to) in [
        (left, a.left_pod_ip, a.right_pod_ip),
        (right, a.right_pod_ip, a.left_pod_ip),
    ] {
        let out = ns
            .sh(&format!("ping -c3 -i0.3 -W3 -I {from} {to}"))
            .unwrap_or_else(|e| panic!("ping {from} -> {to} through the tunnel: {e}"));
        assert!(out.contains("3 received"), "ping {from} -> {to}: {out}");
    }
}

fn xfrm_state(ns: &Netns) -> String {
    ns.sh("ip xfrm state").unwrap_or_default()
}

/// ESP states in a namespace's kernel.
fn esp_states(ns: &Netns) -> usize {
    xfrm_state(ns)
        .lines()
        .filter(|l| l.starts_with("src "))
        .count()
}

/// Append one line to the results file shared with the host, and print it.
fn record(case: &str, peer: &str, role: &str, nat: &str, setup: Duration, note: &str) {
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
fn keep_logs(case: &str, logs: &[(&str, String)]) {
    if let Some(dir) = integration::lab::out_dir() {
        let dir = dir.join("interop-logs");
        let _ = std::fs::create_dir_all(&dir);
        for (name, text) in logs {
            let _ = std::fs::write(dir.join(format!("{case}-{name}.log")), text);
        }
    }
}

/// Wait for the engine to report the cable connected; on failure, the
/// panic shows the engine's and the peer's logs.
fn wait_connected(engine: &mut Engine, peer_log: impl Fn() -> String) -> Vec<serde_json::Value> {
    match engine.wait_for("engine connected", UP_LIMIT, all_connected) {
        Ok(c) => c,
        Err(e) => panic!("{e:#}\n--- peer log ---\n{}", peer_log()),
    }
}

/// The engine's table mentions the remote cluster as connected.
fn assert_table_connected(engine: &Engine) {
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
fn block_engine_initiation(ns: &Netns) {
    ns.sh(
        "iptables -A OUTPUT -p udp --dport 4500 -m u32 --u32 '0>>22&0x3C@28&0xFFFF=0x2208' -j DROP",
    )
    .expect("iptables u32 rule (xt_u32)");
}

// ---------------------------------------------------------------- strongSwan

/// strongSwan only responds (no start action); the engine initiates.
#[test]
fn strongswan_responder() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("sw-resp");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, false, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    wait_connected(&mut e, || sw.log_text());
    sw.wait_up(UP_LIMIT).expect("strongSwan SAs");
    let took = t0.elapsed();
    assert!(
        !sw.initiated().unwrap(),
        "strongSwan should be the responder:\n{}",
        sw.list_sas().unwrap_or_default()
    );
    ping_both_ways(&t.left, &t.right, &a);
    assert_table_connected(&e);
    println!("{}", sw.list_sas().unwrap_or_default());
    assert!(xfrm_state(&t.left).contains("proto esp"));
    keep_logs(
        "strongswan_responder",
        &[("charon", sw.log_text()), ("engine", e.log_text())],
    );
    record(
        "strongswan_responder",
        "strongSwan 5.9.8",
        "responder",
        "none",
        took,
        "pass",
    );
}

/// strongSwan initiates (start_action = start) while the engine's own
/// IKE_SA_INIT requests are dropped by a filter in its namespace, so the
/// engine is the responder of the IKE SA that carries the tunnel.
#[test]
fn strongswan_initiator() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("sw-init");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    block_engine_initiation(&t.left);
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    let t0 = Instant::now();
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, true, false, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    sw.wait_up(UP_LIMIT).expect("strongSwan SAs");
    wait_connected(&mut e, || sw.log_text());
    let took = t0.elapsed();
    assert!(
        sw.initiated().unwrap(),
        "strongSwan should be the initiator:\n{}",
        sw.list_sas().unwrap_or_default()
    );
    ping_both_ways(&t.left, &t.right, &a);
    assert_table_connected(&e);
    keep_logs(
        "strongswan_initiator",
        &[("charon", sw.log_text()), ("engine", e.log_text())],
    );
    record(
        "strongswan_initiator",
        "strongSwan 5.9.8",
        "initiator",
        "none",
        took,
        "pass",
    );
}

// ---------------------------------------------------------------- libreswan

/// Run one libreswan case: `engine_pref`/`peer_pref` are the two Endpoints'
/// preferred-server flags, `mode` what Submariner's driver on the peer
/// derives from them.
fn libreswan_case(case: &str, role: &str, engine_pref: bool, peer_pref: bool, mode: Mode) {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let (es, ps) = (engine_site(&a, engine_pref), peer_site(&a, peer_pref));
    let cable = libreswan_cable(&es, &ps, mode);
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("pluto");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    pluto.connect(&cable).expect("whack (as the driver)");
    wait_connected(&mut e, || pluto.log_text());
    pluto.wait_up(&cable, UP_LIMIT).expect("libreswan up");
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    assert_table_connected(&e);
    println!("{}", pluto.traffic_status().unwrap_or_default());
    let log = pluto.log_text();
    keep_logs(
        case,
        &[
            ("pluto", log.clone()),
            ("engine", e.log_text()),
            ("xfrm-engine", xfrm_state(&t.left)),
        ],
    );
    let sas = esp_states(&t.left);
    record(
        case,
        "libreswan 4.10",
        role,
        "none",
        took,
        &format!("pass; {sas} ESP states on the engine side"),
    );
    assert!(log.contains("established"), "pluto log:\n{log}");
}

/// Submariner's server mode on the libreswan side (its Endpoint says
/// preferred-server, ours does not): libreswan waits, the engine initiates.
#[test]
fn libreswan_responder() {
    libreswan_case(
        "libreswan_responder",
        "responder",
        false,
        true,
        Mode::Server,
    );
}

/// Submariner's client mode on the libreswan side (our Endpoint says
/// preferred-server): libreswan initiates, the engine only responds.
#[test]
fn libreswan_initiator() {
    libreswan_case(
        "libreswan_initiator",
        "initiator",
        true,
        false,
        Mode::Client,
    );
}

/// Submariner's default bidirectional mode: both sides initiate at once.
#[test]
fn libreswan_both_initiate() {
    libreswan_case(
        "libreswan_both_initiate",
        "both initiate",
        false,
        false,
        Mode::Bidirectional,
    );
}

// ---------------------------------------------------------------- NAT

fn assert_espinudp(ns: &Netns, who: &str) -> String {
    let st = xfrm_state(ns);
    let esp = st.matches("proto esp").count();
    let encap = st.matches("encap type espinudp").count();
    assert!(
        esp > 0 && encap == esp,
        "{who}: every ESP state should carry ESP-in-UDP encapsulation:\n{st}"
    );
    st
}

/// The engine's site is behind NAT (the router SNATs it and forwards UDP
/// 4500 on its public address); libreswan in bidirectional mode reaches it
/// on the public IP with --encaps=yes, as the driver does for a NATed
/// remote.
#[test]
fn nat_engine_behind_nat_libreswan() {
    require_lab();
    let t = RoutedSites::new(Nat::Left).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("nat-left");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    assert!(es.nat_enabled && !ps.nat_enabled);
    let cable = libreswan_cable(&es, &ps, Mode::Bidirectional);
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("pluto");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    pluto.connect(&cable).expect("whack (as the driver)");
    wait_connected(&mut e, || {
        format!("{}\n{}", pluto.log_text(), t.nat_table())
    });
    pluto.wait_up(&cable, UP_LIMIT).expect("libreswan up");
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    let st = assert_espinudp(&t.left, "engine");
    assert!(st.contains("sport 4500 dport 4500"), "{st}");
    assert_espinudp(&t.right, "libreswan");
    assert_table_connected(&e);
    record(
        "nat_engine_behind_nat_libreswan",
        "libreswan 4.10",
        "both initiate",
        "engine side NATed",
        took,
        "pass; ESP-in-UDP 4500",
    );
}

/// Both sites behind NAT with port translation: each side's UDP leaves from
/// a translated port (left 20000-29999, right 30000-39999); the engine
/// initiates to strongSwan's public address.
#[test]
fn nat_both_sides_port_translation_strongswan() {
    require_lab();
    let t = RoutedSites::new(Nat::Both).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("nat-both");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    assert!(es.nat_enabled && ps.nat_enabled);
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, true, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    wait_connected(&mut e, || format!("{}\n{}", sw.log_text(), t.nat_table()));
    sw.wait_up(UP_LIMIT).expect("strongSwan SAs");
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    assert_espinudp(&t.left, "engine");
    let right = assert_espinudp(&t.right, "strongSwan");
    // strongSwan sends to the engine's translated source port.
    let translated = right.lines().any(|l| {
        l.contains("encap type espinudp sport 4500 dport 2")
            && l.split("dport ")
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
                .and_then(|p| p.parse::<u16>().ok())
                .is_some_and(|p| (20000..30000).contains(&p))
    });
    assert!(
        translated,
        "strongSwan's SA should send to a translated port:\n{right}\n{}",
        t.nat_table()
    );
    assert_table_connected(&e);
    record(
        "nat_both_sides_port_translation_strongswan",
        "strongSwan 5.9.8",
        "responder",
        "both sides NATed, ports translated",
        took,
        "pass; ESP-in-UDP via translated ports",
    );
}

/// CE_IPSEC_FORCEENCAPS=true without NAT: the SAs use ESP-in-UDP anyway.
#[test]
fn forced_encapsulation_strongswan() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("forceencaps");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, false, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let t0 = Instant::now();
    let mut e = start_engine(
        &t.left,
        &es,
        &ps,
        &work,
        &[("CE_IPSEC_FORCEENCAPS", "true")],
    );
    wait_connected(&mut e, || sw.log_text());
    sw.wait_up(UP_LIMIT).expect("strongSwan SAs");
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    let st = assert_espinudp(&t.left, "engine");
    assert!(st.contains("sport 4500 dport 4500"), "{st}");
    assert_espinudp(&t.right, "strongSwan");
    record(
        "forced_encapsulation_strongswan",
        "strongSwan 5.9.8",
        "responder",
        "none, CE_IPSEC_FORCEENCAPS=true",
        took,
        "pass; ESP-in-UDP 4500",
    );
}

// ---------------------------------------------------------------- failures

/// The peer has another PSK: the engine reports an error that says
/// authentication failed, and no SA reaches either kernel.
#[test]
fn wrong_psk_strongswan() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("wrong-psk");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, false, "not-the-submariner-psk"),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    let c = match e.wait_for("engine reports an error", UP_LIMIT, |c| {
        !c.is_empty() && c.iter().all(|x| x["status"] == "error")
    }) {
        Ok(c) => c,
        Err(err) => panic!("{err:#}\n--- charon ---\n{}", sw.log_text()),
    };
    let took = t0.elapsed();
    let msg = c[0]["statusMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!("status message: {msg}");
    assert!(
        msg.to_lowercase().contains("authentication"),
        "the error should say authentication failed: {msg:?}"
    );
    assert!(
        e.log_text().to_lowercase().contains("authentication"),
        "the engine's log should say authentication failed:\n{}",
        e.log_text()
    );
    // Still nothing in either kernel a little later.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(esp_states(&t.left), 0, "{}", xfrm_state(&t.left));
    assert_eq!(esp_states(&t.right), 0, "{}", xfrm_state(&t.right));
    record(
        "wrong_psk_strongswan",
        "strongSwan 5.9.8",
        "responder",
        "none",
        took,
        &format!("pass (error as expected): {msg}"),
    );
}

/// The peer gateway dies (charon killed, its kernel state gone): the
/// health check turns the connection to error; when the peer comes back
/// (and initiates, as a restarted gateway does) the cable recovers.
#[test]
fn peer_stopped_and_back_strongswan() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("peer-stopped");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let mut sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, false, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    wait_connected(&mut e, || sw.log_text());
    ping_both_ways(&t.left, &t.right, &a);

    // The gateway vanishes without a word: SIGKILL, then its kernel state.
    sw.kill();
    t.right
        .sh("ip xfrm state flush && ip xfrm policy flush")
        .unwrap();
    let t_down = Instant::now();
    let c = e
        .wait_for("error after the peer died", Duration::from_secs(60), |c| {
            !c.is_empty() && c.iter().all(|x| x["status"] == "error")
        })
        .unwrap();
    let detect = t_down.elapsed();
    let msg = c[0]["statusMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!("after {detect:?}: {msg}");
    assert!(
        msg.contains("Failed to successfully ping the remote endpoint IP"),
        "{msg}"
    );

    // Back, initiating on start.
    drop(sw);
    let t_up = Instant::now();
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, true, false, TEST_PSK),
        &work.join("strongswan2"),
    )
    .expect("strongSwan again");
    wait_connected(&mut e, || sw.log_text());
    let recover = t_up.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    record(
        "peer_stopped_and_back_strongswan",
        "strongSwan 5.9.8",
        "responder, then initiator",
        "none",
        recover,
        &format!(
            "pass: error after {:.1}s ({msg}); recovered (time in column) after restart",
            detect.as_secs_f64()
        ),
    );
}
