//! Encryption and decryption of the Encrypted (SK) payload (RFC 7296
//! 3.14) with AES-GCM-16 (RFC 5282) or AES-CBC (RFC 3602) with an
//! HMAC-SHA2 integrity transform (RFC 4868).
//!
//! Body of an SK payload after its 4-byte generic header:
//! ```text
//! AES-GCM: IV (8)  | ciphertext of { payloads | Padding | Pad Length (1) } | ICV (16)
//! AES-CBC: IV (16) | ciphertext of { payloads | Padding | Pad Length (1) } | ICV (16/24/32)
//! ```
//! AES-GCM:
//! * GCM nonce = salt (last 4 bytes of SK_e) || explicit IV (8 bytes).
//! * The explicit IV comes from a per-direction counter, so a (key, nonce)
//!   pair is never used twice.
//! * Associated data = the message from the first octet of the IKE header
//!   through the last octet of the SK payload's generic header (not the IV).
//!   The caller builds that prefix (with the final lengths filled in, see
//!   [`SkCipher::body_len`]) and passes it as `aad`. The same applies to an
//!   SKF payload (RFC 7383), whose header is 8 bytes.
//! * Padding: AES-GCM needs none, so [`SkCipher::seal`] sends Pad Length 0
//!   (as libreswan does for GCM).
//!
//! AES-CBC with HMAC-SHA2:
//! * The plaintext (payloads, Padding, Pad Length) must fill whole 16-byte
//!   blocks; [`SkCipher::block_len`] tells the codec what to pad to.
//! * IV: RFC 7296 3.14 wants it unpredictable. This crate has no
//!   randomness source of its own, so the IV of message n is the AES
//!   encryption of the 16-byte block n (a per-direction counter) under
//!   SK_e: the first method of NIST SP 800-38A appendix C (a nonce through
//!   the forward cipher under the same key), unpredictable without SK_e
//!   and never repeated.
//! * ICV = HMAC-SHA2(SK_a, the same prefix as GCM's associated data | IV |
//!   ciphertext), truncated to half the hash (RFC 4868), so the ICV covers
//!   the message from the IKE header through the Pad Length as RFC 7296
//!   3.14 asks. It is checked in constant time before anything is
//!   decrypted.
//!
//! Both: one [`SkCipher`] exists per direction of an IKE SA; sealing takes
//! `&mut self` to advance the counter. When the counter runs out
//! [`CryptoError::IvExhausted`] is returned: rekey. [`SkCipher::open`]
//! accepts any pad length that fits, as RFC 7296 3.14 asks of a receiver.
//! When the codec does the padding (`wire::pad_plaintext` /
//! `wire::EncryptedView::decode_inner`), use [`SkCipher::seal_raw`] and
//! [`SkCipher::open_raw`] instead, which leave Padding and Pad Length alone.
//!
//! `SkCipher` is deliberately not `Clone`: a copy would repeat IVs.
//!
//! [`SkCipher::open`] never panics: short or garbled input is an error, and
//! a failed tag or ICV check is [`CryptoError::IntegrityCheckFailed`] (ring
//! checks the GCM tag in constant time; the HMAC ICV is compared with
//! `subtle`).

use core::fmt;

use aes::cipher::{
    generic_array::GenericArray, BlockCipher, BlockDecryptMut, BlockEncrypt, BlockEncryptMut,
    InnerIvInit, KeyInit,
};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};

use super::{
    algorithms::{Encr, Integ},
    error::CryptoError,
    secret::{ct_eq, SecretBytes},
};

const IV_LEN: usize = Encr::IV_LEN;
const ICV_LEN: usize = Encr::ICV_LEN;
const SALT_LEN: usize = Encr::SALT_LEN;
const BLOCK: usize = Encr::BLOCK_LEN;

/// The cipher state for one direction of an IKE SA: key(s) and IV counter.
pub struct SkCipher {
    encr: Encr,
    inner: Inner,
    next_iv: u64,
}

enum Inner {
    Gcm {
        // Boxed: ring's key schedule is far larger than the CBC variant.
        key: Box<LessSafeKey>,
        salt: [u8; SALT_LEN],
    },
    Cbc {
        key: AesKey,
        integ: Integ,
        auth_key: SecretBytes,
    },
}

/// An AES key schedule (zeroised on drop by the `aes` crate), boxed: the
/// schedules are hundreds of bytes.
#[derive(Clone)]
pub(crate) enum AesKey {
    Aes128(Box<aes::Aes128>),
    Aes256(Box<aes::Aes256>),
}

/// Whether `len` bytes are whole AES blocks.
// Not `is_multiple_of`: the workspace supports Rust 1.85.
#[allow(clippy::manual_is_multiple_of)]
fn whole_blocks(len: usize) -> bool {
    len % BLOCK == 0
}

impl AesKey {
    pub(crate) fn new(key: &[u8]) -> Result<AesKey, CryptoError> {
        match key.len() {
            16 => aes::Aes128::new_from_slice(key).map(|k| AesKey::Aes128(Box::new(k))),
            32 => aes::Aes256::new_from_slice(key).map(|k| AesKey::Aes256(Box::new(k))),
            _ => {
                return Err(CryptoError::KeyLength {
                    expected: 32,
                    actual: key.len(),
                })
            }
        }
        .map_err(|_| CryptoError::KeyLength {
            expected: 32,
            actual: key.len(),
        })
    }

    fn encrypt_block(&self, block: &mut [u8; BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            AesKey::Aes128(c) => c.encrypt_block(b),
            AesKey::Aes256(c) => c.encrypt_block(b),
        }
    }

    /// CBC-encrypts `buf` (whole blocks) in place.
    pub(crate) fn cbc_encrypt(&self, iv: &[u8; BLOCK], buf: &mut [u8]) -> Result<(), CryptoError> {
        if !whole_blocks(buf.len()) {
            return Err(CryptoError::NotBlockAligned(buf.len()));
        }
        match self {
            AesKey::Aes128(c) => cbc_encrypt_with(c.as_ref(), iv, buf),
            AesKey::Aes256(c) => cbc_encrypt_with(c.as_ref(), iv, buf),
        }
        Ok(())
    }

    /// CBC-decrypts `buf` (whole blocks) in place.
    pub(crate) fn cbc_decrypt(&self, iv: &[u8; BLOCK], buf: &mut [u8]) -> Result<(), CryptoError> {
        if !whole_blocks(buf.len()) {
            return Err(CryptoError::NotBlockAligned(buf.len()));
        }
        match self {
            AesKey::Aes128(c) => cbc_decrypt_with(c.as_ref(), iv, buf),
            AesKey::Aes256(c) => cbc_decrypt_with(c.as_ref(), iv, buf),
        }
        Ok(())
    }
}

fn cbc_encrypt_with<C>(cipher: &C, iv: &[u8; BLOCK], buf: &mut [u8])
where
    C: BlockEncryptMut + BlockCipher<BlockSize = aes::cipher::consts::U16> + Clone,
{
    let mut enc = cbc::Encryptor::<C>::inner_iv_init(cipher.clone(), GenericArray::from_slice(iv));
    for chunk in buf.chunks_exact_mut(BLOCK) {
        enc.encrypt_block_mut(GenericArray::from_mut_slice(chunk));
    }
}

fn cbc_decrypt_with<C>(cipher: &C, iv: &[u8; BLOCK], buf: &mut [u8])
where
    C: BlockDecryptMut + BlockCipher<BlockSize = aes::cipher::consts::U16> + Clone,
{
    let mut dec = cbc::Decryptor::<C>::inner_iv_init(cipher.clone(), GenericArray::from_slice(iv));
    for chunk in buf.chunks_exact_mut(BLOCK) {
        dec.decrypt_block_mut(GenericArray::from_mut_slice(chunk));
    }
}

impl SkCipher {
    /// Builds an AES-GCM cipher from `key || salt` (SK_ei or SK_er), with
    /// the IV counter at zero. AES-CBC needs an integrity key: see
    /// [`with_integ`](Self::with_integ).
    pub fn new(encr: Encr, key_material: &SecretBytes) -> Result<SkCipher, CryptoError> {
        Self::with_integ(encr, None, key_material, &SecretBytes::default())
    }

    /// Builds the cipher of `encr` with integrity `integ` (`None` for
    /// AES-GCM, required for AES-CBC) from SK_e (`key || salt` for GCM, the
    /// AES key for CBC) and SK_a (empty for GCM).
    pub fn with_integ(
        encr: Encr,
        integ: Option<Integ>,
        enc_key: &SecretBytes,
        auth_key: &SecretBytes,
    ) -> Result<SkCipher, CryptoError> {
        let material = enc_key.expose();
        let length = |expected: usize, actual: usize| CryptoError::KeyLength { expected, actual };
        if material.len() != encr.keymat_len() {
            return Err(length(encr.keymat_len(), material.len()));
        }
        let inner = match (encr.ring_aead(), integ) {
            (Some(alg), None) => {
                let (key, salt) = material.split_at(encr.key_len());
                let unbound = UnboundKey::new(alg, key)
                    .map_err(|_| length(encr.keymat_len(), material.len()))?;
                let mut salt_bytes = [0u8; SALT_LEN];
                salt_bytes.copy_from_slice(salt);
                Inner::Gcm {
                    key: Box::new(LessSafeKey::new(unbound)),
                    salt: salt_bytes,
                }
            }
            (None, Some(integ)) => {
                if auth_key.len() != integ.key_len() {
                    return Err(length(integ.key_len(), auth_key.len()));
                }
                Inner::Cbc {
                    key: AesKey::new(material)?,
                    integ,
                    auth_key: auth_key.clone(),
                }
            }
            _ => return Err(CryptoError::IntegrityMismatch { encr, integ }),
        };
        Ok(SkCipher {
            encr,
            inner,
            next_iv: 0,
        })
    }

    /// Sets the next IV counter value. Only for known-answer tests and for
    /// restoring a saved SA: using a value twice with the same key breaks
    /// GCM completely.
    pub fn with_next_iv(mut self, next_iv: u64) -> SkCipher {
        self.next_iv = next_iv;
        self
    }

    /// The next IV counter value that [`seal`](Self::seal) will use.
    pub fn next_iv(&self) -> u64 {
        self.next_iv
    }

    /// The cipher's algorithm.
    pub fn encr(&self) -> Encr {
        self.encr
    }

    /// The integrity algorithm (`None` for AES-GCM).
    pub fn integ(&self) -> Option<Integ> {
        match &self.inner {
            Inner::Gcm { .. } => None,
            Inner::Cbc { integ, .. } => Some(*integ),
        }
    }

    /// Length of the IV on the wire (8 for GCM, 16 for CBC).
    pub fn iv_len(&self) -> usize {
        match &self.inner {
            Inner::Gcm { .. } => IV_LEN,
            Inner::Cbc { .. } => BLOCK,
        }
    }

    /// Length of the ICV (16 for GCM; the truncated HMAC for CBC).
    pub fn icv_len(&self) -> usize {
        match &self.inner {
            Inner::Gcm { .. } => ICV_LEN,
            Inner::Cbc { integ, .. } => integ.icv_len(),
        }
    }

    /// The block size the plaintext (payloads, Padding and Pad Length)
    /// must be a multiple of: 1 for GCM, 16 for CBC.
    pub fn block_len(&self) -> usize {
        match &self.inner {
            Inner::Gcm { .. } => 1,
            Inner::Cbc { .. } => BLOCK,
        }
    }

    /// Length of `IV | ciphertext | ICV` for `padded_len` bytes handed to
    /// [`seal_raw`](Self::seal_raw) (payloads, Padding and Pad Length
    /// already included, e.g. from the codec's `wire::pad_plaintext`):
    /// what the codec's `wire::SealFrame` needs to know up front.
    pub fn encrypted_len(&self, padded_len: usize) -> usize {
        self.iv_len() + padded_len + self.icv_len()
    }

    /// Length of the SK payload body (after its generic header) that
    /// sealing `payloads_len` bytes with `pad_len` padding bytes produces:
    /// IV + payloads + padding + 1 + ICV. Use it to fill in the IKE header
    /// and SK payload lengths before building the associated data.
    pub fn body_len(&self, payloads_len: usize, pad_len: u8) -> usize {
        self.encrypted_len(payloads_len + usize::from(pad_len) + 1)
    }

    /// The smallest padding that makes `payloads_len` bytes plus Pad
    /// Length a whole number of blocks (always 0 for GCM).
    pub fn pad_len_for(&self, payloads_len: usize) -> u8 {
        let block = self.block_len();
        let pad = (block - (payloads_len + 1) % block) % block;
        u8::try_from(pad).unwrap_or(0)
    }

    /// Encrypts `payloads` (the inner payload chain) with the least
    /// padding the cipher needs. Returns the SK payload body
    /// `IV | ciphertext | ICV`.
    pub fn seal(&mut self, aad: &[u8], payloads: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let pad = self.pad_len_for(payloads.len());
        self.seal_padded(aad, payloads, pad)
    }

    /// Like [`seal`](Self::seal) with `pad_len` zero bytes of padding (for
    /// CBC the total must fill whole blocks).
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
    /// Length byte (and, for CBC, fill whole blocks). Returns
    /// `IV | ciphertext | ICV`. Advances the IV counter.
    pub fn seal_raw(&mut self, aad: &[u8], inner: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv = self.next_iv;
        if iv == u64::MAX {
            return Err(CryptoError::IvExhausted);
        }
        let mut out = Vec::with_capacity(self.encrypted_len(inner.len()));
        match &self.inner {
            Inner::Gcm { key, salt } => {
                let iv_bytes = iv.to_be_bytes();
                out.extend_from_slice(&iv_bytes);
                out.extend_from_slice(inner);
                let tag = key
                    .seal_in_place_separate_tag(
                        gcm_nonce(salt, &iv_bytes),
                        Aad::from(aad),
                        &mut out[IV_LEN..],
                    )
                    .map_err(|_| CryptoError::TooLarge)?;
                out.extend_from_slice(tag.as_ref());
            }
            Inner::Cbc {
                key,
                integ,
                auth_key,
            } => {
                if !whole_blocks(inner.len()) {
                    return Err(CryptoError::NotBlockAligned(inner.len()));
                }
                let mut iv_block = [0u8; BLOCK];
                iv_block[BLOCK - 8..].copy_from_slice(&iv.to_be_bytes());
                key.encrypt_block(&mut iv_block);
                out.extend_from_slice(&iv_block);
                out.extend_from_slice(inner);
                key.cbc_encrypt(&iv_block, &mut out[BLOCK..])?;
                let icv = integ.icv(auth_key.expose(), &[aad, &out]);
                out.extend_from_slice(&icv);
            }
        }
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
        let min_plain = self.block_len();
        if body.len() < self.iv_len() + min_plain + self.icv_len() {
            return Err(CryptoError::Truncated(body.len()));
        }
        match &self.inner {
            Inner::Gcm { key, salt } => {
                let (iv, sealed) = body.split_at(IV_LEN);
                let mut iv_bytes = [0u8; IV_LEN];
                iv_bytes.copy_from_slice(iv);
                let mut buf = sealed.to_vec();
                let plaintext_len = key
                    .open_in_place(gcm_nonce(salt, &iv_bytes), Aad::from(aad), &mut buf)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?
                    .len();
                buf.truncate(plaintext_len);
                Ok(buf)
            }
            Inner::Cbc {
                key,
                integ,
                auth_key,
            } => {
                let (covered, icv) = body.split_at(body.len() - integ.icv_len());
                let expected = integ.icv(auth_key.expose(), &[aad, covered]);
                if !ct_eq(&expected, icv) {
                    return Err(CryptoError::IntegrityCheckFailed);
                }
                let (iv, ciphertext) = covered.split_at(BLOCK);
                let mut iv_block = [0u8; BLOCK];
                iv_block.copy_from_slice(iv);
                let mut buf = ciphertext.to_vec();
                key.cbc_decrypt(&iv_block, &mut buf)?;
                Ok(buf)
            }
        }
    }
}

fn gcm_nonce(salt: &[u8; SALT_LEN], iv: &[u8; IV_LEN]) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..SALT_LEN].copy_from_slice(salt);
    n[SALT_LEN..].copy_from_slice(iv);
    Nonce::assume_unique_for_key(n)
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &self.integ())
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
    use crate::crypto::hex as h;

    /// Every cipher with each integrity algorithm it takes.
    fn suites() -> Vec<(Encr, Option<Integ>)> {
        let mut v = vec![(Encr::AesGcm16_256, None), (Encr::AesGcm16_128, None)];
        for encr in [Encr::AesCbc256, Encr::AesCbc128] {
            v.extend(Integ::ALL.iter().map(|i| (encr, Some(*i))));
        }
        v
    }

    fn cipher(encr: Encr, integ: Option<Integ>) -> SkCipher {
        let auth = SecretBytes::new(vec![9u8; integ.map_or(0, Integ::key_len)]);
        SkCipher::with_integ(
            encr,
            integ,
            &SecretBytes::new(vec![7u8; encr.keymat_len()]),
            &auth,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_iv_counter() {
        for (encr, integ) in suites() {
            let mut tx = cipher(encr, integ);
            let rx = cipher(encr, integ);
            let aad = b"header and SK generic header";
            let pads: &[u8] = if encr.is_aead() {
                &[0, 1, 15, 255]
            } else {
                &[1, 17, 33, 241] // 14 + pad + 1 a multiple of 16
            };
            let mut ivs = Vec::new();
            for (i, pad) in pads.iter().copied().enumerate() {
                let body = tx.seal_padded(aad, b"inner payloads", pad).unwrap();
                assert_eq!(body.len(), tx.body_len(14, pad));
                if encr.is_aead() {
                    assert_eq!(&body[..8], &(i as u64).to_be_bytes());
                }
                ivs.push(body[..tx.iv_len()].to_vec());
                assert_eq!(rx.open(aad, &body).unwrap(), b"inner payloads");
            }
            ivs.dedup();
            assert_eq!(ivs.len(), pads.len(), "an IV repeated");
            assert_eq!(tx.next_iv(), 4);
            // Empty payload chain, least padding.
            let body = tx.seal(aad, b"").unwrap();
            assert_eq!(rx.open(aad, &body).unwrap(), b"");
            assert_eq!(body.len(), tx.encrypted_len(tx.block_len()));
        }
    }

    #[test]
    fn cbc_layout_iv_from_the_counter_and_truncated_icv() {
        for integ in Integ::ALL {
            let mut tx = cipher(Encr::AesCbc128, Some(integ));
            assert_eq!(
                (tx.iv_len(), tx.icv_len(), tx.block_len()),
                (16, integ.icv_len(), 16)
            );
            let body = tx.seal(b"aad", &[0x42; 20]).unwrap(); // 20 + 11 + 1 = 32
            assert_eq!(body.len(), 16 + 32 + integ.icv_len());
            // IV 0 = AES-128_K(0^128) under SK_e (NIST SP 800-38A appendix C).
            let key = AesKey::new(&[7u8; 16]).unwrap();
            let mut expected_iv = [0u8; 16];
            key.encrypt_block(&mut expected_iv);
            assert_eq!(&body[..16], &expected_iv);
            // ICV = HMAC(SK_a, aad | IV | ciphertext) truncated (RFC 4868).
            let (covered, icv) = body.split_at(body.len() - integ.icv_len());
            assert_eq!(
                icv,
                integ.icv(&[9u8; 64][..integ.key_len()], &[b"aad", covered])
            );
            // The ciphertext is CBC of the padded plaintext under that IV.
            let mut plain = covered[16..].to_vec();
            key.cbc_decrypt(&expected_iv, &mut plain).unwrap();
            assert_eq!(&plain[..20], &[0x42; 20]);
            assert_eq!(plain[31], 11);
        }
    }

    #[test]
    fn cbc_refuses_unaligned_plaintext_and_ciphertext() {
        let mut tx = cipher(Encr::AesCbc256, Some(Integ::HmacSha256_128));
        let rx = cipher(Encr::AesCbc256, Some(Integ::HmacSha256_128));
        assert_eq!(
            tx.seal_padded(b"", b"abc", 0),
            Err(CryptoError::NotBlockAligned(4))
        );
        // A 17-byte "ciphertext" with a valid ICV: refused after the ICV check.
        let mut body = vec![0u8; 16 + 17];
        let icv = Integ::HmacSha256_128.icv(&[9u8; 32], &[b"", &body]);
        body.extend_from_slice(&icv);
        assert_eq!(rx.open(b"", &body), Err(CryptoError::NotBlockAligned(17)));
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
        assert_eq!(
            SkCipher::with_integ(
                Encr::AesCbc128,
                Some(Integ::HmacSha512_256),
                &SecretBytes::new(vec![0; 16]),
                &SecretBytes::new(vec![0; 32]),
            )
            .err(),
            Some(CryptoError::KeyLength {
                expected: 64,
                actual: 32
            })
        );
        // CBC without integrity, GCM with it.
        assert_eq!(
            SkCipher::new(Encr::AesCbc128, &SecretBytes::new(vec![0; 16])).err(),
            Some(CryptoError::IntegrityMismatch {
                encr: Encr::AesCbc128,
                integ: None
            })
        );
        assert!(SkCipher::with_integ(
            Encr::AesGcm16_128,
            Some(Integ::HmacSha256_128),
            &SecretBytes::new(vec![0; 20]),
            &SecretBytes::new(vec![0; 32]),
        )
        .is_err());
    }

    #[test]
    fn iv_exhaustion() {
        for (encr, integ) in suites() {
            let mut tx = cipher(encr, integ).with_next_iv(u64::MAX - 1);
            assert!(tx.seal(b"", b"x").is_ok());
            assert_eq!(tx.seal(b"", b"x"), Err(CryptoError::IvExhausted));
        }
    }

    #[test]
    fn short_and_garbled_input_is_an_error() {
        for (encr, integ) in suites() {
            let rx = cipher(encr, integ);
            let min = rx.iv_len() + rx.block_len() + rx.icv_len();
            for len in 0..min {
                assert_eq!(
                    rx.open(b"", &vec![0u8; len]),
                    Err(CryptoError::Truncated(len))
                );
            }
            for len in min..150 {
                assert_eq!(
                    rx.open(b"", &vec![0x5a; len]),
                    Err(CryptoError::IntegrityCheckFailed)
                );
            }
        }
    }

    #[test]
    fn bad_pad_length_is_an_error() {
        let mut tx = cipher(Encr::AesGcm16_128, None);
        let rx = cipher(Encr::AesGcm16_128, None);
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
        let mut tx = cipher(Encr::AesCbc128, Some(Integ::HmacSha256_128));
        let rx = cipher(Encr::AesCbc128, Some(Integ::HmacSha256_128));
        let body = tx.seal_raw(b"a", &[16; 16]).unwrap(); // pad length 16 > 15
        assert_eq!(
            rx.open(b"a", &body),
            Err(CryptoError::BadPadding {
                pad_len: 16,
                plaintext_len: 16
            })
        );
    }

    /// RFC 3602 section 4, cases 1-4 (AES-128-CBC), and NIST SP 800-38A
    /// F.2.5 (AES-256-CBC), through the same CBC code the SK payload uses.
    #[test]
    fn rfc3602_and_sp800_38a_aes_cbc() {
        let cases = [
            (
                "06a9214036b8a15b512e03d534120006",
                "3dafba429d9eb430b422da802c9fac41",
                b"Single block msg".to_vec(),
                "e353779c1079aeb82708942dbe77181a",
            ),
            (
                "c286696d887c9aa0611bbb3e2025a45a",
                "562e17996d093d28ddb3ba695a2e6f58",
                (0u8..32).collect(),
                "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
            ),
            (
                "6c3ea0477630ce21a2ce334aa746c2cd",
                "c782dc4c098c66cbd9cd27d825682c81",
                b"This is a 48-byte message (exactly 3 AES blocks)".to_vec(),
                "d0a02b3836451753d493665d33f0e886\
                 2dea54cdb293abc7506939276772f8d5\
                 021c19216bad525c8579695d83ba2684",
            ),
            (
                "56e47a38c5598974bc46903dba290349",
                "8ce82eefbea0da3c44699ed7db51b7d9",
                (0xa0u8..=0xdf).collect(),
                "c30e32ffedc0774e6aff6af0869f71aa\
                 0f3af07a9a31a9c684db207eb0ef8e4e\
                 35907aa632c3ffdf868bb7b29d3d46ad\
                 83ce9f9a102ee99d49a53e87f4c3da55",
            ),
            (
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
                "000102030405060708090a0b0c0d0e0f",
                h(
                    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                   30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
                ),
                "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d\
                 39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
            ),
        ];
        for (key, iv, plain, cipher) in cases {
            let cipher: String = cipher.split_whitespace().collect();
            let key = AesKey::new(&h(key)).unwrap();
            let iv: [u8; 16] = h(iv).try_into().unwrap();
            let mut buf = plain.clone();
            key.cbc_encrypt(&iv, &mut buf).unwrap();
            assert_eq!(buf, h(&cipher));
            key.cbc_decrypt(&iv, &mut buf).unwrap();
            assert_eq!(buf, plain);
        }
    }
}
