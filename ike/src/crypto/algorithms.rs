//! The algorithms this crate can actually run, and their IANA transform IDs.
//!
//! Only what ring 0.17 implements is offered: AES-GCM with a 16-byte ICV and
//! 128- or 256-bit keys (no AES-192, no 8/12-byte ICVs), HMAC-SHA2 PRFs, and
//! the ECP-256, ECP-384 and Curve25519 groups. The codec keeps its own wire
//! constants; these enums convert to and from the raw transform IDs so the
//! state machine can map a parsed proposal onto something runnable
//! (`from_transform_id` returns `None` for anything unsupported).

/// Encryption algorithm (transform type 1), usable for both the IKE SA
/// (RFC 5282) and ESP Child SAs (RFC 4106). Both are AEAD, so no integrity
/// transform is negotiated alongside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// ENCR_AES_GCM_16 with a 128-bit key (Key Length attribute 128).
    AesGcm16_128,
    /// ENCR_AES_GCM_16 with a 256-bit key (Key Length attribute 256).
    AesGcm16_256,
}

impl Encr {
    /// IANA "Transform Type 1" ID of ENCR_AES_GCM_16.
    pub const AES_GCM_16_ID: u16 = 20;
    /// Every supported variant, strongest first.
    pub const ALL: [Encr; 2] = [Encr::AesGcm16_256, Encr::AesGcm16_128];
    /// Length of the salt taken from the end of the key material (RFC 4106/5282).
    pub const SALT_LEN: usize = 4;
    /// Length of the explicit IV carried on the wire (RFC 4106/5282).
    pub const IV_LEN: usize = 8;
    /// Length of the integrity check value (the GCM tag).
    pub const ICV_LEN: usize = 16;

    /// Maps a transform ID plus its Key Length attribute (in bits) to a
    /// supported algorithm. AES-GCM requires the Key Length attribute, so
    /// `None` for it (or any other key length, such as 192) is unsupported.
    pub fn from_transform_id(id: u16, key_len_bits: Option<u16>) -> Option<Encr> {
        match (id, key_len_bits) {
            (Self::AES_GCM_16_ID, Some(128)) => Some(Encr::AesGcm16_128),
            (Self::AES_GCM_16_ID, Some(256)) => Some(Encr::AesGcm16_256),
            _ => None,
        }
    }

    /// The transform ID to put on the wire.
    pub fn transform_id(self) -> u16 {
        Self::AES_GCM_16_ID
    }

    /// The Key Length attribute value (bits) to put on the wire.
    pub fn key_len_bits(self) -> u16 {
        match self {
            Encr::AesGcm16_128 => 128,
            Encr::AesGcm16_256 => 256,
        }
    }

    /// AES key length in bytes.
    pub fn key_len(self) -> usize {
        usize::from(self.key_len_bits()) / 8
    }

    /// Bytes of key material drawn from prf+ per direction: the AES key
    /// followed by the 4-byte salt (this is also the kernel's
    /// `rfc4106(gcm(aes))` key layout).
    pub fn keymat_len(self) -> usize {
        self.key_len() + Self::SALT_LEN
    }

    pub(crate) fn ring_algorithm(self) -> &'static ring::aead::Algorithm {
        match self {
            Encr::AesGcm16_128 => &ring::aead::AES_128_GCM,
            Encr::AesGcm16_256 => &ring::aead::AES_256_GCM,
        }
    }
}

/// Pseudo-random function (transform type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA2_256 (RFC 4868).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (RFC 4868).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (RFC 4868).
    HmacSha512,
}

impl Prf {
    /// Every supported variant, strongest first.
    pub const ALL: [Prf; 3] = [Prf::HmacSha512, Prf::HmacSha384, Prf::HmacSha256];

    /// Maps an IANA "Transform Type 2" ID to a supported PRF.
    pub fn from_transform_id(id: u16) -> Option<Prf> {
        match id {
            5 => Some(Prf::HmacSha256),
            6 => Some(Prf::HmacSha384),
            7 => Some(Prf::HmacSha512),
            _ => None,
        }
    }

    /// The transform ID to put on the wire.
    pub fn transform_id(self) -> u16 {
        match self {
            Prf::HmacSha256 => 5,
            Prf::HmacSha384 => 6,
            Prf::HmacSha512 => 7,
        }
    }

    /// Output length in bytes. For HMAC this is also the "preferred key
    /// length" of RFC 7296 2.13, i.e. the length of SK_d, SK_pi and SK_pr.
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }

    pub(crate) fn hmac_algorithm(self) -> ring::hmac::Algorithm {
        match self {
            Prf::HmacSha256 => ring::hmac::HMAC_SHA256,
            Prf::HmacSha384 => ring::hmac::HMAC_SHA384,
            Prf::HmacSha512 => ring::hmac::HMAC_SHA512,
        }
    }
}

/// Diffie-Hellman group (transform type 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Group 19, 256-bit random ECP group (RFC 5903).
    Ecp256,
    /// Group 20, 384-bit random ECP group (RFC 5903).
    Ecp384,
    /// Group 31, Curve25519 (RFC 8031).
    Curve25519,
}

impl DhGroup {
    /// Every supported group, in a sensible default preference order.
    pub const ALL: [DhGroup; 3] = [DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Ecp384];

    /// Maps an IANA "Transform Type 4" ID (also the KE payload's DH Group
    /// Num and the INVALID_KE_PAYLOAD notify data) to a supported group.
    pub fn from_transform_id(id: u16) -> Option<DhGroup> {
        match id {
            19 => Some(DhGroup::Ecp256),
            20 => Some(DhGroup::Ecp384),
            31 => Some(DhGroup::Curve25519),
            _ => None,
        }
    }

    /// The transform ID to put on the wire.
    pub fn transform_id(self) -> u16 {
        match self {
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Curve25519 => 31,
        }
    }

    /// Length of the public value in the KE payload: X || Y for the ECP
    /// groups (RFC 5903 section 7, no 0x04 prefix), 32 bytes for Curve25519.
    pub fn public_value_len(self) -> usize {
        match self {
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Curve25519 => 32,
        }
    }

    /// Length of the shared secret g^ir (the X coordinate for ECP groups).
    pub fn shared_secret_len(self) -> usize {
        match self {
            DhGroup::Ecp256 => 32,
            DhGroup::Ecp384 => 48,
            DhGroup::Curve25519 => 32,
        }
    }

    pub(crate) fn ring_algorithm(self) -> &'static ring::agreement::Algorithm {
        match self {
            DhGroup::Ecp256 => &ring::agreement::ECDH_P256,
            DhGroup::Ecp384 => &ring::agreement::ECDH_P384,
            DhGroup::Curve25519 => &ring::agreement::X25519,
        }
    }

    /// Whether ring's encoding of the public key is `0x04 || X || Y`.
    pub(crate) fn is_ecp(self) -> bool {
        matches!(self, DhGroup::Ecp256 | DhGroup::Ecp384)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_ids_round_trip() {
        for e in Encr::ALL {
            assert_eq!(
                Encr::from_transform_id(e.transform_id(), Some(e.key_len_bits())),
                Some(e)
            );
        }
        for p in Prf::ALL {
            assert_eq!(Prf::from_transform_id(p.transform_id()), Some(p));
        }
        for g in DhGroup::ALL {
            assert_eq!(DhGroup::from_transform_id(g.transform_id()), Some(g));
        }
    }

    #[test]
    fn unsupported_ids_are_rejected() {
        assert_eq!(Encr::from_transform_id(20, Some(192)), None);
        assert_eq!(Encr::from_transform_id(20, None), None);
        assert_eq!(Encr::from_transform_id(19, Some(128)), None); // GCM-12
        assert_eq!(Encr::from_transform_id(12, Some(128)), None); // AES-CBC
        assert_eq!(Prf::from_transform_id(2), None); // HMAC-SHA1
        assert_eq!(DhGroup::from_transform_id(14), None); // MODP-2048
        assert_eq!(DhGroup::from_transform_id(21), None); // ECP-521
    }

    #[test]
    fn lengths() {
        assert_eq!(Encr::AesGcm16_128.keymat_len(), 20);
        assert_eq!(Encr::AesGcm16_256.keymat_len(), 36);
        assert_eq!(Prf::HmacSha384.output_len(), 48);
        assert_eq!(DhGroup::Ecp384.public_value_len(), 96);
    }
}
