//! A bad path between the gateways (issue 13): 30 % loss each way, with
//! reordering and duplication (netem on the router). The tunnel must come
//! up, rekey and stay up, against strongSwan and against another engine.

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::strongswan::StrongSwan;
use integration::sites::{all_connected, Engine, TEST_PSK};
use integration::topo::{Nat, Netns, RoutedSites};
use integration::traffic::engine_counter;
use std::time::{Duration, Instant};

const METRICS_PORT: u16 = 32780;
/// Long enough for the rekeys below at 20-25 s each, with retransmissions.
const REKEY_LIMIT: Duration = Duration::from_secs(240);
/// Up to 3x the usual limit: every exchange may need retransmissions.
const LOSSY_UP_LIMIT: Duration = Duration::from_secs(240);

/// 30 % loss, 5 % duplicates, a quarter of the packets overtaking the
/// others (which wait 10-20 ms), on both of the router's interfaces.
fn make_path_lossy(t: &RoutedSites) {
    for dev in ["to-left", "to-right"] {
        t.router
            .sh(&format!(
                "tc qdisc add dev {dev} root netem delay 15ms 5ms loss 30% duplicate 5% reorder 25% 50%"
            ))
            .expect("netem");
    }
}

/// Waits for 2 Child SA rekeys and 1 IKE SA rekey counted by the engine
/// on `ns`; returns them and how long it took. Every second meanwhile,
/// the kernel on `ns` must hold an ESP SA each way: the tunnel never went
/// down.
fn wait_rekeys(ns: &Netns, e: &Engine, peer_log: &dyn Fn() -> String) -> (f64, f64, Duration) {
    let counter = |n: &str| engine_counter(ns, METRICS_PORT, n).unwrap_or(0.0);
    let (c0, i0) = (
        counter("cable_engine_child_sa_rekeys"),
        counter("cable_engine_ike_sa_rekeys"),
    );
    let t0 = Instant::now();
    let (mut child, mut ike) = (0.0, 0.0);
    while t0.elapsed() < REKEY_LIMIT {
        child = counter("cable_engine_child_sa_rekeys") - c0;
        ike = counter("cable_engine_ike_sa_rekeys") - i0;
        if child >= 2.0 && ike >= 1.0 {
            break;
        }
        assert!(
            esp_states(ns) >= 2,
            "no ESP SA pair after {:?}: the tunnel went down\n{}\n--- engine ---\n{}",
            t0.elapsed(),
            xfrm_state(ns),
            e.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        child >= 2.0 && ike >= 1.0,
        "after {:?}: {child} Child SA rekeys, {ike} IKE SA rekeys\n--- engine ---\n{}\n--- peer ---\n{}",
        t0.elapsed(),
        e.log_text(),
        peer_log()
    );
    (child, ike, t0.elapsed())
}

/// IKE SAs the engine on `ns` set up from scratch (not rekeys).
fn established(ns: &Netns) -> f64 {
    let text = integration::sites::http_get(ns, METRICS_PORT, "/metrics").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("cable_engine_ike_sa_established"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Pings through the tunnel until one answer comes (at most 60 tries).
fn some_ping_passes(ns: &Netns) -> bool {
    ns.sh(&format!(
        "ping -c1 -W1 -w60 -I {} {} >/dev/null",
        RoutedSites::LEFT_POD_IP,
        RoutedSites::RIGHT_POD_IP
    ))
    .is_ok()
}

#[test]
fn lossy_path_still_connects() {
    require_lab();
    let t = RoutedSites::new(Nat::None).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    make_path_lossy(&t);
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));

    // 1. Against strongSwan (the engine initiates and rekeys).
    let work = workdir("lossy_path_still_connects");
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, false, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, ENGINE_SHORT_LIFETIMES);
    if let Err(err) = e.wait_for("engine connected", LOSSY_UP_LIMIT, all_connected) {
        panic!("{err:#}\n--- charon ---\n{}", sw.log_text());
    }
    let up_swan = t0.elapsed();
    let fresh = established(&t.left);
    let (child, ike, took) = wait_rekeys(&t.left, &e, &|| sw.log_text());
    assert!(some_ping_passes(&t.left), "no ping through the tunnel");
    assert!(sw.all_up(), "{}", sw.list_sas().unwrap_or_default());
    assert_eq!(
        established(&t.left),
        fresh,
        "an IKE SA was set up from scratch again: the tunnel went down\n{}",
        e.log_text()
    );
    let swan_note = format!(
        "strongSwan: up in {:.1} s, {child} Child + {ike} IKE SA rekeys in {:.0} s, never down",
        up_swan.as_secs_f64(),
        took.as_secs_f64()
    );
    keep_logs(
        "lossy_path_still_connects-strongswan",
        &[("engine", e.log_text()), ("charon", sw.log_text())],
    );
    let _ = e.terminate(Duration::from_secs(10));
    drop(sw);
    std::thread::sleep(Duration::from_secs(1));
    let _ = t.left.sh("ip xfrm state flush; ip xfrm policy flush");
    let _ = t.right.sh("ip xfrm state flush; ip xfrm policy flush");

    // 2. Against another engine (both initiate; the left one rekeys).
    let work = workdir("lossy_path_still_connects-engines");
    let (wl, wr) = (work.join("left"), work.join("right"));
    let t0 = Instant::now();
    let mut el = start_engine(&t.left, &es, &ps, &wl, ENGINE_SHORT_LIFETIMES);
    let mut er = start_engine(&t.right, &ps, &es, &wr, &[]);
    for (who, e) in [("left", &mut el), ("right", &mut er)] {
        if let Err(err) = e.wait_for("engine connected", LOSSY_UP_LIMIT, all_connected) {
            panic!("{who}: {err:#}");
        }
    }
    let up_engines = t0.elapsed();
    let (child, ike, took) = wait_rekeys(&t.left, &el, &|| er.log_text());
    assert!(some_ping_passes(&t.left), "no ping through the tunnel");
    assert!(er.connections().is_ok_and(|c| !c.is_empty()));
    keep_logs(
        "lossy_path_still_connects-engines",
        &[("left", el.log_text()), ("right", er.log_text())],
    );
    record(
        "lossy_path_still_connects",
        "strongSwan 5.9.8, engine",
        "engine initiates and rekeys",
        "30 % loss each way, 5 % duplicated, 25 % reordered",
        up_swan,
        &format!(
            "pass: {swan_note}; engine pair: up in {:.1} s, {child} Child + {ike} IKE SA rekeys in {:.0} s, never down",
            up_engines.as_secs_f64(),
            took.as_secs_f64()
        ),
    );
}
