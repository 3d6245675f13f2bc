//! Drop-in mode (issue 11): `cable-engine pluto` driven exactly as
//! Submariner's libreswan driver drives pluto (see
//! `integration::dropin`): the driver's whack calls with its 5 s kill and
//! 3 retries, `--trafficstatus` read with its regex.

use crate::common::*;
use integration::dropin::DropIn;
use integration::lab::require_lab;
use integration::peers::libreswan::{Cable, Mode, Pluto, Release};
use integration::sites::{Site, TEST_PSK};
use integration::topo::{Nat, Netns, RoutedSites, TwoSites};
use std::time::{Duration, Instant};

/// Second subnets of each site (policies and SAs only; no pods there).
const LEFT_EXTRA: &str = "10.11.0.0/16";
const RIGHT_EXTRA: &str = "10.22.0.0/16";

fn two_by_two(a: &Addrs) -> (Site, Site) {
    let (mut es, mut ps) = (engine_site(a, false), peer_site(a, false));
    es.subnets.push(LEFT_EXTRA.into());
    ps.subnets.push(RIGHT_EXTRA.into());
    (es, ps)
}

/// The drop-in's cable toward `remote`, as the driver on `local` builds it.
fn dropin_cable(local: &Site, remote: &Site, mode: Mode) -> Cable {
    libreswan_cable(remote, local, mode)
}

/// Pings through the tunnel grow the driver's byte counts of pair 0-0.
fn assert_bytes_grow(d: &DropIn, left: &Netns, right: &Netns, a: &Addrs, cable: &Cable) {
    let name = cable.connection_name(0, 0);
    let before = d.traffic(cable.release).expect("trafficstatus")[&name];
    ping_both_ways(left, right, a);
    let after = d.traffic(cable.release).expect("trafficstatus")[&name];
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "{name}: bytes did not grow: {before:?} -> {after:?}"
    );
}

/// Every policy and SA toward `peer` in `ns`.
fn entries_toward(ns: &Netns, peer: &str) -> usize {
    let st = ns
        .sh("ip xfrm state list nokeys; ip xfrm policy")
        .unwrap_or_default();
    st.lines()
        .filter(|l| l.contains(peer) && (l.starts_with("src ") || l.contains("tmpl src")))
        .count()
}

/// Submariner's bidirectional mode, 2x2 subnets: the drop-in on the left,
/// libreswan 4.10 on the right, both configured by the driver's calls.
#[test]
fn dropin_bidirectional_vs_libreswan() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("dropin_bidirectional_vs_libreswan");
    let (es, ps) = two_by_two(&a);
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("libreswan");
    let d = DropIn::start(&t.left, TEST_PSK, &work.join("dropin"), &[]).expect("drop-in");
    let ours = dropin_cable(&es, &ps, Mode::Bidirectional);
    let theirs = libreswan_cable(&es, &ps, Mode::Bidirectional);
    let t0 = Instant::now();
    pluto.connect(&theirs).expect("whack (libreswan)");
    d.connect(&ours).expect("whack (drop-in)");
    let took = d
        .wait_connected(&ours, UP_LIMIT)
        .map(|_| t0.elapsed())
        .unwrap_or_else(|e| panic!("{e}\n--- libreswan ---\n{}", pluto.log_text()));
    pluto.wait_up(&theirs, UP_LIMIT).expect("libreswan up");
    assert_bytes_grow(&d, &t.left, &t.right, &a, &ours);
    let sas = esp_states(&t.left);
    keep_logs(
        "dropin_bidirectional_vs_libreswan",
        &[("dropin", d.log_text()), ("pluto", pluto.log_text())],
    );
    assert!(sas >= 8, "4 pairs need 8 SAs, have {sas}");
    record(
        "dropin_bidirectional_vs_libreswan",
        "libreswan 4.10",
        "drop-in, both initiate, 2x2",
        "none",
        took,
        &format!(
            "pass: 4 pairs listed by the driver's regex, bytes grow; control socket after {:?}",
            d.socket_after
        ),
    );
}

/// The drop-in on both sides, each driven by its own driver.
#[test]
fn dropin_pair() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("dropin_pair");
    let (es, ps) = two_by_two(&a);
    let left = DropIn::start(&t.left, TEST_PSK, &work.join("left"), &[]).expect("left");
    let right = DropIn::start(&t.right, TEST_PSK, &work.join("right"), &[]).expect("right");
    let (lc, rc) = (
        dropin_cable(&es, &ps, Mode::Bidirectional),
        libreswan_cable(&es, &ps, Mode::Bidirectional),
    );
    let t0 = Instant::now();
    left.connect(&lc).expect("whack (left)");
    right.connect(&rc).expect("whack (right)");
    let up = |d: &DropIn, c: &Cable, other: &DropIn| {
        d.wait_connected(c, UP_LIMIT)
            .unwrap_or_else(|e| panic!("{e}\n--- other side ---\n{}", other.log_text()))
    };
    up(&left, &lc, &right);
    up(&right, &rc, &left);
    let took = t0.elapsed();
    assert_bytes_grow(&left, &t.left, &t.right, &a, &lc);
    keep_logs(
        "dropin_pair",
        &[("left", left.log_text()), ("right", right.log_text())],
    );
    record(
        "dropin_pair",
        "drop-in",
        "both initiate, 2x2",
        "none",
        took,
        "pass: 4 pairs listed on both sides, bytes grow",
    );
}

/// `--delete` of every pair (the driver's DisconnectFromEndpoint) leaves
/// no SA or policy toward that peer; SIGTERM then ends pluto cleanly.
#[test]
fn dropin_disconnect() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("dropin_disconnect");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("libreswan");
    let mut d = DropIn::start(&t.left, TEST_PSK, &work.join("dropin"), &[]).expect("drop-in");
    let ours = dropin_cable(&es, &ps, Mode::Bidirectional);
    pluto
        .connect(&libreswan_cable(&es, &ps, Mode::Bidirectional))
        .expect("whack (libreswan)");
    d.connect(&ours).expect("whack (drop-in)");
    d.wait_connected(&ours, UP_LIMIT).expect("connected");
    ping_both_ways(&t.left, &t.right, &a);
    assert!(entries_toward(&t.left, a.right_ip) > 0);
    let codes = d.disconnect(&ours);
    assert!(codes.iter().all(|(_, c)| *c == 0), "{codes:?}");
    let t0 = Instant::now();
    while entries_toward(&t.left, a.right_ip) > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "left after --delete of every pair:\n{}\n--- drop-in ---\n{}",
            t.left
                .sh("ip xfrm state list nokeys; ip xfrm policy")
                .unwrap_or_default(),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = t0.elapsed();
    assert!(d.traffic(ours.release).expect("trafficstatus").is_empty());
    // Deleting again: libreswan's "no such connection" code, nothing else.
    assert!(d.disconnect(&ours).iter().all(|(_, c)| *c == 21));
    let st = d.terminate(Duration::from_secs(15)).expect("SIGTERM");
    assert!(st.success(), "{st}");
    assert!(!d.ctl().exists(), "control socket left behind");
    record(
        "dropin_disconnect",
        "libreswan 4.10",
        "drop-in, both initiate",
        "none",
        took,
        "pass: --delete of every pair removed every SA and policy toward the peer",
    );
}

/// One preferred-server case: the drop-in on the left in `ours` mode,
/// libreswan on the right in the matching mode, 1x1 subnets.
fn server_client_case(case: &str, engine_pref: bool, ours: Mode, theirs: Mode) -> Duration {
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let (es, ps) = (engine_site(&a, engine_pref), peer_site(&a, !engine_pref));
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("libreswan");
    let d = DropIn::start(&t.left, TEST_PSK, &work.join("dropin"), &[]).expect("drop-in");
    let cable = dropin_cable(&es, &ps, ours);
    let t0 = Instant::now();
    d.connect(&cable).expect("whack (drop-in)");
    pluto
        .connect(&libreswan_cable(&es, &ps, theirs))
        .expect("whack (libreswan)");
    d.wait_connected(&cable, UP_LIMIT)
        .unwrap_or_else(|e| panic!("{case}: {e}\n--- libreswan ---\n{}", pluto.log_text()));
    let took = t0.elapsed();
    assert_bytes_grow(&d, &t.left, &t.right, &a, &cable);
    keep_logs(
        case,
        &[("dropin", d.log_text()), ("pluto", pluto.log_text())],
    );
    took
}

/// Submariner's preferred-server modes both ways round: the drop-in as
/// the server (`--host %any`, FQDN IDs, answers only) with libreswan as
/// the client, then the drop-in as the client (no local `--ikeport`).
#[test]
fn dropin_server_client_vs_libreswan() {
    require_lab();
    let server = server_client_case(
        "dropin_server_vs_libreswan",
        true,
        Mode::Server,
        Mode::Client,
    );
    let client = server_client_case(
        "dropin_client_vs_libreswan",
        false,
        Mode::Client,
        Mode::Server,
    );
    record(
        "dropin_server_client_vs_libreswan",
        "libreswan 4.10",
        "drop-in server, then client",
        "none",
        server.max(client),
        &format!("pass: as server {server:.1?}, as client {client:.1?}; bytes grow"),
    );
}

/// The later 0.21 tokens without NAT (`--encaps=auto --ipv4`): raw ESP,
/// no UDP encapsulation on either side.
#[test]
fn dropin_encaps_auto_0_21() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("dropin_encaps_auto_0_21");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("libreswan");
    let d = DropIn::start(&t.left, TEST_PSK, &work.join("dropin"), &[]).expect("drop-in");
    let cable = dropin_cable(&es, &ps, Mode::Bidirectional);
    assert!(cable.add_args(0, 0).iter().any(|x| x == "--encaps=auto"));
    assert!(cable.add_args(0, 0).iter().any(|x| x == "--ipv4"));
    let t0 = Instant::now();
    pluto
        .connect(&libreswan_cable(&es, &ps, Mode::Bidirectional))
        .expect("whack (libreswan)");
    d.connect(&cable).expect("whack (drop-in)");
    d.wait_connected(&cable, UP_LIMIT).expect("connected");
    let took = t0.elapsed();
    assert_bytes_grow(&d, &t.left, &t.right, &a, &cable);
    for ns in [&t.left, &t.right] {
        let st = xfrm_state(ns);
        assert!(st.contains("proto esp") && !st.contains("encap"), "{st}");
    }
    record(
        "dropin_encaps_auto_0_21",
        "libreswan 4.10",
        "drop-in, both initiate, --encaps=auto --ipv4",
        "none",
        took,
        "pass: raw ESP both sides; bytes grow",
    );
}

/// The 0.16-0.21.0 tokens (`--forceencaps`, no family option, names
/// without `-v4-`, read with that release's regex), the drop-in's site
/// behind NAT: ESP-in-UDP on port 4500 both sides.
#[test]
fn dropin_nat_forceencaps() {
    require_lab();
    let t = RoutedSites::new(Nat::Left).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("dropin_nat_forceencaps");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    assert!(es.nat_enabled);
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("libreswan");
    let d = DropIn::start(&t.left, TEST_PSK, &work.join("dropin"), &[]).expect("drop-in");
    let mut cable = dropin_cable(&es, &ps, Mode::Bidirectional);
    cable.release = Release::V0_19;
    // The driver forces encapsulation when either side is behind NAT.
    cable.encaps = true;
    let args = cable.add_args(0, 0);
    assert!(args.iter().any(|x| x == "--forceencaps"), "{args:?}");
    assert!(!args.iter().any(|x| x == "--ipv4"), "{args:?}");
    let t0 = Instant::now();
    pluto
        .connect(&libreswan_cable(&es, &ps, Mode::Bidirectional))
        .expect("whack (libreswan)");
    d.connect(&cable).expect("whack (drop-in)");
    d.wait_connected(&cable, UP_LIMIT).unwrap_or_else(|e| {
        panic!(
            "{e}\n--- libreswan ---\n{}\n--- nat ---\n{}",
            pluto.log_text(),
            t.nat_table()
        )
    });
    let took = t0.elapsed();
    assert_bytes_grow(&d, &t.left, &t.right, &a, &cable);
    assert_espinudp(&t.left, "drop-in");
    assert_espinudp(&t.right, "libreswan");
    record(
        "dropin_nat_forceencaps",
        "libreswan 4.10",
        "drop-in, both initiate, 0.19 tokens",
        "drop-in side NATed",
        took,
        "pass: ESP-in-UDP both sides; bytes grow (0.16 regex)",
    );
}

/// The reqids of every SA and policy template in `ns`.
fn reqids(ns: &Netns) -> Vec<u64> {
    let text = ns
        .sh("ip xfrm state list nokeys; ip xfrm policy")
        .unwrap_or_default();
    text.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "reqid")
        .filter_map(|w| w[1].parse().ok())
        .collect()
}

/// A gateway switched from libreswan to the drop-in: libreswan's pluto ran
/// on the left and was killed (SIGKILL: its SAs and policies stay, as when
/// the image is switched under it); the drop-in starts there, removes
/// them, and the driver's calls bring the cable up on the engine's SAs
/// alone.
#[test]
fn dropin_replaces_libreswan() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("dropin_replaces_libreswan");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let peer = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("libreswan");
    let theirs = libreswan_cable(&es, &ps, Mode::Bidirectional);
    peer.connect(&theirs).expect("whack (peer)");
    let ours = dropin_cable(&es, &ps, Mode::Bidirectional);
    let mut before = Pluto::start(&t.left, TEST_PSK, &work.join("libreswan-left"))
        .expect("libreswan on the left");
    before.connect(&ours).expect("whack (left, libreswan)");
    before.wait_up(&ours, UP_LIMIT).expect("libreswan pair up");
    ping_both_ways(&t.left, &t.right, &a);
    before.kill();
    let left_over: Vec<u64> = reqids(&t.left)
        .into_iter()
        .filter(|r| (16384..1 << 24).contains(r))
        .collect();
    assert!(!left_over.is_empty(), "libreswan left nothing to clean");
    let t0 = Instant::now();
    let d = DropIn::start(&t.left, TEST_PSK, &work.join("dropin"), &[]).expect("drop-in");
    d.connect(&ours).expect("whack (drop-in)");
    d.wait_connected(&ours, UP_LIMIT)
        .unwrap_or_else(|e| panic!("{e}\n--- peer ---\n{}", peer.log_text()));
    let took = t0.elapsed();
    assert_bytes_grow(&d, &t.left, &t.right, &a, &ours);
    let foreign: Vec<u64> = reqids(&t.left)
        .into_iter()
        .filter(|r| *r < 0xCE00_0000)
        .collect();
    keep_logs(
        "dropin_replaces_libreswan",
        &[("dropin", d.log_text()), ("peer", peer.log_text())],
    );
    assert!(
        foreign.is_empty(),
        "entries not the engine's left on the gateway: reqids {foreign:?}\n{}",
        t.left
            .sh("ip xfrm state list nokeys; ip xfrm policy")
            .unwrap_or_default()
    );
    assert!(d.log_text().contains("a libreswan pluto left"));
    record(
        "dropin_replaces_libreswan",
        "libreswan 4.10",
        "drop-in after libreswan, both initiate",
        "none",
        took,
        &format!(
            "pass: {} libreswan entries removed at start; pings through the engine's SAs only",
            left_over.len()
        ),
    );
}

/// Set-up time of the same call sequence (the driver's, 2x2 pairs,
/// bidirectional, against libreswan 4.10 on the right) with libreswan and
/// then the drop-in on the left, in the same lab run: from the first call
/// to every pair listed in the left's `--trafficstatus` (the driver's
/// `Connected`), polled every 100 ms. libreswan's side is only measured
/// (two libreswans both initiating 2x2 pairs can take minutes: see the
/// benchmark); the drop-in's must come up.
#[test]
fn dropin_setup_vs_libreswan() {
    require_lab();
    let mut times = Vec::new();
    for dropin in [false, true] {
        let t = TwoSites::new().expect("topology");
        let a = two_sites_addrs();
        tunnel_only(&t.left, &t.right, &a);
        let case = if dropin {
            "setup-dropin"
        } else {
            "setup-libreswan"
        };
        let work = workdir(case);
        let (es, ps) = two_by_two(&a);
        let peer = Pluto::start(&t.right, TEST_PSK, &work.join("peer")).expect("peer");
        let theirs = libreswan_cable(&es, &ps, Mode::Bidirectional);
        let ours = dropin_cable(&es, &ps, Mode::Bidirectional);
        // Both daemons up before the clock starts (the driver starts
        // pluto once, long before a remote Endpoint arrives).
        let (lib, drop) = if dropin {
            let d = DropIn::start(&t.left, TEST_PSK, &work.join("left"), &[]).expect("drop-in");
            (None, Some(d))
        } else {
            let p = Pluto::start(&t.left, TEST_PSK, &work.join("left")).expect("libreswan");
            (Some(p), None)
        };
        let t0 = Instant::now();
        peer.connect(&theirs).expect("whack (peer)");
        // How many of the pairs the left lists (the driver's view).
        let listed = || match (&lib, &drop) {
            (Some(p), _) => {
                let ts = p.traffic_status().unwrap_or_default();
                ours.connection_names()
                    .iter()
                    .filter(|n| ts.contains(&format!("\"{n}\"")))
                    .count()
            }
            (_, Some(d)) => d.traffic(ours.release).map_or(0, |m| {
                ours.connection_names()
                    .iter()
                    .filter(|n| m.contains_key(*n))
                    .count()
            }),
            _ => 0,
        };
        match (&lib, &drop) {
            (Some(p), _) => p.connect(&ours).expect("whack (libreswan)"),
            (_, Some(d)) => d.connect(&ours).expect("whack (drop-in)"),
            _ => {}
        }
        let want = ours.connection_names().len();
        // libreswan gets a minute (the measurement says how far it got).
        let limit = if dropin {
            UP_LIMIT
        } else {
            Duration::from_secs(60)
        };
        let mut n = listed();
        while n < want && t0.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(100));
            n = listed();
        }
        if dropin {
            // The engine's side must come up; libreswan's is only measured.
            assert_eq!(
                n, want,
                "{case}: {n} of {want} pairs listed in {UP_LIMIT:?}"
            );
            ping_both_ways(&t.left, &t.right, &a);
        }
        times.push((n, t0.elapsed()));
    }
    let show = |(n, d): (usize, Duration)| {
        if n == 4 {
            format!("{d:.2?}")
        } else {
            format!("{n} of 4 pairs after {d:.0?}")
        }
    };
    let (lib, drop) = (show(times[0]), show(times[1]));
    println!("set-up, same driver calls (2x2): libreswan {lib}, drop-in {drop}");
    record(
        "dropin_setup_vs_libreswan",
        "libreswan 4.10",
        "left: libreswan, then drop-in; 2x2",
        "none",
        times[1].1,
        &format!("libreswan: {lib}; drop-in: {drop}; same run, emulated VM"),
    );
}
