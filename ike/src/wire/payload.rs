//! The generic payload header (RFC 7296 section 3.2), the [`Payload`] enum
//! and the payload chain walker/encoder.
//!
//! ```text
//! Next Payload (1) | C | RESERVED (7 bits) | Payload Length (2, incl. header)
//! ```
//!
//! The walker checks every length (>= 4, within the buffer), keeps unknown
//! non-critical payloads raw, rejects unknown critical ones with
//! [`WireError::UnsupportedCriticalPayload`], requires SK/SKF to be the
//! last payload (its Next Payload field names the first *inner* payload)
//! and rejects bytes after the last payload.

use super::auth::AuthPayload;
use super::constants::PayloadType;
use super::delete::DeletePayload;
use super::error::{Result, WireError};
use super::id::IdPayload;
use super::ke::KePayload;
use super::nonce::NoncePayload;
use super::notify::NotifyPayload;
use super::raw::{CertPayload, CpPayload};
use super::reader::{len_u16, patch_u16, Reader};
use super::sa::SaPayload;
use super::sk::{SkPayload, SkfPayload};
use super::ts::TsPayload;

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

const CRITICAL: u8 = 0x80;

/// One decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association.
    Sa(SaPayload),
    /// Key Exchange.
    Ke(KePayload),
    /// Identification - Initiator.
    IdI(IdPayload),
    /// Identification - Responder.
    IdR(IdPayload),
    /// Certificate.
    Cert(CertPayload),
    /// Certificate Request.
    CertReq(CertPayload),
    /// Authentication.
    Auth(AuthPayload),
    /// Nonce.
    Nonce(NoncePayload),
    /// Notify.
    Notify(NotifyPayload),
    /// Delete.
    Delete(DeletePayload),
    /// Vendor ID (opaque).
    VendorId(Vec<u8>),
    /// Traffic Selector - Initiator.
    TsI(TsPayload),
    /// Traffic Selector - Responder.
    TsR(TsPayload),
    /// Encrypted and Authenticated (must be last).
    Sk(SkPayload),
    /// Configuration.
    Cp(CpPayload),
    /// EAP message (opaque).
    Eap(Vec<u8>),
    /// Encrypted Fragment (must be last).
    Skf(SkfPayload),
    /// A payload type this codec does not model, received without the
    /// critical bit (or built by the caller); kept raw.
    Unknown {
        /// Its payload type.
        payload_type: PayloadType,
        /// The critical bit it carries.
        critical: bool,
        /// Body after the generic header.
        data: Vec<u8>,
    },
}

impl Payload {
    /// The payload type on the wire.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Unknown { payload_type, .. } => *payload_type,
        }
    }

    /// Whether `t` has a typed variant here (anything else is "unknown").
    pub fn is_supported_type(t: PayloadType) -> bool {
        matches!(
            t,
            PayloadType::SA
                | PayloadType::KE
                | PayloadType::IDI
                | PayloadType::IDR
                | PayloadType::CERT
                | PayloadType::CERTREQ
                | PayloadType::AUTH
                | PayloadType::NONCE
                | PayloadType::NOTIFY
                | PayloadType::DELETE
                | PayloadType::VENDOR_ID
                | PayloadType::TSI
                | PayloadType::TSR
                | PayloadType::SK
                | PayloadType::CP
                | PayloadType::EAP
                | PayloadType::SKF
        )
    }

    /// Decodes a payload body of a supported type. `next` is the Next
    /// Payload field (only SK/SKF use it: it is their first inner type).
    pub(crate) fn decode_body(
        t: PayloadType,
        next: PayloadType,
        critical: bool,
        body: &[u8],
    ) -> Result<Payload> {
        Ok(match t {
            PayloadType::SA => Payload::Sa(SaPayload::decode(body)?),
            PayloadType::KE => Payload::Ke(KePayload::decode(body)?),
            PayloadType::IDI => Payload::IdI(IdPayload::decode(body)?),
            PayloadType::IDR => Payload::IdR(IdPayload::decode(body)?),
            PayloadType::CERT => Payload::Cert(CertPayload::decode(body)?),
            PayloadType::CERTREQ => Payload::CertReq(CertPayload::decode(body)?),
            PayloadType::AUTH => Payload::Auth(AuthPayload::decode(body)?),
            PayloadType::NONCE => Payload::Nonce(NoncePayload::decode(body)?),
            PayloadType::NOTIFY => Payload::Notify(NotifyPayload::decode(body)?),
            PayloadType::DELETE => Payload::Delete(DeletePayload::decode(body)?),
            PayloadType::VENDOR_ID => Payload::VendorId(body.to_vec()),
            PayloadType::TSI => Payload::TsI(TsPayload::decode(body)?),
            PayloadType::TSR => Payload::TsR(TsPayload::decode(body)?),
            PayloadType::SK => Payload::Sk(SkPayload::decode(next, body)?),
            PayloadType::CP => Payload::Cp(CpPayload::decode(body)?),
            PayloadType::EAP => Payload::Eap(body.to_vec()),
            PayloadType::SKF => Payload::Skf(SkfPayload::decode(next, body)?),
            other => {
                if critical {
                    return Err(WireError::UnsupportedCriticalPayload {
                        payload_type: other,
                    });
                }
                Payload::Unknown {
                    payload_type: other,
                    critical,
                    data: body.to_vec(),
                }
            }
        })
    }

    /// Appends the body (without generic header).
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Payload::Sa(p) => p.encode_into(out),
            Payload::Ke(p) => p.encode_into(out),
            Payload::IdI(p) | Payload::IdR(p) => p.encode_into(out),
            Payload::Cert(p) | Payload::CertReq(p) => {
                p.encode_into(out);
                Ok(())
            }
            Payload::Auth(p) => p.encode_into(out),
            Payload::Nonce(p) => p.encode_into(out),
            Payload::Notify(p) => p.encode_into(out),
            Payload::Delete(p) => p.encode_into(out),
            Payload::VendorId(d) => {
                out.extend_from_slice(d);
                Ok(())
            }
            Payload::TsI(p) | Payload::TsR(p) => p.encode_into(out),
            Payload::Sk(p) => {
                out.extend_from_slice(&p.encrypted);
                Ok(())
            }
            Payload::Cp(p) => {
                p.encode_into(out);
                Ok(())
            }
            Payload::Eap(d) => {
                out.extend_from_slice(d);
                Ok(())
            }
            Payload::Skf(p) => p.encode_body_into(out),
            Payload::Unknown {
                payload_type, data, ..
            } => {
                if Payload::is_supported_type(*payload_type) || *payload_type == PayloadType::NONE {
                    return Err(WireError::syntax(
                        "Unknown payload with a supported or NONE type",
                    ));
                }
                out.extend_from_slice(data);
                Ok(())
            }
        }
    }
}

/// One payload as framed in a chain, before typed decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawPayload<'a> {
    pub(crate) payload_type: PayloadType,
    pub(crate) next: PayloadType,
    pub(crate) critical: bool,
    pub(crate) body: &'a [u8],
    /// Offset of the generic header within the walked buffer.
    pub(crate) offset: usize,
}

/// Frames the payload chain in `bytes` starting with type `first`.
pub(crate) fn walk(first: PayloadType, bytes: &[u8]) -> Result<Vec<RawPayload<'_>>> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    let mut current = first;
    while current != PayloadType::NONE {
        let offset = r.position();
        let next = PayloadType(r.u8("generic payload header")?);
        let flags = r.u8("generic payload header")?;
        let len = r.u16("generic payload header")? as usize;
        if len < GENERIC_HEADER_LEN {
            return Err(WireError::bad_length(
                "payload",
                len,
                "below the 4-byte generic header",
            ));
        }
        if len - GENERIC_HEADER_LEN > r.remaining() {
            return Err(WireError::bad_length(
                "payload",
                len,
                "exceeds the enclosing message",
            ));
        }
        let body = r.take(len - GENERIC_HEADER_LEN, "payload body")?;
        out.push(RawPayload {
            payload_type: current,
            next,
            critical: flags & CRITICAL != 0,
            body,
            offset,
        });
        if current == PayloadType::SK || current == PayloadType::SKF {
            if !r.is_empty() {
                return Err(WireError::syntax("SK/SKF payload is not the last payload"));
            }
            return Ok(out);
        }
        current = next;
    }
    if !r.is_empty() {
        return Err(WireError::bad_length(
            "payload chain",
            bytes.len(),
            "bytes after the last payload",
        ));
    }
    Ok(out)
}

/// Decodes a payload chain that starts with type `first` and fills all of
/// `bytes` (the message body after the IKE header, or the decrypted inner
/// payloads of an SK payload with the padding removed).
pub fn decode_chain(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>> {
    walk(first, bytes)?
        .into_iter()
        .map(|p| Payload::decode_body(p.payload_type, p.next, p.critical, p.body))
        .collect()
}

/// Encodes a payload chain, filling every Next Payload and Payload Length
/// field. Returns the type of the first payload ([`PayloadType::NONE`] for
/// an empty chain) and the bytes. An SK/SKF payload must be last.
pub fn encode_chain(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>)> {
    let mut out = Vec::new();
    let first = encode_chain_into(payloads, &mut out)?;
    Ok((first, out))
}

/// Like [`encode_chain`] but appends to `out`.
pub fn encode_chain_into(payloads: &[Payload], out: &mut Vec<u8>) -> Result<PayloadType> {
    for (i, p) in payloads.iter().enumerate() {
        let following = payloads.get(i + 1).map(Payload::payload_type);
        let next = match p {
            Payload::Sk(sk) => {
                if following.is_some() {
                    return Err(WireError::syntax("SK payload is not the last payload"));
                }
                sk.first_inner
            }
            Payload::Skf(skf) => {
                if following.is_some() {
                    return Err(WireError::syntax("SKF payload is not the last payload"));
                }
                skf.first_inner
            }
            _ => following.unwrap_or(PayloadType::NONE),
        };
        let critical = matches!(p, Payload::Unknown { critical: true, .. });
        let start = out.len();
        out.push(next.0);
        out.push(if critical { CRITICAL } else { 0 });
        out.extend_from_slice(&[0, 0]);
        p.encode_body(out)?;
        let len = len_u16("payload", out.len() - start)?;
        patch_u16(out, start + 2, len);
    }
    Ok(payloads
        .first()
        .map(Payload::payload_type)
        .unwrap_or(PayloadType::NONE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::notify_type::NotifyType;

    #[test]
    fn unknown_payloads() {
        // Vendor ID, then unknown type 200 (non-critical), then unknown 201 critical.
        let bytes = [200, 0, 0, 5, 0xaa, 0, 0, 0, 6, 1, 2];
        let v = decode_chain(PayloadType::VENDOR_ID, &bytes).unwrap();
        assert_eq!(v[0], Payload::VendorId(vec![0xaa]));
        assert_eq!(
            v[1],
            Payload::Unknown {
                payload_type: PayloadType(200),
                critical: false,
                data: vec![1, 2]
            }
        );
        assert_eq!(
            encode_chain(&v).unwrap(),
            (PayloadType::VENDOR_ID, bytes.to_vec())
        );

        let bytes = [0, 0x80, 0, 4];
        assert_eq!(
            decode_chain(PayloadType(201), &bytes),
            Err(WireError::UnsupportedCriticalPayload {
                payload_type: PayloadType(201)
            })
        );
        // critical bit on a known payload is ignored
        let bytes = [0, 0x80, 0, 5, 0xaa];
        assert!(decode_chain(PayloadType::VENDOR_ID, &bytes).is_ok());
    }

    #[test]
    fn length_errors() {
        let n = Payload::Notify(NotifyPayload::new(NotifyType::INITIAL_CONTACT, vec![]));
        let (first, bytes) = encode_chain(&[n.clone(), n]).unwrap();
        assert_eq!(bytes.len(), 16);
        assert!(decode_chain(first, &bytes).is_ok());
        for i in 0..bytes.len() {
            assert!(decode_chain(first, &bytes[..i]).is_err(), "prefix {i}");
        }
        let mut b = bytes.clone();
        b[3] = 3;
        assert!(matches!(
            decode_chain(first, &b),
            Err(WireError::BadLength { .. })
        ));
        let mut b = bytes.clone();
        b[3] = 9;
        assert!(decode_chain(first, &b).is_err());
        let mut b = bytes.clone();
        b[11] = 9;
        assert!(matches!(
            decode_chain(first, &b),
            Err(WireError::BadLength { .. })
        ));
        let mut b = bytes.clone();
        b.push(0);
        assert!(matches!(
            decode_chain(first, &b),
            Err(WireError::BadLength { .. })
        ));
        let mut b = bytes;
        b[8] = 41; // last payload claims a successor that is absent
        assert!(matches!(
            decode_chain(first, &b),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn sk_must_be_last() {
        let sk = Payload::Sk(SkPayload {
            first_inner: PayloadType::IDI,
            encrypted: vec![1, 2, 3],
        });
        let vid = Payload::VendorId(vec![1]);
        assert!(encode_chain(&[sk.clone(), vid.clone()]).is_err());
        let (first, bytes) = encode_chain(&[vid, sk]).unwrap();
        let back = decode_chain(first, &bytes).unwrap();
        assert_eq!(back.len(), 2);
        let mut extra = bytes.clone();
        extra.extend_from_slice(&[0, 0, 0, 4]);
        // SK length now leaves trailing bytes -> syntax error
        assert!(decode_chain(first, &extra).is_err());
    }
}
