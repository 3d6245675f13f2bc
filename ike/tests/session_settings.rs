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
