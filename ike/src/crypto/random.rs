//! Random values the protocol needs (nonces, IKE SPIs), drawn from the
//! caller's `SecureRandom` so that the sans-IO core stays deterministic
//! under test.

use ring::rand::SecureRandom;

use super::error::CryptoError;

/// Length of the nonces [`random_nonce`] makes: 32 bytes, which satisfies
/// RFC 7296 2.10 (at least 128 bits and at least half the key size of every
/// supported PRF; the largest, HMAC-SHA2-512, has a 64-byte key).
pub const NONCE_LEN: usize = 32;

/// A fresh Ni/Nr.
pub fn random_nonce(rng: &dyn SecureRandom) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = vec![0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| CryptoError::Rng)?;
    Ok(nonce)
}

/// A fresh IKE SPI: 8 random bytes, never all zero (a zero SPIr means
/// "not yet chosen" in the IKE header, RFC 7296 3.1).
pub fn random_ike_spi(rng: &dyn SecureRandom) -> Result<[u8; 8], CryptoError> {
    let mut spi = [0u8; 8];
    // The chance of drawing zero is 2^-64; retry a bounded number of times
    // so that a broken generator ends in an error, not a loop.
    for _ in 0..4 {
        rng.fill(&mut spi).map_err(|_| CryptoError::Rng)?;
        if spi != [0u8; 8] {
            return Ok(spi);
        }
    }
    Err(CryptoError::Rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn lengths_and_freshness() {
        let rng = SystemRandom::new();
        let a = random_nonce(&rng).unwrap();
        let b = random_nonce(&rng).unwrap();
        assert_eq!(a.len(), NONCE_LEN);
        assert_ne!(a, b);
        assert_ne!(random_ike_spi(&rng).unwrap(), [0; 8]);
    }

    #[test]
    #[allow(deprecated)]
    fn all_zero_generator_is_an_error() {
        let zeros = ring::test::rand::FixedByteRandom { byte: 0 };
        assert_eq!(random_ike_spi(&zeros), Err(CryptoError::Rng));
        assert_eq!(random_nonce(&zeros).unwrap(), vec![0; NONCE_LEN]);
    }
}
