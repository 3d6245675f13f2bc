//! The manager's task: one loop that feeds the `ike` core with datagrams,
//! timer expiries and new plans, and turns what comes out into datagrams,
//! kernel programming and status.
//!
//! Every iteration first drains the core (datagrams to send, then events),
//! then waits for the first of: shutdown, a new set of plans, a datagram, the
//! core's or a retry's deadline, an XFRM event, or the status tick.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use healthcheck::{Pinger, PingerConfig};
use ike::{ChildSaInfo, CloseReason, Endpoint, Event, FailureReason, IkeSaInfo, RejectedBy, SaId};
use tokio::sync::{mpsc, watch};
use xfrm::{PolicyId, ReqId, XfrmClient, XfrmEvent, XfrmEvents};

use super::cable::{Cable, ChildRecord};
use super::deferred::{self, Deferred, DeferredOutbound, OUTBOUND_DELAY};
use super::kernel;
use super::peers::{peer_configs, PeerKey};
use super::reconcile::Leftovers;
use super::reqids::ReqIds;
use super::socket::{classify, IkeSocket, Received};
use super::{ManagerCommand, ManagerSettings};
use crate::cable::{CablePlan, PlanDiff};
use crate::crd::Connection;
use crate::http::Health;
use crate::metrics::{CableSample, IkeCounters, MetricsSnapshot};
use crate::status::CableState;
use std::sync::Arc;

/// How often status is published (the Gateway CR is written every 5 s from it).
const STATUS_TICK: Duration = Duration::from_secs(1);

/// Run the manager until `shutdown` completes. Fails only when it cannot
/// start (socket, netlink); everything after that is reported in status.
pub async fn run(
    settings: ManagerSettings,
    mut commands: mpsc::Receiver<ManagerCommand>,
    outputs: Outputs,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let socket = IkeSocket::bind(settings.natt_port).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the IKE socket on UDP port {}: {e}",
            settings.natt_port
        )
    })?;
    let xfrm = XfrmClient::connect()
        .map_err(|e| anyhow::anyhow!("cannot open the XFRM netlink socket: {e}"))?;
    let mut events = XfrmEvents::subscribe()
        .map_err(|e| anyhow::anyhow!("cannot subscribe to XFRM events: {e}"))?;
    let leftovers = Leftovers::load(&xfrm).await.unwrap_or_else(|e| {
        tracing::warn!("cannot list the engine's kernel entries from before: {e}");
        Leftovers::default()
    });
    if !leftovers.sas.is_empty() || !leftovers.policies.is_empty() {
        tracing::info!(
            sas = leftovers.sas.len(),
            policies = leftovers.policies.len(),
            "found SAs and policies of an earlier run: keeping them until the cables are rebuilt"
        );
    }
    let endpoint =
        Endpoint::new(settings.ike.clone()).map_err(|e| anyhow::anyhow!("IKE core: {e}"))?;
    let mut m = Manager {
        settings,
        ep: endpoint,
        xfrm,
        socket,
        cables: BTreeMap::new(),
        peers: HashMap::new(),
        sa_peer: HashMap::new(),
        reqids: ReqIds::default(),
        deferred: DeferredOutbound::default(),
        leftovers,
        first_plans_seen: false,
        outputs,
        counters: IkeCounters::default(),
        sync_iterations: 0,
        ticks: 0,
    };
    tracing::info!(port = m.socket.port(), "IKE listening");

    tokio::pin!(shutdown);
    let mut buf = vec![0u8; 65536];
    let mut tick = tokio::time::interval(STATUS_TICK);
    let mut commands_open = true;
    loop {
        m.flush().await;
        let deadline = m
            .next_deadline()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = &mut shutdown => break,
            cmd = commands.recv(), if commands_open => match cmd {
                Some(ManagerCommand::Plans(plans)) => m.apply_plans(plans).await,
                Some(ManagerCommand::LocalHealthIp(ip)) => m.set_local_health_ip(ip),
                None => commands_open = false,
            },
            r = m.socket.recv(&mut buf) => match r {
                Ok((n, from)) => m.datagram(&buf[..n.min(buf.len())], from),
                Err(e) => tracing::warn!("IKE socket receive: {e}"),
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => m.timers(Instant::now()),
            ev = events.next() => match ev {
                Some(ev) => m.xfrm_event(ev),
                None => {
                    tracing::warn!("XFRM event stream ended; resubscribing");
                    if let Ok(e) = XfrmEvents::subscribe() { events = e; }
                }
            },
            _ = tick.tick() => m.tick().await,
        }
    }
    m.shutdown().await;
    Ok(())
}

struct Manager {
    settings: ManagerSettings,
    ep: Endpoint,
    xfrm: XfrmClient,
    socket: IkeSocket,
    cables: BTreeMap<String, Cable>,
    /// `ike` peer name -> where its pairs sit.
    peers: HashMap<String, PeerKey>,
    /// IKE SA -> peer name.
    sa_peer: HashMap<SaId, String>,
    reqids: ReqIds,
    /// New outbound SAs of rekeys the peer started, not installed yet.
    deferred: DeferredOutbound<(ChildSaInfo, ReqId)>,
    leftovers: Leftovers,
    first_plans_seen: bool,
    outputs: Outputs,
    counters: IkeCounters,
    sync_iterations: u64,
    ticks: u64,
}

/// Where the manager reports: connection status (control socket, Gateway
/// CR), metrics, and liveness/readiness.
pub struct Outputs {
    pub status: watch::Sender<Vec<Connection>>,
    pub metrics: watch::Sender<MetricsSnapshot>,
    pub health: Arc<Health>,
}

/// Kernel counters are read every this many status ticks.
const COUNTER_TICKS: u64 = 5;

/// A Child SA install (SAs and policies) slower than this is reported: the
/// loop handles no IKE message meanwhile. The first ESP SA after boot makes
/// the kernel load esp4/esp6 and the AES-GCM modules (and self-test the
/// algorithms): in a lab run (emulated VM) both engines of a pair sat
/// 2.47 s in that install at once, their crossed IKE_AUTH answers unread
/// in the socket, and the bench's first set-up of a boot is ~1.9 s slower
/// than the next ones; a warm kernel installs in milliseconds.
const SLOW_INSTALL: Duration = Duration::from_secs(1);

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

fn reason_text(reason: &FailureReason) -> String {
    match reason {
        FailureReason::NoProposalChosen(RejectedBy::Us) => {
            "no acceptable proposal from the peer".into()
        }
        FailureReason::NoProposalChosen(RejectedBy::Peer) => {
            "the peer accepted none of our proposals".into()
        }
        FailureReason::AuthenticationFailed(RejectedBy::Us) => {
            "authentication failed: the peer's PSK or identity is not the expected one".into()
        }
        FailureReason::AuthenticationFailed(RejectedBy::Peer) => {
            "authentication failed: the peer rejected our PSK or identity".into()
        }
        FailureReason::TsUnacceptable(by) => format!("traffic selectors refused ({by:?})"),
        FailureReason::InvalidKeRetriesExhausted { requested } => {
            format!("the peer insists on DH group {requested}, which we cannot do")
        }
        FailureReason::CookieRetriesExhausted => "the peer kept answering with cookies".into(),
        FailureReason::Timeout => "no answer from the peer (timed out)".into(),
        FailureReason::HalfOpenExpired => "the peer did not complete IKE_AUTH".into(),
        FailureReason::PeerError(n) => format!("the peer answered with error {n:?}"),
        FailureReason::InvalidResponse(what) => format!("invalid response from the peer: {what}"),
        FailureReason::Internal(what) => format!("internal error: {what}"),
    }
}

/// A short label for a failure reason (metrics).
fn reason_key(reason: &FailureReason) -> &'static str {
    match reason {
        FailureReason::NoProposalChosen(_) => "no_proposal_chosen",
        FailureReason::AuthenticationFailed(_) => "authentication_failed",
        FailureReason::TsUnacceptable(_) => "ts_unacceptable",
        FailureReason::InvalidKeRetriesExhausted { .. } => "invalid_ke",
        FailureReason::CookieRetriesExhausted => "cookie",
        FailureReason::Timeout => "timeout",
        FailureReason::HalfOpenExpired => "half_open_expired",
        FailureReason::PeerError(_) => "peer_error",
        FailureReason::InvalidResponse(_) => "invalid_response",
        FailureReason::Internal(_) => "internal",
    }
}

impl Manager {
    fn next_deadline(&self) -> Option<Instant> {
        let retries = self.cables.values().filter_map(Cable::next_retry).min();
        match (self.ep.poll_timeout(), retries) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Send what the core wants sent and act on its events, until both are empty.
    async fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.ep.poll_transmit() {
                progressed = true;
                if let Err(e) = self
                    .socket
                    .send(t.remote, &t.payload, t.non_esp_marker)
                    .await
                {
                    tracing::debug!(to = %t.remote, "IKE send failed: {e}");
                }
            }
            while let Some(ev) = self.ep.poll_event() {
                progressed = true;
                self.event(ev).await;
            }
            if !progressed {
                break;
            }
        }
    }

    fn datagram(&mut self, data: &[u8], from: std::net::SocketAddr) {
        match classify(data) {
            Received::Ike(msg) => {
                let local = self.local_addr_for(from.ip());
                self.ep.handle_datagram(Instant::now(), local, from, msg);
            }
            Received::Keepalive => {}
            Received::Other(why) => tracing::debug!(%from, "dropped datagram: {why}"),
        }
    }

    /// The local address the peer at `remote` talks to (from the plans).
    fn local_addr_for(&self, remote: IpAddr) -> std::net::SocketAddr {
        let port = self.settings.natt_port;
        let planned = self
            .cables
            .values()
            .find(|c| c.plan.remote_address == remote)
            .or_else(|| self.cables.values().next())
            .map(|c| c.plan.local_address);
        std::net::SocketAddr::new(planned.unwrap_or(IpAddr::from([0, 0, 0, 0])), port)
    }

    fn timers(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
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
                tracing::info!(cable = %cable, pair_index = i, "asking the peer again for a refused Child SA");
            }
        }
    }

    fn initiate_peer(&mut self, cable_name: &str, peer_name: &str, now: Instant) {
        let Some(cable) = self.cables.get_mut(cable_name) else {
            return;
        };
        let configs = peer_configs(
            &cable.plan,
            self.settings.psk.expose(),
            self.settings.lifetimes,
        );
        let Some((peer, _)) = configs.into_iter().find(|(p, _)| p.name == peer_name) else {
            return;
        };
        match self.ep.initiate(now, peer) {
            Ok(sa) => {
                tracing::info!(cable = cable_name, peer = peer_name, "initiating IKE SA");
                cable.sas.insert(sa);
                self.sa_peer.insert(sa, peer_name.to_string());
            }
            Err(e) => {
                let backoff = cable.retries.schedule(peer_name.to_string(), now);
                cable.state =
                    CableState::Error(format!("cannot initiate: {e}; retrying in {backoff:?}"));
            }
        }
    }

    async fn apply_plans(&mut self, plans: BTreeMap<String, CablePlan>) {
        let now = Instant::now();
        // Keyed by cable name here, whatever the caller keyed them by.
        let plans: BTreeMap<String, CablePlan> = plans
            .into_values()
            .map(|p| (p.cable_name.clone(), p))
            .collect();
        let gone: Vec<String> = self
            .cables
            .keys()
            .filter(|k| !plans.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            tracing::info!(cable = %name, "remote Endpoint removed: disconnecting");
            self.remove_cable(&name, now).await;
        }
        for (name, plan) in plans {
            let diff = self
                .cables
                .get(&name)
                .map(|c| PlanDiff::between(&c.plan, &plan));
            match diff {
                None => self.add_cable(plan, now).await,
                Some(d) if !d.touches_sas() => {
                    // Only the remote Endpoint's other fields (hostname,
                    // healthCheckIP, ...) changed: the tunnel stays; the
                    // health check follows a new healthCheckIP.
                    let pinger = (d.endpoint_changed
                        && self.cables.get(&name).is_some_and(|c| {
                            c.plan.remote_endpoint.health_check_ip
                                != plan.remote_endpoint.health_check_ip
                        }))
                    .then(|| self.pinger_for(&plan));
                    if let Some(c) = self.cables.get_mut(&name) {
                        if let Some(p) = pinger {
                            tracing::info!(cable = %name, target = %plan.remote_endpoint.health_check_ip, "remote healthCheckIP changed: restarting the health check");
                            c.pinger = p;
                        }
                        c.plan = plan;
                    }
                }
                Some(d) => {
                    tracing::info!(cable = %name, ike_changed = d.ike_changed, added = d.added.len(), removed = d.removed.len(), "remote Endpoint changed: rebuilding the cable");
                    self.replace_cable(plan, &d, now).await;
                }
            }
        }
        if !self.first_plans_seen {
            self.first_plans_seen = true;
            self.drop_unplanned_leftovers().await;
            self.outputs.health.set_ready();
        }
        self.publish();
    }

    /// Restart every health check from the new source address.
    fn set_local_health_ip(&mut self, ip: Option<IpAddr>) {
        if self.settings.local_health_ip == ip {
            return;
        }
        tracing::info!(
            "local healthCheckIP {} -> {}: restarting health checks",
            self.settings
                .local_health_ip
                .map_or("-".into(), |a| a.to_string()),
            ip.map_or("-".into(), |a| a.to_string())
        );
        self.settings.local_health_ip = ip;
        let pingers: Vec<(String, Option<Pinger>)> = self
            .cables
            .iter()
            .map(|(name, c)| (name.clone(), self.pinger_for(&c.plan)))
            .collect();
        for (name, pinger) in pingers {
            if let Some(c) = self.cables.get_mut(&name) {
                c.pinger = pinger;
            }
        }
    }

    fn pinger_for(&self, plan: &CablePlan) -> Option<Pinger> {
        let health = self.settings.health?;
        let target: IpAddr = plan.remote_endpoint.health_check_ip.parse().ok()?;
        Some(Pinger::start(PingerConfig {
            source: self.settings.local_health_ip,
            target,
            interval: health.interval,
            max_loss: health.max_loss,
        }))
    }

    async fn add_cable(&mut self, plan: CablePlan, now: Instant) {
        let name = plan.cable_name.clone();
        tracing::info!(cable = %name, "{}", plan.summary());
        let configs = peer_configs(&plan, self.settings.psk.expose(), self.settings.lifetimes);
        let initiates = plan.role.initiates();
        let pinger = self.pinger_for(&plan);
        let mut cable = Cable::new(
            plan,
            configs.iter().map(|(p, _)| p.name.clone()).collect(),
            pinger,
        );
        if !initiates {
            cable.state = CableState::Connecting(
                "waiting for the peer to initiate (preferred server)".into(),
            );
        }
        let mut to_initiate = Vec::new();
        for (peer, key) in configs {
            self.peers.insert(peer.name.clone(), key);
            if initiates {
                to_initiate.push(peer.name.clone());
            }
            self.ep.add_peer(peer);
        }
        self.cables.insert(name.clone(), cable);
        for p in to_initiate {
            self.initiate_peer(&name, &p, now);
        }
    }

    /// Rebuild a changed cable make-before-break: the old IKE SAs keep
    /// carrying traffic until the new ones have every pair installed.
    async fn replace_cable(&mut self, plan: CablePlan, diff: &PlanDiff, now: Instant) {
        let name = plan.cable_name.clone();
        let Some(mut old) = self.cables.remove(&name) else {
            return;
        };
        for pair in &diff.removed {
            if let Some(i) = old.plan.children.iter().position(|c| c.name == pair.name) {
                if let Some(p) = old.policies.remove(&i) {
                    let _ = kernel::remove_policies(&self.xfrm, &p).await;
                }
                self.reqids.release(&pair.name);
            }
        }
        for peer in &old.peers {
            self.ep.remove_peer(peer);
            self.peers.remove(peer);
        }
        // Old SAs: keep them (and their children) until the new cable is whole.
        let superseded: Vec<SaId> = old.sas.iter().copied().collect();
        let old_children = std::mem::take(&mut old.children);
        drop(old);
        self.add_cable(plan, now).await;
        if let Some(c) = self.cables.get_mut(&name) {
            c.superseded.extend(superseded.iter().copied());
            for (id, rec) in old_children {
                // Children of the old SAs whose pair no longer exists are
                // removed now; the rest wait for their SA to be closed.
                c.children.insert(id, rec);
            }
            c.children.retain(|_, r| r.pair < c.plan.children.len());
        }
        for sa in superseded {
            self.sa_peer.insert(sa, format!("superseded:{name}"));
        }
    }

    async fn remove_cable(&mut self, name: &str, now: Instant) {
        let Some(cable) = self.cables.remove(name) else {
            return;
        };
        self.deferred.forget_cable(name);
        for peer in &cable.peers {
            self.ep.remove_peer(peer);
            self.peers.remove(peer);
        }
        for sa in cable.sas.iter().chain(cable.superseded.iter()) {
            self.ep.close(now, *sa);
            self.sa_peer.remove(sa);
        }
        for rec in cable.children.values() {
            if let Err(e) = kernel::remove_sas(&self.xfrm, &rec.sas).await {
                tracing::warn!(cable = name, "removing SAs: {e}");
            }
        }
        for p in cable.policies.values() {
            if let Err(e) = kernel::remove_policies(&self.xfrm, p).await {
                tracing::warn!(cable = name, "removing policies: {e}");
            }
        }
        for pair in &cable.plan.children {
            self.reqids.release(&pair.name);
        }
    }

    fn cable_of_sa(&self, sa: SaId) -> Option<String> {
        let peer = self.sa_peer.get(&sa)?;
        if let Some(c) = peer.strip_prefix("superseded:") {
            return Some(c.to_string());
        }
        self.peers.get(peer).map(|k| k.cable.clone())
    }

    async fn event(&mut self, ev: Event) {
        match ev {
            Event::IkeSaEstablished(info) => self.ike_up(info),
            Event::ChildSaEstablished(info) => self.child_up(*info).await,
            Event::IkeSaFailed { sa, peer, reason } => self.ike_failed(sa, &peer, &reason),
            Event::ChildSaFailed {
                sa,
                peer,
                pair_index,
                reason,
            } => {
                let text = reason_text(&reason);
                let now = Instant::now();
                let mut retry = None;
                if let Some(c) = self.cable_of_sa(sa).and_then(|n| self.cables.get_mut(&n)) {
                    // The peer refused a pair we asked for (libreswan does so
                    // until its connection for the pair is added): ask again
                    // later, on the same IKE SA. Refusals of ours are the
                    // peer's to retry.
                    if let (Some(i), true) = (pair_index, worth_retrying(&reason)) {
                        retry = Some(c.child_retries.schedule((sa, i), now));
                    }
                    // Asking again is still connecting (the health check
                    // through the other pairs must not make it `connected`);
                    // a refusal nobody retries is an error.
                    if c.state != CableState::Connected {
                        c.state = match retry {
                            Some(d) => CableState::Connecting(format!(
                                "Child SA failed: {text}; asking again in {d:?}"
                            )),
                            None => CableState::Error(format!("Child SA failed: {text}")),
                        };
                    }
                }
                tracing::warn!(peer = %peer, ?pair_index, "Child SA failed: {text}{}", retry.map_or(String::new(), |d| format!("; retrying in {d:?}")));
            }
            Event::ChildSaDeleted { sa, child, .. } => self.child_down(sa, child).await,
            Event::IkeSaClosed { sa, peer, reason } => self.ike_closed(sa, &peer, &reason),
            Event::IkeSaRekeyed { old, new, info } => self.ike_rekeyed(old, new, &info),
        }
    }

    fn ike_up(&mut self, info: IkeSaInfo) {
        self.sa_peer.insert(info.sa, info.peer.clone());
        let Some(key) = self.peers.get(&info.peer).cloned() else {
            return;
        };
        let role = if info.initiator {
            "initiator"
        } else {
            "responder"
        };
        *self
            .counters
            .ike_established
            .entry(role.to_string())
            .or_default() += 1;
        if let Some(c) = self.cables.get_mut(&key.cable) {
            c.sas.insert(info.sa);
            c.retries.clear(&info.peer);
            tracing::info!(
                cable = %key.cable, remote = %info.remote, initiator = info.initiator,
                nat = info.nat_local || info.nat_remote,
                "IKE SA established ({:?}/{:?}/{:?})", info.algorithms.encr, info.algorithms.prf, info.algorithms.dh
            );
            if c.state != CableState::Connected {
                c.state =
                    CableState::Connecting("IKE SA established, negotiating Child SAs".into());
            }
        }
    }

    async fn child_up(&mut self, info: ChildSaInfo) {
        let Some(key) = self.peers.get(&info.peer).cloned() else {
            tracing::warn!(peer = %info.peer, "Child SA for an unknown peer: not installed");
            return;
        };
        let Some(cable) = self.cables.get(&key.cable) else {
            return;
        };
        let pair = key.first_pair + info.pair_index;
        let Some(pair_plan) = cable.plan.children.get(pair).cloned() else {
            tracing::warn!(cable = %key.cable, pair, "Child SA for a pair not in the plan: not installed");
            return;
        };
        let reqid = self.reqids.get(&pair_plan.name);
        let peer_rekey_of = deferred::peer_rekey_of(&info);
        let outbound_now = peer_rekey_of.is_none();
        // The IKE loop waits while the kernel installs (see SLOW_INSTALL).
        let started = Instant::now();
        let installed = match kernel::install_sas(&self.xfrm, &info, reqid, outbound_now).await {
            Ok(s) => s,
            Err(e) => {
                self.counters.child_install_failures += 1;
                tracing::error!(cable = %key.cable, child = %pair_plan.name, "installing Child SA failed: {e}");
                if let Some(c) = self.cables.get_mut(&key.cable) {
                    c.state =
                        CableState::Error(format!("installing Child SA {}: {e}", pair_plan.name));
                }
                return;
            }
        };
        self.counters.child_installed += 1;
        if info.rekey_of.is_some() {
            self.counters.child_rekeys += 1;
        }
        if let Some(old_spi) = peer_rekey_of {
            self.deferred.push(Deferred {
                cable: key.cable.clone(),
                child: info.child,
                replaces_spi_in: old_spi,
                due: Instant::now() + OUTBOUND_DELAY,
                payload: (info.clone(), reqid),
            });
        }
        if let Some(c) = self.cables.get_mut(&key.cable) {
            c.child_retries.clear(&(info.sa, info.pair_index));
            c.sas.insert(info.sa);
            c.children.insert(
                info.child,
                ChildRecord {
                    sa: info.sa,
                    pair,
                    sas: installed,
                },
            );
        }
        // Policies after the SAs; replaced in place for every new Child SA so
        // they always point at the pair's current tunnel endpoints.
        match kernel::install_policies(
            &self.xfrm,
            pair_plan.local_subnet,
            pair_plan.remote_subnet,
            info.local_addr,
            info.remote_addr,
            reqid,
        )
        .await
        {
            Ok(p) => {
                if let Some(c) = self.cables.get_mut(&key.cable) {
                    c.policies.insert(pair, p);
                }
            }
            Err(e) => {
                tracing::error!(cable = %key.cable, child = %pair_plan.name, "installing policies failed: {e}");
                if let Some(c) = self.cables.get_mut(&key.cable) {
                    c.state = CableState::Error(format!(
                        "installing policies for {}: {e}",
                        pair_plan.name
                    ));
                }
                return;
            }
        }
        let took = started.elapsed();
        tracing::info!(
            cable = %key.cable, child = %pair_plan.name, spi_in = format_args!("{:#010x}", info.spi_in),
            spi_out = format_args!("{:#010x}", info.spi_out), encap = ?info.encapsulation,
            install_ms = took.as_millis(), "Child SA installed"
        );
        if took >= SLOW_INSTALL {
            tracing::warn!(
                cable = %key.cable,
                "the kernel took {took:.1?} to install a Child SA (IKE messages waited meanwhile); \
                 the first ESP SA after boot loads the esp4/esp6 and AES-GCM modules"
            );
        }
        let (whole, local, remote, superseded) = match self.cables.get_mut(&key.cable) {
            Some(c) => {
                let became = c.refresh_state();
                if became {
                    tracing::info!(cable = %key.cable, "cable connected ({} Child SAs)", c.plan.children.len());
                }
                (
                    c.is_whole(),
                    c.plan.local_address,
                    info.remote_addr,
                    std::mem::take(&mut c.superseded),
                )
            }
            None => return,
        };
        if whole {
            let n = self
                .leftovers
                .remove_sas_between(&self.xfrm, local, remote)
                .await;
            if n > 0 {
                tracing::info!(cable = %key.cable, "removed {n} SAs left by an earlier run");
            }
            let now = Instant::now();
            for sa in superseded {
                self.ep.close(now, sa);
            }
        } else if let Some(c) = self.cables.get_mut(&key.cable) {
            c.superseded = superseded;
        }
    }

    async fn child_down(&mut self, sa: SaId, child: ike::ChildId) {
        let Some(name) = self.cable_of_sa(sa) else {
            return;
        };
        let Some(rec) = self
            .cables
            .get_mut(&name)
            .and_then(|c| c.children.remove(&child))
        else {
            return;
        };
        // The peer switched to the Child SA that replaces this one: its
        // outbound SA goes in before this one's goes out.
        self.deferred.forget(child);
        for d in self.deferred.take_replacing(rec.sas.inbound.spi) {
            self.install_deferred(d).await;
        }
        if let Err(e) = kernel::remove_sas(&self.xfrm, &rec.sas).await {
            tracing::warn!(cable = %name, "removing a deleted Child SA: {e}");
        }
        if let Some(c) = self.cables.get_mut(&name) {
            c.refresh_state();
        }
    }

    /// Install a deferred outbound SA, unless its Child SA is gone.
    async fn install_deferred(&mut self, d: Deferred<(ChildSaInfo, ReqId)>) {
        let alive = self
            .cables
            .get(&d.cable)
            .is_some_and(|c| c.children.contains_key(&d.child));
        if !alive {
            return;
        }
        let (info, reqid) = d.payload;
        if let Err(e) = kernel::install_outbound(&self.xfrm, &info, reqid).await {
            self.counters.child_install_failures += 1;
            tracing::error!(cable = %d.cable, "installing the outbound SA of a rekeyed Child SA failed: {e}");
            if let Some(c) = self.cables.get_mut(&d.cable) {
                c.state = CableState::Error(format!("installing a rekeyed outbound SA: {e}"));
            }
        } else {
            tracing::debug!(cable = %d.cable, spi_out = format_args!("{:#010x}", info.spi_out), "outbound SA of the peer's rekey installed");
        }
    }

    /// The IKE SA was rekeyed: its Child SAs now live under `new`.
    fn ike_rekeyed(&mut self, old: SaId, new: SaId, info: &IkeSaInfo) {
        self.counters.ike_rekeys += 1;
        let peer = self
            .sa_peer
            .remove(&old)
            .unwrap_or_else(|| info.peer.clone());
        self.sa_peer.insert(new, peer);
        let Some(name) = self.cable_of_sa(new) else {
            return;
        };
        if let Some(c) = self.cables.get_mut(&name) {
            if c.sas.remove(&old) {
                c.sas.insert(new);
            }
            if c.superseded.remove(&old) {
                c.superseded.insert(new);
            }
            for rec in c.children.values_mut().filter(|r| r.sa == old) {
                rec.sa = new;
            }
            c.child_retries
                .rename(|&(s, i)| (if s == old { new } else { s }, i));
            tracing::info!(cable = %name, "IKE SA rekeyed");
        }
    }

    fn ike_failed(&mut self, sa: SaId, peer: &str, reason: &FailureReason) {
        let text = reason_text(reason);
        *self
            .counters
            .ike_failures
            .entry(reason_key(reason).to_string())
            .or_default() += 1;
        let cable_name = self
            .cable_of_sa(sa)
            .or_else(|| self.peers.get(peer).map(|k| k.cable.clone()));
        self.sa_peer.remove(&sa);
        let Some(name) = cable_name else {
            tracing::warn!(peer, "IKE negotiation failed: {text}");
            return;
        };
        let now = Instant::now();
        let Some(c) = self.cables.get_mut(&name) else {
            return;
        };
        c.sas.remove(&sa);
        // A second negotiation with a peer we already have an IKE SA with
        // (crossed initiations: libreswan in bidirectional mode opens its
        // own, then drops it once ours is up, leaving our responder half
        // open until it times out) changes nothing: no retry, which would
        // start a third IKE SA and churn the working one.
        let peer_has_other = c
            .sas
            .iter()
            .any(|s| self.sa_peer.get(s).is_some_and(|p| p == peer));
        if peer_has_other {
            tracing::info!(cable = %name, peer, "a redundant IKE negotiation failed ({text}); the established IKE SA stays");
            return;
        }
        let initiates = c.plan.role.initiates();
        let retry = if initiates && c.peers.iter().any(|p| p == peer) {
            Some(c.retries.schedule(peer.to_string(), now))
        } else {
            None
        };
        if c.state != CableState::Connected {
            c.state = match retry {
                Some(d) => CableState::Error(format!("{text}; retrying in {d:?}")),
                None => CableState::Error(text.clone()),
            };
        }
        tracing::warn!(cable = %name, peer, "IKE negotiation failed: {text}");
    }

    fn ike_closed(&mut self, sa: SaId, peer: &str, reason: &CloseReason) {
        let name = self.cable_of_sa(sa);
        self.sa_peer.remove(&sa);
        let Some(name) = name else { return };
        let now = Instant::now();
        let Some(c) = self.cables.get_mut(&name) else {
            return;
        };
        c.sas.remove(&sa);
        c.child_retries.retain(|(s, _)| *s != sa);
        let was_superseded = c.superseded.remove(&sa);
        tracing::info!(cable = %name, peer, ?reason, "IKE SA closed");
        if was_superseded || !c.peers.iter().any(|p| p == peer) {
            return;
        }
        let peer_has_other = c
            .sas
            .iter()
            .any(|s| self.sa_peer.get(s).is_some_and(|p| p == peer));
        if !peer_has_other && c.plan.role.initiates() && *reason != CloseReason::Local {
            let d = c.retries.schedule(peer.to_string(), now);
            if c.state != CableState::Connected || !c.is_whole() {
                c.state = CableState::Connecting(format!(
                    "IKE SA closed ({reason:?}); reconnecting in {d:?}"
                ));
            }
        }
    }

    fn xfrm_event(&mut self, ev: XfrmEvent) {
        match ev {
            XfrmEvent::Expire(e) if e.sa.is_owned() => {
                tracing::info!(
                    spi = format_args!("{:#010x}", e.sa.spi),
                    hard = e.hard,
                    "kernel SA lifetime reached"
                );
            }
            XfrmEvent::Overrun => tracing::warn!("XFRM events were lost (receive buffer overrun)"),
            _ => {}
        }
    }

    async fn drop_unplanned_leftovers(&mut self) {
        if self.leftovers.sas.is_empty() && self.leftovers.policies.is_empty() {
            return;
        }
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
        let (s, p) = self
            .leftovers
            .remove_unplanned(&self.xfrm, &pairs, &planned)
            .await;
        if s + p > 0 {
            tracing::info!("removed {s} SAs and {p} policies of an earlier run that no cable uses");
        }
    }

    /// Once a second: liveness, kernel counters (every few ticks), status
    /// and metrics.
    async fn tick(&mut self) {
        self.ticks += 1;
        self.outputs.health.beat();
        for d in self.deferred.take_due(Instant::now()) {
            self.install_deferred(d).await;
        }
        // Not `is_multiple_of`: the workspace supports Rust 1.85.
        #[allow(clippy::manual_is_multiple_of)]
        if self.ticks % COUNTER_TICKS == 0 {
            self.refresh_byte_counters().await;
        }
        self.publish();
    }

    /// Sum the kernel byte counters of each cable's SAs.
    async fn refresh_byte_counters(&mut self) {
        for cable in self.cables.values_mut() {
            let (mut rx, mut tx) = (0u64, 0u64);
            for rec in cable.children.values() {
                if let Ok(sa) = self.xfrm.get_sa(&rec.sas.inbound).await {
                    rx = rx.saturating_add(sa.counters.bytes);
                }
                if let Ok(sa) = self.xfrm.get_sa(&rec.sas.outbound).await {
                    tx = tx.saturating_add(sa.counters.bytes);
                }
            }
            cable.rx_bytes = rx;
            cable.tx_bytes = tx;
        }
    }

    fn publish(&mut self) {
        self.sync_iterations += 1;
        let stats = self.ep.stats();
        self.counters.ike_dropped = stats.dropped_total();
        self.counters.invalid_ke_sent = stats.invalid_ke_sent;
        self.counters.invalid_ke_received = stats.invalid_ke_received;
        let samples: Vec<CableSample> = self.cables.values().map(Cable::sample).collect();
        let snapshot = MetricsSnapshot {
            cables: samples,
            counters: self.counters.clone(),
            sync_iterations: self.sync_iterations,
        };
        self.outputs.metrics.send_replace(snapshot);
        let connections: Vec<Connection> = self.cables.values().map(Cable::connection).collect();
        for (cable, c) in self.cables.values_mut().zip(&connections) {
            cable.log_transition(c);
        }
        self.outputs.status.send_if_modified(|old| {
            if *old == connections {
                false
            } else {
                *old = connections;
                true
            }
        });
    }

    async fn shutdown(&mut self) {
        let now = Instant::now();
        let sas: Vec<SaId> = self.ep.sas().iter().map(|s| s.sa).collect();
        for sa in sas {
            self.ep.close(now, sa);
        }
        while let Some(t) = self.ep.poll_transmit() {
            let _ = self
                .socket
                .send(t.remote, &t.payload, t.non_esp_marker)
                .await;
        }
        while self.ep.poll_event().is_some() {}
        if self.settings.cleanup_on_exit {
            match self.xfrm.cleanup_owned().await {
                Ok(r) => tracing::info!("shutdown: removed the engine's kernel state ({r:?})"),
                Err(e) => {
                    tracing::error!("shutdown: removing the engine's kernel state failed: {e}")
                }
            }
        } else {
            tracing::info!("shutdown: kernel SAs and policies left in place for the next engine");
        }
    }
}
