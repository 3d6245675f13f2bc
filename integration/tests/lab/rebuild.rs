//! A remote Endpoint that changes (its public IP and subnet list) keeps
//! the pods talking through the pair both plans share. A subnet appended
//! (this side has one subnet, so the new pairs come last) is added on the
//! cable's IKE SA; a subnet removed rebuilds the cable under a new IKE SA,
//! make-before-break, while the old and new SAs overlap.

use crate::common::*;
use crate::engine::{connect_pair, sites, tempdir};
use integration::lab::require_lab;
use integration::peers::libreswan::{Mode, Pluto};
use integration::sites::{all_connected, TEST_PSK};
use integration::topo::{Netns, TwoSites};
use integration::traffic::PingTally;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// How many times the Endpoint changes in one run (issue 10).
const CHANGES: usize = 10;

/// Two engines; cluster-b's Endpoint gains or loses a second subnet (and
/// changes its public IP) ten times in a row under pod-to-pod pings every
/// 0.1 s (five appends, five rebuilds): not one may be lost, and after
/// every change both sides are back to one SA pair per pair.
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
    let (mut ping, ping_log) = timestamped_pings(&t, &work);
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
        // A removal rebuilds both sides; an append does not.
        let rebuilt = i % 2 == 1;
        let settled = || {
            (!rebuilt || (rebuilds(&ea) > before.0 && rebuilds(&eb) > before.1))
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
    let (tally, unanswered) = stop_pings(&mut ping, &ping_log);
    keep_logs(
        "endpoint_change_make_before_break",
        &[("cluster-a", ea.log_text()), ("cluster-b", eb.log_text())],
    );
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
        unanswered
    );
    let slowest = took.iter().max().copied().unwrap_or_default();
    record(
        "endpoint_change_make_before_break",
        "engine",
        "both initiate",
        "none",
        slowest,
        &format!(
            "pass: {CHANGES} changes (appends and rebuilds); pings every 0.1 s: {} sent, {} lost",
            tally.sent,
            tally.lost()
        ),
    );
}

/// Pod-to-pod pings every 0.1 s, timestamped (-D), unanswered ones
/// reported (-O): a loss says when it happened, to read against the logs.
fn timestamped_pings(t: &TwoSites, work: &Path) -> (Child, PathBuf) {
    let ping_log = work.join("ping.log");
    let ping = t
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
    (ping, ping_log)
}

/// Stop [`timestamped_pings`]: the tally, and the unanswered lines.
fn stop_pings(ping: &mut Child, ping_log: &Path) -> (PingTally, String) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ping.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = ping.wait();
    let out = std::fs::read_to_string(ping_log).unwrap_or_default();
    let (sent, received) = integration::traffic::parse_summary(&out).unwrap_or((0, 0));
    let tally = PingTally {
        sent,
        received,
        duration: Duration::ZERO,
    };
    let unanswered: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("no answer yet"))
        .collect();
    (tally, unanswered.join("\n"))
}

/// The kernel's own XFRM drop counters above 0, e.g. XfrmOutPolDead (a
/// packet routed with a policy that was replaced meanwhile) or
/// XfrmInNoStates.
fn drops(ns: &Netns) -> String {
    ns.sh("cat /proc/net/xfrm_stat")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().last() != Some("0"))
        .map(str::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One counter of the kernel's XFRM statistics (`/proc/net/xfrm_stat`,
/// per namespace).
fn xfrm_counter(ns: &Netns, name: &str) -> u64 {
    ns.sh("cat /proc/net/xfrm_stat")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next().and_then(|v| v.parse().ok()))?
        })
        .unwrap_or(0)
}

/// How many times the Endpoint changes against libreswan (issue 10).
const LIBRESWAN_CHANGES: usize = 3;

/// The engine (cluster-a) against libreswan 4.10 (cluster-b) in
/// Submariner's bidirectional mode. cluster-b's Endpoint gains or loses a
/// second subnet and changes its public IP three times under pod-to-pod
/// pings every 0.1 s. libreswan's connections follow its local subnets as
/// its driver's would (the new pair added, routed and initiated; the gone
/// pair deleted); its connection for the shared pair is left alone, so the
/// engine's rebuild meets an established IKE SA from the same peer. An
/// append is added on the IKE SA; after a removal (a rebuild) no SA from
/// before the change is left on either side.
///
/// Loss: the engine must never send on an SA libreswan does not have
/// (libreswan's XfrmInNoStates stays 0). The other way round is libreswan's
/// doing: as the IKE_AUTH responder of the new IKE SA, pluto 4.x sends on
/// the new Child SA as soon as it has answered, while the engine can only
/// install that inbound SA once the answer (which chooses the algorithm)
/// has arrived and been processed; a reply pluto sends in those few
/// milliseconds is dropped by our kernel. Our kernel counts it as
/// XfrmInNoStates, or, since the engine reserves its inbound SPIs with the
/// kernel (issue 13, 4c78838), as XfrmAcquireError: the packet finds the
/// SPI's larval state, not yet replaced by the SA (runs 28, 30, 32 and 33
/// failed here, counting only XfrmInNoStates). So at most one ping per
/// change may be lost, and only as many as our kernel counted such
/// packets. (libreswan re-initiates its connections when the
/// old IKE SA is deleted, "must remain up per local policy", and keeps the
/// duplicate Child SAs that crossed initiations make, so the count of SAs
/// per pair is not asserted here.)
#[test]
fn endpoint_change_make_before_break_libreswan() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("endpoint_change_make_before_break_libreswan");
    let (es, mut ps) = (engine_site(&a, false), peer_site(&a, false));
    let mut cable = libreswan_cable(&es, &ps, Mode::Bidirectional);
    let pluto = Pluto::start(&t.right, TEST_PSK, &work.join("libreswan")).expect("pluto");
    let mut engine = start_engine(&t.left, &es, &ps, &work, &[]);
    pluto.connect(&cable).expect("whack (as the driver)");
    wait_connected(&mut engine, || pluto.log_text());
    pluto.wait_up(&cable, UP_LIMIT).expect("libreswan up");
    let dir = work.join("endpoints");
    let no_states = |ns: &Netns| xfrm_counter(ns, "XfrmInNoStates");
    // On our side, inbound ESP for an SPI without a valid SA: none at all,
    // or the larval state of a reserved SPI (an outbound packet finding
    // no SA would count there too, but our policies always have one here:
    // XfrmOutNoStates is checked unchanged below).
    let early_drops = |ns: &Netns| no_states(ns) + xfrm_counter(ns, "XfrmAcquireError");
    let out_no_states = xfrm_counter(&t.left, "XfrmOutNoStates");
    let before = (early_drops(&t.left), no_states(&t.right));
    // The drop counters so far (set-up's held policies count too), to
    // tell what the changes added when a ping is lost.
    let drops_before = drops(&t.left);
    let (mut ping, ping_log) = timestamped_pings(&t, &work);
    let rebuilds = || engine.log_text().matches("rebuilding the cable").count();
    let mut took = Vec::new();
    let mut states = Vec::new();
    for i in 0..LIBRESWAN_CHANGES {
        let before = rebuilds();
        ps.subnets = if i % 2 == 0 {
            vec![a.right_pods.into(), "10.12.0.0/16".into()]
        } else {
            vec![a.right_pods.into()]
        };
        ps.public_ip = format!("198.51.100.{}", 10 + i);
        let old_spis = (esp_spis(&t.left), esp_spis(&t.right));
        let start = Instant::now();
        ps.write_into_atomically(&dir).unwrap();
        let next = libreswan_cable(&es, &ps, Mode::Bidirectional);
        for (li, sub) in next.local_subnets.iter().enumerate() {
            if !cable.local_subnets.contains(sub) {
                pluto
                    .connect_pair(&next, li, 0)
                    .expect("whack: the new pair");
            }
        }
        for (li, sub) in cable.local_subnets.iter().enumerate() {
            if !next.local_subnets.contains(sub) {
                let _ = pluto.delete(&cable.connection_name(li, 0));
            }
        }
        cable = next;
        // A removal rebuilds the cable (no SA from before may be left); an
        // append adds the pair on the IKE SA.
        let rebuilt = i % 2 == 1;
        let settled = || {
            (!rebuilt || rebuilds() > before)
                && engine.connections().is_ok_and(|c| all_connected(&c))
                && pluto.all_up(&cable)
                && (!rebuilt || esp_spis(&t.left).is_disjoint(&old_spis.0))
                && (!rebuilt || esp_spis(&t.right).is_disjoint(&old_spis.1))
        };
        while !settled() {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "change {i}: not settled after 90 s\n--- left ---\n{}\n--- right ---\n{}\n--- engine ---\n{}\n--- pluto ---\n{}",
                xfrm_state(&t.left),
                xfrm_state(&t.right),
                engine.log_text(),
                pluto.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        took.push(start.elapsed());
        states.push((esp_states(&t.left), esp_states(&t.right)));
    }
    let (tally, unanswered) = stop_pings(&mut ping, &ping_log);
    keep_logs(
        "endpoint_change_make_before_break_libreswan",
        &[("engine", engine.log_text()), ("pluto", pluto.log_text())],
    );
    println!(
        "{LIBRESWAN_CHANGES} Endpoint changes against libreswan, settled in {:?}; ESP states (engine, libreswan) after each: {:?}; pings: {} sent, {} lost; kernel drops left [{}] right [{}]",
        took,
        states,
        tally.sent,
        tally.lost(),
        drops(&t.left),
        drops(&t.right)
    );
    assert!(tally.sent >= 30, "{tally:?}");
    let early = early_drops(&t.left) - before.0;
    assert_eq!(
        xfrm_counter(&t.left, "XfrmOutNoStates"),
        out_no_states,
        "our outbound packets found no SA during the changes; pings {tally:?}; unanswered (epoch time):\n{unanswered}"
    );
    assert_eq!(
        no_states(&t.right) - before.1,
        0,
        "the engine sent on an SA libreswan did not have; pings {tally:?}; unanswered (epoch time):\n{unanswered}"
    );
    assert!(
        tally.lost() <= LIBRESWAN_CHANGES as u64 && tally.lost() <= early,
        "pings lost across the rebuilds: {tally:?}, more than one per change or than libreswan's early sends ({early}); engine kernel drops before the changes [{drops_before}], after [{}]; unanswered (epoch time):\n{unanswered}",
        drops(&t.left)
    );
    let slowest = took.iter().max().copied().unwrap_or_default();
    record(
        "endpoint_change_make_before_break_libreswan",
        "libreswan 4.10",
        "both initiate",
        "none",
        slowest,
        &format!(
            "pass: {LIBRESWAN_CHANGES} changes (appends and a rebuild); pings every 0.1 s: {} sent, {} lost (libreswan sent {early} packets before we could have the SA)",
            tally.sent,
            tally.lost()
        ),
    );
}
