//! What SA handlers produce while processing one input: datagrams to send
//! ([`Transmit`]), events, counters, plus the endpoint-wide allocators
//! (inbound ESP SPIs, Child SA identifiers) they need.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ring::rand::SecureRandom;

use crate::event::{ChildId, Event, SaId};
use crate::sa::IkeSa;
use crate::stats::{DropReason, Stats};

/// A datagram for the owner to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source address and port (the socket to send from).
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// The IKE message (no non-ESP marker), or the one-byte NAT keepalive
    /// `[0xFF]` (then `non_esp_marker` is false).
    pub payload: Vec<u8>,
    /// Whether to prefix the 4-byte non-ESP marker: true whenever IKE does
    /// not run on port 500 (RFC 3948, RFC 7296 2.23), i.e. on the NAT-T port.
    pub non_esp_marker: bool,
}

/// Output queues and shared allocators.
#[derive(Default)]
pub(crate) struct Outbox {
    /// IKE SAs created by a handler (IKE SA rekey), for the endpoint to adopt.
    pub spawned: Vec<IkeSa>,
    /// SAs whose peer sent INITIAL_CONTACT, for the endpoint to act on.
    pub initial_contacts: Vec<SaId>,
    next_sa: u64,
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    pub stats: Stats,
    pub last_drop: Option<(SocketAddr, DropReason)>,
    esp_spis: HashSet<u32>,
    /// Inbound SPIs the owner reserved in the kernel, per local address,
    /// oldest first, with when each was supplied.
    spi_pool: HashMap<IpAddr, VecDeque<(u32, Instant)>>,
    next_child: u32,
}

/// How long a supplied SPI stays usable: the kernel drops an unused
/// reserved SPI (its larval SA) after `net.core.xfrm_acq_expires`, 30 s by
/// default; one taken later would find nothing to replace.
pub const SPI_POOL_MAX_AGE: Duration = Duration::from_secs(20);

impl Outbox {
    /// Queues a datagram.
    pub(crate) fn send(&mut self, local: SocketAddr, remote: SocketAddr, payload: Vec<u8>) {
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            local,
            remote,
            payload,
            non_esp_marker: local.port() != 500,
        });
    }

    /// Queues a NAT keepalive (a single 0xFF byte, no marker, RFC 3948 2.3).
    pub(crate) fn send_keepalive(&mut self, local: SocketAddr, remote: SocketAddr) {
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            local,
            remote,
            payload: crate::wire::NAT_KEEPALIVE.to_vec(),
            non_esp_marker: false,
        });
    }

    /// Queues an event.
    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// Counts a dropped datagram.
    pub(crate) fn drop(&mut self, remote: SocketAddr, reason: DropReason) {
        self.stats.drop(reason);
        self.last_drop = Some((remote, reason));
    }

    /// A fresh inbound ESP SPI for an SA whose destination is `local`:
    /// the oldest one supplied for that address and still fresh (see
    /// [`Outbox::supply_esp_spis`]), else random, at least 256 (1..=255
    /// are reserved, RFC 4303 2.1) and not in use by another of our SAs.
    pub(crate) fn alloc_esp_spi(
        &mut self,
        local: IpAddr,
        now: Instant,
        rng: &dyn SecureRandom,
    ) -> Option<u32> {
        if let Some(pool) = self.spi_pool.get_mut(&local) {
            while let Some((spi, at)) = pool.pop_front() {
                if now.saturating_duration_since(at) < SPI_POOL_MAX_AGE
                    && spi >= 256
                    && self.esp_spis.insert(spi)
                {
                    self.stats.esp_spis_reserved_used += 1;
                    return Some(spi);
                }
            }
        }
        self.stats.esp_spis_random += 1;
        for _ in 0..16 {
            let mut b = [0u8; 4];
            rng.fill(&mut b).ok()?;
            let spi = u32::from_be_bytes(b);
            if spi >= 256 && self.esp_spis.insert(spi) {
                return Some(spi);
            }
        }
        None
    }

    /// Returns an inbound SPI to the pool.
    pub(crate) fn free_esp_spi(&mut self, spi: u32) {
        self.esp_spis.remove(&spi);
    }

    /// SPIs the owner reserved in the kernel for SAs to `local`, at `now`.
    pub(crate) fn supply_esp_spis(&mut self, local: IpAddr, now: Instant, spis: &[u32]) {
        let pool = self.spi_pool.entry(local).or_default();
        pool.extend(spis.iter().map(|s| (*s, now)));
    }

    /// How many supplied SPIs for `local` are still fresh at `now`; stale
    /// ones are dropped.
    pub(crate) fn fresh_esp_spis(&mut self, local: IpAddr, now: Instant) -> usize {
        let Some(pool) = self.spi_pool.get_mut(&local) else {
            return 0;
        };
        pool.retain(|(_, at)| now.saturating_duration_since(*at) < SPI_POOL_MAX_AGE);
        pool.len()
    }

    /// A fresh IKE SA handle.
    pub(crate) fn alloc_sa_id(&mut self) -> SaId {
        self.next_sa = self.next_sa.wrapping_add(1);
        SaId(self.next_sa)
    }

    /// A fresh Child SA identifier (never zero).
    pub(crate) fn alloc_child_id(&mut self) -> ChildId {
        self.next_child = self.next_child.checked_add(1).unwrap_or(1);
        ChildId(self.next_child)
    }
}
