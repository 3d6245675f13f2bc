//! The Encrypted payload SK (RFC 7296 section 3.14, RFC 5282 for AEAD) and
//! the Encrypted Fragment payload SKF (RFC 7383 section 2.5), with the
//! framing the state machine needs around the crypto engine's AEAD.
//!
//! The codec never encrypts. It gives the crypto side exactly the bytes to
//! protect:
//!
//! **Sending** (`IKE_AUTH`, `CREATE_CHILD_SA`, `INFORMATIONAL`):
//! 1. [`encode_chain`](super::encode_chain) the inner payloads -> `(first_inner, plain)`;
//! 2. [`pad_plaintext`] (RFC 7296 3.14 Padding + Pad Length);
//! 3. [`SealFrame::sk`] with the header, `first_inner` and the size of
//!    IV || ciphertext || ICV -> [`SealFrame::aad`] is the IKE header
//!    (length already final) plus the SK generic header;
//! 4. the crypto engine seals `padded` with that AAD and returns
//!    IV || ciphertext || ICV;
//! 5. [`SealFrame::finish`] appends it -> the datagram.
//!
//! **Receiving**: [`EncryptedView::parse`] checks header and chain and gives
//! `aad` (everything from the IKE header through the SK/SKF header, i.e.
//! up to the IV) and `encrypted` (IV || ciphertext || ICV); after the crypto
//! engine opens it, [`EncryptedView::decode_inner`] strips the padding and
//! decodes the inner chain starting at `first_inner`. For SKF, feed the
//! unpadded fragment ([`unpad_plaintext`]) to a
//! [`Reassembler`](super::Reassembler) instead.

use super::constants::PayloadType;
use super::error::{Result, WireError};
use super::header::{Header, HEADER_LEN};
use super::payload::{decode_chain, walk, Payload, GENERIC_HEADER_LEN};
use super::reader::{len_u16, Reader};

/// Length of the SKF header after the generic header (Fragment Number and
/// Total Fragments).
pub const SKF_FIELDS_LEN: usize = 4;

/// SK payload: the first inner payload type (its Next Payload field) and
/// the protected bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkPayload {
    /// Type of the first payload inside the encrypted data.
    pub first_inner: PayloadType,
    /// IV || ciphertext (payloads, padding, pad length) || ICV.
    pub encrypted: Vec<u8>,
}

impl SkPayload {
    pub(crate) fn decode(next: PayloadType, body: &[u8]) -> Result<SkPayload> {
        Ok(SkPayload {
            first_inner: next,
            encrypted: body.to_vec(),
        })
    }
}

/// Fragment number and total of an SKF payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// This fragment's number, from 1.
    pub number: u16,
    /// Number of fragments of the original message.
    pub total: u16,
}

impl FragmentInfo {
    fn check(self) -> Result<()> {
        if self.number == 0 || self.total == 0 || self.number > self.total {
            return Err(WireError::syntax("SKF fragment number not in 1..=total"));
        }
        Ok(())
    }
}

/// SKF payload (RFC 7383): a fragment of an SK payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkfPayload {
    /// First inner payload type in fragment 1, [`PayloadType::NONE`] in the others.
    pub first_inner: PayloadType,
    /// Number and total.
    pub fragment: FragmentInfo,
    /// IV || ciphertext || ICV of this fragment.
    pub encrypted: Vec<u8>,
}

impl SkfPayload {
    pub(crate) fn decode(next: PayloadType, body: &[u8]) -> Result<SkfPayload> {
        let mut r = Reader::new(body);
        let fragment = FragmentInfo {
            number: r.u16("SKF payload")?,
            total: r.u16("SKF payload")?,
        };
        fragment.check()?;
        if fragment.number > 1 && next != PayloadType::NONE {
            return Err(WireError::syntax(
                "SKF fragment after the first names an inner payload",
            ));
        }
        Ok(SkfPayload {
            first_inner: next,
            fragment,
            encrypted: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode_body_into(&self, out: &mut Vec<u8>) -> Result<()> {
        self.fragment.check()?;
        if self.fragment.number > 1 && self.first_inner != PayloadType::NONE {
            return Err(WireError::syntax(
                "SKF fragment after the first names an inner payload",
            ));
        }
        out.extend_from_slice(&self.fragment.number.to_be_bytes());
        out.extend_from_slice(&self.fragment.total.to_be_bytes());
        out.extend_from_slice(&self.encrypted);
        Ok(())
    }
}

/// Appends RFC 7296 3.14 padding and the Pad Length byte so that the
/// result is a multiple of `block_len` (use 1 or 0 for no alignment, as
/// with AES-GCM). Padding bytes are zero.
pub fn pad_plaintext(inner: &[u8], block_len: usize) -> Vec<u8> {
    let block = block_len.max(1);
    let pad = (block - (inner.len() + 1) % block) % block;
    let mut out = Vec::with_capacity(inner.len() + pad + 1);
    out.extend_from_slice(inner);
    out.resize(inner.len() + pad, 0);
    // pad < block; a block above 256 bytes does not exist for IKE ciphers.
    out.push(u8::try_from(pad).unwrap_or(u8::MAX));
    out
}

/// Removes the padding and Pad Length byte from decrypted SK content.
pub fn unpad_plaintext(decrypted: &[u8]) -> Result<&[u8]> {
    let (&pad_len, rest) = decrypted.split_last().ok_or(WireError::Truncated {
        what: "SK plaintext (Pad Length)",
        needed: 1,
        available: 0,
    })?;
    let keep = rest
        .len()
        .checked_sub(pad_len as usize)
        .ok_or(WireError::bad_length(
            "SK padding",
            pad_len as usize,
            "Pad Length exceeds the decrypted data",
        ))?;
    rest.get(..keep).ok_or(WireError::syntax("SK padding"))
}

/// The unencrypted part of an SK/SKF message being built: the header and
/// the SK (or SKF) header, with every length already final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealFrame {
    bytes: Vec<u8>,
    encrypted_len: usize,
}

impl SealFrame {
    /// Frame for an SK message. `encrypted_len` is the length of IV ||
    /// ciphertext || ICV that the crypto engine will produce.
    /// `header.next_payload` and `header.length` are set here.
    pub fn sk(
        header: &Header,
        first_inner: PayloadType,
        encrypted_len: usize,
    ) -> Result<SealFrame> {
        Self::build(header, PayloadType::SK, first_inner, None, encrypted_len)
    }

    /// Frame for one SKF fragment message (RFC 7383). `first_inner` must be
    /// [`PayloadType::NONE`] for fragments after the first.
    pub fn skf(
        header: &Header,
        first_inner: PayloadType,
        fragment: FragmentInfo,
        encrypted_len: usize,
    ) -> Result<SealFrame> {
        fragment.check()?;
        if fragment.number > 1 && first_inner != PayloadType::NONE {
            return Err(WireError::syntax(
                "SKF fragment after the first names an inner payload",
            ));
        }
        Self::build(
            header,
            PayloadType::SKF,
            first_inner,
            Some(fragment),
            encrypted_len,
        )
    }

    fn build(
        header: &Header,
        kind: PayloadType,
        first_inner: PayloadType,
        fragment: Option<FragmentInfo>,
        encrypted_len: usize,
    ) -> Result<SealFrame> {
        let extra = if fragment.is_some() {
            SKF_FIELDS_LEN
        } else {
            0
        };
        let payload_len = len_u16("SK payload", GENERIC_HEADER_LEN + extra + encrypted_len)?;
        let total = HEADER_LEN + usize::from(payload_len);
        let mut h = header.clone();
        h.next_payload = kind;
        h.length = u32::try_from(total).map_err(|_| WireError::TooLong {
            what: "IKE message",
            length: total,
        })?;
        let mut bytes = Vec::with_capacity(total);
        h.encode_into(&mut bytes);
        bytes.push(first_inner.0);
        bytes.push(0);
        bytes.extend_from_slice(&payload_len.to_be_bytes());
        if let Some(f) = fragment {
            bytes.extend_from_slice(&f.number.to_be_bytes());
            bytes.extend_from_slice(&f.total.to_be_bytes());
        }
        Ok(SealFrame {
            bytes,
            encrypted_len,
        })
    }

    /// The associated data: IKE header through the SK/SKF payload header.
    pub fn aad(&self) -> &[u8] {
        &self.bytes
    }

    /// The number of bytes [`SealFrame::finish`] expects.
    pub fn encrypted_len(&self) -> usize {
        self.encrypted_len
    }

    /// Appends IV || ciphertext || ICV and returns the datagram. Fails if
    /// the length differs from the one announced in the headers.
    pub fn finish(self, encrypted: &[u8]) -> Result<Vec<u8>> {
        if encrypted.len() != self.encrypted_len {
            return Err(WireError::bad_length(
                "SK encrypted data",
                encrypted.len(),
                "differs from the length given to SealFrame",
            ));
        }
        let mut out = self.bytes;
        out.extend_from_slice(encrypted);
        Ok(out)
    }
}

/// A received message whose last payload is SK or SKF, split for the
/// crypto engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedView<'a> {
    /// The IKE header.
    pub header: Header,
    /// Unencrypted payloads before SK/SKF (normally none).
    pub preceding: Vec<Payload>,
    /// First inner payload type (NONE in SKF fragments after the first).
    pub first_inner: PayloadType,
    /// `Some` for an SKF fragment.
    pub fragment: Option<FragmentInfo>,
    /// Associated data: the datagram from the IKE header up to the IV.
    pub aad: &'a [u8],
    /// IV || ciphertext || ICV.
    pub encrypted: &'a [u8],
}

impl<'a> EncryptedView<'a> {
    /// Parses a datagram (without the non-ESP marker). Fails with
    /// `InvalidSyntax` when the message has no SK/SKF payload.
    pub fn parse(datagram: &'a [u8]) -> Result<EncryptedView<'a>> {
        let header = Header::decode_datagram(datagram)?;
        let body = datagram.get(HEADER_LEN..).unwrap_or(&[]);
        let raw = walk(header.next_payload, body)?;
        let (last, before) = raw
            .split_last()
            .ok_or(WireError::syntax("message has no SK or SKF payload"))?;
        let preceding = before
            .iter()
            .map(|p| Payload::decode_body(p.payload_type, p.next, p.critical, p.body))
            .collect::<Result<Vec<_>>>()?;
        let (fragment, skip) = match last.payload_type {
            PayloadType::SK => (None, 0),
            PayloadType::SKF => {
                let skf = SkfPayload::decode(last.next, last.body)?;
                (Some(skf.fragment), SKF_FIELDS_LEN)
            }
            _ => return Err(WireError::syntax("message has no SK or SKF payload")),
        };
        let iv_start = HEADER_LEN + last.offset + GENERIC_HEADER_LEN + skip;
        let aad = datagram
            .get(..iv_start)
            .ok_or(WireError::syntax("SK framing"))?;
        let encrypted = datagram
            .get(iv_start..)
            .ok_or(WireError::syntax("SK framing"))?;
        Ok(EncryptedView {
            header,
            preceding,
            first_inner: last.next,
            fragment,
            aad,
            encrypted,
        })
    }

    /// Strips padding from the decrypted SK content and decodes the inner
    /// payload chain (not for SKF fragments: reassemble those first).
    pub fn decode_inner(&self, decrypted: &[u8]) -> Result<Vec<Payload>> {
        if self.fragment.is_some() {
            return Err(WireError::syntax(
                "decode_inner on an SKF fragment; reassemble first",
            ));
        }
        decode_chain(self.first_inner, unpad_plaintext(decrypted)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::constants::ExchangeType;
    use crate::wire::header::Flags;
    use crate::wire::notify::NotifyPayload;
    use crate::wire::notify_type::NotifyType;
    use crate::wire::payload::encode_chain;

    fn hdr() -> Header {
        Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::INITIATOR, 1)
    }

    /// A fake "AEAD": IV (8 bytes of 0xEE) || plaintext XOR 0x5A || ICV (16 bytes of 0x11).
    fn fake_seal(plain: &[u8]) -> Vec<u8> {
        let mut v = vec![0xee; 8];
        v.extend(plain.iter().map(|b| b ^ 0x5a));
        v.extend_from_slice(&[0x11; 16]);
        v
    }

    fn fake_open(enc: &[u8]) -> Vec<u8> {
        enc[8..enc.len() - 16].iter().map(|b| b ^ 0x5a).collect()
    }

    #[test]
    fn seal_and_open_flow() {
        let inner = vec![
            Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, vec![])),
            Payload::VendorId(b"x".to_vec()),
        ];
        let (first, plain) = encode_chain(&inner).unwrap();
        let padded = pad_plaintext(&plain, 16);
        assert_eq!(padded.len() % 16, 0);
        let frame = SealFrame::sk(&hdr(), first, 8 + padded.len() + 16).unwrap();
        let aad = frame.aad().to_vec();
        assert_eq!(aad.len(), 32);
        let dgram = frame.finish(&fake_seal(&padded)).unwrap();

        let view = EncryptedView::parse(&dgram).unwrap();
        assert_eq!(view.aad, &aad[..]);
        assert_eq!(view.first_inner, PayloadType::NOTIFY);
        assert_eq!(view.header.length as usize, dgram.len());
        assert!(view.fragment.is_none());
        let got = view.decode_inner(&fake_open(view.encrypted)).unwrap();
        assert_eq!(got, inner);
    }

    #[test]
    fn empty_informational_liveness_check() {
        // DPD / liveness: an INFORMATIONAL whose SK carries no payload.
        let (first, plain) = encode_chain(&[]).unwrap();
        assert_eq!(first, PayloadType::NONE);
        let padded = pad_plaintext(&plain, 1);
        assert_eq!(padded, vec![0]);
        let h = Header::new(1, 2, ExchangeType::INFORMATIONAL, Flags::INITIATOR, 9);
        let dgram = SealFrame::sk(&h, first, 8 + padded.len() + 16)
            .unwrap()
            .finish(&fake_seal(&padded))
            .unwrap();
        let view = EncryptedView::parse(&dgram).unwrap();
        assert_eq!(view.first_inner, PayloadType::NONE);
        assert!(view
            .decode_inner(&fake_open(view.encrypted))
            .unwrap()
            .is_empty());
        // padding that hides extra bytes after an empty chain is rejected
        assert!(view.decode_inner(&[1, 0]).is_err());
    }

    #[test]
    fn finish_checks_length() {
        let frame = SealFrame::sk(&hdr(), PayloadType::IDI, 10).unwrap();
        assert!(frame.finish(&[0; 9]).is_err());
    }

    #[test]
    fn skf_frame_and_view() {
        let f = FragmentInfo {
            number: 2,
            total: 3,
        };
        assert!(SealFrame::skf(&hdr(), PayloadType::IDI, f, 4).is_err());
        let frame = SealFrame::skf(&hdr(), PayloadType::NONE, f, 4).unwrap();
        assert_eq!(frame.aad().len(), 36);
        let dgram = frame.finish(&[1, 2, 3, 4]).unwrap();
        let v = EncryptedView::parse(&dgram).unwrap();
        assert_eq!(v.fragment, Some(f));
        assert_eq!(v.encrypted, &[1, 2, 3, 4]);
        assert_eq!(v.aad.len(), 36);
        assert!(v.decode_inner(&[0]).is_err());
        for bad in [
            FragmentInfo {
                number: 0,
                total: 1,
            },
            FragmentInfo {
                number: 3,
                total: 2,
            },
        ] {
            assert!(SealFrame::skf(&hdr(), PayloadType::NONE, bad, 4).is_err());
        }
    }

    #[test]
    fn preceding_payloads_kept() {
        let mut m = crate::wire::Message::new(hdr());
        m.payloads.push(Payload::VendorId(vec![7]));
        m.payloads.push(Payload::Sk(SkPayload {
            first_inner: PayloadType::AUTH,
            encrypted: vec![9; 20],
        }));
        let dgram = m.encode().unwrap();
        let v = EncryptedView::parse(&dgram).unwrap();
        assert_eq!(v.preceding, vec![Payload::VendorId(vec![7])]);
        assert_eq!(v.aad.len(), 28 + 5 + 4);
        assert_eq!(v.encrypted, &[9; 20]);
        let plain = crate::wire::Message::new(hdr()).encode().unwrap();
        assert!(EncryptedView::parse(&plain).is_err());
    }

    #[test]
    fn padding() {
        assert_eq!(pad_plaintext(&[1, 2, 3], 1), vec![1, 2, 3, 0]);
        assert_eq!(pad_plaintext(&[1, 2, 3], 4), vec![1, 2, 3, 0]);
        assert_eq!(
            pad_plaintext(&[1, 2, 3, 4], 4),
            vec![1, 2, 3, 4, 0, 0, 0, 3]
        );
        assert_eq!(
            unpad_plaintext(&[1, 2, 3, 4, 0, 0, 0, 3]).unwrap(),
            &[1, 2, 3, 4]
        );
        assert!(unpad_plaintext(&[]).is_err());
        assert!(unpad_plaintext(&[1, 5]).is_err());
        assert_eq!(unpad_plaintext(&[0]).unwrap(), &[] as &[u8]);
    }
}
