//! Issue 14's settings between two in-process endpoints: proposal lists
//! restricted by strongSwan-style text (what is offered and what is
//! accepted).

#[path = "session_util.rs"]
mod util;

use std::time::Duration;

use ike::crypto::{DhGroup, Encr, Integ, Prf};
use ike::{parse_esp_proposals, parse_ike_proposals, FailureReason, RejectedBy};
use util::{assert_mirrored, child_failures, ike_failures, ike_up, peers, Net};

/// A responder restricted to `aes256-sha256-modp2048` / `aes256-sha384`
/// answers a default initiator (which offers AES-GCM and ECP first) with
/// exactly those.
#[test]
fn a_restricted_responder_chooses_within_its_list() {
    let mut net = Net::default_pair();
    let (a, mut b) = peers(2);
    b.ike_proposals = parse_ike_proposals("aes256-sha256-modp2048").unwrap();
    b.esp_proposals = parse_esp_proposals("aes256-sha384").unwrap();
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let (ia, ib) = (ike_up(&net.ev_a), ike_up(&net.ev_b));
    assert_eq!(ia.algorithms, ib.algorithms);
    assert_eq!(
        (
            ia.algorithms.encr,
            ia.algorithms.integ,
            ia.algorithms.prf,
            ia.algorithms.dh
        ),
        (
            Encr::AesCbc256,
            Some(Integ::HmacSha256_128),
            Prf::HmacSha256,
            DhGroup::Modp2048
        )
    );
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2));
    for (x, y) in ca.iter().zip(&cb) {
        assert_eq!(
            (x.encr, x.integ),
            (Encr::AesCbc256, Some(Integ::HmacSha384_192))
        );
        assert_mirrored(x, y);
    }
}

/// A restricted initiator offers nothing else: the default responder,
/// which prefers AES-GCM-256 and ECP-256, gets AES-GCM-128 with PRF
/// SHA2-384 and ECP-384, and AES-CBC-128 with SHA2-512 for ESP.
#[test]
fn a_restricted_initiator_offers_only_its_list() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(1);
    a.ike_proposals = parse_ike_proposals("aes128gcm16-prfsha384-ecp384").unwrap();
    a.esp_proposals = parse_esp_proposals("aes128-sha512").unwrap();
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let ib = ike_up(&net.ev_b);
    assert_eq!(
        (ib.algorithms.encr, ib.algorithms.prf, ib.algorithms.dh),
        (Encr::AesGcm16_128, Prf::HmacSha384, DhGroup::Ecp384)
    );
    let cb = Net::children(&net.ev_b);
    assert_eq!(cb.len(), 1);
    assert_eq!(
        (cb[0].encr, cb[0].integ),
        (Encr::AesCbc128, Some(Integ::HmacSha512_256))
    );
}

/// What lies outside a restricted responder's list is refused: an IKE
/// offer with NO_PROPOSAL_CHOSEN in IKE_SA_INIT, an ESP offer with
/// NO_PROPOSAL_CHOSEN for the Child SA.
#[test]
fn a_restricted_responder_refuses_what_is_outside_its_list() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(1);
    a.ike_proposals = parse_ike_proposals("aes256gcm16-prfsha256-ecp256").unwrap();
    b.ike_proposals =
        parse_ike_proposals("aes256-sha256-ecp256,aes256gcm16-prfsha384-ecp256").unwrap();
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(61));
    assert_eq!(
        ike_failures(&net.ev_a),
        vec![FailureReason::NoProposalChosen(RejectedBy::Peer)]
    );
    assert!(net.b.sas().is_empty());

    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(1);
    a.esp_proposals = parse_esp_proposals("aes256gcm16").unwrap();
    b.esp_proposals = parse_esp_proposals("aes256-sha256,aes128gcm16").unwrap();
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert!(Net::children(&net.ev_a).is_empty() && Net::children(&net.ev_b).is_empty());
    assert_eq!(
        child_failures(&net.ev_a),
        vec![FailureReason::NoProposalChosen(RejectedBy::Peer)]
    );
}

/// The PFS groups of the Child SAs A and B report, in order.
fn pfs_of(net: &Net) -> (Vec<Option<DhGroup>>, Vec<Option<DhGroup>>) {
    let pfs = |evs| Net::children(evs).iter().map(|c| c.pfs).collect();
    (pfs(&net.ev_a), pfs(&net.ev_b))
}

/// Issue 14: a responder that requires PFS refuses a CREATE_CHILD_SA
/// without KE, for a new pair and for a rekey, with NO_PROPOSAL_CHOSEN
/// (before: both accepted without PFS). The Child SA of IKE_AUTH is made
/// without KE as always.
#[test]
fn required_pfs_refuses_child_sas_without_ke() {
    let mut net = Net::default_pair();
    let (a, mut b) = peers(2);
    b.require_pfs = true;
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(pfs_of(&net), (vec![None], vec![None]), "IKE_AUTH's only");
    assert_eq!(
        child_failures(&net.ev_a),
        vec![FailureReason::NoProposalChosen(RejectedBy::Peer)],
        "the second pair, without KE"
    );
    let spi = Net::children(&net.ev_a)[0].spi_in;
    assert!(net.a.rekey_child(net.now, spi));
    net.run(Duration::from_secs(2));
    assert_eq!(Net::children(&net.ev_a).len(), 1, "the rekey was refused");
    assert_eq!(
        child_failures(&net.ev_a),
        vec![FailureReason::NoProposalChosen(RejectedBy::Peer); 2]
    );
    assert_eq!(
        child_failures(&net.ev_b),
        vec![FailureReason::NoProposalChosen(RejectedBy::Us); 2]
    );
}

/// Issue 14: with PFS required on both sides and no group in the ESP
/// proposals, every CREATE_CHILD_SA (the second pair, rekeys by either
/// side) carries KE in the IKE SA's group (before: none did).
#[test]
fn required_pfs_on_both_sides_puts_ke_in_every_create_child_sa() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(2);
    a.require_pfs = true;
    b.require_pfs = true;
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let group = ike_up(&net.ev_a).algorithms.dh;
    assert_eq!(group, DhGroup::Ecp256);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2));
    assert_mirrored(ca[1], cb[1]);
    let (spi_a, spi_b) = (ca[0].spi_in, cb[1].spi_in);
    assert!(net.a.rekey_child(net.now, spi_a));
    net.run(Duration::from_secs(2));
    assert!(net.b.rekey_child(net.now, spi_b));
    net.run(Duration::from_secs(3));
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (4, 4));
    for (x, y) in ca.iter().zip(&cb) {
        assert_mirrored(x, y);
    }
    let want = vec![None, Some(group), Some(group), Some(group)];
    assert_eq!(pfs_of(&net), (want.clone(), want));
    assert!(child_failures(&net.ev_a).is_empty() && child_failures(&net.ev_b).is_empty());
}

/// Following a peer's PFS stays within the IKE proposals' groups: a
/// responder restricted to ECP-256 with ESP proposals without groups
/// refuses a rekey with Curve25519 KE (before: taken, outside the list),
/// and takes one with ECP-256.
#[test]
fn following_the_peers_pfs_stays_within_the_ike_groups() {
    for (group, ok) in [(DhGroup::Curve25519, false), (DhGroup::Ecp256, true)] {
        let mut net = Net::default_pair();
        let (mut a, mut b) = peers(1);
        a.esp_proposals = vec![ike::EspProposal {
            dh: vec![group],
            ..ike::EspProposal::default()
        }];
        b.ike_proposals = parse_ike_proposals("aes256gcm16-prfsha256-ecp256").unwrap();
        net.b.add_peer(b);
        net.a.initiate(net.now, a).unwrap();
        net.run(Duration::from_secs(1));
        let spi = Net::children(&net.ev_a)[0].spi_in;
        assert!(net.a.rekey_child(net.now, spi));
        net.run(Duration::from_secs(2));
        let (pa, _) = pfs_of(&net);
        if ok {
            assert_eq!(pa, vec![None, Some(group)]);
        } else {
            assert_eq!(pa, vec![None], "{group:?}");
            assert_eq!(
                child_failures(&net.ev_b),
                vec![FailureReason::NoProposalChosen(RejectedBy::Us)]
            );
        }
    }
}

/// With PFS required and ESP proposals without groups, a rekey offers
/// every IKE group (the IKE SA's first), so a responder that wants another
/// group for its Child SAs asks for it with INVALID_KE_PAYLOAD and the
/// rekey goes through in that group (before: only the IKE SA's group was
/// offered and such a peer refused every rekey with NO_PROPOSAL_CHOSEN,
/// as strongSwan with `esp_proposals = aes256gcm16-ecp256` did in the lab
/// when the IKE SA used Curve25519).
#[test]
fn required_pfs_takes_the_group_the_peer_names() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(1);
    a.require_pfs = true;
    b.esp_proposals = vec![ike::EspProposal {
        dh: vec![DhGroup::Ecp384],
        ..ike::EspProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(ike_up(&net.ev_a).algorithms.dh, DhGroup::Ecp256);
    for round in 0..2 {
        let spi = Net::children(&net.ev_a).last().unwrap().spi_in;
        assert!(net.a.rekey_child(net.now, spi));
        net.run(Duration::from_secs(2 + round));
    }
    let (pa, pb) = pfs_of(&net);
    let want = vec![None, Some(DhGroup::Ecp384), Some(DhGroup::Ecp384)];
    assert_eq!((pa, pb), (want.clone(), want));
    assert!(
        child_failures(&net.ev_a).is_empty(),
        "{:?}",
        child_failures(&net.ev_a)
    );
}
