//! Sealing and opening the Encrypted (SK) payload of one IKE SA
//! (RFC 7296 3.14, RFC 5282, RFC 3602): the codec frames header and AAD
//! and pads to the cipher's block, the AES-GCM or AES-CBC + HMAC cipher of
//! [`crate::crypto`] seals or opens the inner chain.
//!
//! A message larger than the fragment limit of an SA that negotiated
//! fragmentation is sealed as Encrypted Fragment (SKF) messages instead
//! (RFC 7383 2.5): the inner chain is cut into pieces, each piece padded,
//! sealed with its own IV and ICV under the SK keys, and framed with the
//! original header (same message ID), Fragment Number and Total
//! Fragments; the first names the first inner payload, the others NONE.
//! Received fragments are opened one by one ([`SkState::open_fragment`])
//! and reassembled by [`super::fragment`].

use crate::crypto::{IkeSaKeys, Role, SkCipher};
use crate::stats::DropReason;
use crate::wire::{
    encode_chain, pad_plaintext, split_for_fragments, unpad_plaintext, EncryptedView, ExchangeType,
    Header, Payload, SealFrame, WireError, GENERIC_HEADER_LEN, HEADER_LEN, SKF_FIELDS_LEN,
};

/// Keys and ciphers of an IKE SA once IKE_SA_INIT completed.
pub(crate) struct SkState {
    pub keys: IkeSaKeys,
    tx: SkCipher,
    rx: SkCipher,
}

/// A decrypted message: its header and the inner payload chain (or why
/// the chain did not decode, which needs an answer for requests).
pub(crate) struct Opened {
    pub header: Header,
    pub payloads: Result<Vec<Payload>, WireError>,
}

/// Bytes an SKF message adds around its piece of the inner chain: IKE
/// header, SKF header, IV, ICV, the Pad Length byte and at most a block
/// less one of padding (AES-GCM needs none, AES-CBC up to 15 bytes).
pub(crate) fn skf_overhead(tx: &SkCipher) -> usize {
    HEADER_LEN + GENERIC_HEADER_LEN + SKF_FIELDS_LEN + tx.iv_len() + tx.icv_len() + tx.block_len()
}

impl SkState {
    /// Ciphers for `me` (our role in the exchange that created the SA).
    pub(crate) fn new(keys: IkeSaKeys, me: Role) -> Option<SkState> {
        let tx = keys.outbound_cipher(me).ok()?;
        let rx = keys.inbound_cipher(me).ok()?;
        Some(SkState { keys, tx, rx })
    }

    /// An encrypted datagram with `plain` (an encoded inner chain
    /// starting with a `first` payload) inside SK.
    fn seal_sk(
        &mut self,
        header: &Header,
        first: crate::wire::PayloadType,
        plain: &[u8],
    ) -> Option<Vec<u8>> {
        let padded = pad_plaintext(plain, self.tx.block_len());
        let frame = SealFrame::sk(header, first, self.tx.encrypted_len(padded.len())).ok()?;
        let sealed = self.tx.seal_raw(frame.aad(), &padded).ok()?;
        frame.finish(&sealed).ok()
    }

    /// The datagrams carrying `payloads`: one SK message, or, when
    /// `max_message` is given (fragmentation negotiated) and the SK
    /// message would be longer, SKF fragments of at most `max_message`
    /// bytes each (RFC 7383 2.5; never for IKE_SA_INIT).
    pub(crate) fn seal_message(
        &mut self,
        header: &Header,
        payloads: &[Payload],
        max_message: Option<usize>,
    ) -> Option<Vec<Vec<u8>>> {
        let (first, plain) = encode_chain(payloads).ok()?;
        let padded_len = pad_plaintext(&plain, self.tx.block_len()).len();
        let whole = HEADER_LEN + GENERIC_HEADER_LEN + self.tx.encrypted_len(padded_len);
        let overhead = skf_overhead(&self.tx);
        let limit = max_message.filter(|m| {
            whole > *m && header.exchange != ExchangeType::IKE_SA_INIT && *m > overhead
        });
        let Some(limit) = limit else {
            return self.seal_sk(header, first, &plain).map(|d| vec![d]);
        };
        let pieces = split_for_fragments(first, &plain, limit - overhead).ok()?;
        let mut out = Vec::with_capacity(pieces.len());
        for p in pieces {
            let padded = pad_plaintext(p.content, self.tx.block_len());
            let frame = SealFrame::skf(
                header,
                p.first_inner,
                p.info,
                self.tx.encrypted_len(padded.len()),
            )
            .ok()?;
            let sealed = self.tx.seal_raw(frame.aad(), &padded).ok()?;
            out.push(frame.finish(&sealed).ok()?);
        }
        Some(out)
    }

    /// Checks and decrypts a datagram of this SA.
    pub(crate) fn open(&self, datagram: &[u8]) -> Result<Opened, DropReason> {
        let view = EncryptedView::parse(datagram).map_err(|_| DropReason::Malformed)?;
        if view.fragment.is_some() {
            return Err(DropReason::Fragment);
        }
        let plain = self
            .rx
            .open_raw(view.aad, view.encrypted)
            .map_err(|_| DropReason::IntegrityCheckFailed)?;
        Ok(Opened {
            header: view.header.clone(),
            payloads: view.decode_inner(&plain),
        })
    }

    /// Checks and decrypts one SKF fragment (parsed by the caller):
    /// its piece of the inner chain, padding removed.
    pub(crate) fn open_fragment(&self, view: &EncryptedView<'_>) -> Result<Vec<u8>, DropReason> {
        let plain = self
            .rx
            .open_raw(view.aad, view.encrypted)
            .map_err(|_| DropReason::IntegrityCheckFailed)?;
        unpad_plaintext(&plain)
            .map(<[u8]>::to_vec)
            .map_err(|_| DropReason::Fragment)
    }
}
