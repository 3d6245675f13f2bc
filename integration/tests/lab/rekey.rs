//! Rekeying under traffic against each peer, with short lifetimes on one
//! side at a time: the engine's (`CE_IPSEC_SALIFETIME`, `CE_IPSEC_IKELIFETIME`,
//! `CE_IPSEC_REKEYMARGIN`) so the engine starts every rekey, or the peer's
//! (swanctl `rekey_time`, whack `--ipseclifetime`/`--ikelifetime`) so the
//! peer does while the engine keeps libreswan's 8 h defaults.
//!
//! A ping every 0.1 s runs pod to pod through the tunnel until the engine
//! has counted at least three Child SA rekeys and one IKE SA rekey
//! (`cable_engine_child_sa_rekeys`, `cable_engine_ike_sa_rekeys`, which
//! count rekeys in both directions); then the lost pings are counted, pings
//! must still pass both ways, both sides must still report the tunnel, and
//! the superseded SAs must have left the kernels.

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::libreswan::Mode;
use integration::sites::Engine;
use integration::topo::{Netns, TwoSites};
use integration::traffic::{engine_counter, PingTally};
use std::time::{Duration, Instant};

const METRICS_PORT: u16 = 32780;
const CHILD_REKEYS: f64 = 3.0;
const IKE_REKEYS: f64 = 1.0;
/// Long enough for 3 Child SA rekeys at 15-20 s each plus set-up slack
/// under emulation.
const REKEY_LIMIT: Duration = Duration::from_secs(240);

/// Which side's lifetimes are short.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Engine,
    Peer,
}

/// What a rekey run measured.
struct RekeyRun {
    tally: PingTally,
    child_rekeys: f64,
    ike_rekeys: f64,
    took: Duration,
}

/// With the tunnel up: ping through it until the engine has counted the
/// rekeys, then stop and tally. `peer_up` says whether the peer still
/// reports the tunnel; `peer_log` is shown on failure.
fn ping_through_rekeys(left: &Netns, engine: &Engine, peer_log: &dyn Fn() -> String) -> RekeyRun {
    let counter = |name: &str| engine_counter(left, METRICS_PORT, name).unwrap_or(0.0);
    let (child0, ike0) = (
        counter("cable_engine_child_sa_rekeys"),
        counter("cable_engine_ike_sa_rekeys"),
    );
    let ping = pod_pings(left);
    let t0 = Instant::now();
    let (mut child, mut ike) = (0.0, 0.0);
    while t0.elapsed() < REKEY_LIMIT {
        child = counter("cable_engine_child_sa_rekeys") - child0;
        ike = counter("cable_engine_ike_sa_rekeys") - ike0;
        if child >= CHILD_REKEYS && ike >= IKE_REKEYS {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let took = t0.elapsed();
    assert!(
        child >= CHILD_REKEYS && ike >= IKE_REKEYS,
        "after {took:?}: {child} Child SA rekeys, {ike} IKE SA rekeys\n--- engine ---\n{}\n--- peer ---\n{}",
        engine.log_text(),
        peer_log()
    );
    // Keep pinging while the last superseded SAs are deleted.
    std::thread::sleep(Duration::from_secs(3));
    let tally = ping.stop().expect("ping summary");
    println!(
        "{child} Child SA rekeys, {ike} IKE SA rekeys in {took:?}; pings: {} sent, {} lost",
        tally.sent,
        tally.lost()
    );
    RekeyRun {
        tally,
        child_rekeys: child,
        ike_rekeys: ike,
        took,
    }
}

/// Rekeying must not lose traffic beyond a stray packet or two under
/// emulation (make-before-break: the new SAs are installed before the old
/// ones go), and must not leave the superseded SAs behind.
fn assert_rekeys_clean(run: &RekeyRun, left: &Netns, right: &Netns, engine: &Engine) {
    assert!(run.tally.sent >= 100, "too few pings: {:?}", run.tally);
    assert!(
        run.tally.lost() * 100 <= run.tally.sent,
        "more than 1% of the pings lost during rekeying: {:?}\n{}",
        run.tally,
        engine.log_text()
    );
    // No superseded SA is left behind. One Child SA is two ESP states per
    // side (four while a rekey is in flight or a duplicate exists), but the
    // short lifetimes keep rekeying and the engine keeps a replaced inbound
    // SA 3 s (the peer may still send on it), so with two Child SAs
    // rekeying in turn there may be no moment with four or fewer: then
    // every SA must be younger than a lifetime plus that margin (25 s +
    // 3 s, and slack for emulation), i.e. none outlived its replacement.
    let start = Instant::now();
    let settled = |ns: &Netns| esp_states(ns) <= 4 || oldest_esp_state(ns) <= 40;
    while start.elapsed() < Duration::from_secs(30) && !(settled(left) && settled(right)) {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        settled(left),
        "engine side (oldest {} s):\n{}",
        oldest_esp_state(left),
        xfrm_state(left)
    );
    assert!(
        settled(right),
        "peer side (oldest {} s):\n{}",
        oldest_esp_state(right),
        xfrm_state(right)
    );
}

/// Seconds since the oldest ESP state of a namespace was added (0: none).
fn oldest_esp_state(ns: &Netns) -> u64 {
    ns.sh(
        "now=$(date +%s); ip -s xfrm state | awk '/^[ \\t]*add /{print $2\" \"$3}' | \
         while read d; do echo $(( now - $(date -d \"$d\" +%s) )); done",
    )
    .unwrap_or_default()
    .lines()
    .filter_map(|l| l.trim().parse::<u64>().ok())
    .max()
    .unwrap_or(0)
}

/// Pings still pass both ways after the engine's rekeys against libreswan.
/// The short lifetimes keep
/// rekeying, so these pings can meet a rekey too: when the engine starts
/// one, libreswan 4.x as responder sends on its new SA as soon as it has
/// answered, and a packet that arrives before the engine has read the
/// answer and installed the inbound SA (whose keys need the responder's
/// nonce, so it cannot go in earlier) is dropped. One such loss is allowed
/// (the CI run of 8e6cce6 lost one of three here); three replies must
/// come within 10 s, from at most four echo requests.
fn ping_both_ways_while_rekeying(left: &Netns, right: &Netns, a: &Addrs) {
    for (ns, from, to) in [
        (left, a.left_pod_ip, a.right_pod_ip),
        (right, a.right_pod_ip, a.left_pod_ip),
    ] {
        let out = ns
            .sh(&format!("ping -c3 -i0.3 -w10 -I {from} {to}"))
            .unwrap_or_else(|e| panic!("ping {from} -> {to} through the tunnel: {e}"));
        let sent: u32 = out
            .split(" packets transmitted")
            .next()
            .and_then(|l| l.rsplit(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(u32::MAX);
        assert!(
            out.contains("3 received") && sent <= 4,
            "ping {from} -> {to}: {out}"
        );
    }
}

fn record_run(case: &str, peer: &str, who: &str, setup: Duration, run: &RekeyRun) {
    record(
        case,
        peer,
        &format!("{who} rekeys"),
        "none",
        setup,
        &format!(
            "pass: {} Child + {} IKE SA rekeys in {:.0}s; pings every 0.1 s: {} sent, {} lost",
            run.child_rekeys,
            run.ike_rekeys,
            run.took.as_secs_f64(),
            run.tally.sent,
            run.tally.lost()
        ),
    );
}

impl Driver {
    /// The engine's environment.
    fn engine_env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Driver::Engine => ENGINE_SHORT_LIFETIMES,
            Driver::Peer => &[],
        }
    }
}

pub fn strongswan_rekey_case(case: &str, driver: Driver) {
    require_lab();
    let p = strongswan_pair(
        case,
        |conn| {
            if driver == Driver::Peer {
                conn.ike_extra = vec!["rekey_time = 45s".into(), "rand_time = 3s".into()];
                conn.child_extra = vec![
                    "rekey_time = 20s".into(),
                    "life_time = 30s".into(),
                    "rand_time = 3s".into(),
                ];
            }
        },
        driver.engine_env(),
    );
    let (t, sw, e) = (&p.t, &p.peer, &p.engine);
    let run = ping_through_rekeys(&t.left, e, &|| sw.log_text());
    keep_logs(
        case,
        &[
            ("charon", sw.log_text()),
            ("engine", e.log_text()),
            ("xfrm-engine", xfrm_state(&t.left)),
        ],
    );
    assert_rekeys_clean(&run, &t.left, &t.right, e);
    sw.wait_up(Duration::from_secs(10))
        .expect("strongSwan still up");
    ping_both_ways(&t.left, &t.right, &p.a);
    assert_table_connected(e);
    if driver == Driver::Peer {
        let log = sw.log_text();
        assert!(
            log.contains("rekeying"),
            "strongSwan should have started the rekeys:\n{log}"
        );
    }
    let who = match driver {
        Driver::Engine => "engine",
        Driver::Peer => "strongSwan",
    };
    record_run(case, "strongSwan 5.9.8", who, p.setup, &run);
}

pub fn libreswan_rekey_case(case: &str, driver: Driver) -> String {
    require_lab();
    let (p, cable) = libreswan_pair(
        case,
        Mode::Bidirectional,
        |cable| {
            if driver == Driver::Peer {
                cable.extra_args = libreswan_short_lifetimes();
            }
        },
        driver.engine_env(),
    );
    let (t, pluto, e) = (&p.t, &p.peer, &p.engine);
    let run = ping_through_rekeys(&t.left, e, &|| pluto.log_text());
    keep_logs(
        case,
        &[
            ("pluto", pluto.log_text()),
            ("engine", e.log_text()),
            ("xfrm-engine", xfrm_state(&t.left)),
        ],
    );
    assert_rekeys_clean(&run, &t.left, &t.right, e);
    pluto
        .wait_up(&cable, Duration::from_secs(10))
        .expect("libreswan still up");
    match driver {
        Driver::Engine => ping_both_ways_while_rekeying(&t.left, &t.right, &p.a),
        // The engine answers the rekeys and holds its new outbound SA back
        // until the old one is deleted: nothing may be lost.
        Driver::Peer => ping_both_ways(&t.left, &t.right, &p.a),
    }
    assert_table_connected(e);
    let who = match driver {
        Driver::Engine => "engine",
        Driver::Peer => "libreswan",
    };
    record_run(case, "libreswan 4.10", who, p.setup, &run);
    pluto.log_text()
}

/// Two engines, the left one with short lifetimes: it rekeys, the right
/// one (8 h defaults) answers and holds its new outbound SAs back until
/// the old Child SA is deleted.
#[test]
fn rekey_engine_pair() {
    require_lab();
    let case = "rekey_engine_pair";
    let t = TwoSites::new().expect("topology");
    let a = two_sites_addrs();
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let t0 = Instant::now();
    let mut left = start_engine(&t.left, &es, &ps, &work, ENGINE_SHORT_LIFETIMES);
    let right_work = work.join("right");
    std::fs::create_dir_all(&right_work).unwrap();
    let mut right = start_engine(&t.right, &ps, &es, &right_work, &[]);
    wait_connected(&mut left, || right.log_text());
    wait_connected(&mut right, || left.log_text());
    let setup = t0.elapsed();
    let run = ping_through_rekeys(&t.left, &left, &|| right.log_text());
    keep_logs(
        case,
        &[
            ("engine-left", left.log_text()),
            ("engine-right", right.log_text()),
        ],
    );
    assert_rekeys_clean(&run, &t.left, &t.right, &left);
    ping_both_ways(&t.left, &t.right, &a);
    for e in [&left, &right] {
        let table = e.show(false).expect("show connections");
        assert!(table.contains("connected"), "{table}");
    }
    record_run(case, "cable-engine", "engine (left)", setup, &run);
}

/// The engine's lifetimes are short: it rekeys; strongSwan responds.
#[test]
fn rekey_by_engine_strongswan() {
    strongswan_rekey_case("rekey_by_engine_strongswan", Driver::Engine);
}

/// strongSwan's lifetimes are short: it rekeys; the engine responds.
#[test]
fn rekey_by_peer_strongswan() {
    strongswan_rekey_case("rekey_by_peer_strongswan", Driver::Peer);
}

/// The engine rekeys against libreswan in Submariner's default
/// (bidirectional) mode.
#[test]
fn rekey_by_engine_libreswan() {
    libreswan_rekey_case("rekey_by_engine_libreswan", Driver::Engine);
}

/// libreswan rekeys (whack lifetimes), the engine responds.
#[test]
fn rekey_by_peer_libreswan() {
    libreswan_rekey_case("rekey_by_peer_libreswan", Driver::Peer);
}

/// The kernel's packet limit starts the rekey (issue 10): the engine's
/// SAs get a soft limit of 150 packets (`CE_IPSEC_REKEYPACKETS`, with the
/// 8 h time lifetimes), pings every 0.1 s pass through, and every soft
/// EXPIRE rekeys the Child SA against strongSwan. Three such rekeys, not
/// one ping lost, and the old SAs leave both kernels.
#[test]
fn rekey_on_kernel_soft_expire() {
    require_lab();
    let case = "rekey_on_kernel_soft_expire";
    let p = strongswan_pair(case, |_| {}, &[("CE_IPSEC_REKEYPACKETS", "150")]);
    let (t, sw, e) = (&p.t, &p.peer, &p.engine);
    let expiries = || e.log_text().matches("kernel soft limit reached").count();
    let counter = |name: &str| engine_counter(&t.left, METRICS_PORT, name).unwrap_or(0.0);
    let child0 = counter("cable_engine_child_sa_rekeys");
    let ping = pod_pings(&t.left);
    let start = Instant::now();
    while expiries() < 3 || counter("cable_engine_child_sa_rekeys") - child0 < 3.0 {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{} soft expiries, {} rekeys in {:?}\n{}\n--- strongSwan ---\n{}",
            expiries(),
            counter("cable_engine_child_sa_rekeys") - child0,
            start.elapsed(),
            e.log_text(),
            sw.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let took = start.elapsed();
    // Keep pinging while the last old SAs leave.
    std::thread::sleep(Duration::from_secs(4));
    let tally = ping.stop().expect("ping summary");
    keep_logs(
        case,
        &[
            ("charon", sw.log_text()),
            ("engine", e.log_text()),
            ("xfrm-engine", xfrm_state(&t.left)),
        ],
    );
    println!(
        "{} soft expiries, {} rekeys in {took:?}; pings: {} sent, {} lost",
        expiries(),
        counter("cable_engine_child_sa_rekeys") - child0,
        tally.sent,
        tally.lost()
    );
    assert!(tally.sent >= 100, "{tally:?}");
    assert_eq!(tally.lost(), 0, "pings lost across the rekeys: {tally:?}");
    let settled = Instant::now();
    while esp_states(&t.left) > 2 || esp_states(&t.right) > 2 {
        assert!(
            settled.elapsed() < Duration::from_secs(40),
            "old SAs left:\n{}\n--- peer ---\n{}",
            xfrm_state(&t.left),
            xfrm_state(&t.right)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    ping_both_ways(&t.left, &t.right, &p.a);
    record(
        case,
        "strongSwan 5.9.8",
        "engine rekeys at its kernel's soft packet limit (150)",
        "none",
        p.setup,
        &format!(
            "pass: {} soft expiries in {:.0}s; pings every 0.1 s: {} sent, {} lost",
            expiries(),
            took.as_secs_f64(),
            tally.sent,
            tally.lost()
        ),
    );
}

/// PFS on Child SA rekey (issue 13, item 9; the fixed name of issue 14's
/// case): strongSwan with a DH group in its `esp_proposals` (PFS required,
/// no NONE) rekeys every 20 s; each rekey carries a KE, and the engine,
/// whose own proposals name no group, answers in the peer's group. Before,
/// the engine refused every such rekey with NO_PROPOSAL_CHOSEN.
#[test]
fn pfs_rekey_strongswan() {
    require_lab();
    let case = "pfs_rekey_strongswan";
    let p = strongswan_pair(
        case,
        |conn| {
            conn.ike_extra = vec!["rekey_time = 45s".into(), "rand_time = 3s".into()];
            conn.child_extra = vec![
                "esp_proposals = aes256gcm16-ecp256".into(),
                "rekey_time = 20s".into(),
                "life_time = 30s".into(),
                "rand_time = 3s".into(),
            ];
        },
        &[],
    );
    let (t, sw, e) = (&p.t, &p.peer, &p.engine);
    let run = ping_through_rekeys(&t.left, e, &|| sw.log_text());
    let log = sw.log_text();
    keep_logs(case, &[("charon", log.clone()), ("engine", e.log_text())]);
    assert_rekeys_clean(&run, &t.left, &t.right, e);
    sw.wait_up(Duration::from_secs(10))
        .expect("strongSwan still up");
    let pfs = log.matches("ESP:AES_GCM_16_256/ECP_256").count();
    assert!(
        pfs >= 3,
        "{pfs} Child SAs with PFS in strongSwan's log:\n{log}"
    );
    assert!(!log.contains("NO_PROPOSAL_CHOSEN"), "{log}");
    record(
        case,
        "strongSwan 5.9.8",
        "strongSwan rekeys with PFS (esp_proposals aes256gcm16-ecp256)",
        "none",
        p.setup,
        &format!(
            "pass: {} Child + {} IKE SA rekeys in {:.0}s, {pfs} Child SAs negotiated with ECP_256 KE; pings every 0.1 s: {} sent, {} lost",
            run.child_rekeys,
            run.ike_rekeys,
            run.took.as_secs_f64(),
            run.tally.sent,
            run.tally.lost()
        ),
    );
}

/// Issue 14's `CE_IPSEC_REQUIREPFS`: the engine rekeys (short lifetimes)
/// against strongSwan configured for PFS (`esp_proposals =
/// aes256gcm16-ecp256`) while the IKE SA uses strongSwan's first group
/// (Curve25519). The engine's first rekey offers KE in the IKE SA's group
/// and every IKE group after it; strongSwan names ECP-256 with
/// INVALID_KE_PAYLOAD once, and every Child SA rekey then carries KE in
/// ECP-256. No rekey is refused; 0 of the 0.1 s pings may be lost.
#[test]
fn required_pfs_engine_rekeys_strongswan() {
    require_lab();
    let case = "required_pfs_engine_rekeys_strongswan";
    let mut env = ENGINE_SHORT_LIFETIMES.to_vec();
    env.push(("CE_IPSEC_REQUIREPFS", "true"));
    let p = strongswan_pair(
        case,
        |conn| conn.child_extra = vec!["esp_proposals = aes256gcm16-ecp256".into()],
        &env,
    );
    let (t, sw, e) = (&p.t, &p.peer, &p.engine);
    let run = ping_through_rekeys(&t.left, e, &|| sw.log_text());
    let log = sw.log_text();
    keep_logs(case, &[("charon", log.clone()), ("engine", e.log_text())]);
    assert_rekeys_clean(&run, &t.left, &t.right, e);
    assert_eq!(run.tally.lost(), 0, "{:?}", run.tally);
    let pfs = log.matches("ESP:AES_GCM_16_256/ECP_256").count();
    assert!(
        pfs >= 3,
        "{pfs} Child SAs with PFS in strongSwan's log:\n{log}"
    );
    assert!(!log.contains("NO_PROPOSAL_CHOSEN"), "{log}");
    let engine_log = e.log_text();
    assert!(
        !engine_log.contains("accepted none of our proposals"),
        "{engine_log}"
    );
    record(
        case,
        "strongSwan 5.9.8",
        "engine rekeys with CE_IPSEC_REQUIREPFS=true (strongSwan esp_proposals aes256gcm16-ecp256)",
        "none",
        p.setup,
        &format!(
            "pass: {} Child + {} IKE SA rekeys in {:.0}s, {pfs} Child SAs with ECP_256 KE, none refused; pings every 0.1 s: {} sent, {} lost",
            run.child_rekeys,
            run.ike_rekeys,
            run.took.as_secs_f64(),
            run.tally.sent,
            run.tally.lost()
        ),
    );
}
