//! Transform types, transform IDs and transform attribute types
//! (RFC 7296 section 3.3.2 and 3.3.5, IANA "Transform Type N" registries).

registry! {
    /// Transform type (RFC 7296 section 3.3.2).
    TransformType(u8) {
        /// Encryption algorithm (ENCR).
        ENCR = 1,
        /// Pseudorandom function (PRF).
        PRF = 2,
        /// Integrity algorithm (INTEG).
        INTEG = 3,
        /// Diffie-Hellman group (D-H), "Key Exchange Method" since RFC 9370.
        DH = 4,
        /// Extended Sequence Numbers (ESN).
        ESN = 5,
    }
}

registry! {
    /// Transform type 1: encryption algorithm IDs.
    EncrId(u16) {
        DES = 2,
        TRIPLE_DES = 3,
        NULL = 11,
        AES_CBC = 12,
        AES_CTR = 13,
        AES_CCM_8 = 14,
        AES_CCM_12 = 15,
        AES_CCM_16 = 16,
        AES_GCM_8 = 18,
        AES_GCM_12 = 19,
        AES_GCM_16 = 20,
        NULL_AUTH_AES_GMAC = 21,
        CAMELLIA_CBC = 23,
        CHACHA20_POLY1305 = 28,
    }
}

impl EncrId {
    /// Whether this is an AEAD cipher (no separate integrity transform;
    /// RFC 5282 / RFC 7634).
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            EncrId::AES_CCM_8
                | EncrId::AES_CCM_12
                | EncrId::AES_CCM_16
                | EncrId::AES_GCM_8
                | EncrId::AES_GCM_12
                | EncrId::AES_GCM_16
                | EncrId::CHACHA20_POLY1305
        )
    }
}

registry! {
    /// Transform type 2: pseudorandom function IDs.
    PrfId(u16) {
        HMAC_MD5 = 1,
        HMAC_SHA1 = 2,
        HMAC_TIGER = 3,
        AES128_XCBC = 4,
        HMAC_SHA2_256 = 5,
        HMAC_SHA2_384 = 6,
        HMAC_SHA2_512 = 7,
        AES128_CMAC = 8,
    }
}

registry! {
    /// Transform type 3: integrity algorithm IDs.
    IntegId(u16) {
        NONE = 0,
        HMAC_MD5_96 = 1,
        HMAC_SHA1_96 = 2,
        DES_MAC = 3,
        KPDK_MD5 = 4,
        AES_XCBC_96 = 5,
        HMAC_MD5_128 = 6,
        HMAC_SHA1_160 = 7,
        AES_CMAC_96 = 8,
        AES_128_GMAC = 9,
        AES_192_GMAC = 10,
        AES_256_GMAC = 11,
        HMAC_SHA2_256_128 = 12,
        HMAC_SHA2_384_192 = 13,
        HMAC_SHA2_512_256 = 14,
    }
}

registry! {
    /// Transform type 4: Diffie-Hellman group (key exchange method) IDs.
    DhGroup(u16) {
        NONE = 0,
        MODP768 = 1,
        MODP1024 = 2,
        MODP1536 = 5,
        MODP2048 = 14,
        MODP3072 = 15,
        MODP4096 = 16,
        MODP6144 = 17,
        MODP8192 = 18,
        ECP256 = 19,
        ECP384 = 20,
        ECP521 = 21,
        MODP1024_S160 = 22,
        MODP2048_S224 = 23,
        MODP2048_S256 = 24,
        ECP192 = 25,
        ECP224 = 26,
        BRAINPOOL_P224R1 = 27,
        BRAINPOOL_P256R1 = 28,
        BRAINPOOL_P384R1 = 29,
        BRAINPOOL_P512R1 = 30,
        CURVE25519 = 31,
        CURVE448 = 32,
    }
}

registry! {
    /// Transform type 5: extended sequence numbers.
    EsnId(u16) {
        NO_ESN = 0,
        ESN = 1,
    }
}

registry! {
    /// Transform attribute type (RFC 7296 section 3.3.5).
    AttributeType(u16) {
        /// Key Length in bits; always TV format.
        KEY_LENGTH = 14,
    }
}
