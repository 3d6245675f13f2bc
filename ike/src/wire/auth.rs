//! Authentication payload (RFC 7296 section 3.8): method, three reserved
//! bytes, authentication data.

use super::constants::AuthMethod;
use super::error::{Result, WireError};
use super::reader::Reader;

/// AUTH payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPayload {
    /// Authentication method (PSK: [`AuthMethod::SHARED_KEY_MIC`]).
    pub method: AuthMethod,
    /// Authentication data (for PSK, the PRF output; may be empty only
    /// with [`AuthMethod::NULL`]).
    pub data: Vec<u8>,
}

impl AuthPayload {
    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<AuthPayload> {
        let mut r = Reader::new(body);
        let method = AuthMethod(r.u8("AUTH payload")?);
        let _reserved = r.take(3, "AUTH payload")?;
        let data = r.rest().to_vec();
        if data.is_empty() && method != AuthMethod::NULL {
            return Err(WireError::syntax(
                "AUTH payload without authentication data",
            ));
        }
        Ok(AuthPayload { method, data })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.data.is_empty() && self.method != AuthMethod::NULL {
            return Err(WireError::syntax(
                "AUTH payload without authentication data",
            ));
        }
        out.push(self.method.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let body = [2, 0, 0, 0, 9, 9, 9];
        let a = AuthPayload::decode(&body).unwrap();
        assert_eq!(a.method, AuthMethod::SHARED_KEY_MIC);
        let mut out = Vec::new();
        a.encode_into(&mut out).unwrap();
        assert_eq!(out, body);
        for n in 0..5 {
            assert!(AuthPayload::decode(&body[..n]).is_err());
        }
    }
}
