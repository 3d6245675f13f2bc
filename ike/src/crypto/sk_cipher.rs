//! Encryption and decryption of the Encrypted (SK) payload with AES-GCM-16
//! (RFC 5282, RFC 7296 3.14).
//!
//! Body of an SK payload after its 4-byte generic header:
//! ```text
//! IV (8) | ciphertext of { payloads | Padding | Pad Length (1) } | ICV (16)
//! ```
//! * GCM nonce = salt (last 4 bytes of SK_e) || explicit IV (8 bytes).
//! * The explicit IV comes from a per-direction counter, so a (key, nonce)
//!   pair is never used twice. One [`SkCipher`] exists per direction of an
//!   IKE SA; sealing takes `&mut self` to advance the counter. When the
//!   counter runs out [`CryptoError::IvExhausted`] is returned: rekey.
//! * Associated data = the message from the first octet of the IKE header
//!   through the last octet of the SK payload's generic header (not the IV).
//!   The caller builds that prefix (with the final lengths filled in, see
//!   [`SkCipher::body_len`]) and passes it as `aad`. The same applies to an
//!   SKF payload (RFC 7383), whose header is 8 bytes.
//! * Padding: AES-GCM needs none, so [`SkCipher::seal`] sends Pad Length 0
//!   (as libreswan does for GCM); [`SkCipher::open`] accepts any pad length
//!   that fits, as RFC 7296 3.14 asks of a receiver. When the codec does the
//!   padding (`wire::pad_plaintext` / `wire::EncryptedView::decode_inner`),
//!   use [`SkCipher::seal_raw`] and [`SkCipher::open_raw`] instead, which
//!   leave Padding and Pad Length alone.
//!
//! `SkCipher` is deliberately not `Clone`: a copy would repeat IVs.
//!
//! [`SkCipher::open`] never panics: short or garbled input is an error, and
//! a failed tag check is [`CryptoError::IntegrityCheckFailed`] (ring checks
//! the tag in constant time).

use core::fmt;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};

use super::{algorithms::Encr, error::CryptoError, secret::SecretBytes};

const IV_LEN: usize = Encr::IV_LEN;
const ICV_LEN: usize = Encr::ICV_LEN;
const SALT_LEN: usize = Encr::SALT_LEN;

/// AES-GCM state for one direction of an IKE SA: key, salt and IV counter.
pub struct SkCipher {
    encr: Encr,
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
    next_iv: u64,
}

impl SkCipher {
    /// Builds a cipher from `key || salt` (SK_ei or SK_er), with the IV
    /// counter at zero.
    pub fn new(encr: Encr, key_material: &SecretBytes) -> Result<SkCipher, CryptoError> {
        let material = key_material.expose();
        if material.len() != encr.keymat_len() {
            return Err(CryptoError::KeyLength {
                expected: encr.keymat_len(),
                actual: material.len(),
            });
        }
        let (key, salt) = material.split_at(encr.key_len());
        let unbound =
            UnboundKey::new(encr.ring_algorithm(), key).map_err(|_| CryptoError::KeyLength {
                expected: encr.keymat_len(),
                actual: material.len(),
            })?;
        let mut salt_bytes = [0u8; SALT_LEN];
        salt_bytes.copy_from_slice(salt);
        Ok(SkCipher {
            encr,
            key: LessSafeKey::new(unbound),
            salt: salt_bytes,
            next_iv: 0,
        })
    }

    /// Sets the next explicit IV. Only for known-answer tests and for
    /// restoring a saved SA: using a value twice with the same key breaks
    /// GCM completely.
    pub fn with_next_iv(mut self, next_iv: u64) -> SkCipher {
        self.next_iv = next_iv;
        self
    }

    /// The next explicit IV that [`seal`](Self::seal) will use.
    pub fn next_iv(&self) -> u64 {
        self.next_iv
    }

    /// The cipher's algorithm.
    pub fn encr(&self) -> Encr {
        self.encr
    }

    /// Length of `IV | ciphertext | ICV` for `padded_len` bytes handed to
    /// [`seal_raw`](Self::seal_raw) (payloads, Padding and Pad Length
    /// already included, e.g. from the codec's `wire::pad_plaintext`):
    /// what the codec's `wire::SealFrame` needs to know up front.
    pub const fn encrypted_len(padded_len: usize) -> usize {
        IV_LEN + padded_len + ICV_LEN
    }

    /// Length of the SK payload body (after its generic header) that
    /// sealing `payloads_len` bytes with `pad_len` padding bytes produces:
    /// IV + payloads + padding + 1 + ICV. Use it to fill in the IKE header
    /// and SK payload lengths before building the associated data.
    pub fn body_len(payloads_len: usize, pad_len: u8) -> usize {
        Self::encrypted_len(payloads_len + usize::from(pad_len) + 1)
    }

    /// Encrypts `payloads` (the inner payload chain) with no padding.
    /// Returns the SK payload body `IV | ciphertext | ICV`.
    pub fn seal(&mut self, aad: &[u8], payloads: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.seal_padded(aad, payloads, 0)
    }

    /// Like [`seal`](Self::seal) with `pad_len` zero bytes of padding.
    pub fn seal_padded(
        &mut self,
        aad: &[u8],
        payloads: &[u8],
        pad_len: u8,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut inner = Vec::with_capacity(payloads.len() + usize::from(pad_len) + 1);
        inner.extend_from_slice(payloads);
        inner.resize(payloads.len() + usize::from(pad_len), 0);
        inner.push(pad_len);
        self.seal_raw(aad, &inner)
    }

    /// Encrypts `inner`, which must already end with Padding and the Pad
    /// Length byte. Returns `IV | ciphertext | ICV`. Advances the IV counter.
    pub fn seal_raw(&mut self, aad: &[u8], inner: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv = self.next_iv;
        if iv == u64::MAX {
            return Err(CryptoError::IvExhausted);
        }
        let iv_bytes = iv.to_be_bytes();
        let mut out = Vec::with_capacity(IV_LEN + inner.len() + ICV_LEN);
        out.extend_from_slice(&iv_bytes);
        out.extend_from_slice(inner);
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(&iv_bytes), Aad::from(aad), &mut out[IV_LEN..])
            .map_err(|_| CryptoError::TooLarge)?;
        out.extend_from_slice(tag.as_ref());
        self.next_iv = iv + 1;
        Ok(out)
    }

    /// Decrypts an SK payload body `IV | ciphertext | ICV` and strips the
    /// padding, returning the inner payload chain.
    pub fn open(&self, aad: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut inner = self.open_raw(aad, body)?;
        let plaintext_len = inner.len();
        // open_raw guarantees at least one byte.
        let pad_len = inner[plaintext_len - 1];
        let strip = usize::from(pad_len) + 1;
        if strip > plaintext_len {
            return Err(CryptoError::BadPadding {
                pad_len,
                plaintext_len,
            });
        }
        inner.truncate(plaintext_len - strip);
        Ok(inner)
    }

    /// Decrypts `IV | ciphertext | ICV` and returns the plaintext including
    /// Padding and Pad Length (at least one byte).
    pub fn open_raw(&self, aad: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if body.len() < IV_LEN + 1 + ICV_LEN {
            return Err(CryptoError::Truncated(body.len()));
        }
        let (iv, sealed) = body.split_at(IV_LEN);
        let mut iv_bytes = [0u8; IV_LEN];
        iv_bytes.copy_from_slice(iv);
        let mut buf = sealed.to_vec();
        let plaintext_len = self
            .key
            .open_in_place(self.nonce(&iv_bytes), Aad::from(aad), &mut buf)
            .map_err(|_| CryptoError::IntegrityCheckFailed)?
            .len();
        buf.truncate(plaintext_len);
        Ok(buf)
    }

    fn nonce(&self, iv: &[u8; IV_LEN]) -> Nonce {
        let mut n = [0u8; NONCE_LEN];
        n[..SALT_LEN].copy_from_slice(&self.salt);
        n[SALT_LEN..].copy_from_slice(iv);
        Nonce::assume_unique_for_key(n)
    }
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("next_iv", &self.next_iv)
            .finish_non_exhaustive()
    }
}

// ring's AES-GCM must match the constants above.
const _: () = assert!(NONCE_LEN == SALT_LEN + IV_LEN);
const _: () = assert!(aead::MAX_TAG_LEN == ICV_LEN);

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(encr: Encr) -> SkCipher {
        SkCipher::new(encr, &SecretBytes::new(vec![7u8; encr.keymat_len()])).unwrap()
    }

    #[test]
    fn round_trip_and_iv_counter() {
        for encr in Encr::ALL {
            let mut tx = cipher(encr);
            let rx = cipher(encr);
            let aad = b"header and SK generic header";
            for (i, pad) in [0u8, 1, 15, 255].into_iter().enumerate() {
                let body = tx.seal_padded(aad, b"inner payloads", pad).unwrap();
                assert_eq!(body.len(), SkCipher::body_len(14, pad));
                assert_eq!(&body[..8], &(i as u64).to_be_bytes());
                assert_eq!(rx.open(aad, &body).unwrap(), b"inner payloads");
            }
            assert_eq!(tx.next_iv(), 4);
            // Empty payload chain.
            let body = tx.seal(aad, b"").unwrap();
            assert_eq!(rx.open(aad, &body).unwrap(), b"");
        }
    }

    #[test]
    fn wrong_key_length() {
        assert_eq!(
            SkCipher::new(Encr::AesGcm16_128, &SecretBytes::new(vec![0; 16])).err(),
            Some(CryptoError::KeyLength {
                expected: 20,
                actual: 16
            })
        );
    }

    #[test]
    fn iv_exhaustion() {
        let mut tx = cipher(Encr::AesGcm16_128).with_next_iv(u64::MAX - 1);
        assert!(tx.seal(b"", b"x").is_ok());
        assert_eq!(tx.seal(b"", b"x"), Err(CryptoError::IvExhausted));
    }

    #[test]
    fn short_and_garbled_input_is_an_error() {
        let rx = cipher(Encr::AesGcm16_256);
        for len in 0..=(IV_LEN + ICV_LEN) {
            assert_eq!(
                rx.open(b"", &vec![0u8; len]),
                Err(CryptoError::Truncated(len))
            );
        }
        for len in (IV_LEN + ICV_LEN + 1)..100 {
            assert_eq!(
                rx.open(b"", &vec![0x5a; len]),
                Err(CryptoError::IntegrityCheckFailed)
            );
        }
    }

    #[test]
    fn bad_pad_length_is_an_error() {
        let mut tx = cipher(Encr::AesGcm16_128);
        let rx = cipher(Encr::AesGcm16_128);
        let body = tx.seal_raw(b"a", &[1, 2, 3]).unwrap(); // pad length 3 > 2
        assert_eq!(
            rx.open(b"a", &body),
            Err(CryptoError::BadPadding {
                pad_len: 3,
                plaintext_len: 3
            })
        );
        let body = tx.seal_raw(b"a", &[1, 2, 2]).unwrap(); // all padding
        assert_eq!(rx.open(b"a", &body).unwrap(), b"");
    }
}
