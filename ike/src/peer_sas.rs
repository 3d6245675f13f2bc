//! Policies across the IKE SAs of one peer (issue 4): INITIAL_CONTACT
//! (RFC 7296 2.4) and duplicate IKE SAs from crossed initiations.
//!
//! * A peer that authenticated with INITIAL_CONTACT has lost its state:
//!   our SAs with the same peer that were established before its new SA
//!   began are dropped without a message (reason `PeerRestarted`).
//! * Submariner's default mode has both gateways initiate, so two IKE SAs
//!   with the same peer come up. The one whose lowest nonce (min of Ni,
//!   Nr) is the lowest is redundant, as for rekey collisions (RFC 7296
//!   2.8.1); both sides reach the same verdict because both know all four
//!   nonces. The redundant SA's initiator stops creating Child SAs on it
//!   and deletes it once the surviving SA carries, for each of our pairs,
//!   a Child SA newer than any the redundant SA has for it (so no traffic
//!   selector is ever without an SA, and the peer never loses a pair's
//!   newest Child SA, which libreswan 4.10 answers by re-initiating or by
//!   falling back to its on-demand policy), or after a grace period. A
//!   pair the survivor lacks is created on it by us after a quarter of
//!   the grace period (either side may create Child SAs on an IKE SA:
//!   libreswan puts its own on the first IKE SA up, which may be the
//!   redundant one); a pair whose newest Child SA is on the redundant SA
//!   has the survivor's Child SA rekeyed at once. Nobody creates Child SAs
//!   on a redundant SA. A redundant SA on which the peer made Child SAs of
//!   its own (libreswan) is not deleted: both stay, as that peer keeps
//!   both (its newest Child SA of a pair may be there, whatever the order
//!   we saw).

use std::collections::HashMap;

use crate::child::ChildState;
use crate::event::{ChildId, CloseReason, Event, SaId};
use crate::sa::{Ctx, IkeSa, PendingKind, Phase, Task};

fn live(sa: &IkeSa) -> bool {
    !matches!(sa.phase, Phase::Dead | Phase::Deleting | Phase::Lingering) && !sa.replaced
}

/// Refreshes [`IkeSa::other_sas_with_peer`] on every SA. A responder SA
/// that has not seen IDi yet counts for every candidate (a crossing
/// initiation counts as "another SA" before it is authenticated). Names
/// are borrowed, not copied.
pub(crate) fn mark_peers(sas: &mut HashMap<SaId, IkeSa>) {
    let verdicts: Vec<(SaId, bool)> = {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for sa in sas.values().filter(|s| live(s)) {
            match &sa.peer {
                Some(p) => *count.entry(p.name.as_str()).or_default() += 1,
                None => {
                    for p in &sa.candidates {
                        *count.entry(p.name.as_str()).or_default() += 1;
                    }
                }
            }
        }
        sas.values()
            .map(|sa| {
                let name = sa.peer.as_ref().map_or("", |p| p.name.as_str());
                let others = count.get(name).copied().unwrap_or(0) > usize::from(live(sa));
                (sa.id, !name.is_empty() && others)
            })
            .collect()
    };
    for (id, others) in verdicts {
        if let Some(sa) = sas.get_mut(&id) {
            sa.other_sas_with_peer = others;
        }
    }
}

/// The peer of SA `new` sent INITIAL_CONTACT: drop older SAs with it.
pub(crate) fn initial_contact(sas: &mut HashMap<SaId, IkeSa>, new: SaId, ctx: &mut Ctx<'_>) {
    let Some((name, since)) = sas.get(&new).map(|s| (s.peer_name(), s.created_at)) else {
        return;
    };
    for sa in sas.values_mut() {
        let older = sa.established_at.is_some_and(|t| t < since);
        if sa.id != new && live(sa) && sa.peer_name() == name && older {
            let e = Event::IkeSaClosed {
                sa: sa.id,
                peer: name.clone(),
                reason: CloseReason::PeerRestarted,
            };
            sa.die(ctx, Some(e));
        }
    }
}

/// Deletes redundant IKE SAs we initiated (see the module docs).
pub(crate) fn resolve_duplicates(sas: &mut HashMap<SaId, IkeSa>, ctx: &mut Ctx<'_>) {
    if !ctx.config.resolve_duplicate_ike_sas {
        return;
    }
    let mut groups: HashMap<String, Vec<SaId>> = HashMap::new();
    for sa in sas.values() {
        if sa.phase == Phase::Established && !sa.replaced && !sa.peer_name().is_empty() {
            groups.entry(sa.peer_name()).or_default().push(sa.id);
        }
    }
    let mut redundant: Vec<SaId> = Vec::new();
    let mut ask: Vec<(SaId, Vec<usize>, Vec<u32>)> = Vec::new();
    let mut lost: Vec<SaId> = Vec::new();
    for ids in groups.into_values().filter(|g| g.len() > 1) {
        let key = |id: &SaId| {
            sas.get(id)
                .map(|s| s.ni.as_slice().min(s.nr.as_slice()).to_vec())
                .unwrap_or_default()
        };
        let Some(survivor) = ids.iter().max_by_key(|id| key(id)).copied() else {
            continue;
        };
        // The survivor's newest Child SA of each pair (ids grow with age)
        // and its inbound SPI.
        let mut fresh: HashMap<usize, (ChildId, u32)> = HashMap::new();
        if let Some(s) = sas.get(&survivor) {
            for c in &s.children {
                let e = fresh.entry(c.pair_index).or_insert((c.id, c.spi_in));
                if c.id > e.0 {
                    *e = (c.id, c.spi_in);
                }
            }
        }
        for id in ids.into_iter().filter(|id| *id != survivor) {
            let Some(sa) = sas.get_mut(&id) else { continue };
            sa.lost_to_duplicate = true;
            lost.push(id);
            if !sa.initiator {
                continue;
            }
            sa.tasks.retain(|t| !matches!(t, Task::CreateChild(_)));
            // The peer made Child SAs of its own on it (libreswan puts
            // them on the first IKE SA up): deleting it would take them,
            // and libreswan 4.10 answers that by falling back to its
            // on-demand policy, which can leave pairs blocked for half a
            // minute. Both stay, as such a peer keeps both.
            if sa.children.iter().any(|c| !c.ours) {
                sa.superseded_deadline = None;
                continue;
            }
            redundant.push(id);
            let grace = ctx.config.retransmit.total;
            let deadline = *sa.superseded_deadline.get_or_insert(ctx.now + grace);
            let pairs = sa.peer.as_ref().map(|p| p.children.len()).unwrap_or(0);
            // Pairs the survivor lacks (its initiator is likely creating
            // them: we create them after a quarter of the grace period),
            // and pairs whose newest Child SA is here (the survivor's
            // Child SA of it is rekeyed at once, which makes a newer one
            // and leaves no duplicate).
            let (mut lacking, mut older) = (Vec::new(), Vec::new());
            for i in 0..pairs {
                let newest_here = sa
                    .children
                    .iter()
                    .filter(|c| c.pair_index == i)
                    .map(|c| c.id)
                    .max();
                match (fresh.get(&i), newest_here) {
                    (None, _) => lacking.push(i),
                    (Some((there, spi)), Some(here)) if *there < here => older.push(*spi),
                    _ => {}
                }
            }
            if (lacking.is_empty() && older.is_empty()) || ctx.now >= deadline {
                sa.close_with(ctx, CloseReason::Superseded);
                continue;
            }
            if ctx.now + grace * 3 / 4 < deadline {
                lacking.clear();
            }
            ask.push((survivor, lacking, older));
        }
    }
    // The survivor creates what the redundant SA still carries alone, and
    // renews what the redundant SA has newer.
    for (survivor, create, rekey) in ask {
        let Some(sa) = sas.get_mut(&survivor) else {
            continue;
        };
        if sa.phase != Phase::Established || sa.replaced {
            continue;
        }
        for i in create {
            if !asking(sa, i) {
                sa.queue(Task::CreateChild(i));
            }
        }
        for spi in rekey {
            let active = sa
                .children
                .iter()
                .any(|c| c.spi_in == spi && c.state == ChildState::Active);
            if active {
                sa.queue(Task::RekeyChild(spi));
            }
        }
        sa.start_next_task(ctx);
    }
    // An SA no longer redundant (the one that made it so went away first):
    // no deadline, and the Child SAs dropped from it are asked for again.
    for sa in sas.values_mut().filter(|s| !lost.contains(&s.id)) {
        sa.lost_to_duplicate = false;
    }
    for sa in sas.values_mut() {
        if sa.superseded_deadline.is_none() || redundant.contains(&sa.id) {
            continue;
        }
        sa.superseded_deadline = None;
        if sa.phase != Phase::Established || sa.replaced {
            continue;
        }
        let pairs = sa.peer.as_ref().map_or(0, |p| p.children.len());
        for i in 0..pairs {
            let have = sa.children.iter().any(|c| c.pair_index == i);
            if !have && !asking(sa, i) {
                sa.queue(Task::CreateChild(i));
            }
        }
        sa.start_next_task(ctx);
    }
}

/// Whether `sa` has a request for pair `i` in flight.
fn asking(sa: &IkeSa, i: usize) -> bool {
    matches!(&sa.window.pending, Some(p) if matches!(
        &p.kind,
        PendingKind::CreateChild(r) | PendingKind::Auth(Some(r)) if r.pair_index == i
    ))
}

/// Convenience for the endpoint: every cross-SA policy after a change.
pub(crate) fn settle(sas: &mut HashMap<SaId, IkeSa>, ctx: &mut Ctx<'_>, contacts: Vec<SaId>) {
    for id in contacts {
        initial_contact(sas, id, ctx);
    }
    resolve_duplicates(sas, ctx);
    mark_peers(sas);
}
