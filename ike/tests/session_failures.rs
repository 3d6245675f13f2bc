//! Negotiation detours and failures between two in-process endpoints:
//! INVALID_KE and COOKIE round trips, wrong PSK, no proposal, unacceptable
//! selectors, lost packets, a silent responder, deletes.

#[path = "session_util.rs"]
mod util;

use std::time::Duration;

use ike::crypto::{DhGroup, Encr};
use ike::wire::{ExchangeType, Header};
use ike::{CloseReason, EndpointConfig, Event, FailureReason, IkeProposal, RejectedBy, TsPair};
use util::{assert_mirrored, ike_failures as failures, peers, ts, Dir, Net};

fn exchange_of(bytes: &[u8]) -> ExchangeType {
    Header::decode(bytes).unwrap().exchange
}

#[test]
fn invalid_ke_round_trip_when_responder_insists_on_its_group() {
    let cfg_b = EndpointConfig {
        strict_ke_group: true,
        ..EndpointConfig::default()
    };
    let mut net = Net::new(EndpointConfig::default(), cfg_b);
    let (a, mut b) = peers(1);
    // A opens with ECP256 (its first group) but also offers Curve25519,
    // which B prefers.
    b.ike_proposals = vec![IkeProposal {
        dh: vec![DhGroup::Curve25519, DhGroup::Ecp256],
        ..IkeProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let inits = net
        .wire
        .iter()
        .filter(|(_, d, p)| *d == Dir::AtoB && exchange_of(p) == ExchangeType::IKE_SA_INIT)
        .count();
    assert_eq!(inits, 2, "IKE_SA_INIT retried once");
    let up = net
        .ev_a
        .iter()
        .find_map(|e| match e {
            Event::IkeSaEstablished(i) => Some(i.algorithms.dh),
            _ => None,
        })
        .unwrap();
    assert_eq!(up, DhGroup::Curve25519);
    // Both ends count the round trip (the engine exports these).
    assert_eq!(net.a.stats().invalid_ke_received, 1);
    assert_eq!(net.b.stats().invalid_ke_sent, 1);
    assert_eq!(net.a.stats().invalid_ke_sent, 0);
    assert_eq!(net.b.stats().invalid_ke_received, 0);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (1, 1));
    assert_mirrored(ca[0], cb[0]);
}

#[test]
fn invalid_ke_round_trip_for_an_unsupported_group() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(1);
    a.ike_proposals = vec![IkeProposal {
        dh: vec![DhGroup::Ecp384, DhGroup::Curve25519],
        ..IkeProposal::default()
    }];
    b.ike_proposals = vec![IkeProposal {
        dh: vec![DhGroup::Curve25519],
        ..IkeProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(Net::children(&net.ev_a).len(), 1);
    assert_eq!(Net::children(&net.ev_b).len(), 1);
    assert_eq!(net.wire.len(), 6);
}

#[test]
fn invalid_ke_for_a_group_we_did_not_offer_fails() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(1);
    a.ike_proposals = vec![IkeProposal {
        dh: vec![DhGroup::Ecp256],
        ..IkeProposal::default()
    }];
    // B answers INVALID_KE(Curve25519) only if A offered it; it did not,
    // so B finds no proposal at all.
    b.ike_proposals = vec![IkeProposal {
        dh: vec![DhGroup::Curve25519],
        ..IkeProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    // The answer is unprotected: A keeps asking until its retransmissions
    // run out (RFC 7296 2.21.1), then reports what B said.
    net.run(Duration::from_secs(1));
    assert!(failures(&net.ev_a).is_empty());
    net.run(Duration::from_secs(61));
    assert_eq!(
        failures(&net.ev_a),
        vec![FailureReason::NoProposalChosen(RejectedBy::Peer)]
    );
    assert!(net.ev_b.is_empty(), "stateless rejection: {:?}", net.ev_b);
    assert!(net.b.sas().is_empty());
}

#[test]
fn cookie_round_trip() {
    let cfg_b = EndpointConfig {
        cookie_threshold: Some(0),
        ..EndpointConfig::default()
    };
    let mut net = Net::new(EndpointConfig::default(), cfg_b);
    let (a, b) = peers(2);
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    // After the first request B keeps no state.
    while let Some(t) = net.a.poll_transmit() {
        net.b
            .handle_datagram(net.now, t.remote, t.local, &t.payload);
    }
    assert!(net.b.sas().is_empty());
    assert_eq!(net.b.stats().cookies_sent, 1);
    net.run(Duration::from_secs(1));
    assert_eq!(net.b.stats().cookies_sent, 1);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2));
    assert_mirrored(ca[1], cb[1]);
    // Recorded after the first (hand-delivered) request: the COOKIE answer,
    // IKE_SA_INIT with cookie + response, IKE_AUTH, one CREATE_CHILD_SA.
    assert_eq!(net.wire.len(), 7);
    let first = &net.wire[0].2;
    assert_eq!(exchange_of(first), ExchangeType::IKE_SA_INIT);
    assert_eq!(
        Header::decode(first).unwrap().spi_r,
        0,
        "cookie answer keeps no SPI"
    );
}

#[test]
fn cookie_then_invalid_ke() {
    let cfg_b = EndpointConfig {
        cookie_threshold: Some(0),
        ..EndpointConfig::default()
    };
    let mut net = Net::new(EndpointConfig::default(), cfg_b);
    let (a, mut b) = peers(1);
    b.ike_proposals = vec![IkeProposal {
        dh: vec![DhGroup::Curve25519],
        ..IkeProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(Net::children(&net.ev_a).len(), 1);
    assert_eq!(Net::children(&net.ev_b).len(), 1);
}

#[test]
fn wrong_psk_fails_on_both_sides_without_child_sa() {
    let mut net = Net::default_pair();
    let (a, mut b) = peers(2);
    b.psk = ike::crypto::SecretBytes::from_slice(b"another-psk-text");
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(120));
    assert_eq!(
        failures(&net.ev_a),
        vec![FailureReason::AuthenticationFailed(RejectedBy::Peer)]
    );
    assert_eq!(
        failures(&net.ev_b),
        vec![FailureReason::AuthenticationFailed(RejectedBy::Us)]
    );
    for evs in [&net.ev_a, &net.ev_b] {
        assert!(Net::children(evs).is_empty());
        assert_eq!(
            Net::count(evs, |e| matches!(e, Event::IkeSaEstablished(_))),
            0
        );
    }
    assert!(net.a.sas().is_empty() && net.b.sas().is_empty());
    assert_eq!(net.wire.len(), 4);
}

#[test]
fn lost_authentication_failed_answer_is_resent_from_the_cache() {
    let mut net = Net::default_pair();
    let (a, mut b) = peers(1);
    b.psk = ike::crypto::SecretBytes::from_slice(b"another-psk-text");
    net.b.add_peer(b);
    let mut lost = false;
    net.deliver = Box::new(move |dir, t| {
        if dir == Dir::BtoA && exchange_of(&t.payload) == ExchangeType::IKE_AUTH && !lost {
            lost = true;
            return false;
        }
        true
    });
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(120));
    assert_eq!(net.b.stats().responses_resent, 1);
    assert_eq!(
        failures(&net.ev_a),
        vec![FailureReason::AuthenticationFailed(RejectedBy::Peer)]
    );
    assert_eq!(failures(&net.ev_b).len(), 1);
    assert!(net.b.sas().is_empty(), "the lingering SA expired");
}

#[test]
fn wrong_peer_identity_is_an_authentication_failure() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(1);
    a.local_id = ike::wire::Identity::Fqdn("intruder".into());
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(
        failures(&net.ev_b),
        vec![FailureReason::AuthenticationFailed(RejectedBy::Us)]
    );
    assert_eq!(
        failures(&net.ev_a),
        vec![FailureReason::AuthenticationFailed(RejectedBy::Peer)]
    );
}

#[test]
fn no_proposal_chosen() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(1);
    a.ike_proposals = vec![IkeProposal {
        encr: vec![Encr::AesGcm16_256],
        ..IkeProposal::default()
    }];
    b.ike_proposals = vec![IkeProposal {
        encr: vec![Encr::AesGcm16_128],
        ..IkeProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    // Unprotected: reported when A's retransmissions run out.
    net.run(Duration::from_secs(1));
    assert!(failures(&net.ev_a).is_empty());
    net.run(Duration::from_secs(61));
    assert_eq!(
        failures(&net.ev_a),
        vec![FailureReason::NoProposalChosen(RejectedBy::Peer)]
    );
    assert!(net.a.sas().is_empty() && net.b.sas().is_empty());
}

#[test]
fn unacceptable_selectors_keep_the_ike_sa() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(1);
    a.children.push(TsPair {
        local: vec![ts("10.9.0.0/16")],
        remote: vec![ts("10.8.0.0/16")],
    });
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(Net::children(&net.ev_a).len(), 1);
    let failed = |evs: &[Event]| {
        evs.iter()
            .filter_map(|e| match e {
                Event::ChildSaFailed { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        failed(&net.ev_a),
        vec![FailureReason::TsUnacceptable(RejectedBy::Peer)]
    );
    assert_eq!(
        failed(&net.ev_b),
        vec![FailureReason::TsUnacceptable(RejectedBy::Us)]
    );
    assert!(net.a.sas()[0].established && net.b.sas()[0].established);
}

/// A refused or deleted pair can be asked for again on the same IKE SA:
/// `create_child` sends a new CREATE_CHILD_SA for it, and refuses pairs
/// that have a Child SA or do not exist.
#[test]
fn create_child_asks_again_for_a_missing_pair() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(1);
    a.children.push(TsPair {
        local: vec![ts("10.9.0.0/16")],
        remote: vec![ts("10.8.0.0/16")],
    });
    net.b.add_peer(b);
    let sa = net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let refused = |evs: &[Event]| {
        evs.iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::ChildSaFailed {
                        pair_index: Some(1),
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(refused(&net.ev_a), 1);
    assert!(
        !net.a.create_child(net.now, sa, 0),
        "pair 0 has its Child SA"
    );
    assert!(!net.a.create_child(net.now, sa, 2), "there is no pair 2");
    // Pair 1 again: B still refuses it, and says so again.
    let sent = net.wire.len();
    assert!(net.a.create_child(net.now, sa, 1));
    net.run(Duration::from_secs(1));
    assert_eq!(net.wire.len(), sent + 2, "one CREATE_CHILD_SA round trip");
    assert_eq!(refused(&net.ev_a), 2);
    // Pair 0 deleted, then created again.
    let spi = Net::children(&net.ev_a)[0].spi_in;
    assert!(net.a.delete_child(net.now, spi));
    net.run(Duration::from_secs(1));
    assert!(net.a.create_child(net.now, sa, 0));
    net.run(Duration::from_secs(1));
    let kids = Net::children(&net.ev_a);
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1].pair_index, 0);
    assert_ne!(kids[1].spi_in, spi);
    assert_eq!(net.a.sas()[0].child_sas, 1);
}

#[test]
fn lost_ike_auth_request_is_retransmitted() {
    let mut net = Net::default_pair();
    let (a, b) = peers(1);
    net.b.add_peer(b);
    let mut lost = false;
    net.deliver = Box::new(move |dir, t| {
        let auth = exchange_of(&t.payload) == ExchangeType::IKE_AUTH;
        if dir == Dir::AtoB && auth && !lost {
            lost = true;
            return false;
        }
        true
    });
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(10));
    assert_eq!(net.a.stats().retransmissions, 1);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (1, 1));
    assert_mirrored(ca[0], cb[0]);
    // The retransmission went out 500 ms after the original.
    let auth_times: Vec<Duration> = net
        .wire
        .iter()
        .filter(|(_, d, p)| *d == Dir::AtoB && exchange_of(p) == ExchangeType::IKE_AUTH)
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(auth_times, vec![Duration::ZERO, Duration::from_millis(500)]);
}

#[test]
fn lost_response_is_answered_from_the_cache() {
    let mut net = Net::default_pair();
    let (a, b) = peers(2);
    net.b.add_peer(b);
    let mut lost = 0;
    net.deliver = Box::new(move |dir, t| {
        let x = exchange_of(&t.payload);
        // Lose B's first IKE_SA_INIT and first CREATE_CHILD_SA responses.
        if dir == Dir::BtoA
            && (x == ExchangeType::IKE_SA_INIT && lost == 0
                || x == ExchangeType::CREATE_CHILD_SA && lost == 1)
        {
            lost += 1;
            return false;
        }
        true
    });
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(10));
    assert_eq!(net.b.stats().responses_resent, 2);
    assert_eq!(net.a.stats().retransmissions, 2);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2), "no duplicate Child SA on B");
    assert_mirrored(ca[1], cb[1]);
    assert_eq!(net.b.sas().len(), 1);
}

#[test]
fn silent_responder_times_out_at_the_documented_instant() {
    let mut net = Net::default_pair();
    let (a, _) = peers(1);
    net.deliver = Box::new(|_, _| false);
    let sa = net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(600));
    // Default schedule: sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s and
    // the timeout at exactly 60 s.
    let sent: Vec<u128> = net.wire.iter().map(|(t, _, _)| t.as_millis()).collect();
    assert_eq!(sent, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(
        net.ev_a,
        vec![Event::IkeSaFailed {
            sa,
            peer: "to-b".into(),
            reason: FailureReason::Timeout
        }]
    );
    assert_eq!(net.elapsed(), Duration::from_secs(60));
    assert!(net.a.sas().is_empty());
    assert!(net.a.poll_timeout().is_none());
}

#[test]
fn custom_backoff_schedule() {
    let cfg = EndpointConfig {
        retransmit: ike::RetransmitConfig {
            initial: Duration::from_secs(1),
            multiplier: 3,
            max_interval: Duration::from_secs(5),
            total: Duration::from_secs(12),
        },
        ..EndpointConfig::default()
    };
    let mut net = Net::new(cfg, EndpointConfig::default());
    let (a, _) = peers(1);
    net.deliver = Box::new(|_, _| false);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(600));
    let sent: Vec<u64> = net.wire.iter().map(|(t, _, _)| t.as_secs()).collect();
    // intervals 1, 3, 5 (capped), 5 ...: sends at 0, 1, 4, 9; fail at 12.
    assert_eq!(sent, vec![0, 1, 4, 9]);
    assert_eq!(failures(&net.ev_a), vec![FailureReason::Timeout]);
    assert_eq!(net.elapsed(), Duration::from_secs(12));
}

#[test]
fn half_open_responder_sa_expires() {
    let mut net = Net::default_pair();
    let (a, b) = peers(1);
    net.b.add_peer(b);
    // IKE_AUTH never reaches B.
    net.deliver =
        Box::new(|dir, t| !(dir == Dir::AtoB && exchange_of(&t.payload) == ExchangeType::IKE_AUTH));
    net.a.initiate(net.now, a).unwrap();
    net.pump();
    assert_eq!(net.b.sas().len(), 1);
    net.run(Duration::from_secs(29));
    assert_eq!(net.b.sas().len(), 1);
    net.run(Duration::from_secs(31));
    assert!(net.b.sas().is_empty(), "half-open SA dropped after 30 s");
    assert!(matches!(
        net.ev_b.as_slice(),
        [Event::IkeSaFailed { peer, reason: FailureReason::HalfOpenExpired, .. }] if peer == "to-a"
    ));
}

#[test]
fn delete_from_the_initiator_closes_both_sides() {
    let mut net = Net::default_pair();
    let (a, b) = peers(2);
    net.b.add_peer(b);
    let sa = net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    net.ev_a.clear();
    net.ev_b.clear();
    net.a.close(net.now, sa);
    net.run(Duration::from_secs(2));
    for (evs, reason) in [
        (&net.ev_a, CloseReason::Local),
        (&net.ev_b, CloseReason::DeletedByPeer),
    ] {
        assert_eq!(
            Net::count(evs, |e| matches!(e, Event::ChildSaDeleted { .. })),
            2
        );
        assert!(matches!(evs.last(), Some(Event::IkeSaClosed { reason: r, .. }) if *r == reason));
    }
    assert!(net.a.sas().is_empty() && net.b.sas().is_empty());
}

/// Seen against libreswan 5.2 and 4.10 in the lab (run 28): libreswan was
/// slow to answer our IKE_SA_INIT, so we retransmitted it; it answered
/// every copy with INVALID_KE_PAYLOAD. The first answer made us retry in
/// the requested group, and the answers to the retransmitted copies then
/// failed the new attempt ("the peer insists on DH group 14, which we
/// cannot do"), costing a 1 s retry. An INVALID_KE naming the group we
/// already use answers an earlier request: it is ignored (RFC 7296
/// 2.21.1: keep going, take the first valid answer).
#[test]
fn invalid_ke_answers_to_retransmissions_are_ignored() {
    let cfg_b = EndpointConfig {
        strict_ke_group: true,
        ..EndpointConfig::default()
    };
    let mut net = Net::new(EndpointConfig::default(), cfg_b);
    let (a, mut b) = peers(1);
    b.ike_proposals = vec![IkeProposal {
        dh: vec![DhGroup::Curve25519, DhGroup::Ecp256],
        ..IkeProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    // A's first IKE_SA_INIT reaches B three times (two retransmissions);
    // B's three INVALID_KE answers all reach A.
    let first = net.a.poll_transmit().expect("IKE_SA_INIT");
    let mut answers = Vec::new();
    for _ in 0..3 {
        net.b
            .handle_datagram(net.now, first.remote, first.local, &first.payload);
        while let Some(t) = net.b.poll_transmit() {
            answers.push(t);
        }
    }
    assert_eq!(answers.len(), 3);
    for t in &answers {
        net.a
            .handle_datagram(net.now, t.remote, t.local, &t.payload);
    }
    net.collect();
    assert!(
        !net.ev_a
            .iter()
            .any(|e| matches!(e, Event::IkeSaFailed { .. })),
        "A failed: {:?}",
        net.ev_a
    );
    net.run(Duration::from_secs(1));
    let up = net
        .ev_a
        .iter()
        .find_map(|e| match e {
            Event::IkeSaEstablished(i) => Some(i.algorithms.dh),
            _ => None,
        })
        .unwrap_or_else(|| panic!("not established: {:?}", net.ev_a));
    assert_eq!(up, DhGroup::Curve25519);
}
