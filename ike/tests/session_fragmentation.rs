//! IKE fragmentation (RFC 7383) between two endpoints: announcement in
//! IKE_SA_INIT, IKE_AUTH and CREATE_CHILD_SA messages with long traffic
//! selector lists sent as Encrypted Fragment (SKF) messages within the
//! configured datagram size, reassembly despite reordering, duplicates,
//! loss and forged fragments, and whole messages for a peer that did not
//! announce support.

#[path = "session_util.rs"]
mod util;

use std::time::Duration;

use ike::wire::{EncryptedView, ExchangeType, Header, Message, NotifyType, PayloadType};
use ike::{DropReason, EndpointConfig, Event, PeerConfig, Transmit, TsPair, DEFAULT_FRAGMENT_SIZE};
use util::{peers, ts, Dir, Net};

/// IPv4 + UDP + non-ESP marker: what a datagram adds to the IKE message.
const OVERHEAD: usize = 20 + 8 + 4;

/// A Child SA pair with `n` subnets on each side (A: 10.1.i.0/24, B:
/// 10.2.i.0/24 with i from `from`): 16 bytes of selector per subnet and
/// side, so 100 subnets make an IKE_AUTH of more than 3 KB.
fn big_pairs(a: &mut PeerConfig, b: &mut PeerConfig, from: usize, n: usize) {
    let la: Vec<_> = (from..from + n)
        .map(|i| ts(&format!("10.1.{}.{}/32", i / 256, i % 256)))
        .collect();
    let lb: Vec<_> = (from..from + n)
        .map(|i| ts(&format!("10.2.{}.{}/32", i / 256, i % 256)))
        .collect();
    a.children.push(TsPair {
        local: la.clone(),
        remote: lb.clone(),
    });
    b.children.push(TsPair {
        local: lb,
        remote: la,
    });
}

fn header(d: &[u8]) -> Header {
    Header::decode_datagram(d).unwrap()
}

fn is_skf(d: &[u8]) -> bool {
    header(d).next_payload == PayloadType::SKF
}

/// (number, total) of an SKF datagram.
fn frag_info(d: &[u8]) -> (u16, u16) {
    let f = EncryptedView::parse(d).unwrap().fragment.unwrap();
    (f.number, f.total)
}

/// Datagrams on the wire of `exchange` in direction `dir`.
fn on_wire(net: &Net, dir: Dir, exchange: ExchangeType) -> Vec<Vec<u8>> {
    net.wire
        .iter()
        .filter(|(_, d, p)| *d == dir && p.len() >= 28 && header(p).exchange == exchange)
        .map(|(_, _, p)| p.clone())
        .collect()
}

fn announces(d: &[u8]) -> bool {
    Message::decode(d)
        .unwrap()
        .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
        .is_some()
}

fn established(events: &[Event]) -> usize {
    Net::count(events, |e| matches!(e, Event::IkeSaEstablished(_)))
}

/// Checks that `datagrams` are the fragments 1..=n (n > 1) of one message,
/// each within the default datagram size.
fn assert_fragments(datagrams: &[Vec<u8>]) -> usize {
    assert!(datagrams.len() > 1, "not fragmented");
    let mid = header(&datagrams[0]).message_id;
    let total = datagrams.len() as u16;
    for (i, d) in datagrams.iter().enumerate() {
        assert!(is_skf(d), "datagram {i} is not an SKF fragment");
        assert_eq!(header(d).message_id, mid);
        assert_eq!(frag_info(d), (i as u16 + 1, total));
        assert!(
            d.len() + OVERHEAD <= DEFAULT_FRAGMENT_SIZE,
            "fragment of {} bytes exceeds the datagram size",
            d.len()
        );
    }
    datagrams.len()
}

/// (a) A 100-subnet IKE_AUTH: both sides announce support, the request
/// and the response each go out as several SKF fragments of at most 1280
/// bytes per IP datagram, and both ends establish the IKE SA and a Child
/// SA with all 100 selectors each way.
#[test]
fn large_ike_auth_is_fragmented_both_ways() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(0);
    big_pairs(&mut a, &mut b, 0, 100);
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(5));

    let init_req = on_wire(&net, Dir::AtoB, ExchangeType::IKE_SA_INIT);
    let init_resp = on_wire(&net, Dir::BtoA, ExchangeType::IKE_SA_INIT);
    assert!(announces(&init_req[0]) && announces(&init_resp[0]));
    let req = on_wire(&net, Dir::AtoB, ExchangeType::IKE_AUTH);
    let resp = on_wire(&net, Dir::BtoA, ExchangeType::IKE_AUTH);
    let nreq = assert_fragments(&req);
    let nresp = assert_fragments(&resp);
    assert!(nreq >= 3, "a 3 KB request in {nreq} fragments");

    assert_eq!(established(&net.ev_a), 1);
    assert_eq!(established(&net.ev_b), 1);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (1, 1));
    assert_eq!(ca[0].ts_local.len(), 100);
    assert_eq!(ca[0].ts_remote.len(), 100);
    util::assert_mirrored(ca[0], cb[0]);

    assert_eq!(net.a.stats().fragments_sent, nreq as u64);
    assert_eq!(net.b.stats().fragments_sent, nresp as u64);
    assert_eq!(net.b.stats().messages_reassembled, 1);
    assert_eq!(net.a.stats().messages_reassembled, 1);
    assert_eq!(net.a.stats().retransmissions, 0);
    assert_eq!(
        net.a.stats().dropped_total() + net.b.stats().dropped_total(),
        0
    );
}

fn drain(ep: &mut ike::Endpoint) -> Vec<Transmit> {
    std::iter::from_fn(|| ep.poll_transmit()).collect()
}

/// Sets up A (initiator) and B for a large IKE_AUTH and delivers the
/// IKE_SA_INIT exchange: returns the net and A's IKE_AUTH fragments.
fn after_init(cfg_b: EndpointConfig) -> (Net, Vec<Transmit>) {
    let mut net = Net::new(EndpointConfig::default(), cfg_b);
    let (mut a, mut b) = peers(0);
    big_pairs(&mut a, &mut b, 0, 150);
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    let now = net.now;
    for t in drain(&mut net.a) {
        net.b.handle_datagram(now, t.remote, t.local, &t.payload);
    }
    for t in drain(&mut net.b) {
        net.a.handle_datagram(now, t.remote, t.local, &t.payload);
    }
    let frags = drain(&mut net.a);
    let bytes: Vec<Vec<u8>> = frags.iter().map(|t| t.payload.clone()).collect();
    assert!(assert_fragments(&bytes) >= 4);
    (net, frags)
}

fn to_b(net: &mut Net, t: &Transmit) {
    net.b
        .handle_datagram(net.now, t.remote, t.local, &t.payload);
}

fn to_a(net: &mut Net, t: &Transmit) {
    net.a
        .handle_datagram(net.now, t.remote, t.local, &t.payload);
}

/// (b) The request's fragments arrive in reverse order, one twice and
/// the first lost: B waits (no answer). A's retransmission resends every
/// fragment; delivered shuffled, it completes the request. B's fragmented
/// response reaches A reversed and duplicated, and A establishes. A later
/// retransmission of the whole request gets the cached response (every
/// fragment) exactly once, on fragment 1.
#[test]
fn fragments_out_of_order_duplicated_and_lost_still_establish() {
    let (mut net, frags) = after_init(EndpointConfig::default());
    let n = frags.len();
    for i in (1..n).rev() {
        to_b(&mut net, &frags[i]);
        if i == 2 {
            to_b(&mut net, &frags[i]);
        }
    }
    assert!(
        drain(&mut net.b).is_empty(),
        "B answered an incomplete request"
    );
    assert_eq!(net.b.stats().fragments_received, n as u64);
    assert_eq!(net.b.stats().messages_reassembled, 0);

    // A retransmits every fragment, unchanged.
    net.now = net.a.poll_timeout().unwrap();
    net.a.handle_timeout(net.now);
    let retx = drain(&mut net.a);
    assert_eq!(retx, frags, "the retransmission is not all fragments");
    for i in [2, 0, n - 1, 1] {
        to_b(&mut net, &retx[i]);
    }
    assert_eq!(net.b.stats().messages_reassembled, 1);
    let resp = drain(&mut net.b);
    let rbytes: Vec<Vec<u8>> = resp.iter().map(|t| t.payload.clone()).collect();
    let m = assert_fragments(&rbytes);
    for t in resp.iter().rev() {
        to_a(&mut net, t);
        to_a(&mut net, t);
    }
    net.collect();
    assert_eq!(established(&net.ev_a), 1);
    assert_eq!(established(&net.ev_b), 1);
    assert_eq!(Net::children(&net.ev_a).len(), 1);
    assert_eq!(net.a.stats().messages_reassembled, 1);

    // The request retransmitted again (B's answer was "lost"): B resends
    // its cached response once, not once per fragment.
    for t in retx.iter().rev() {
        to_b(&mut net, t);
    }
    let again = drain(&mut net.b);
    assert_eq!(again.len(), m);
    assert_eq!(again, resp);
    assert_eq!(net.b.stats().responses_resent, 1);
    net.collect();
    assert_eq!(established(&net.ev_b), 1);
}

/// (c) A peer that does not announce IKEV2_FRAGMENTATION_SUPPORTED (here:
/// fragmentation turned off on one side, either side) gets no fragments:
/// the 3 KB IKE_AUTH goes out whole, as before, and both establish.
#[test]
fn peer_without_fragmentation_gets_whole_messages() {
    for off_on_a in [false, true] {
        let off = EndpointConfig {
            fragmentation: false,
            ..EndpointConfig::default()
        };
        let mut net = if off_on_a {
            Net::new(off, EndpointConfig::default())
        } else {
            Net::new(EndpointConfig::default(), off)
        };
        let (mut a, mut b) = peers(0);
        big_pairs(&mut a, &mut b, 0, 100);
        net.b.add_peer(b);
        net.a.initiate(net.now, a).unwrap();
        net.run(Duration::from_secs(5));

        let init_req = on_wire(&net, Dir::AtoB, ExchangeType::IKE_SA_INIT);
        let init_resp = on_wire(&net, Dir::BtoA, ExchangeType::IKE_SA_INIT);
        assert_eq!(announces(&init_req[0]), !off_on_a);
        assert!(!announces(&init_resp[0]));
        assert!(net.wire.iter().all(|(_, _, d)| d.len() < 28 || !is_skf(d)));
        let req = on_wire(&net, Dir::AtoB, ExchangeType::IKE_AUTH);
        assert_eq!(req.len(), 1);
        assert!(req[0].len() + OVERHEAD > DEFAULT_FRAGMENT_SIZE);
        assert_eq!(on_wire(&net, Dir::BtoA, ExchangeType::IKE_AUTH).len(), 1);
        assert_eq!(established(&net.ev_a), 1);
        assert_eq!(established(&net.ev_b), 1);
        assert_eq!(
            net.a.stats().fragments_sent + net.b.stats().fragments_sent,
            0
        );
    }
}

/// (d) Forged and garbled fragments between the real ones are dropped and
/// counted, never answered: a flipped ciphertext byte and a changed total
/// and an SKF with nothing after its header (all fail the ICV), fragment
/// numbers 0 and above the total (refused as fragments), an unknown
/// message ID (out of window). The real request still completes.
#[test]
fn forged_fragments_are_dropped_and_counted() {
    let (mut net, frags) = after_init(EndpointConfig::default());
    let n = frags.len() as u16;
    let forge = |i: usize, f: &dyn Fn(&mut Vec<u8>)| {
        let mut t = frags[i].clone();
        f(&mut t.payload);
        t
    };
    let bad_icv = forge(1, &|d| *d.last_mut().unwrap() ^= 1);
    let bad_total = forge(1, &|d| d[34..36].copy_from_slice(&(n + 1).to_be_bytes()));
    let number_zero = forge(1, &|d| d[32..34].copy_from_slice(&0u16.to_be_bytes()));
    let number_above = forge(1, &|d| d[32..34].copy_from_slice(&(n + 1).to_be_bytes()));
    let other_mid = forge(1, &|d| d[20..24].copy_from_slice(&7u32.to_be_bytes()));
    let empty = forge(1, &|d| {
        d.truncate(36);
        d[24..28].copy_from_slice(&36u32.to_be_bytes());
        d[30..32].copy_from_slice(&8u16.to_be_bytes());
    });
    let forged = [
        (bad_icv, DropReason::IntegrityCheckFailed),
        (bad_total, DropReason::IntegrityCheckFailed),
        (number_zero, DropReason::Fragment),
        (number_above, DropReason::Fragment),
        (empty, DropReason::IntegrityCheckFailed),
        (other_mid, DropReason::OutOfWindow),
    ];
    for (i, (f, reason)) in forged.iter().enumerate() {
        let before = net.b.stats().dropped.get(reason).copied().unwrap_or(0);
        to_b(&mut net, f);
        let after = net.b.stats().dropped.get(reason).copied().unwrap_or(0);
        assert_eq!(after, before + 1, "forgery {i} not counted as {reason:?}");
        if i + 1 < frags.len() {
            to_b(&mut net, &frags[i]);
        }
    }
    assert!(
        drain(&mut net.b).is_empty(),
        "B answered before the last fragment"
    );
    for real in frags.iter().skip(forged.len().min(frags.len() - 1)) {
        to_b(&mut net, real);
    }
    assert_eq!(net.b.stats().dropped_total(), forged.len() as u64);
    for t in drain(&mut net.b) {
        to_a(&mut net, &t);
    }
    net.collect();
    assert_eq!(established(&net.ev_a), 1);
    assert_eq!(established(&net.ev_b), 1);
}

/// (d) Limits: a receiver allowing fewer fragments than the request has
/// refuses them (counted, nothing held or answered), and the initiator
/// finally times out.
#[test]
fn fragments_beyond_the_reassembly_limits_are_refused() {
    let small = EndpointConfig {
        reassembly: ike::wire::ReassemblyLimits {
            max_fragments: 2,
            max_bytes: 64 * 1024,
        },
        ..EndpointConfig::default()
    };
    let (mut net, frags) = after_init(small);
    for t in &frags {
        to_b(&mut net, t);
    }
    assert!(drain(&mut net.b).is_empty());
    assert_eq!(
        net.b.stats().dropped.get(&DropReason::Fragment),
        Some(&(frags.len() as u64))
    );
    net.run(Duration::from_secs(120));
    assert_eq!(established(&net.ev_a), 0);
    assert!(net
        .ev_a
        .iter()
        .any(|e| matches!(e, Event::IkeSaFailed { .. })));
}

/// (e) A second Child SA with 100 subnets each way: its CREATE_CHILD_SA
/// request and response are fragmented too, and both Child SAs come up
/// on both sides with all selectors.
#[test]
fn large_create_child_sa_is_fragmented() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(1);
    big_pairs(&mut a, &mut b, 1000, 100);
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(5));

    assert_eq!(on_wire(&net, Dir::AtoB, ExchangeType::IKE_AUTH).len(), 1);
    let req = on_wire(&net, Dir::AtoB, ExchangeType::CREATE_CHILD_SA);
    let resp = on_wire(&net, Dir::BtoA, ExchangeType::CREATE_CHILD_SA);
    assert!(assert_fragments(&req) >= 3);
    assert_fragments(&resp);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2));
    assert_eq!(ca[1].ts_local.len(), 100);
    util::assert_mirrored(ca[1], cb[1]);
    assert_eq!(
        net.a.stats().dropped_total() + net.b.stats().dropped_total(),
        0
    );
}

/// (b) A half-received request is dropped when its reassembly times out
/// (B's timer fires for it, well before the half-open timeout): the
/// missing fragment alone then completes nothing, and A's retransmission
/// of every fragment establishes the SA.
#[test]
fn incomplete_reassembly_times_out() {
    let cfg_b = EndpointConfig {
        reassembly_timeout: Duration::from_millis(300),
        ..EndpointConfig::default()
    };
    let (mut net, frags) = after_init(cfg_b);
    let n = frags.len();
    for t in &frags[1..] {
        to_b(&mut net, t);
    }
    let deadline = net.b.poll_timeout().unwrap();
    assert_eq!(deadline, net.t0 + Duration::from_millis(300));
    net.now = deadline;
    net.b.handle_timeout(net.now);
    to_b(&mut net, &frags[0]);
    assert!(
        drain(&mut net.b).is_empty(),
        "completed with expired fragments"
    );
    assert_eq!(net.b.stats().fragments_received, n as u64);
    assert_eq!(net.b.stats().messages_reassembled, 0);
    net.run(Duration::from_secs(5));
    assert_eq!(established(&net.ev_a), 1);
    assert_eq!(established(&net.ev_b), 1);
    assert_eq!(net.b.stats().messages_reassembled, 1);
}

/// Found while testing the reassembly limits: a traffic selector payload
/// holds at most 255 selectors (a one-byte count). A peer configured with
/// more in one pair could not be encoded, and the request was silently not
/// sent: the IKE SA waited forever with no event. Now IKE_AUTH fails the
/// IKE SA, and a later Child SA fails on its own.
#[test]
fn a_request_that_cannot_be_encoded_fails_with_an_event() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(0);
    big_pairs(&mut a, &mut b, 0, 300);
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert!(
        net.ev_a
            .iter()
            .any(|e| matches!(e, Event::IkeSaFailed { .. })),
        "{:?}",
        net.ev_a
    );
    assert!(net.a.sas().is_empty(), "{:?}", net.a.sas());

    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(1);
    big_pairs(&mut a, &mut b, 1000, 300);
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(established(&net.ev_a), 1);
    assert!(
        net.ev_a.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed {
                pair_index: Some(1),
                ..
            }
        )),
        "{:?}",
        net.ev_a
    );
}
