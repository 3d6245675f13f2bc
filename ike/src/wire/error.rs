//! Typed errors of the message codec.
//!
//! Every way a datagram can be rejected has its own variant, so the state
//! machine can choose the right answer: [`WireError::BadVersion`] maps to an
//! `INVALID_MAJOR_VERSION` notify, [`WireError::UnsupportedCriticalPayload`]
//! to `UNSUPPORTED_CRITICAL_PAYLOAD` carrying the payload type, and the other
//! decoding failures to `INVALID_SYNTAX` (or silently dropping the datagram,
//! as RFC 7296 section 2.21 asks for unauthenticated messages).

use super::constants::PayloadType;

/// Result type of the codec.
pub type Result<T> = core::result::Result<T, WireError>;

/// Why a message could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended before a field or structure was complete.
    #[error("truncated {what}: need {needed} bytes, {available} available")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },

    /// A length field is impossible: too small for its own header, larger
    /// than its container, or inconsistent with the data that follows.
    #[error("bad length of {what}: {length} ({reason})")]
    BadLength {
        /// The structure whose length field is wrong.
        what: &'static str,
        /// The value of the length field (or the measured length).
        length: usize,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The header carries a major version other than 2. The caller should
    /// answer `INVALID_MAJOR_VERSION` when the major version is greater.
    #[error("unsupported IKE version {major}.{minor}")]
    BadVersion {
        /// Major version from the header.
        major: u8,
        /// Minor version from the header.
        minor: u8,
    },

    /// A payload of unknown type had the critical bit set. The caller must
    /// answer with an `UNSUPPORTED_CRITICAL_PAYLOAD` notify whose data is
    /// the one-byte payload type (see
    /// [`NotifyPayload::unsupported_critical_payload`](super::NotifyPayload::unsupported_critical_payload)).
    #[error(
        "unsupported critical payload type {payload_type}: answer UNSUPPORTED_CRITICAL_PAYLOAD"
    )]
    UnsupportedCriticalPayload {
        /// The unknown payload type.
        payload_type: PayloadType,
    },

    /// The structure is well framed but its content breaks a rule of the
    /// RFC (the caller may answer `INVALID_SYNTAX`).
    #[error("invalid syntax: {what}")]
    InvalidSyntax {
        /// Which rule was broken.
        what: &'static str,
    },

    /// A value given to the encoder does not fit its wire field (for example
    /// a payload longer than 65535 bytes).
    #[error("cannot encode {what}: length {length} does not fit")]
    TooLong {
        /// The structure being encoded.
        what: &'static str,
        /// Its length.
        length: usize,
    },
}

impl WireError {
    pub(crate) fn syntax(what: &'static str) -> Self {
        WireError::InvalidSyntax { what }
    }

    pub(crate) fn bad_length(what: &'static str, length: usize, reason: &'static str) -> Self {
        WireError::BadLength {
            what,
            length,
            reason,
        }
    }
}
