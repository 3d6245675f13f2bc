//! First messages as libreswan 4.x and strongSwan 5.9 send them, written
//! byte by byte from the RFC 7296 layouts (not with the crate's encoder),
//! then decoded; plus malformed variants of them: every prefix, every length
//! field off by one, and a deterministic mutation run that must never panic.

use ike::wire::*;

// ---------- raw RFC 7296 builders (independent of the crate's encoder) ----------

fn be16(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

fn attr_keylen(bits: u16) -> Vec<u8> {
    let mut v = vec![0x80, 14];
    v.extend_from_slice(&bits.to_be_bytes());
    v
}

fn transform(t: u8, id: u16, attrs: &[u8]) -> (u8, u16, Vec<u8>) {
    (t, id, attrs.to_vec())
}

fn proposal(num: u8, proto: u8, spi: &[u8], ts: &[(u8, u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![num, proto, spi.len() as u8, ts.len() as u8];
    body.extend_from_slice(spi);
    for (i, (t, id, attrs)) in ts.iter().enumerate() {
        let last = if i + 1 == ts.len() { 0 } else { 3 };
        body.push(last);
        body.push(0);
        body.extend_from_slice(&be16(8 + attrs.len()));
        body.push(*t);
        body.push(0);
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(attrs);
    }
    let mut v = vec![2, 0]; // fixed up by sa()
    v.extend_from_slice(&be16(4 + body.len()));
    v.extend_from_slice(&body);
    v
}

fn sa(props: Vec<Vec<u8>>) -> Vec<u8> {
    let n = props.len();
    let mut out = vec![];
    for (i, mut p) in props.into_iter().enumerate() {
        p[0] = if i + 1 == n { 0 } else { 2 };
        out.extend_from_slice(&p);
    }
    out
}

fn notify(proto: u8, spi: &[u8], ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = vec![proto, spi.len() as u8];
    v.extend_from_slice(&ty.to_be_bytes());
    v.extend_from_slice(spi);
    v.extend_from_slice(data);
    v
}

/// Header + chain of (type, body) with all Next Payload / lengths filled.
fn message(spi_i: u64, exchange: u8, flags: u8, mid: u32, payloads: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut chain = vec![];
    for (i, (_, body)) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map(|p| p.0).unwrap_or(0);
        chain.push(next);
        chain.push(0);
        chain.extend_from_slice(&be16(4 + body.len()));
        chain.extend_from_slice(body);
    }
    let mut v = vec![];
    v.extend_from_slice(&spi_i.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v.push(payloads.first().map(|p| p.0).unwrap_or(0));
    v.push(0x20);
    v.push(exchange);
    v.push(flags);
    v.extend_from_slice(&mid.to_be_bytes());
    v.extend_from_slice(&((28 + chain.len()) as u32).to_be_bytes());
    v.extend_from_slice(&chain);
    v
}

fn ike_dh_list() -> Vec<(u8, u16, Vec<u8>)> {
    // libreswan 4.x: MODP2048 first, then 3072, 4096, 8192, DH19, 20, 21, 31
    [14u16, 15, 16, 18, 19, 20, 21, 31]
        .iter()
        .map(|g| transform(4, *g, &[]))
        .collect()
}

/// IKE_SA_INIT request as libreswan 4.10 sends it for Submariner.
fn libreswan_sa_init() -> Vec<u8> {
    let mut gcm256 = vec![
        transform(1, 20, &attr_keylen(256)),
        transform(2, 7, &[]),
        transform(2, 5, &[]),
    ];
    gcm256.extend(ike_dh_list());
    let mut gcm128 = vec![
        transform(1, 20, &attr_keylen(128)),
        transform(2, 7, &[]),
        transform(2, 5, &[]),
    ];
    gcm128.extend(ike_dh_list());
    let mut cbc256 = vec![
        transform(1, 12, &attr_keylen(256)),
        transform(2, 7, &[]),
        transform(2, 5, &[]),
        transform(3, 14, &[]),
        transform(3, 12, &[]),
    ];
    cbc256.extend(ike_dh_list());
    let mut cbc128 = cbc256.clone();
    cbc128[0] = transform(1, 12, &attr_keylen(128));
    let sa_body = sa(vec![
        proposal(1, 1, &[], &gcm256),
        proposal(2, 1, &[], &gcm128),
        proposal(3, 1, &[], &cbc256),
        proposal(4, 1, &[], &cbc128),
    ]);
    let mut ke = vec![0, 14, 0, 0];
    ke.extend_from_slice(&[0xa5; 256]);
    message(
        0x6c1f_0000_0000_0001,
        34,
        0x08,
        0,
        &[
            (33, sa_body),
            (34, ke),
            (40, vec![0x11; 32]),
            (41, notify(0, &[], 16430, &[])),
            (41, notify(0, &[], 16388, &[0x22; 20])),
            (41, notify(0, &[], 16389, &[0x33; 20])),
            (41, notify(0, &[], 16431, &[0, 2, 0, 3, 0, 4])),
            (41, notify(0, &[], 16406, &[])),
            (43, b"OE\x81\x02\x03\x04\x05\x06\x07\x08\x09\x0a".to_vec()),
        ],
    )
}

/// IKE_SA_INIT request as strongSwan 5.9 sends it by default.
fn strongswan_sa_init() -> Vec<u8> {
    let non_aead = vec![
        transform(1, 12, &attr_keylen(128)),
        transform(1, 12, &attr_keylen(192)),
        transform(1, 12, &attr_keylen(256)),
        transform(1, 13, &attr_keylen(128)),
        transform(3, 12, &[]),
        transform(3, 13, &[]),
        transform(3, 14, &[]),
        transform(2, 5, &[]),
        transform(2, 6, &[]),
        transform(2, 7, &[]),
        transform(4, 19, &[]),
        transform(4, 20, &[]),
        transform(4, 21, &[]),
        transform(4, 31, &[]),
        transform(4, 14, &[]),
    ];
    let aead = vec![
        transform(1, 20, &attr_keylen(128)),
        transform(1, 20, &attr_keylen(256)),
        transform(1, 19, &attr_keylen(256)),
        transform(1, 28, &[]),
        transform(2, 5, &[]),
        transform(2, 7, &[]),
        transform(4, 19, &[]),
        transform(4, 31, &[]),
        transform(4, 14, &[]),
    ];
    let mut ke = vec![0, 19, 0, 0];
    ke.extend_from_slice(&[0x04; 64]);
    message(
        0x5757_5757_0000_0002,
        34,
        0x08,
        0,
        &[
            (
                33,
                sa(vec![
                    proposal(1, 1, &[], &non_aead),
                    proposal(2, 1, &[], &aead),
                ]),
            ),
            (34, ke),
            (40, vec![0x44; 32]),
            (41, notify(0, &[], 16388, &[0x55; 20])),
            (41, notify(0, &[], 16389, &[0x66; 20])),
            (41, notify(0, &[], 16430, &[])),
            (41, notify(0, &[], 16431, &[0, 1, 0, 2, 0, 3, 0, 4])),
            (41, notify(0, &[], 16406, &[])),
            (
                43,
                vec![
                    0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc, 0x22, 0x51, 0x61, 0x3b, 0x2e,
                    0xbe, 0x5b, 0xeb,
                ],
            ),
        ],
    )
}

/// The inner payloads of an IKE_AUTH request (what SK carries), libreswan
/// style: ID_IPV4_ADDR, PSK AUTH, status notifies, ESP proposals without ESN.
fn libreswan_auth_inner() -> (u8, Vec<u8>) {
    let esp_no_esn = [transform(1, 20, &attr_keylen(256))];
    let esp_cbc = [transform(1, 12, &attr_keylen(128)), transform(3, 12, &[])];
    let mut ts_i = vec![1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff];
    ts_i.extend_from_slice(&[10, 42, 0, 0, 10, 42, 255, 255]);
    let mut ts_r = vec![1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff];
    ts_r.extend_from_slice(&[10, 43, 0, 0, 10, 43, 255, 255]);
    let m = message(
        1,
        35,
        0x08,
        1,
        &[
            (35, vec![1, 0, 0, 0, 172, 18, 0, 3]),
            (41, notify(0, &[], 16384, &[])),
            (36, vec![1, 0, 0, 0, 172, 18, 0, 4]),
            (39, {
                let mut a = vec![2, 0, 0, 0];
                a.extend_from_slice(&[0x99; 64]);
                a
            }),
            (41, notify(0, &[], 16396, &[])),
            (41, notify(0, &[], 16417, &[])),
            (41, notify(0, &[], 16420, &[])),
            (41, notify(0, &[], 16404, &[])),
            (41, notify(0, &[], 16418, &[])),
            (
                33,
                sa(vec![
                    proposal(1, 3, &[0xc1, 0xa0, 0x00, 0x01], &esp_no_esn),
                    proposal(2, 3, &[0xc1, 0xa0, 0x00, 0x01], &esp_cbc),
                ]),
            ),
            (44, ts_i),
            (45, ts_r),
        ],
    );
    (m[16], m[28..].to_vec())
}

// ---------- decoding what the peers send ----------

#[test]
fn libreswan_ike_sa_init_decodes() {
    let bytes = libreswan_sa_init();
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
    assert!(m.header.flags.is_initiator() && m.header.is_request());
    assert_eq!(m.header.spi_r, 0);
    let Some(Payload::Sa(sa)) = m.find(PayloadType::SA) else {
        panic!("no SA")
    };
    assert_eq!(sa.proposals.len(), 4);
    let p = &sa.proposals[0];
    assert_eq!(p.number, 1);
    assert_eq!(p.protocol, ProtocolId::IKE);
    let encr: Vec<_> = p.transforms_of(TransformType::ENCR).collect();
    assert_eq!(encr[0].id, EncrId::AES_GCM_16.0);
    assert_eq!(encr[0].key_length(), Some(256));
    let dh: Vec<_> = p
        .transforms_of(TransformType::DH)
        .map(|t| DhGroup(t.id))
        .collect();
    assert_eq!(dh.first(), Some(&DhGroup::MODP2048));
    assert!(dh.contains(&DhGroup::CURVE25519));
    assert_eq!(
        sa.proposals[2].transforms_of(TransformType::INTEG).count(),
        2
    );
    let Some(Payload::Ke(ke)) = m.find(PayloadType::KE) else {
        panic!("no KE")
    };
    assert_eq!(ke.group, DhGroup::MODP2048);
    assert_eq!(ke.data.len(), 256);
    let Some(Payload::Nonce(n)) = m.find(PayloadType::NONCE) else {
        panic!("no nonce")
    };
    assert_eq!(n.nonce.len(), 32);
    for t in [
        NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
        NotifyType::NAT_DETECTION_SOURCE_IP,
        NotifyType::NAT_DETECTION_DESTINATION_IP,
        NotifyType::SIGNATURE_HASH_ALGORITHMS,
        NotifyType::REDIRECT_SUPPORTED,
    ] {
        assert!(m.notify(t).is_some(), "{t:?}");
    }
    assert_eq!(
        m.notify(NotifyType::NAT_DETECTION_SOURCE_IP)
            .unwrap()
            .data
            .len(),
        20
    );
    assert!(m.notifies().all(|n| n.notify_type.is_status()));
    assert!(
        matches!(m.find(PayloadType::VENDOR_ID), Some(Payload::VendorId(v)) if v.starts_with(b"OE"))
    );
    // byte-exact re-encode
    assert_eq!(m.encode().unwrap(), bytes);
    // on port 4500 with the non-ESP marker
    let framed = with_non_esp_marker(&bytes);
    let NattDatagram::Ike(inner) = classify_natt(&framed).unwrap() else {
        panic!("not IKE")
    };
    assert_eq!(Message::decode(inner).unwrap(), m);
}

#[test]
fn strongswan_ike_sa_init_decodes() {
    let bytes = strongswan_sa_init();
    let m = Message::decode(&bytes).unwrap();
    let Some(Payload::Sa(sa)) = m.find(PayloadType::SA) else {
        panic!("no SA")
    };
    assert_eq!(sa.proposals.len(), 2);
    assert_eq!(sa.proposals[0].transforms.len(), 15);
    let aead = &sa.proposals[1];
    assert!(aead
        .transforms_of(TransformType::ENCR)
        .any(|t| t.id == EncrId::CHACHA20_POLY1305.0));
    assert_eq!(aead.transforms_of(TransformType::INTEG).count(), 0);
    let Some(Payload::Ke(ke)) = m.find(PayloadType::KE) else {
        panic!("no KE")
    };
    assert_eq!(ke.group, DhGroup::ECP256);
    assert_eq!(m.notifies().count(), 5);
    assert_eq!(m.encode().unwrap(), bytes);
}

#[test]
fn libreswan_ike_auth_inner_payloads_decode() {
    let (first, chain) = libreswan_auth_inner();
    let inner = decode_chain(PayloadType(first), &chain).unwrap();
    let Payload::IdI(id) = &inner[0] else {
        panic!()
    };
    assert_eq!(id.identity, Identity::Ipv4("172.18.0.3".parse().unwrap()));
    for t in [
        NotifyType::INITIAL_CONTACT,
        NotifyType::MOBIKE_SUPPORTED,
        NotifyType::EAP_ONLY_AUTHENTICATION,
        NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED,
        NotifyType::MULTIPLE_AUTH_SUPPORTED,
        NotifyType::CHILDLESS_IKEV2_SUPPORTED,
    ] {
        assert!(
            inner
                .iter()
                .any(|p| matches!(p, Payload::Notify(n) if n.notify_type == t)),
            "{t:?}"
        );
    }
    let sa = inner
        .iter()
        .find_map(|p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        })
        .unwrap();
    // libreswan's ESP proposals without any ESN transform mean "no ESN"
    assert_eq!(sa.proposals[0].protocol, ProtocolId::ESP);
    assert_eq!(sa.proposals[0].spi_u32(), Some(0xc1a00001));
    assert_eq!(sa.proposals[0].esn_choices(), vec![EsnId::NO_ESN]);
    let tsi = inner
        .iter()
        .find_map(|p| match p {
            Payload::TsI(t) => Some(t),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        tsi.ranges().next().unwrap().to_cidr(),
        Some("10.42.0.0/16".parse().unwrap())
    );
    assert_eq!(encode_chain(&inner).unwrap(), (PayloadType(first), chain));
}

#[test]
fn ike_auth_through_sk_framing() {
    // The full send/receive path with a stand-in cipher (XOR), 8-byte IV, 16-byte ICV.
    let (first, chain) = libreswan_auth_inner();
    let padded = pad_plaintext(&chain, 16);
    let h = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
    let frame = SealFrame::sk(&h, PayloadType(first), 8 + padded.len() + 16).unwrap();
    let mut enc = vec![7u8; 8];
    enc.extend(padded.iter().map(|b| b ^ 0x3c));
    enc.extend_from_slice(&[0xcc; 16]);
    let aad = frame.aad().to_vec();
    let dgram = frame.finish(&enc).unwrap();
    // a generic decode sees one SK payload
    let m = Message::decode(&dgram).unwrap();
    assert!(matches!(&m.payloads[..], [Payload::Sk(sk)] if sk.first_inner == PayloadType::IDI));
    let view = EncryptedView::parse(&dgram).unwrap();
    assert_eq!(view.aad, &aad[..]);
    assert_eq!(view.header.length as usize, dgram.len());
    let body = view.encrypted;
    let dec: Vec<u8> = body[8..body.len() - 16].iter().map(|b| b ^ 0x3c).collect();
    let inner = view.decode_inner(&dec).unwrap();
    assert_eq!(inner, decode_chain(PayloadType(first), &chain).unwrap());
}

#[test]
fn fragments_reassemble_into_the_inner_chain() {
    let (first, chain) = libreswan_auth_inner();
    let parts: Vec<&[u8]> = chain.chunks(50).collect();
    let total = parts.len() as u16;
    let mut r = Reassembler::new(ReassemblyLimits::default());
    // deliver in reverse order through real SKF datagrams
    for (i, part) in parts.iter().enumerate().rev() {
        let info = FragmentInfo {
            number: i as u16 + 1,
            total,
        };
        let fi = if i == 0 {
            PayloadType(first)
        } else {
            PayloadType::NONE
        };
        let h = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
        let padded = pad_plaintext(part, 1);
        let dgram = SealFrame::skf(&h, fi, info, padded.len())
            .unwrap()
            .finish(&padded)
            .unwrap();
        let v = EncryptedView::parse(&dgram).unwrap();
        assert_eq!(v.fragment, Some(info));
        let content = unpad_plaintext(v.encrypted).unwrap();
        r.add(info, v.first_inner, content).unwrap();
    }
    assert!(r.is_complete());
    let (t, bytes) = r.finish().unwrap();
    assert_eq!(t, PayloadType(first));
    assert_eq!(bytes, chain);
    assert!(decode_chain(t, &bytes).is_ok());
}

// ---------- malformed inputs ----------

/// Offsets of every generic payload header in a plain message.
fn payload_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut v = vec![];
    let mut next = bytes[16];
    let mut off = 28;
    while next != 0 {
        v.push(off);
        next = bytes[off];
        off += u16::from_be_bytes([bytes[off + 2], bytes[off + 3]]) as usize;
    }
    v
}

#[test]
fn every_prefix_is_an_error() {
    for msg in [libreswan_sa_init(), strongswan_sa_init()] {
        for n in 0..msg.len() {
            assert!(Message::decode(&msg[..n]).is_err(), "prefix {n}");
            assert!(EncryptedView::parse(&msg[..n]).is_err(), "prefix {n}");
        }
        // and a prefix whose header length is patched to match is still an error
        for n in 28..msg.len() {
            let mut p = msg[..n].to_vec();
            p[24..28].copy_from_slice(&(n as u32).to_be_bytes());
            assert!(Message::decode(&p).is_err(), "patched prefix {n}");
        }
    }
    let (first, chain) = libreswan_auth_inner();
    for n in 0..chain.len() {
        assert!(
            decode_chain(PayloadType(first), &chain[..n]).is_err(),
            "inner prefix {n}"
        );
    }
}

#[test]
fn every_length_field_wrong_is_an_error() {
    for msg in [libreswan_sa_init(), strongswan_sa_init()] {
        // header length
        for delta in [-1i64, 1, -(msg.len() as i64), 1000] {
            let mut b = msg.clone();
            let l = (msg.len() as i64 + delta) as u32;
            b[24..28].copy_from_slice(&l.to_be_bytes());
            let e = Message::decode(&b).unwrap_err();
            assert!(
                matches!(e, WireError::Truncated { .. } | WireError::BadLength { .. }),
                "{e:?}"
            );
        }
        // each payload length
        for off in payload_offsets(&msg) {
            let len = u16::from_be_bytes([msg[off + 2], msg[off + 3]]);
            for bad in [0, 3, len.wrapping_sub(1), len + 1, 0xffff] {
                let mut b = msg.clone();
                b[off + 2..off + 4].copy_from_slice(&bad.to_be_bytes());
                assert!(Message::decode(&b).is_err(), "payload at {off} len {bad}");
            }
        }
        // the SA payload's proposal and transform lengths
        let sa_off = payload_offsets(&msg)[0];
        let sa_len = u16::from_be_bytes([msg[sa_off + 2], msg[sa_off + 3]]) as usize;
        let mut p = sa_off + 4;
        while p < sa_off + sa_len {
            let plen = u16::from_be_bytes([msg[p + 2], msg[p + 3]]) as usize;
            for bad in [plen - 1, plen + 1, 7] {
                let mut b = msg.clone();
                b[p + 2..p + 4].copy_from_slice(&(bad as u16).to_be_bytes());
                assert!(Message::decode(&b).is_err(), "proposal at {p} len {bad}");
            }
            let mut t = p + 8;
            while t < p + plen {
                let tlen = u16::from_be_bytes([msg[t + 2], msg[t + 3]]) as usize;
                for bad in [tlen - 1, tlen + 1, 7] {
                    let mut b = msg.clone();
                    b[t + 2..t + 4].copy_from_slice(&(bad as u16).to_be_bytes());
                    assert!(Message::decode(&b).is_err(), "transform at {t} len {bad}");
                }
                t += tlen;
            }
            p += plen;
        }
    }
}

#[test]
fn version_and_critical_errors() {
    let mut b = libreswan_sa_init();
    b[17] = 0x30;
    assert_eq!(
        Message::decode(&b),
        Err(WireError::BadVersion { major: 3, minor: 0 })
    );
    // make the Vendor ID (last payload) an unknown critical type 200
    let offs = payload_offsets(&libreswan_sa_init());
    let last = *offs.last().unwrap();
    let prev = offs[offs.len() - 2];
    let mut b = libreswan_sa_init();
    b[prev] = 200;
    b[last + 1] = 0x80;
    assert_eq!(
        Message::decode(&b),
        Err(WireError::UnsupportedCriticalPayload {
            payload_type: PayloadType(200)
        })
    );
    // ... and without the critical bit it is skipped and kept
    b[last + 1] = 0;
    let m = Message::decode(&b).unwrap();
    assert_eq!(m.unknown_payloads().count(), 1);
    assert_eq!(m.encode().unwrap(), b);
}

/// xorshift64* so the run is deterministic without extra crates.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_messages_never_panic() {
    let seeds = [libreswan_sa_init(), strongswan_sa_init(), {
        let (f, c) = libreswan_auth_inner();
        let h = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
        let padded = pad_plaintext(&c, 1);
        SealFrame::sk(&h, PayloadType(f), padded.len())
            .unwrap()
            .finish(&padded)
            .unwrap()
    }];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    for i in 0..30_000 {
        let mut b = seeds[i % seeds.len()].clone();
        for _ in 0..=rng.below(4) {
            match rng.below(4) {
                0 => {
                    let j = rng.below(b.len());
                    b[j] = rng.next() as u8;
                }
                1 => {
                    let j = rng.below(b.len());
                    b[j] ^= 1 << rng.below(8);
                }
                2 => {
                    let j = rng.below(b.len());
                    b.truncate(j.max(1));
                }
                _ => {
                    let j = rng.below(b.len());
                    b.insert(j, rng.next() as u8);
                }
            }
        }
        if let Ok(m) = Message::decode(&b) {
            decoded += 1;
            let again = m.encode().unwrap();
            assert_eq!(Message::decode(&again).unwrap().payloads, m.payloads);
        }
        if let Ok(v) = EncryptedView::parse(&b) {
            let _ = v.decode_inner(v.encrypted);
        }
        let _ = decode_chain(PayloadType(b[0]), &b[1..]);
    }
    assert!(decoded > 0);
}

/// The committed fuzz corpus seeds are exactly what the encoder produces for
/// the peers' messages (so the fuzzer starts from real shapes). With
/// `UPDATE_FUZZ_SEEDS=1` the test rewrites them instead.
#[test]
fn fuzz_seeds_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_message");
    let update = std::env::var_os("UPDATE_FUZZ_SEEDS").is_some();
    let (f, c) = libreswan_auth_inner();
    let h = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
    let padded = pad_plaintext(&c, 16);
    let sk = SealFrame::sk(&h, PayloadType(f), padded.len())
        .unwrap()
        .finish(&padded)
        .unwrap();
    let skf = SealFrame::skf(
        &h,
        PayloadType(f),
        FragmentInfo {
            number: 1,
            total: 2,
        },
        40,
    )
    .unwrap()
    .finish(&[0x5a; 40])
    .unwrap();
    let mut chain = vec![f];
    chain.extend_from_slice(&c);
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-libreswan-sa-init", libreswan_sa_init()),
        ("seed-strongswan-sa-init", strongswan_sa_init()),
        ("seed-ike-auth-sk", sk),
        ("seed-ike-auth-skf", skf),
        ("seed-inner-chain", chain),
        (
            "seed-natt-framed",
            with_non_esp_marker(&strongswan_sa_init()),
        ),
    ];
    for (name, bytes) in seeds {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else {
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == bytes,
                "{} differs from what the encoder produces: run with UPDATE_FUZZ_SEEDS=1",
                path.display()
            );
        }
    }
}
