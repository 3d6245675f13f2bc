//! [`Endpoint`]: the sans-IO entry point owning every IKE SA.
//!
//! The owner feeds it received datagrams ([`Endpoint::handle_datagram`],
//! the IKE message without the non-ESP marker) and the current time
//! ([`Endpoint::handle_timeout`] once [`Endpoint::poll_timeout`] is due),
//! starts SAs with [`Endpoint::initiate`], registers the peers it accepts
//! as a responder with [`Endpoint::add_peer`], and drains
//! [`Endpoint::poll_transmit`] and [`Endpoint::poll_event`] after each call.
//! Nothing here touches a socket, a clock, a thread or the kernel.
//!
//! Datagrams are routed by SPI: our SPI is the responder SPI in messages
//! the original initiator sent (Initiator flag set) and the initiator SPI
//! otherwise. First IKE_SA_INIT requests (responder SPI zero) are matched
//! by (sender, initiator SPI) against responder SAs so retransmissions
//! (and replays) get the cached IKE_SA_INIT response, and otherwise go to the stateless responder checks.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use ring::rand::{SecureRandom, SystemRandom};

use crate::config::{EndpointConfig, PeerConfig, TsPair};
use crate::crypto::{CookieSecrets, CryptoError};
use crate::event::{Event, FailureReason, SaId};
use crate::exchange::ike_sa_init_responder::{handle_init_request, ResponderEnv};
use crate::outbox::{Outbox, Transmit};
use crate::peer_sas;
use crate::sa::{Ctx, IkeSa, Phase, Task};
use crate::stats::{DropReason, Stats};
use crate::wire::{ExchangeType, Header};

/// Why [`Endpoint::initiate`] could not start an SA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitiateError {
    /// The configuration cannot be used (no DH group, ...).
    #[error("unusable peer configuration: {0:?}")]
    Config(FailureReason),
}

/// A summary of one IKE SA, for status reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaStatus {
    /// Handle.
    pub sa: SaId,
    /// Peer name ("" until a responder identified the peer).
    pub peer: String,
    /// Whether we initiated it.
    pub initiator: bool,
    /// Whether IKE_AUTH completed.
    pub established: bool,
    /// Peer address and port.
    pub remote: SocketAddr,
    /// Number of Child SAs.
    pub child_sas: usize,
    /// Whether it lost to a crossing IKE SA with the same peer and goes
    /// once the other carries its pairs (no Child SA is created on it).
    pub redundant: bool,
}

/// The IKE endpoint: many IKE SAs, one set of output queues.
pub struct Endpoint {
    config: EndpointConfig,
    rng: Arc<dyn SecureRandom + Send + Sync>,
    peers: Vec<Arc<PeerConfig>>,
    cookies: CookieSecrets,
    sas: HashMap<SaId, IkeSa>,
    by_spi: HashMap<u64, SaId>,
    init_index: HashMap<(SocketAddr, u64), SaId>,
    out: Outbox,
    /// Cached after every change ([`Endpoint::settle`]) so that a datagram
    /// that changes nothing costs no scan of the SAs: responder SAs not
    /// established (half-open, or lingering after a failed IKE_AUTH), in
    /// all and per source address, and the next deadline.
    pending: Pending,
}

#[derive(Default)]
struct Pending {
    half_open: usize,
    half_open_by_source: HashMap<IpAddr, usize>,
    next_timeout: Option<Instant>,
    /// How often the SAs were scanned (tests check that dropped datagrams
    /// cause none).
    #[cfg(test)]
    scans: usize,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("sas", &self.sas.len())
            .field("peers", &self.peers.len())
            .field("stats", &self.out.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint drawing randomness from the operating system. Fails
    /// only if the generator fails (creating the cookie secret).
    pub fn new(config: EndpointConfig) -> Result<Self, CryptoError> {
        Self::with_rng(config, Arc::new(SystemRandom::new()))
    }

    /// An endpoint with a caller-supplied random generator.
    pub fn with_rng(
        config: EndpointConfig,
        rng: Arc<dyn SecureRandom + Send + Sync>,
    ) -> Result<Self, CryptoError> {
        let cookies = CookieSecrets::new(&*rng)?;
        Ok(Endpoint {
            config,
            rng,
            peers: Vec::new(),
            cookies,
            sas: HashMap::new(),
            by_spi: HashMap::new(),
            init_index: HashMap::new(),
            out: Outbox::default(),
            pending: Pending::default(),
        })
    }

    /// The endpoint configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Accepts `peer` as a responder (replacing one with the same name).
    /// Responder SAs that have not authenticated their peer yet take the
    /// current peers as their candidates.
    pub fn add_peer(&mut self, peer: PeerConfig) {
        self.peers.retain(|p| p.name != peer.name);
        self.peers.push(Arc::new(peer));
        self.refresh_candidates();
    }

    /// Stops accepting the peer named `name` as a responder (established
    /// SAs stay until closed; responder SAs still waiting for IKE_AUTH take
    /// the current peers as their candidates).
    pub fn remove_peer(&mut self, name: &str) {
        self.peers.retain(|p| p.name != name);
        self.refresh_candidates();
    }

    /// A peer's configuration replaced while its IKE_SA_INIT was answered
    /// (a cable rebuilt as the peer starts its own new IKE SA): IKE_AUTH
    /// must match the configuration in force, not the one removed.
    fn refresh_candidates(&mut self) {
        for sa in self.sas.values_mut() {
            if !sa.initiator && sa.peer.is_none() && !sa.candidates.is_empty() {
                sa.candidates =
                    crate::exchange::ike_sa_init_responder::candidates(&self.peers, sa.remote);
            }
        }
    }

    /// Starts an IKE SA to `peer.remote` (which must be set): sends
    /// IKE_SA_INIT at `now`. Its Child SAs follow after IKE_AUTH.
    pub fn initiate(&mut self, now: Instant, peer: PeerConfig) -> Result<SaId, InitiateError> {
        let remote = peer
            .remote
            .ok_or(InitiateError::Config(FailureReason::Internal(
                "peer without address",
            )))?;
        let id = self.alloc_id();
        let mut sa = IkeSa::new_initiator(id, peer, remote, now, &*self.rng)
            .map_err(InitiateError::Config)?;
        if self.by_spi.contains_key(&sa.local_spi()) {
            return Err(InitiateError::Config(FailureReason::Internal(
                "SPI collision",
            )));
        }
        let mut ctx = Ctx {
            now,
            rng: &*self.rng,
            config: &self.config,
            out: &mut self.out,
        };
        sa.send_init(&mut ctx);
        self.by_spi.insert(sa.local_spi(), id);
        self.sas.insert(id, sa);
        self.settle(now);
        Ok(id)
    }

    /// Deletes an IKE SA with all its Child SAs (events are queued at once,
    /// the peer is told with an INFORMATIONAL Delete).
    pub fn close(&mut self, now: Instant, sa: SaId) {
        if let Some(s) = self.sas.get_mut(&sa) {
            let mut ctx = Ctx {
                now,
                rng: &*self.rng,
                config: &self.config,
                out: &mut self.out,
            };
            s.close(&mut ctx);
        }
        self.settle(now);
    }

    /// Rekeys a Child SA now (make-before-break), e.g. on the kernel's soft
    /// EXPIRE: `spi` is either SPI of the pair (inbound or outbound).
    /// Returns false if no Child SA has that SPI, it is not in use (being
    /// rekeyed already, or replaced), its rekey is queued already (the
    /// kernel reports the soft limit of both SAs of a pair), or too much
    /// is queued.
    pub fn rekey_child(&mut self, now: Instant, spi: u32) -> bool {
        let busy = self.sas.values().any(|s| {
            s.children
                .iter()
                .find(|c| c.spi_in == spi || c.spi_out == spi)
                .is_some_and(|c| {
                    c.state != crate::child::ChildState::Active
                        || s.tasks.contains(&Task::RekeyChild(c.spi_in))
                })
        });
        !busy && self.child_task(now, spi, Task::RekeyChild)
    }

    /// Adds a traffic-selector pair to an IKE SA's peer and creates a Child
    /// SA for it (CREATE_CHILD_SA), e.g. after the remote cluster announced
    /// a new subnet. Works from either side of the IKE SA. Returns the
    /// pair's index, or None if there is no such SA or too much is queued.
    pub fn add_child_pair(&mut self, now: Instant, sa: SaId, pair: TsPair) -> Option<usize> {
        let s = self.sas.get_mut(&sa)?;
        let peer = Arc::make_mut(s.peer.as_mut()?);
        let index = peer.children.len();
        peer.children.push(pair);
        self.queue_task(now, sa, Task::CreateChild(index))
            .then_some(index)
    }

    /// Adds a traffic-selector pair to an IKE SA's peer without creating
    /// its Child SA: the pair is accepted when the peer asks for it, and
    /// [`Endpoint::create_child`] can ask later (the side that did not
    /// initiate the IKE SA leaves the first request to the other, so that
    /// the two rarely both create one). Returns the pair's index, or None
    /// if there is no such SA or its peer is not known yet.
    pub fn add_pair(&mut self, sa: SaId, pair: TsPair) -> Option<usize> {
        let peer = Arc::make_mut(self.sas.get_mut(&sa)?.peer.as_mut()?);
        peer.children.push(pair);
        Some(peer.children.len() - 1)
    }

    /// Creates the Child SA of the peer's pair `pair_index` again on an
    /// established IKE SA, e.g. after the peer refused it (libreswan
    /// answers TS_UNACCEPTABLE until its connection for the pair is added).
    /// Returns false if there is no such SA or pair, the pair has a Child
    /// SA already, or too much is queued.
    pub fn create_child(&mut self, now: Instant, sa: SaId, pair_index: usize) -> bool {
        let Some(s) = self.sas.get(&sa) else {
            return false;
        };
        let exists = s
            .peer
            .as_ref()
            .is_some_and(|p| pair_index < p.children.len());
        if !exists
            || s.phase != Phase::Established
            || s.lost_to_duplicate
            || s.children.iter().any(|c| c.pair_index == pair_index)
        {
            return false;
        }
        self.queue_task(now, sa, Task::CreateChild(pair_index))
    }

    /// Rekeys an IKE SA now (its Child SAs move to the new one; see
    /// [`Event::IkeSaRekeyed`]). Returns false if there is no such SA.
    pub fn rekey_ike(&mut self, now: Instant, sa: SaId) -> bool {
        self.queue_task(now, sa, Task::RekeyIke)
    }

    /// Deletes a Child SA (both directions), telling the peer. `spi` is
    /// either SPI of the pair. Returns false if there is no such Child SA.
    pub fn delete_child(&mut self, now: Instant, spi: u32) -> bool {
        self.child_task(now, spi, Task::DeleteChild)
    }

    fn child_task(&mut self, now: Instant, spi: u32, task: fn(u32) -> Task) -> bool {
        let found = self.sas.iter().find_map(|(id, s)| {
            s.children
                .iter()
                .find(|c| c.spi_in == spi || c.spi_out == spi)
                .map(|c| (*id, c.spi_in))
        });
        let Some((id, spi_in)) = found else {
            return false;
        };
        self.queue_task(now, id, task(spi_in))
    }

    /// Queues an exchange on an IKE SA (unless its queue is full) and
    /// starts it if nothing is outstanding. False if there is no such SA
    /// or the queue is full.
    fn queue_task(&mut self, now: Instant, sa: SaId, task: Task) -> bool {
        let Some(s) = self.sas.get_mut(&sa) else {
            return false;
        };
        let mut ctx = Ctx {
            now,
            rng: &*self.rng,
            config: &self.config,
            out: &mut self.out,
        };
        let queued = s.queue_bounded(task, self.config.max_queued_exchanges);
        s.start_next_task(&mut ctx);
        self.settle(now);
        queued
    }

    /// Processes one received IKE message (without the non-ESP marker)
    /// that arrived on `local` from `remote`. Never panics; anything
    /// unusable is counted in [`stats`](Self::stats) and dropped.
    ///
    /// `local` must be the address the datagram was actually sent to
    /// (`IP_PKTINFO` on a wildcard socket), not `0.0.0.0`: it goes into the
    /// NAT detection hashes, and a wrong one looks like a NAT.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        if self.dispatch(now, local, remote, bytes) {
            self.settle(now);
        }
    }

    /// Returns whether an SA was created or handled the datagram (anything
    /// dropped before that changes nothing but counters: no scan of the
    /// SAs follows, so garbage costs the same with one SA or thousands).
    fn dispatch(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        self.out.stats.received += 1;
        let header = match Header::decode_datagram(bytes) {
            Ok(h) => h,
            Err(_) => {
                self.out.drop(remote, DropReason::Malformed);
                return false;
            }
        };
        let mut ctx = Ctx {
            now,
            rng: &*self.rng,
            config: &self.config,
            out: &mut self.out,
        };
        if header.exchange == ExchangeType::IKE_SA_INIT && header.is_request() && header.spi_r == 0
        {
            if let Some(id) = self.init_index.get(&(remote, header.spi_i)).copied() {
                if let Some(sa) = self.sas.get_mut(&id) {
                    if sa.init_request == bytes {
                        sa.resend_init_response(&mut ctx);
                    } else {
                        ctx.out.drop(remote, DropReason::OutOfWindow);
                    }
                }
                return false;
            }
            let id = ctx.out.alloc_sa_id();
            let by_spi = &self.by_spi;
            let in_use = |spi: u64| by_spi.contains_key(&spi);
            let env = ResponderEnv {
                cookies: &self.cookies,
                peers: &self.peers,
                half_open: self.pending.half_open,
                half_open_from_source: self
                    .pending
                    .half_open_by_source
                    .get(&remote.ip())
                    .copied()
                    .unwrap_or(0),
                spi_in_use: &in_use,
            };
            if let Some(sa) = handle_init_request(&mut ctx, &env, id, local, remote, bytes) {
                self.by_spi.insert(sa.local_spi(), id);
                self.init_index.insert((remote, header.spi_i), id);
                self.sas.insert(id, sa);
                return true;
            }
            return false;
        }
        let ours = if header.flags.is_initiator() {
            header.spi_r
        } else {
            header.spi_i
        };
        let Some(id) = self.by_spi.get(&ours).copied() else {
            ctx.out.drop(remote, DropReason::UnknownSpi);
            return false;
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return false;
        };
        // The other SPI must match too (except the first response, which
        // brings the responder's SPI).
        let theirs = if header.flags.is_initiator() {
            header.spi_i
        } else {
            header.spi_r
        };
        let known = u64::from_be_bytes(if sa.initiator { sa.spi_r } else { sa.spi_i });
        if known != 0 && theirs != known || sa.initiator == header.flags.is_initiator() {
            ctx.out.drop(remote, DropReason::UnknownSpi);
            return false;
        }
        sa.handle_message(&mut ctx, local, remote, &header, bytes);
        true
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        debug_assert_eq!(
            self.pending.next_timeout,
            self.scan_next_timeout(),
            "cached deadline out of date"
        );
        self.pending.next_timeout
    }

    fn scan_next_timeout(&self) -> Option<Instant> {
        self.sas
            .values()
            .filter_map(|s| s.next_timeout(&self.config))
            .min()
    }

    /// Runs every timer due at `now` (retransmissions, give-ups, half-open
    /// expiry).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<SaId> = self
            .sas
            .iter()
            .filter(|(_, s)| s.next_timeout(&self.config).is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(sa) = self.sas.get_mut(&id) {
                let mut ctx = Ctx {
                    now,
                    rng: &*self.rng,
                    config: &self.config,
                    out: &mut self.out,
                };
                sa.handle_timeout(&mut ctx);
            }
            self.settle(now);
        }
    }

    /// Inbound ESP SPIs reserved in the kernel (`XFRM_MSG_ALLOCSPI`) for
    /// SAs whose destination is `local`, at `now`. Child SAs to `local`
    /// take them oldest first while they are younger than
    /// [`SPI_POOL_MAX_AGE`](crate::SPI_POOL_MAX_AGE) (the kernel
    /// drops an unused reservation after 30 s); with none left, an SPI is
    /// drawn at random (counted in [`Stats::esp_spis_random`]).
    pub fn supply_esp_spis(&mut self, local: IpAddr, now: Instant, spis: &[u32]) {
        self.out.supply_esp_spis(local, now, spis);
    }

    /// How many reserved SPIs for `local` are still usable at `now`
    /// (stale ones are forgotten).
    pub fn fresh_esp_spis(&mut self, local: IpAddr, now: Instant) -> usize {
        self.out.fresh_esp_spis(local, now)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.out.stats
    }

    /// The last dropped datagram's sender and reason, for logs.
    pub fn last_drop(&self) -> Option<(SocketAddr, DropReason)> {
        self.out.last_drop
    }

    /// The kernel saw authenticated ESP of IKE SA `sa`'s Child SAs arrive
    /// from `new` (an XFRM MAPPING event: the peer's NAT made a new
    /// mapping). If the peer is behind a NAT, IKE follows it as it would
    /// an authenticated IKE message ([`Event::PeerAddressChanged`]);
    /// otherwise nothing changes. Returns whether it moved.
    pub fn peer_moved(&mut self, sa: SaId, new: SocketAddr) -> bool {
        let Some(s) = self.sas.get_mut(&sa) else {
            return false;
        };
        if s.phase != Phase::Established || !s.nat.remote_behind_nat || s.remote == new {
            return false;
        }
        let old = std::mem::replace(&mut s.remote, new);
        let peer = s.peer_name();
        self.out
            .event(Event::PeerAddressChanged { sa, peer, old, new });
        true
    }

    /// How many requests the peer has sent on IKE SA `sa` (the next
    /// message ID expected from it), if the SA exists. A request that
    /// follows one we answered proves the peer has our answer: the window
    /// of one outstanding request lets it send the next only then.
    pub fn peer_requests(&self, sa: SaId) -> Option<u32> {
        self.sas.get(&sa).map(|s| s.window.peer_next)
    }

    /// Status of every IKE SA.
    pub fn sas(&self) -> Vec<SaStatus> {
        let mut v: Vec<SaStatus> = self
            .sas
            .values()
            .map(|s| SaStatus {
                sa: s.id,
                peer: s.peer_name(),
                initiator: s.initiator,
                established: s.phase == Phase::Established,
                remote: s.remote,
                child_sas: s.children.len(),
                redundant: s.lost_to_duplicate,
            })
            .collect();
        v.sort_by_key(|s| s.sa);
        v
    }

    /// Rotates the cookie secret (call every few minutes when cookies are
    /// in use; the previous secret stays valid until the next rotation).
    pub fn rotate_cookie_secret(&mut self) {
        let _ = self.cookies.rotate(&*self.rng);
    }

    fn alloc_id(&mut self) -> SaId {
        self.out.alloc_sa_id()
    }

    /// After every input: adopts SAs created by handlers (IKE SA rekey),
    /// applies the cross-SA policies (INITIAL_CONTACT, duplicates) and
    /// removes dead SAs with their index entries.
    fn settle(&mut self, now: Instant) {
        for sa in self.out.spawned.drain(..) {
            self.by_spi.insert(sa.local_spi(), sa.id);
            self.sas.insert(sa.id, sa);
        }
        let contacts = std::mem::take(&mut self.out.initial_contacts);
        let mut ctx = Ctx {
            now,
            rng: &*self.rng,
            config: &self.config,
            out: &mut self.out,
        };
        peer_sas::settle(&mut self.sas, &mut ctx, contacts);
        let dead: Vec<SaId> = self
            .sas
            .values()
            .filter(|s| s.phase == Phase::Dead)
            .map(|s| s.id)
            .collect();
        for id in dead {
            if let Some(sa) = self.sas.remove(&id) {
                let spi = sa.local_spi();
                if self.by_spi.get(&spi) == Some(&id) {
                    self.by_spi.remove(&spi);
                }
            }
            self.init_index.retain(|_, v| *v != id);
        }
        self.recount();
    }

    /// Refreshes [`Pending`] (one scan of the SAs).
    fn recount(&mut self) {
        let mut p = Pending {
            next_timeout: self.scan_next_timeout(),
            ..Pending::default()
        };
        #[cfg(test)]
        {
            p.scans = self.pending.scans + 1;
        }
        for s in self.sas.values() {
            let pending = s.phase == Phase::HalfOpen
                || (!s.initiator && s.phase == Phase::Lingering && s.established_at.is_none());
            if pending {
                p.half_open += 1;
                *p.half_open_by_source.entry(s.remote.ip()).or_default() += 1;
            }
        }
        self.pending = p;
    }
}

#[cfg(test)]
mod tests {
    //! Work per datagram and what half-open SAs hold (issue 13, fault 1).

    use super::*;
    use crate::wire::Identity;

    const PSK: &[u8] = b"a cluster set's pre-shared key";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A preferred server (accepts its peer from any address) and an
    /// initiator's IKE_SA_INIT sent from `from`.
    fn init_from(from: SocketAddr) -> Vec<u8> {
        let peer = PeerConfig::new(
            "to-server",
            from,
            addr("198.51.100.2:4500"),
            Identity::Ipv4("10.0.0.1".parse().unwrap()),
            Identity::Ipv4("10.0.0.2".parse().unwrap()),
            PSK,
        );
        let mut a = Endpoint::new(EndpointConfig::default()).unwrap();
        a.initiate(Instant::now(), peer).unwrap();
        a.poll_transmit().unwrap().payload
    }

    fn server(config: EndpointConfig) -> Endpoint {
        let mut b = Endpoint::new(config).unwrap();
        let mut peer = PeerConfig::new(
            "to-client",
            addr("198.51.100.2:4500"),
            addr("192.0.2.1:4500"),
            Identity::Ipv4("10.0.0.2".parse().unwrap()),
            Identity::Ipv4("10.0.0.1".parse().unwrap()),
            PSK,
        );
        peer.remote = None;
        b.add_peer(peer);
        b
    }

    /// Before, every datagram counted the half-open SAs by scanning all
    /// SAs and then ran the cross-SA policies over all of them, copying
    /// peer names: garbage cost grew with the number of SAs. Now a
    /// datagram dropped before it reaches an SA scans nothing; one that
    /// creates or reaches an SA scans once.
    #[test]
    fn dropped_datagrams_scan_no_sas() {
        let mut b = server(EndpointConfig {
            cookie_threshold: None,
            ..EndpointConfig::default()
        });
        let now = Instant::now();
        let local = addr("198.51.100.2:4500");
        for i in 0..20u8 {
            let from = addr(&format!("203.0.113.{i}:4500"));
            b.handle_datagram(now, local, from, &init_from(from));
        }
        assert_eq!(b.sas().len(), 20);
        let scans = b.pending.scans;
        let from = addr("203.0.113.200:4500");
        let init = init_from(from);
        let mut unknown_spi = init.clone();
        unknown_spi[8..16].copy_from_slice(&[7; 8]); // a responder SPI nobody has
        let mut truncated = init.clone();
        truncated.truncate(40);
        for _ in 0..1000 {
            b.handle_datagram(now, local, from, &[0u8; 3]);
            b.handle_datagram(now, local, from, &unknown_spi);
            b.handle_datagram(now, local, from, &truncated);
            let _ = b.poll_timeout();
        }
        while b.poll_transmit().is_some() {}
        assert_eq!(b.pending.scans, scans, "dropped datagrams scanned the SAs");
        assert_eq!(b.stats().received, 20 + 3000);
        // An accepted request scans once, and is counted as half-open.
        b.handle_datagram(now, local, from, &init);
        assert_eq!(b.pending.scans, scans + 1);
        assert_eq!(b.pending.half_open, 21);
        assert_eq!(b.pending.half_open_by_source.get(&from.ip()), Some(&1));
    }

    /// Before, each half-open responder SA held a full copy of every
    /// candidate peer's configuration, pre-shared key included. Now it
    /// shares the endpoint's.
    #[test]
    fn half_open_sas_share_the_peer_configuration() {
        let mut b = server(EndpointConfig::default());
        let now = Instant::now();
        let from = addr("203.0.113.9:4500");
        b.handle_datagram(now, addr("198.51.100.2:4500"), from, &init_from(from));
        let sa = b.sas.values().next().expect("a half-open SA");
        assert_eq!(sa.phase, Phase::HalfOpen);
        assert_eq!(sa.candidates.len(), 1);
        assert!(Arc::ptr_eq(&sa.candidates[0], &b.peers[0]));
    }

    fn ts(s: &str) -> crate::wire::TsRange {
        crate::wire::TsRange::from_cidr(s.parse::<crate::wire::Cidr>().unwrap())
    }

    /// Delivers every queued datagram both ways until both are quiet;
    /// returns A's events.
    fn pump(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let mut moved = false;
            while let Some(t) = a.poll_transmit() {
                b.handle_datagram(now, t.remote, t.local, &t.payload);
                moved = true;
            }
            while let Some(t) = b.poll_transmit() {
                a.handle_datagram(now, t.remote, t.local, &t.payload);
                moved = true;
            }
            while let Some(e) = a.poll_event() {
                events.push(e);
            }
            while b.poll_event().is_some() {}
            if !moved {
                return events;
            }
        }
    }

    /// RFC 7296 2.25 (issue 13, fault 3): the peer answers our rekey with
    /// CHILD_SA_NOT_FOUND: it has no such Child SA (lost, or deleted with
    /// a Delete we missed). We delete ours silently and create the pair's
    /// Child SA from scratch. Before, the SA stayed installed (traffic into
    /// nothing) and its rekey was retried every 30 s for ever.
    #[test]
    fn child_sa_not_found_is_created_again() {
        let (ia, ib) = (
            Identity::Ipv4("10.0.0.1".parse().unwrap()),
            Identity::Ipv4("10.0.0.2".parse().unwrap()),
        );
        let (la, lb) = (addr("192.0.2.1:4500"), addr("198.51.100.2:4500"));
        let mut pa = PeerConfig::new("to-b", la, lb, ia.clone(), ib.clone(), PSK);
        pa.children.push(crate::TsPair {
            local: vec![ts("10.1.0.0/16")],
            remote: vec![ts("10.2.0.0/16")],
        });
        let mut pb = PeerConfig::new("to-a", lb, la, ib, ia, PSK);
        pb.children.push(crate::TsPair {
            local: vec![ts("10.2.0.0/16")],
            remote: vec![ts("10.1.0.0/16")],
        });
        let mut a = Endpoint::new(EndpointConfig::default()).unwrap();
        let mut b = Endpoint::new(EndpointConfig::default()).unwrap();
        b.add_peer(pb);
        let now = Instant::now();
        a.initiate(now, pa).unwrap();
        let events = pump(&mut a, &mut b, now);
        let old = events
            .iter()
            .find_map(|e| match e {
                Event::ChildSaEstablished(c) => Some(c.spi_in),
                _ => None,
            })
            .expect("a Child SA");
        // B loses its Child SA without a word.
        for sa in b.sas.values_mut() {
            sa.children.clear();
        }
        assert!(a.rekey_child(now, old));
        let events = pump(&mut a, &mut b, now);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == old)),
            "{events:?}"
        );
        assert!(
            events.iter().any(|e| matches!(
                e,
                Event::ChildSaEstablished(c) if c.pair_index == 0 && c.rekey_of.is_none()
            )),
            "{events:?}"
        );
        assert_eq!(a.sas()[0].child_sas, 1);
        assert_eq!(b.sas()[0].child_sas, 1);
    }
}
