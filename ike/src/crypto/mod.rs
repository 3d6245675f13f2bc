//! IKEv2 cryptography on top of ring (and RustCrypto's `aes`, `cbc`,
//! `crypto-bigint` and `p521` for what ring lacks): algorithm identifiers, ephemeral
//! Diffie-Hellman, the PRF and key schedule, PSK authentication, NAT-D
//! hashes, the Encrypted (SK) payload cipher and responder cookies.
//!
//! Sans-IO like the rest of the crate: no clock and no randomness source of
//! its own. Whatever needs randomness takes a `&dyn ring::rand::SecureRandom`
//! (pass `ring::rand::SystemRandom` in production). Secrets live in
//! [`SecretBytes`] (zeroised on drop, redacted in `Debug`), and every MAC,
//! AUTH and cookie check compares in constant time.
//!
//! Typical flow for the state machine:
//! 1. [`DhPrivateKey::generate`] for the proposed [`DhGroup`]; send
//!    [`DhPrivateKey::public_value`] in KE (a new key for every
//!    INVALID_KE_PAYLOAD retry: `agree` consumes the key).
//! 2. `g_ir = key.agree(peer_ke_data)?`, then [`IkeSaKeys::derive`].
//! 3. [`IkeSaKeys::outbound_cipher`] / [`IkeSaKeys::inbound_cipher`] once
//!    per IKE SA for the SK payloads: with the codec doing the padding,
//!    `SealFrame::sk(.., SkCipher::encrypted_len(padded.len()))`, then
//!    [`SkCipher::seal_raw`]`(frame.aad(), &padded)`; on receipt
//!    [`SkCipher::open_raw`]`(view.aad, view.encrypted)` and
//!    `view.decode_inner(..)` (see `tests/crypto_wire_glue.rs`).
//! 4. [`compute_psk_auth`] / [`verify_psk_auth`] for the AUTH payloads.
//! 5. [`IkeSaKeys::child_sa_keys`] for each Child SA's kernel keys
//!    (`key || salt` per direction), [`IkeSaKeys::derive_rekeyed`] for an
//!    IKE SA rekey.
//! 6. A responder under load uses [`CookieSecrets`]; both ends use
//!    [`nat_detection_hash`] for the NAT_DETECTION_* notifies.

mod algorithms;
mod auth;
mod cookie;
mod dh;
mod ecp521;
mod error;
mod keys;
mod modp;
mod natd;
mod prf;
mod random;
mod secret;
mod sk_cipher;

pub use algorithms::{DhGroup, Encr, Integ, Prf};
pub use auth::{compute_psk_auth, psk_auth_data, verify_psk_auth, KEY_PAD};
pub use cookie::{CookieSecrets, COOKIE_LEN};
pub use dh::{check_public_value, DhPrivateKey};
pub use error::CryptoError;
pub use keys::{rekey_skeyseed, skeyseed, ChildSaKeys, IkeSaKeys, Role};
pub use natd::{nat_detection_hash, nat_detection_matches, NAT_DETECTION_HASH_LEN};
pub use prf::{prf, prf_plus};
pub use random::{random_ike_spi, random_nonce, NONCE_LEN};
pub use secret::SecretBytes;
pub use sk_cipher::SkCipher;

/// Hex text to bytes, for the unit tests' vectors.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
