//! The crypto of a whole IKE SA lifetime, both ends driven through the
//! public `ike::crypto` API only: INVALID_KE retry with a fresh key, key
//! derivation on both sides, SK payloads in both directions, PSK AUTH both
//! ways (and a wrong PSK), the first Child SA, a CREATE_CHILD_SA with PFS
//! and an IKE SA rekey. Both sides must derive identical keys.

use ike::crypto::{
    compute_psk_auth, psk_auth_data, verify_psk_auth, ChildSaKeys, CryptoError, DhGroup,
    DhPrivateKey, Encr, IkeSaKeys, Integ, Prf, Role, SecretBytes,
};
use ring::rand::{SecureRandom, SystemRandom};

const PSK: &[u8] = b"aGVsbG8gd29ybGQgdGhpcyBpcyB0aGUgc3VibWFyaW5lciBwc2sgdGV4dCEhISE=";

fn random<const N: usize>(rng: &SystemRandom) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill(&mut b).unwrap();
    b
}

fn assert_child_keys_match(i: &ChildSaKeys, r: &ChildSaKeys) {
    assert_eq!(i, r);
    assert_eq!(i.outbound(Role::Initiator), r.inbound(Role::Responder));
    assert_eq!(i.inbound(Role::Initiator), r.outbound(Role::Responder));
    assert_ne!(i.outbound(Role::Initiator), i.inbound(Role::Initiator));
    assert_eq!(i.outbound(Role::Initiator).len(), i.encr().keymat_len());
    let a = i.integ().map_or(0, Integ::key_len);
    assert_eq!(i.outbound_auth(Role::Initiator).len(), a);
    assert_eq!(
        i.outbound_auth(Role::Initiator),
        r.inbound_auth(Role::Responder)
    );
    if a > 0 {
        assert_ne!(
            i.outbound_auth(Role::Initiator),
            i.inbound_auth(Role::Initiator)
        );
    }
}

#[test]
fn full_lifetime_both_sides_agree() {
    let rng = SystemRandom::new();
    let prf = Prf::HmacSha256;
    let encr = Encr::AesGcm16_256;

    // IKE_SA_INIT #1: initiator guesses ECP-256, responder wants Curve25519
    // and answers INVALID_KE_PAYLOAD carrying group 31.
    let first_guess = DhPrivateKey::generate(DhGroup::Ecp256, &rng).unwrap();
    assert_eq!(first_guess.public_value().len(), 64);
    let wanted = DhGroup::from_transform_id(31).unwrap();
    drop(first_guess); // ring keys are single-use: a retry needs a new one.

    // IKE_SA_INIT #2 with a fresh key of the requested group.
    let ke_i = DhPrivateKey::generate(wanted, &rng).unwrap();
    let ke_r = DhPrivateKey::generate(wanted, &rng).unwrap();
    let (pub_i, pub_r) = (ke_i.public_value().to_vec(), ke_r.public_value().to_vec());
    let (ni, nr) = (random::<32>(&rng), random::<32>(&rng));
    let (spi_i, spi_r) = (random::<8>(&rng), random::<8>(&rng));
    let msg1 = b"IKE_SA_INIT request as sent".to_vec();
    let msg2 = b"IKE_SA_INIT response as sent".to_vec();

    let g_i = ke_i.agree(&pub_r).unwrap();
    let g_r = ke_r.agree(&pub_i).unwrap();
    let keys_i = IkeSaKeys::derive(prf, encr, None, &g_i, &ni, &nr, &spi_i, &spi_r).unwrap();
    let keys_r = IkeSaKeys::derive(prf, encr, None, &g_r, &ni, &nr, &spi_i, &spi_r).unwrap();
    assert_eq!(keys_i, keys_r);
    assert_ne!(keys_i.sk_ei(), keys_i.sk_er());
    assert_eq!(
        format!("{:?}", keys_i.sk_d()),
        "SecretBytes(<32 bytes redacted>)"
    );

    // IKE_AUTH request: initiator -> responder.
    let mut tx_i = keys_i.outbound_cipher(Role::Initiator).unwrap();
    let rx_i = keys_i.inbound_cipher(Role::Initiator).unwrap();
    let mut tx_r = keys_r.outbound_cipher(Role::Responder).unwrap();
    let rx_r = keys_r.inbound_cipher(Role::Responder).unwrap();

    let id_i = [1u8, 0, 0, 0, 10, 0, 0, 1]; // ID_IPV4_ADDR 10.0.0.1
    let id_r = [1u8, 0, 0, 0, 10, 0, 0, 2];
    let auth_i = compute_psk_auth(&keys_i, Role::Initiator, PSK, &msg1, &nr, &id_i);
    // Computed the other way: the explicit RFC 7296 2.15 formula with SK_pi.
    assert_eq!(
        auth_i,
        psk_auth_data(prf, PSK, keys_i.sk_pi().expose(), &msg1, &nr, &id_i)
    );
    let request = [&id_i[..], &auth_i[..]].concat();
    let body = tx_i.seal(b"hdr1", &request).unwrap();
    assert_eq!(
        rx_i.open(b"hdr1", &body),
        Err(CryptoError::IntegrityCheckFailed)
    );
    let got = rx_r.open(b"hdr1", &body).unwrap();
    assert_eq!(got, request);
    verify_psk_auth(&keys_r, Role::Initiator, PSK, &msg1, &nr, &id_i, &got[8..]).unwrap();
    assert_eq!(
        verify_psk_auth(
            &keys_r,
            Role::Initiator,
            b"wrong",
            &msg1,
            &nr,
            &id_i,
            &got[8..]
        ),
        Err(CryptoError::AuthenticationFailed)
    );

    // IKE_AUTH response: responder -> initiator.
    let auth_r = compute_psk_auth(&keys_r, Role::Responder, PSK, &msg2, &ni, &id_r);
    assert_ne!(auth_r, auth_i);
    let body = tx_r.seal(b"hdr2", &auth_r).unwrap();
    let got = rx_i.open(b"hdr2", &body).unwrap();
    verify_psk_auth(&keys_i, Role::Responder, PSK, &msg2, &ni, &id_r, &got).unwrap();

    // First Child SA (IKE_AUTH): nonces of IKE_SA_INIT, no PFS.
    let c_i = keys_i
        .child_sa_keys(Encr::AesGcm16_128, None, None, &ni, &nr)
        .unwrap();
    let c_r = keys_r
        .child_sa_keys(Encr::AesGcm16_128, None, None, &ni, &nr)
        .unwrap();
    assert_child_keys_match(&c_i, &c_r);

    // CREATE_CHILD_SA with PFS, initiated by the original responder: the
    // roles for this Child SA are those of the CREATE_CHILD_SA exchange.
    let (cni, cnr) = (random::<32>(&rng), random::<32>(&rng));
    let ke_a = DhPrivateKey::generate(DhGroup::Ecp384, &rng).unwrap();
    let ke_b = DhPrivateKey::generate(DhGroup::Ecp384, &rng).unwrap();
    let (pa, pb) = (ke_a.public_value().to_vec(), ke_b.public_value().to_vec());
    let pfs_a = ke_a.agree(&pb).unwrap();
    let pfs_b = ke_b.agree(&pa).unwrap();
    assert_eq!(pfs_a.len(), 48);
    let c2_a = keys_r
        .child_sa_keys(encr, None, Some(&pfs_a), &cni, &cnr)
        .unwrap();
    let c2_b = keys_i
        .child_sa_keys(encr, None, Some(&pfs_b), &cni, &cnr)
        .unwrap();
    assert_child_keys_match(&c2_a, &c2_b);
    let c2_nopfs = keys_i.child_sa_keys(encr, None, None, &cni, &cnr).unwrap();
    assert_ne!(c2_nopfs, c2_a);

    // IKE SA rekey (new SPIs, new nonces, new DH, maybe new algorithms).
    let (rni, rnr) = (random::<32>(&rng), random::<32>(&rng));
    let (nspi_i, nspi_r) = (random::<8>(&rng), random::<8>(&rng));
    let ke_a = DhPrivateKey::generate(DhGroup::Curve25519, &rng).unwrap();
    let ke_b = DhPrivateKey::generate(DhGroup::Curve25519, &rng).unwrap();
    let (pa, pb) = (ke_a.public_value().to_vec(), ke_b.public_value().to_vec());
    let g_a: SecretBytes = ke_a.agree(&pb).unwrap();
    let g_b: SecretBytes = ke_b.agree(&pa).unwrap();
    let new_i = keys_i
        .derive_rekeyed(
            Prf::HmacSha512,
            Encr::AesGcm16_128,
            None,
            &g_a,
            &rni,
            &rnr,
            &nspi_i,
            &nspi_r,
        )
        .unwrap();
    let new_r = keys_r
        .derive_rekeyed(
            Prf::HmacSha512,
            Encr::AesGcm16_128,
            None,
            &g_b,
            &rni,
            &rnr,
            &nspi_i,
            &nspi_r,
        )
        .unwrap();
    assert_eq!(new_i, new_r);
    assert_ne!(new_i.sk_d(), keys_i.sk_d());
    assert_eq!(new_i.sk_d().len(), 64);
    assert_eq!(new_i.sk_ei().len(), 20);
    let mut tx = new_i.outbound_cipher(Role::Initiator).unwrap();
    let rx = new_r.inbound_cipher(Role::Responder).unwrap();
    assert_eq!(
        rx.open(b"h", &tx.seal(b"h", b"after rekey").unwrap())
            .unwrap(),
        b"after rekey"
    );
}

/// AES-GCM alone and AES-CBC with each integrity algorithm.
fn suites() -> Vec<(Encr, Option<Integ>)> {
    let mut v = vec![(Encr::AesGcm16_256, None), (Encr::AesGcm16_128, None)];
    for encr in [Encr::AesCbc256, Encr::AesCbc128] {
        v.extend(Integ::ALL.iter().map(|i| (encr, Some(*i))));
    }
    v
}

#[test]
fn every_algorithm_combination_derives_matching_keys() {
    let rng = SystemRandom::new();
    for group in DhGroup::ALL {
        let a = DhPrivateKey::generate(group, &rng).unwrap();
        let b = DhPrivateKey::generate(group, &rng).unwrap();
        let (pa, pb) = (a.public_value().to_vec(), b.public_value().to_vec());
        let (ga, gb) = (a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
        assert_eq!(ga, gb, "{group:?}");
        assert_eq!(ga.len(), group.shared_secret_len());
        for prf in Prf::ALL {
            for (encr, integ) in suites() {
                let (ni, nr) = (random::<16>(&rng), random::<64>(&rng));
                let (si, sr) = (random::<8>(&rng), [0u8; 8]);
                let ka = IkeSaKeys::derive(prf, encr, integ, &ga, &ni, &nr, &si, &sr).unwrap();
                let kb = IkeSaKeys::derive(prf, encr, integ, &gb, &ni, &nr, &si, &sr).unwrap();
                assert_eq!(ka, kb, "{group:?} {prf:?} {encr:?} {integ:?}");
                assert_eq!(ka.sk_pi().len(), prf.output_len());
                assert_eq!(ka.sk_er().len(), encr.keymat_len());
                assert_eq!(ka.sk_ar().len(), integ.map_or(0, Integ::key_len));
                // Each side's SK ciphers talk to the other's.
                let mut tx = ka.outbound_cipher(Role::Initiator).unwrap();
                let rx = kb.inbound_cipher(Role::Responder).unwrap();
                let body = tx.seal(b"hdr", b"IDi AUTH SA TSi TSr").unwrap();
                assert_eq!(rx.open(b"hdr", &body).unwrap(), b"IDi AUTH SA TSi TSr");
                // Child SA keys in CBC+HMAC layout agree as well.
                let ca = ka.child_sa_keys(encr, integ, None, &ni, &nr).unwrap();
                let cb = kb.child_sa_keys(encr, integ, None, &ni, &nr).unwrap();
                assert_child_keys_match(&ca, &cb);
            }
        }
    }
}
