//! Plans in: cables added, rebuilt make-before-break, or removed.

use std::collections::BTreeMap;
use std::time::Instant;

use ike::SaId;

use super::ops::{pair_policies, PairPolicies};
use super::{health_target, Core, KernelOp};
use crate::cable::{CablePlan, PlanDiff};
use crate::manager::cable::Cable;
use crate::manager::peers::peer_configs;
use crate::status::CableState;

impl Core {
    /// A complete set of plans (keyed by anything; cables are keyed by
    /// their `cable_id` here: one per remote and IP family).
    pub fn apply_plans(&mut self, now: Instant, plans: BTreeMap<String, CablePlan>) {
        let plans: BTreeMap<String, CablePlan> = plans
            .into_values()
            .map(|p| (p.cable_id.clone(), p))
            .collect();
        let (plans, refused) = self.refuse_overlaps(plans);
        for (name, (_, why)) in &refused {
            if self.refused.get(name).map(|(_, w)| w) != Some(why) {
                tracing::error!(cable = %name, "not connecting: {why}");
            }
        }
        self.refused = refused;
        let gone: Vec<String> = self
            .cables
            .keys()
            .filter(|k| !plans.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            tracing::info!(cable = %name, "remote Endpoint removed: disconnecting");
            self.remove_cable(&name, now);
        }
        for (name, plan) in plans {
            let diff = self
                .cables
                .get(&name)
                .map(|c| PlanDiff::between(&c.plan, &plan));
            match diff {
                None => self.add_cable(plan, now),
                Some(d) if !d.touches_sas() => {
                    // Only the remote Endpoint's other fields (hostname,
                    // healthCheckIP, ...) changed: the tunnel stays; the
                    // health check follows a new healthCheckIP.
                    if let Some(c) = self.cables.get_mut(&name) {
                        let target = health_target(&plan);
                        if d.endpoint_changed && health_target(&c.plan) != target {
                            tracing::info!(cable = %name, target = %plan.remote_endpoint.health_check_ip, "remote healthCheckIP changed: restarting the health check");
                            self.health.push_back((name.clone(), target));
                        }
                        c.plan = plan;
                    }
                }
                Some(d) if self.append_pairs(&name, &plan, &d, now) => {}
                Some(d) => {
                    tracing::info!(cable = %name, ike_changed = d.ike_changed, added = d.added.len(), removed = d.removed.len(), "remote Endpoint changed: rebuilding the cable");
                    self.replace_cable(plan, &d, now);
                }
            }
        }
        if !self.first_plans_seen {
            self.first_plans_seen = true;
            self.drop_unplanned_leftovers();
        }
        self.reserve_spis(now);
        self.drain_events(now);
    }

    pub(super) fn initiate_peer(&mut self, cable_name: &str, peer_name: &str, now: Instant) {
        let Some(configs) = self
            .cables
            .get(cable_name)
            .map(|c| self.peer_configs(&c.plan, c.generation))
        else {
            return;
        };
        let Some((peer, _)) = configs.into_iter().find(|(p, _)| p.name == peer_name) else {
            return;
        };
        let Some(cable) = self.cables.get_mut(cable_name) else {
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

    /// A bidirectional cable whose new plan only appends pairs to the old
    /// one (same IKE parameters, the old pairs first and unchanged, as the
    /// drop-in mode's connections arrive one by one) keeps its IKE SA: the
    /// new pairs' Child SAs are created on it (CREATE_CHILD_SA), nothing is
    /// rebuilt. Returns false (and changes nothing) for any other change.
    fn append_pairs(&mut self, name: &str, plan: &CablePlan, d: &PlanDiff, now: Instant) -> bool {
        let Some(c) = self.cables.get(name) else {
            return false;
        };
        let old_len = c.plan.children.len();
        let appends = !d.ike_changed
            && d.removed.is_empty()
            && !d.added.is_empty()
            && plan.role == crate::cable::Role::Bidirectional
            && plan.children.len() > old_len
            && plan.children[..old_len] == c.plan.children[..];
        if !appends {
            return false;
        }
        let configs = self.peer_configs(plan, c.generation);
        let [(peer, _)] = configs.as_slice() else {
            return false;
        };
        if peer.children.len() != plan.children.len() || c.peers != [peer.name.clone()] {
            return false;
        }
        let new_pairs = peer.children[old_len..].to_vec();
        let initiator: std::collections::HashMap<SaId, bool> = self
            .ep
            .sas()
            .into_iter()
            .map(|s| (s.sa, s.initiator))
            .collect();
        let sas: Vec<SaId> = c.sas.iter().copied().collect();
        tracing::info!(cable = %name, added = new_pairs.len(), "remote pairs added: creating their Child SAs on the cable's IKE SA");
        self.ep.add_peer(peer.clone());
        for sa in sas {
            for (k, pair) in new_pairs.iter().enumerate() {
                // The IKE SA's initiator asks at once; the responder lets it
                // (reconciliation asks later if the pair is still missing).
                let added = if initiator.get(&sa) == Some(&true) {
                    self.ep.add_child_pair(now, sa, pair.clone())
                } else {
                    self.ep.add_pair(sa, pair.clone())
                };
                match added {
                    Some(i) if i != old_len + k => {
                        tracing::warn!(cable = %name, ?sa, "pair index {i} on the IKE SA, {} in the plan", old_len + k);
                    }
                    _ => {}
                }
            }
        }
        if let Some(c) = self.cables.get_mut(name) {
            let target = health_target(plan);
            if health_target(&c.plan) != target {
                self.health.push_back((name.to_string(), target));
            }
            c.plan = plan.clone();
            c.refresh_state();
        }
        self.hold_unprotected_pairs(name);
        true
    }

    fn add_cable(&mut self, plan: CablePlan, now: Instant) {
        self.add_cable_generation(plan, 0, now);
    }

    /// The `ike` peers of generation `generation` of a cable. A rebuilt
    /// cable's peers get new names (`<name>#<generation>`), so the `ike`
    /// core never takes the new IKE SA for a duplicate of the one it
    /// replaces (and closes one of them), and send no INITIAL_CONTACT,
    /// which would make the peer drop the old SAs before the new ones
    /// carry traffic.
    pub(super) fn peer_configs(
        &self,
        plan: &CablePlan,
        generation: u64,
    ) -> Vec<(ike::PeerConfig, crate::manager::peers::PeerKey)> {
        let mut configs = peer_configs(
            plan,
            self.settings.psk.expose(),
            self.settings.lifetimes,
            &self.settings.proposals,
        );
        if generation > 0 {
            for (peer, _) in &mut configs {
                peer.name = format!("{}#{generation}", peer.name);
                peer.initial_contact = false;
            }
        }
        configs
    }

    fn add_cable_generation(&mut self, plan: CablePlan, generation: u64, now: Instant) {
        let name = plan.cable_id.clone();
        tracing::info!(cable = %name, generation, "{}", plan.summary());
        let configs = self.peer_configs(&plan, generation);
        let initiates = plan.role.initiates();
        self.health.push_back((name.clone(), health_target(&plan)));
        let mut cable = Cable::new(plan, configs.iter().map(|(p, _)| p.name.clone()).collect());
        cable.generation = generation;
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
        if generation == 0 {
            self.hold_unprotected_pairs(&name);
        }
        for p in to_initiate {
            self.initiate_peer(&name, &p, now);
        }
    }

    /// Install the policies of every pair of `name` that has none yet
    /// ([`KernelOp::HoldPolicies`]): until its Child SA is up, the pair's
    /// traffic is dropped by the kernel rather than sent in clear. Not in
    /// server mode, where the peer's address is not known before it comes.
    pub(super) fn hold_unprotected_pairs(&mut self, name: &str) {
        let Some(c) = self.cables.get_mut(name) else {
            return;
        };
        if c.plan.role.accepts_any_peer_address() {
            return;
        }
        let mut policies = Vec::new();
        for (i, pair) in c.plan.children.iter().enumerate() {
            if c.policies.contains_key(&i) {
                continue;
            }
            let p = pair_policies(
                pair.local_subnet,
                pair.remote_subnet,
                c.plan.local_address,
                c.plan.remote_address,
                self.reqids.get(&pair.name),
            );
            c.policies.insert(
                i,
                PairPolicies::new((pair.local_subnet, pair.remote_subnet), p.clone()),
            );
            policies.extend(p);
        }
        if !policies.is_empty() {
            self.ops.push_back(KernelOp::HoldPolicies {
                cable: name.to_string(),
                policies,
            });
        }
    }

    /// Rebuild a changed cable make-before-break: the old IKE SAs keep
    /// carrying traffic until the new ones have every pair installed.
    fn replace_cable(&mut self, plan: CablePlan, diff: &PlanDiff, now: Instant) {
        let name = plan.cable_id.clone();
        let Some(mut old) = self.cables.remove(&name) else {
            return;
        };
        for pair in &diff.removed {
            if let Some(i) = old.plan.children.iter().position(|c| c.name == pair.name) {
                if let Some(p) = old.policies.remove(&i) {
                    self.ops.push_back(KernelOp::RemovePolicies {
                        cable: name.clone(),
                        ids: p.ids,
                    });
                }
                self.reqids.release(&pair.name);
            }
        }
        for peer in &old.peers {
            self.ep.remove_peer(peer);
            self.peers.remove(peer);
        }
        // Old SAs (and those of an earlier rebuild still under way): keep
        // them and their children until the new generation alone carries
        // every pair. Their children never count towards the new cable.
        let superseded: Vec<SaId> = old.sas.iter().chain(&old.superseded).copied().collect();
        let mut old_children = std::mem::take(&mut old.old_children);
        old_children.extend(std::mem::take(&mut old.children));
        let generation = old.generation + 1;
        let old_policies = std::mem::take(&mut old.policies);
        drop(old);
        self.add_cable_generation(plan, generation, now);
        if let Some(c) = self.cables.get_mut(&name) {
            c.superseded.extend(superseded.iter().copied());
            c.old_children = old_children;
            // The kept pairs' policies stay as installed (by their new index).
            for p in old_policies.into_values() {
                if let Some(j) = c
                    .plan
                    .children
                    .iter()
                    .position(|x| (x.local_subnet, x.remote_subnet) == p.pair)
                {
                    c.policies.insert(j, p);
                }
            }
        }
        for sa in superseded {
            self.sa_peer.insert(sa, format!("superseded:{name}"));
        }
        self.hold_unprotected_pairs(&name);
    }

    fn remove_cable(&mut self, name: &str, now: Instant) {
        let Some(cable) = self.cables.remove(name) else {
            return;
        };
        let lingering = self.held.forget_cable(name);
        if !lingering.is_empty() {
            self.ops.push_back(KernelOp::RemoveSas {
                cable: name.to_string(),
                ids: lingering,
            });
        }
        for peer in &cable.peers {
            self.ep.remove_peer(peer);
            self.peers.remove(peer);
        }
        for sa in cable.sas.iter().chain(cable.superseded.iter()) {
            self.ep.close(now, *sa);
            self.sa_peer.remove(sa);
        }
        for rec in cable.records() {
            self.ops.push_back(KernelOp::RemoveSas {
                cable: name.to_string(),
                ids: vec![rec.sas.outbound, rec.sas.inbound],
            });
        }
        for p in cable.policies.values() {
            self.ops.push_back(KernelOp::RemovePolicies {
                cable: name.to_string(),
                ids: p.ids.clone(),
            });
        }
        self.health.push_back((name.to_string(), None));
        for pair in &cable.plan.children {
            self.reqids.release(&pair.name);
        }
    }

    /// Split off the plans that cannot be built next to the others: a
    /// remote subnet that overlaps a local one, or one of another cable
    /// (the kernel's policies are per selector: two cables would take each
    /// other's traffic). Cables already built win over new ones, then the
    /// first by name; the refused one's status says which subnets clash.
    fn refuse_overlaps(
        &self,
        plans: BTreeMap<String, CablePlan>,
    ) -> (
        BTreeMap<String, CablePlan>,
        BTreeMap<String, (CablePlan, String)>,
    ) {
        // Unchanged cables first, then changed ones, then new ones.
        let rank = |n: &String| match self.cables.get(n) {
            Some(c) if !PlanDiff::between(&c.plan, &plans[n]).touches_sas() => 0,
            Some(_) => 1,
            None => 2,
        };
        let mut order: Vec<&String> = plans.keys().collect();
        order.sort_by_key(|n| rank(n));
        let mut accepted: Vec<(String, ipnetwork::IpNetwork)> = Vec::new();
        let mut refused = BTreeMap::new();
        for name in order {
            let plan = &plans[name];
            let remotes: Vec<ipnetwork::IpNetwork> =
                dedup(plan.children.iter().map(|c| c.remote_subnet));
            let locals: Vec<ipnetwork::IpNetwork> =
                dedup(plan.children.iter().map(|c| c.local_subnet));
            let clash = remotes.iter().find_map(|r| {
                if let Some(l) = locals.iter().find(|l| overlap(r, l)) {
                    return Some(format!("remote subnet {r} overlaps local subnet {l}"));
                }
                accepted
                    .iter()
                    .find(|(_, a)| overlap(r, a))
                    .map(|(other, a)| {
                        format!("remote subnet {r} overlaps subnet {a} of cable {other}")
                    })
            });
            match clash {
                Some(why) => {
                    refused.insert(name.clone(), (plan.clone(), why));
                }
                None => accepted.extend(remotes.into_iter().map(|r| (name.clone(), r))),
            }
        }
        let kept = plans
            .into_iter()
            .filter(|(n, _)| !refused.contains_key(n))
            .collect();
        (kept, refused)
    }

    /// Once the first plans are in: remove what an earlier engine left that
    /// no cable uses.
    fn drop_unplanned_leftovers(&mut self) {
        let (pairs, planned) = self.planned_kernel_entries();
        self.ops
            .push_back(KernelOp::RemoveUnplanned { pairs, planned });
    }
}

fn overlap(a: &ipnetwork::IpNetwork, b: &ipnetwork::IpNetwork) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

fn dedup(nets: impl Iterator<Item = ipnetwork::IpNetwork>) -> Vec<ipnetwork::IpNetwork> {
    let mut v: Vec<_> = nets.collect();
    v.sort();
    v.dedup();
    v
}
