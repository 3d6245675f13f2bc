//! Submariner's default bidirectional mode: both gateways initiate at the
//! same time, so IKE SAs cross and Child SAs for the same selectors exist
//! twice. Both sides must cope (libreswan does exactly this).

#[path = "session_util.rs"]
mod util;

use std::time::Duration;

use ike::{Event, TsPair};
use util::{assert_mirrored, peers, Net};

#[test]
fn crossing_initiations_both_come_up() {
    let mut net = Net::default_pair();
    let (a, b) = peers(3);
    net.a.add_peer(a.clone());
    net.b.add_peer(b.clone());
    net.a.initiate(net.now, a).unwrap();
    net.b.initiate(net.now, b).unwrap();
    net.run(Duration::from_secs(2));
    for evs in [&net.ev_a, &net.ev_b] {
        assert_eq!(
            Net::count(evs, |e| matches!(e, Event::IkeSaEstablished(_))),
            2
        );
        assert_eq!(Net::children(evs).len(), 6, "3 pairs x 2 IKE SAs");
        assert!(!evs
            .iter()
            .any(|e| matches!(e, Event::IkeSaFailed { .. } | Event::ChildSaFailed { .. })));
    }
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    for x in &ca {
        let y = cb
            .iter()
            .find(|y| y.spi_in == x.spi_out)
            .expect("peer half");
        assert_mirrored(x, y);
    }
    assert_eq!(net.a.sas().len(), 2);
    assert_eq!(net.b.sas().len(), 2);
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
