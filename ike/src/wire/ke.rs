//! Key Exchange payload (RFC 7296 section 3.4): group number, two reserved
//! bytes, then the public value (ECP groups: X || Y without the 0x04 prefix).

use super::error::{Result, WireError};
use super::reader::Reader;
use super::transform_ids::DhGroup;

/// KE payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KePayload {
    /// Diffie-Hellman group of `data`.
    pub group: DhGroup,
    /// Public key exchange value.
    pub data: Vec<u8>,
}

impl KePayload {
    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<KePayload> {
        let mut r = Reader::new(body);
        let group = DhGroup(r.u16("KE payload")?);
        let _reserved = r.u16("KE payload")?;
        let data = r.rest().to_vec();
        if data.is_empty() {
            return Err(WireError::syntax("KE payload without key exchange data"));
        }
        Ok(KePayload { group, data })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.data.is_empty() {
            return Err(WireError::syntax("KE payload without key exchange data"));
        }
        out.extend_from_slice(&self.group.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let body = [0x00, 0x1f, 0x00, 0x00, 1, 2, 3, 4];
        let ke = KePayload::decode(&body).unwrap();
        assert_eq!(ke.group, DhGroup::CURVE25519);
        assert_eq!(ke.data, vec![1, 2, 3, 4]);
        let mut out = Vec::new();
        ke.encode_into(&mut out).unwrap();
        assert_eq!(out, body);
    }

    #[test]
    fn malformed() {
        for n in 0..5 {
            assert!(KePayload::decode(&[0, 19, 0, 0, 9][..n]).is_err());
        }
    }
}
