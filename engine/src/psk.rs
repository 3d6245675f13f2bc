//! The IPsec pre-shared key.
//!
//! Submariner's libreswan driver hands pluto the PSK as **base64 text** and
//! libreswan feeds that ASCII text into the AUTH computation, so [`Psk`] holds
//! the text itself and [`Psk::as_bytes`] returns its ASCII bytes: that is what
//! goes on the wire. The three places it can come from (see
//! [`crate::config`]): `CE_IPSEC_PSK` (already text), `CE_IPSEC_PSKSECRET`
//! (raw secret bytes, encoded here with the standard base64 alphabet), and a
//! `broker-info.subm` file (whose `IPSecPSK.data.psk` is that same text).
//!
//! The key is never printed: `Debug` and `Display` both write `<redacted>`,
//! and its memory is zeroised when dropped.

use std::fmt;

use base64::Engine as _;
use zeroize::Zeroizing;

/// The pre-shared key, as the base64 text libreswan uses on the wire.
#[derive(Clone)]
pub struct Psk(Zeroizing<String>);

impl Psk {
    /// Wraps PSK text (e.g. the value of `CE_IPSEC_PSK`) as it is.
    pub fn from_text(text: String) -> Self {
        Psk(Zeroizing::new(text))
    }

    /// Encodes raw secret bytes (the `psk` file of a mounted Secret) with the
    /// standard base64 alphabet, as the libreswan driver does.
    pub fn from_secret_bytes(raw: &[u8]) -> Self {
        Psk(Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(raw),
        ))
    }

    /// The bytes that go into the IKEv2 AUTH computation (the ASCII text).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Length of the text in bytes (64 for Submariner's 48-byte secrets).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the key is empty (never the case for a resolved config).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let psk = Psk::from_text("c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into());
        assert_eq!(format!("{psk}"), "<redacted>");
        assert_eq!(format!("{psk:?}"), "<redacted>");
        assert_eq!(format!("{psk:#?}"), "<redacted>");
        assert_eq!(psk.as_bytes(), b"c2VjcmV0LXNlY3JldC1zZWNyZXQ=");
    }

    #[test]
    fn secret_bytes_are_standard_base64_text() {
        // 48 bytes with values that differ between the standard and URL-safe alphabets.
        let raw: Vec<u8> = (0..48u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(250))
            .collect();
        let psk = Psk::from_secret_bytes(&raw);
        assert_eq!(psk.len(), 64);
        let text = std::str::from_utf8(psk.as_bytes()).unwrap();
        assert!(text.contains('+') || text.contains('/'), "{text}");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap(),
            raw
        );
    }
}
