//! The connection manager's decisions, as a state machine without I/O (in
//! the manner of the `ike` core it drives): no tokio, no netlink, no
//! sockets.
//!
//! Inputs: complete sets of plans ([`Core::apply_plans`]), IKE datagrams
//! ([`Core::handle_datagram`]), time ([`Core::handle_timeout`],
//! [`Core::tick`]), kernel events ([`Core::xfrm_event`]) and the results of
//! the kernel operations it asked for ([`Core::kernel_result`],
//! [`Core::set_byte_counters`]). Outputs, polled by the driver: datagrams
//! ([`Core::poll_transmit`]), kernel operations ([`Core::poll_kernel_op`],
//! executed in order *before* the datagrams that follow them are sent, so
//! a Child SA is in the kernel before the answer that completes it leaves),
//! health-check targets ([`Core::poll_health_target`]), the next deadline
//! ([`Core::poll_timeout`]), and status ([`Core::connections`]).
//!
//! - [`ops`]: the kernel operations and how they are built.
//! - [`events`]: what each `ike` event does to the cables.
//! - [`plans`]: adding, rebuilding and removing cables.

pub mod events;
pub mod held;
pub mod ops;
pub mod plans;
pub mod selectors;
pub mod spis;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use healthcheck::LatencyInfo;
use ike::{Endpoint, FailureReason, RejectedBy, SaId, Transmit};
use xfrm::{PolicyId, XfrmEvent};

use super::cable::{Cable, CHILD_RETRY_MIN};
use super::peers::PeerKey;
use super::reqids::ReqIds;
use crate::crd::Connection;
use crate::metrics::{CableSample, IkeCounters};
use crate::status::CableState;
pub use ops::{InstalledSas, KernelOp, PairPolicies};

/// Kernel counters are read every this many ticks.
const COUNTER_TICKS: u64 = 5;

/// What the core needs besides the plans.
pub struct CoreSettings {
    /// The PSK as used in AUTH (the base64 text).
    pub psk: ike::crypto::SecretBytes,
    /// Local IKE / NAT-T port (CE_IPSEC_NATTPORT).
    pub natt_port: u16,
    /// IKE and Child SA lifetimes.
    pub lifetimes: ike::Lifetimes,
    /// Kernel packet limits of Child SAs.
    pub sa_limits: ops::SaLimits,
    /// The proposals of every peer.
    pub proposals: crate::manager::peers::ProposalSettings,
}

/// The manager's state machine (see the module docs).
pub struct Core {
    settings: CoreSettings,
    ep: Endpoint,
    cables: BTreeMap<String, Cable>,
    /// `ike` peer name -> where its pairs sit.
    peers: HashMap<String, PeerKey>,
    /// IKE SA -> peer name.
    sa_peer: HashMap<SaId, String>,
    reqids: ReqIds,
    /// Outbound SAs held back and SAs lingering (see [`held`]).
    held: held::Held,
    first_plans_seen: bool,
    /// Plans not built because their subnets clash, with why.
    refused: BTreeMap<String, (crate::cable::CablePlan, String)>,
    /// See [`Core::set_notes`].
    notes: BTreeMap<String, String>,
    ops: VecDeque<KernelOp>,
    /// Health-check targets to (re)start, by cable; `None` stops it.
    health: VecDeque<(String, Option<IpAddr>)>,
    counters: IkeCounters,
    ticks: u64,
    /// Inbound SPIs reserved in the kernel (see [`spis`]).
    reserved_spis: spis::ReservedSpis,
}

impl Core {
    pub fn new(settings: CoreSettings, ep: Endpoint) -> Self {
        Core {
            settings,
            ep,
            cables: BTreeMap::new(),
            peers: HashMap::new(),
            sa_peer: HashMap::new(),
            reqids: ReqIds::default(),
            held: held::Held::default(),
            first_plans_seen: false,
            refused: BTreeMap::new(),
            notes: BTreeMap::new(),
            ops: VecDeque::new(),
            health: VecDeque::new(),
            counters: IkeCounters::default(),
            ticks: 0,
            reserved_spis: spis::ReservedSpis::default(),
        }
    }

    /// An IKE datagram (non-ESP marker stripped) from `from`, to the local
    /// address `local` as the socket observed it (`IP_PKTINFO`); without
    /// it, the planned local address of the cable to `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: Option<IpAddr>,
        from: SocketAddr,
        msg: &[u8],
    ) {
        let local = match local {
            Some(ip) if !ip.is_unspecified() => SocketAddr::new(ip, self.settings.natt_port),
            _ => self.local_addr_for(from.ip()),
        };
        self.ep.handle_datagram(now, local, from, msg);
        self.drain_events(now);
    }

    /// Timers: the `ike` core's, then due re-initiations and Child SA
    /// retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        self.drain_events(now);
        self.reconcile(now);
        self.retries_due(now);
        self.drain_events(now);
        debug_assert!(
            self.poll_timeout().is_none_or(|t| t > now),
            "a deadline at or before now survived its handling"
        );
    }

    /// Once a second: reconciliation (see [`Core::reconcile`]) and, every
    /// few ticks, a read of the byte counters.
    pub fn tick(&mut self, now: Instant) {
        self.ticks += 1;
        self.release_held(now);
        self.reconcile(now);
        self.reserve_spis(now);
        // Not `is_multiple_of`: the workspace supports Rust 1.85.
        #[allow(clippy::manual_is_multiple_of)]
        if self.ticks % COUNTER_TICKS == 0 {
            for (name, c) in &self.cables {
                let (inbound, outbound) =
                    c.records().map(|r| (r.sas.inbound, r.sas.outbound)).unzip();
                self.ops.push_back(KernelOp::ReadCounters {
                    cable: name.clone(),
                    inbound,
                    outbound,
                });
            }
        }
    }

    /// A kernel event. A soft EXPIRE of one of our SAs (a packet limit:
    /// see [`ops::sa_lifetimes`]) rekeys its Child SA; a hard one (the
    /// kernel removed the SA) deletes the Child SA, whose pair
    /// reconciliation then asks for again.
    pub fn xfrm_event(&mut self, now: Instant, ev: XfrmEvent) {
        match ev {
            XfrmEvent::Expire(e) if e.sa.is_owned() => {
                let spi = e.sa.spi;
                let found = self.cables.iter_mut().find_map(|(name, c)| {
                    let id = *c
                        .children
                        .iter()
                        .chain(c.old_children.iter())
                        .find(|(_, r)| {
                            (r.sas.inbound.spi == spi && r.sas.inbound.dst == e.sa.dst)
                                || (r.sas.outbound.spi == spi && r.sas.outbound.dst == e.sa.dst)
                        })?
                        .0;
                    let rec = if e.hard {
                        c.take_child(&id)?
                    } else {
                        c.children
                            .get(&id)
                            .or_else(|| c.old_children.get(&id))?
                            .clone()
                    };
                    Some((name.clone(), rec))
                });
                let Some((cable, rec)) = found else {
                    tracing::debug!(
                        spi = format_args!("{spi:#010x}"),
                        hard = e.hard,
                        "EXPIRE of an SA no Child SA has"
                    );
                    return;
                };
                let limit = if e.hard { "hard" } else { "soft" };
                if e.hard {
                    tracing::warn!(cable = %cable, spi = format_args!("{spi:#010x}"), packets = e.sa.counters.packets,
                        "the kernel removed an SA at its hard limit: deleting its Child SA and asking again");
                    self.ops.push_back(KernelOp::RemoveSas {
                        cable: cable.clone(),
                        ids: vec![rec.sas.outbound, rec.sas.inbound],
                    });
                    self.ep.delete_child(now, rec.sas.inbound.spi);
                    if let Some(c) = self.cables.get_mut(&cable) {
                        c.refresh_state();
                    }
                } else if self.ep.rekey_child(now, rec.sas.inbound.spi) {
                    tracing::info!(cable = %cable, spi = format_args!("{spi:#010x}"), packets = e.sa.counters.packets,
                        "kernel {limit} limit reached: rekeying the Child SA");
                }
                self.drain_events(now);
            }
            XfrmEvent::Mapping(m) => {
                // Authenticated ESP came from a new address or port: IKE
                // follows if the peer is behind a NAT, and its
                // PeerAddressChanged moves the SAs.
                let sa = self
                    .cables
                    .values()
                    .find_map(|c| c.records().find(|r| r.sas.inbound == m.sa).map(|r| r.sa));
                match sa {
                    Some(sa) => {
                        if !self.ep.peer_moved(sa, m.new) {
                            tracing::debug!(old = %m.old, new = %m.new, "NAT mapping event not followed (peer not behind NAT)");
                        }
                        self.drain_events(now);
                    }
                    None => {
                        tracing::debug!(old = %m.old, new = %m.new, "NAT mapping event for an SA no Child SA has")
                    }
                }
            }
            XfrmEvent::Overrun => tracing::warn!("XFRM events were lost (receive buffer overrun)"),
            _ => {}
        }
    }

    /// The result of a kernel operation this core asked for.
    pub fn kernel_result(&mut self, now: Instant, op: &KernelOp, result: Result<(), String>) {
        let Err(e) = result else {
            if let KernelOp::InstallChild { .. } = op {
                self.counters.child_installed += 1;
            }
            return;
        };
        match op {
            KernelOp::InstallChild {
                cable,
                child,
                name,
                inbound,
                ..
            } => {
                self.counters.child_install_failures += 1;
                tracing::error!(cable = %cable, child = %name, "installing Child SA failed: {e}; deleting it and asking again");
                if let Some(c) = self.cables.get_mut(cable) {
                    c.children.remove(child);
                    c.state = CableState::Error(format!("installing Child SA {name}: {e}"));
                    // Not known to be in the kernel any more: the next
                    // Child SA of the pair installs them again.
                    if let Some(i) = c.plan.children.iter().position(|p| &p.name == name) {
                        c.policies.remove(&i);
                    }
                }
                // The peer must not send on a Child SA we have not got;
                // reconciliation asks for the pair again.
                self.held.forget_child(*child);
                self.ep.delete_child(now, inbound.spi);
                self.drain_events(now);
            }
            KernelOp::InstallOutbound { cable, .. } => {
                self.counters.child_install_failures += 1;
                tracing::error!(cable = %cable, "installing the outbound SA of a rekeyed Child SA failed: {e}");
                if let Some(c) = self.cables.get_mut(cable) {
                    c.state = CableState::Error(format!("installing a rekeyed outbound SA: {e}"));
                }
            }
            KernelOp::RemoveSas { cable, .. } => {
                tracing::warn!(cable = %cable, "removing SAs: {e}");
            }
            KernelOp::UpdateSas { cable, .. } => {
                tracing::error!(cable = %cable, "updating SAs to the peer's new NAT mapping failed: {e}");
            }
            KernelOp::RemovePolicies { cable, .. } => {
                tracing::warn!(cable = %cable, "removing policies: {e}");
            }
            KernelOp::RemoveLeftoversBetween { cable, .. } => {
                tracing::warn!(cable = %cable, "removing SAs of an earlier run: {e}");
            }
            KernelOp::RemoveUnplanned { .. } => {
                tracing::warn!("removing SAs and policies of an earlier run: {e}");
            }
            KernelOp::ReadCounters { cable, .. } => {
                tracing::debug!(cable = %cable, "reading byte counters: {e}");
            }
            KernelOp::HoldPolicies { cable, .. } => {
                tracing::warn!(cable = %cable, "installing the policies that hold a pair's traffic until its Child SA is up: {e}");
                // Not known to be in the kernel: the Child SA installs them.
                if let Some(c) = self.cables.get_mut(cable) {
                    let held: Vec<usize> = c
                        .policies
                        .iter()
                        .filter(|(i, _)| !c.children.values().any(|r| r.pair == **i))
                        .map(|(i, _)| *i)
                        .collect();
                    for i in held {
                        c.policies.remove(&i);
                    }
                }
            }
            KernelOp::ProbeInbound { .. } => {
                tracing::debug!("reading a new inbound SA's counter: {e}");
            }
            KernelOp::ReserveSpis { local, .. } => {
                tracing::warn!(
                    "reserving inbound SPIs for {local} in the kernel failed: {e}; random SPIs meanwhile"
                );
                self.spis_reserved(now, *local, &[]);
            }
        }
    }

    /// Keep [`spis::POOL_TARGET`] fresh reserved SPIs for every local
    /// address a cable uses (one reservation asked for at a time each).
    pub(super) fn reserve_spis(&mut self, now: Instant) {
        let locals: std::collections::BTreeSet<IpAddr> =
            self.cables.values().map(|c| c.plan.local_address).collect();
        for local in locals {
            let fresh = self.ep.fresh_esp_spis(local, now);
            if let Some(count) = self.reserved_spis.wanted(local, fresh, now) {
                self.ops.push_back(KernelOp::ReserveSpis { local, count });
            }
        }
    }

    /// SPIs reserved in the kernel for SAs to `local` (the answer to a
    /// [`KernelOp::ReserveSpis`]; empty when the kernel refused).
    pub fn spis_reserved(&mut self, now: Instant, local: IpAddr, spis: &[u32]) {
        self.reserved_spis.add(local, spis, now);
        self.ep.supply_esp_spis(local, now, spis);
    }

    /// A [`KernelOp::ProbeInbound`] read for the held outbound SA of
    /// `child`: inbound SA `sa` has seen `packets`.
    pub fn inbound_packets(&mut self, child: ike::ChildId, sa: xfrm::SaId, packets: u64) {
        let Some(h) = self.held.get_mut(child) else {
            return;
        };
        if h.inbound != sa {
            h.old_read(&sa, packets);
        } else if packets > 0 {
            self.inbound_used(child);
        }
    }

    /// Packets arrived on the inbound SA of `child`: the peer has
    /// installed the Child SA, so its held outbound SA goes in now.
    fn inbound_used(&mut self, child: ike::ChildId) {
        let Some(h) = self.held.take_child(child) else {
            return;
        };
        let alive = self
            .cables
            .get(&h.cable)
            .is_some_and(|c| c.has_child(&h.child));
        if alive {
            tracing::debug!(cable = %h.cable, "the peer sends on the new SA: installing the held outbound SA");
            self.ops.push_back(KernelOp::InstallOutbound {
                cable: h.cable,
                child: h.child,
                sa: h.sa,
            });
        }
    }

    /// Byte counters read for a [`KernelOp::ReadCounters`].
    pub fn set_byte_counters(&mut self, cable: &str, rx: u64, tx: u64) {
        if let Some(c) = self.cables.get_mut(cable) {
            c.rx_bytes = rx;
            c.tx_bytes = tx;
        }
    }

    /// The next datagram to send; none while kernel operations are
    /// pending, so the Child SA an answer completes is in the kernel before
    /// the answer leaves (the peer may send on it at once).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.ops.is_empty() {
            return None;
        }
        self.ep.poll_transmit()
    }

    pub fn poll_kernel_op(&mut self) -> Option<KernelOp> {
        self.ops.pop_front()
    }

    /// A cable's health check to (re)start towards an address, or to stop.
    pub fn poll_health_target(&mut self) -> Option<(String, Option<IpAddr>)> {
        self.health.pop_front()
    }

    /// The earliest instant [`Core::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retries = self.cables.values().filter_map(Cable::next_retry).min();
        [self.ep.poll_timeout(), retries, self.held.next()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the first set of plans has been applied.
    pub fn ready(&self) -> bool {
        self.first_plans_seen
    }

    /// Every cable's health-check target.
    pub fn health_targets(&self) -> Vec<(String, Option<IpAddr>)> {
        self.cables
            .iter()
            .map(|(n, c)| (n.clone(), health_target(&c.plan)))
            .collect()
    }

    /// Every cable as a Submariner `Connection`, health merged, then the
    /// refused ones (`error`, saying why).
    pub fn connections(&self, health: &dyn Fn(&str) -> Option<LatencyInfo>) -> Vec<Connection> {
        let built = self
            .cables
            .iter()
            .map(|(n, c)| c.connection(health(n).as_ref()));
        let refused = self.refused.values().map(|(plan, why)| {
            crate::status::connection_for_plan(plan, &CableState::Error(why.clone()))
        });
        built
            .chain(refused)
            .map(|mut c| {
                if let Some(note) = self.notes.get(&c.endpoint.cluster_id) {
                    c.status_message = if c.status_message.is_empty() {
                        note.clone()
                    } else {
                        format!("{}; {note}", c.status_message)
                    };
                }
                c
            })
            .collect()
    }

    /// Problems to show on remote clusters' connections, by cluster id
    /// (an Endpoint whose latest edit is invalid): they go into the status
    /// message, the status itself stays what the tunnel is.
    pub fn set_notes(&mut self, notes: BTreeMap<String, String>) {
        self.notes = notes;
    }

    /// Log the status transitions of every cable.
    pub fn log_transitions(&mut self, connections: &[Connection]) {
        for (cable, c) in self.cables.values_mut().zip(connections) {
            cable.log_transition(c);
        }
    }

    /// Every cable's metrics sample.
    pub fn samples(&self, health: &dyn Fn(&str) -> Option<LatencyInfo>) -> Vec<CableSample> {
        let built = self
            .cables
            .iter()
            .map(|(n, c)| c.sample(health(n).as_ref()));
        let refused = self.refused.values().map(|(plan, _)| CableSample {
            remote: plan.remote_endpoint.clone(),
            status: crate::crd::ConnectionStatus::Error.as_str().to_string(),
            established_unix: None,
            latency_seconds: None,
            rx_bytes: 0,
            tx_bytes: 0,
        });
        built.chain(refused).collect()
    }

    /// The counters, with the `ike` core's drop statistics.
    pub fn counters(&mut self) -> IkeCounters {
        let stats = self.ep.stats();
        self.counters.ike_dropped = stats.dropped_total();
        self.counters.cookies_sent = stats.cookies_sent;
        self.counters.fragments_sent = stats.fragments_sent;
        self.counters.fragments_received = stats.fragments_received;
        self.counters.messages_reassembled = stats.messages_reassembled;
        self.counters.invalid_ke_sent = stats.invalid_ke_sent;
        self.counters.invalid_ke_received = stats.invalid_ke_received;
        self.counters.clone()
    }

    /// The `ike` core (read-only: status, tests).
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The `ike` core, for tests that make it act on its own (a peer that
    /// deletes a Child SA); the events it raises are handled here.
    pub fn with_endpoint(&mut self, now: Instant, f: impl FnOnce(&mut Endpoint)) {
        f(&mut self.ep);
        self.drain_events(now);
    }

    /// Close every IKE SA (Deletes to send); events and pending kernel
    /// operations are dropped.
    pub fn shutdown(&mut self, now: Instant) {
        let sas: Vec<SaId> = self.ep.sas().iter().map(|s| s.sa).collect();
        for sa in sas {
            self.ep.close(now, sa);
        }
        while self.ep.poll_event().is_some() {}
        // The driver cleans the kernel as it is told to; nothing queued
        // holds the Deletes back.
        self.ops.clear();
    }

    /// The local address the peer at `remote` talks to (from the plans).
    fn local_addr_for(&self, remote: IpAddr) -> SocketAddr {
        let port = self.settings.natt_port;
        let planned = self
            .cables
            .values()
            .find(|c| c.plan.remote_address == remote)
            .or_else(|| self.cables.values().next())
            .map(|c| c.plan.local_address);
        SocketAddr::new(planned.unwrap_or(IpAddr::from([0, 0, 0, 0])), port)
    }

    fn cable_of_sa(&self, sa: SaId) -> Option<String> {
        let peer = self.sa_peer.get(&sa)?;
        if let Some(c) = peer.strip_prefix("superseded:") {
            return Some(c.to_string());
        }
        self.peers.get(peer).map(|k| k.cable.clone())
    }

    /// Level-triggered reconciliation: every planned pair of a cable that
    /// has no Child SA of the cable's current generation, while an
    /// established IKE SA of that generation could carry it, gets an
    /// attempt scheduled (after [`super::cable::CHILD_RETRY_MIN`], then
    /// backing off), whatever made it missing: refused, deleted by the
    /// peer, failed in the kernel, dropped from a redundant IKE SA. No
    /// decision waits for one particular failure event.
    pub(super) fn reconcile(&mut self, now: Instant) {
        let established: HashMap<SaId, ((bool, usize), bool)> = self
            .ep
            .sas()
            .into_iter()
            .filter(|s| s.established)
            .map(|s| (s.sa, ((!s.redundant, s.child_sas), s.initiator)))
            .collect();
        for c in self.cables.values_mut() {
            for pair in c.missing_pairs() {
                // The ike peer carrying this pair, and its index there.
                let Some((peer, index)) = c
                    .peers
                    .iter()
                    .filter_map(|p| self.peers.get(p).map(|k| (p, k.first_pair)))
                    .filter(|(_, first)| *first <= pair)
                    .max_by_key(|(_, first)| *first)
                    .map(|(p, first)| (p.clone(), pair - first))
                else {
                    continue;
                };
                // Its established IKE SA that stays when crossed
                // initiations left two (not the redundant one, on which
                // ike creates nothing: the peer may have put more Child
                // SAs there), then the one with the most Child SAs.
                let Some((sa, (_, initiator))) = c
                    .sas
                    .iter()
                    .filter(|s| self.sa_peer.get(s) == Some(&peer))
                    .filter_map(|s| established.get(s).map(|e| (*s, *e)))
                    .max_by_key(|(_, (n, _))| *n)
                else {
                    continue;
                };
                // Both sides reconcile: the IKE SA's initiator asks first,
                // the responder only if the pair is still missing well
                // after, so the two rarely both ask (a duplicate Child SA).
                let delay = if initiator {
                    CHILD_RETRY_MIN
                } else {
                    CHILD_RETRY_MIN * 4
                };
                c.child_retries.schedule_once((sa, index), now, delay);
            }
        }
    }

    /// Due re-initiations of peers and new attempts at missing Child SAs.
    fn retries_due(&mut self, now: Instant) {
        let mut peers = Vec::new();
        let mut children = Vec::new();
        for (name, cable) in &mut self.cables {
            for p in cable.retries.take_due(now) {
                peers.push((name.clone(), p));
            }
            for key in cable.child_retries.take_due(now) {
                children.push((name.clone(), key));
            }
        }
        for (cable, peer) in peers {
            self.initiate_peer(&cable, &peer, now);
        }
        for (cable, (sa, i)) in children {
            // Still missing? The peer may have brought it up meanwhile
            // (e.g. under its own IKE SA).
            let plan_pair = self
                .sa_peer
                .get(&sa)
                .and_then(|p| self.peers.get(p))
                .map(|k| k.first_pair + i);
            let missing = self
                .cables
                .get(&cable)
                .zip(plan_pair)
                .is_some_and(|(c, pair)| c.missing_pairs().contains(&pair));
            if !missing || !self.ep.create_child(now, sa, i) {
                // The pair has its Child SA after all, or the SA is gone.
                if let Some(c) = self.cables.get_mut(&cable) {
                    c.child_retries.clear(&(sa, i));
                }
            } else {
                tracing::info!(cable = %cable, pair_index = i, "asking the peer again for a refused or missing Child SA");
            }
        }
    }

    /// The policy identities of every planned pair, and the address pairs
    /// of every cable (what an earlier engine's entries may still serve).
    fn planned_kernel_entries(&self) -> (HashSet<(IpAddr, IpAddr)>, HashSet<PolicyId>) {
        let mut pairs = HashSet::new();
        let mut planned: HashSet<PolicyId> = HashSet::new();
        for c in self.cables.values() {
            pairs.insert((c.plan.local_address, c.plan.remote_address));
            for pair in &c.plan.children {
                let sel = xfrm::TrafficSelector::new(pair.local_subnet, pair.remote_subnet);
                let rev = xfrm::TrafficSelector::new(pair.remote_subnet, pair.local_subnet);
                for (s, d) in [
                    (sel, xfrm::Direction::Out),
                    (rev, xfrm::Direction::In),
                    (rev, xfrm::Direction::Fwd),
                ] {
                    planned.insert(PolicyId {
                        selector: s,
                        direction: d,
                        mark: None,
                        if_id: None,
                    });
                }
            }
        }
        (pairs, planned)
    }
}

/// One established Child SA of a cable's current generation, as `whack
/// --trafficstatus` lists it (the drop-in mode reads its byte counters
/// from the kernel SAs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildStatus {
    pub cable: String,
    /// The pair's name (libreswan's connection name).
    pub name: String,
    /// A number unique among the engine's Child SAs (libreswan's state
    /// serial).
    pub serial: u32,
    pub inbound: xfrm::SaId,
    pub outbound: xfrm::SaId,
    /// The peer's address.
    pub remote: IpAddr,
    /// The peer's identity in libreswan's notation.
    pub remote_id: String,
    /// The cable accepts its peer from any address (libreswan prints such
    /// instances with `[1] <address>`).
    pub any_peer: bool,
    pub since: Instant,
}

impl Core {
    /// Every established Child SA of the cables' current generations, by
    /// cable and pair order.
    pub fn child_statuses(&self) -> Vec<ChildStatus> {
        let mut v = Vec::new();
        for (name, c) in &self.cables {
            for (id, r) in &c.children {
                let Some(pair) = c.plan.children.get(r.pair) else {
                    continue;
                };
                v.push(ChildStatus {
                    cable: name.clone(),
                    name: pair.name.clone(),
                    serial: id.0,
                    inbound: r.sas.inbound,
                    outbound: r.sas.outbound,
                    remote: r.configs[0].src,
                    remote_id: pair.remote_id.to_string(),
                    any_peer: c.plan.role.accepts_any_peer_address(),
                    since: r.since,
                });
            }
        }
        v.sort_by_key(|s| (s.cable.clone(), s.name.clone(), s.serial));
        v
    }
}

/// A plan's health-check target: the remote's healthCheckIP of the cable's
/// family, if it has a valid one.
fn health_target(plan: &crate::cable::CablePlan) -> Option<IpAddr> {
    plan.remote_endpoint.health_check_addr(plan.family.is_v4())
}

/// Whether a Child SA the peer did not give us is worth asking for again
/// on the same IKE SA: not when we refused it (the peer retries its own)
/// or authentication is at stake.
fn worth_retrying(reason: &FailureReason) -> bool {
    !matches!(
        reason,
        FailureReason::NoProposalChosen(RejectedBy::Us)
            | FailureReason::TsUnacceptable(RejectedBy::Us)
            | FailureReason::AuthenticationFailed(_)
            | FailureReason::HalfOpenExpired
            | FailureReason::Timeout
    )
}
