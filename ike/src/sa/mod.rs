//! One IKE SA: its identity (SPIs, addresses, peer), keys, message-ID
//! window, NAT state and Child SAs, plus the per-message dispatch
//! ([`IkeSa::handle_message`]), IKE fragmentation (RFC 7383, `fragment`)
//! and timers ([`IkeSa::handle_timeout`]).
//!
//! The exchange logic lives in [`crate::exchange`], one file per exchange,
//! as further `impl IkeSa` blocks.

mod dispatch;
mod fragment;
mod nat;
mod sk;
mod task;
mod window;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ring::rand::SecureRandom;

use crate::child::ChildSa;
use crate::config::{EndpointConfig, PeerConfig};
use crate::event::{Event, IkeAlgorithms, IkeSaInfo, SaId};
use crate::exchange::ike_sa_init::InitiatorInit;
use crate::outbox::Outbox;
use crate::wire::{ExchangeType, Flags, Header};

pub(crate) use fragment::Fragmentation;
pub(crate) use nat::{nat_notifies, NatDetection};
pub(crate) use sk::SkState;
pub(crate) use task::Task;
pub(crate) use window::{Pending, PendingKind, Window};

/// Everything a handler may touch besides the SA itself.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub rng: &'a dyn SecureRandom,
    pub config: &'a EndpointConfig,
    pub out: &'a mut Outbox,
}

/// Where the SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    HalfOpen,
    /// IKE_AUTH completed.
    Established,
    /// We sent a Delete for the IKE SA and wait for the answer (or, after
    /// an IKE SA rekey, wait for the peer's Delete).
    Deleting,
    /// Failed; kept until `expires_at` only to answer retransmissions of
    /// the last request from the cache (e.g. our AUTHENTICATION_FAILED).
    Lingering,
    /// To be removed by the endpoint.
    Dead,
}

/// State of one IKE SA.
pub(crate) struct IkeSa {
    pub id: SaId,
    /// Whether we are the original initiator.
    pub initiator: bool,
    /// The peer; for a responder known once IDi is verified. Shared with
    /// the endpoint's peer list (copied only when a pair is appended).
    pub peer: Option<Arc<PeerConfig>>,
    /// Responder: peers that may be behind this SA (address match),
    /// shared with the endpoint's peer list: a half-open SA holds no copy
    /// of any configuration or key.
    pub candidates: Vec<Arc<PeerConfig>>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub phase: Phase,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The IKE_SA_INIT request and response as sent (AUTH inputs).
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    pub algs: Option<IkeAlgorithms>,
    pub sk: Option<SkState>,
    pub nat: NatDetection,
    pub window: Window,
    pub children: Vec<ChildSa>,
    /// Exchanges waiting for the request window (one request at a time).
    pub tasks: VecDeque<Task>,
    /// When the peer last sent us an authenticated message (DPD).
    pub last_heard: Instant,
    /// Initiator state until IKE_SA_INIT completes.
    pub init: Option<InitiatorInit>,
    /// When a half-open SA, or an old SA replaced by a rekey, is dropped
    /// without further notice.
    pub expires_at: Option<Instant>,
    /// Replaced by a rekeyed IKE SA: goes away silently.
    pub replaced: bool,
    /// When our lifetime policy rekeys this IKE SA.
    pub ike_rekey_at: Option<Instant>,
    /// Behind a NAT: when the next NAT keepalive goes out.
    pub keepalive_at: Option<Instant>,
    /// When the SA was created (first IKE_SA_INIT sent or received).
    pub created_at: Instant,
    /// When IKE_AUTH completed (kept across IKE SA rekeys).
    pub established_at: Option<Instant>,
    /// Set by the endpoint: another live IKE SA with the same peer exists.
    pub other_sas_with_peer: bool,
    /// PFS group the peer asked for with INVALID_KE_PAYLOAD in CREATE_CHILD_SA.
    pub pfs_group: Option<crate::crypto::DhGroup>,
    /// A duplicate of another IKE SA with the same peer that we initiated:
    /// deleted at the latest at this instant.
    pub superseded_deadline: Option<Instant>,
    /// Lost the nonce rule to a crossing IKE SA with the same peer (both
    /// sides know; only its initiator deletes it): no Child SA is created
    /// on it.
    pub lost_to_duplicate: bool,
    /// IKE fragmentation (RFC 7383): negotiated or not, reassembly.
    pub frag: Fragmentation,
    /// The peer's rekey of this SA that crossed ours, until ours is done.
    pub passive_rekey: Option<crate::exchange::rekey_ike::PassiveRekey>,
}

impl IkeSa {
    /// IKE_AUTH completed: starts the SA's timers.
    pub(crate) fn set_established(&mut self, ctx: &Ctx<'_>) {
        self.phase = Phase::Established;
        self.expires_at = None;
        self.last_heard = ctx.now;
        self.established_at = self.established_at.or(Some(ctx.now));
        self.ike_rekey_at = self
            .peer
            .as_ref()
            .map(|p| crate::child::rekey_time(ctx, p.lifetimes.ike, p.lifetimes.child_rekey_fuzz));
        if self.nat.local_behind_nat {
            self.keepalive_at = ctx.config.nat_keepalive.map(|d| ctx.now + d);
        }
    }

    /// Our SPI (the key in the endpoint's table).
    pub(crate) fn local_spi(&self) -> u64 {
        u64::from_be_bytes(if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        })
    }

    /// Peer name for events.
    pub(crate) fn peer_name(&self) -> String {
        self.peer
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    /// A header for a message of ours.
    pub(crate) fn header(&self, exchange: ExchangeType, response: bool, mid: u32) -> Header {
        let mut flags = Flags::empty();
        if self.initiator {
            flags = flags | Flags::INITIATOR;
        }
        if response {
            flags = flags | Flags::RESPONSE;
        }
        Header::new(
            u64::from_be_bytes(self.spi_i),
            u64::from_be_bytes(self.spi_r),
            exchange,
            flags,
            mid,
        )
    }

    /// The IkeSaEstablished payload.
    pub(crate) fn info(&self) -> Option<IkeSaInfo> {
        Some(IkeSaInfo {
            sa: self.id,
            peer: self.peer_name(),
            initiator: self.initiator,
            local: self.local,
            remote: self.remote,
            spi_i: u64::from_be_bytes(self.spi_i),
            spi_r: u64::from_be_bytes(self.spi_r),
            nat_local: self.nat.local_behind_nat,
            nat_remote: self.nat.remote_behind_nat,
            algorithms: self.algs?,
        })
    }

    /// Removes the Child SA at `pos`: frees its SPI, reports it deleted.
    pub(crate) fn remove_child(&mut self, ctx: &mut Ctx<'_>, pos: usize) {
        let c = self.children.remove(pos);
        self.child_gone(ctx, &c);
    }

    /// A Child SA of this SA is gone: its SPI is freed, it is reported.
    fn child_gone(&self, ctx: &mut Ctx<'_>, c: &ChildSa) {
        ctx.out.free_esp_spi(c.spi_in);
        ctx.out.event(Event::ChildSaDeleted {
            sa: self.id,
            child: c.id,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
        });
    }

    /// Ends the SA: reports its Child SAs deleted, frees their SPIs and
    /// queues `event` (if any).
    pub(crate) fn die(&mut self, ctx: &mut Ctx<'_>, event: Option<Event>) {
        for c in std::mem::take(&mut self.children) {
            self.child_gone(ctx, &c);
        }
        if let Some(p) = self.window.pending.take() {
            p.kind.release(ctx.out);
        }
        if let Some(e) = event {
            ctx.out.event(e);
        }
        self.phase = Phase::Dead;
    }

    /// The earliest instant at which a timer of this SA fires.
    pub(crate) fn next_timeout(&self, config: &EndpointConfig) -> Option<Instant> {
        let retx = self.window.pending.as_ref().map(|p| p.retx.deadline());
        let rekey = if self.phase == Phase::Established {
            self.children.iter().filter_map(|c| c.rekey_at).min()
        } else {
            None
        };
        let established = self.phase == Phase::Established;
        let keepalive = self.keepalive_at.filter(|_| established);
        let ike_rekey = self.ike_rekey_at.filter(|_| established);
        [
            retx,
            self.expires_at,
            rekey,
            self.dpd_at(config),
            keepalive,
            ike_rekey,
            self.superseded_deadline.filter(|_| established),
            self.frag.deadline(config),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// When the next liveness check is due (idle established SA only): the
    /// peer's own interval, else the endpoint's.
    pub(crate) fn dpd_at(&self, config: &EndpointConfig) -> Option<Instant> {
        let idle = self.phase == Phase::Established
            && self.window.pending.is_none()
            && self.tasks.is_empty();
        self.peer
            .as_ref()
            .and_then(|p| p.dpd_delay)
            .or(config.dpd_delay)
            .filter(|_| idle)
            .map(|d| self.last_heard + d)
    }
}
