//! End-to-end interop: the engine against strongSwan 5.9 (swanctl) and
//! against libreswan 4.x configured exactly as Submariner's libreswan driver
//! configures it, with and without NAT, plus failure cases.
//!
//! The engine always runs on the left site, the third-party peer on the
//! right. Every test builds its own namespaces and daemons and tears them
//! down through Drop guards, also when it fails. Set-up times are measured
//! inside the lab VM (software emulation: slow, and only comparable with
//! each other) and appended to `$CABLE_ENGINE_LAB_OUT/interop-results.txt`.

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::libreswan::{Mode, Pluto};
use integration::peers::strongswan::StrongSwan;
use integration::sites::TEST_PSK;
use integration::topo::{Nat, RoutedSites, TwoSites};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- strongSwan

/// strongSwan only responds (no start action); the engine initiates.
#[test]
fn strongswan_responder() {
    strongswan_responder_case("strongswan_responder");
}

pub fn strongswan_responder_case(case: &str) {
    require_lab();
    let p = strongswan_pair(case, |_| {}, &[]);
    let (t, a, sw, e, took) = (&p.t, &p.a, &p.peer, &p.engine, p.setup);
    assert!(
        !sw.initiated().unwrap(),
        "strongSwan should be the responder:\n{}",
        sw.list_sas().unwrap_or_default()
    );
    ping_both_ways(&t.left, &t.right, a);
    assert_table_connected(e);
    println!("{}", sw.list_sas().unwrap_or_default());
    assert!(xfrm_state(&t.left).contains("proto esp"));
    keep_logs(case, &[("charon", sw.log_text()), ("engine", e.log_text())]);
    record(case, "strongSwan 5.9.8", "responder", "none", took, "pass");
}

/// strongSwan initiates (start_action = start) while the engine's own
/// IKE_SA_INIT requests are dropped by a filter in its namespace, so the
/// engine is the responder of the IKE SA that carries the tunnel.
#[test]
fn strongswan_initiator() {
    strongswan_initiator_case("strongswan_initiator");
}

pub fn strongswan_initiator_case(case: &str) {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
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
    keep_logs(case, &[("charon", sw.log_text()), ("engine", e.log_text())]);
    record(case, "strongSwan 5.9.8", "initiator", "none", took, "pass");
}

// ---------------------------------------------------------------- libreswan

/// Run one libreswan case: `engine_pref`/`peer_pref` are the two Endpoints'
/// preferred-server flags, `mode` what Submariner's driver on the peer
/// derives from them.
pub fn libreswan_case(case: &str, role: &str, engine_pref: bool, peer_pref: bool, mode: Mode) {
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

/// The engine's site is behind NAT (the router SNATs it and forwards UDP
/// 4500 on its public address); libreswan in bidirectional mode reaches it
/// on the public IP with --encaps=yes, as the driver does for a NATed
/// remote.
#[test]
fn nat_engine_behind_nat_libreswan() {
    nat_libreswan_case("nat_engine_behind_nat_libreswan");
}

pub fn nat_libreswan_case(case: &str) {
    require_lab();
    let t = RoutedSites::new(Nat::Left).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
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
    keep_logs(
        case,
        &[("pluto", pluto.log_text()), ("engine", e.log_text())],
    );
    record(
        case,
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
    let p = strongswan_pair("forceencaps", |_| {}, &[("CE_IPSEC_FORCEENCAPS", "true")]);
    let (t, a, took) = (&p.t, &p.a, p.setup);
    ping_both_ways(&t.left, &t.right, a);
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
