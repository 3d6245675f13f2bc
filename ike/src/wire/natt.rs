//! Framing of UDP datagrams on the NAT-T port 4500 (RFC 3948, RFC 7296
//! section 2.23): IKE messages follow a 4-byte zero "non-ESP marker", a
//! single 0xFF byte is a NAT keepalive, anything else starting with a
//! non-zero 4-byte SPI is ESP.

use super::error::{Result, WireError};

/// The non-ESP marker that precedes IKE messages on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// What a datagram received on port 4500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NattDatagram<'a> {
    /// An IKE message (marker stripped).
    Ike(&'a [u8]),
    /// An ESP packet (the whole datagram, starting with the SPI).
    Esp(&'a [u8]),
    /// A NAT keepalive (one 0xFF byte).
    Keepalive,
}

/// Classifies a datagram received on the NAT-T port.
pub fn classify_natt(datagram: &[u8]) -> Result<NattDatagram<'_>> {
    if datagram == [0xff] {
        return Ok(NattDatagram::Keepalive);
    }
    let (marker, rest) = datagram
        .split_first_chunk::<4>()
        .ok_or(WireError::Truncated {
            what: "UDP-encapsulated datagram",
            needed: 4,
            available: datagram.len(),
        })?;
    if *marker == NON_ESP_MARKER {
        Ok(NattDatagram::Ike(rest))
    } else {
        Ok(NattDatagram::Esp(datagram))
    }
}

/// Prepends the non-ESP marker to an IKE message for port 4500.
pub fn with_non_esp_marker(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 4);
    out.extend_from_slice(&NON_ESP_MARKER);
    out.extend_from_slice(message);
    out
}

/// The NAT keepalive datagram.
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        assert_eq!(classify_natt(&[0xff]).unwrap(), NattDatagram::Keepalive);
        assert_eq!(
            classify_natt(&[0, 0, 0, 0, 1, 2]).unwrap(),
            NattDatagram::Ike(&[1, 2])
        );
        assert_eq!(
            classify_natt(&[0, 0, 1, 0, 1]).unwrap(),
            NattDatagram::Esp(&[0, 0, 1, 0, 1])
        );
        assert!(classify_natt(&[]).is_err());
        assert!(classify_natt(&[0, 0, 0]).is_err());
        assert!(classify_natt(&[0xff, 0xff]).is_err());
        assert_eq!(with_non_esp_marker(&[9]), vec![0, 0, 0, 0, 9]);
        assert_eq!(
            classify_natt(&with_non_esp_marker(&[9])).unwrap(),
            NattDatagram::Ike(&[9])
        );
    }
}
