//! How `ike::crypto` and `ike::wire` fit together for an encrypted message,
//! as the state machine will use them: the codec encodes and pads the inner
//! chain and frames the header (so the AAD has its final lengths), the
//! cipher seals the padded bytes, and on receipt the codec splits AAD and
//! IV|ciphertext|ICV, the cipher opens, the codec strips the padding and
//! decodes. The AUTH payload is computed over the ID payload body that the
//! codec produces.

use std::net::Ipv4Addr;

use ike::crypto::{
    compute_psk_auth, random_ike_spi, random_nonce, verify_psk_auth, CryptoError, DhGroup,
    DhPrivateKey, Encr, IkeSaKeys, Integ, Prf, Role,
};
use ike::wire::{
    encode_chain, pad_plaintext, AuthMethod, AuthPayload, EncryptedView, ExchangeType, Flags,
    Header, IdPayload, Identity, Payload, SealFrame,
};
use ring::rand::SystemRandom;

const PSK: &[u8] = b"c3VibWFyaW5lci1wc2stdGV4dC1hcy1zZW50LWJ5LWJyb2tlci1pbmZvLXN1Ym0=";

#[test]
fn ike_auth_request_through_codec_and_cipher() {
    glue(Encr::AesGcm16_128, None);
}

/// The same with AES-CBC and HMAC-SHA2: the codec pads to 16-byte blocks,
/// the IV is 16 bytes and the ICV the truncated HMAC.
#[test]
fn ike_auth_request_through_codec_and_cbc_cipher() {
    glue(Encr::AesCbc256, Some(Integ::HmacSha256_128));
    glue(Encr::AesCbc128, Some(Integ::HmacSha384_192));
    glue(Encr::AesCbc256, Some(Integ::HmacSha512_256));
}

fn glue(encr: Encr, integ: Option<Integ>) {
    let rng = SystemRandom::new();
    let a = DhPrivateKey::generate(DhGroup::Curve25519, &rng).unwrap();
    let b = DhPrivateKey::generate(DhGroup::Curve25519, &rng).unwrap();
    let (pa, pb) = (a.public_value().to_vec(), b.public_value().to_vec());
    let (ni, nr) = (random_nonce(&rng).unwrap(), random_nonce(&rng).unwrap());
    let (spi_i, spi_r) = (random_ike_spi(&rng).unwrap(), random_ike_spi(&rng).unwrap());
    let prf = Prf::HmacSha256;
    let (g_a, g_b) = (a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
    let keys_i = IkeSaKeys::derive(prf, encr, integ, &g_a, &ni, &nr, &spi_i, &spi_r).unwrap();
    let keys_r = IkeSaKeys::derive(prf, encr, integ, &g_b, &ni, &nr, &spi_i, &spi_r).unwrap();
    let msg1 = b"the IKE_SA_INIT request datagram";

    // Initiator builds IKE_AUTH { IDi, AUTH }.
    let id_i = IdPayload::new(Identity::Ipv4(Ipv4Addr::new(10, 0, 0, 1)));
    let auth = compute_psk_auth(
        &keys_i,
        Role::Initiator,
        PSK,
        msg1,
        &nr,
        &id_i.body_bytes().unwrap(),
    );
    let inner = vec![
        Payload::IdI(id_i),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: auth,
        }),
    ];
    let (first, plain) = encode_chain(&inner).unwrap();
    let mut tx = keys_i.outbound_cipher(Role::Initiator).unwrap();
    let padded = pad_plaintext(&plain, tx.block_len());
    assert_eq!(padded.len() % tx.block_len(), 0);
    let header = Header::new(
        u64::from_be_bytes(spi_i),
        u64::from_be_bytes(spi_r),
        ExchangeType::IKE_AUTH,
        Flags::INITIATOR,
        1,
    );
    let frame = SealFrame::sk(&header, first, tx.encrypted_len(padded.len())).unwrap();
    let sealed = tx.seal_raw(frame.aad(), &padded).unwrap();
    let datagram = frame.finish(&sealed).unwrap();

    // Responder parses, opens, decodes and checks AUTH.
    let view = EncryptedView::parse(&datagram).unwrap();
    let rx = keys_r.inbound_cipher(Role::Responder).unwrap();
    let decrypted = rx.open_raw(view.aad, view.encrypted).unwrap();
    let payloads = view.decode_inner(&decrypted).unwrap();
    assert_eq!(payloads, inner);
    let (Payload::IdI(id), Payload::Auth(auth)) = (&payloads[0], &payloads[1]) else {
        panic!("unexpected payloads {payloads:?}");
    };
    verify_psk_auth(
        &keys_r,
        Role::Initiator,
        PSK,
        msg1,
        &nr,
        &id.body_bytes().unwrap(),
        &auth.data,
    )
    .unwrap();

    // The whole-message convenience path gives the same inner chain.
    assert_eq!(rx.open(view.aad, view.encrypted).unwrap(), plain);

    // Any change to the datagram (header, SK header, IV, ciphertext, ICV)
    // makes the cipher reject it (or the codec, for a broken length).
    for i in 0..datagram.len() {
        let mut bad = datagram.clone();
        bad[i] ^= 0x04;
        if let Ok(view) = EncryptedView::parse(&bad) {
            assert_eq!(
                rx.open_raw(view.aad, view.encrypted),
                Err(CryptoError::IntegrityCheckFailed),
                "byte {i}"
            );
        }
    }
}
