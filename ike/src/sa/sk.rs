//! Sealing and opening the Encrypted (SK) payload of one IKE SA
//! (RFC 7296 3.14, RFC 5282): the codec frames header and AAD, the
//! AES-GCM cipher of [`crate::crypto`] seals or opens the inner chain.

use crate::crypto::{IkeSaKeys, Role, SkCipher};
use crate::stats::DropReason;
use crate::wire::{
    encode_chain, pad_plaintext, EncryptedView, Header, Payload, SealFrame, WireError,
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

impl SkState {
    /// Ciphers for `me` (our role in the exchange that created the SA).
    pub(crate) fn new(keys: IkeSaKeys, me: Role) -> Option<SkState> {
        let tx = keys.outbound_cipher(me).ok()?;
        let rx = keys.inbound_cipher(me).ok()?;
        Some(SkState { keys, tx, rx })
    }

    /// An encrypted datagram with `header` and `payloads` inside SK.
    pub(crate) fn seal(&mut self, header: &Header, payloads: &[Payload]) -> Option<Vec<u8>> {
        let (first, plain) = encode_chain(payloads).ok()?;
        let padded = pad_plaintext(&plain, 1);
        let frame = SealFrame::sk(header, first, SkCipher::encrypted_len(padded.len())).ok()?;
        let sealed = self.tx.seal_raw(frame.aad(), &padded).ok()?;
        frame.finish(&sealed).ok()
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
}
