//! ESP algorithms and key material.
//!
//! - [`SecretKey`]: key bytes that are zeroised on drop and never printed
//!   (`Debug` shows `<redacted N bytes>`).
//! - [`EspTransform`]: the two families the engine negotiates:
//!   AEAD `rfc4106(gcm(aes))` (key = AES key || 4-byte salt, 128-bit ICV)
//!   and `cbc(aes)` + HMAC-SHA2-256/384/512 sent as `XFRMA_ALG_AUTH_TRUNC`
//!   with the RFC 4868 truncation (128 / 192 / 256 bits). Plain `XFRMA_ALG_AUTH` is never
//!   used because the kernel would pick a 96-bit default truncation.
//! - [`AlgorithmInfo`]: what an SA read back from the kernel uses (names and
//!   lengths only, never keys).

use std::fmt;

use netlink_packet_xfrm::{
    Alg, AlgAead, AlgAuth, XfrmAttrs, XFRM_ALG_AEAD_NAME_LEN, XFRM_ALG_AUTH_NAME_LEN,
    XFRM_ALG_NAME_LEN,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::XfrmError;

/// Kernel name of AES-GCM for ESP (RFC 4106).
pub const AES_GCM_NAME: &str = "rfc4106(gcm(aes))";
/// Kernel name of AES-CBC.
pub const AES_CBC_NAME: &str = "cbc(aes)";
/// Kernel name of HMAC-SHA2-256.
pub const HMAC_SHA256_NAME: &str = "hmac(sha256)";
/// Kernel name of HMAC-SHA2-384.
pub const HMAC_SHA384_NAME: &str = "hmac(sha384)";
/// Kernel name of HMAC-SHA2-512.
pub const HMAC_SHA512_NAME: &str = "hmac(sha512)";

/// Length of the GCM salt appended to the AES key (RFC 4106).
pub const GCM_SALT_LEN: usize = 4;
/// ICV length used with GCM, in bits (16 octets; the only size the engine uses).
pub const GCM_ICV_BITS: u32 = 128;

/// Secret key bytes. Zeroised on drop, never shown by `Debug`, and not
/// comparable with `==` (no `PartialEq`, so no variable-time comparisons;
/// [`SecretKey::ct_eq`] compares in constant time).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Take ownership of key bytes (the vector is zeroised when the key drops).
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretKey(bytes)
    }

    /// Copy key bytes from a slice.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretKey(bytes.to_vec())
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with `bytes` (lengths are not secret).
    pub fn ct_eq(&self, bytes: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == bytes.len() && bool::from(self.0.ct_eq(bytes))
    }

    /// The key bytes. Only the message builder needs them.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

/// Integrity algorithm paired with AES-CBC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// HMAC-SHA2-256 truncated to 128 bits (RFC 4868), 32-byte key.
    HmacSha256_128,
    /// HMAC-SHA2-384 truncated to 192 bits (RFC 4868), 48-byte key.
    HmacSha384_192,
    /// HMAC-SHA2-512 truncated to 256 bits (RFC 4868), 64-byte key.
    HmacSha512_256,
}

impl Integrity {
    /// Kernel algorithm name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Integrity::HmacSha256_128 => HMAC_SHA256_NAME,
            Integrity::HmacSha384_192 => HMAC_SHA384_NAME,
            Integrity::HmacSha512_256 => HMAC_SHA512_NAME,
        }
    }

    /// Truncation length of the ICV in bits.
    pub fn truncation_bits(self) -> u32 {
        match self {
            Integrity::HmacSha256_128 => 128,
            Integrity::HmacSha384_192 => 192,
            Integrity::HmacSha512_256 => 256,
        }
    }

    /// Key length in bytes (the hash output size, RFC 4868).
    pub fn key_len(self) -> usize {
        match self {
            Integrity::HmacSha256_128 => 32,
            Integrity::HmacSha384_192 => 48,
            Integrity::HmacSha512_256 => 64,
        }
    }
}

/// The cryptographic transform of an ESP SA, with its keys.
#[derive(Debug, Clone)]
pub enum EspTransform {
    /// AES-GCM with a 16-octet ICV. `key` is the AES key (16 or 32 bytes)
    /// followed by the 4-byte salt: 20 or 36 bytes in all.
    AesGcm { key: SecretKey },
    /// AES-CBC (16 or 32-byte key) with HMAC-SHA2 integrity.
    AesCbc {
        enc_key: SecretKey,
        integrity: Integrity,
        auth_key: SecretKey,
    },
}

impl EspTransform {
    /// AES-GCM-16 with the given key||salt (20 or 36 bytes).
    pub fn aes_gcm(key_and_salt: SecretKey) -> Self {
        EspTransform::AesGcm { key: key_and_salt }
    }

    /// AES-CBC with HMAC-SHA2.
    pub fn aes_cbc(enc_key: SecretKey, integrity: Integrity, auth_key: SecretKey) -> Self {
        EspTransform::AesCbc {
            enc_key,
            integrity,
            auth_key,
        }
    }

    /// Human-readable algorithm names, used in error messages.
    pub fn describe(&self) -> String {
        match self {
            EspTransform::AesGcm { key } => format!(
                "{AES_GCM_NAME} (AES-{}, ICV {GCM_ICV_BITS})",
                key.len().saturating_sub(GCM_SALT_LEN) * 8
            ),
            EspTransform::AesCbc {
                enc_key, integrity, ..
            } => format!(
                "{AES_CBC_NAME} (AES-{}) + {} truncated to {}",
                enc_key.len() * 8,
                integrity.kernel_name(),
                integrity.truncation_bits()
            ),
        }
    }

    /// Check key lengths before anything is sent to the kernel.
    pub fn validate(&self) -> Result<(), XfrmError> {
        match self {
            EspTransform::AesGcm { key } => {
                if key.len() != 16 + GCM_SALT_LEN && key.len() != 32 + GCM_SALT_LEN {
                    return Err(XfrmError::InvalidInput(format!(
                        "AES-GCM wants a 16 or 32-byte key plus a 4-byte salt (20 or 36 bytes), got {} bytes",
                        key.len()
                    )));
                }
            }
            EspTransform::AesCbc {
                enc_key,
                integrity,
                auth_key,
            } => {
                if enc_key.len() != 16 && enc_key.len() != 32 {
                    return Err(XfrmError::InvalidInput(format!(
                        "AES-CBC wants a 16 or 32-byte key, got {} bytes",
                        enc_key.len()
                    )));
                }
                if auth_key.len() != integrity.key_len() {
                    return Err(XfrmError::InvalidInput(format!(
                        "{} wants a {}-byte key, got {} bytes",
                        integrity.kernel_name(),
                        integrity.key_len(),
                        auth_key.len()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The NLAs carrying this transform. The returned attributes contain key
    /// copies: callers must scrub them (see `wire::scrub_attrs`).
    pub(crate) fn to_attrs(&self) -> Vec<XfrmAttrs> {
        match self {
            EspTransform::AesGcm { key } => vec![XfrmAttrs::EncryptionAlgAead(AlgAead {
                alg_name: name_field::<XFRM_ALG_AEAD_NAME_LEN>(AES_GCM_NAME),
                alg_key_len: (key.len() * 8) as u32,
                alg_icv_len: GCM_ICV_BITS,
                alg_key: key.expose().to_vec(),
            })],
            EspTransform::AesCbc {
                enc_key,
                integrity,
                auth_key,
            } => vec![
                XfrmAttrs::EncryptionAlg(Alg {
                    alg_name: name_field::<XFRM_ALG_NAME_LEN>(AES_CBC_NAME),
                    alg_key_len: (enc_key.len() * 8) as u32,
                    alg_key: enc_key.expose().to_vec(),
                }),
                XfrmAttrs::AuthenticationAlgTrunc(AlgAuth {
                    alg_name: name_field::<XFRM_ALG_AUTH_NAME_LEN>(integrity.kernel_name()),
                    alg_key_len: (auth_key.len() * 8) as u32,
                    alg_trunc_len: integrity.truncation_bits(),
                    alg_key: auth_key.expose().to_vec(),
                }),
            ],
        }
    }
}

/// NUL-padded fixed-size algorithm name field.
fn name_field<const N: usize>(name: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let n = name.len().min(N - 1);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// Decode a NUL-padded name field.
pub(crate) fn name_from_field(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The role of an algorithm on an SA read back from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmRole {
    /// `XFRMA_ALG_AEAD`.
    Aead,
    /// `XFRMA_ALG_CRYPT`.
    Encryption,
    /// `XFRMA_ALG_AUTH_TRUNC` (or plain `XFRMA_ALG_AUTH`).
    Integrity,
}

/// An algorithm of an SA as the kernel reports it (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmInfo {
    pub role: AlgorithmRole,
    /// Kernel name, e.g. `rfc4106(gcm(aes))`.
    pub name: String,
    /// Key length in bits (for GCM this includes the 32-bit salt).
    pub key_bits: u32,
    /// ICV length (AEAD) or truncation length (integrity), in bits.
    pub icv_bits: Option<u32>,
}

impl AlgorithmInfo {
    /// Describe an algorithm attribute of a kernel reply, if it is one.
    pub(crate) fn from_attr(attr: &XfrmAttrs) -> Option<Self> {
        match attr {
            XfrmAttrs::EncryptionAlgAead(a) => Some(AlgorithmInfo {
                role: AlgorithmRole::Aead,
                name: name_from_field(&a.alg_name),
                key_bits: a.alg_key_len,
                icv_bits: Some(a.alg_icv_len),
            }),
            XfrmAttrs::EncryptionAlg(a) => Some(AlgorithmInfo {
                role: AlgorithmRole::Encryption,
                name: name_from_field(&a.alg_name),
                key_bits: a.alg_key_len,
                icv_bits: None,
            }),
            XfrmAttrs::AuthenticationAlgTrunc(a) => Some(AlgorithmInfo {
                role: AlgorithmRole::Integrity,
                name: name_from_field(&a.alg_name),
                key_bits: a.alg_key_len,
                icv_bits: Some(a.alg_trunc_len),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = SecretKey::new(vec![0xAB; 36]);
        let t = EspTransform::aes_gcm(key.clone());
        let printed = format!("{key:?} {t:?}");
        assert!(printed.contains("<redacted 36 bytes>"), "{printed}");
        assert!(!printed.to_lowercase().contains("ab, "), "{printed}");
        assert!(!printed.contains("171"), "{printed}");
    }

    #[test]
    fn gcm_attrs_carry_key_salt_and_icv() {
        let t = EspTransform::aes_gcm(SecretKey::new((0..36).collect()));
        t.validate().unwrap();
        let attrs = t.to_attrs();
        assert_eq!(attrs.len(), 1);
        match &attrs[0] {
            XfrmAttrs::EncryptionAlgAead(a) => {
                assert_eq!(name_from_field(&a.alg_name), "rfc4106(gcm(aes))");
                assert_eq!(a.alg_key_len, 288);
                assert_eq!(a.alg_icv_len, 128);
                assert_eq!(a.alg_key, (0..36).collect::<Vec<u8>>());
            }
            other => panic!("unexpected attribute kind {}", attr_kind(other)),
        }
    }

    fn attr_kind(a: &XfrmAttrs) -> u16 {
        use netlink_packet_core::Nla;
        a.kind()
    }

    #[test]
    fn cbc_uses_auth_trunc_with_rfc4868_lengths() {
        for (integ, klen, trunc, name) in [
            (Integrity::HmacSha256_128, 32, 128, "hmac(sha256)"),
            (Integrity::HmacSha384_192, 48, 192, "hmac(sha384)"),
            (Integrity::HmacSha512_256, 64, 256, "hmac(sha512)"),
        ] {
            let t = EspTransform::aes_cbc(
                SecretKey::new(vec![1; 32]),
                integ,
                SecretKey::new(vec![2; klen]),
            );
            t.validate().unwrap();
            let attrs = t.to_attrs();
            assert_eq!(attrs.len(), 2);
            let kinds: Vec<u16> = attrs.iter().map(attr_kind).collect();
            assert_eq!(
                kinds,
                vec![
                    netlink_packet_xfrm::XFRMA_ALG_CRYPT,
                    netlink_packet_xfrm::XFRMA_ALG_AUTH_TRUNC
                ]
            );
            match &attrs[1] {
                XfrmAttrs::AuthenticationAlgTrunc(a) => {
                    assert_eq!(name_from_field(&a.alg_name), name);
                    assert_eq!(a.alg_trunc_len, trunc);
                    assert_eq!(a.alg_key_len as usize, klen * 8);
                }
                other => panic!("unexpected attribute kind {}", attr_kind(other)),
            }
        }
    }

    #[test]
    fn wrong_key_lengths_are_refused() {
        assert!(EspTransform::aes_gcm(SecretKey::new(vec![0; 32]))
            .validate()
            .is_err());
        assert!(EspTransform::aes_gcm(SecretKey::new(vec![0; 20]))
            .validate()
            .is_ok());
        let bad_auth = EspTransform::aes_cbc(
            SecretKey::new(vec![0; 16]),
            Integrity::HmacSha512_256,
            SecretKey::new(vec![0; 32]),
        );
        assert!(bad_auth.validate().is_err());
    }
}
