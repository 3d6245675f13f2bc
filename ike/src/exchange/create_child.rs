//! CREATE_CHILD_SA for new Child SAs (RFC 7296 1.3.1), both roles, and the
//! Child SA half shared with IKE_AUTH.
//!
//! * Request: `SK {SA, Ni, [KEi], TSi, TSr}` (KE only with PFS configured).
//! * Response: `SK {SA, Nr, [KEr], TSi, TSr}` or an error notify
//!   (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, INVALID_KE_PAYLOAD).
//!
//! The initiator of an IKE SA creates the peer's pairs one at a time after
//! IKE_AUTH (window size 1, like libreswan). A responder narrows the
//! offered selectors into one of its configured pairs and tolerates any
//! number of Child SAs for the same selectors. A REKEY_SA request is
//! answered like a new Child SA with `rekey_of` naming the old one
//! (make-before-break: the peer deletes the old one afterwards with an
//! INFORMATIONAL Delete); rekey bookkeeping and collisions are in
//! `rekey_child.rs`.

use crate::child::{lowest_nonce, match_pair, ChildRequest, NewChild, RekeyRecord};
use crate::crypto::{random_nonce, DhGroup, DhPrivateKey, Role, SecretBytes};
use crate::event::{ChildSaInfo, Event, FailureReason, RejectedBy};
use crate::exchange::errors::{first_error, reason_for};
use crate::proposal::{check_esp_answer, esp_answer, esp_offer, select_esp};
use crate::sa::{Ctx, IkeSa, PendingKind, Phase, Task};
use crate::ts_narrow::is_subset;
use crate::wire::{
    ExchangeType, KePayload, NoncePayload, NotifyPayload, NotifyType, Payload, SaPayload,
    TsPayload, TsRange,
};

/// A refused Child SA: the notify to answer with, the failure to report
/// (None when the peer is simply asked to retry, as for INVALID_KE) and
/// the pair it was for, if known.
pub(crate) type ChildRefusal = (NotifyPayload, Option<FailureReason>, Option<usize>);

struct Found<'a> {
    sa: Option<&'a SaPayload>,
    ts_i: Option<&'a TsPayload>,
    ts_r: Option<&'a TsPayload>,
    nonce: Option<&'a NoncePayload>,
    ke: Option<&'a KePayload>,
    /// SPI named by a REKEY_SA notify (the peer's inbound SPI).
    rekey: Option<u32>,
}

fn find(payloads: &[Payload]) -> Found<'_> {
    let mut f = Found {
        sa: None,
        ts_i: None,
        ts_r: None,
        nonce: None,
        ke: None,
        rekey: None,
    };
    for p in payloads {
        match p {
            Payload::Sa(x) => f.sa = f.sa.or(Some(x)),
            Payload::TsI(x) => f.ts_i = f.ts_i.or(Some(x)),
            Payload::TsR(x) => f.ts_r = f.ts_r.or(Some(x)),
            Payload::Nonce(x) => f.nonce = f.nonce.or(Some(x)),
            Payload::Ke(x) => f.ke = f.ke.or(Some(x)),
            Payload::Notify(n) if n.notify_type == NotifyType::REKEY_SA => {
                f.rekey = f.rekey.or(n.spi_u32())
            }
            _ => {}
        }
    }
    f
}

fn refuse(t: NotifyType, reason: Option<FailureReason>, pair: Option<usize>) -> ChildRefusal {
    (NotifyPayload::new(t, Vec::new()), reason, pair)
}

impl IkeSa {
    /// Sends a CREATE_CHILD_SA request for pair `index` with selectors
    /// `ts_i` (ours) and `ts_r`; `rekey_of` names the inbound SPI of the
    /// Child SA being rekeyed (adds the REKEY_SA notify).
    pub(crate) fn send_create_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        index: usize,
        ts_i: Vec<TsRange>,
        ts_r: Vec<TsRange>,
        rekey_of: Option<u32>,
    ) -> bool {
        let Some(peer) = self.peer.clone() else {
            return false;
        };
        // The group the peer asked for with INVALID_KE_PAYLOAD or used in
        // its own CREATE_CHILD_SA, if we offer it (proposals without
        // groups of their own follow the peer); otherwise our first PFS
        // group.
        // With PFS required and no group either way, the IKE SA's.
        let pfs = self
            .pfs_group
            .filter(|g| peer.pfs_group_ok(*g))
            .or_else(|| {
                peer.esp_proposals
                    .first()
                    .and_then(|p| p.dh.first())
                    .copied()
            })
            .or_else(|| {
                self.algs
                    .map(|a| a.dh)
                    .filter(|g| peer.require_pfs && peer.pfs_group_ok(*g))
            });
        let (Some(spi_in), Ok(nonce)) = (
            ctx.out.alloc_esp_spi(self.local.ip(), ctx.now, ctx.rng),
            random_nonce(ctx.rng),
        ) else {
            self.child_failed(ctx, Some(index), FailureReason::Internal("no SPI or nonce"));
            return false;
        };
        let dh = match pfs.map(|g| DhPrivateKey::generate(g, ctx.rng)) {
            None => None,
            Some(Ok(k)) => Some(k),
            Some(Err(_)) => {
                ctx.out.free_esp_spi(spi_in);
                self.child_failed(ctx, Some(index), FailureReason::Internal("rng"));
                return false;
            }
        };
        let offer = esp_offer(&pfs_proposals(&peer), spi_in, pfs);
        let mut payloads = Vec::new();
        if let Some(old) = rekey_of {
            payloads.push(Payload::Notify(NotifyPayload::with_spi(
                NotifyType::REKEY_SA,
                crate::wire::ProtocolId::ESP,
                old,
                Vec::new(),
            )));
        }
        payloads.push(Payload::Sa(offer.clone()));
        payloads.push(Payload::Nonce(NoncePayload {
            nonce: nonce.clone(),
        }));
        if let Some(k) = &dh {
            payloads.push(Payload::Ke(KePayload {
                group: crate::wire::DhGroup(k.group().transform_id()),
                data: k.public_value().to_vec(),
            }));
        }
        payloads.push(Payload::TsI(TsPayload::from_ranges(ts_i.iter().copied())));
        payloads.push(Payload::TsR(TsPayload::from_ranges(ts_r.iter().copied())));
        let req = ChildRequest {
            pair_index: index,
            spi_in,
            offer,
            ts_i,
            ts_r,
            nonce: Some(nonce),
            dh,
            rekey_of,
            peer_rekey: None,
        };
        self.send_request(
            ctx,
            ExchangeType::CREATE_CHILD_SA,
            &payloads,
            PendingKind::CreateChild(Box::new(req)),
        )
    }

    /// Whether we are deleting the Child SA with inbound SPI `spi_in`
    /// (our Delete is outstanding or queued).
    pub(crate) fn closing_child(&self, spi_in: u32) -> bool {
        matches!(&self.window.pending, Some(p) if matches!(p.kind, PendingKind::DeleteChild(s) if s == spi_in))
            || self.tasks.contains(&Task::DeleteChild(spi_in))
    }

    pub(crate) fn child_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        pair_index: Option<usize>,
        reason: FailureReason,
    ) {
        ctx.out.event(Event::ChildSaFailed {
            sa: self.id,
            peer: self.peer_name(),
            pair_index,
            reason,
        });
    }

    /// Initiator of the exchange: the answer to a CREATE_CHILD_SA request.
    pub(crate) fn handle_create_child_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        req: ChildRequest,
        payloads: &[Payload],
    ) {
        let nr = find(payloads).nonce.map(|n| n.nonce.clone());
        match (req.nonce.clone(), nr) {
            (Some(ni), Some(nr)) => self.finish_child(ctx, req, payloads, &ni, &nr),
            _ => {
                ctx.out.free_esp_spi(req.spi_in);
                if self.peer_lost_child(ctx, &req, payloads) {
                    self.start_next_task(ctx);
                    return;
                }
                if let Some(old) = req.rekey_of {
                    self.rekey_failed(ctx, old);
                }
                if self.retry_with_pfs_group(&req, payloads) {
                    self.start_next_task(ctx);
                    return;
                }
                let reason = first_error(payloads)
                    .map(|n| reason_for(n.notify_type))
                    .unwrap_or(FailureReason::InvalidResponse(
                        "CREATE_CHILD_SA response without nonce",
                    ));
                self.child_failed(ctx, Some(req.pair_index), reason);
            }
        }
        self.start_next_task(ctx);
    }

    /// RFC 7296 2.25: CHILD_SA_NOT_FOUND in answer to our rekey means the
    /// peer has no such Child SA (it lost or deleted it, and we missed the
    /// Delete): "silently delete the Child SA ... and send a request to
    /// create a new Child SA from scratch". Unless the peer has rekeyed it
    /// itself meanwhile (its replacement carries the pair). Returns whether
    /// that was the case.
    fn peer_lost_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        req: &ChildRequest,
        payloads: &[Payload],
    ) -> bool {
        let Some(old) = req.rekey_of else {
            return false;
        };
        let not_found =
            first_error(payloads).is_some_and(|n| n.notify_type == NotifyType::CHILD_SA_NOT_FOUND);
        let lost = self
            .children
            .iter()
            .position(|c| c.spi_in == old && c.peer_rekey.is_none());
        let (true, Some(pos)) = (not_found, lost) else {
            return false;
        };
        self.remove_child(ctx, pos);
        self.tasks.push_back(Task::CreateChild(req.pair_index));
        true
    }

    /// INVALID_KE_PAYLOAD naming another PFS group we offer: remember it
    /// and ask again at once (once per group, so this cannot loop).
    fn retry_with_pfs_group(&mut self, req: &ChildRequest, payloads: &[Payload]) -> bool {
        let requested = first_error(payloads)
            .and_then(|n| n.invalid_ke_group())
            .and_then(|g| DhGroup::from_transform_id(g.0));
        let offered = |g: &DhGroup| self.peer.as_ref().is_some_and(|p| p.pfs_group_ok(*g));
        let Some(g) = requested.filter(offered) else {
            return false;
        };
        if req.dh.as_ref().is_some_and(|k| k.group() == g) {
            return false;
        }
        self.pfs_group = Some(g);
        let task = match req.rekey_of {
            Some(old) => Task::RekeyChild(old),
            None => Task::CreateChild(req.pair_index),
        };
        self.tasks.push_front(task);
        true
    }

    /// Initiator of the exchange: checks the answer for Child SA `req`
    /// (nonces `ni`/`nr` of the exchange) and reports the result.
    pub(crate) fn finish_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        req: ChildRequest,
        payloads: &[Payload],
        ni: &[u8],
        nr: &[u8],
    ) {
        let index = req.pair_index;
        let rekey_of = req.rekey_of;
        let peer_rekey = req.peer_rekey.clone();
        match self.check_child_answer(ctx, req, payloads, ni, nr) {
            Ok(info) => {
                let new_spi = info.spi_in;
                ctx.out.event(Event::ChildSaEstablished(Box::new(info)));
                if let Some(old) = rekey_of {
                    let ours = RekeyRecord {
                        lowest_nonce: lowest_nonce(ni, nr),
                        new_spi_in: new_spi,
                    };
                    self.after_own_rekey(ctx.now, old, ours, peer_rekey);
                }
            }
            Err((spi, reason)) => {
                ctx.out.free_esp_spi(spi);
                if let Some(old) = rekey_of {
                    self.rekey_failed(ctx, old);
                }
                self.child_failed(ctx, Some(index), reason);
            }
        }
    }

    fn check_child_answer(
        &mut self,
        ctx: &mut Ctx<'_>,
        req: ChildRequest,
        payloads: &[Payload],
        ni: &[u8],
        nr: &[u8],
    ) -> Result<ChildSaInfo, (u32, FailureReason)> {
        let spi = req.spi_in;
        let bad = |what| (spi, FailureReason::InvalidResponse(what));
        if let Some(n) = first_error(payloads) {
            return Err((spi, reason_for(n.notify_type)));
        }
        let f = find(payloads);
        let (Some(sa), Some(ts_i), Some(ts_r)) = (f.sa, f.ts_i, f.ts_r) else {
            return Err(bad("Child SA answer without SA/TSi/TSr"));
        };
        let choice = check_esp_answer(&req.offer, sa).map_err(bad)?;
        let ts_i: Vec<TsRange> = ts_i.ranges().copied().collect();
        let ts_r: Vec<TsRange> = ts_r.ranges().copied().collect();
        if !is_subset(&ts_i, &req.ts_i) || !is_subset(&ts_r, &req.ts_r) {
            return Err((spi, FailureReason::TsUnacceptable(RejectedBy::Us)));
        }
        let g_ir: Option<SecretBytes> = match (
            pfs_answer(req.dh.as_ref().map(|k| k.group()), choice.dh).map_err(bad)?,
            req.dh,
        ) {
            (true, Some(k)) => {
                let g = k.group();
                let ke =
                    f.ke.filter(|ke| ke.group.0 == g.transform_id())
                        .ok_or(bad("KE missing"))?;
                Some(k.agree(&ke.data).map_err(|_| bad("invalid KE data"))?)
            }
            _ => None,
        };
        let pfs = choice.dh;
        let sk = self.sk.as_ref().ok_or(bad("no keys"))?;
        let keys = sk
            .keys
            .child_sa_keys(choice.encr, choice.integ, g_ir.as_ref(), ni, nr)
            .map_err(|_| (spi, FailureReason::Internal("KEYMAT")))?;
        let id = ctx.out.alloc_child_id();
        self.add_child(
            ctx,
            id,
            NewChild {
                pair_index: req.pair_index,
                role: Role::Initiator,
                choice,
                spi_in: spi,
                keys,
                ts_local: ts_i,
                ts_remote: ts_r,
                pfs,
                rekey_of: req.rekey_of,
            },
        )
        .ok_or(bad("no peer"))
    }

    /// Responder of the exchange: a CREATE_CHILD_SA request.
    pub(crate) fn handle_create_child_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        mid: u32,
        payloads: &[Payload],
    ) {
        let f = find(payloads);
        if f.sa.is_some_and(|sa| {
            sa.proposals
                .iter()
                .any(|p| p.protocol == crate::wire::ProtocolId::IKE)
        }) {
            self.handle_rekey_ike_request(ctx, mid, payloads);
            return;
        }
        // RFC 7296 2.25.2: no new or rekeyed Child SA while this IKE SA is
        // being rekeyed by us or closed (it would end up on one side only).
        let ike_busy = self.phase != Phase::Established
            || self.replaced
            || matches!(&self.window.pending, Some(p) if matches!(p.kind, PendingKind::RekeyIke(_)));
        if ike_busy {
            let n = NotifyPayload::new(NotifyType::TEMPORARY_FAILURE, Vec::new());
            self.send_response(
                ctx,
                ExchangeType::CREATE_CHILD_SA,
                mid,
                &[Payload::Notify(n)],
            );
            return;
        }
        let (resp, event) = match self.respond_child(ctx, payloads, true) {
            Some(Ok((extra, info))) => (extra, Some(Event::ChildSaEstablished(Box::new(info)))),
            Some(Err((n, reason, pair_index))) => (
                vec![Payload::Notify(n)],
                reason.map(|reason| Event::ChildSaFailed {
                    sa: self.id,
                    peer: self.peer_name(),
                    pair_index,
                    reason,
                }),
            ),
            None => {
                let n = NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new());
                (vec![Payload::Notify(n)], None)
            }
        };
        self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, mid, &resp);
        if let Some(e) = event {
            ctx.out.event(e);
        }
    }

    /// Responder of an exchange carrying a Child SA (IKE_AUTH when
    /// `create_child` is false, else CREATE_CHILD_SA): selects, narrows,
    /// derives. `None` when there is no SA payload at all. On success
    /// returns the payloads to add to the response and the event payload.
    pub(crate) fn respond_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload],
        create_child: bool,
    ) -> Option<Result<(Vec<Payload>, ChildSaInfo), ChildRefusal>> {
        let f = find(payloads);
        let sa = f.sa?;
        Some(self.respond_child_inner(ctx, &f, sa, create_child))
    }

    fn respond_child_inner(
        &mut self,
        ctx: &mut Ctx<'_>,
        f: &Found<'_>,
        sa: &SaPayload,
        create_child: bool,
    ) -> Result<(Vec<Payload>, ChildSaInfo), ChildRefusal> {
        let peer = self
            .peer
            .clone()
            .ok_or(refuse(NotifyType::INVALID_SYNTAX, None, None))?;
        let (Some(ts_i), Some(ts_r)) = (f.ts_i, f.ts_r) else {
            return Err(refuse(NotifyType::INVALID_SYNTAX, None, None));
        };
        let offered_i: Vec<TsRange> = ts_i.ranges().copied().collect();
        let offered_r: Vec<TsRange> = ts_r.ranges().copied().collect();
        // REKEY_SA names the peer's inbound SPI, i.e. our outbound one.
        let rekeyed = match f.rekey {
            None => None,
            Some(spi) => match self.children.iter().find(|c| c.spi_out == spi) {
                // RFC 7296 2.25.1: a rekey of a Child SA we are closing
                // gets TEMPORARY_FAILURE (answering it made a Child SA the
                // peer, its old one gone, would never delete).
                Some(c) if self.closing_child(c.spi_in) => {
                    return Err(refuse(NotifyType::TEMPORARY_FAILURE, None, None))
                }
                Some(c) => Some(c.spi_in),
                None => return Err(refuse(NotifyType::CHILD_SA_NOT_FOUND, None, None)),
            },
        };
        if self.children.len() >= ctx.config.max_child_sas {
            let r = FailureReason::Internal("Child SA limit reached");
            return Err(refuse(NotifyType::NO_ADDITIONAL_SAS, Some(r), None));
        }
        let pfs = create_child.then(|| peer.pfs_policy());
        let Some(choice) = select_esp(&peer.esp_proposals, sa, pfs.as_ref()) else {
            let r = FailureReason::NoProposalChosen(RejectedBy::Us);
            return Err(refuse(NotifyType::NO_PROPOSAL_CHOSEN, Some(r), None));
        };
        let Some((pair_index, nar_i, nar_r)) = match_pair(&peer, &offered_i, &offered_r) else {
            let r = FailureReason::TsUnacceptable(RejectedBy::Us);
            return Err(refuse(NotifyType::TS_UNACCEPTABLE, Some(r), None));
        };
        let internal = |what| {
            refuse(
                NotifyType::NO_ADDITIONAL_SAS,
                Some(FailureReason::Internal(what)),
                Some(pair_index),
            )
        };
        let (ni, nr) = if create_child {
            let ni = f.nonce.map(|n| n.nonce.clone()).ok_or(refuse(
                NotifyType::INVALID_SYNTAX,
                None,
                Some(pair_index),
            ))?;
            (ni, random_nonce(ctx.rng).map_err(|_| internal("rng"))?)
        } else {
            (self.ni.clone(), self.nr.clone())
        };
        let mut ke_out = None;
        let g_ir = match choice.dh {
            None => None,
            Some(g) => {
                let Some(ke) = f.ke.filter(|k| k.group.0 == g.transform_id()) else {
                    let n = NotifyPayload::invalid_ke(crate::wire::DhGroup(g.transform_id()));
                    return Err((n, None, Some(pair_index)));
                };
                let k = DhPrivateKey::generate(g, ctx.rng).map_err(|_| internal("rng"))?;
                ke_out = Some(KePayload {
                    group: crate::wire::DhGroup(g.transform_id()),
                    data: k.public_value().to_vec(),
                });
                let secret = k
                    .agree(&ke.data)
                    .map_err(|_| refuse(NotifyType::INVALID_SYNTAX, None, Some(pair_index)))?;
                Some(secret)
            }
        };
        let spi_in = ctx
            .out
            .alloc_esp_spi(self.local.ip(), ctx.now, ctx.rng)
            .ok_or(internal("no free SPI"))?;
        let keys = match self.sk.as_ref().map(|sk| {
            sk.keys
                .child_sa_keys(choice.encr, choice.integ, g_ir.as_ref(), &ni, &nr)
        }) {
            Some(Ok(k)) => k,
            _ => {
                ctx.out.free_esp_spi(spi_in);
                return Err(internal("KEYMAT"));
            }
        };
        let mut extra = vec![Payload::Sa(esp_answer(&choice, spi_in))];
        if create_child {
            extra.push(Payload::Nonce(NoncePayload { nonce: nr.clone() }));
        }
        if let Some(ke) = ke_out {
            extra.push(Payload::Ke(ke));
        }
        extra.push(Payload::TsI(TsPayload::from_ranges(nar_i.iter().copied())));
        extra.push(Payload::TsR(TsPayload::from_ranges(nar_r.iter().copied())));
        let id = ctx.out.alloc_child_id();
        let pfs: Option<DhGroup> = choice.dh;
        if pfs.is_some() {
            // The peer uses PFS: so do our own Child SA creations and
            // rekeys with it from now on (RFC 7296 1.3.1: a rekey should
            // keep what the original negotiated).
            self.pfs_group = pfs;
        }
        let lowest = lowest_nonce(&ni, &nr);
        let info = self
            .add_child(
                ctx,
                id,
                NewChild {
                    pair_index,
                    role: Role::Responder,
                    choice,
                    spi_in,
                    keys,
                    ts_local: nar_r,
                    ts_remote: nar_i,
                    pfs,
                    rekey_of: rekeyed,
                },
            )
            .ok_or(internal("no peer"))?;
        if let Some(old) = rekeyed {
            self.after_peer_rekey(ctx.now, old, info.spi_in, lowest);
        }
        Ok((extra, info))
    }
}

/// The ESP proposals a CREATE_CHILD_SA offers. With PFS required, a
/// proposal without groups of its own offers every group of the IKE
/// proposals (after the one our KE is in), so a peer that wants another
/// group can name it with INVALID_KE_PAYLOAD instead of refusing the
/// proposal outright (strongSwan answers NO_PROPOSAL_CHOSEN when none of
/// the offered groups is its own).
fn pfs_proposals(peer: &crate::config::PeerConfig) -> Vec<crate::config::EspProposal> {
    let mut props = peer.esp_proposals.clone();
    if peer.require_pfs {
        let mut groups: Vec<DhGroup> = Vec::new();
        for g in peer.ike_proposals.iter().flat_map(|p| p.dh.iter()) {
            if !groups.contains(g) {
                groups.push(*g);
            }
        }
        for p in props.iter_mut().filter(|p| p.dh.is_empty()) {
            p.dh = groups.clone();
        }
    }
    props
}

/// Whether a CREATE_CHILD_SA answer's DH choice fits what we sent: `sent`
/// is the group of our KE (if any), `chosen` the DH transform of the
/// answer. `Ok(true)`: agree on that group; `Ok(false)`: no PFS on either
/// side. An answer without DH to an offer that carried KE is refused: our
/// offer then lists DH groups and no NONE, so RFC 7296 3.3.6 requires the
/// answer to choose one; taking it would silently drop PFS.
fn pfs_answer(sent: Option<DhGroup>, chosen: Option<DhGroup>) -> Result<bool, &'static str> {
    match (sent, chosen) {
        (Some(k), Some(g)) if g == k => Ok(true),
        (None, None) => Ok(false),
        (Some(_), None) => Err("answer without the DH group we offered (PFS dropped)"),
        _ => Err("PFS group differs from our KE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before: an answer without DH to our KE was taken, with no PFS and no
    /// error (even when PFS was required).
    #[test]
    fn an_answer_dropping_our_pfs_is_refused() {
        let g = DhGroup::Ecp256;
        assert!(pfs_answer(Some(g), None).is_err());
        assert_eq!(pfs_answer(Some(g), Some(g)), Ok(true));
        assert_eq!(pfs_answer(None, None), Ok(false));
        assert!(pfs_answer(None, Some(g)).is_err());
        assert!(pfs_answer(Some(g), Some(DhGroup::Curve25519)).is_err());
    }
}
