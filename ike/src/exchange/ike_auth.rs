//! IKE_AUTH (RFC 7296 1.2, 2.15) with pre-shared keys, both roles, and
//! the first Child SA it carries.
//!
//! * Request: `SK {IDi, AUTH, [N(INITIAL_CONTACT)], SAi2, TSi, TSr}`.
//! * Response: `SK {IDr, AUTH, SAr2, TSi, TSr}`, or `SK {N(AUTHENTICATION_FAILED)}`.
//!
//! AUTH is computed and checked in [`crate::crypto`] over the IKE_SA_INIT
//! message as sent, the peer's nonce and the ID payload body. The peer
//! must present the configured identity; a responder finds the peer
//! configuration by the IDi among those matching the sender's address.

use crate::child::ChildRequest;
use crate::crypto::{compute_psk_auth, verify_psk_auth, Role};
use crate::event::{Event, FailureReason, RejectedBy};
use crate::exchange::errors::{first_error, reason_for};
use crate::proposal::esp_offer;
use crate::sa::{Ctx, IkeSa, PendingKind, Phase};
use crate::wire::{
    AuthMethod, AuthPayload, ExchangeType, IdPayload, NotifyPayload, NotifyType, Payload, TsPayload,
};

/// How long a responder SA whose IKE_AUTH failed stays to answer
/// retransmissions of that request.
const FAILED_AUTH_LINGER: std::time::Duration = std::time::Duration::from_secs(10);

fn auth_failed() -> FailureReason {
    FailureReason::AuthenticationFailed(RejectedBy::Us)
}

impl IkeSa {
    /// Initiator: sends IKE_AUTH with the first Child SA of the peer.
    pub(crate) fn send_auth(&mut self, ctx: &mut Ctx<'_>) {
        let Some(peer) = self.peer.clone() else {
            return;
        };
        let Some(sk) = self.sk.as_ref() else {
            return;
        };
        let idi = IdPayload::new(peer.local_id.clone());
        let Ok(body) = idi.body_bytes() else {
            self.fail(ctx, FailureReason::Internal("encoding IDi"));
            return;
        };
        let auth = compute_psk_auth(
            &sk.keys,
            Role::Initiator,
            peer.psk.expose(),
            &self.init_request,
            &self.nr,
            &body,
        );
        let mut payloads = vec![
            Payload::IdI(idi),
            Payload::Auth(AuthPayload {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ];
        // Only when we have no other SA with this peer (as strongSwan does):
        // the peer drops every older SA with us when it sees it.
        if peer.initial_contact && !self.other_sas_with_peer {
            payloads.push(Payload::Notify(NotifyPayload::new(
                NotifyType::INITIAL_CONTACT,
                Vec::new(),
            )));
        }
        let mut child = None;
        if let Some(pair) = peer.children.first() {
            let Some(spi_in) = ctx.out.alloc_esp_spi(self.local.ip(), ctx.now, ctx.rng) else {
                self.fail(ctx, FailureReason::Internal("no free SPI"));
                return;
            };
            let offer = esp_offer(&peer.esp_proposals, spi_in, None);
            payloads.push(Payload::Sa(offer.clone()));
            payloads.push(Payload::TsI(TsPayload::from_ranges(
                pair.local.iter().copied(),
            )));
            payloads.push(Payload::TsR(TsPayload::from_ranges(
                pair.remote.iter().copied(),
            )));
            child = Some(Box::new(ChildRequest {
                pair_index: 0,
                spi_in,
                offer,
                ts_i: pair.local.clone(),
                ts_r: pair.remote.clone(),
                nonce: None,
                dh: None,
                rekey_of: None,
                peer_rekey: None,
            }));
        }
        self.phase = Phase::AuthSent;
        self.send_request(
            ctx,
            ExchangeType::IKE_AUTH,
            &payloads,
            PendingKind::Auth(child),
        );
    }

    /// Responder: checks the initiator's identity and AUTH, answers with
    /// ours and the first Child SA.
    pub(crate) fn handle_auth_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        mid: u32,
        payloads: &[Payload],
    ) {
        let idi = payloads.iter().find_map(|p| match p {
            Payload::IdI(i) => Some(i),
            _ => None,
        });
        let auth = payloads.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let verified = match (idi, auth, self.sk.as_ref()) {
            (Some(idi), Some(auth), Some(sk)) if auth.method == AuthMethod::SHARED_KEY_MIC => {
                let body = idi.body_bytes().unwrap_or_default();
                self.candidates
                    .iter()
                    .filter(|p| p.remote_id == idi.identity)
                    .find(|p| {
                        verify_psk_auth(
                            &sk.keys,
                            Role::Initiator,
                            p.psk.expose(),
                            &self.init_request,
                            &self.nr,
                            &body,
                            &auth.data,
                        )
                        .is_ok()
                    })
                    .cloned()
            }
            _ => None,
        };
        let Some(peer) = verified else {
            let n = NotifyPayload::new(NotifyType::AUTHENTICATION_FAILED, Vec::new());
            self.send_response(ctx, ExchangeType::IKE_AUTH, mid, &[Payload::Notify(n)]);
            if let Some(IdPayload { identity, .. }) = idi {
                // Name the peer in the event if the identity is known.
                self.peer = self
                    .candidates
                    .iter()
                    .find(|p| p.remote_id == *identity)
                    .cloned();
            }
            self.fail(ctx, auth_failed());
            // Stay a little to answer retransmissions of the request (the
            // answer may be lost; 10 s covers the first four); nothing else
            // is accepted, and the SA counts against its source's
            // half-open limit meanwhile.
            self.phase = Phase::Lingering;
            self.expires_at = Some(ctx.now + FAILED_AUTH_LINGER.min(ctx.config.retransmit.total));
            return;
        };
        self.peer = Some(peer.clone());
        self.candidates.clear();
        if payloads.iter().any(
            |p| matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::INITIAL_CONTACT),
        ) {
            ctx.out.initial_contacts.push(self.id);
        }
        self.expires_at = None;
        self.set_established(ctx);

        let idr = IdPayload::new(peer.local_id.clone());
        let body = idr.body_bytes().unwrap_or_default();
        let Some(sk) = self.sk.as_ref() else {
            return;
        };
        let auth = compute_psk_auth(
            &sk.keys,
            Role::Responder,
            peer.psk.expose(),
            &self.init_response,
            &self.ni,
            &body,
        );
        let mut resp = vec![
            Payload::IdR(idr),
            Payload::Auth(AuthPayload {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ];
        let child = self.respond_child(ctx, payloads, false);
        let child_event = match child {
            None => None,
            Some(Ok((mut extra, info))) => {
                resp.append(&mut extra);
                Some(Event::ChildSaEstablished(Box::new(info)))
            }
            Some(Err((notify, reason, pair_index))) => {
                resp.push(Payload::Notify(notify));
                Some(Event::ChildSaFailed {
                    sa: self.id,
                    peer: peer.name.clone(),
                    pair_index,
                    reason: reason.unwrap_or(FailureReason::NoProposalChosen(RejectedBy::Us)),
                })
            }
        };
        self.send_response(ctx, ExchangeType::IKE_AUTH, mid, &resp);
        if let Some(info) = self.info() {
            ctx.out.event(Event::IkeSaEstablished(info));
        }
        if let Some(e) = child_event {
            ctx.out.event(e);
        }
    }

    /// Initiator: checks the responder's identity and AUTH, then the
    /// first Child SA, then starts the remaining ones.
    pub(crate) fn handle_auth_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        child: Option<Box<ChildRequest>>,
        payloads: &[Payload],
    ) {
        let release = |ctx: &mut Ctx<'_>, c: &Option<Box<ChildRequest>>| {
            if let Some(c) = c {
                ctx.out.free_esp_spi(c.spi_in);
            }
        };
        let idr = payloads.iter().find_map(|p| match p {
            Payload::IdR(i) => Some(i),
            _ => None,
        });
        let auth = payloads.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let (Some(idr), Some(auth)) = (idr, auth) else {
            release(ctx, &child);
            let reason = first_error(payloads)
                .map(|n| reason_for(n.notify_type))
                .unwrap_or(FailureReason::InvalidResponse(
                    "IKE_AUTH response without IDr/AUTH",
                ));
            self.fail(ctx, reason);
            return;
        };
        let (Some(peer), Some(sk)) = (self.peer.clone(), self.sk.as_ref()) else {
            return;
        };
        let ok = idr.identity == peer.remote_id
            && auth.method == AuthMethod::SHARED_KEY_MIC
            && verify_psk_auth(
                &sk.keys,
                Role::Responder,
                peer.psk.expose(),
                &self.init_response,
                &self.ni,
                &idr.body_bytes().unwrap_or_default(),
                &auth.data,
            )
            .is_ok();
        if !ok {
            release(ctx, &child);
            // Tell the responder (RFC 7296 2.21.2), then forget the SA.
            let n = NotifyPayload::new(NotifyType::AUTHENTICATION_FAILED, Vec::new());
            self.send_request(
                ctx,
                ExchangeType::INFORMATIONAL,
                &[Payload::Notify(n)],
                PendingKind::Informational,
            );
            self.window.pending = None;
            self.fail(ctx, auth_failed());
            return;
        }
        self.set_established(ctx);
        if let Some(info) = self.info() {
            ctx.out.event(Event::IkeSaEstablished(info));
        }
        if let Some(req) = child {
            let (ni, nr) = (self.ni.clone(), self.nr.clone());
            self.finish_child(ctx, *req, payloads, &ni, &nr);
        }
        self.start_next_task(ctx);
    }
}
