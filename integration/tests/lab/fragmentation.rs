//! IKE fragmentation (RFC 7383) against strongSwan (issue 13, item 10).

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::strongswan::StrongSwan;
use integration::sites::TEST_PSK;
use integration::topo::{Nat, RoutedSites};
use integration::traffic::engine_counter;
use std::time::Instant;

const METRICS_PORT: u16 = 32780;

/// A strongSwan gateway configured the generic way, one Child SA for all
/// its subnets: 64 subnets in one traffic selector list, so its IKE_AUTH
/// request (about 1.5 KB) does not fit the 1280-byte path between the
/// gateways (every link's MTU 1280). strongSwan (`fragment_size` 1280, its
/// default) sends it in RFC 7383 fragments; the engine reassembles it,
/// narrows the selectors to its first pair and creates the other 63 Child
/// SAs itself. Before, the engine announced no fragmentation, strongSwan
/// sent the message whole and IP-fragmented, and the engine had no way to
/// take fragments.
#[test]
fn many_subnets_need_fragmentation() {
    require_lab();
    let t = RoutedSites::new(Nat::None).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    for (ns, dev) in [
        (&t.left, "wan"),
        (&t.router, "to-left"),
        (&t.router, "to-right"),
        (&t.right, "wan"),
    ] {
        ns.sh(&format!("ip link set dev {dev} mtu 1280"))
            .expect("mtu");
    }
    let work = workdir("many_subnets_need_fragmentation");
    let subnets: Vec<String> = (0..64).map(|i| format!("10.2.{i}.0/24")).collect();
    let es = engine_site(&a, false);
    let mut ps = peer_site(&a, false);
    ps.subnets = subnets.clone();
    let mut conn = swan_conn(&a, &es, true, false, TEST_PSK);
    conn.local_ts = vec![subnets.join(",")];
    conn.charon_extra = vec!["fragment_size = 1280".into()];
    // strongSwan's initiation builds the IKE SA (its request is the big one).
    block_engine_initiation(&t.left);
    let sw = StrongSwan::start(&t.right, &conn, &work.join("strongswan")).expect("strongSwan");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    wait_connected(&mut e, || sw.log_text());
    let took = t0.elapsed();
    let counter = |n: &str| engine_counter(&t.left, METRICS_PORT, n).unwrap_or(0.0);
    let (fragments, messages) = (
        counter("cable_engine_ike_fragments_received"),
        counter("cable_engine_ike_messages_reassembled"),
    );
    let children = esp_states(&t.left) / 2;
    let ping = t
        .left
        .sh(&format!(
            "ping -c3 -i0.3 -W2 -I {} {}",
            a.left_pod_ip, a.right_pod_ip
        ))
        .unwrap_or_default();
    let log = sw.log_text();
    keep_logs(
        "many_subnets_need_fragmentation",
        &[("engine", e.log_text()), ("charon", log.clone())],
    );
    assert!(
        fragments >= 2.0 && messages >= 1.0,
        "{fragments} fragments, {messages} messages reassembled\n{log}"
    );
    assert_eq!(children, 64, "{}", xfrm_state(&t.left));
    assert!(ping.contains("3 received"), "{ping}");
    record(
        "many_subnets_need_fragmentation",
        "strongSwan 5.9.8",
        "initiator, 64 subnets in one Child SA",
        "none, path MTU 1280",
        took,
        &format!(
            "pass: {fragments} fragments received, {messages} messages reassembled; {children} Child SAs; pings pass"
        ),
    );
}
