//! NAT keepalives hold the engine's NAT mapping while the tunnel is idle.
//!
//! The engine sits behind a NAT that forwards nothing and translates source
//! ports at random ([`Nat::LeftMappingOnly`]); strongSwan, not behind NAT,
//! can reach it only through the mapping of the engine's own UDP 4500 flow.
//! The router forgets an idle mapping after 25 s (its UDP conntrack
//! timeouts), less than either side's 30 s liveness check, so with health
//! checks off nothing but the engine's keepalives (every 20 s, the default)
//! keeps it. The test watches the router's conntrack entry through 70 idle
//! seconds: with keepalives it never goes and keeps its port, and then the
//! peer's side pings first, through the mapping. A control run with
//! `CE_IPSEC_NATKEEPALIVE=0` shows the same entry expiring, so the test
//! tells keepalives from their absence.

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::strongswan::StrongSwan;
use integration::sites::{Engine, TEST_PSK};
use integration::topo::{Nat, RoutedSites};
use std::time::{Duration, Instant};

/// The router's UDP timeouts: unreplied and with replies.
const UDP_TIMEOUTS: (u32, u32) = (20, 25);
const IDLE: Duration = Duration::from_secs(70);

/// The translated port of the engine's IKE/ESP-in-UDP flow (left:4500 ->
/// right:4500) in the router's conntrack table, if the entry exists.
fn engine_mapping(conntrack: &str) -> Option<u16> {
    let orig = format!(
        "src={} dst={} sport=4500 dport=4500",
        RoutedSites::LEFT_IP,
        RoutedSites::RIGHT_IP
    );
    let line = conntrack.lines().find(|l| l.contains(&orig))?;
    // The reply direction: right:4500 -> public:<translated>.
    let reply = line.split(&orig).nth(1)?;
    reply
        .split_whitespace()
        .find_map(|f| f.strip_prefix("dport="))
        .and_then(|p| p.parse().ok())
}

/// What the router showed during the idle period, one sample a second.
struct Watch {
    samples: Vec<Option<u16>>,
}

impl Watch {
    fn missing(&self) -> usize {
        self.samples.iter().filter(|s| s.is_none()).count()
    }
    fn ports(&self) -> Vec<u16> {
        let mut p: Vec<u16> = self.samples.iter().flatten().copied().collect();
        p.dedup();
        p
    }
}

/// Bring the tunnel up with the engine behind the mapping-only NAT, then
/// leave it idle and watch the mapping. Returns the watch and the topology
/// (still up) for further checks.
fn idle_tunnel(case: &str, keepalive: &str) -> (Watch, RoutedSites, Addrs, Engine, StrongSwan) {
    let t = RoutedSites::new(Nat::LeftMappingOnly).expect("topology");
    t.set_udp_timeouts(UDP_TIMEOUTS.0, UDP_TIMEOUTS.1)
        .expect("router conntrack timeouts");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir(case);
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    assert!(es.nat_enabled && !ps.nat_enabled);
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, false, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let mut e = start_engine(
        &t.left,
        &es,
        &ps,
        &work,
        &[
            // Nothing but IKE (and keepalives) through the tunnel.
            ("SUBMARINER_HEALTHCHECKENABLED", "false"),
            ("CE_IPSEC_NATKEEPALIVE", keepalive),
        ],
    );
    // Without health checks the engine reports the cable connected once
    // its Child SAs are in.
    wait_connected(&mut e, || format!("{}\n{}", sw.log_text(), t.nat_table()));
    sw.wait_up(UP_LIMIT).expect("strongSwan SAs");
    ping_both_ways(&t.left, &t.right, &a);
    assert_espinudp(&t.left, "engine");
    let first = engine_mapping(&t.udp_conntrack().unwrap());
    assert!(
        first.is_some_and(|p| (20000..30000).contains(&p)),
        "the engine's flow should be mapped to a port in 20000-29999:\n{}",
        t.nat_table()
    );
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < IDLE {
        std::thread::sleep(Duration::from_secs(1));
        samples.push(engine_mapping(&t.udp_conntrack().unwrap_or_default()));
    }
    println!("{case}: first port {first:?}, samples {samples:?}");
    (Watch { samples }, t, a, e, sw)
}

#[test]
fn nat_keepalives_hold_the_mapping() {
    require_lab();
    let case = "nat_keepalives_hold_the_mapping";
    let (watch, t, a, e, sw) = idle_tunnel(case, "20s");
    keep_logs(
        case,
        &[
            ("engine", e.log_text()),
            ("charon", sw.log_text()),
            ("conntrack", t.nat_table()),
        ],
    );
    assert_eq!(
        watch.missing(),
        0,
        "the mapping expired although keepalives were on: {:?}\n{}",
        watch.samples,
        e.log_text()
    );
    assert_eq!(
        watch.ports().len(),
        1,
        "the mapping changed: {:?}",
        watch.samples
    );
    // The peer's side speaks first after the idle time: its packets can
    // only reach the engine through the mapping the keepalives kept.
    let out = t
        .right
        .sh(&format!(
            "ping -c3 -i0.3 -W3 -I {} {}",
            a.right_pod_ip, a.left_pod_ip
        ))
        .unwrap_or_else(|err| panic!("peer -> engine after {IDLE:?} idle: {err}"));
    assert!(out.contains("3 received"), "{out}");
    record(
        case,
        "strongSwan 5.9.8",
        "responder",
        "engine side NATed, random ports, no forwarding; router UDP timeout 25 s",
        IDLE,
        &format!(
            "pass: mapping kept (port {:?}) through {}s idle with 20 s keepalives; peer-first ping passed",
            watch.ports(),
            IDLE.as_secs()
        ),
    );

    // Control: the same without keepalives loses the mapping while idle.
    drop((e, sw, t));
    let case = "nat_no_keepalives_lose_the_mapping";
    let (watch, t, _a, e, sw) = idle_tunnel(case, "0");
    keep_logs(
        case,
        &[
            ("engine", e.log_text()),
            ("charon", sw.log_text()),
            ("conntrack", t.nat_table()),
        ],
    );
    assert!(
        watch.missing() > 0 || watch.ports().len() > 1,
        "without keepalives the router should have dropped the idle mapping: {:?}",
        watch.samples
    );
    record(
        case,
        "strongSwan 5.9.8",
        "responder",
        "as above, CE_IPSEC_NATKEEPALIVE=0 (control)",
        IDLE,
        &format!(
            "pass: mapping absent in {} of {} one-second samples",
            watch.missing(),
            watch.samples.len()
        ),
    );
}
