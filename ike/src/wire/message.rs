//! A whole IKE message: header plus payload chain, with `encode` filling
//! every length and Next Payload field and `decode` validating them all.

use super::constants::PayloadType;
use super::error::{Result, WireError};
use super::header::{Header, HEADER_LEN};
use super::notify::NotifyPayload;
use super::notify_type::NotifyType;
use super::payload::{decode_chain, encode_chain_into, Payload};

/// An IKE message. For encrypted exchanges the plaintext view is usually
/// built from the header plus the inner payloads returned by
/// [`EncryptedView::decode_inner`](super::EncryptedView::decode_inner); a
/// decoded datagram holds a [`Payload::Sk`] as its last payload instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header (`next_payload` and `length` are recomputed by `encode`).
    pub header: Header,
    /// The payloads, in wire order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// A message with no payload yet.
    pub fn new(header: Header) -> Self {
        Message {
            header,
            payloads: Vec::new(),
        }
    }

    /// Decodes a datagram (without the non-ESP marker). The header length
    /// must equal the datagram length and the chain must fill it exactly.
    pub fn decode(datagram: &[u8]) -> Result<Message> {
        let header = Header::decode_datagram(datagram)?;
        let body = datagram.get(HEADER_LEN..).unwrap_or(&[]);
        let payloads = decode_chain(header.next_payload, body)?;
        Ok(Message { header, payloads })
    }

    /// Encodes the message. The header's `next_payload` and `length` are
    /// computed (the stored values are ignored). Fails only for values that
    /// cannot be represented (e.g. a payload over 65535 bytes, a nonce of
    /// the wrong size, SK not last).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(256);
        let mut h = self.header.clone();
        h.encode_into(&mut out);
        let first = encode_chain_into(&self.payloads, &mut out)?;
        h.next_payload = first;
        h.length = u32::try_from(out.len()).map_err(|_| WireError::TooLong {
            what: "IKE message",
            length: out.len(),
        })?;
        let mut head = Vec::with_capacity(HEADER_LEN);
        h.encode_into(&mut head);
        if let Some(slot) = out.get_mut(..HEADER_LEN) {
            slot.copy_from_slice(&head);
        }
        Ok(out)
    }

    /// The type of the first payload.
    pub fn first_payload_type(&self) -> PayloadType {
        self.payloads
            .first()
            .map(Payload::payload_type)
            .unwrap_or(PayloadType::NONE)
    }

    /// All Notify payloads.
    pub fn notifies(&self) -> impl Iterator<Item = &NotifyPayload> + '_ {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The first Notify of a given type.
    pub fn notify(&self, t: NotifyType) -> Option<&NotifyPayload> {
        self.notifies().find(|n| n.notify_type == t)
    }

    /// The first payload of a given type.
    pub fn find(&self, t: PayloadType) -> Option<&Payload> {
        self.payloads.iter().find(|p| p.payload_type() == t)
    }

    /// Unknown payloads that were skipped (non-critical).
    pub fn unknown_payloads(&self) -> impl Iterator<Item = &Payload> + '_ {
        self.payloads
            .iter()
            .filter(|p| matches!(p, Payload::Unknown { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::constants::ExchangeType;
    use crate::wire::header::Flags;

    #[test]
    fn empty_informational() {
        let m = Message::new(Header::new(
            7,
            8,
            ExchangeType::INFORMATIONAL,
            Flags::RESPONSE,
            5,
        ));
        let b = m.encode().unwrap();
        assert_eq!(b.len(), 28);
        assert_eq!(b[16], 0);
        assert_eq!(&b[24..], &[0, 0, 0, 28]);
        let back = Message::decode(&b).unwrap();
        assert_eq!(back, m);
    }
}
