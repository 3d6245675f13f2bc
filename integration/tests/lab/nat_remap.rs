//! The peer's NAT drops its mapping and makes a new one (issue 10): the
//! engine follows the new source port (the kernel's MAPPING event on
//! authenticated ESP), without a rekey.

use crate::common::*;
use crate::engine::tempdir;
use integration::lab::require_lab;
use integration::sites::all_connected;
use integration::topo::{Nat, RoutedSites};
use integration::traffic::engine_counter;
use std::time::{Duration, Instant};

const METRICS_PORT: u16 = 32780;

/// The source port the router's NAT gives the left gateway's UDP 4500 flow.
fn left_mapping(t: &RoutedSites) -> Option<u16> {
    let table = t.udp_conntrack().ok()?;
    table
        .lines()
        .filter(|l| {
            l.contains(&format!("src={}", RoutedSites::LEFT_IP)) && l.contains("sport=4500")
        })
        .find_map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.strip_prefix("dport="))
                .nth(1)
                .and_then(|p| p.parse().ok())
        })
}

/// Two engines, the left one behind a NAT that maps source ports at random
/// and forwards nothing. The tunnel idles until the router forgets the
/// left gateway's mapping (UDP conntrack timeouts of 1 s for the wait);
/// then the left pod pings the right pod every 0.1 s: its first packet
/// leaves from a new port, the right engine's kernel reports the new
/// mapping, and the right engine's ESP follows it. Replies must resume
/// within 5 s of the first ping, with no rekey.
#[test]
fn nat_remap_follows_new_port() {
    require_lab();
    let t = RoutedSites::new(Nat::LeftMappingOnly).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    let work = tempdir("nat-remap");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    assert!(es.nat_enabled && !ps.nat_enabled);
    // Nothing crosses while idle: no health checks, keepalives far apart.
    let env = [
        ("SUBMARINER_HEALTHCHECKENABLED", "false"),
        ("CE_IPSEC_NATKEEPALIVE", "600"),
    ];
    let mut left = start_engine(&t.left, &es, &ps, &work, &env);
    let right_work = work.join("right");
    std::fs::create_dir_all(&right_work).unwrap();
    let mut right = start_engine(&t.right, &ps, &es, &right_work, &env);
    let limit = Duration::from_secs(90);
    left.wait_for("left connected", limit, all_connected)
        .unwrap();
    right
        .wait_for("right connected", limit, all_connected)
        .unwrap();
    ping_both_ways(&t.left, &t.right, &a);
    let before = left_mapping(&t).expect("the left gateway's NAT mapping");
    let rekeys =
        || engine_counter(&t.right, METRICS_PORT, "cable_engine_child_sa_rekeys").unwrap_or(0.0);
    let rekeys_before = rekeys();

    // Let the router forget the mapping.
    t.set_udp_timeouts(1, 1).expect("timeouts");
    let start = Instant::now();
    while left_mapping(&t).is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            t.nat_table()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    t.set_udp_timeouts(30, 120).expect("timeouts");

    // The left pod speaks first: 80 pings, 0.1 s apart.
    let out = t
        .left
        .sh(&format!(
            "ping -n -i0.1 -c80 -W1 -I {} {} || true",
            a.left_pod_ip, a.right_pod_ip
        ))
        .unwrap_or_default();
    let after = left_mapping(&t).expect("a new mapping");
    let first_reply = out
        .lines()
        .filter(|l| l.contains("bytes from"))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("icmp_seq="))
                .and_then(|n| n.parse::<u32>().ok())
        });
    let received = out.lines().filter(|l| l.contains("bytes from")).count();
    keep_logs(
        "nat_remap_follows_new_port",
        &[
            ("left", left.log_text()),
            ("right", right.log_text()),
            ("xfrm-right", xfrm_state(&t.right)),
        ],
    );
    println!(
        "NAT mapping {before} -> {after}; first reply to ping {first_reply:?} (0.1 s apart), {received} of 80 answered"
    );
    assert_ne!(before, after, "the NAT should have picked a new port");
    let first = first_reply.unwrap_or_else(|| {
        panic!(
            "no reply at all\n{out}\n--- right ---\n{}",
            right.log_text()
        )
    });
    assert!(
        first <= 50,
        "replies resumed only at ping {first} (> 5 s)\n{out}\n--- right ---\n{}",
        right.log_text()
    );
    assert!(
        right.log_text().contains("the peer's NAT mapping moved"),
        "{}",
        right.log_text()
    );
    assert_eq!(
        rekeys(),
        rekeys_before,
        "the right engine should not have rekeyed"
    );
    let st = xfrm_state(&t.right);
    assert!(st.contains(&format!("dport {after}")), "{st}");
    let resumed = Duration::from_millis(100 * u64::from(first.saturating_sub(1)));
    record(
        "nat_remap_follows_new_port",
        "engine",
        "right engine, peer behind a port-mapping NAT",
        "left behind NAT, mapping dropped",
        resumed,
        &format!(
            "pass: port {before} -> {after}; replies from ping {first} on (0.1 s apart), {received} of 80 answered; no rekey"
        ),
    );
    drop(right);
    drop(left);
}
