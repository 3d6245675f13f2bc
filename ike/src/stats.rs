//! Counters of what the endpoint received and why datagrams were dropped.
//!
//! Dropping is silent on the wire (RFC 7296 2.21: unauthenticated garbage
//! gets no answer) but never invisible: each drop bumps a counter and is
//! remembered as [`Endpoint::last_drop`](crate::Endpoint::last_drop) for logs.

use std::collections::BTreeMap;

/// Why a received datagram was not acted upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The codec rejected it (bad length, version, syntax...).
    Malformed,
    /// No IKE SA with these SPIs.
    UnknownSpi,
    /// The SK payload failed its integrity check (or was missing).
    IntegrityCheckFailed,
    /// A request whose message ID is neither the next nor a retransmission.
    OutOfWindow,
    /// A response that matches no outstanding request.
    UnexpectedResponse,
    /// The message is not valid in the SA's current state.
    UnexpectedExchange,
    /// A first message that could not be answered (no proposals, failed
    /// randomness, ...). Also counted for invalid or missing cookies.
    RejectedInit,
    /// An Encrypted Fragment (SKF, RFC 7383) refused: fragmentation was
    /// not negotiated on the SA, the fragment does not parse (number 0 or
    /// above the total, ...), or the reassembly refused it (more
    /// fragments or bytes than [`EndpointConfig::reassembly`](crate::EndpointConfig::reassembly)
    /// allows). Fragments failing their integrity check count as
    /// [`DropReason::IntegrityCheckFailed`].
    Fragment,
    /// An IKE_SA_INIT response that cannot be ours or is an unprotected
    /// error: anyone can forge one, so the request stays outstanding and
    /// the first valid answer is taken (RFC 7296 2.21.1). If none comes,
    /// the exchange fails at its timeout with the error seen.
    UnprotectedInitAnswer,
}

/// Counters kept by the endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub received: u64,
    /// Datagrams queued for sending (retransmissions included).
    pub sent: u64,
    /// Requests retransmitted because no answer came in time.
    pub retransmissions: u64,
    /// Cached responses re-sent for retransmitted requests.
    pub responses_resent: u64,
    /// COOKIE notifies sent.
    pub cookies_sent: u64,
    /// INVALID_KE_PAYLOAD answers sent (we asked an initiator for another
    /// DH group in IKE_SA_INIT).
    pub invalid_ke_sent: u64,
    /// INVALID_KE_PAYLOAD answers received (a responder asked us for
    /// another DH group in IKE_SA_INIT).
    pub invalid_ke_received: u64,
    /// Encrypted Fragment datagrams queued for sending (retransmissions
    /// included; each is also counted in `sent`).
    pub fragments_sent: u64,
    /// Fragments received that passed their integrity check and were
    /// taken for reassembly (duplicates included).
    pub fragments_received: u64,
    /// Fragmented messages reassembled and processed.
    pub messages_reassembled: u64,
    /// Inbound ESP SPIs taken from those the owner reserved in the kernel
    /// ([`crate::Endpoint::supply_esp_spis`]).
    pub esp_spis_reserved_used: u64,
    /// Inbound ESP SPIs drawn at random (none reserved and fresh).
    pub esp_spis_random: u64,
    /// Dropped datagrams, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
}

impl Stats {
    /// Total number of dropped datagrams.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    pub(crate) fn drop(&mut self, reason: DropReason) {
        *self.dropped.entry(reason).or_insert(0) += 1;
    }
}
