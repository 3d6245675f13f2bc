//! Ephemeral Diffie-Hellman for the KE payload: ECP-256, ECP-384 (RFC 5903)
//! and Curve25519 (RFC 8031) through ring; ECP-521 (RFC 5903) through
//! `p521` ([`super::ecp521`]); MODP 2048/3072/4096 (RFC 3526) through
//! `crypto-bigint` ([`super::modp`]).
//!
//! [`DhPrivateKey`] wraps one single-use ephemeral key and is
//! consumed by [`DhPrivateKey::agree`]. An initiator that receives
//! INVALID_KE_PAYLOAD therefore has to call [`DhPrivateKey::generate`]
//! again for the requested group, which is exactly what RFC 7296 1.2 asks
//! for; the old key cannot be reused by accident.
//!
//! Encodings (the KE payload's Key Exchange Data):
//! * ECP groups: `X || Y`, each coordinate big-endian and of the field size
//!   (RFC 5903 section 7). ring encodes public keys as the SEC1 uncompressed
//!   point `0x04 || X || Y`; the prefix is stripped on output and added back
//!   for the peer's value.
//! * Curve25519: the 32-byte u-coordinate (RFC 7748 / RFC 8031).
//! * MODP groups: y = g^x mod p, big-endian, zero-padded to the modulus
//!   length (RFC 7296 3.4).
//!
//! Shared secret g^ir: for ECP groups the X coordinate of the shared point
//! (RFC 5903 section 7; this is what ring's `agree_ephemeral` hands to its
//! KDF closure, checked against the RFC 5903 vectors in the tests), for
//! Curve25519 the 32-byte X25519 output, for MODP groups y^x mod p padded
//! to the modulus length. ring and `p521` validate the peer's point (on
//! the curve, not the point at infinity), ring rejects an all-zero X25519
//! result (small-order peer point, as RFC 8031 section 2 requires), and a
//! MODP value must satisfy 1 < y < p-1.

use core::fmt;

use ring::{agreement, rand::SecureRandom};

use super::{
    algorithms::DhGroup, ecp521::Ecp521Key, error::CryptoError, modp::ModpKey, secret::SecretBytes,
};

/// An ephemeral private key of one group, plus its public value in KE layout.
pub struct DhPrivateKey {
    group: DhGroup,
    private: Private,
}

enum Private {
    /// ECP-256, ECP-384, Curve25519, with ring's public key in KE layout.
    Ring(agreement::EphemeralPrivateKey, Vec<u8>),
    Ecp521(Ecp521Key),
    Modp(ModpKey),
}

impl DhPrivateKey {
    /// Generates a fresh ephemeral key pair for `group` from `rng`.
    pub fn generate(group: DhGroup, rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        let private = if group.is_modp() {
            Private::Modp(ModpKey::generate(group, rng)?)
        } else if let Some(alg) = group.ring_algorithm() {
            let private =
                agreement::EphemeralPrivateKey::generate(alg, rng).map_err(|_| CryptoError::Rng)?;
            let ring_public = private.compute_public_key().map_err(|_| CryptoError::Rng)?;
            Private::Ring(private, from_ring_encoding(group, ring_public.as_ref()))
        } else {
            Private::Ecp521(Ecp521Key::generate(rng)?)
        };
        let key = DhPrivateKey { group, private };
        debug_assert_eq!(key.public_value().len(), group.public_value_len());
        Ok(key)
    }

    /// The group of this key (the KE payload's DH Group Num).
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The public value in KE payload layout.
    pub fn public_value(&self) -> &[u8] {
        match &self.private {
            Private::Ring(_, public) => public,
            Private::Ecp521(k) => k.public_value(),
            Private::Modp(k) => k.public_value(),
        }
    }

    /// Computes g^ir with the peer's KE data, consuming this key.
    ///
    /// Fails with [`CryptoError::PublicValueLength`] for a value of the
    /// wrong length, [`CryptoError::PublicValueOutOfRange`] for a MODP
    /// value outside 1 < y < p-1, [`CryptoError::PointNotOnCurve`] for an
    /// ECP-521 value that is not a point of the curve, and
    /// [`CryptoError::KeyAgreement`] for a value ring refuses (not a valid
    /// point, or an all-zero X25519 secret).
    pub fn agree(self, peer_public_value: &[u8]) -> Result<SecretBytes, CryptoError> {
        check_public_value(self.group, peer_public_value)?;
        match self.private {
            Private::Ring(private, _) => {
                let alg = self
                    .group
                    .ring_algorithm()
                    .ok_or(CryptoError::KeyAgreement)?;
                let peer = to_ring_encoding(self.group, peer_public_value);
                let peer = agreement::UnparsedPublicKey::new(alg, peer);
                agreement::agree_ephemeral(private, &peer, SecretBytes::from_slice)
                    .map_err(|_| CryptoError::KeyAgreement)
            }
            Private::Ecp521(k) => k.agree(peer_public_value),
            Private::Modp(k) => k.agree(peer_public_value),
        }
    }
}

impl fmt::Debug for DhPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhPrivateKey")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// Checks a peer's KE data before any work is done for it: the length its
/// group prescribes, 1 < y < p-1 for the MODP groups, a point on the curve
/// for ECP-521. (ring checks its own groups' points only when agreeing.)
pub fn check_public_value(group: DhGroup, public_value: &[u8]) -> Result<(), CryptoError> {
    let expected = group.public_value_len();
    if public_value.len() != expected {
        return Err(CryptoError::PublicValueLength {
            group,
            expected,
            actual: public_value.len(),
        });
    }
    if group.is_modp() {
        super::modp::check_value(group, public_value)?;
    } else if group == DhGroup::Ecp521 {
        super::ecp521::check_point(public_value)?;
    }
    Ok(())
}

/// ring's public key encoding -> KE payload layout (strips SEC1's 0x04).
pub(crate) fn from_ring_encoding(group: DhGroup, ring_public: &[u8]) -> Vec<u8> {
    if group.is_ecp() {
        debug_assert_eq!(ring_public.first(), Some(&0x04));
        ring_public[1..].to_vec()
    } else {
        ring_public.to_vec()
    }
}

/// KE payload layout -> ring's public key encoding (adds SEC1's 0x04).
pub(crate) fn to_ring_encoding(group: DhGroup, ke_data: &[u8]) -> Vec<u8> {
    if group.is_ecp() {
        let mut v = Vec::with_capacity(1 + ke_data.len());
        v.push(0x04);
        v.extend_from_slice(ke_data);
        v
    } else {
        ke_data.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn two_fresh_keys_agree_in_every_group() {
        let rng = SystemRandom::new();
        for group in DhGroup::ALL {
            let a = DhPrivateKey::generate(group, &rng).unwrap();
            let b = DhPrivateKey::generate(group, &rng).unwrap();
            assert_eq!(a.public_value().len(), group.public_value_len());
            let a_pub = a.public_value().to_vec();
            let b_pub = b.public_value().to_vec();
            assert_ne!(a_pub, b_pub);
            let s1 = a.agree(&b_pub).unwrap();
            let s2 = b.agree(&a_pub).unwrap();
            assert_eq!(s1.len(), group.shared_secret_len());
            assert_eq!(s1, s2);
        }
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        let rng = SystemRandom::new();
        for group in DhGroup::ALL {
            let n = group.public_value_len();
            for len in [0, 1, n - 1, n + 1, 65, 97] {
                if len == n {
                    continue;
                }
                let key = DhPrivateKey::generate(group, &rng).unwrap();
                assert_eq!(
                    key.agree(&vec![4u8; len]),
                    Err(CryptoError::PublicValueLength {
                        group,
                        expected: n,
                        actual: len
                    })
                );
            }
        }
    }

    #[test]
    fn invalid_points_are_rejected() {
        let rng = SystemRandom::new();
        // Not on the curve.
        for group in [DhGroup::Ecp256, DhGroup::Ecp384] {
            let key = DhPrivateKey::generate(group, &rng).unwrap();
            let bogus = vec![1u8; group.public_value_len()];
            assert_eq!(key.agree(&bogus), Err(CryptoError::KeyAgreement));
        }
        // A small-order Curve25519 point (u = 0) gives an all-zero secret.
        let key = DhPrivateKey::generate(DhGroup::Curve25519, &rng).unwrap();
        assert_eq!(key.agree(&[0u8; 32]), Err(CryptoError::KeyAgreement));
    }

    #[test]
    fn modp_values_out_of_range_are_refused() {
        let rng = SystemRandom::new();
        for group in [DhGroup::Modp2048, DhGroup::Modp3072, DhGroup::Modp4096] {
            let n = group.public_value_len();
            let p = super::super::modp::prime_bytes(group);
            let mut one = vec![0u8; n];
            one[n - 1] = 1;
            let mut p_minus_1 = p.clone();
            p_minus_1[n - 1] -= 1; // p ends in 0xff
            for bad in [vec![0u8; n], one, p_minus_1, p, vec![0xff; n]] {
                let key = DhPrivateKey::generate(group, &rng).unwrap();
                assert_eq!(key.agree(&bad), Err(CryptoError::PublicValueOutOfRange));
            }
            // The smallest and largest values allowed are taken.
            let mut two = vec![0u8; n];
            two[n - 1] = 2;
            let key = DhPrivateKey::generate(group, &rng).unwrap();
            assert_eq!(key.agree(&two).unwrap().len(), n);
        }
    }

    #[test]
    fn ecp521_off_curve_points_are_refused() {
        let rng = SystemRandom::new();
        let a = DhPrivateKey::generate(DhGroup::Ecp521, &rng).unwrap();
        let mut off = a.public_value().to_vec();
        off[131] ^= 1; // Y changed: not on the curve any more
        let b = DhPrivateKey::generate(DhGroup::Ecp521, &rng).unwrap();
        assert_eq!(b.agree(&off), Err(CryptoError::PointNotOnCurve));
        let b = DhPrivateKey::generate(DhGroup::Ecp521, &rng).unwrap();
        assert_eq!(b.agree(&[0u8; 132]), Err(CryptoError::PointNotOnCurve));
        let b = DhPrivateKey::generate(DhGroup::Ecp521, &rng).unwrap();
        assert_eq!(b.agree(&[0xff; 132]), Err(CryptoError::PointNotOnCurve));
    }

    #[test]
    fn debug_hides_the_key() {
        let key = DhPrivateKey::generate(DhGroup::Ecp256, &SystemRandom::new()).unwrap();
        assert_eq!(format!("{key:?}"), "DhPrivateKey { group: Ecp256, .. }");
    }
}
