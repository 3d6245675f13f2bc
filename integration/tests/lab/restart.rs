//! The engine restarted while traffic flows, against each third-party
//! peer: SIGKILL (a crash: its SAs stay in the kernel), then a new engine
//! that finds them, keeps them while it builds a new IKE SA (with
//! INITIAL_CONTACT, so the peer drops the old one), and removes them once
//! the new Child SAs are in. Pings every 0.1 s run through it all; the lost
//! ones are counted.

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::libreswan::Mode;
use integration::sites::{all_connected, Engine, Site};
use integration::topo::Netns;
use integration::traffic::PingTally;
use std::path::Path;
use std::time::{Duration, Instant};

/// Kill the engine under 0.1 s pings, start it again, wait until it is
/// connected and the leftovers are gone; return the tally and how long the
/// new engine took to report the cable connected.
fn restart_under_traffic(
    left: &Netns,
    right: &Netns,
    engine: Engine,
    site: &Site,
    work: &Path,
    peer_log: &dyn Fn() -> String,
) -> (PingTally, Duration, Engine) {
    let ping = pod_pings(left);
    std::thread::sleep(Duration::from_secs(3));
    let mut engine = engine;
    engine.child.kill().expect("SIGKILL the engine");
    let _ = engine.child.wait();
    assert!(esp_states(left) >= 2, "a crashed engine's SAs stay");
    let work2 = work.join("second");
    std::fs::create_dir_all(&work2).unwrap();
    let t0 = Instant::now();
    let mut e2 = Engine::start(
        left,
        site,
        &work.join("endpoints"),
        &work2,
        &[("SUBMARINER_HEALTHCHECKINTERVAL", "1")],
    )
    .expect("engine again");
    if let Err(err) = e2.wait_for("connected again", UP_LIMIT, all_connected) {
        panic!("{err:#}\n--- peer ---\n{}", peer_log());
    }
    let took = t0.elapsed();
    // The earlier run's SAs go once the new ones carry every pair.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) && esp_states(left) > 4 {
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let tally = ping.stop().expect("ping summary");
    println!(
        "restart: connected again after {took:?}; pings {} sent, {} lost",
        tally.sent,
        tally.lost()
    );
    assert!(
        e2.log_text()
            .contains("found SAs and policies of an earlier run"),
        "{}",
        e2.log_text()
    );
    assert!(esp_states(left) <= 4, "leftovers:\n{}", xfrm_state(left));
    assert!(esp_states(right) <= 4, "peer:\n{}", xfrm_state(right));
    (tally, took, e2)
}

/// A restart is a few seconds of emulated IKE; at 0.1 s that may cost a few
/// dozen pings at most, never a long outage.
fn assert_short_outage(tally: &PingTally, log: &str) {
    assert!(tally.sent >= 50, "{tally:?}");
    assert!(
        tally.lost() <= 50,
        "more than 5 s of pings lost across the restart: {tally:?}\n{log}"
    );
}

#[test]
fn engine_restart_strongswan() {
    require_lab();
    let case = "engine_restart_strongswan";
    let p = strongswan_pair(case, |_| {}, &[]);
    let (t, sw) = (&p.t, &p.peer);
    let (tally, took, e2) =
        restart_under_traffic(&t.left, &t.right, p.engine, &p.es, &p.work, &|| {
            sw.log_text()
        });
    keep_logs(
        case,
        &[("charon", sw.log_text()), ("engine", e2.log_text())],
    );
    assert_short_outage(&tally, &e2.log_text());
    sw.wait_up(Duration::from_secs(20))
        .expect("strongSwan up again");
    ping_both_ways(&t.left, &t.right, &p.a);
    record_restart(case, "strongSwan 5.9.8", "responder", took, &tally);
}

#[test]
fn engine_restart_libreswan() {
    require_lab();
    let case = "engine_restart_libreswan";
    let (p, cable) = libreswan_pair(case, Mode::Bidirectional, |_| {}, &[]);
    let (t, pluto) = (&p.t, &p.peer);
    let (tally, took, e2) =
        restart_under_traffic(&t.left, &t.right, p.engine, &p.es, &p.work, &|| {
            pluto.log_text()
        });
    keep_logs(
        case,
        &[("pluto", pluto.log_text()), ("engine", e2.log_text())],
    );
    assert_short_outage(&tally, &e2.log_text());
    pluto
        .wait_up(&cable, Duration::from_secs(20))
        .expect("libreswan up again");
    ping_both_ways(&t.left, &t.right, &p.a);
    record_restart(case, "libreswan 4.10", "both initiate", took, &tally);
}

fn record_restart(case: &str, peer: &str, role: &str, took: Duration, tally: &PingTally) {
    record(
        case,
        peer,
        role,
        "none",
        took,
        &format!(
            "pass: engine SIGKILLed and restarted; pings every 0.1 s: {} sent, {} lost",
            tally.sent,
            tally.lost()
        ),
    );
}
