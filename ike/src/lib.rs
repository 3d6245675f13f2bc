//! Sans-IO IKEv2 (RFC 7296) protocol core.
//!
//! Bytes and the current time go in; datagrams to send, the next timer
//! deadline and events come out. This crate never opens a socket, never reads
//! a clock and never talks to the kernel.
//!
//! Where things are:
//! * [`wire`]: the message codec; [`crypto`]: ring-based primitives.
//! * [`Endpoint`] (`endpoint.rs`): the entry point owning all IKE SAs;
//!   [`Transmit`] (`outbox.rs`) what it asks to send.
//! * `config.rs`: [`EndpointConfig`], [`PeerConfig`], proposals, selector
//!   pairs, retransmission schedule.
//! * `event.rs`: [`Event`] and the kernel-ready [`ChildSaInfo`];
//!   `stats.rs`: drop reasons and counters.
//! * `sa/`: one IKE SA (state, SK sealing, message-ID window, NAT-D,
//!   IKE fragmentation (RFC 7383: sending SKF fragments, reassembly),
//!   dispatch and timers); `exchange/`: one file per exchange and role
//!   (`ike_sa_init.rs`, `ike_sa_init_responder.rs`, `ike_auth.rs` — where
//!   the AUTH payload is computed and checked —, `create_child.rs`,
//!   `informational.rs`).
//! * `proposal.rs`: building and choosing SA proposals; `ts_narrow.rs`:
//!   traffic selector narrowing; `child.rs`: Child SA records and the
//!   responder's pair matching; `retransmit.rs`: backoff schedule;
//!   `peer_sas.rs`: INITIAL_CONTACT and duplicate IKE SAs of one peer.
//!
//! Driving it from a daemon (one task owning the [`Endpoint`]):
//! * UDP socket(s) on the NAT-T port: strip the 4-byte non-ESP marker, pass
//!   IKE messages to [`Endpoint::handle_datagram`] with the *actual* local
//!   address (it goes into NAT detection); drop 1-byte keepalives.
//! * After every call drain [`Endpoint::poll_transmit`] (prefix the marker
//!   when [`Transmit::non_esp_marker`]) and [`Endpoint::poll_event`], then
//!   sleep until [`Endpoint::poll_timeout`] and call
//!   [`Endpoint::handle_timeout`].
//! * [`Event::ChildSaEstablished`]: install both SAs (`spi_in`/`key_in`,
//!   `spi_out`/`key_out`, [`ChildSaInfo::kernel_encr_name`], ESN, UDP
//!   encapsulation) and the policies for `ts_local`/`ts_remote`, with a
//!   reqid that is stable per (peer, `pair_index`). A rekey reports a new
//!   [`ChildId`] with `rekey_of` set; the old pair goes with its own
//!   [`Event::ChildSaDeleted`] afterwards (make-before-break).
//! * [`Event::ChildSaDeleted`]: remove exactly that pair (its SPIs).
//! * [`Event::IkeSaRekeyed`]: nothing to do in the kernel.
//! * [`Event::IkeSaClosed`] with `Timeout`/`DeletedByPeer`: the tunnel is
//!   down, initiate again; with `Superseded`/`PeerRestarted` another IKE SA
//!   carries (or will carry) the traffic.
//! * Kernel soft EXPIRE for an SPI: [`Endpoint::rekey_child`].
//!
//! ```
//! use std::time::Instant;
//! use ike::{Endpoint, EndpointConfig, PeerConfig};
//! use ike::wire::Identity;
//!
//! let mut ep = Endpoint::new(EndpointConfig::default()).unwrap();
//! let now = Instant::now();
//! let peer = PeerConfig::new(
//!     "cable-1",
//!     "192.0.2.1:4500".parse().unwrap(),
//!     "192.0.2.2:4500".parse().unwrap(),
//!     Identity::Ipv4("192.0.2.1".parse().unwrap()),
//!     Identity::Ipv4("192.0.2.2".parse().unwrap()),
//!     b"base64-psk-text",
//! );
//! let _sa = ep.initiate(now, peer).unwrap();
//! let first = ep.poll_transmit().unwrap();
//! assert!(first.non_esp_marker); // IKE on port 4500 from the first message
//! assert!(ep.poll_timeout().is_some());
//! ```
pub mod crypto;
pub mod wire;

mod child;
mod config;
mod endpoint;
mod event;
mod exchange;
mod outbox;
mod peer_sas;
mod proposal;
mod proposal_text;
mod retransmit;
mod sa;
mod stats;
mod ts_narrow;

pub use config::{
    EndpointConfig, EspProposal, IkeProposal, Lifetimes, PeerConfig, RetransmitConfig, TsPair,
    DEFAULT_FRAGMENT_SIZE, MIN_FRAGMENT_SIZE,
};
pub use endpoint::{Endpoint, InitiateError, SaStatus};
pub use event::{
    ChildId, ChildSaInfo, CloseReason, Encapsulation, Event, FailureReason, IkeAlgorithms,
    IkeSaInfo, RejectedBy, SaId,
};
pub use outbox::{Transmit, SPI_POOL_MAX_AGE};
pub use proposal_text::{parse_esp_proposals, parse_ike_proposals, ProposalTextError};
pub use stats::{DropReason, Stats};
