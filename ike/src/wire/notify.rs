//! Notify payload (RFC 7296 section 3.10): protocol ID, SPI size, notify
//! type, SPI, notification data; plus constructors and readers for the
//! notifies the state machine sends and interprets.

use super::constants::{PayloadType, ProtocolId};
use super::error::{Result, WireError};
use super::notify_type::NotifyType;
use super::reader::{len_u8, Reader};
use super::transform_ids::DhGroup;

/// Notify payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyPayload {
    /// Protocol of the SA the SPI names; [`ProtocolId::NONE`] when no SPI.
    pub protocol: ProtocolId,
    /// SPI (empty, or 4 bytes for ESP/AH, 8 for IKE).
    pub spi: Vec<u8>,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl NotifyPayload {
    /// A notify about no particular SA (protocol 0, no SPI).
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        NotifyPayload {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    /// A notify about a Child SA (REKEY_SA, INVALID_SELECTORS, CHILD_SA_NOT_FOUND).
    pub fn with_spi(
        notify_type: NotifyType,
        protocol: ProtocolId,
        spi: u32,
        data: Vec<u8>,
    ) -> Self {
        NotifyPayload {
            protocol,
            spi: spi.to_be_bytes().to_vec(),
            notify_type,
            data,
        }
    }

    /// UNSUPPORTED_CRITICAL_PAYLOAD carrying the one-byte payload type.
    pub fn unsupported_critical_payload(payload_type: PayloadType) -> Self {
        Self::new(
            NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            vec![payload_type.0],
        )
    }

    /// INVALID_KE_PAYLOAD naming the group the responder wants.
    pub fn invalid_ke(group: DhGroup) -> Self {
        Self::new(
            NotifyType::INVALID_KE_PAYLOAD,
            group.0.to_be_bytes().to_vec(),
        )
    }

    /// The group an INVALID_KE_PAYLOAD asks for (its 2-byte data).
    pub fn invalid_ke_group(&self) -> Option<DhGroup> {
        if self.notify_type != NotifyType::INVALID_KE_PAYLOAD {
            return None;
        }
        let b: [u8; 2] = self.data.as_slice().try_into().ok()?;
        Some(DhGroup(u16::from_be_bytes(b)))
    }

    /// The SPI as a u32 when it is 4 bytes.
    pub fn spi_u32(&self) -> Option<u32> {
        let b: [u8; 4] = self.spi.as_slice().try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// Whether this is an error notify (type < 16384).
    pub fn is_error(&self) -> bool {
        self.notify_type.is_error()
    }

    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<NotifyPayload> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId(r.u8("Notify payload")?);
        let spi_size = r.u8("Notify payload")?;
        let notify_type = NotifyType(r.u16("Notify payload")?);
        if !matches!(spi_size, 0 | 4 | 8) {
            return Err(WireError::syntax("Notify SPI size is not 0, 4 or 8"));
        }
        let spi = r.take(spi_size as usize, "Notify SPI")?.to_vec();
        let data = r.rest().to_vec();
        Ok(NotifyPayload {
            protocol,
            spi,
            notify_type,
            data,
        })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        if !matches!(self.spi.len(), 0 | 4 | 8) {
            return Err(WireError::syntax("Notify SPI size is not 0, 4 or 8"));
        }
        out.push(self.protocol.0);
        out.push(len_u8("Notify SPI", self.spi.len())?);
        out.extend_from_slice(&self.notify_type.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        // NAT_DETECTION_SOURCE_IP with 20 bytes of hash
        let mut body = vec![0, 0, 0x40, 0x04];
        body.extend_from_slice(&[0xab; 20]);
        let n = NotifyPayload::decode(&body).unwrap();
        assert_eq!(n.notify_type, NotifyType::NAT_DETECTION_SOURCE_IP);
        assert!(!n.is_error());
        assert_eq!(n.data.len(), 20);
        let mut out = Vec::new();
        n.encode_into(&mut out).unwrap();
        assert_eq!(out, body);

        // REKEY_SA with an ESP SPI
        let body = [3, 4, 0x40, 0x09, 0xde, 0xad, 0xbe, 0xef];
        let n = NotifyPayload::decode(&body).unwrap();
        assert_eq!(n.protocol, ProtocolId::ESP);
        assert_eq!(n.spi_u32(), Some(0xdeadbeef));
        assert_eq!(
            n,
            NotifyPayload::with_spi(NotifyType::REKEY_SA, ProtocolId::ESP, 0xdeadbeef, vec![])
        );
    }

    #[test]
    fn helpers() {
        let n = NotifyPayload::invalid_ke(DhGroup::CURVE25519);
        assert_eq!(n.invalid_ke_group(), Some(DhGroup::CURVE25519));
        assert!(n.is_error());
        let n = NotifyPayload::unsupported_critical_payload(PayloadType(200));
        assert_eq!(n.data, vec![200]);
    }

    #[test]
    fn malformed() {
        assert!(NotifyPayload::decode(&[0, 0, 0x40]).is_err());
        assert!(NotifyPayload::decode(&[3, 4, 0x40, 0x09, 1, 2, 3]).is_err());
        assert!(NotifyPayload::decode(&[3, 3, 0x40, 0x09, 1, 2, 3]).is_err());
    }
}
