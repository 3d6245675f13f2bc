//! IKE fragmentation state of one IKE SA (RFC 7383): whether both ends
//! announced IKEV2_FRAGMENTATION_SUPPORTED, the size limit of our
//! messages, and the reassembly of the peer's fragmented messages.
//!
//! With a window of one request each way, at most one request (the next
//! one we expect) and one response (to our outstanding request) are being
//! reassembled at a time. A fragment is taken only after its ICV checked
//! out, so only the peer can fill the buffers; a fragment of another
//! message ID replaces what was collected, and an incomplete message is
//! dropped [`EndpointConfig::reassembly_timeout`] after its first
//! fragment. Memory per SA is therefore at most twice
//! [`ReassemblyLimits::max_bytes`](crate::wire::ReassemblyLimits), and
//! [`PRE_AUTH_MAX_BYTES`] on a half-open SA: whoever sent an IKE_SA_INIT
//! has its keys, so without this a flood of half-open SAs could each hold
//! the full limit (64 MiB at the default 1000 half-open SAs).

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::{EndpointConfig, MIN_FRAGMENT_SIZE};
use crate::wire::{
    decode_chain, AddOutcome, EncryptedView, FragmentInfo, Header, Reassembler, ReassemblyLimits,
};

use super::sk::Opened;

/// The most a half-open SA (the peer not authenticated yet) reassembles.
/// The largest IKE_AUTH request a PSK peer can send is about 21 KB: two
/// traffic selector payloads of 255 IPv6 selectors (40 bytes each, 255
/// being the payload's limit), IDs, AUTH, SA and notifies.
pub(crate) const PRE_AUTH_MAX_BYTES: usize = 24 * 1024;

/// The reassembly limits for an SA whose peer is (or is not yet)
/// authenticated.
fn limits(config: &EndpointConfig, authenticated: bool) -> ReassemblyLimits {
    if authenticated {
        config.reassembly
    } else {
        ReassemblyLimits {
            max_bytes: config.reassembly.max_bytes.min(PRE_AUTH_MAX_BYTES),
            ..config.reassembly
        }
    }
}

/// One message being reassembled.
struct Partial {
    mid: u32,
    started: Instant,
    reassembler: Reassembler,
}

/// Fragmentation state of an IKE SA.
#[derive(Default)]
pub(crate) struct Fragmentation {
    /// Both ends announced support in IKE_SA_INIT (inherited by a rekeyed
    /// IKE SA).
    pub enabled: bool,
    request: Option<Partial>,
    response: Option<Partial>,
}

/// What became of an authenticated fragment.
pub(crate) enum Taken {
    /// Stored (or a duplicate); more are needed.
    Pending,
    /// The last missing piece: the whole message.
    Complete(Box<Opened>),
    /// Refused by the reassembly (limits, inconsistent numbering).
    Refused,
}

/// The largest IKE message (whole or fragment) we send from `local` to
/// `remote`: the configured datagram size less the IP and UDP headers and,
/// off port 500, the non-ESP marker.
pub(crate) fn max_message(config: &EndpointConfig, local: SocketAddr, remote: SocketAddr) -> usize {
    let ip = if remote.is_ipv4() { 20 } else { 40 };
    let marker = if local.port() != 500 { 4 } else { 0 };
    config.fragment_size.max(MIN_FRAGMENT_SIZE) - ip - 8 - marker
}

impl Fragmentation {
    /// No reassembly yet; `enabled` when both ends announced support.
    pub(crate) fn new(enabled: bool) -> Self {
        Fragmentation {
            enabled,
            ..Fragmentation::default()
        }
    }

    /// Adds a fragment whose ICV checked out; `content` is its decrypted,
    /// unpadded piece of the inner chain.
    pub(crate) fn take(
        &mut self,
        config: &EndpointConfig,
        now: Instant,
        view: &EncryptedView<'_>,
        fragment: FragmentInfo,
        content: &[u8],
        authenticated: bool,
    ) -> Taken {
        let h = &view.header;
        let slot = if h.is_request() {
            &mut self.request
        } else {
            &mut self.response
        };
        let fresh = slot
            .as_ref()
            .is_some_and(|p| p.mid == h.message_id && now < p.started + config.reassembly_timeout);
        if !fresh {
            *slot = Some(Partial {
                mid: h.message_id,
                started: now,
                reassembler: Reassembler::new(limits(config, authenticated)),
            });
        }
        let Some(p) = slot.as_mut() else {
            return Taken::Refused;
        };
        match p.reassembler.add(fragment, view.first_inner, content) {
            Ok(AddOutcome::Complete) => {}
            Ok(_) => return Taken::Pending,
            Err(_) => return Taken::Refused,
        }
        let finished = p.reassembler.finish();
        *slot = None;
        let Ok((first, chain)) = finished else {
            return Taken::Refused;
        };
        let header = Header {
            next_payload: crate::wire::PayloadType::SK,
            ..h.clone()
        };
        Taken::Complete(Box::new(Opened {
            header,
            payloads: decode_chain(first, &chain),
        }))
    }

    /// When the oldest incomplete reassembly expires.
    pub(crate) fn deadline(&self, config: &EndpointConfig) -> Option<Instant> {
        [&self.request, &self.response]
            .into_iter()
            .flatten()
            .map(|p| p.started + config.reassembly_timeout)
            .min()
    }

    /// Drops reassemblies that expired at `now`.
    pub(crate) fn expire(&mut self, config: &EndpointConfig, now: Instant) {
        for slot in [&mut self.request, &mut self.response] {
            if slot
                .as_ref()
                .is_some_and(|p| now >= p.started + config.reassembly_timeout)
            {
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A half-open SA reassembles at most [`PRE_AUTH_MAX_BYTES`] whatever
    /// the configured limit (before: the full limit, 64 KiB by default,
    /// which 1000 half-open SAs of one flooder could each hold); an
    /// authenticated one the configured limit, and a smaller configured
    /// limit stays in force for both.
    #[test]
    fn half_open_sas_reassemble_less() {
        let config = EndpointConfig::default();
        assert_eq!(config.reassembly.max_bytes, 64 * 1024);
        assert_eq!(limits(&config, false).max_bytes, PRE_AUTH_MAX_BYTES);
        assert_eq!(limits(&config, true).max_bytes, 64 * 1024);
        let small = EndpointConfig {
            reassembly: ReassemblyLimits {
                max_fragments: 4,
                max_bytes: 8 * 1024,
            },
            ..EndpointConfig::default()
        };
        assert_eq!(limits(&small, false).max_bytes, 8 * 1024);
        assert_eq!(limits(&small, false).max_fragments, 4);
    }
}
