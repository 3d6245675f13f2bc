//! Known-answer tests for `ike::crypto` against published vectors:
//! RFC 4231 (HMAC-SHA2), RFC 5903 (ECDH P-256/P-384, including the shared
//! secret being the X coordinate and the KE payload layout), RFC 7748
//! (X25519), and the GCM specification's test cases (McGrew & Viega,
//! test cases 3, 4, 15, 16) run through `SkCipher` with the RFC 5282 nonce
//! split salt || explicit IV. All expected values were also recomputed with
//! an independent implementation (Python's hmac module and the
//! `cryptography` package) before being written down here.
//!
//! About the DH known-answer tests: ring has no API to import a fixed
//! private key for key agreement. `DhPrivateKey::generate` takes a
//! `&dyn SecureRandom`, and ring's generator uses the RNG's bytes as the
//! private scalar (after a range check for P-256/P-384; X25519 clamps), so
//! these tests feed the RFC's private key through ring's deterministic
//! test RNG `ring::test::rand::FixedSliceRandom`. That type is a
//! `#[doc(hidden)]`, deprecated ring internal: if a ring upgrade removes
//! it, replace these with "two generated keys agree" tests plus the layout
//! checks below, and keep the public-value vectors.

#![allow(deprecated)] // ring::test::rand::FixedSliceRandom, see above.

use hex_literal::hex;
use ike::crypto::{prf, DhGroup, DhPrivateKey, Encr, Prf, SecretBytes, SkCipher};
use ring::test::rand::FixedSliceRandom;

// ---------------------------------------------------------------- RFC 4231

struct HmacCase {
    key: &'static [u8],
    data: &'static [u8],
    sha256: [u8; 32],
    sha384: [u8; 48],
    sha512: [u8; 64],
}

const RFC4231: &[HmacCase] = &[
    // Test Case 1
    HmacCase {
        key: &[0x0b; 20],
        data: b"Hi There",
        sha256: hex!("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        sha384: hex!(
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
            "faea9ea9076ede7f4af152e8b2fa9cb6"
        ),
        sha512: hex!(
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
        ),
    },
    // Test Case 2
    HmacCase {
        key: b"Jefe",
        data: b"what do ya want for nothing?",
        sha256: hex!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        sha384: hex!(
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
            "8e2240ca5e69e2c78b3239ecfab21649"
        ),
        sha512: hex!(
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        ),
    },
    // Test Case 6 (key longer than the hash block: IKE's Ni | Nr key can be)
    HmacCase {
        key: &[0xaa; 131],
        data: b"Test Using Larger Than Block-Size Key - Hash Key First",
        sha256: hex!("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        sha384: hex!(
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
            "0c2ef6ab4030fe8296248df163f44952"
        ),
        sha512: hex!(
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
            "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
        ),
    },
];

#[test]
fn rfc4231_hmac_sha2() {
    for (i, case) in RFC4231.iter().enumerate() {
        let got = |p: Prf| prf(p, case.key, &[case.data]);
        assert_eq!(
            got(Prf::HmacSha256).expose(),
            case.sha256,
            "case {i} sha256"
        );
        assert_eq!(
            got(Prf::HmacSha384).expose(),
            case.sha384,
            "case {i} sha384"
        );
        assert_eq!(
            got(Prf::HmacSha512).expose(),
            case.sha512,
            "case {i} sha512"
        );
        // Split input parts are the same as the concatenation.
        let (a, b) = case.data.split_at(3);
        assert_eq!(
            prf(Prf::HmacSha256, case.key, &[a, b]).expose(),
            case.sha256
        );
    }
}

// ---------------------------------------------------------------- RFC 5903

struct EcdhCase {
    group: DhGroup,
    i: &'static [u8],
    gi: &'static [u8], // X || Y, as in the KE payload
    r: &'static [u8],
    gr: &'static [u8],
    gir_x: &'static [u8],
}

const RFC5903: &[EcdhCase] = &[
    // Section 8.1, 256-bit random ECP group (group 19).
    EcdhCase {
        group: DhGroup::Ecp256,
        i: &hex!("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
        gi: &hex!(
            "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
            "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
        ),
        r: &hex!("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"),
        gr: &hex!(
            "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
            "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
        ),
        gir_x: &hex!("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE"),
    },
    // Section 8.2, 384-bit random ECP group (group 20).
    EcdhCase {
        group: DhGroup::Ecp384,
        i: &hex!(
            "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655"
            "E35B538041E649EE3FAEF896783AB194"
        ),
        gi: &hex!(
            "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6"
            "DE3AC808ACB4BDB4C88732AEE95F41AA"
            "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38E"
            "EB9FCFF3C2C947DAE69B4C634573A81C"
        ),
        r: &hex!(
            "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942"
            "E0308312916B8ED2960E4BD55A7448FC"
        ),
        gr: &hex!(
            "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D"
            "0D1AC43A0336DEF96FDA41D0774A3571"
            "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FF"
            "F83FA40142209DFF5EAAD96DB9E6386C"
        ),
        gir_x: &hex!(
            "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4"
            "D603135569B9E9D09CF5D4A270F59746"
        ),
    },
];

fn fixed_key(group: DhGroup, private: &[u8]) -> DhPrivateKey {
    DhPrivateKey::generate(group, &FixedSliceRandom { bytes: private }).unwrap()
}

#[test]
fn rfc5903_ecdh() {
    for case in RFC5903 {
        let i = fixed_key(case.group, case.i);
        let r = fixed_key(case.group, case.r);
        // Public values come out in KE layout: X || Y, no 0x04 prefix.
        assert_eq!(i.public_value(), case.gi, "{:?} g^i", case.group);
        assert_eq!(r.public_value(), case.gr, "{:?} g^r", case.group);
        // The shared secret is the X coordinate only (RFC 5903 section 7).
        let s_i = i.agree(case.gr).unwrap();
        let s_r = r.agree(case.gi).unwrap();
        assert_eq!(s_i.expose(), case.gir_x, "{:?} g^ir", case.group);
        assert_eq!(s_r.expose(), case.gir_x, "{:?} g^ir", case.group);
    }
}

#[test]
fn rfc5903_kei_payload_layout() {
    // RFC 5903 8.1 prints the KEi payload: generic header (length 0x48),
    // DH Group Num 19, RESERVED, then X || Y without any point-format octet.
    let kei = hex!(
        "00000048 00130000 DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF"
        "945D0C37 72581180 5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58"
        "389E0577 B8990BB3"
    );
    let case = &RFC5903[0];
    let i = fixed_key(case.group, case.i);
    assert_eq!(
        u16::from_be_bytes([kei[4], kei[5]]),
        case.group.transform_id()
    );
    assert_eq!(usize::from(u16::from_be_bytes([kei[2], kei[3]])), kei.len());
    assert_eq!(&kei[8..], i.public_value());
}

// ---------------------------------------------------------------- RFC 7748

#[test]
fn rfc7748_x25519() {
    // Section 6.1.
    let alice_private = hex!("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let alice_public = hex!("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let bob_private = hex!("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let bob_public = hex!("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared = hex!("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

    let alice = fixed_key(DhGroup::Curve25519, &alice_private);
    let bob = fixed_key(DhGroup::Curve25519, &bob_private);
    assert_eq!(alice.public_value(), alice_public);
    assert_eq!(bob.public_value(), bob_public);
    assert_eq!(alice.agree(&bob_public).unwrap().expose(), shared);
    assert_eq!(bob.agree(&alice_public).unwrap().expose(), shared);
}

// ------------------------------------------------------- GCM spec vectors

const GCM_K128: [u8; 16] = hex!("feffe9928665731c6d6a8f9467308308");
const GCM_P: [u8; 64] = hex!(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
);
const GCM_A: [u8; 20] = hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2");
// The 96-bit IV cafebabe facedbaddecaf888 split as RFC 5282 does it:
// 4-byte salt (end of SK_e) || 8-byte explicit IV (on the wire).
const GCM_SALT: [u8; 4] = hex!("cafebabe");
const GCM_EXPLICIT_IV: u64 = 0xfacedbaddecaf888;

struct GcmCase {
    name: &'static str,
    encr: Encr,
    aad: &'static [u8],
    plaintext: &'static [u8],
    ciphertext: &'static [u8],
    tag: [u8; 16],
}

const GCM_CASES: &[GcmCase] = &[
    GcmCase {
        name: "test case 3",
        encr: Encr::AesGcm16_128,
        aad: &[],
        plaintext: &GCM_P,
        ciphertext: &hex!(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
            "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
        ),
        tag: hex!("4d5c2af327cd64a62cf35abd2ba6fab4"),
    },
    GcmCase {
        name: "test case 4",
        encr: Encr::AesGcm16_128,
        aad: &GCM_A,
        plaintext: GCM_P.split_at(60).0,
        ciphertext: &hex!(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
            "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
        ),
        tag: hex!("5bc94fbc3221a5db94fae95ae7121a47"),
    },
    GcmCase {
        name: "test case 15",
        encr: Encr::AesGcm16_256,
        aad: &[],
        plaintext: &GCM_P,
        ciphertext: &hex!(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
        ),
        tag: hex!("b094dac5d93471bdec1a502270e3cc6c"),
    },
    GcmCase {
        name: "test case 16",
        encr: Encr::AesGcm16_256,
        aad: &GCM_A,
        plaintext: GCM_P.split_at(60).0,
        ciphertext: &hex!(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        ),
        tag: hex!("76fc6ece0f4e1768cddf8853bb2d551b"),
    },
];

fn gcm_cipher(encr: Encr) -> SkCipher {
    let mut keymat = GCM_K128.to_vec();
    if encr == Encr::AesGcm16_256 {
        keymat.extend_from_slice(&GCM_K128); // test cases 13-18 repeat the key
    }
    keymat.extend_from_slice(&GCM_SALT);
    SkCipher::new(encr, &SecretBytes::new(keymat))
        .unwrap()
        .with_next_iv(GCM_EXPLICIT_IV)
}

#[test]
fn gcm_spec_vectors_through_sk_cipher() {
    for case in GCM_CASES {
        let mut tx = gcm_cipher(case.encr);
        // seal_raw: the plaintext is taken as already padded.
        let body = tx.seal_raw(case.aad, case.plaintext).unwrap();
        let mut expected = GCM_EXPLICIT_IV.to_be_bytes().to_vec();
        expected.extend_from_slice(case.ciphertext);
        expected.extend_from_slice(&case.tag);
        assert_eq!(body, expected, "{}", case.name);
        assert_eq!(tx.next_iv(), GCM_EXPLICIT_IV + 1);

        let rx = gcm_cipher(case.encr);
        assert_eq!(
            rx.open_raw(case.aad, &body).unwrap(),
            case.plaintext,
            "{}",
            case.name
        );
    }
}

#[test]
fn gcm_vector_padding_is_stripped_by_open() {
    // In test case 4's plaintext the last byte, 0x39 = 57, read as an IKE Pad
    // Length leaves two bytes of payload: open() must return exactly those.
    let case = &GCM_CASES[1];
    assert_eq!(case.plaintext[59], 57);
    let mut body = GCM_EXPLICIT_IV.to_be_bytes().to_vec();
    body.extend_from_slice(case.ciphertext);
    body.extend_from_slice(&case.tag);
    let rx = gcm_cipher(case.encr);
    assert_eq!(rx.open(case.aad, &body).unwrap(), &GCM_P[..2]);
    // Test case 3's last byte, 0x55 = 85, points before the start of its
    // 64-byte plaintext: a typed error, not a panic.
    let case = &GCM_CASES[0];
    let mut body = GCM_EXPLICIT_IV.to_be_bytes().to_vec();
    body.extend_from_slice(case.ciphertext);
    body.extend_from_slice(&case.tag);
    let rx = gcm_cipher(case.encr);
    assert!(matches!(
        rx.open(case.aad, &body),
        Err(ike::crypto::CryptoError::BadPadding {
            pad_len: 0x55,
            plaintext_len: 64
        })
    ));
}
