//! Typed errors of the crypto layer.
//!
//! Every fallible operation in [`crate::crypto`] returns [`CryptoError`]. The
//! variants are deliberately coarse where detail would help an attacker (an
//! AEAD failure does not say whether the tag or the padding was wrong beyond
//! what the protocol already reveals) and precise where the state machine
//! needs to react (a peer public value of the wrong length is answered with
//! INVALID_SYNTAX, an authentication failure with AUTHENTICATION_FAILED, ...).

use super::algorithms::{DhGroup, Encr, Integ};

/// Errors returned by the IKEv2 crypto primitives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The random number generator handed in by the caller failed.
    #[error("the random number generator failed")]
    Rng,

    /// A peer's Diffie-Hellman public value has the wrong length for its group.
    #[error("{group:?} public value must be {expected} bytes, got {actual}")]
    PublicValueLength {
        /// The group the value was meant for.
        group: DhGroup,
        /// The length RFC 5903 / RFC 8031 prescribes.
        expected: usize,
        /// The length received.
        actual: usize,
    },

    /// A MODP public value outside 1 < y < p-1 (RFC 7296 section 5).
    #[error("MODP public value out of range (must be 1 < y < p-1)")]
    PublicValueOutOfRange,

    /// An ECP public value that is not a point of the curve.
    #[error("ECP public value is not a point on the curve")]
    PointNotOnCurve,

    /// The peer's public value is malformed (not on the curve, a small-order
    /// point giving an all-zero X25519 result, ...) or the agreement failed.
    #[error("Diffie-Hellman key agreement with the peer's public value failed")]
    KeyAgreement,

    /// More prf+ output was asked for than RFC 7296 2.13 allows
    /// (255 iterations of the PRF).
    #[error("prf+ cannot produce {requested} bytes (at most {max})")]
    PrfPlusTooLong {
        /// Bytes requested.
        requested: usize,
        /// Bytes the PRF can produce in 255 iterations.
        max: usize,
    },

    /// Key material of the wrong length was handed to a cipher.
    #[error("key material must be {expected} bytes, got {actual}")]
    KeyLength {
        /// Length the algorithm needs (key plus salt for AES-GCM).
        expected: usize,
        /// Length received.
        actual: usize,
    },

    /// An encryption algorithm paired with an integrity algorithm it does
    /// not take: AES-GCM with one, or AES-CBC without one.
    #[error("{encr:?} cannot be used with integrity {integ:?}")]
    IntegrityMismatch {
        /// The encryption algorithm.
        encr: Encr,
        /// The integrity algorithm given (or none).
        integ: Option<Integ>,
    },

    /// AES-CBC ciphertext that is not a whole number of blocks.
    #[error("encrypted data of {0} bytes is not a whole number of AES blocks")]
    NotBlockAligned(usize),

    /// An Encrypted payload body too short to hold IV, pad length and ICV.
    #[error("encrypted payload body too short: {0} bytes")]
    Truncated(usize),

    /// The AEAD tag or the HMAC ICV did not verify: the ciphertext, the
    /// ICV, the IV or the associated data was altered, or the wrong key
    /// was used.
    #[error("integrity check of the encrypted payload failed")]
    IntegrityCheckFailed,

    /// The decrypted Pad Length points before the start of the plaintext.
    #[error("invalid pad length {pad_len} for {plaintext_len} decrypted bytes")]
    BadPadding {
        /// The Pad Length byte.
        pad_len: u8,
        /// Decrypted bytes including padding and the pad length byte.
        plaintext_len: usize,
    },

    /// The per-SA explicit IV counter is used up; the SA must be rekeyed.
    #[error("the explicit IV counter of this SA is exhausted")]
    IvExhausted,

    /// A message too large for the AEAD (should never happen for UDP-sized
    /// IKE messages).
    #[error("message too large to encrypt")]
    TooLarge,

    /// The AUTH payload did not match the value computed from the PSK.
    #[error("AUTH payload verification failed")]
    AuthenticationFailed,

    /// A COOKIE did not verify against the current or previous secret.
    #[error("invalid cookie")]
    InvalidCookie,
}
