//! Pre-shared-key AUTH payload data (RFC 7296 section 2.15).
//!
//! ```text
//! AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//! InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//! ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//! MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
//! MACedIDForR = prf(SK_pr, RestOfRespIDPayload)
//! ```
//! * RealMessage1/2: the complete IKE_SA_INIT request/response as sent on
//!   the wire, from the IKE header on (without the non-ESP marker of port
//!   4500). For the initiator that is the request that succeeded, i.e. the
//!   one carrying the COOKIE or the right KE after a retry.
//! * NonceRData/NonceIData: the *peer's* nonce payload body.
//! * RestOfXIDPayload: the ID payload body after the generic header: ID
//!   Type, three RESERVED bytes, identification data.
//! * The key pad is the 17 ASCII bytes, no terminating NUL.
//! * Submariner's PSK is used as the ASCII base64 text, not decoded.
//!
//! Verification compares in constant time.

use super::{
    algorithms::Prf,
    error::CryptoError,
    keys::{IkeSaKeys, Role},
    prf::prf,
    secret::{ct_eq, SecretBytes},
};

/// The constant string of RFC 7296 2.15 (no NUL terminator).
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The RFC 7296 2.15 formula with explicit inputs. `sk_p` is SK_pi when
/// the initiator signs and SK_pr when the responder signs.
pub fn psk_auth_data(
    prf_alg: Prf,
    psk: &[u8],
    sk_p: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    id_payload_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf(prf_alg, sk_p, &[id_payload_body]);
    let padded_key = prf(prf_alg, psk, &[KEY_PAD]);
    let auth = prf(
        prf_alg,
        padded_key.expose(),
        &[real_message, peer_nonce, maced_id.expose()],
    );
    auth.expose().to_vec()
}

/// The AUTH payload data that `signer` sends: the initiator passes its
/// IKE_SA_INIT request, the responder's nonce and its own IDi body; the
/// responder its IKE_SA_INIT response, the initiator's nonce and its IDr body.
pub fn compute_psk_auth(
    keys: &IkeSaKeys,
    signer: Role,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    id_payload_body: &[u8],
) -> Vec<u8> {
    psk_auth_data(
        keys.prf(),
        psk,
        keys.sk_p(signer).expose(),
        real_message,
        peer_nonce,
        id_payload_body,
    )
}

/// Verifies the AUTH payload data `received` from the peer `signer`, in
/// constant time. The inputs are the peer's: its IKE_SA_INIT message, *our*
/// nonce (the peer's peer nonce) and the peer's ID payload body.
pub fn verify_psk_auth(
    keys: &IkeSaKeys,
    signer: Role,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    id_payload_body: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = SecretBytes::new(compute_psk_auth(
        keys,
        signer,
        psk,
        real_message,
        peer_nonce,
        id_payload_body,
    ));
    if ct_eq(expected.expose(), received) {
        Ok(())
    } else {
        Err(CryptoError::AuthenticationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Encr;
    use ring::hmac;

    #[test]
    fn formula_matches_direct_hmac() {
        let psk = b"c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
        let sk_p = [0x5c; 32];
        let msg = b"IKE_SA_INIT request bytes";
        let nonce = [0x3a; 32];
        let id = [1, 0, 0, 0, 192, 0, 2, 1];

        let k = |key: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, key);
        let maced = hmac::sign(&k(&sk_p), &id);
        let padded = hmac::sign(&k(psk), b"Key Pad for IKEv2");
        let mut signed = msg.to_vec();
        signed.extend_from_slice(&nonce);
        signed.extend_from_slice(maced.as_ref());
        let expected = hmac::sign(&k(padded.as_ref()), &signed);

        let got = psk_auth_data(Prf::HmacSha256, psk, &sk_p, msg, &nonce, &id);
        assert_eq!(got, expected.as_ref());
        assert_eq!(KEY_PAD.len(), 17);
    }

    #[test]
    fn both_roles_verify_and_tamper_fails() {
        let g = SecretBytes::from_slice(&[9; 32]);
        let keys = IkeSaKeys::derive(
            Prf::HmacSha384,
            Encr::AesGcm16_256,
            None,
            &g,
            &[1; 32],
            &[2; 32],
            &[3; 8],
            &[4; 8],
        )
        .unwrap();
        let psk = b"psk";
        for signer in [Role::Initiator, Role::Responder] {
            let auth = compute_psk_auth(&keys, signer, psk, b"msg", b"nonce", b"id");
            assert_eq!(auth.len(), 48);
            assert!(verify_psk_auth(&keys, signer, psk, b"msg", b"nonce", b"id", &auth).is_ok());
            // Wrong role uses the other SK_p.
            assert_eq!(
                verify_psk_auth(&keys, signer.peer(), psk, b"msg", b"nonce", b"id", &auth),
                Err(CryptoError::AuthenticationFailed)
            );
            assert!(
                verify_psk_auth(&keys, signer, b"psk2", b"msg", b"nonce", b"id", &auth).is_err()
            );
            assert!(
                verify_psk_auth(&keys, signer, psk, b"msg", b"nonce", b"id", &auth[..47]).is_err()
            );
            for i in 0..auth.len() {
                let mut bad = auth.clone();
                bad[i] ^= 0x01;
                assert!(
                    verify_psk_auth(&keys, signer, psk, b"msg", b"nonce", b"id", &bad).is_err()
                );
            }
        }
    }
}
