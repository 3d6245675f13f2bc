//! Establishing IKE SAs and Child SAs between two in-process endpoints,
//! through the public API only, with a fake clock.

#[path = "session_util.rs"]
mod util;

use std::time::Duration;

use ike::crypto::{DhGroup, Encr, Integ, Prf};
use ike::{Encapsulation, EndpointConfig, EspProposal, Event, IkeProposal, TsPair};
use util::{assert_mirrored, ike_up, peers, ts, Net};

fn establish(n: usize) -> Net {
    let mut net = Net::default_pair();
    let (a, b) = peers(n);
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    net
}

#[test]
fn ike_sa_and_first_child_sa() {
    let net = establish(1);
    let up = |evs: &[Event]| {
        evs.iter()
            .find_map(|e| match e {
                Event::IkeSaEstablished(i) => Some(i.clone()),
                _ => None,
            })
            .expect("IKE SA established")
    };
    let (ia, ib) = (up(&net.ev_a), up(&net.ev_b));
    assert!(ia.initiator && !ib.initiator);
    assert_eq!((ia.spi_i, ia.spi_r), (ib.spi_i, ib.spi_r));
    assert_eq!(ia.algorithms, ib.algorithms);
    assert_eq!(ia.algorithms.encr, Encr::AesGcm16_256);
    assert_eq!(ia.algorithms.dh, DhGroup::Ecp256);
    assert!(!ia.nat_local && !ia.nat_remote && !ib.nat_local && !ib.nat_remote);
    assert_eq!(ia.remote, net.b_addr);
    assert_eq!(ib.remote, net.a_addr);
    assert_eq!(ia.peer, "to-b");
    assert_eq!(ib.peer, "to-a");

    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (1, 1));
    assert_mirrored(ca[0], cb[0]);
    assert!(ca[0].initiated_locally && !cb[0].initiated_locally);
    assert_eq!(ca[0].ts_local, vec![ts("10.1.0.0/24")]);
    assert_eq!(ca[0].ts_remote, vec![ts("10.2.0.0/24")]);
    assert_eq!(ca[0].encapsulation, Encapsulation::None);
    assert!(ca[0].esn, "ESN is our first preference");
    assert_eq!(ca[0].key_bits(), 256);
    assert_ne!(ca[0].child.0, 0);
    // Nothing else happened: four messages, no failure.
    assert_eq!(net.wire.len(), 4);
    assert_eq!(net.ev_a.len(), 2);
    assert_eq!(net.ev_b.len(), 2);
    assert_eq!(
        net.a.stats().dropped_total() + net.b.stats().dropped_total(),
        0
    );
    // Only the liveness check is pending: 30 s after the last message.
    let dpd = Some(net.t0 + Duration::from_secs(30));
    assert_eq!((net.a.poll_timeout(), net.b.poll_timeout()), (dpd, dpd));
}

#[test]
fn secrets_are_not_in_debug_output() {
    let net = establish(1);
    let c = Net::children(&net.ev_a)[0];
    let text = format!("{:?} {:?}", net.ev_a, net.ev_b);
    let hex: String = c
        .key_out
        .expose()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dec = format!("{:?}", c.key_out.expose());
    assert!(!text.contains(&hex) && !text.contains(&dec));
    let (pa, _) = peers(1);
    assert!(!format!("{pa:?}").contains("c3VibWFy"));
}

#[test]
fn three_more_child_sas_via_create_child_sa() {
    let net = establish(4);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (4, 4));
    for (i, (x, y)) in ca.iter().zip(&cb).enumerate() {
        assert_eq!(x.pair_index, i);
        assert_eq!(y.pair_index, i);
        assert_mirrored(x, y);
        assert_eq!(x.ts_local, vec![ts(&format!("10.1.{i}.0/24"))]);
        assert_eq!(x.ts_remote, vec![ts(&format!("10.2.{i}.0/24"))]);
    }
    let mut spis: Vec<u32> = ca.iter().flat_map(|c| [c.spi_in, c.spi_out]).collect();
    spis.sort();
    spis.dedup();
    assert_eq!(spis.len(), 8, "every SPI distinct");
    let mut keys: Vec<Vec<u8>> = ca.iter().map(|c| c.key_in.expose().to_vec()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 4, "every Child SA has its own keys");
    let mut ids: Vec<u32> = ca.iter().map(|c| c.child.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    // IKE_SA_INIT, IKE_AUTH and three CREATE_CHILD_SA exchanges.
    assert_eq!(net.wire.len(), 10);
    assert_eq!(net.a.sas()[0].child_sas, 4);
    assert_eq!(net.b.sas()[0].child_sas, 4);
}

#[test]
fn child_sas_with_pfs_in_create_child_sa() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(2);
    let pfs = EspProposal {
        dh: vec![DhGroup::Curve25519],
        ..EspProposal::default()
    };
    a.esp_proposals = vec![pfs.clone()];
    b.esp_proposals = vec![pfs];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2));
    assert_eq!(ca[0].pfs, None, "IKE_AUTH children carry no KE");
    assert_eq!(ca[1].pfs, Some(DhGroup::Curve25519));
    assert_eq!(cb[1].pfs, Some(DhGroup::Curve25519));
    assert_mirrored(ca[1], cb[1]);
}

#[test]
fn libreswan_style_esp_proposal_without_esn_transform() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(2);
    // An offer with no ESN transform at all, as libreswan 4.10 sends.
    a.esp_proposals = vec![EspProposal {
        encr: vec![Encr::AesGcm16_128],
        integ: vec![],
        esn: vec![],
        dh: vec![],
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2));
    for (x, y) in ca.iter().zip(&cb) {
        assert!(!x.esn && !y.esn);
        assert_eq!(x.encr, Encr::AesGcm16_128);
        assert_mirrored(x, y);
    }
}

#[test]
fn traffic_selectors_are_narrowed_by_the_responder() {
    let mut net = Net::default_pair();
    let (mut a, mut b) = peers(0);
    // A asks for all of 10.0.0.0/8 on its side and 172.16.0.0/12 on B's;
    // B's policy only allows 10.1.0.0/16 <-> 172.17.1.0/24.
    a.children.push(TsPair {
        local: vec![ts("10.0.0.0/8")],
        remote: vec![ts("172.16.0.0/12")],
    });
    b.children.push(TsPair {
        local: vec![ts("172.17.1.0/24")],
        remote: vec![ts("10.1.0.0/16")],
    });
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (1, 1));
    assert_eq!(ca[0].ts_local, vec![ts("10.1.0.0/16")]);
    assert_eq!(ca[0].ts_remote, vec![ts("172.17.1.0/24")]);
    assert_mirrored(ca[0], cb[0]);
}

#[test]
fn forced_encapsulation_makes_both_sides_use_udp() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(1);
    a.force_encapsulation = true;
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let nat = |evs: &[Event]| {
        evs.iter()
            .find_map(|e| match e {
                Event::IkeSaEstablished(i) => Some((i.nat_local, i.nat_remote)),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(nat(&net.ev_a), (true, false));
    assert_eq!(
        nat(&net.ev_b),
        (false, true),
        "B believes A is behind a NAT"
    );
    let udp = Encapsulation::Udp {
        local_port: 4500,
        remote_port: 4500,
    };
    assert_eq!(Net::children(&net.ev_a)[0].encapsulation, udp);
    assert_eq!(Net::children(&net.ev_b)[0].encapsulation, udp);
}

#[test]
fn a_real_nat_is_detected_on_both_sides() {
    // A sends from 192.0.2.1:4500 but B sees 203.0.113.9:31000 (a NAT).
    let mut net = Net::default_pair();
    let (a, mut b) = peers(1);
    b.remote = None; // a server accepting the peer from anywhere
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    let nat_addr = util::addr("203.0.113.9:31000");
    for _ in 0..4 {
        while let Some(t) = net.a.poll_transmit() {
            net.b
                .handle_datagram(net.now, t.remote, nat_addr, &t.payload);
        }
        while let Some(t) = net.b.poll_transmit() {
            assert_eq!(t.remote, nat_addr);
            net.a
                .handle_datagram(net.now, t.remote, t.local, &t.payload);
        }
    }
    net.collect();
    let info = |evs: &[Event]| {
        evs.iter()
            .find_map(|e| match e {
                Event::IkeSaEstablished(i) => Some(i.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (ia, ib) = (info(&net.ev_a), info(&net.ev_b));
    assert_eq!((ia.nat_local, ia.nat_remote), (true, false));
    assert_eq!((ib.nat_local, ib.nat_remote), (false, true));
    assert_eq!(ib.remote, nat_addr);
    let cb = Net::children(&net.ev_b);
    assert_eq!(
        cb[0].encapsulation,
        Encapsulation::Udp {
            local_port: 4500,
            remote_port: 31000
        }
    );
    let _ = EndpointConfig::default();
}

/// Issue 10, fault 3: after establishment the NAT in front of A drops its
/// mapping and makes a new one (new source port). B (A is behind a NAT in
/// B's view) follows A's new port on the first authenticated request and
/// says so (`PeerAddressChanged`, for the kernel's ESP); A, which is the
/// side behind the NAT, never follows B's address (RFC 7296 2.23), and
/// nothing was reported before.
#[test]
fn nat_remap_is_followed_only_towards_the_peer_behind_the_nat() {
    let mut net = Net::default_pair();
    let (a, mut b) = peers(1);
    b.remote = None;
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    let first = util::addr("203.0.113.9:31000");
    let second = util::addr("203.0.113.9:32000");
    let exchange = |net: &mut Net, a_seen_as, b_seen_as| {
        for _ in 0..4 {
            while let Some(t) = net.a.poll_transmit() {
                net.b
                    .handle_datagram(net.now, t.remote, a_seen_as, &t.payload);
            }
            while let Some(t) = net.b.poll_transmit() {
                assert_eq!(t.remote, a_seen_as, "B answers where A is now");
                net.a
                    .handle_datagram(net.now, t.remote, b_seen_as, &t.payload);
            }
        }
        net.collect();
    };
    let b_addr = util::addr("198.51.100.2:4500");
    exchange(&mut net, first, b_addr);
    let spi = Net::children(&net.ev_a)[0].spi_in;
    let moved = |evs: &[Event]| {
        evs.iter()
            .filter_map(|e| match e {
                Event::PeerAddressChanged { old, new, .. } => Some((*old, *new)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(moved(&net.ev_b).is_empty());
    // A's NAT remaps; A rekeys its Child SA from the new port, and B's
    // answers reach A from another address of B's (which A must ignore).
    assert!(net.a.rekey_child(net.now, spi));
    let b_elsewhere = util::addr("198.51.100.2:4501");
    exchange(&mut net, second, b_elsewhere);
    assert_eq!(moved(&net.ev_b), vec![(first, second)]);
    assert!(moved(&net.ev_a).is_empty(), "A is the one behind the NAT");
    let sa_a = net.a.sas();
    assert_eq!(sa_a[0].remote, b_addr, "A keeps B's address");
    let sa_b = net.b.sas();
    assert_eq!(sa_b[0].remote, second);
}

/// A peer's own liveness interval (libreswan's per-connection `dpddelay`,
/// which the drop-in mode passes through) takes the place of the
/// endpoint's for that peer's SAs only.
#[test]
fn a_peers_own_dpd_delay_wins() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(1);
    a.dpd_delay = Some(Duration::from_secs(5));
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(Net::children(&net.ev_a).len(), 1);
    assert_eq!(net.a.poll_timeout(), Some(net.t0 + Duration::from_secs(5)));
    assert_eq!(net.b.poll_timeout(), Some(net.t0 + Duration::from_secs(30)));
}

/// Issue 13, item 9: PFS on rekey follows the peer. B requires PFS (as
/// strongSwan with `esp_proposals = aes256gcm16-ecp256`: a group and no
/// NONE) and rekeys its Child SA; A has no groups of its own (the engine's
/// default). Before, A refused B's rekey with NO_PROPOSAL_CHOSEN (and its
/// own rekeys offered no KE, so PFS was dropped); now A answers with a KE
/// in B's group, and A's own rekeys of B's Child SAs carry KE too.
#[test]
fn pfs_on_rekey_follows_the_peer() {
    let mut net = Net::default_pair();
    let (a, mut b) = peers(1);
    b.esp_proposals = vec![EspProposal {
        dh: vec![DhGroup::Ecp256],
        ..EspProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let spi = Net::children(&net.ev_b)[0].spi_in;
    assert!(net.b.rekey_child(net.now, spi));
    net.run(Duration::from_secs(2));
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2), "B's rekey with PFS failed");
    assert_eq!(ca[1].pfs, Some(DhGroup::Ecp256));
    assert_mirrored(ca[1], cb[1]);
    let spi = ca[1].spi_in;
    assert!(net.a.rekey_child(net.now, spi));
    net.run(Duration::from_secs(3));
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (3, 3), "A's rekey failed");
    assert_eq!(ca[2].pfs, Some(DhGroup::Ecp256), "A's rekey dropped PFS");
    assert_mirrored(ca[2], cb[2]);
}

/// Issue 13, item 11: inbound SPIs come from those the owner reserved in
/// the kernel (XFRM_MSG_ALLOCSPI) for the SA's local address, oldest
/// first, both as initiator (IKE_AUTH, CREATE_CHILD_SA) and responder;
/// stale or exhausted reservations fall back to random SPIs, counted.
#[test]
fn inbound_spis_come_from_the_reserved_pool() {
    let mut net = Net::default_pair();
    let (a, b) = peers(3);
    let a_ip = net.a_addr.ip();
    let b_ip = net.b_addr.ip();
    let now = net.now;
    // A: two fresh ones, after one that will be stale when used.
    net.a.supply_esp_spis(a_ip, now, &[0xc000_0001]);
    net.now += ike::SPI_POOL_MAX_AGE;
    let now = net.now;
    net.a
        .supply_esp_spis(a_ip, now, &[0xc000_0002, 0xc000_0003]);
    // Another local address's reservations are not A's.
    net.a
        .supply_esp_spis("203.0.113.9".parse().unwrap(), now, &[0xc000_0009]);
    net.b
        .supply_esp_spis(b_ip, now, &[0xc000_0101, 0xc000_0102, 0xc000_0103]);
    assert_eq!(net.a.fresh_esp_spis(a_ip, now), 2, "the stale one is gone");
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1) + ike::SPI_POOL_MAX_AGE);
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (3, 3));
    let a_in: Vec<u32> = ca.iter().map(|c| c.spi_in).collect();
    let b_in: Vec<u32> = cb.iter().map(|c| c.spi_in).collect();
    assert_eq!(&a_in[..2], &[0xc000_0002, 0xc000_0003]);
    assert!(!a_in[2..].contains(&0xc000_0009) && !a_in.contains(&0xc000_0001));
    assert_eq!(b_in, vec![0xc000_0101, 0xc000_0102, 0xc000_0103]);
    assert_eq!(net.a.stats().esp_spis_reserved_used, 2);
    assert_eq!(net.a.stats().esp_spis_random, 1);
    assert_eq!(net.b.stats().esp_spis_random, 0);
    assert_eq!(net.b.fresh_esp_spis(b_ip, net.now), 0);
}

/// Issue 14: a peer configured like strongSwan's `proposals =
/// aes256-sha256-modp2048` and `esp_proposals = aes256-sha256` (PFS with
/// MODP-3072) against our defaults: the IKE SA and every Child SA come up
/// with AES-CBC + HMAC-SHA2-256-128, keys and integrity keys mirrored.
#[test]
fn a_cbc_and_modp_only_peer_gets_cbc_and_modp() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(2);
    a.ike_proposals = vec![IkeProposal {
        encr: vec![Encr::AesCbc256],
        integ: vec![Integ::HmacSha256_128],
        prf: vec![Prf::HmacSha256],
        dh: vec![DhGroup::Modp2048],
    }];
    a.esp_proposals = vec![EspProposal {
        encr: vec![Encr::AesCbc256],
        integ: vec![Integ::HmacSha256_128],
        esn: vec![false],
        dh: vec![DhGroup::Modp3072],
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let (ia, ib) = (ike_up(&net.ev_a), ike_up(&net.ev_b));
    assert_eq!(ia.algorithms, ib.algorithms);
    assert_eq!(ia.algorithms.encr, Encr::AesCbc256);
    assert_eq!(ia.algorithms.integ, Some(Integ::HmacSha256_128));
    assert_eq!(ia.algorithms.dh, DhGroup::Modp2048);
    assert_eq!(net.b.stats().invalid_ke_sent, 0, "MODP2048 taken at once");
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!((ca.len(), cb.len()), (2, 2));
    for (x, y) in ca.iter().zip(&cb) {
        assert_eq!(
            (x.encr, x.integ),
            (Encr::AesCbc256, Some(Integ::HmacSha256_128))
        );
        assert_eq!(x.kernel_encr_name(), "cbc(aes)");
        assert_eq!(x.icv_bits(), 128);
        assert_mirrored(x, y);
    }
    assert_eq!(ca[1].pfs, Some(DhGroup::Modp3072));
}

/// Issue 14: ECP-521 with AES-CBC-128 and HMAC-SHA2-512-256, and
/// HMAC-SHA2-384-192 for ESP; with the defaults on both sides the choice
/// stays AES-GCM and ECP-256.
#[test]
fn ecp521_with_cbc_and_the_defaults_still_choose_gcm() {
    let mut net = Net::default_pair();
    let (mut a, b) = peers(1);
    a.ike_proposals = vec![IkeProposal {
        encr: vec![Encr::AesCbc128],
        integ: vec![Integ::HmacSha512_256],
        prf: vec![Prf::HmacSha512],
        dh: vec![DhGroup::Ecp521],
    }];
    a.esp_proposals = vec![EspProposal {
        encr: vec![Encr::AesCbc128],
        integ: vec![Integ::HmacSha384_192],
        ..EspProposal::default()
    }];
    net.b.add_peer(b);
    net.a.initiate(net.now, a).unwrap();
    net.run(Duration::from_secs(1));
    let (ia, ib) = (ike_up(&net.ev_a), ike_up(&net.ev_b));
    assert_eq!(ia.algorithms, ib.algorithms);
    assert_eq!(
        (ia.algorithms.encr, ia.algorithms.integ, ia.algorithms.dh),
        (
            Encr::AesCbc128,
            Some(Integ::HmacSha512_256),
            DhGroup::Ecp521
        )
    );
    let (ca, cb) = (Net::children(&net.ev_a), Net::children(&net.ev_b));
    assert_eq!(ca[0].integ, Some(Integ::HmacSha384_192));
    assert_eq!(ca[0].icv_bits(), 192);
    assert_mirrored(ca[0], cb[0]);

    let net = establish(1);
    let ia = ike_up(&net.ev_a);
    assert_eq!(
        (ia.algorithms.encr, ia.algorithms.integ, ia.algorithms.dh),
        (Encr::AesGcm16_256, None, DhGroup::Ecp256)
    );
    assert_eq!(Net::children(&net.ev_a)[0].integ, None);
}
