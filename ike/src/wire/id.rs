//! Identification payloads IDi/IDr (RFC 7296 section 3.5): ID type, three
//! reserved bytes, identification data.
//!
//! The AUTH computation signs the body exactly as sent (`RestOfIDPayload`),
//! reserved bytes included, so they are kept for an exact re-encode; use
//! [`IdPayload::body_bytes`] to get those bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::constants::IdType;
use super::error::{Result, WireError};
use super::reader::Reader;

/// A typed identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// ID_IPV4_ADDR.
    Ipv4(Ipv4Addr),
    /// ID_IPV6_ADDR.
    Ipv6(Ipv6Addr),
    /// ID_FQDN (e.g. libreswan's `@10.1.2.3-0-0`, sent without the `@`).
    Fqdn(String),
    /// ID_RFC822_ADDR.
    Rfc822(String),
    /// ID_KEY_ID (opaque bytes).
    KeyId(Vec<u8>),
    /// Any other ID type (e.g. ID_NULL, whose data is empty), or an
    /// FQDN/RFC822 that is not UTF-8, kept raw.
    Other {
        /// The ID type.
        id_type: IdType,
        /// The identification data.
        data: Vec<u8>,
    },
}

impl Identity {
    /// The ID type on the wire.
    pub fn id_type(&self) -> IdType {
        match self {
            Identity::Ipv4(_) => IdType::IPV4_ADDR,
            Identity::Ipv6(_) => IdType::IPV6_ADDR,
            Identity::Fqdn(_) => IdType::FQDN,
            Identity::Rfc822(_) => IdType::RFC822_ADDR,
            Identity::KeyId(_) => IdType::KEY_ID,
            Identity::Other { id_type, .. } => *id_type,
        }
    }

    fn data(&self) -> Vec<u8> {
        match self {
            Identity::Ipv4(a) => a.octets().to_vec(),
            Identity::Ipv6(a) => a.octets().to_vec(),
            Identity::Fqdn(s) | Identity::Rfc822(s) => s.as_bytes().to_vec(),
            Identity::KeyId(d) | Identity::Other { data: d, .. } => d.clone(),
        }
    }

    fn from_wire(id_type: IdType, data: &[u8]) -> Result<Identity> {
        Ok(match id_type {
            IdType::IPV4_ADDR => {
                let o: [u8; 4] = data.try_into().map_err(|_| {
                    WireError::bad_length("ID_IPV4_ADDR", data.len(), "must be 4 bytes")
                })?;
                Identity::Ipv4(Ipv4Addr::from(o))
            }
            IdType::IPV6_ADDR => {
                let o: [u8; 16] = data.try_into().map_err(|_| {
                    WireError::bad_length("ID_IPV6_ADDR", data.len(), "must be 16 bytes")
                })?;
                Identity::Ipv6(Ipv6Addr::from(o))
            }
            IdType::FQDN | IdType::RFC822_ADDR => match core::str::from_utf8(data) {
                Ok(s) if id_type == IdType::FQDN => Identity::Fqdn(s.to_owned()),
                Ok(s) => Identity::Rfc822(s.to_owned()),
                Err(_) => Identity::Other {
                    id_type,
                    data: data.to_vec(),
                },
            },
            IdType::KEY_ID => Identity::KeyId(data.to_vec()),
            _ => Identity::Other {
                id_type,
                data: data.to_vec(),
            },
        })
    }
}

/// IDi or IDr payload body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdPayload {
    /// The identity.
    pub identity: Identity,
    /// The three reserved bytes as received (zero when sending).
    pub reserved: [u8; 3],
}

impl IdPayload {
    /// An ID payload with zero reserved bytes.
    pub fn new(identity: Identity) -> Self {
        IdPayload {
            identity,
            reserved: [0; 3],
        }
    }

    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<IdPayload> {
        let mut r = Reader::new(body);
        let id_type = IdType(r.u8("ID payload")?);
        let reserved = r.array::<3>("ID payload")?;
        let data = r.rest();
        if data.is_empty() && id_type != IdType::NULL {
            return Err(WireError::syntax("ID payload without identification data"));
        }
        Ok(IdPayload {
            identity: Identity::from_wire(id_type, data)?,
            reserved,
        })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let data = self.identity.data();
        if data.is_empty() && self.identity.id_type() != IdType::NULL {
            return Err(WireError::syntax("ID payload without identification data"));
        }
        out.push(self.identity.id_type().0);
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&data);
        Ok(())
    }

    /// The body bytes (ID type, reserved, data): the `RestOfInitIDPayload`
    /// / `RestOfRespIDPayload` that RFC 7296 2.15 feeds to the PRF.
    pub fn body_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(id: Identity) {
        let p = IdPayload::new(id);
        let b = p.body_bytes().unwrap();
        assert_eq!(IdPayload::decode(&b).unwrap(), p);
    }

    #[test]
    fn round_trips() {
        rt(Identity::Ipv4(Ipv4Addr::new(10, 0, 0, 1)));
        rt(Identity::Ipv6("fd00::1".parse().unwrap()));
        rt(Identity::Fqdn("10.1.2.3-0-0".into()));
        rt(Identity::Rfc822("gw@example.org".into()));
        rt(Identity::KeyId(vec![1, 2, 3]));
        rt(Identity::Other {
            id_type: IdType::DER_ASN1_DN,
            data: vec![0x30, 0x00],
        });
    }

    #[test]
    fn layout_and_reserved_kept() {
        let body = [1, 0xaa, 0, 0, 192, 168, 0, 1];
        let p = IdPayload::decode(&body).unwrap();
        assert_eq!(p.identity, Identity::Ipv4(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(p.body_bytes().unwrap(), body);
    }

    #[test]
    fn malformed() {
        assert!(IdPayload::decode(&[1, 0, 0, 0, 1, 2, 3]).is_err());
        assert!(IdPayload::decode(&[5, 0, 0, 0, 1, 2, 3, 4]).is_err());
        assert!(IdPayload::decode(&[2, 0, 0, 0]).is_err());
        // ID_NULL (RFC 7619) has no data
        let p = IdPayload::decode(&[13, 0, 0, 0]).unwrap();
        assert_eq!(p.body_bytes().unwrap(), vec![13, 0, 0, 0]);
        assert!(IdPayload::decode(&[2, 0]).is_err());
        let p = IdPayload::decode(&[2, 0, 0, 0, 0xff, 0xfe]).unwrap();
        assert!(matches!(p.identity, Identity::Other { .. }));
        assert_eq!(p.body_bytes().unwrap(), vec![2, 0, 0, 0, 0xff, 0xfe]);
    }
}
