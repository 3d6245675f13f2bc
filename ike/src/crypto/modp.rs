//! Finite-field Diffie-Hellman over the MODP groups 14, 15 and 16
//! (RFC 3526), with `crypto-bigint`'s constant-time Montgomery
//! exponentiation (ring has no MODP groups).
//!
//! * Generator g = 2 for every group; the primes are RFC 3526's, checked
//!   in the tests against the RFC's defining formula's structure and with
//!   `2^((p-1)/2) = 1 mod p` (p is a safe prime, p = 7 mod 8, so 2
//!   generates the subgroup of prime order q = (p-1)/2).
//! * Private exponent: 512 random bits. NIST SP 800-56A rev. 3 5.6.1.1.1
//!   asks for at least twice the group's security strength (2048: 112,
//!   3072: 128, 4096: 152 bits, so 224/256/304 bits); 512 bits exceeds it
//!   for all three and keeps a 4096-bit exponentiation about eight times
//!   cheaper than a full-length exponent. The exponentiation runs over a
//!   fixed 512-bit window whatever the exponent's value (crypto-bigint's
//!   `pow` leaks only that bound), so no timing depends on the secret.
//! * Public values and g^ir are big-endian, zero-padded to the modulus
//!   length (RFC 7296 3.4 and 2.14).
//! * The peer's value y must satisfy 1 < y < p-1 (RFC 7296 5, SP 800-56A
//!   5.6.2.3.2 partial validation): 0, 1 and p-1 would force a known
//!   shared secret. With a safe prime the only other small subgroup is
//!   gone with them, so the full order check (y^q = 1) is not needed.

use core::fmt;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Uint, Word, U2048, U3072, U4096, U512};
use ring::rand::SecureRandom;
use zeroize::Zeroize;

use super::{algorithms::DhGroup, error::CryptoError, secret::SecretBytes};

/// RFC 3526 section 3: 2048-bit MODP group (group 14).
pub(crate) const P2048: U2048 = U2048::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// RFC 3526 section 4: 3072-bit MODP group (group 15).
pub(crate) const P3072: U3072 = U3072::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
));

/// RFC 3526 section 5: 4096-bit MODP group (group 16).
pub(crate) const P4096: U4096 = U4096::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
));

/// Bits of the private exponent (see the module documentation).
pub(crate) const EXPONENT_BITS: usize = 512;
const EXPONENT_BYTES: usize = EXPONENT_BITS / 8;

/// A MODP private exponent with the public value it gives.
pub(crate) struct ModpKey {
    group: DhGroup,
    x: U512,
    public: Vec<u8>,
}

impl ModpKey {
    /// A fresh exponent from `rng` (one 64-byte draw; an all-zero or one
    /// draw, probability 2^-511, counts as a failed generator).
    pub(crate) fn generate(group: DhGroup, rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        let mut bytes = [0u8; EXPONENT_BYTES];
        rng.fill(&mut bytes).map_err(|_| CryptoError::Rng)?;
        let x = U512::from_be_slice(&bytes);
        bytes.zeroize();
        if x <= U512::ONE {
            return Err(CryptoError::Rng);
        }
        let public = match group {
            DhGroup::Modp2048 => public_value(&P2048, &x),
            DhGroup::Modp3072 => public_value(&P3072, &x),
            DhGroup::Modp4096 => public_value(&P4096, &x),
            _ => return Err(CryptoError::KeyAgreement),
        };
        Ok(ModpKey { group, x, public })
    }

    pub(crate) fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// g^ir = y^x mod p, after checking 1 < y < p-1. `y` must already
    /// have the modulus length.
    pub(crate) fn agree(&self, y: &[u8]) -> Result<SecretBytes, CryptoError> {
        match self.group {
            DhGroup::Modp2048 => shared_secret(&P2048, &self.x, y),
            DhGroup::Modp3072 => shared_secret(&P3072, &self.x, y),
            DhGroup::Modp4096 => shared_secret(&P4096, &self.x, y),
            _ => Err(CryptoError::KeyAgreement),
        }
    }
}

impl Drop for ModpKey {
    fn drop(&mut self) {
        self.x.zeroize();
    }
}

impl fmt::Debug for ModpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModpKey")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// The prime of a MODP group, big-endian (empty for other groups).
#[cfg(test)]
pub(crate) fn prime_bytes(group: DhGroup) -> Vec<u8> {
    match group {
        DhGroup::Modp2048 => to_be_bytes(&P2048),
        DhGroup::Modp3072 => to_be_bytes(&P3072),
        DhGroup::Modp4096 => to_be_bytes(&P4096),
        _ => Vec::new(),
    }
}

/// Constant-time `base^x mod p` (fixed 512-bit exponent window).
fn pow_mod<const L: usize>(p: &Uint<L>, base: &Uint<L>, x: &U512) -> Uint<L> {
    let params = DynResidueParams::new(p);
    DynResidue::new(base, params)
        .pow_bounded_exp(x, EXPONENT_BITS)
        .retrieve()
}

fn public_value<const L: usize>(p: &Uint<L>, x: &U512) -> Vec<u8> {
    let g = Uint::<L>::from_u8(2);
    to_be_bytes(&pow_mod(p, &g, x))
}

/// Checks a big-endian MODP public value of the modulus length.
pub(crate) fn check_value(group: DhGroup, y: &[u8]) -> Result<(), CryptoError> {
    fn check<const L: usize>(p: &Uint<L>, y: &[u8]) -> Result<(), CryptoError> {
        if y.len() != Uint::<L>::BYTES {
            return Err(CryptoError::KeyAgreement);
        }
        check_range(p, &Uint::<L>::from_be_slice(y))
    }
    match group {
        DhGroup::Modp2048 => check(&P2048, y),
        DhGroup::Modp3072 => check(&P3072, y),
        DhGroup::Modp4096 => check(&P4096, y),
        _ => Err(CryptoError::KeyAgreement),
    }
}

/// Checks 1 < y < p-1 (RFC 7296 section 5: a peer value outside that
/// range makes the shared secret guessable).
pub(crate) fn check_range<const L: usize>(p: &Uint<L>, y: &Uint<L>) -> Result<(), CryptoError> {
    let p_minus_1 = p.wrapping_sub(&Uint::ONE);
    if *y <= Uint::ONE || *y >= p_minus_1 {
        return Err(CryptoError::PublicValueOutOfRange);
    }
    Ok(())
}

fn shared_secret<const L: usize>(
    p: &Uint<L>,
    x: &U512,
    y_bytes: &[u8],
) -> Result<SecretBytes, CryptoError> {
    if y_bytes.len() != Uint::<L>::BYTES {
        return Err(CryptoError::KeyAgreement);
    }
    let y = Uint::<L>::from_be_slice(y_bytes);
    check_range(p, &y)?;
    let mut z = pow_mod(p, &y, x);
    let secret = SecretBytes::new(to_be_bytes(&z));
    // Unreachable for 1 < y < p-1 and x < q, but a shared secret of 1 must
    // never be used.
    let is_one = z == Uint::ONE;
    z.zeroize();
    if is_one {
        return Err(CryptoError::KeyAgreement);
    }
    Ok(secret)
}

/// Big-endian bytes of `v`, exactly `L` words long.
fn to_be_bytes<const L: usize>(v: &Uint<L>) -> Vec<u8> {
    let mut out = Vec::with_capacity(Uint::<L>::BYTES);
    for w in v.as_words().iter().rev() {
        out.extend_from_slice(&Word::to_be_bytes(*w));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3526's primes are p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130)
    /// pi) + k): the top and bottom 64 bits are all ones. (The full formula
    /// was checked with an independent pi computation in Python when the
    /// constants were written down, and against OpenSSL's `modp_2048`,
    /// `modp_3072` and `modp_4096` groups.)
    fn check_prime<const L: usize>(p: &Uint<L>, bits: usize) {
        let bytes = to_be_bytes(p);
        assert_eq!(bytes.len() * 8, bits);
        assert_eq!(&bytes[..8], &[0xff; 8]);
        assert_eq!(&bytes[bytes.len() - 8..], &[0xff; 8]);
        // Euler's criterion for g = 2 with the safe prime p: 2 is a
        // quadratic residue (p = 7 mod 8), so 2^q = 1 mod p with
        // q = (p-1)/2. A mistyped digit makes p composite, and this
        // fails then with overwhelming probability.
        let q = p.wrapping_sub(&Uint::ONE).shr_vartime(1);
        let params = DynResidueParams::new(p);
        let two = DynResidue::new(&Uint::<L>::from_u8(2), params);
        assert_eq!(two.pow(&q).retrieve(), Uint::ONE);
    }

    #[test]
    fn rfc3526_primes() {
        check_prime(&P2048, 2048);
        check_prime(&P3072, 3072);
        check_prime(&P4096, 4096);
    }

    #[test]
    fn range_check_refuses_0_1_and_p_minus_1() {
        let p = P2048;
        for bad in [
            U2048::ZERO,
            U2048::ONE,
            p.wrapping_sub(&U2048::ONE),
            p,
            U2048::MAX,
        ] {
            assert_eq!(
                check_range(&p, &bad),
                Err(CryptoError::PublicValueOutOfRange)
            );
        }
        for good in [U2048::from_u8(2), p.wrapping_sub(&U2048::from_u8(2))] {
            assert_eq!(check_range(&p, &good), Ok(()));
        }
    }
}
