//! The algorithms this crate can actually run, and their IANA transform IDs.
//!
//! ring 0.17 runs AES-GCM with a 16-byte ICV and 128- or 256-bit keys (no
//! AES-192, no 8/12-byte ICVs), HMAC-SHA2 (PRFs and the integrity
//! transforms), and the ECP-256, ECP-384 and Curve25519 groups. What ring
//! lacks comes from RustCrypto crates (see `ike/README.md`): AES-CBC for
//! the SK payload (`aes` + `cbc`), the MODP groups 14, 15 and 16
//! (`crypto-bigint`) and ECP-521 (`p521`). The codec keeps its own wire
//! constants; these enums convert to and from the raw transform IDs so the
//! state machine can map a parsed proposal onto something runnable
//! (`from_transform_id` returns `None` for anything unsupported).

/// Encryption algorithm (transform type 1), usable for both the IKE SA and
/// ESP Child SAs. AES-GCM is AEAD (RFC 5282 / RFC 4106: no integrity
/// transform alongside it); AES-CBC (RFC 3602) needs an [`Integ`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// ENCR_AES_GCM_16 with a 128-bit key (Key Length attribute 128).
    AesGcm16_128,
    /// ENCR_AES_GCM_16 with a 256-bit key (Key Length attribute 256).
    AesGcm16_256,
    /// ENCR_AES_CBC with a 128-bit key (Key Length attribute 128).
    AesCbc128,
    /// ENCR_AES_CBC with a 256-bit key (Key Length attribute 256).
    AesCbc256,
}

impl Encr {
    /// IANA "Transform Type 1" ID of ENCR_AES_GCM_16.
    pub const AES_GCM_16_ID: u16 = 20;
    /// IANA "Transform Type 1" ID of ENCR_AES_CBC.
    pub const AES_CBC_ID: u16 = 12;
    /// Every supported variant: AEAD first, each family strongest first.
    pub const ALL: [Encr; 4] = [
        Encr::AesGcm16_256,
        Encr::AesGcm16_128,
        Encr::AesCbc256,
        Encr::AesCbc128,
    ];
    /// AES-GCM: length of the salt taken from the end of the key material
    /// (RFC 4106/5282).
    pub const SALT_LEN: usize = 4;
    /// AES-GCM: length of the explicit IV carried on the wire (RFC 4106/5282).
    pub const IV_LEN: usize = 8;
    /// AES-GCM: length of the integrity check value (the GCM tag).
    pub const ICV_LEN: usize = 16;
    /// AES-CBC: the IV on the wire is one cipher block (RFC 3602).
    pub const CBC_IV_LEN: usize = 16;
    /// AES block length: AES-CBC plaintext is padded to a multiple of it.
    pub const BLOCK_LEN: usize = 16;

    /// Maps a transform ID plus its Key Length attribute (in bits) to a
    /// supported algorithm. AES-GCM and AES-CBC both require the Key Length
    /// attribute, so `None` for it (or any other key length, such as 192)
    /// is unsupported.
    pub fn from_transform_id(id: u16, key_len_bits: Option<u16>) -> Option<Encr> {
        match (id, key_len_bits) {
            (Self::AES_GCM_16_ID, Some(128)) => Some(Encr::AesGcm16_128),
            (Self::AES_GCM_16_ID, Some(256)) => Some(Encr::AesGcm16_256),
            (Self::AES_CBC_ID, Some(128)) => Some(Encr::AesCbc128),
            (Self::AES_CBC_ID, Some(256)) => Some(Encr::AesCbc256),
            _ => None,
        }
    }

    /// The transform ID to put on the wire.
    pub fn transform_id(self) -> u16 {
        if self.is_aead() {
            Self::AES_GCM_16_ID
        } else {
            Self::AES_CBC_ID
        }
    }

    /// Whether this is an AEAD cipher (no integrity transform with it).
    pub fn is_aead(self) -> bool {
        matches!(self, Encr::AesGcm16_128 | Encr::AesGcm16_256)
    }

    /// The Key Length attribute value (bits) to put on the wire.
    pub fn key_len_bits(self) -> u16 {
        match self {
            Encr::AesGcm16_128 | Encr::AesCbc128 => 128,
            Encr::AesGcm16_256 | Encr::AesCbc256 => 256,
        }
    }

    /// AES key length in bytes.
    pub fn key_len(self) -> usize {
        usize::from(self.key_len_bits()) / 8
    }

    /// Bytes of encryption key material drawn from prf+ per direction:
    /// for AES-GCM the AES key followed by the 4-byte salt (this is also
    /// the kernel's `rfc4106(gcm(aes))` key layout), for AES-CBC the AES
    /// key alone (the integrity key is drawn separately, [`Integ::key_len`]).
    pub fn keymat_len(self) -> usize {
        if self.is_aead() {
            self.key_len() + Self::SALT_LEN
        } else {
            self.key_len()
        }
    }

    /// ring's AEAD for the AES-GCM variants; `None` for AES-CBC.
    pub(crate) fn ring_aead(self) -> Option<&'static ring::aead::Algorithm> {
        match self {
            Encr::AesGcm16_128 => Some(&ring::aead::AES_128_GCM),
            Encr::AesGcm16_256 => Some(&ring::aead::AES_256_GCM),
            Encr::AesCbc128 | Encr::AesCbc256 => None,
        }
    }
}

/// Integrity algorithm (transform type 3): HMAC-SHA2 truncated to half the
/// hash length (RFC 4868), used with AES-CBC in the SK payload and in ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// AUTH_HMAC_SHA2_256_128: 32-byte key, 16-byte ICV.
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192: 48-byte key, 24-byte ICV.
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256: 64-byte key, 32-byte ICV.
    HmacSha512_256,
}

impl Integ {
    /// Every supported variant, strongest first.
    pub const ALL: [Integ; 3] = [
        Integ::HmacSha512_256,
        Integ::HmacSha384_192,
        Integ::HmacSha256_128,
    ];

    /// Maps an IANA "Transform Type 3" ID to a supported algorithm.
    pub fn from_transform_id(id: u16) -> Option<Integ> {
        match id {
            12 => Some(Integ::HmacSha256_128),
            13 => Some(Integ::HmacSha384_192),
            14 => Some(Integ::HmacSha512_256),
            _ => None,
        }
    }

    /// The transform ID to put on the wire.
    pub fn transform_id(self) -> u16 {
        match self {
            Integ::HmacSha256_128 => 12,
            Integ::HmacSha384_192 => 13,
            Integ::HmacSha512_256 => 14,
        }
    }

    /// Key length in bytes: the hash output length (RFC 4868 2.1.1).
    pub fn key_len(self) -> usize {
        match self {
            Integ::HmacSha256_128 => 32,
            Integ::HmacSha384_192 => 48,
            Integ::HmacSha512_256 => 64,
        }
    }

    /// Length of the truncated ICV in bytes: half the hash (RFC 4868 2.3).
    pub fn icv_len(self) -> usize {
        self.key_len() / 2
    }

    pub(crate) fn hmac_algorithm(self) -> ring::hmac::Algorithm {
        match self {
            Integ::HmacSha256_128 => ring::hmac::HMAC_SHA256,
            Integ::HmacSha384_192 => ring::hmac::HMAC_SHA384,
            Integ::HmacSha512_256 => ring::hmac::HMAC_SHA512,
        }
    }

    /// The ICV of `parts` (concatenated) under `key`: HMAC truncated to
    /// [`icv_len`](Self::icv_len) bytes.
    pub fn icv(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let key = ring::hmac::Key::new(self.hmac_algorithm(), key);
        let mut ctx = ring::hmac::Context::with_key(&key);
        for part in parts {
            ctx.update(part);
        }
        let tag = ctx.sign();
        tag.as_ref()[..self.icv_len()].to_vec()
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
    /// Group 14, 2048-bit MODP group (RFC 3526 section 3).
    Modp2048,
    /// Group 15, 3072-bit MODP group (RFC 3526 section 4).
    Modp3072,
    /// Group 16, 4096-bit MODP group (RFC 3526 section 5).
    Modp4096,
    /// Group 19, 256-bit random ECP group (RFC 5903).
    Ecp256,
    /// Group 20, 384-bit random ECP group (RFC 5903).
    Ecp384,
    /// Group 21, 521-bit random ECP group (RFC 5903).
    Ecp521,
    /// Group 31, Curve25519 (RFC 8031).
    Curve25519,
}

impl DhGroup {
    /// Every supported group, in a sensible default preference order:
    /// the elliptic curves (fast) before the MODP groups.
    pub const ALL: [DhGroup; 7] = [
        DhGroup::Curve25519,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
    ];

    /// Maps an IANA "Transform Type 4" ID (also the KE payload's DH Group
    /// Num and the INVALID_KE_PAYLOAD notify data) to a supported group.
    pub fn from_transform_id(id: u16) -> Option<DhGroup> {
        match id {
            14 => Some(DhGroup::Modp2048),
            15 => Some(DhGroup::Modp3072),
            16 => Some(DhGroup::Modp4096),
            19 => Some(DhGroup::Ecp256),
            20 => Some(DhGroup::Ecp384),
            21 => Some(DhGroup::Ecp521),
            31 => Some(DhGroup::Curve25519),
            _ => None,
        }
    }

    /// The transform ID to put on the wire.
    pub fn transform_id(self) -> u16 {
        match self {
            DhGroup::Modp2048 => 14,
            DhGroup::Modp3072 => 15,
            DhGroup::Modp4096 => 16,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Ecp521 => 21,
            DhGroup::Curve25519 => 31,
        }
    }

    /// Length of the public value in the KE payload: X || Y for the ECP
    /// groups (RFC 5903 section 7, no 0x04 prefix), 32 bytes for Curve25519,
    /// the modulus length for the MODP groups (RFC 7296 3.4: zero-padded).
    pub fn public_value_len(self) -> usize {
        match self {
            DhGroup::Modp2048 => 256,
            DhGroup::Modp3072 => 384,
            DhGroup::Modp4096 => 512,
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Ecp521 => 132,
            DhGroup::Curve25519 => 32,
        }
    }

    /// Length of the shared secret g^ir (the X coordinate for ECP groups,
    /// the modulus length for MODP groups, RFC 7296 2.14).
    pub fn shared_secret_len(self) -> usize {
        match self {
            DhGroup::Modp2048 | DhGroup::Modp3072 | DhGroup::Modp4096 => self.public_value_len(),
            DhGroup::Ecp256 => 32,
            DhGroup::Ecp384 => 48,
            DhGroup::Ecp521 => 66,
            DhGroup::Curve25519 => 32,
        }
    }

    /// Whether this is a MODP (finite field) group.
    pub fn is_modp(self) -> bool {
        matches!(
            self,
            DhGroup::Modp2048 | DhGroup::Modp3072 | DhGroup::Modp4096
        )
    }

    /// ring's agreement algorithm, for the groups ring implements.
    pub(crate) fn ring_algorithm(self) -> Option<&'static ring::agreement::Algorithm> {
        match self {
            DhGroup::Ecp256 => Some(&ring::agreement::ECDH_P256),
            DhGroup::Ecp384 => Some(&ring::agreement::ECDH_P384),
            DhGroup::Curve25519 => Some(&ring::agreement::X25519),
            _ => None,
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
        for i in Integ::ALL {
            assert_eq!(Integ::from_transform_id(i.transform_id()), Some(i));
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
        assert_eq!(Encr::from_transform_id(12, Some(192)), None); // AES-CBC-192
        assert_eq!(Encr::from_transform_id(12, None), None);
        assert_eq!(Encr::from_transform_id(13, Some(128)), None); // AES-CTR
        assert_eq!(Prf::from_transform_id(2), None); // HMAC-SHA1
        assert_eq!(Integ::from_transform_id(2), None); // HMAC-SHA1-96
        assert_eq!(Integ::from_transform_id(5), None); // AES-XCBC-96
        assert_eq!(DhGroup::from_transform_id(2), None); // MODP-1024
        assert_eq!(DhGroup::from_transform_id(18), None); // MODP-8192
        assert_eq!(DhGroup::from_transform_id(32), None); // Curve448
    }

    #[test]
    fn lengths() {
        assert_eq!(Encr::AesGcm16_128.keymat_len(), 20);
        assert_eq!(Encr::AesGcm16_256.keymat_len(), 36);
        assert_eq!(Prf::HmacSha384.output_len(), 48);
        assert_eq!(DhGroup::Ecp384.public_value_len(), 96);
        assert_eq!(Encr::AesCbc128.keymat_len(), 16);
        assert_eq!(Encr::AesCbc256.keymat_len(), 32);
        assert!(!Encr::AesCbc256.is_aead() && Encr::AesGcm16_128.is_aead());
        // RFC 4868: keys of the hash length, ICVs of half of it.
        let lens: Vec<(usize, usize)> = [
            Integ::HmacSha256_128,
            Integ::HmacSha384_192,
            Integ::HmacSha512_256,
        ]
        .iter()
        .map(|i| (i.key_len(), i.icv_len()))
        .collect();
        assert_eq!(lens, vec![(32, 16), (48, 24), (64, 32)]);
        assert_eq!(DhGroup::Modp4096.public_value_len(), 512);
        assert_eq!(DhGroup::Ecp521.public_value_len(), 132);
        assert_eq!(DhGroup::Ecp521.shared_secret_len(), 66);
    }
}
