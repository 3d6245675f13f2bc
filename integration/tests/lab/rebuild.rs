//! A remote Endpoint that changes (its public IP and subnet list) rebuilds
//! the cable under a new IKE SA, make-before-break: the pods keep talking
//! through the pair both plans share while the old and new SAs overlap.

use crate::common::*;
use crate::engine::{connect_pair, sites, tempdir};
use integration::lab::require_lab;
use integration::sites::all_connected;
use integration::topo::TwoSites;
use std::time::{Duration, Instant};

/// How many times the Endpoint changes in one run (issue 10).
const CHANGES: usize = 10;

/// Two engines; cluster-b's Endpoint gains or loses a second subnet (and
/// changes its public IP) ten times in a row under pod-to-pod pings every
/// 0.1 s: not one may be lost, and after every change both sides are back
/// to one SA pair per pair.
#[test]
fn endpoint_change_make_before_break() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a_addrs = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a_addrs);
    let work = tempdir("engine-rebuild");
    let (a, mut b) = sites();
    let dir = work.join("endpoints");
    a.write_into(&dir).unwrap();
    b.write_into(&dir).unwrap();
    let limit = Duration::from_secs(90);
    let (ea, eb) = connect_pair(&t, (&a, &dir), (&b, &dir), &work, &[], limit);
    let ping = pod_pings(&t.left);
    let rebuilds =
        |e: &integration::sites::Engine| e.log_text().matches("rebuilding the cable").count();
    let mut took = Vec::new();
    for i in 0..CHANGES {
        let before = (rebuilds(&ea), rebuilds(&eb));
        b.subnets = if i % 2 == 0 {
            vec![TwoSites::RIGHT_PODS.into(), "10.12.0.0/16".into()]
        } else {
            vec![TwoSites::RIGHT_PODS.into()]
        };
        b.public_ip = format!("198.51.100.{}", 10 + i);
        let pairs = b.subnets.len();
        let start = Instant::now();
        b.write_into_atomically(&dir).unwrap();
        // Both engines rebuilt, connected, and the old SAs are gone: two
        // ESP states per pair on each side.
        let settled = || {
            rebuilds(&ea) > before.0
                && rebuilds(&eb) > before.1
                && ea.connections().is_ok_and(|c| all_connected(&c))
                && eb.connections().is_ok_and(|c| all_connected(&c))
                && esp_states(&t.left) == 2 * pairs
                && esp_states(&t.right) == 2 * pairs
        };
        while !settled() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "change {i}: not settled after 60 s\n--- left ---\n{}\n--- cluster-a ---\n{}\n--- cluster-b ---\n{}",
                xfrm_state(&t.left),
                ea.log_text(),
                eb.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        took.push(start.elapsed());
    }
    let tally = ping.stop().expect("ping summary");
    keep_logs(
        "endpoint_change_make_before_break",
        &[("cluster-a", ea.log_text()), ("cluster-b", eb.log_text())],
    );
    println!(
        "{CHANGES} Endpoint changes, settled in {:?}; pings: {} sent, {} lost",
        took,
        tally.sent,
        tally.lost()
    );
    assert!(tally.sent >= 50, "{tally:?}");
    assert_eq!(tally.lost(), 0, "pings lost across the rebuilds: {tally:?}");
    let slowest = took.iter().max().copied().unwrap_or_default();
    record(
        "endpoint_change_make_before_break",
        "engine",
        "both initiate",
        "none",
        slowest,
        &format!(
            "pass: {CHANGES} rebuilds; pings every 0.1 s: {} sent, {} lost",
            tally.sent,
            tally.lost()
        ),
    );
}
