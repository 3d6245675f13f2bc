//! Security Association payload: proposals, transforms and attributes
//! (RFC 7296 section 3.3).
//!
//! ```text
//! Proposal:  Last Substruc (0|2) | RESERVED | Proposal Length (2)
//!            Proposal Num | Protocol ID | SPI Size | Num Transforms
//!            SPI (SPI Size bytes) | Transforms...
//! Transform: Last Substruc (0|3) | RESERVED | Transform Length (2)
//!            Transform Type | RESERVED | Transform ID (2) | Attributes...
//! Attribute: A|Type (15 bits) | Length or Value (2) [| Value]
//! ```
//!
//! Decoding checks every length against its container and every count
//! against what follows. A proposal without an ESN transform is valid (ESP
//! proposals from libreswan 4.x have none): see [`Proposal::esn_choices`].

use super::constants::ProtocolId;
use super::error::{Result, WireError};
use super::reader::{len_u16, len_u8, patch_u16, Reader};
use super::transform_ids::{AttributeType, DhGroup, EncrId, EsnId, IntegId, PrfId, TransformType};

const LAST: u8 = 0;
const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
const PROPOSAL_HEADER_LEN: usize = 8;
const TRANSFORM_HEADER_LEN: usize = 8;

/// SA payload body: proposals in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaPayload {
    /// The proposals (a response carries exactly one).
    pub proposals: Vec<Proposal>,
}

/// One proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1 for the first one in a request; in a response,
    /// the number of the accepted proposal).
    pub number: u8,
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// The SPI: empty (initial IKE SA), 4 bytes (ESP/AH) or 8 bytes (IKE SA
    /// rekey).
    pub spi: Vec<u8>,
    /// Transforms, in the order sent.
    pub transforms: Vec<Transform>,
}

/// One transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Its type.
    pub transform_type: TransformType,
    /// Its ID within the type (see [`EncrId`], [`PrfId`], ...).
    pub id: u16,
    /// Attributes (normally at most a Key Length).
    pub attributes: Vec<Attribute>,
}

/// A transform attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// Type/Value format (AF bit set): a 16-bit value.
    Tv {
        /// Attribute type (without the AF bit).
        attr_type: AttributeType,
        /// Value.
        value: u16,
    },
    /// Type/Length/Value format.
    Tlv {
        /// Attribute type (without the AF bit).
        attr_type: AttributeType,
        /// Value bytes.
        value: Vec<u8>,
    },
}

impl Attribute {
    /// Its type.
    pub fn attr_type(&self) -> AttributeType {
        match self {
            Attribute::Tv { attr_type, .. } | Attribute::Tlv { attr_type, .. } => *attr_type,
        }
    }
}

impl Transform {
    /// A transform with no attribute.
    pub fn new(transform_type: TransformType, id: u16) -> Self {
        Transform {
            transform_type,
            id,
            attributes: Vec::new(),
        }
    }

    /// An encryption transform, with a Key Length attribute when given.
    pub fn encr(id: EncrId, key_bits: Option<u16>) -> Self {
        let mut t = Transform::new(TransformType::ENCR, id.0);
        if let Some(bits) = key_bits {
            t.attributes.push(Attribute::Tv {
                attr_type: AttributeType::KEY_LENGTH,
                value: bits,
            });
        }
        t
    }

    /// A PRF transform.
    pub fn prf(id: PrfId) -> Self {
        Transform::new(TransformType::PRF, id.0)
    }

    /// An integrity transform.
    pub fn integ(id: IntegId) -> Self {
        Transform::new(TransformType::INTEG, id.0)
    }

    /// A Diffie-Hellman group transform.
    pub fn dh(group: DhGroup) -> Self {
        Transform::new(TransformType::DH, group.0)
    }

    /// An ESN transform.
    pub fn esn(id: EsnId) -> Self {
        Transform::new(TransformType::ESN, id.0)
    }

    /// The Key Length attribute in bits, if present (TV format).
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Tv {
                attr_type: AttributeType::KEY_LENGTH,
                value,
            } => Some(*value),
            _ => None,
        })
    }

    /// Whether the transform carries an attribute other than Key Length
    /// (RFC 7296 3.3.6: such a transform must not be selected).
    pub fn has_unknown_attributes(&self) -> bool {
        self.attributes.iter().any(|a| {
            !matches!(
                a,
                Attribute::Tv {
                    attr_type: AttributeType::KEY_LENGTH,
                    ..
                }
            )
        })
    }

    fn decode(body: &[u8]) -> Result<Transform> {
        let mut r = Reader::new(body);
        let transform_type = TransformType(r.u8("transform")?);
        let _reserved = r.u8("transform")?;
        let id = r.u16("transform")?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            let raw_type = r.u16("transform attribute")?;
            let attr_type = AttributeType(raw_type & 0x7fff);
            let len_or_value = r.u16("transform attribute")?;
            if raw_type & 0x8000 != 0 {
                attributes.push(Attribute::Tv {
                    attr_type,
                    value: len_or_value,
                });
            } else {
                if attr_type == AttributeType::KEY_LENGTH {
                    return Err(WireError::syntax("Key Length attribute in TLV format"));
                }
                let value = r.take(len_or_value as usize, "transform attribute value")?;
                attributes.push(Attribute::Tlv {
                    attr_type,
                    value: value.to_vec(),
                });
            }
        }
        Ok(Transform {
            transform_type,
            id,
            attributes,
        })
    }

    fn encode_into(&self, last: bool, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.push(if last { LAST } else { MORE_TRANSFORMS });
        out.push(0);
        out.extend_from_slice(&[0, 0]);
        out.push(self.transform_type.0);
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        for a in &self.attributes {
            match a {
                Attribute::Tv { attr_type, value } => {
                    if attr_type.0 & 0x8000 != 0 {
                        return Err(WireError::syntax("attribute type above 32767"));
                    }
                    out.extend_from_slice(&(attr_type.0 | 0x8000).to_be_bytes());
                    out.extend_from_slice(&value.to_be_bytes());
                }
                Attribute::Tlv { attr_type, value } => {
                    if attr_type.0 & 0x8000 != 0 {
                        return Err(WireError::syntax("attribute type above 32767"));
                    }
                    if *attr_type == AttributeType::KEY_LENGTH {
                        return Err(WireError::syntax("Key Length attribute in TLV format"));
                    }
                    out.extend_from_slice(&attr_type.0.to_be_bytes());
                    out.extend_from_slice(
                        &len_u16("transform attribute", value.len())?.to_be_bytes(),
                    );
                    out.extend_from_slice(value);
                }
            }
        }
        let len = len_u16("transform", out.len() - start)?;
        patch_u16(out, start + 2, len);
        Ok(())
    }
}

impl Proposal {
    /// A proposal without SPI.
    pub fn new(number: u8, protocol: ProtocolId, transforms: Vec<Transform>) -> Self {
        Proposal {
            number,
            protocol,
            spi: Vec::new(),
            transforms,
        }
    }

    /// Transforms of one type, in order.
    pub fn transforms_of(&self, t: TransformType) -> impl Iterator<Item = &Transform> + '_ {
        self.transforms
            .iter()
            .filter(move |x| x.transform_type == t)
    }

    /// The ESN values offered. A proposal with no ESN transform at all
    /// (libreswan 4.x does this for ESP) means "no ESN": `[NO_ESN]`.
    pub fn esn_choices(&self) -> Vec<EsnId> {
        let v: Vec<EsnId> = self
            .transforms_of(TransformType::ESN)
            .map(|t| EsnId(t.id))
            .collect();
        if v.is_empty() {
            vec![EsnId::NO_ESN]
        } else {
            v
        }
    }

    /// The SPI as a u32 when it is 4 bytes long (ESP/AH).
    pub fn spi_u32(&self) -> Option<u32> {
        let b: [u8; 4] = self.spi.as_slice().try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// The SPI as a u64 when it is 8 bytes long (IKE SA rekey).
    pub fn spi_u64(&self) -> Option<u64> {
        let b: [u8; 8] = self.spi.as_slice().try_into().ok()?;
        Some(u64::from_be_bytes(b))
    }

    fn decode(body: &[u8]) -> Result<Proposal> {
        let mut r = Reader::new(body);
        let number = r.u8("proposal")?;
        let protocol = ProtocolId(r.u8("proposal")?);
        let spi_size = r.u8("proposal")?;
        let num_transforms = r.u8("proposal")?;
        if !matches!(spi_size, 0 | 4 | 8) {
            return Err(WireError::syntax("proposal SPI size is not 0, 4 or 8"));
        }
        let spi = r.take(spi_size as usize, "proposal SPI")?.to_vec();
        let mut transforms = Vec::with_capacity(num_transforms as usize);
        loop {
            if r.is_empty() {
                break;
            }
            let last = r.u8("transform header")?;
            let _reserved = r.u8("transform header")?;
            let len = r.u16("transform header")? as usize;
            if len < TRANSFORM_HEADER_LEN {
                return Err(WireError::bad_length(
                    "transform",
                    len,
                    "below the 8-byte minimum",
                ));
            }
            let avail = r.remaining().saturating_add(4);
            if len > avail {
                return Err(WireError::bad_length(
                    "transform",
                    len,
                    "exceeds the proposal",
                ));
            }
            let t = Transform::decode(r.take(len - 4, "transform")?)?;
            transforms.push(t);
            match last {
                LAST => {
                    if !r.is_empty() {
                        return Err(WireError::bad_length(
                            "proposal",
                            body.len() + 4,
                            "bytes after the last transform",
                        ));
                    }
                    break;
                }
                MORE_TRANSFORMS => {
                    if r.is_empty() {
                        return Err(WireError::syntax(
                            "transform says more follow but proposal ends",
                        ));
                    }
                }
                _ => return Err(WireError::syntax("transform Last Substruc is not 0 or 3")),
            }
        }
        if transforms.len() != num_transforms as usize {
            return Err(WireError::syntax(
                "proposal Num Transforms does not match its transforms",
            ));
        }
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn encode_into(&self, last: bool, out: &mut Vec<u8>) -> Result<()> {
        if !matches!(self.spi.len(), 0 | 4 | 8) {
            return Err(WireError::syntax("proposal SPI size is not 0, 4 or 8"));
        }
        let start = out.len();
        out.push(if last { LAST } else { MORE_PROPOSALS });
        out.push(0);
        out.extend_from_slice(&[0, 0]);
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(len_u8("proposal SPI", self.spi.len())?);
        out.push(len_u8("proposal transforms", self.transforms.len())?);
        out.extend_from_slice(&self.spi);
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            t.encode_into(i + 1 == n, out)?;
        }
        let len = len_u16("proposal", out.len() - start)?;
        patch_u16(out, start + 2, len);
        Ok(())
    }
}

impl SaPayload {
    /// Decodes an SA payload body (after the generic payload header).
    pub fn decode(body: &[u8]) -> Result<SaPayload> {
        let mut r = Reader::new(body);
        let mut proposals = Vec::new();
        while !r.is_empty() {
            let last = r.u8("proposal header")?;
            let _reserved = r.u8("proposal header")?;
            let len = r.u16("proposal header")? as usize;
            if len < PROPOSAL_HEADER_LEN {
                return Err(WireError::bad_length(
                    "proposal",
                    len,
                    "below the 8-byte minimum",
                ));
            }
            if len > r.remaining().saturating_add(4) {
                return Err(WireError::bad_length(
                    "proposal",
                    len,
                    "exceeds the SA payload",
                ));
            }
            proposals.push(Proposal::decode(r.take(len - 4, "proposal")?)?);
            match last {
                LAST => {
                    if !r.is_empty() {
                        return Err(WireError::bad_length(
                            "SA payload",
                            body.len() + 4,
                            "bytes after the last proposal",
                        ));
                    }
                }
                MORE_PROPOSALS => {
                    if r.is_empty() {
                        return Err(WireError::syntax(
                            "proposal says more follow but SA payload ends",
                        ));
                    }
                }
                _ => return Err(WireError::syntax("proposal Last Substruc is not 0 or 2")),
            }
        }
        if proposals.is_empty() {
            return Err(WireError::syntax("SA payload without proposals"));
        }
        Ok(SaPayload { proposals })
    }

    /// Appends the SA payload body.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.proposals.is_empty() {
            return Err(WireError::syntax("SA payload without proposals"));
        }
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            p.encode_into(i + 1 == n, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One IKE proposal: AES_CBC-256, PRF SHA2-256, INTEG SHA2-256-128, MODP2048.
    const RFC_PROPOSAL: &[u8] = &[
        0x00, 0x00, 0x00, 0x2c, // last proposal, len 44
        0x01, 0x01, 0x00, 0x04, // #1, IKE, spi 0, 4 transforms
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0c, 0x80, 0x0e, 0x01,
        0x00, // ENCR AES_CBC keylen 256
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05, // PRF SHA2-256
        0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0c, // INTEG SHA2-256-128
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x0e, // DH 14
    ];

    #[test]
    fn decode_hand_made() {
        let sa = SaPayload::decode(RFC_PROPOSAL).unwrap();
        assert_eq!(sa.proposals.len(), 1);
        let p = &sa.proposals[0];
        assert_eq!(p.number, 1);
        assert_eq!(p.protocol, ProtocolId::IKE);
        assert!(p.spi.is_empty());
        assert_eq!(p.transforms.len(), 4);
        assert_eq!(p.transforms[0], Transform::encr(EncrId::AES_CBC, Some(256)));
        assert_eq!(p.transforms[0].key_length(), Some(256));
        assert_eq!(p.transforms[3], Transform::dh(DhGroup::MODP2048));
        assert_eq!(p.esn_choices(), vec![EsnId::NO_ESN]);
        let mut out = Vec::new();
        sa.encode_into(&mut out).unwrap();
        assert_eq!(out, RFC_PROPOSAL);
    }

    #[test]
    fn esp_without_esn_and_with_spi() {
        let p = Proposal {
            number: 1,
            protocol: ProtocolId::ESP,
            spi: vec![0xc0, 0xff, 0xee, 0x01],
            transforms: vec![Transform::encr(EncrId::AES_GCM_16, Some(256))],
        };
        let sa = SaPayload { proposals: vec![p] };
        let mut out = Vec::new();
        sa.encode_into(&mut out).unwrap();
        let back = SaPayload::decode(&out).unwrap();
        assert_eq!(back, sa);
        assert_eq!(back.proposals[0].spi_u32(), Some(0xc0ffee01));
        assert_eq!(back.proposals[0].esn_choices(), vec![EsnId::NO_ESN]);
    }

    #[test]
    fn tlv_and_unknown_attributes_round_trip() {
        let mut t = Transform::new(TransformType(9), 77);
        t.attributes.push(Attribute::Tlv {
            attr_type: AttributeType(99),
            value: vec![1, 2, 3],
        });
        t.attributes.push(Attribute::Tv {
            attr_type: AttributeType(5),
            value: 7,
        });
        assert!(t.has_unknown_attributes());
        let sa = SaPayload {
            proposals: vec![
                Proposal::new(1, ProtocolId::IKE, vec![t]),
                Proposal::new(
                    2,
                    ProtocolId::ESP,
                    vec![Transform::esn(EsnId::ESN), Transform::esn(EsnId::NO_ESN)],
                ),
            ],
        };
        let mut out = Vec::new();
        sa.encode_into(&mut out).unwrap();
        let back = SaPayload::decode(&out).unwrap();
        assert_eq!(back, sa);
        assert_eq!(
            back.proposals[1].esn_choices(),
            vec![EsnId::ESN, EsnId::NO_ESN]
        );
    }

    #[test]
    fn malformed() {
        // every prefix of a valid body is an error
        for n in 1..RFC_PROPOSAL.len() {
            assert!(SaPayload::decode(&RFC_PROPOSAL[..n]).is_err(), "prefix {n}");
        }
        assert!(SaPayload::decode(&[]).is_err());
        let mut b = RFC_PROPOSAL.to_vec();
        b[3] = 0x2d; // proposal length too large
        assert!(matches!(
            SaPayload::decode(&b),
            Err(WireError::BadLength { .. })
        ));
        let mut b = RFC_PROPOSAL.to_vec();
        b[3] = 0x04; // proposal length too small
        assert!(matches!(
            SaPayload::decode(&b),
            Err(WireError::BadLength { .. })
        ));
        let mut b = RFC_PROPOSAL.to_vec();
        b[7] = 5; // wrong transform count
        assert!(matches!(
            SaPayload::decode(&b),
            Err(WireError::InvalidSyntax { .. })
        ));
        let mut b = RFC_PROPOSAL.to_vec();
        b[11] = 0x0d; // transform length too large
        assert!(SaPayload::decode(&b).is_err());
        let mut b = RFC_PROPOSAL.to_vec();
        b[11] = 0x07; // transform length below minimum
        assert!(matches!(
            SaPayload::decode(&b),
            Err(WireError::BadLength { .. })
        ));
        let mut b = RFC_PROPOSAL.to_vec();
        b[6] = 3; // bad SPI size
        assert!(matches!(
            SaPayload::decode(&b),
            Err(WireError::InvalidSyntax { .. })
        ));
        let mut b = RFC_PROPOSAL.to_vec();
        b[0] = 2; // says more proposals follow
        assert!(matches!(
            SaPayload::decode(&b),
            Err(WireError::InvalidSyntax { .. })
        ));
        let mut b = RFC_PROPOSAL.to_vec();
        b[36] = 3; // last transform says more follow
        assert!(matches!(
            SaPayload::decode(&b),
            Err(WireError::InvalidSyntax { .. })
        ));
        let mut b = RFC_PROPOSAL.to_vec();
        b[16] = 0x00; // key length attribute as TLV with length 256
        assert!(SaPayload::decode(&b).is_err());
    }
}
