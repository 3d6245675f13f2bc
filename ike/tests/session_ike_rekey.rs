//! IKE SA rekeying (RFC 7296 2.18) between two in-process endpoints: the
//! Child SAs survive, the old IKE SA disappears quietly, and crossed
//! rekeys converge.

#[path = "session_util.rs"]
mod util;

use std::time::Duration;

use ike::{Event, IkeSaInfo, Lifetimes, SaId};
use util::{coin, peers, Net, Stepper};

fn rekeys(evs: &[Event]) -> Vec<(SaId, SaId, IkeSaInfo)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::IkeSaRekeyed { old, new, info } => Some((*old, *new, info.clone())),
            _ => None,
        })
        .collect()
}

fn no_losses(evs: &[Event]) -> bool {
    !evs.iter().any(|e| {
        matches!(
            e,
            Event::ChildSaDeleted { .. }
                | Event::IkeSaClosed { .. }
                | Event::IkeSaFailed { .. }
                | Event::ChildSaFailed { .. }
        )
    })
}

fn up(n: usize) -> (Net, SaId) {
    let mut net = Net::default_pair();
    let (a, b) = peers(n);
    net.b.add_peer(b);
    let sa = net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    (net, sa)
}

#[test]
fn ike_sa_rekey_keeps_the_child_sas() {
    let (mut net, sa) = up(3);
    let before_a = net.a.sas()[0].clone();
    let now = net.now;
    assert!(net.a.rekey_ike(now, sa));
    net.run(Duration::from_secs(2));
    let (ra, rb) = (rekeys(&net.ev_a), rekeys(&net.ev_b));
    assert_eq!((ra.len(), rb.len()), (1, 1));
    let (old_a, new_a, ia) = &ra[0];
    let (_, new_b, ib) = &rb[0];
    assert_eq!(*old_a, sa);
    assert!(
        ia.initiator && !ib.initiator,
        "the rekey initiator initiates the new SA"
    );
    assert_eq!((ia.spi_i, ia.spi_r), (ib.spi_i, ib.spi_r));
    assert_eq!(ia.algorithms, ib.algorithms);
    assert!(no_losses(&net.ev_a) && no_losses(&net.ev_b));
    // Only the new SAs remain, with every Child SA.
    let (sa_a, sa_b) = (net.a.sas(), net.b.sas());
    assert_eq!((sa_a.len(), sa_b.len()), (1, 1));
    assert_eq!(sa_a[0].sa, *new_a);
    assert_eq!(sa_b[0].sa, *new_b);
    assert_eq!(sa_a[0].child_sas, before_a.child_sas);
    assert_eq!(sa_b[0].child_sas, 3);

    // The new SA works: a Child SA rekey and liveness checks go through it.
    let c = Net::children(&net.ev_a)[0].clone();
    let now = net.now;
    assert!(net.a.rekey_child(now, c.spi_in));
    net.run(Duration::from_secs(300));
    let rekeyed = Net::children(&net.ev_b)
        .into_iter()
        .filter(|x| x.rekey_of.is_some())
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(rekeyed.len(), 1);
    assert_eq!(rekeyed[0].sa, *new_b);
    assert_eq!(net.a.sas().len(), 1);
    assert!(net.a.sas()[0].established);
    assert!(!net
        .ev_a
        .iter()
        .any(|e| matches!(e, Event::IkeSaClosed { .. })));
}

#[test]
fn responder_rekeys_the_ike_sa() {
    let (mut net, _) = up(2);
    let sb = net.b.sas()[0].sa;
    let now = net.now;
    assert!(net.b.rekey_ike(now, sb));
    net.run(Duration::from_secs(2));
    let (ra, rb) = (rekeys(&net.ev_a), rekeys(&net.ev_b));
    assert_eq!((ra.len(), rb.len()), (1, 1));
    assert!(rb[0].2.initiator && !ra[0].2.initiator);
    assert!(no_losses(&net.ev_a) && no_losses(&net.ev_b));
    assert_eq!(net.a.sas().len(), 1);
    assert_eq!(net.b.sas()[0].child_sas, 2);
}

#[test]
fn ike_lifetime_rekeys_repeatedly_without_touching_child_sas() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(2);
    a.lifetimes = Lifetimes {
        ike: Duration::from_secs(100),
        child_rekey_fuzz: Duration::ZERO,
        ..Lifetimes::default()
    };
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1050));
    assert_eq!(rekeys(&net.ev_a).len(), 10);
    assert_eq!(rekeys(&net.ev_b).len(), 10);
    assert!(no_losses(&net.ev_a) && no_losses(&net.ev_b));
    assert_eq!((net.a.sas().len(), net.b.sas().len()), (1, 1));
    assert_eq!(net.a.sas()[0].child_sas, 2);
}

fn is_request(p: &[u8], exchange: ike::wire::ExchangeType) -> bool {
    ike::wire::Header::decode(p).is_ok_and(|h| h.exchange == exchange && h.is_request())
}

/// RFC 7296 2.8.2 (issue 13): both sides rekey the IKE SA at the same
/// instant. Each answers the other's request; of the two new IKE SAs the
/// one whose exchange holds the lowest nonce is redundant and deleted by
/// its initiator (with a Delete sent on it), the Child SAs move to the
/// other one exactly once on both sides, and the winner deletes the old
/// SA. Every delivery order (also reordered within one direction) ends
/// with one IKE SA, the same SPIs on both sides, both Child SAs on it, no
/// Child SA or IKE SA reported down, and no timer needed. Before, both
/// requests were refused with TEMPORARY_FAILURE and one side tried again
/// after 1-10 s (three CREATE_CHILD_SA requests, a timer).
#[test]
fn crossed_ike_rekeys_converge_without_temporary_failure() {
    use ike::wire::ExchangeType;
    let mut redundant_deleted = 0;
    for seed in 0..64 {
        let (net, sa) = up(2);
        let sb = net.b.sas()[0].sa;
        let mut s = Stepper::new(net);
        for e in s.net.ev_a.clone() {
            s.ka.apply(&e);
        }
        for e in s.net.ev_b.clone() {
            s.kb.apply(&e);
        }
        let start = s.net.wire.len();
        let now = s.net.now;
        assert!(s.net.a.rekey_ike(now, sa));
        assert!(s.net.b.rekey_ike(now, sb));
        let mut flip = coin(seed);
        while s.step_at(flip(), usize::from(flip())) {}
        assert_eq!(s.net.now, now, "no timer ran");
        let (ra, rb) = (rekeys(&s.net.ev_a), rekeys(&s.net.ev_b));
        assert_eq!((ra.len(), rb.len()), (1, 1), "seed {seed}: {ra:?} {rb:?}");
        let ((old_a, new_a, ia), (old_b, new_b, ib)) = (&ra[0], &rb[0]);
        assert_eq!((*old_a, *old_b), (sa, sb), "seed {seed}");
        assert_eq!((ia.spi_i, ia.spi_r), (ib.spi_i, ib.spi_r), "seed {seed}");
        assert_ne!(ia.initiator, ib.initiator, "seed {seed}");
        let creates = s.net.wire[start..]
            .iter()
            .filter(|(_, _, p)| is_request(p, ExchangeType::CREATE_CHILD_SA))
            .count();
        assert_eq!(creates, 2, "seed {seed}: a rekey was refused and retried");
        // The old SA is deleted once (by the winner); a redundant SA, if
        // its exchange completed, with a Delete sent on it; nothing else.
        let old_spis = s
            .net
            .ev_a
            .iter()
            .find_map(|e| match e {
                Event::IkeSaEstablished(i) => Some((i.spi_i, i.spi_r)),
                _ => None,
            })
            .unwrap();
        let deletes: Vec<(u64, u64)> = s.net.wire[start..]
            .iter()
            .filter(|(_, _, p)| is_request(p, ExchangeType::INFORMATIONAL))
            .map(|(_, _, p)| {
                let h = ike::wire::Header::decode(p).unwrap();
                (h.spi_i, h.spi_r)
            })
            .collect();
        let on_old = deletes.iter().filter(|d| **d == old_spis).count();
        assert_eq!(on_old, 1, "seed {seed}: {deletes:?}");
        let others: Vec<_> = deletes.iter().filter(|d| **d != old_spis).collect();
        assert!(others.len() <= 1, "seed {seed}: {deletes:?}");
        assert!(others.iter().all(|d| **d != (ia.spi_i, ia.spi_r)));
        redundant_deleted += others.len();
        for (who, ep, new) in [("A", &s.net.a, new_a), ("B", &s.net.b, new_b)] {
            let est: Vec<_> = ep.sas().into_iter().filter(|x| x.established).collect();
            assert_eq!(est.len(), 1, "seed {seed} {who}: {est:?}");
            assert_eq!(est[0].sa, *new, "seed {seed} {who}");
            assert_eq!(est[0].child_sas, 2, "seed {seed} {who}");
        }
        // The leftovers (old SA, redundant SA) go quietly.
        s.run_until(Duration::from_secs(200), || false);
        assert_eq!(
            (s.net.a.sas().len(), s.net.b.sas().len()),
            (1, 1),
            "seed {seed}"
        );
        assert!(
            no_losses(&s.net.ev_a) && no_losses(&s.net.ev_b),
            "seed {seed}: {:?} {:?}",
            s.net.ev_a,
            s.net.ev_b
        );
        assert_eq!(s.net.a.sas()[0].sa, *new_a);
        assert_eq!(s.net.b.sas()[0].child_sas, 2);
        // The surviving SA works from both sides: Child SA rekeys on it.
        let (ca, cb) = (
            Net::children(&s.net.ev_a)[0].spi_in,
            Net::children(&s.net.ev_b)[1].spi_in,
        );
        let now = s.net.now;
        assert!(s.net.a.rekey_child(now, ca) && s.net.b.rekey_child(now, cb));
        s.run_until(Duration::from_secs(210), || false);
        for evs in [&s.net.ev_a, &s.net.ev_b] {
            let on_new: Vec<_> = Net::children(evs)
                .into_iter()
                .filter(|c| c.rekey_of.is_some())
                .map(|c| c.sa)
                .collect();
            assert_eq!(on_new.len(), 2, "seed {seed}");
            assert!(on_new.iter().all(|sa| *sa == *new_a || *sa == *new_b));
        }
        let bad = |e: &Event| {
            matches!(
                e,
                Event::IkeSaClosed { .. } | Event::IkeSaFailed { .. } | Event::ChildSaFailed { .. }
            )
        };
        assert!(
            !s.net.ev_a.iter().chain(&s.net.ev_b).any(bad),
            "seed {seed}"
        );
        assert_eq!(s.installed_pairs(), 2, "seed {seed}");
    }
    // Most orders are real collisions in which both exchanges completed.
    assert!(redundant_deleted >= 16, "{redundant_deleted}");
}

/// RFC 7296 2.25.2 (issue 13, fault 3): while an IKE SA rekey of ours is
/// outstanding, the peer's CREATE_CHILD_SA gets TEMPORARY_FAILURE, so its
/// Child SA rekey is done again on the new IKE SA. Before, it was answered
/// on the old IKE SA, which then went away under it (with a peer that
/// answers both, the Child SA ended up on one side only).
#[test]
fn a_child_rekey_during_our_ike_rekey_waits_for_the_new_ike_sa() {
    let (mut net, sa) = up(2);
    let spi = Net::children(&net.ev_b)[0].spi_in;
    let now = net.now;
    assert!(net.a.rekey_ike(now, sa));
    assert!(net.b.rekey_child(now, spi));
    net.run(Duration::from_secs(100));
    let (at, new_b) = net
        .ev_b
        .iter()
        .enumerate()
        .find_map(|(i, e)| match e {
            Event::IkeSaRekeyed { new, .. } => Some((i, *new)),
            _ => None,
        })
        .expect("the IKE SA was rekeyed");
    let (child_at, child_sa) = net
        .ev_b
        .iter()
        .enumerate()
        .find_map(|(i, e)| match e {
            Event::ChildSaEstablished(c) if c.rekey_of.is_some() => Some((i, c.sa)),
            _ => None,
        })
        .expect("the Child SA was rekeyed");
    assert!(child_at > at, "the Child SA was rekeyed on the old IKE SA");
    assert_eq!(child_sa, new_b);
}

/// RFC 7296 2.25.2 (issue 13, fault 3): both sides delete the IKE SA at
/// once. Each answers the other's Delete and forgets its own; each reports
/// the SA closed once. Before, the side whose Delete crossed the peer's
/// reported IkeSaClosed twice (Local, then DeletedByPeer).
#[test]
fn crossing_ike_deletes_report_one_close_each() {
    let (mut net, sa) = up(1);
    let sb = net.b.sas()[0].sa;
    let now = net.now;
    net.a.close(now, sa);
    net.b.close(now, sb);
    net.run(Duration::from_secs(60));
    for (who, evs) in [("A", &net.ev_a), ("B", &net.ev_b)] {
        let closed = Net::count(evs, |e| matches!(e, Event::IkeSaClosed { .. }));
        assert_eq!(closed, 1, "{who}: {evs:?}");
    }
    assert!(net.a.sas().is_empty() && net.b.sas().is_empty());
}
