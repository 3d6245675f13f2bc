//! What each `ike` event does to the cables: IKE SAs that come, fail, are
//! rekeyed or close; Child SAs that are installed, refused or deleted.

use std::time::Instant;

use ike::{ChildSaInfo, CloseReason, Event, FailureReason, IkeSaInfo, RejectedBy, SaId};

use super::held::{HeldOutbound, Lingering, OldInbound, OUTBOUND_DELAY, PROBE_INTERVAL};
use super::ops::{pair_policies, sa_config, InstalledSas, KernelOp, PairPolicies};
use super::selectors::negotiated_policies;
use super::{worth_retrying, Core};
use crate::manager::cable::ChildRecord;
use crate::status::CableState;

impl Core {
    /// Act on every event the `ike` core has, including those acting on
    /// one causes.
    pub(super) fn drain_events(&mut self, now: Instant) {
        while let Some(ev) = self.ep.poll_event() {
            self.event(ev, now);
        }
        self.release_held(now);
    }

    fn event(&mut self, ev: Event, now: Instant) {
        match ev {
            Event::IkeSaEstablished(info) => self.ike_up(info),
            Event::ChildSaEstablished(info) => self.child_up(*info, now),
            Event::IkeSaFailed { sa, peer, reason } => self.ike_failed(sa, &peer, &reason, now),
            Event::ChildSaFailed {
                sa,
                peer,
                pair_index,
                reason,
            } => {
                let text = reason_text(&reason);
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
            Event::ChildSaDeleted { sa, child, .. } => self.child_down(sa, child, now),
            Event::IkeSaClosed { sa, peer, reason } => self.ike_closed(sa, &peer, &reason, now),
            Event::IkeSaRekeyed { old, new, info } => self.ike_rekeyed(old, new, &info),
            Event::PeerAddressChanged { sa, old, new, .. } => self.peer_moved(sa, old, new, now),
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

    fn child_up(&mut self, info: ChildSaInfo, now: Instant) {
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
        let pair_key = (pair_plan.local_subnet, pair_plan.remote_subnet);
        // Answering for a pair that has SAs in the kernel already (the
        // peer's rekey, a crossed initiation, a rebuilt cable, a restarted
        // peer's predecessor): hold the new outbound SA until the peer has
        // our answer (see `held`).
        let hold = !info.initiated_locally
            && (cable.has_pair(&pair_key) || self.held.lingers(&key.cable, &pair_key));
        let inbound = sa_config(&info, true, reqid, &self.settings.sa_limits);
        let outbound = sa_config(&info, false, reqid, &self.settings.sa_limits);
        let installed = InstalledSas {
            inbound: inbound.id(),
            outbound: outbound.id(),
        };
        // Policies after the SAs, from the selectors this Child SA
        // negotiated (the peer may have narrowed the planned subnets);
        // replaced in place for every new Child SA so they always point at
        // the pair's current tunnel endpoints.
        let policies = if info.ts_local.is_empty() && info.ts_remote.is_empty() {
            Ok(pair_policies(
                pair_plan.local_subnet,
                pair_plan.remote_subnet,
                info.local_addr,
                info.remote_addr,
                reqid,
            ))
        } else {
            negotiated_policies(
                &info.ts_local,
                &info.ts_remote,
                info.local_addr,
                info.remote_addr,
                reqid,
            )
        };
        let policies = match policies {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(cable = %key.cable, child = %pair_plan.name, "Child SA not installed: {e}; deleting it");
                if let Some(c) = self.cables.get_mut(&key.cable) {
                    c.state = CableState::Error(format!("Child SA {}: {e}", pair_plan.name));
                }
                self.ep.delete_child(now, info.spi_in);
                return;
            }
        };
        let policy_record = PairPolicies::new(pair_key, policies.clone());
        // Policies already in the kernel as wanted are left alone; those of
        // the pair's earlier selectors that the new ones do not replace go.
        let (policies, stale) = match cable.policies.get(&pair) {
            Some(old) if old == &policy_record => (Vec::new(), Vec::new()),
            Some(old) => (
                policies,
                old.ids
                    .iter()
                    .filter(|id| !policy_record.ids.contains(id))
                    .copied()
                    .collect(),
            ),
            None => (policies, Vec::new()),
        };
        let configs = [Box::new(inbound.clone()), Box::new(outbound.clone())];
        let outbound = Box::new(outbound);
        let (outbound_now, held) = if hold {
            (None, Some(outbound))
        } else {
            (Some(outbound), None)
        };
        self.ops.push_back(KernelOp::InstallChild {
            cable: key.cable.clone(),
            child: info.child,
            name: pair_plan.name.clone(),
            inbound: Box::new(inbound),
            reserved: self.reserved_spis.take(info.local_addr, info.spi_in),
            outbound: outbound_now,
            policies,
            encapsulation: info.encapsulation,
        });
        if !stale.is_empty() {
            self.ops.push_back(KernelOp::RemovePolicies {
                cable: key.cable.clone(),
                ids: stale,
            });
        }
        if info.rekey_of.is_some() {
            self.counters.child_rekeys += 1;
        }
        if let Some(sa) = held {
            // The pair's other Child SAs' inbound SAs: the peer sending
            // there and not on the new one has not taken our answer.
            let old = cable
                .children
                .values()
                .filter(|r| r.selectors == pair_key)
                .map(|r| OldInbound::new(r.sas.inbound))
                .collect();
            self.held.outbound.push(HeldOutbound {
                cable: key.cable.clone(),
                child: info.child,
                ike_sa: info.sa,
                peer_requests: self.ep.peer_requests(info.sa).unwrap_or(0),
                pair: pair_key,
                due: now + OUTBOUND_DELAY,
                sa,
                inbound: installed.inbound,
                probe_at: now + PROBE_INTERVAL,
                old,
                prolonged: false,
            });
        }
        let Some(c) = self.cables.get_mut(&key.cable) else {
            return;
        };
        c.child_retries.clear(&(info.sa, info.pair_index));
        c.sas.insert(info.sa);
        c.children.insert(
            info.child,
            ChildRecord {
                sa: info.sa,
                pair,
                selectors: pair_key,
                sas: installed,
                configs,
                since: now,
            },
        );
        c.policies.insert(pair, policy_record);
        if c.refresh_state() {
            tracing::info!(cable = %key.cable, "cable connected ({} Child SAs)", c.plan.children.len());
        }
        if c.is_whole() {
            let superseded = std::mem::take(&mut c.superseded);
            let op = KernelOp::RemoveLeftoversBetween {
                cable: key.cable.clone(),
                local: c.plan.local_address,
                remote: info.remote_addr,
            };
            self.held.later.push((now + OUTBOUND_DELAY, op));
            for sa in superseded {
                self.ep.close(now, sa);
            }
        }
    }

    fn child_down(&mut self, sa: SaId, child: ike::ChildId, now: Instant) {
        let sa_id = sa;
        let Some(name) = self.cable_of_sa(sa) else {
            return;
        };
        let Some(rec) = self
            .cables
            .get_mut(&name)
            .and_then(|c| c.take_child(&child))
        else {
            return;
        };
        // A held SA the peer's Delete released goes in before this one's
        // outbound SA goes out.
        self.held.forget_child(child);
        self.release_held(now);
        for (sa, min) in [
            (rec.sas.outbound, std::time::Duration::ZERO),
            (rec.sas.inbound, OUTBOUND_DELAY),
        ] {
            let mut l = Lingering::new(name.clone(), rec.selectors, sa, now, min);
            l.ike_sa = Some(sa_id);
            self.held.lingering.push(l);
        }
        self.release_held(now);
        if let Some(c) = self.cables.get_mut(&name) {
            c.refresh_state();
        }
    }

    /// Install the held outbound SAs the peer has released (or whose wait
    /// is over), and remove the SAs that lingered for them or are due.
    pub(super) fn release_held(&mut self, now: Instant) {
        let ep = &self.ep;
        let released = self.held.take_released(now, |sa| ep.peer_requests(sa));
        for h in released {
            let alive = self
                .cables
                .get(&h.cable)
                .is_some_and(|c| c.has_child(&h.child));
            if alive {
                self.ops.push_back(KernelOp::InstallOutbound {
                    cable: h.cable,
                    child: h.child,
                    sa: h.sa,
                });
            }
        }
        for (child, sa) in self.held.take_probes(now) {
            self.ops.push_back(KernelOp::ProbeInbound { child, sa });
        }
        let later = self.held.take_later(now);
        self.ops.extend(later);
        let cables = &self.cables;
        // Covered: the pair has a Child SA again, or is no longer planned
        // (nothing will come to replace it).
        let covered = |cable: &str, pair: &super::held::PairKey| {
            cables.get(cable).is_none_or(|c| {
                let planned = c
                    .plan
                    .children
                    .iter()
                    .any(|p| (p.local_subnet, p.remote_subnet) == *pair);
                !planned || c.has_pair(pair)
            })
        };
        for l in self.held.take_expired(now, covered) {
            self.ops.push_back(KernelOp::RemoveSas {
                cable: l.cable,
                ids: vec![l.sa],
            });
        }
    }

    /// The peer (behind a NAT) of IKE SA `sa` moved from `old` to `new`:
    /// its Child SAs' ESP follows. A new port on the same address (the NAT
    /// dropped its mapping and made another) updates the SAs' UDP
    /// encapsulation in place, no rekey; a new address changes the SAs'
    /// identity, so the Child SAs are rekeyed (make-before-break) and come
    /// back with it.
    fn peer_moved(
        &mut self,
        sa: SaId,
        old: std::net::SocketAddr,
        new: std::net::SocketAddr,
        now: Instant,
    ) {
        let mut rekey = Vec::new();
        for (name, c) in &mut self.cables {
            let mut matched = false;
            for rec in c.records_mut().filter(|r| r.sa == sa) {
                matched = true;
                if old.ip() != new.ip() {
                    rekey.push(rec.sas.inbound.spi);
                    continue;
                }
                let [inbound, outbound] = &mut rec.configs;
                let mut changed = Vec::new();
                if let Some(e) = inbound.encap.as_mut() {
                    e.sport = new.port();
                    changed.push(inbound.clone());
                }
                if let Some(e) = outbound.encap.as_mut() {
                    e.dport = new.port();
                    let installed = !self
                        .held
                        .outbound
                        .iter()
                        .any(|h| h.sa.id() == outbound.id());
                    for h in self
                        .held
                        .outbound
                        .iter_mut()
                        .filter(|h| h.sa.id() == outbound.id())
                    {
                        h.sa = outbound.clone();
                    }
                    if installed {
                        changed.push(outbound.clone());
                    }
                }
                if !changed.is_empty() {
                    self.ops.push_back(KernelOp::UpdateSas {
                        cable: name.clone(),
                        sas: changed,
                    });
                }
            }
            if matched {
                tracing::info!(cable = %name, %old, %new, "the peer's NAT mapping moved");
            }
        }
        for spi in rekey {
            self.ep.rekey_child(now, spi);
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
            for rec in c.records_mut().filter(|r| r.sa == old) {
                rec.sa = new;
            }
            c.child_retries
                .rename(|&(s, i)| (if s == old { new } else { s }, i));
            let requests = self.ep.peer_requests(new).unwrap_or(0);
            self.held.rename_sa(old, new, requests);
            tracing::info!(cable = %name, "IKE SA rekeyed");
        }
    }

    fn ike_failed(&mut self, sa: SaId, peer: &str, reason: &FailureReason, now: Instant) {
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

    fn ike_closed(&mut self, sa: SaId, peer: &str, reason: &CloseReason, now: Instant) {
        let name = self.cable_of_sa(sa);
        self.sa_peer.remove(&sa);
        if matches!(reason, CloseReason::DeletedByPeer | CloseReason::Local) {
            self.held.peer_deleted(sa);
        }
        let Some(name) = name else { return };
        let Some(c) = self.cables.get_mut(&name) else {
            return;
        };
        c.sas.remove(&sa);
        c.child_retries.retain(|(s, _)| *s != sa);
        let was_superseded = c.superseded.remove(&sa);
        tracing::info!(cable = %name, peer, ?reason, "IKE SA closed");
        if was_superseded && *reason == CloseReason::DeletedByPeer {
            self.restart_stalled_generation(&name, now);
            return;
        }
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
}

impl Core {
    /// The peer deleted the IKE SA a rebuild supersedes while the new
    /// generation has no established IKE SA yet. The peer may have dropped
    /// our half-open negotiation with it (libreswan does, when the
    /// connection the old IKE SA belonged to is deleted), and would then
    /// ignore its IKE_AUTH retransmissions for up to a minute while neither
    /// side has a live IKE SA: start the new generation over now.
    fn restart_stalled_generation(&mut self, name: &str, now: Instant) {
        let Some(c) = self.cables.get(name) else {
            return;
        };
        if !c.plan.role.initiates() {
            return;
        }
        let status = self.ep.sas();
        let ours = |s: &&ike::SaStatus| c.sas.contains(&s.sa);
        if status.iter().filter(ours).any(|s| s.established) {
            return;
        }
        let pending: Vec<SaId> = status
            .iter()
            .filter(ours)
            .filter(|s| s.initiator)
            .map(|s| s.sa)
            .collect();
        let peers = c.peers.clone();
        tracing::info!(cable = %name, "the peer deleted the IKE SA being replaced before the new one is up: negotiating the new one again");
        for sa in pending {
            self.ep.close(now, sa);
            if let Some(c) = self.cables.get_mut(name) {
                c.sas.remove(&sa);
            }
            self.sa_peer.remove(&sa);
        }
        for peer in peers {
            self.initiate_peer(name, &peer, now);
        }
    }
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
