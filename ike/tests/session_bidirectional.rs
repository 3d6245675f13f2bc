//! Submariner's default bidirectional mode: both gateways initiate at the
//! same time, so IKE SAs cross. The endpoints converge to one IKE SA with
//! every Child SA, whatever the interleaving; duplicate Child SAs for the
//! same selectors are tolerated; a restarted peer is reconnected.

#[path = "session_util.rs"]
mod util;

use std::time::Duration;

use ike::{CloseReason, Endpoint, EndpointConfig, Event, TsPair};
use util::{assert_mirrored, coin, peers, Net, Stepper};

fn closes(evs: &[Event]) -> Vec<CloseReason> {
    evs.iter()
        .filter_map(|e| match e {
            Event::IkeSaClosed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn failures(evs: &[Event]) -> usize {
    Net::count(evs, |e| {
        matches!(e, Event::IkeSaFailed { .. } | Event::ChildSaFailed { .. })
    })
}

#[test]
fn crossing_initiations_converge_to_one_ike_sa() {
    let mut net = Net::default_pair();
    let (a, b) = peers(3);
    net.a.add_peer(a.clone());
    net.b.add_peer(b.clone());
    net.a.initiate(net.now, a).unwrap();
    net.b.initiate(net.now, b).unwrap();
    net.run(Duration::from_secs(2));
    let (sa, sb) = (net.a.sas(), net.b.sas());
    assert_eq!((sa.len(), sb.len()), (1, 1), "{sa:?} {sb:?}");
    assert!(sa[0].established && sb[0].established);
    assert_eq!((sa[0].child_sas, sb[0].child_sas), (3, 3));
    assert_eq!(sa[0].initiator, !sb[0].initiator);
    for evs in [&net.ev_a, &net.ev_b] {
        assert_eq!(failures(evs), 0);
        assert_eq!(closes(evs), vec![CloseReason::Superseded]);
    }
}

#[test]
fn every_interleaving_converges_without_losing_a_selector_pair() {
    for seed in 0..200 {
        let mut net = Net::default_pair();
        let (a, b) = peers(3);
        net.a.add_peer(a.clone());
        net.b.add_peer(b.clone());
        net.a.initiate(net.now, a).unwrap();
        net.b.initiate(net.now, b).unwrap();
        let mut s = Stepper::new(net);
        s.run_until(Duration::from_secs(5), coin(seed));
        let (sa, sb) = (s.net.a.sas(), s.net.b.sas());
        assert_eq!((sa.len(), sb.len()), (1, 1), "seed {seed}: {sa:?} {sb:?}");
        assert_eq!((sa[0].child_sas, sb[0].child_sas), (3, 3), "seed {seed}");
        // The kernels hold exactly one SA pair per selector pair, mirrored.
        assert_eq!(s.ka.inbound.len(), 3, "seed {seed}");
        assert_eq!(s.ka.outbound, s.kb.inbound, "seed {seed}");
        assert_eq!(s.kb.outbound, s.ka.inbound, "seed {seed}");
        let live: Vec<_> = Net::children(&s.net.ev_a)
            .into_iter()
            .filter(|c| s.ka.inbound.contains(&c.spi_in))
            .collect();
        let mut pairs: Vec<usize> = live.iter().map(|c| c.pair_index).collect();
        pairs.sort();
        assert_eq!(pairs, vec![0, 1, 2], "seed {seed}");
        for c in live {
            let peer_half = Net::children(&s.net.ev_b)
                .into_iter()
                .find(|x| x.spi_in == c.spi_out)
                .unwrap();
            assert_mirrored(c, peer_half);
        }
        for evs in [&s.net.ev_a, &s.net.ev_b] {
            assert_eq!(failures(evs), 0, "seed {seed}");
            assert!(
                closes(evs).iter().all(|r| *r == CloseReason::Superseded),
                "seed {seed}"
            );
        }
    }
}

#[test]
fn every_delivery_order_of_the_first_messages_converges() {
    // All 2^8 choices of which direction delivers next for the first eight
    // deliveries (this covers every order of the crossing IKE_SA_INIT and
    // IKE_AUTH messages), then a fixed order.
    for prefix in 0u32..256 {
        let mut net = Net::default_pair();
        let (a, b) = peers(2);
        net.a.add_peer(a.clone());
        net.b.add_peer(b.clone());
        net.a.initiate(net.now, a).unwrap();
        net.b.initiate(net.now, b).unwrap();
        let mut s = Stepper::new(net);
        let mut i = 0;
        s.run_until(Duration::from_secs(5), || {
            i += 1;
            i <= 8 && prefix >> (i - 1) & 1 == 1
        });
        let (sa, sb) = (s.net.a.sas(), s.net.b.sas());
        assert_eq!((sa.len(), sb.len()), (1, 1), "prefix {prefix:08b}");
        assert_eq!(
            (sa[0].child_sas, sb[0].child_sas),
            (2, 2),
            "prefix {prefix:08b}"
        );
        assert_eq!(s.ka.outbound, s.kb.inbound, "prefix {prefix:08b}");
        assert_eq!(s.ka.inbound.len(), 2, "prefix {prefix:08b}");
        for evs in [&s.net.ev_a, &s.net.ev_b] {
            assert_eq!(failures(evs), 0, "prefix {prefix:08b}");
            assert!(closes(evs).iter().all(|r| *r == CloseReason::Superseded));
        }
    }
}

#[test]
fn duplicate_child_sas_for_the_same_selectors_are_accepted() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(1);
    let pair: TsPair = a.children[0].clone();
    a.children.push(pair.clone());
    a.children.push(pair);
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (3, 3));
    for (x, y) in ca.iter().zip(&cb) {
        assert_mirrored(x, y);
        assert_eq!(x.ts_local, ca[0].ts_local);
    }
}

#[test]
fn restarted_peer_reconnects_with_initial_contact() {
    let mut net = Net::default_pair();
    let (a, b) = peers(2);
    net.a.add_peer(a.clone());
    net.b.add_peer(b.clone());
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let old = net.a.sas()[0].sa;
    // B crashes and comes back without state, then initiates.
    net.now += Duration::from_secs(5);
    net.b = Endpoint::new(EndpointConfig::default()).unwrap();
    net.b.add_peer(b.clone());
    net.ev_a.clear();
    net.ev_b.clear();
    net.b.initiate(net.now, b).unwrap();
    net.run(Duration::from_secs(7));
    assert_eq!(
        net.ev_a.iter().find_map(|e| match e {
            Event::IkeSaClosed { sa, reason, .. } => Some((*sa, reason.clone())),
            _ => None,
        }),
        Some((old, CloseReason::PeerRestarted))
    );
    assert_eq!(
        Net::count(&net.ev_a, |e| matches!(e, Event::ChildSaDeleted { .. })),
        2
    );
    let sa = net.a.sas();
    assert_eq!(sa.len(), 1);
    assert!(sa[0].established && !sa[0].initiator);
    assert_eq!(sa[0].child_sas, 2);
    assert_eq!(Net::children(&net.ev_a).len(), 2);
}

#[test]
fn restarted_responder_is_found_dead_and_reconnected_by_the_owner() {
    let mut net = Net::default_pair();
    let (a, b) = peers(1);
    net.b.add_peer(b.clone());
    net.a.initiate(net.now, a.clone()).unwrap();
    net.run(Duration::from_secs(1));
    // B restarts as a pure responder: A's SA is now unknown to it.
    net.b = Endpoint::new(EndpointConfig::default()).unwrap();
    net.b.add_peer(b);
    net.run(Duration::from_secs(200));
    assert!(closes(&net.ev_a).contains(&CloseReason::Timeout));
    assert!(net.a.sas().is_empty());
    assert!(net
        .b
        .stats()
        .dropped
        .contains_key(&ike::DropReason::UnknownSpi));
    // The owner (daemon) reacts to the closure by initiating again.
    let now = net.now;
    net.a.initiate(now, a).unwrap();
    net.run(Duration::from_secs(202));
    assert!(net.a.sas()[0].established);
    assert_eq!(net.b.sas()[0].child_sas, 1);
}
