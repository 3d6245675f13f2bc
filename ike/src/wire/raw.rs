//! Payloads the codec carries without interpreting much: Vendor ID
//! (section 3.12), CERT and CERTREQ (3.6, 3.7), CP (3.15) and EAP (3.16).

use super::constants::{CertEncoding, CfgType};
use super::error::Result;
use super::reader::Reader;

/// CERT or CERTREQ payload body: encoding byte plus data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPayload {
    /// Certificate encoding.
    pub encoding: CertEncoding,
    /// Certificate data (CERT) or CA hashes (CERTREQ).
    pub data: Vec<u8>,
}

impl CertPayload {
    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<CertPayload> {
        let mut r = Reader::new(body);
        let encoding = CertEncoding(r.u8("CERT/CERTREQ payload")?);
        Ok(CertPayload {
            encoding,
            data: r.rest().to_vec(),
        })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
    }
}

/// Configuration payload body: CFG type, three reserved bytes, and the
/// configuration attributes left raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpPayload {
    /// CFG type.
    pub cfg_type: CfgType,
    /// Raw configuration attributes.
    pub attributes: Vec<u8>,
}

impl CpPayload {
    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<CpPayload> {
        let mut r = Reader::new(body);
        let cfg_type = CfgType(r.u8("CP payload")?);
        let _reserved = r.take(3, "CP payload")?;
        Ok(CpPayload {
            cfg_type,
            attributes: r.rest().to_vec(),
        })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.cfg_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.attributes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = CertPayload::decode(&[4, 1, 2]).unwrap();
        assert_eq!(c.encoding, CertEncoding::X509_SIGNATURE);
        let mut out = Vec::new();
        c.encode_into(&mut out);
        assert_eq!(out, [4, 1, 2]);
        assert!(CertPayload::decode(&[]).is_err());

        let cp = CpPayload::decode(&[1, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!(cp.cfg_type, CfgType::REQUEST);
        let mut out = Vec::new();
        cp.encode_into(&mut out);
        assert_eq!(out, [1, 0, 0, 0, 0, 1, 0, 0]);
        assert!(CpPayload::decode(&[1, 0, 0]).is_err());
    }
}
