//! [`SecretBytes`]: a byte buffer for key material that is zeroised when
//! dropped, compared in constant time and never printed.
//!
//! Everything secret that leaves this module tree (g^ir, SKEYSEED, SK_*,
//! Child SA KEYMAT, AUTH values before they are sent) travels in this type.
//! `Debug` shows only the length, so a stray `{:?}` in a log line cannot leak
//! key bytes.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Owned secret bytes, wiped on drop.
#[derive(Clone, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes` without copying them.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// Copies `bytes` into a new secret buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes(bytes.to_vec())
    }

    /// An empty buffer with room for `capacity` bytes, so that appending up
    /// to that many never reallocates (a reallocation would leave an
    /// un-wiped copy behind).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        SecretBytes(Vec::with_capacity(capacity))
    }

    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        debug_assert!(self.0.len() + bytes.len() <= self.0.capacity());
        self.0.extend_from_slice(bytes);
    }

    /// The secret bytes. Named so that every use is visible in review.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the buffer is empty (SK_ai/SK_ar are, for AEAD ciphers).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with `other`. Lengths are not secret: a
    /// length mismatch returns `false` at once.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(&self.0, other)
    }

    /// Copies `range` out into a new secret buffer.
    pub(crate) fn slice(&self, range: core::ops::Range<usize>) -> SecretBytes {
        SecretBytes::from_slice(&self.0[range])
    }
}

/// Constant-time equality of two byte strings (lengths are treated as public).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Constant-time equality, so that tests of the form "both sides derived the
/// same keys" can compare secrets without a timing side channel.
impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for SecretBytes {}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        SecretBytes::new(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_bytes() {
        let s = SecretBytes::from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let shown = format!("{s:?}");
        assert_eq!(shown, "SecretBytes(<4 bytes redacted>)");
        assert!(!shown.to_lowercase().contains("de"));
    }

    #[test]
    fn equality() {
        let a = SecretBytes::from_slice(b"abc");
        assert_eq!(a, SecretBytes::from_slice(b"abc"));
        assert_ne!(a, SecretBytes::from_slice(b"abd"));
        assert_ne!(a, SecretBytes::from_slice(b"ab"));
        assert!(a.ct_eq(b"abc"));
        assert!(!a.ct_eq(b"abcd"));
    }
}
