//! Delete payload (RFC 7296 section 3.11): protocol ID, SPI size, number of
//! SPIs, SPIs. Deleting the IKE SA uses protocol IKE, SPI size 0, no SPIs.

use super::constants::ProtocolId;
use super::error::{Result, WireError};
use super::reader::{len_u16, len_u8, Reader};

/// Delete payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePayload {
    /// Protocol of the SAs.
    pub protocol: ProtocolId,
    /// Size of each SPI (0 for the IKE SA, 4 for ESP/AH).
    pub spi_size: u8,
    /// The SPIs, each `spi_size` bytes.
    pub spis: Vec<Vec<u8>>,
}

impl DeletePayload {
    /// Deletes the IKE SA that protects the message.
    pub fn ike() -> Self {
        DeletePayload {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Deletes ESP SAs by their (inbound, from the sender's view) SPIs.
    pub fn esp(spis: &[u32]) -> Self {
        DeletePayload {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// The SPIs as u32 (only when `spi_size` is 4).
    pub fn spis_u32(&self) -> Vec<u32> {
        self.spis
            .iter()
            .filter_map(|s| <[u8; 4]>::try_from(s.as_slice()).ok())
            .map(u32::from_be_bytes)
            .collect()
    }

    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<DeletePayload> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId(r.u8("Delete payload")?);
        let spi_size = r.u8("Delete payload")?;
        let count = r.u16("Delete payload")? as usize;
        if !matches!(spi_size, 0 | 4 | 8) {
            return Err(WireError::syntax("Delete SPI size is not 0, 4 or 8"));
        }
        let expected = count * spi_size as usize;
        if r.remaining() != expected {
            return Err(WireError::bad_length(
                "Delete payload",
                body.len() + 4,
                "does not match Num of SPIs x SPI Size",
            ));
        }
        if spi_size == 0 && count != 0 {
            return Err(WireError::syntax("Delete payload with SPIs of size 0"));
        }
        let mut spis = Vec::with_capacity(count);
        for _ in 0..count {
            spis.push(r.take(spi_size as usize, "Delete SPI")?.to_vec());
        }
        Ok(DeletePayload {
            protocol,
            spi_size,
            spis,
        })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        if !matches!(self.spi_size, 0 | 4 | 8) {
            return Err(WireError::syntax("Delete SPI size is not 0, 4 or 8"));
        }
        if self.spi_size == 0 && !self.spis.is_empty() {
            return Err(WireError::syntax("Delete payload with SPIs of size 0"));
        }
        if self.spis.iter().any(|s| s.len() != self.spi_size as usize) {
            return Err(WireError::syntax("Delete SPI length differs from SPI size"));
        }
        out.push(self.protocol.0);
        out.push(len_u8("Delete SPI size", self.spi_size as usize)?);
        out.extend_from_slice(&len_u16("Delete SPIs", self.spis.len())?.to_be_bytes());
        for s in &self.spis {
            out.extend_from_slice(s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for d in [DeletePayload::ike(), DeletePayload::esp(&[1, 0xffff_ffff])] {
            let mut out = Vec::new();
            d.encode_into(&mut out).unwrap();
            assert_eq!(DeletePayload::decode(&out).unwrap(), d);
        }
        let body = [3, 4, 0, 1, 0, 0, 0x10, 0x01];
        let d = DeletePayload::decode(&body).unwrap();
        assert_eq!(d.spis_u32(), vec![0x1001]);
    }

    #[test]
    fn malformed() {
        assert!(DeletePayload::decode(&[3, 4, 0, 2, 0, 0, 0, 1]).is_err());
        assert!(DeletePayload::decode(&[3, 4, 0, 1, 0, 0, 0, 1, 9]).is_err());
        assert!(DeletePayload::decode(&[3, 3, 0, 1, 0, 0, 1]).is_err());
        assert!(DeletePayload::decode(&[1, 0, 0, 1]).is_err());
        assert!(DeletePayload::decode(&[1, 0, 0]).is_err());
    }
}
