//! The 28-byte IKE header (RFC 7296 section 3.1).
//!
//! ```text
//!  IKE SA Initiator's SPI (8) | IKE SA Responder's SPI (8)
//!  Next Payload (1) | MjVer(4 bits) MnVer(4 bits) | Exchange Type (1) | Flags (1)
//!  Message ID (4) | Length (4, whole message including header)
//! ```

use super::constants::{ExchangeType, PayloadType};
use super::error::{Result, WireError};
use super::reader::Reader;

/// Length of the IKE header in bytes.
pub const HEADER_LEN: usize = 28;

/// The only major version this codec speaks.
pub const IKE_MAJOR_VERSION: u8 = 2;

/// Header flags (RFC 7296 section 3.1). Reserved bits are cleared on
/// decode (they MUST be ignored on receipt) and never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// Set by the original initiator of the IKE SA (bit 3).
    pub const INITIATOR: Flags = Flags(0x08);
    /// The sender can speak a higher major version (bit 4).
    pub const VERSION: Flags = Flags(0x10);
    /// This message is a response (bit 5).
    pub const RESPONSE: Flags = Flags(0x20);
    const KNOWN: u8 = 0x08 | 0x10 | 0x20;

    /// No flag set.
    pub const fn empty() -> Self {
        Flags(0)
    }

    /// From the wire byte; reserved bits are dropped.
    pub const fn from_bits_truncate(bits: u8) -> Self {
        Flags(bits & Self::KNOWN)
    }

    /// The wire byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    pub const fn union(self, other: Flags) -> Self {
        Flags(self.0 | other.0)
    }

    /// Whether the Initiator flag is set.
    pub const fn is_initiator(self) -> bool {
        self.contains(Self::INITIATOR)
    }

    /// Whether the Response flag is set.
    pub const fn is_response(self) -> bool {
        self.contains(Self::RESPONSE)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

/// The IKE header.
///
/// `next_payload` and `length` are filled by the encoders
/// ([`Message::encode`](super::Message::encode), [`SealFrame`](super::SealFrame)); on decode
/// they hold what the datagram said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// IKE SA initiator's SPI.
    pub spi_i: u64,
    /// IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Minor version as received (sent as 0; MUST be ignored on receipt).
    pub minor_version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
    /// Total message length including this header.
    pub length: u32,
}

impl Header {
    /// A header with the given identifiers; `next_payload` and `length` are
    /// left for the encoder.
    pub fn new(
        spi_i: u64,
        spi_r: u64,
        exchange: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        Header {
            spi_i,
            spi_r,
            next_payload: PayloadType::NONE,
            minor_version: 0,
            exchange,
            flags,
            message_id,
            length: HEADER_LEN as u32,
        }
    }

    /// Decodes the first 28 bytes of `buf`. Checks the version and that the
    /// length field is at least the header size; it does not compare the
    /// length with `buf` (see [`Header::decode_datagram`]).
    pub fn decode(buf: &[u8]) -> Result<Header> {
        Self::decode_inner(buf, true)
    }

    /// Like [`Header::decode`] but accepts any major version, so a
    /// responder can answer a [`WireError::BadVersion`] message with
    /// `INVALID_MAJOR_VERSION` using its SPIs and Message ID.
    pub fn decode_ignoring_version(buf: &[u8]) -> Result<Header> {
        Self::decode_inner(buf, false)
    }

    fn decode_inner(buf: &[u8], check_version: bool) -> Result<Header> {
        let mut r = Reader::new(buf);
        let spi_i = r.u64("IKE header")?;
        let spi_r = r.u64("IKE header")?;
        let next_payload = PayloadType(r.u8("IKE header")?);
        let version = r.u8("IKE header")?;
        let exchange = ExchangeType(r.u8("IKE header")?);
        let flags = Flags::from_bits_truncate(r.u8("IKE header")?);
        let message_id = r.u32("IKE header")?;
        let length = r.u32("IKE header")?;
        let major = version >> 4;
        let minor = version & 0x0f;
        if check_version && major != IKE_MAJOR_VERSION {
            return Err(WireError::BadVersion { major, minor });
        }
        if (length as usize) < HEADER_LEN {
            return Err(WireError::bad_length(
                "IKE message",
                length as usize,
                "shorter than the IKE header",
            ));
        }
        Ok(Header {
            spi_i,
            spi_r,
            next_payload,
            minor_version: minor,
            exchange,
            flags,
            message_id,
            length,
        })
    }

    /// Decodes the header of a whole datagram and checks that its length
    /// field equals the datagram length (shorter datagram: `Truncated`;
    /// longer: `BadLength`).
    pub fn decode_datagram(buf: &[u8]) -> Result<Header> {
        let h = Header::decode(buf)?;
        let declared = h.length as usize;
        if buf.len() < declared {
            return Err(WireError::Truncated {
                what: "IKE message",
                needed: declared,
                available: buf.len(),
            });
        }
        if buf.len() > declared {
            return Err(WireError::bad_length(
                "IKE message",
                declared,
                "datagram is longer than the header length",
            ));
        }
        Ok(h)
    }

    /// Appends the 28 header bytes as they are (no field is recomputed).
    /// The version is always sent as 2.0.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(self.next_payload.0);
        out.push(IKE_MAJOR_VERSION << 4);
        out.push(self.exchange.0);
        out.push(self.flags.bits());
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// Whether this is a request (Response flag clear).
    pub fn is_request(&self) -> bool {
        !self.flags.is_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; 28] {
        let mut b = [0u8; 28];
        b[..8].copy_from_slice(&0x0102030405060708u64.to_be_bytes());
        b[16] = 33; // SA
        b[17] = 0x20;
        b[18] = 34;
        b[19] = 0x08;
        b[27] = 28;
        b
    }

    #[test]
    fn decode_rfc_layout() {
        let h = Header::decode(&sample()).unwrap();
        assert_eq!(h.spi_i, 0x0102030405060708);
        assert_eq!(h.spi_r, 0);
        assert_eq!(h.next_payload, PayloadType::SA);
        assert_eq!(h.exchange, ExchangeType::IKE_SA_INIT);
        assert!(h.flags.is_initiator());
        assert!(h.is_request());
        assert_eq!(h.length, 28);
    }

    #[test]
    fn round_trip() {
        let b = sample();
        let h = Header::decode(&b).unwrap();
        let mut out = Vec::new();
        h.encode_into(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn version_checks() {
        let mut b = sample();
        b[17] = 0x10;
        assert_eq!(
            Header::decode(&b),
            Err(WireError::BadVersion { major: 1, minor: 0 })
        );
        b[17] = 0x30;
        assert_eq!(
            Header::decode(&b),
            Err(WireError::BadVersion { major: 3, minor: 0 })
        );
        assert_eq!(
            Header::decode_ignoring_version(&b).unwrap().spi_i,
            0x0102030405060708
        );
        // minor version is ignored
        b[17] = 0x21;
        assert_eq!(Header::decode(&b).unwrap().minor_version, 1);
    }

    #[test]
    fn reserved_flags_ignored() {
        let mut b = sample();
        b[19] = 0xff;
        let h = Header::decode(&b).unwrap();
        assert_eq!(h.flags.bits(), 0x38);
    }

    #[test]
    fn length_checks() {
        let mut b = sample();
        b[27] = 27;
        assert!(matches!(
            Header::decode(&b),
            Err(WireError::BadLength { .. })
        ));
        b[27] = 29;
        assert!(matches!(
            Header::decode_datagram(&b),
            Err(WireError::Truncated { .. })
        ));
        let mut long = b.to_vec();
        long.extend_from_slice(&[0, 0]);
        assert!(matches!(
            Header::decode_datagram(&long),
            Err(WireError::BadLength { .. })
        ));
        for n in 0..28 {
            assert!(matches!(
                Header::decode(&b[..n]),
                Err(WireError::Truncated { .. })
            ));
        }
    }
}
