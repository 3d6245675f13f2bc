//! Decode-then-encode round trips of every payload type through whole
//! messages, and encode-then-decode of typed values.

use std::net::{Ipv4Addr, Ipv6Addr};

use ike::wire::*;

fn header(exchange: ExchangeType) -> Header {
    Header::new(
        0x1122334455667788,
        0x99aabbccddeeff00,
        exchange,
        Flags::INITIATOR,
        3,
    )
}

/// Encodes, decodes, compares, re-encodes and compares bytes.
fn round_trip(payloads: Vec<Payload>) -> Vec<u8> {
    let mut m = Message::new(header(ExchangeType::INFORMATIONAL));
    m.payloads = payloads;
    let bytes = m.encode().unwrap();
    let back = Message::decode(&bytes).unwrap();
    assert_eq!(back.payloads, m.payloads);
    assert_eq!(back.header.length as usize, bytes.len());
    assert_eq!(back.header.next_payload, m.first_payload_type());
    assert_eq!(back.encode().unwrap(), bytes);
    // also as a bare chain (as inside SK)
    let (first, chain) = encode_chain(&m.payloads).unwrap();
    assert_eq!(decode_chain(first, &chain).unwrap(), m.payloads);
    bytes
}

fn sa() -> SaPayload {
    SaPayload {
        proposals: vec![
            Proposal::new(
                1,
                ProtocolId::IKE,
                vec![
                    Transform::encr(EncrId::AES_GCM_16, Some(256)),
                    Transform::prf(PrfId::HMAC_SHA2_256),
                    Transform::dh(DhGroup::CURVE25519),
                    Transform::dh(DhGroup::ECP256),
                ],
            ),
            Proposal {
                number: 2,
                protocol: ProtocolId::IKE,
                spi: vec![1, 2, 3, 4, 5, 6, 7, 8],
                transforms: vec![
                    Transform::encr(EncrId::AES_CBC, Some(128)),
                    Transform::integ(IntegId::HMAC_SHA2_256_128),
                    Transform::prf(PrfId::HMAC_SHA2_512),
                    Transform::dh(DhGroup::MODP2048),
                ],
            },
        ],
    }
}

#[test]
fn every_payload_type() {
    let all = vec![
        Payload::Sa(sa()),
        Payload::Ke(KePayload {
            group: DhGroup::ECP256,
            data: vec![4; 64],
        }),
        Payload::Nonce(NoncePayload {
            nonce: vec![0x5a; 32],
        }),
        Payload::IdI(IdPayload::new(Identity::Ipv4(Ipv4Addr::new(172, 18, 0, 3)))),
        Payload::IdR(IdPayload::new(Identity::Fqdn("172.18.0.4-0-0".into()))),
        Payload::Cert(CertPayload {
            encoding: CertEncoding::X509_SIGNATURE,
            data: vec![0x30, 0x82, 0, 0],
        }),
        Payload::CertReq(CertPayload {
            encoding: CertEncoding::X509_SIGNATURE,
            data: vec![0xaa; 20],
        }),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: vec![0x42; 32],
        }),
        Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, vec![])),
        Payload::Notify(NotifyPayload::with_spi(
            NotifyType::REKEY_SA,
            ProtocolId::ESP,
            0xcafe0001,
            vec![],
        )),
        Payload::Delete(DeletePayload::esp(&[0x1000, 0x2000])),
        Payload::Delete(DeletePayload::ike()),
        Payload::VendorId(b"libreswan-ish".to_vec()),
        Payload::TsI(TsPayload::from_ranges([
            TsRange::from_cidr("10.42.0.0/16".parse().unwrap()),
            TsRange::from_cidr("fd00:42::/64".parse().unwrap()),
        ])),
        Payload::TsR(TsPayload::from_ranges([TsRange::from_cidr(
            "10.43.0.0/16".parse().unwrap(),
        )])),
        Payload::Cp(CpPayload {
            cfg_type: CfgType::REQUEST,
            attributes: vec![0, 1, 0, 0],
        }),
        Payload::Eap(vec![1, 2, 0, 4]),
        Payload::Unknown {
            payload_type: PayloadType(130),
            critical: false,
            data: vec![9, 9],
        },
        Payload::Sk(SkPayload {
            first_inner: PayloadType::IDI,
            encrypted: vec![0xee; 40],
        }),
    ];
    round_trip(all.clone());
    // each alone too
    for p in all {
        round_trip(vec![p]);
    }
    round_trip(vec![Payload::Skf(SkfPayload {
        first_inner: PayloadType::IDI,
        fragment: FragmentInfo {
            number: 1,
            total: 2,
        },
        encrypted: vec![1; 30],
    })]);
    round_trip(vec![Payload::Skf(SkfPayload {
        first_inner: PayloadType::NONE,
        fragment: FragmentInfo {
            number: 2,
            total: 2,
        },
        encrypted: vec![1; 30],
    })]);
    round_trip(vec![]);
}

#[test]
fn identities_round_trip() {
    for id in [
        Identity::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
        Identity::Ipv6(Ipv6Addr::LOCALHOST),
        Identity::Fqdn("gw.example".into()),
        Identity::Rfc822("a@b.c".into()),
        Identity::KeyId(vec![0; 8]),
        Identity::Other {
            id_type: IdType::DER_ASN1_DN,
            data: vec![0x30, 0],
        },
    ] {
        round_trip(vec![Payload::IdI(IdPayload::new(id))]);
    }
}

#[test]
fn hand_made_notify_message() {
    // RFC 7296 layout: header + one Notify(COOKIE) payload, written by hand.
    let mut b = vec![];
    b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]); // SPIi
    b.extend_from_slice(&[0; 8]); // SPIr
    b.extend_from_slice(&[41, 0x20, 34, 0x20]); // N, 2.0, IKE_SA_INIT, Response
    b.extend_from_slice(&[0, 0, 0, 0]); // message id
    b.extend_from_slice(&[0, 0, 0, 28 + 8 + 4]); // length
    b.extend_from_slice(&[0, 0, 0, 12, 0, 0, 0x40, 0x06, 0xc0, 0x0c, 0x1e, 0x5a]);
    let m = Message::decode(&b).unwrap();
    assert!(m.header.flags.is_response());
    assert!(!m.header.flags.is_initiator());
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
    let n = m.notify(NotifyType::COOKIE).unwrap();
    assert_eq!(n.data, vec![0xc0, 0x0c, 0x1e, 0x5a]);
    assert_eq!(m.encode().unwrap(), b);
}

#[test]
fn unsupported_critical_payload_type_is_reported() {
    let mut m = Message::new(header(ExchangeType::IKE_AUTH));
    m.payloads.push(Payload::VendorId(vec![1]));
    m.payloads.push(Payload::Unknown {
        payload_type: PayloadType(99),
        critical: true,
        data: vec![],
    });
    let bytes = m.encode().unwrap();
    let err = Message::decode(&bytes).unwrap_err();
    assert_eq!(
        err,
        WireError::UnsupportedCriticalPayload {
            payload_type: PayloadType(99)
        }
    );
    let WireError::UnsupportedCriticalPayload { payload_type } = err else {
        unreachable!()
    };
    let answer = NotifyPayload::unsupported_critical_payload(payload_type);
    assert_eq!(answer.data, vec![99]);
    assert!(err.to_string().contains("UNSUPPORTED_CRITICAL_PAYLOAD"));
}

#[test]
fn encode_rejects_unrepresentable() {
    let mut m = Message::new(header(ExchangeType::INFORMATIONAL));
    m.payloads.push(Payload::VendorId(vec![0; 70_000]));
    assert!(matches!(m.encode(), Err(WireError::TooLong { .. })));
    m.payloads = vec![Payload::Nonce(NoncePayload { nonce: vec![1; 8] })];
    assert!(m.encode().is_err());
    m.payloads = vec![
        Payload::Sk(SkPayload {
            first_inner: PayloadType::NONE,
            encrypted: vec![],
        }),
        Payload::VendorId(vec![1]),
    ];
    assert!(m.encode().is_err());
    m.payloads = vec![Payload::Unknown {
        payload_type: PayloadType::NONCE,
        critical: false,
        data: vec![],
    }];
    assert!(m.encode().is_err());
}

#[test]
fn registry_names_and_unknown_values() {
    assert_eq!(
        NotifyType::from(16430),
        NotifyType::IKEV2_FRAGMENTATION_SUPPORTED
    );
    assert_eq!(u16::from(NotifyType::SIGNATURE_HASH_ALGORITHMS), 16431);
    assert_eq!(NotifyType(16418).name(), Some("CHILDLESS_IKEV2_SUPPORTED"));
    assert_eq!(NotifyType(16406), NotifyType::REDIRECT_SUPPORTED);
    assert_eq!(NotifyType(16417), NotifyType::EAP_ONLY_AUTHENTICATION);
    assert_eq!(
        NotifyType(16420),
        NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED
    );
    assert_eq!(NotifyType(16404), NotifyType::MULTIPLE_AUTH_SUPPORTED);
    assert_eq!(NotifyType(16396), NotifyType::MOBIKE_SUPPORTED);
    assert_eq!(NotifyType(60000).name(), None);
    assert_eq!(format!("{:?}", NotifyType(60000)), "NotifyType(60000)");
    assert_eq!(format!("{}", NotifyType::COOKIE), "COOKIE(16390)");
    assert!(NotifyType(12345).is_error());
    assert!(NotifyType(40000).is_status());
    assert_eq!(PayloadType::SKF.0, 53);
    assert_eq!(DhGroup::CURVE25519.0, 31);
    assert_eq!(EncrId::AES_GCM_16.0, 20);
    assert!(EncrId::AES_GCM_16.is_aead() && !EncrId::AES_CBC.is_aead());
    assert_eq!(IntegId::HMAC_SHA2_512_256.0, 14);
    assert_eq!(PrfId::HMAC_SHA2_384.0, 6);
    assert_eq!(AttributeType::KEY_LENGTH.0, 14);
    assert_eq!(TsType::IPV6_ADDR_RANGE.0, 8);
    assert_eq!(IdType::KEY_ID.0, 11);
    assert_eq!(AuthMethod::SHARED_KEY_MIC.0, 2);
    assert_eq!(ExchangeType::CREATE_CHILD_SA.0, 36);
}
