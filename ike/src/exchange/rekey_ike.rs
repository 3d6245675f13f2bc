//! Rekeying the IKE SA itself with CREATE_CHILD_SA (RFC 7296 1.3.2, 2.18).
//!
//! * Request: `SK {SA(IKE, new SPIi), Ni, KEi}`; response: `SK {SA(IKE,
//!   new SPIr), Nr, KEr}`.
//! * The new SA's keys come from the old SK_d ([`IkeSaKeys::derive_rekeyed`]),
//!   the party that initiated the rekey is the new SA's initiator, message
//!   IDs restart at zero, and every Child SA moves over unchanged.
//! * The rekey initiator then deletes the old SA; the responder keeps it
//!   (silently) until that Delete arrives or a retransmission period passed.
//! * Crossed rekeys (both sides rekey at once, RFC 7296 2.8.2): the peer's
//!   request is answered, its new SA kept aside ([`PassiveRekey`]) until
//!   ours completes. Of the two new SAs the one whose exchange holds the
//!   lowest nonce is redundant: its initiator deletes it (a Delete sent on
//!   it) and takes the other one, whose initiator deletes the old SA. Each
//!   side moves the Child SAs once, to the surviving SA, and reports one
//!   [`Event::IkeSaRekeyed`]; the redundant SA and the old one go without
//!   events. If our rekey fails, or the peer deletes the old SA before our
//!   answer came, the peer's new SA is taken.
//! * A rekey request that arrives while another request of ours is
//!   outstanding is answered TEMPORARY_FAILURE; a rekey answered that way
//!   is retried after a random 1-10 s; other failures are retried after a
//!   minute, and the old SA keeps working meanwhile.

use std::collections::VecDeque;
use std::time::Duration;

use crate::child::lowest_nonce;
use crate::crypto::{random_ike_spi, random_nonce, DhGroup, DhPrivateKey, IkeSaKeys, Role};
use crate::event::{Event, IkeAlgorithms};
use crate::proposal::{check_ike_answer, ike_answer, ike_rekey_offer, select_ike};
use crate::sa::{Ctx, IkeSa, PendingKind, Phase, SkState, Task, Window};
use crate::wire::{
    ExchangeType, KePayload, NoncePayload, NotifyPayload, NotifyType, Payload, SaPayload,
};

/// Retry delay after a rekey failure other than a collision.
const OTHER_FAILURE_RETRY_MS: u64 = 60_000;

/// The peer's rekey of this IKE SA, answered while ours was outstanding:
/// its new SA (without Child SAs yet) and the lowest nonce of its exchange.
pub(crate) struct PassiveRekey {
    pub sa: Box<IkeSa>,
    pub lowest_nonce: Vec<u8>,
}

/// Our outstanding IKE SA rekey.
#[derive(Debug)]
pub(crate) struct IkeRekeyRequest {
    pub spi: [u8; 8],
    pub nonce: Vec<u8>,
    pub dh: Option<DhPrivateKey>,
    pub offer: SaPayload,
}

fn find(
    payloads: &[Payload],
) -> (
    Option<&SaPayload>,
    Option<&NoncePayload>,
    Option<&KePayload>,
) {
    let mut f = (None, None, None);
    for p in payloads {
        match p {
            Payload::Sa(x) => f.0 = f.0.or(Some(x)),
            Payload::Nonce(x) => f.1 = f.1.or(Some(x)),
            Payload::Ke(x) => f.2 = f.2.or(Some(x)),
            _ => {}
        }
    }
    f
}

fn notify(t: NotifyType) -> Payload {
    Payload::Notify(NotifyPayload::new(t, Vec::new()))
}

impl IkeSa {
    /// Starts rekeying this IKE SA (needs an idle request window).
    pub(crate) fn send_rekey_ike(&mut self, ctx: &mut Ctx<'_>) {
        let (Some(peer), Some(algs)) = (self.peer.as_ref(), self.algs) else {
            return;
        };
        let (Ok(spi), Ok(nonce), Ok(dh)) = (
            random_ike_spi(ctx.rng),
            random_nonce(ctx.rng),
            DhPrivateKey::generate(algs.dh, ctx.rng),
        ) else {
            self.retry_ike_rekey(ctx, false);
            return;
        };
        let offer = ike_rekey_offer(&peer.ike_proposals, spi);
        let payloads = vec![
            Payload::Sa(offer.clone()),
            Payload::Nonce(NoncePayload {
                nonce: nonce.clone(),
            }),
            Payload::Ke(KePayload {
                group: crate::wire::DhGroup(algs.dh.transform_id()),
                data: dh.public_value().to_vec(),
            }),
        ];
        let req = IkeRekeyRequest {
            spi,
            nonce,
            dh: Some(dh),
            offer,
        };
        self.send_request(
            ctx,
            ExchangeType::CREATE_CHILD_SA,
            &payloads,
            PendingKind::RekeyIke(Box::new(req)),
        );
    }

    /// Tries again after a random 1-10 s (a collision), or a minute for
    /// other failures.
    fn retry_ike_rekey(&mut self, ctx: &mut Ctx<'_>, collision: bool) {
        let mut b = [0u8; 2];
        let ms = if !collision {
            OTHER_FAILURE_RETRY_MS
        } else if ctx.rng.fill(&mut b).is_ok() {
            1000 + u64::from(u16::from_be_bytes(b)) % 9000
        } else {
            5000
        };
        self.ike_rekey_at = Some(ctx.now + Duration::from_millis(ms));
    }

    /// The answer to our IKE SA rekey.
    pub(crate) fn handle_rekey_ike_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut req: IkeRekeyRequest,
        payloads: &[Payload],
    ) {
        let dh = req.dh.take();
        let ours = dh
            .and_then(|dh| self.rekeyed_keys(&req, dh, payloads))
            .and_then(|(algs, spi_r, nr, keys)| {
                let low = lowest_nonce(&req.nonce, &nr);
                let new = self.successor(ctx, true, req.spi, spi_r, keys, algs, req.nonce, nr)?;
                Some((new, low))
            });
        match (ours, self.passive_rekey.take()) {
            (Some((ours, low)), Some(theirs)) if low < theirs.lowest_nonce => {
                // Collision lost: ours is redundant, the peer deletes this SA.
                retire(ctx, ours);
                self.take_peers_rekey(ctx, theirs);
            }
            (Some((ours, _)), theirs) => {
                if let Some(theirs) = theirs {
                    // Collision won: the peer deletes its redundant SA.
                    park(ctx, *theirs.sa);
                }
                self.hand_over(ctx, ours);
                self.phase = Phase::Deleting;
                self.send_ike_delete(ctx);
            }
            (None, Some(theirs)) => self.take_peers_rekey(ctx, theirs),
            (None, None) => {
                let collision = payloads.iter().any(|p| {
                    matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::TEMPORARY_FAILURE)
                });
                self.retry_ike_rekey(ctx, collision);
                self.start_next_task(ctx);
            }
        }
    }

    /// Checks the answer and derives the new SA's keys.
    #[allow(clippy::type_complexity)]
    fn rekeyed_keys(
        &self,
        req: &IkeRekeyRequest,
        dh: DhPrivateKey,
        payloads: &[Payload],
    ) -> Option<(IkeAlgorithms, [u8; 8], Vec<u8>, IkeSaKeys)> {
        let (Some(sa), Some(nr), Some(ke)) = find(payloads) else {
            return None;
        };
        let algs = check_ike_answer(&req.offer, sa).ok()?;
        let spi_r = sa.proposals.first()?.spi_u64().filter(|s| *s != 0)?;
        if algs.dh != dh.group() || ke.group.0 != algs.dh.transform_id() {
            return None;
        }
        let g_ir = dh.agree(&ke.data).ok()?;
        let spi_r = spi_r.to_be_bytes();
        let keys = self
            .sk
            .as_ref()?
            .keys
            .derive_rekeyed(
                algs.prf, algs.encr, algs.integ, &g_ir, &req.nonce, &nr.nonce, &req.spi, &spi_r,
            )
            .ok()?;
        Some((algs, spi_r, nr.nonce.clone(), keys))
    }

    /// The peer rekeys this IKE SA.
    pub(crate) fn handle_rekey_ike_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        mid: u32,
        payloads: &[Payload],
    ) {
        let answer = |s: &mut IkeSa, ctx: &mut Ctx<'_>, p: Vec<Payload>| {
            s.send_response(ctx, ExchangeType::CREATE_CHILD_SA, mid, &p);
        };
        // Our own rekey outstanding: a collision (RFC 7296 2.8.2), answered.
        let crossed =
            matches!(&self.window.pending, Some(p) if matches!(p.kind, PendingKind::RekeyIke(_)));
        let busy = self.window.pending.is_some() && !crossed;
        if busy || self.phase != Phase::Established || self.passive_rekey.is_some() {
            return answer(self, ctx, vec![notify(NotifyType::TEMPORARY_FAILURE)]);
        }
        let (Some(sa), Some(ni), Some(ke)) = find(payloads) else {
            return answer(self, ctx, vec![notify(NotifyType::INVALID_SYNTAX)]);
        };
        let Some(peer) = self.peer.as_ref() else {
            return;
        };
        let Some(choice) = select_ike(&peer.ike_proposals, sa) else {
            return answer(self, ctx, vec![notify(NotifyType::NO_PROPOSAL_CHOSEN)]);
        };
        let spi_i = sa
            .proposals
            .iter()
            .find(|p| p.number == choice.number && p.protocol == crate::wire::ProtocolId::IKE)
            .and_then(|p| p.spi_u64())
            .filter(|s| *s != 0);
        let Some(spi_i) = spi_i else {
            return answer(self, ctx, vec![notify(NotifyType::INVALID_SYNTAX)]);
        };
        let group =
            DhGroup::from_transform_id(ke.group.0).filter(|g| choice.dh_candidates.contains(g));
        let Some(group) = group else {
            let want = choice
                .dh_candidates
                .first()
                .map(|g| g.transform_id())
                .unwrap_or(0);
            let n = NotifyPayload::invalid_ke(crate::wire::DhGroup(want));
            return answer(self, ctx, vec![Payload::Notify(n)]);
        };
        let (Ok(spi_r), Ok(nr), Ok(dh)) = (
            random_ike_spi(ctx.rng),
            random_nonce(ctx.rng),
            DhPrivateKey::generate(group, ctx.rng),
        ) else {
            return answer(self, ctx, vec![notify(NotifyType::TEMPORARY_FAILURE)]);
        };
        let public = dh.public_value().to_vec();
        let Ok(g_ir) = dh.agree(&ke.data) else {
            return answer(self, ctx, vec![notify(NotifyType::INVALID_SYNTAX)]);
        };
        let spi_i = spi_i.to_be_bytes();
        let keys = self.sk.as_ref().and_then(|sk| {
            sk.keys
                .derive_rekeyed(
                    choice.prf,
                    choice.encr,
                    choice.integ,
                    &g_ir,
                    &ni.nonce,
                    &nr,
                    &spi_i,
                    &spi_r,
                )
                .ok()
        });
        let Some(keys) = keys else {
            return answer(self, ctx, vec![notify(NotifyType::TEMPORARY_FAILURE)]);
        };
        let mut sa_answer = ike_answer(&choice, group);
        for p in &mut sa_answer.proposals {
            p.spi = spi_r.to_vec();
        }
        let resp = vec![
            Payload::Sa(sa_answer),
            Payload::Nonce(NoncePayload { nonce: nr.clone() }),
            Payload::Ke(KePayload {
                group: crate::wire::DhGroup(group.transform_id()),
                data: public,
            }),
        ];
        answer(self, ctx, resp);
        let algs = IkeAlgorithms {
            encr: choice.encr,
            integ: choice.integ,
            prf: choice.prf,
            dh: group,
        };
        let low = lowest_nonce(&ni.nonce, &nr);
        let Some(new) = self.successor(ctx, false, spi_i, spi_r, keys, algs, ni.nonce.clone(), nr)
        else {
            return;
        };
        if crossed {
            // Decided when our own rekey completes (or fails).
            self.passive_rekey = Some(PassiveRekey {
                sa: Box::new(new),
                lowest_nonce: low,
            });
            return;
        }
        self.hand_over(ctx, new);
        // The peer deletes this SA; drop it anyway after a retransmission period.
        self.phase = Phase::Deleting;
        self.expires_at = Some(ctx.now + ctx.config.retransmit.total);
    }

    /// Takes the peer's new SA of a crossed rekey (ours lost, failed, or
    /// the peer deleted this SA first): the Child SAs move to it, and this
    /// SA waits for the peer's Delete (or a retransmission period).
    pub(crate) fn take_peers_rekey(&mut self, ctx: &mut Ctx<'_>, theirs: PassiveRekey) {
        self.hand_over(ctx, *theirs.sa);
        if let Some(p) = self.window.pending.take() {
            p.kind.release(ctx.out);
        }
        self.phase = Phase::Deleting;
        self.expires_at = Some(ctx.now + ctx.config.retransmit.total);
    }

    /// A successor of this SA from a rekey exchange, without Child SAs.
    #[allow(clippy::too_many_arguments)]
    fn successor(
        &self,
        ctx: &mut Ctx<'_>,
        initiator: bool,
        spi_i: [u8; 8],
        spi_r: [u8; 8],
        keys: IkeSaKeys,
        algs: IkeAlgorithms,
        ni: Vec<u8>,
        nr: Vec<u8>,
    ) -> Option<IkeSa> {
        let role = if initiator {
            Role::Initiator
        } else {
            Role::Responder
        };
        let sk = SkState::new(keys, role)?;
        Some(IkeSa {
            id: ctx.out.alloc_sa_id(),
            initiator,
            peer: self.peer.clone(),
            candidates: Vec::new(),
            local: self.local,
            remote: self.remote,
            spi_i,
            spi_r,
            phase: Phase::Established,
            ni,
            nr,
            init_request: Vec::new(),
            init_response: Vec::new(),
            algs: Some(algs),
            sk: Some(sk),
            nat: self.nat,
            window: Window::default(),
            children: Vec::new(),
            tasks: VecDeque::new(),
            last_heard: ctx.now,
            init: None,
            expires_at: None,
            replaced: false,
            ike_rekey_at: None,
            keepalive_at: None,
            created_at: self.created_at,
            established_at: self.established_at,
            other_sas_with_peer: false,
            superseded_deadline: None,
            lost_to_duplicate: false,
            pfs_group: self.pfs_group,
            // Negotiated once in IKE_SA_INIT; the new SA keeps it (as
            // strongSwan's rekeyed SAs keep their extensions).
            frag: crate::sa::Fragmentation::new(self.frag.enabled),
            passive_rekey: None,
        })
    }

    /// Makes `new` the successor: moves the Child SAs and queued work
    /// over and reports the rekey. This SA becomes a silent leftover.
    fn hand_over(&mut self, ctx: &mut Ctx<'_>, mut new: IkeSa) {
        new.children = std::mem::take(&mut self.children);
        new.tasks = std::mem::take(&mut self.tasks);
        new.tasks.retain(|t| *t != Task::RekeyIke);
        new.set_established(ctx);
        self.replaced = true;
        self.keepalive_at = None;
        self.ike_rekey_at = None;
        if let Some(info) = new.info() {
            ctx.out.event(Event::IkeSaRekeyed {
                old: self.id,
                new: new.id,
                info,
            });
        }
        new.start_next_task(ctx);
        ctx.out.spawned.push(new);
    }
}

/// Our new SA of a crossed rekey that lost: deleted with a Delete sent on
/// it; it never carried Child SAs and goes without events.
fn retire(ctx: &mut Ctx<'_>, mut sa: IkeSa) {
    sa.replaced = true;
    sa.phase = Phase::Deleting;
    sa.send_ike_delete(ctx);
    ctx.out.spawned.push(sa);
}

/// The peer's new SA of a crossed rekey that lost: kept (silently) to
/// answer the peer's Delete, dropped after a retransmission period.
fn park(ctx: &mut Ctx<'_>, mut sa: IkeSa) {
    sa.replaced = true;
    sa.phase = Phase::Deleting;
    sa.expires_at = Some(ctx.now + ctx.config.retransmit.total);
    ctx.out.spawned.push(sa);
}
