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
    // Timestamped pings (-D), unanswered ones reported (-O): a loss says
    // when it happened, to read against the engines' logs.
    let ping_log = work.join("ping.log");
    let mut ping = t
        .left
        .command("sh")
        .args([
            "-c",
            &format!(
                "exec ping -D -O -n -i0.1 -W1 -I {} {} > {}",
                TwoSites::LEFT_POD_IP,
                TwoSites::RIGHT_POD_IP,
                ping_log.display()
            ),
        ])
        .spawn()
        .expect("ping");
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
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ping.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = ping.wait();
    let out = std::fs::read_to_string(&ping_log).unwrap_or_default();
    let (sent, received) = integration::traffic::parse_summary(&out).unwrap_or((0, 0));
    let tally = integration::traffic::PingTally {
        sent,
        received,
        duration: Duration::ZERO,
    };
    let unanswered: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("no answer yet"))
        .collect();
    keep_logs(
        "endpoint_change_make_before_break",
        &[("cluster-a", ea.log_text()), ("cluster-b", eb.log_text())],
    );
    // The kernel's own drop counters, e.g. XfrmOutPolDead (a packet routed
    // with a policy that was replaced meanwhile) or XfrmInNoStates.
    let drops = |ns: &integration::topo::Netns| {
        ns.sh("cat /proc/net/xfrm_stat")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().last() != Some("0"))
            .map(str::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{CHANGES} Endpoint changes, settled in {:?}; pings: {} sent, {} lost; kernel drops left [{}] right [{}]",
        took,
        tally.sent,
        tally.lost(),
        drops(&t.left),
        drops(&t.right)
    );
    assert!(tally.sent >= 50, "{tally:?}");
    assert_eq!(
        tally.lost(),
        0,
        "pings lost across the rebuilds: {tally:?}; unanswered (epoch time):\n{}",
        unanswered.join("\n")
    );
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
