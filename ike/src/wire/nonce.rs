//! Nonce payload (RFC 7296 section 3.9): 16 to 256 bytes of random data.

use super::error::{Result, WireError};

/// Smallest nonce RFC 7296 allows.
pub const NONCE_MIN_LEN: usize = 16;
/// Largest nonce RFC 7296 allows.
pub const NONCE_MAX_LEN: usize = 256;

/// Nonce payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoncePayload {
    /// The nonce (16..=256 bytes).
    pub nonce: Vec<u8>,
}

fn check(len: usize) -> Result<()> {
    if (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&len) {
        Ok(())
    } else {
        Err(WireError::bad_length(
            "Nonce payload",
            len,
            "nonce must be 16..=256 bytes",
        ))
    }
}

impl NoncePayload {
    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<NoncePayload> {
        check(body.len())?;
        Ok(NoncePayload {
            nonce: body.to_vec(),
        })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        check(self.nonce.len())?;
        out.extend_from_slice(&self.nonce);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(NoncePayload::decode(&[7; 15]).is_err());
        assert!(NoncePayload::decode(&[7; 257]).is_err());
        for len in [16, 32, 256] {
            let n = NoncePayload::decode(&vec![7; len]).unwrap();
            let mut out = Vec::new();
            n.encode_into(&mut out).unwrap();
            assert_eq!(out, vec![7; len]);
        }
        assert!(NoncePayload { nonce: vec![] }
            .encode_into(&mut Vec::new())
            .is_err());
    }
}
