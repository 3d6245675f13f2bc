//! Stateless COOKIEs for a responder under load (RFC 7296 section 2.6).
//!
//! ```text
//! Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
//! ```
//! Layout here: a 4-byte big-endian version ID followed by 32 bytes of
//! HMAC-SHA256 keyed with the secret (the keyed form of the RFC's
//! "Hash(... | secret)"), 36 bytes in all (the notify allows 1..=64). The
//! MAC input is `len(Ni) (2 bytes) | Ni | IP family (1 byte) | IPi | SPIi`,
//! length- and family-prefixed so that no two inputs run together. The
//! format is private to the responder: only it ever checks its cookies.
//!
//! [`CookieSecrets`] keeps the current secret and the one before it, so a
//! cookie issued just before [`CookieSecrets::rotate`] still verifies once.
//! The caller decides when to rotate (this crate has no clock); RFC 7296
//! suggests regenerating the secret periodically, e.g. every few minutes.

use core::fmt;
use std::net::IpAddr;

use ring::{hmac, rand::SecureRandom};

use super::error::CryptoError;

/// Length of the cookies [`CookieSecrets::make`] produces.
pub const COOKIE_LEN: usize = 4 + 32;

const SECRET_LEN: usize = 32;

struct VersionedSecret {
    version: u32,
    key: hmac::Key,
}

/// The responder's rotating cookie secrets.
pub struct CookieSecrets {
    current: VersionedSecret,
    previous: Option<VersionedSecret>,
}

impl CookieSecrets {
    /// Creates the first secret (version 0) from `rng`.
    pub fn new(rng: &dyn SecureRandom) -> Result<CookieSecrets, CryptoError> {
        Ok(CookieSecrets {
            current: new_secret(0, rng)?,
            previous: None,
        })
    }

    /// Replaces the secret with a fresh one; the old one stays valid for
    /// verification until the next rotation.
    pub fn rotate(&mut self, rng: &dyn SecureRandom) -> Result<(), CryptoError> {
        let next = new_secret(self.current.version.wrapping_add(1), rng)?;
        self.previous = Some(core::mem::replace(&mut self.current, next));
        Ok(())
    }

    /// Version ID of the current secret.
    pub fn current_version(&self) -> u32 {
        self.current.version
    }

    /// The COOKIE notify data for an IKE_SA_INIT request with nonce `ni`
    /// and initiator SPI `spi_i`, received from address `ip_i`.
    pub fn make(&self, ni: &[u8], ip_i: IpAddr, spi_i: &[u8; 8]) -> Vec<u8> {
        let mac = mac(&self.current.key, ni, ip_i, spi_i);
        let mut cookie = Vec::with_capacity(COOKIE_LEN);
        cookie.extend_from_slice(&self.current.version.to_be_bytes());
        cookie.extend_from_slice(mac.as_ref());
        cookie
    }

    /// Checks a COOKIE returned by an initiator against the current and the
    /// previous secret (MAC compared in constant time).
    pub fn verify(
        &self,
        cookie: &[u8],
        ni: &[u8],
        ip_i: IpAddr,
        spi_i: &[u8; 8],
    ) -> Result<(), CryptoError> {
        if cookie.len() != COOKIE_LEN {
            return Err(CryptoError::InvalidCookie);
        }
        let (version, tag) = cookie.split_at(4);
        let version = u32::from_be_bytes([version[0], version[1], version[2], version[3]]);
        let secret = if version == self.current.version {
            &self.current
        } else {
            match &self.previous {
                Some(prev) if prev.version == version => prev,
                _ => return Err(CryptoError::InvalidCookie),
            }
        };
        hmac::verify(&secret.key, &mac_input(ni, ip_i, spi_i), tag)
            .map_err(|_| CryptoError::InvalidCookie)
    }
}

impl fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieSecrets")
            .field("current_version", &self.current.version)
            .field(
                "previous_version",
                &self.previous.as_ref().map(|p| p.version),
            )
            .finish_non_exhaustive()
    }
}

fn new_secret(version: u32, rng: &dyn SecureRandom) -> Result<VersionedSecret, CryptoError> {
    let mut secret = zeroize::Zeroizing::new([0u8; SECRET_LEN]);
    rng.fill(&mut secret[..]).map_err(|_| CryptoError::Rng)?;
    Ok(VersionedSecret {
        version,
        key: hmac::Key::new(hmac::HMAC_SHA256, &secret[..]),
    })
}

fn mac_input(ni: &[u8], ip_i: IpAddr, spi_i: &[u8; 8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(2 + ni.len() + 1 + 16 + 8);
    // Nonces are at most 256 bytes on the wire; saturate rather than wrap.
    input.extend_from_slice(&u16::try_from(ni.len()).unwrap_or(u16::MAX).to_be_bytes());
    input.extend_from_slice(ni);
    match ip_i.to_canonical() {
        IpAddr::V4(v4) => {
            input.push(4);
            input.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            input.push(6);
            input.extend_from_slice(&v6.octets());
        }
    }
    input.extend_from_slice(spi_i);
    input
}

fn mac(key: &hmac::Key, ni: &[u8], ip_i: IpAddr, spi_i: &[u8; 8]) -> hmac::Tag {
    hmac::sign(key, &mac_input(ni, ip_i, spi_i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn make_verify_rotate() {
        let rng = SystemRandom::new();
        let mut secrets = CookieSecrets::new(&rng).unwrap();
        let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
        let spi = [7; 8];
        let ni = [0x42; 32];
        let c0 = secrets.make(&ni, ip, &spi);
        assert_eq!(c0.len(), COOKIE_LEN);
        assert_eq!(&c0[..4], &[0, 0, 0, 0]);
        assert!(secrets.verify(&c0, &ni, ip, &spi).is_ok());

        // Any change of input or cookie fails.
        let other_ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert!(secrets.verify(&c0, &ni, other_ip, &spi).is_err());
        assert!(secrets.verify(&c0, &ni, ip, &[8; 8]).is_err());
        assert!(secrets.verify(&c0, &ni[..31], ip, &spi).is_err());
        assert!(secrets.verify(&c0[..35], &ni, ip, &spi).is_err());
        for i in 0..c0.len() {
            let mut bad = c0.clone();
            bad[i] ^= 0x80;
            assert_eq!(
                secrets.verify(&bad, &ni, ip, &spi),
                Err(CryptoError::InvalidCookie)
            );
        }

        // After one rotation the old cookie still verifies, after two not.
        secrets.rotate(&rng).unwrap();
        let c1 = secrets.make(&ni, ip, &spi);
        assert_eq!(&c1[..4], &[0, 0, 0, 1]);
        assert_ne!(c0, c1);
        assert!(secrets.verify(&c0, &ni, ip, &spi).is_ok());
        assert!(secrets.verify(&c1, &ni, ip, &spi).is_ok());
        secrets.rotate(&rng).unwrap();
        assert!(secrets.verify(&c0, &ni, ip, &spi).is_err());
        assert!(secrets.verify(&c1, &ni, ip, &spi).is_ok());
        assert!(!format!("{secrets:?}").contains("key"));
    }
}
