//! IPv6 and dual-stack cables (issue 12): IPv6-only and dual-stack
//! Endpoints between two engines, the engine against strongSwan and
//! libreswan over IPv6, forced ESP-in-UDP over IPv6, and one family of a
//! dual-stack cable failing alone.
//!
//! All run on [`TwoSites::dual_stack`] (the IPv4 topology plus
//! `fd00:50::1-2` on the link and `fd10:1::1`/`fd10:2::1` as pod
//! addresses); what makes a site IPv6-only is its Endpoint. Pod traffic of
//! every family in use is dropped unless it came through IPsec
//! ([`tunnel_only`], ip6tables for IPv6), so a passing ping proves the
//! tunnel carried it.
//!
//! What the tests rely on from the engine: `show connections -o json`
//! gives one entry per (remote Endpoint, IP family), the family being that
//! of the entry's `usingIP` (the remote's address of that family); an IPv6
//! cable's ESP states have the IPv6 underlay addresses as outer addresses
//! (one IKE SA per family, as Submariner's libreswan driver sets up one
//! connection per family with that family's private IPs); `latencyRTT.last`
//! is set by that family's health check (to the remote's `healthCheckIPs`
//! address of the family); a family whose health checks fail leaves
//! `connected` for `error` (or `connecting`) with a `statusMessage`, while
//! the other family's entry is untouched.

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::libreswan::{Mode, Pluto};
use integration::peers::strongswan::StrongSwan;
use integration::sites::{connection_of, family_status, Engine, IpFamily, Site, TEST_PSK};
use integration::topo::{Netns, TwoSites};
use std::path::Path;
use std::time::{Duration, Instant};

const V4: IpFamily = IpFamily::V4;
const V6: IpFamily = IpFamily::V6;

/// The two IPv6-only sites: the IPv6 addresses in the singular fields
/// and, one each, in `privateIPs`/`publicIPs`/`healthCheckIPs`; IPv6 pod
/// subnets only.
fn v6_only_sites() -> (Addrs, Site, Site) {
    let a = two_sites_addrs6();
    let es = engine_site(&a, false).with_ip_lists();
    let ps = peer_site(&a, false).with_ip_lists();
    (a, es, ps)
}

/// The two dual-stack sites: IPv4 in the singular fields, both families
/// in the lists, subnets `10.x.0.0/16` and `fd10:x::/64`.
fn dual_stack_sites() -> (Addrs, Addrs, Site, Site) {
    let (a4, a6) = (two_sites_addrs(), two_sites_addrs6());
    let es = engine_site(&a4, false).with_ipv6(
        a6.left_ip,
        a6.left_public,
        a6.left_pod_ip,
        &[a6.left_pods],
    );
    let ps = peer_site(&a4, false).with_ipv6(
        a6.right_ip,
        a6.right_public,
        a6.right_pod_ip,
        &[a6.right_pods],
    );
    (a4, a6, es, ps)
}

/// Start an engine on each side (left = `a`, right = `b`), each reading
/// its own endpoints directory with both Endpoints, health checks every
/// second, plus `env`.
fn start_engines(
    t: &TwoSites,
    a: &Site,
    b: &Site,
    work: &Path,
    env: &[(&str, &str)],
) -> (Engine, Engine) {
    let (wa, wb) = (work.join("a"), work.join("b"));
    let ea = start_engine(&t.left, a, b, &wa, env);
    let eb = start_engine(&t.right, b, a, &wb, env);
    (ea, eb)
}

/// The entry of `family` must be connected, use the remote's address of
/// that family, and (after [`wait_rtt`]) carry a measured RTT.
fn assert_family_entry(c: &[serde_json::Value], family: IpFamily, remote_ip: &str) {
    let e = assert_family(c, family, "connected");
    assert_eq!(e["usingIP"], remote_ip, "{} entry: {e}", family.label());
    assert_eq!(
        e["endpoint"]["cluster_id"],
        if remote_ip == TwoSites::RIGHT_IP || remote_ip == TwoSites::RIGHT_IP6 {
            "cluster-b"
        } else {
            "cluster-a"
        },
        "{e}"
    );
}

/// Two engines, both Endpoints IPv6-only: each reports one entry, IPv6
/// `usingIP`, connected with an RTT; pods ping both ways over IPv6
/// through IPsec only; both kernels hold ESP states between the IPv6
/// underlay addresses in both directions.
#[test]
fn ipv6_only_engine_pair() {
    require_lab();
    let case = "ipv6_only_engine_pair";
    let t = TwoSites::dual_stack().expect("topology");
    let (a, es, ps) = v6_only_sites();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let t0 = Instant::now();
    let (mut ea, mut eb) = start_engines(&t, &es, &ps, &work, &[]);
    wait_families(&mut ea, &[V6], || eb.log_text());
    wait_families(&mut eb, &[V6], || ea.log_text());
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    for (ns, who) in [(&t.left, "left"), (&t.right, "right")] {
        let st = assert_esp_pair(ns, who, TwoSites::LEFT_IP6, TwoSites::RIGHT_IP6);
        assert!(
            !st.contains("src 192.168.50."),
            "{who}: an IPv6-only cable made IPv4 states:\n{st}"
        );
    }
    let ca = wait_rtt(&mut ea, &[V6]);
    let cb = wait_rtt(&mut eb, &[V6]);
    assert_eq!(ca.len(), 1, "one entry (IPv6) on cluster-a: {ca:?}");
    assert_eq!(cb.len(), 1, "one entry (IPv6) on cluster-b: {cb:?}");
    assert_family_entry(&ca, V6, TwoSites::RIGHT_IP6);
    assert_family_entry(&cb, V6, TwoSites::LEFT_IP6);
    assert_table_connected(&ea);
    keep_logs(
        case,
        &[
            ("engine-a", ea.log_text()),
            ("engine-b", eb.log_text()),
            ("xfrm-a", xfrm_state(&t.left)),
        ],
    );
    record(
        case,
        "engine",
        "both initiate",
        "none, IPv6 only",
        took,
        &format!(
            "pass; RTT {}",
            ca[0]["latencyRTT"]["last"].as_str().unwrap_or("?")
        ),
    );
}

/// Two engines, both Endpoints dual-stack: two entries per side (one per
/// family, by `usingIP`), both connected and both with an answered health
/// check; pods of both families ping both ways through IPsec only, over
/// ESP between the underlay addresses of their own family.
#[test]
fn dual_stack_engine_pair() {
    require_lab();
    let case = "dual_stack_engine_pair";
    let t = TwoSites::dual_stack().expect("topology");
    let (a4, a6, es, ps) = dual_stack_sites();
    tunnel_only(&t.left, &t.right, &a4);
    tunnel_only(&t.left, &t.right, &a6);
    let work = workdir(case);
    let t0 = Instant::now();
    let (mut ea, mut eb) = start_engines(&t, &es, &ps, &work, &[]);
    wait_families(&mut ea, &[V4, V6], || eb.log_text());
    wait_families(&mut eb, &[V4, V6], || ea.log_text());
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a4);
    ping_both_ways(&t.left, &t.right, &a6);
    for (ns, who) in [(&t.left, "left"), (&t.right, "right")] {
        assert_esp_pair(ns, who, TwoSites::LEFT_IP, TwoSites::RIGHT_IP);
        assert_esp_pair(ns, who, TwoSites::LEFT_IP6, TwoSites::RIGHT_IP6);
    }
    let ca = wait_rtt(&mut ea, &[V4, V6]);
    let cb = wait_rtt(&mut eb, &[V4, V6]);
    assert_eq!(ca.len(), 2, "one entry per family on cluster-a: {ca:?}");
    assert_eq!(cb.len(), 2, "one entry per family on cluster-b: {cb:?}");
    assert_family_entry(&ca, V4, TwoSites::RIGHT_IP);
    assert_family_entry(&ca, V6, TwoSites::RIGHT_IP6);
    assert_family_entry(&cb, V4, TwoSites::LEFT_IP);
    assert_family_entry(&cb, V6, TwoSites::LEFT_IP6);
    assert_table_connected(&ea);
    keep_logs(
        case,
        &[
            ("engine-a", ea.log_text()),
            ("engine-b", eb.log_text()),
            ("xfrm-a", xfrm_state(&t.left)),
        ],
    );
    let rtt = |f| {
        connection_of(&ca, f)
            .and_then(|e| e["latencyRTT"]["last"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    record(
        case,
        "engine",
        "both initiate",
        "none, dual-stack",
        took,
        &format!("pass; RTT IPv4 {} IPv6 {}", rtt(V4), rtt(V6)),
    );
}

/// The engine (IPv6-only Endpoint) against strongSwan configured with the
/// IPv6 addresses, IDs and subnets, in both roles, each on a fresh
/// topology: strongSwan responding (the engine initiates), then strongSwan
/// initiating while the engine's own IKE_SA_INIT requests are dropped.
/// Each time: both sides up, the engine's entry IPv6 and connected with an
/// RTT, pods ping both ways over IPv6 through IPsec only, ESP states
/// between the IPv6 underlay addresses.
#[test]
fn ipv6_vs_strongswan() {
    require_lab();
    for strongswan_initiates in [false, true] {
        let role = if strongswan_initiates {
            "initiator"
        } else {
            "responder"
        };
        let case = format!("ipv6_vs_strongswan_{role}");
        let t = TwoSites::dual_stack().expect("topology");
        let (a, es, ps) = v6_only_sites();
        tunnel_only(&t.left, &t.right, &a);
        let work = workdir(&case);
        let conn = swan_conn(&a, &es, strongswan_initiates, false, TEST_PSK);
        let (mut e, sw, t0) = if strongswan_initiates {
            block_engine_initiation6(&t.left);
            let e = start_engine(&t.left, &es, &ps, &work, &[]);
            let t0 = Instant::now();
            let sw =
                StrongSwan::start(&t.right, &conn, &work.join("strongswan")).expect("strongSwan");
            (e, sw, t0)
        } else {
            let sw =
                StrongSwan::start(&t.right, &conn, &work.join("strongswan")).expect("strongSwan");
            let t0 = Instant::now();
            (start_engine(&t.left, &es, &ps, &work, &[]), sw, t0)
        };
        wait_families(&mut e, &[V6], || sw.log_text());
        sw.wait_up(UP_LIMIT).expect("strongSwan SAs");
        let took = t0.elapsed();
        assert_eq!(
            sw.initiated().unwrap(),
            strongswan_initiates,
            "strongSwan should be the {role}:\n{}",
            sw.list_sas().unwrap_or_default()
        );
        ping_both_ways(&t.left, &t.right, &a);
        assert_esp_pair(&t.left, "engine", TwoSites::LEFT_IP6, TwoSites::RIGHT_IP6);
        assert_esp_pair(
            &t.right,
            "strongSwan",
            TwoSites::LEFT_IP6,
            TwoSites::RIGHT_IP6,
        );
        let c = wait_rtt(&mut e, &[V6]);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_family_entry(&c, V6, TwoSites::RIGHT_IP6);
        assert_table_connected(&e);
        println!("{}", sw.list_sas().unwrap_or_default());
        keep_logs(
            &case,
            &[("charon", sw.log_text()), ("engine", e.log_text())],
        );
        record(
            "ipv6_vs_strongswan",
            "strongSwan 5.9.8",
            role,
            "none, IPv6 only",
            took,
            "pass",
        );
    }
}

/// The engine (IPv6-only Endpoint) against libreswan set up exactly as
/// Submariner 0.21's driver sets up the IPv6 family of a remote Endpoint
/// (bidirectional mode): connection `<cable>-v6-0-0`, `--ipv6` right after
/// the name, IPv6 private IPs as `--id`/`--host`, IPv6 subnets as
/// `--client`. Both sides up (`--trafficstatus` lists the `-v6-`
/// connection), the engine's entry IPv6 and connected with an RTT, pods
/// ping both ways over IPv6 through IPsec only, ESP between the IPv6
/// underlay addresses.
#[test]
fn ipv6_vs_libreswan() {
    require_lab();
    let case = "ipv6_vs_libreswan";
    let t = TwoSites::dual_stack().expect("topology");
    let (a, es, ps) = v6_only_sites();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let cable = libreswan_cable_family(&es, &ps, Mode::Bidirectional, V6);
    let name = cable.connection_name(0, 0);
    assert_eq!(name, format!("{}-v6-0-0", es.cable_name()));
    let args = cable.add_args(0, 0);
    let at = args.iter().position(|x| x == "--name").expect("--name");
    assert_eq!(args[at + 1..at + 3], [name.clone(), "--ipv6".into()]);
    println!("whack {}", args.join(" "));
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("pluto");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    pluto.connect(&cable).expect("whack (as the driver)");
    wait_families(&mut e, &[V6], || pluto.log_text());
    pluto.wait_up(&cable, UP_LIMIT).expect("libreswan up");
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    assert_esp_pair(&t.left, "engine", TwoSites::LEFT_IP6, TwoSites::RIGHT_IP6);
    assert_esp_pair(
        &t.right,
        "libreswan",
        TwoSites::LEFT_IP6,
        TwoSites::RIGHT_IP6,
    );
    let ts = pluto.traffic_status().unwrap_or_default();
    println!("{ts}");
    assert!(ts.contains(&format!("\"{name}\"")), "{ts}");
    let c = wait_rtt(&mut e, &[V6]);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_family_entry(&c, V6, TwoSites::RIGHT_IP6);
    assert_table_connected(&e);
    keep_logs(
        case,
        &[
            ("pluto", pluto.log_text()),
            ("engine", e.log_text()),
            ("xfrm-engine", xfrm_state(&t.left)),
        ],
    );
    record(
        case,
        "libreswan 4.10",
        "both initiate",
        "none, IPv6 only",
        took,
        &format!("pass; {name} with --ipv6"),
    );
}

/// Two engines over IPv6 (IPv6-only Endpoints) with
/// `CE_IPSEC_FORCEENCAPS=true` and no NAT: every ESP state on both sides is
/// ESP-in-UDP on 4500/4500 between the IPv6 underlay addresses, and pods
/// ping both ways over IPv6 through IPsec only.
#[test]
fn ipv6_forced_encapsulation() {
    require_lab();
    let case = "ipv6_forced_encapsulation";
    let t = TwoSites::dual_stack().expect("topology");
    let (a, es, ps) = v6_only_sites();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let env = [("CE_IPSEC_FORCEENCAPS", "true")];
    let t0 = Instant::now();
    let (mut ea, mut eb) = start_engines(&t, &es, &ps, &work, &env);
    wait_families(&mut ea, &[V6], || eb.log_text());
    wait_families(&mut eb, &[V6], || ea.log_text());
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    for (ns, who) in [(&t.left, "left"), (&t.right, "right")] {
        assert_esp_pair(ns, who, TwoSites::LEFT_IP6, TwoSites::RIGHT_IP6);
        let st = assert_espinudp(ns, who);
        assert!(
            st.contains("encap type espinudp sport 4500 dport 4500"),
            "{who}:\n{st}"
        );
    }
    keep_logs(
        case,
        &[("engine-a", ea.log_text()), ("engine-b", eb.log_text())],
    );
    record(
        case,
        "engine",
        "both initiate",
        "none, IPv6 only, CE_IPSEC_FORCEENCAPS=true",
        took,
        "pass; ESP-in-UDP 4500 over IPv6",
    );
}

/// Drop all IPv6 on `ns`'s underlay interface, both ways (inserted first,
/// ahead of the tunnel-only rules): IKE, ESP (raw or in UDP), neighbour
/// discovery and the IPv6 health checks stop; IPv4 is untouched.
fn block_ipv6_underlay(ns: &Netns) {
    ns.sh("ip6tables -I INPUT 1 -i wan -j DROP && ip6tables -I OUTPUT 1 -o wan -j DROP")
        .expect("ip6tables");
}

/// A dual-stack engine pair, both families connected with answered health
/// checks; then all IPv6 on the link is dropped (both sides, both ways).
/// On each side the IPv6 entry leaves `connected` (for `error` or
/// `connecting`, with a `statusMessage` naming the remote's IPv6
/// health-check IP or the family) within 30 s (the loss window is about
/// 6 s: interval 1 s, 5 losses), while the IPv4 entry is seen `connected`
/// at every poll until then and for 5 s more, and IPv4 pods keep pinging
/// both ways.
#[test]
fn dual_stack_one_family_down() {
    require_lab();
    let case = "dual_stack_one_family_down";
    let t = TwoSites::dual_stack().expect("topology");
    let (a4, a6, es, ps) = dual_stack_sites();
    tunnel_only(&t.left, &t.right, &a4);
    tunnel_only(&t.left, &t.right, &a6);
    let work = workdir(case);
    let (mut ea, mut eb) = start_engines(&t, &es, &ps, &work, &[]);
    wait_families(&mut ea, &[V4, V6], || eb.log_text());
    wait_families(&mut eb, &[V4, V6], || ea.log_text());
    wait_rtt(&mut ea, &[V4, V6]);
    wait_rtt(&mut eb, &[V4, V6]);
    ping_both_ways(&t.left, &t.right, &a4);
    ping_both_ways(&t.left, &t.right, &a6);

    block_ipv6_underlay(&t.left);
    block_ipv6_underlay(&t.right);
    let down = Instant::now();
    let limit = Duration::from_secs(30);
    let mut detected: [Option<(Duration, serde_json::Value)>; 2] = [None, None];
    while detected.iter().any(Option::is_none) {
        assert!(
            down.elapsed() < limit,
            "the IPv6 entry stayed connected for {limit:?} after IPv6 was dropped:\n\
             cluster-a: {:?}\ncluster-b: {:?}\n--- cluster-a log ---\n{}",
            ea.connections().ok(),
            eb.connections().ok(),
            ea.log_text()
        );
        for (i, (e, who)) in [(&ea, "cluster-a"), (&eb, "cluster-b")]
            .into_iter()
            .enumerate()
        {
            let c = e.connections().expect("show connections");
            assert_eq!(
                family_status(&c, V4),
                Some("connected"),
                "{who}: the IPv4 entry left connected while only IPv6 was dropped: {c:?}"
            );
            if detected[i].is_none() && family_status(&c, V6).is_some_and(|s| s != "connected") {
                let entry = connection_of(&c, V6).cloned().unwrap_or_default();
                detected[i] = Some((down.elapsed(), entry));
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut notes = Vec::new();
    // The loop above ends only with both detected.
    for ((after, entry), (who, remote_hc)) in detected.iter().flatten().zip([
        ("cluster-a", TwoSites::RIGHT_POD_IP6),
        ("cluster-b", TwoSites::LEFT_POD_IP6),
    ]) {
        let status = entry["status"].as_str().unwrap_or_default();
        let msg = entry["statusMessage"].as_str().unwrap_or_default();
        println!("{who}: IPv6 entry {status} after {after:?}: {msg}");
        assert!(
            status == "error" || status == "connecting",
            "{who}: IPv6 entry: {entry}"
        );
        assert!(
            msg.contains(remote_hc) || msg.contains("IPv6") || msg.contains("v6"),
            "{who}: the IPv6 entry's statusMessage should name the failed health check \
             ({remote_hc}) or the family: {entry}"
        );
        notes.push(format!("{who} {status} after {:.1}s", after.as_secs_f64()));
    }
    // IPv4 holds on: still connected for a while, and carrying pod traffic.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_secs(5) {
        for (e, who) in [(&ea, "cluster-a"), (&eb, "cluster-b")] {
            let c = e.connections().expect("show connections");
            assert_eq!(
                family_status(&c, V4),
                Some("connected"),
                "{who}: the IPv4 entry: {c:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    ping_both_ways(&t.left, &t.right, &a4);
    keep_logs(
        case,
        &[("engine-a", ea.log_text()), ("engine-b", eb.log_text())],
    );
    let took = detected
        .iter()
        .flatten()
        .map(|(d, _)| *d)
        .max()
        .unwrap_or_default();
    record(
        case,
        "engine",
        "both initiate",
        "none, dual-stack, IPv6 dropped",
        took,
        &format!(
            "pass: IPv6 entry down ({}), IPv4 connected",
            notes.join(", ")
        ),
    );
}

/// The drop-in mode with IPv6 (issue 12): Submariner 0.21+ calls
/// ConnectToEndpoint once per family, so the drop-in on the left gets the
/// driver's `-v4-` (`--ipv4`) and `-v6-` (`--ipv6`) connections for one
/// dual-stack remote, and libreswan 4.10 on the right the same from its
/// driver. Both families come up as separate cables: the driver's regex
/// lists both names in `--trafficstatus`, their byte counts grow with each
/// family's pings, and ESP runs on both underlays.
#[test]
fn dropin_dual_stack_vs_libreswan() {
    use integration::dropin::DropIn;
    require_lab();
    let case = "dropin_dual_stack_vs_libreswan";
    let t = TwoSites::dual_stack().expect("topology");
    let (a4, a6, es, ps) = dual_stack_sites();
    tunnel_only(&t.left, &t.right, &a4);
    tunnel_only(&t.left, &t.right, &a6);
    let work = workdir(case);
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("libreswan");
    let d = DropIn::start(&t.left, TEST_PSK, &work.join("dropin"), &[]).expect("drop-in");
    let t0 = Instant::now();
    let mut ours = Vec::new();
    for fam in [V4, V6] {
        let theirs = libreswan_cable_family(&es, &ps, Mode::Bidirectional, fam);
        let mine = libreswan_cable_family(&ps, &es, Mode::Bidirectional, fam);
        pluto.connect(&theirs).expect("whack (libreswan)");
        d.connect(&mine).expect("whack (drop-in)");
        ours.push((fam, mine, theirs));
    }
    for (_, mine, theirs) in &ours {
        d.wait_connected(mine, UP_LIMIT)
            .unwrap_or_else(|e| panic!("{e}\n--- libreswan ---\n{}", pluto.log_text()));
        pluto.wait_up(theirs, UP_LIMIT).expect("libreswan up");
    }
    let took = t0.elapsed();
    let mut notes = Vec::new();
    for ((fam, mine, _), a) in ours.iter().zip([&a4, &a6]) {
        let name = mine.connection_name(0, 0);
        assert!(name.ends_with(&format!("-{}-0-0", fam.token())), "{name}");
        let before = d.traffic(mine.release).expect("trafficstatus")[&name];
        ping_both_ways(&t.left, &t.right, a);
        let after = d.traffic(mine.release).expect("trafficstatus")[&name];
        assert!(
            after.0 > before.0 && after.1 > before.1,
            "{name}: bytes did not grow: {before:?} -> {after:?}"
        );
        notes.push(format!("{name} {before:?} -> {after:?}"));
    }
    assert_esp_pair(&t.left, "drop-in", TwoSites::LEFT_IP, TwoSites::RIGHT_IP);
    assert_esp_pair(&t.left, "drop-in", TwoSites::LEFT_IP6, TwoSites::RIGHT_IP6);
    keep_logs(
        case,
        &[("dropin", d.log_text()), ("pluto", pluto.log_text())],
    );
    record(
        case,
        "libreswan 4.10",
        "drop-in, both initiate, one connection per family",
        "none, dual-stack",
        took,
        &format!("pass; bytes (in, out) grow: {}", notes.join("; ")),
    );
}
