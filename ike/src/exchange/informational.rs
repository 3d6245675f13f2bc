//! INFORMATIONAL exchanges (RFC 7296 1.4): Delete payloads for Child SAs
//! and the IKE SA in both directions, empty requests (liveness checks)
//! answered with empty responses, and error notifies from the peer.

use crate::event::{CloseReason, Event, FailureReason};
use crate::exchange::errors::{first_error, reason_for};
use crate::sa::{Ctx, IkeSa, PendingKind, Phase};
use crate::wire::{DeletePayload, ExchangeType, NotifyType, Payload, ProtocolId};

impl IkeSa {
    /// Answers an INFORMATIONAL request.
    pub(crate) fn handle_informational_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        mid: u32,
        payloads: &[Payload],
    ) {
        let mut delete_ike = false;
        let mut deleted_in = Vec::new();
        for p in payloads {
            let Payload::Delete(d) = p else { continue };
            match d.protocol {
                ProtocolId::IKE => delete_ike = true,
                ProtocolId::ESP => {
                    for spi in d.spis_u32() {
                        // The peer names its inbound SPI, our outbound one.
                        if let Some(pos) = self.children.iter().position(|c| c.spi_out == spi) {
                            let c = self.children.remove(pos);
                            self.rekeyed_child_deleted(&c);
                            ctx.out.free_esp_spi(c.spi_in);
                            // Crossing Deletes (RFC 7296 1.4.1): no Delete
                            // payload back for an SA whose Delete of ours
                            // is outstanding.
                            let ours_outstanding = matches!(&self.window.pending,
                                Some(p) if matches!(p.kind, PendingKind::DeleteChild(s) if s == c.spi_in));
                            if !ours_outstanding {
                                deleted_in.push(c.spi_in);
                            }
                            ctx.out.event(Event::ChildSaDeleted {
                                sa: self.id,
                                child: c.id,
                                spi_in: c.spi_in,
                                spi_out: c.spi_out,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        if delete_ike {
            self.send_response(ctx, ExchangeType::INFORMATIONAL, mid, &[]);
            // The peer deletes this SA while its rekey, crossing ours, waits
            // for our answer (RFC 7296 2.8.2): it won, or never saw the
            // collision. Its new SA carries on; dying here lost the Child SAs.
            if let Some(theirs) = self.passive_rekey.take() {
                self.take_peers_rekey(ctx, theirs);
            }
            // Replaced by a rekey, or closing already (crossing Deletes,
            // RFC 7296 2.25.2: reply and forget our own request): its
            // IkeSaClosed was reported then; not a second time.
            if self.replaced || self.phase == Phase::Deleting {
                self.die(ctx, None);
                return;
            }
            let reason = if self.other_sas_with_peer {
                CloseReason::Superseded
            } else {
                CloseReason::DeletedByPeer
            };
            let e = Event::IkeSaClosed {
                sa: self.id,
                peer: self.peer_name(),
                reason,
            };
            self.die(ctx, Some(e));
            return;
        }
        let auth_failed = first_error(payloads)
            .filter(|n| n.notify_type == NotifyType::AUTHENTICATION_FAILED)
            .map(|n| reason_for(n.notify_type));
        let resp = if deleted_in.is_empty() {
            Vec::new()
        } else {
            vec![Payload::Delete(DeletePayload::esp(&deleted_in))]
        };
        self.send_response(ctx, ExchangeType::INFORMATIONAL, mid, &resp);
        if let Some(reason) = auth_failed {
            // The peer rejected our AUTH after we accepted its own.
            let e = Event::IkeSaFailed {
                sa: self.id,
                peer: self.peer_name(),
                reason,
            };
            self.die(ctx, Some(e));
        }
    }

    /// Deletes the IKE SA (and with it every Child SA): reports them
    /// closed at once and tells the peer.
    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_>) {
        self.close_with(ctx, CloseReason::Local);
    }

    /// Like [`close`](Self::close) with a given reason.
    pub(crate) fn close_with(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        match self.phase {
            Phase::Established => {
                if let Some(p) = self.window.pending.take() {
                    p.kind.release(ctx.out);
                }
                self.tasks.clear();
                let e = Event::IkeSaClosed {
                    sa: self.id,
                    peer: self.peer_name(),
                    reason,
                };
                self.die(ctx, Some(e));
                self.phase = Phase::Deleting;
                self.send_ike_delete(ctx);
            }
            Phase::Deleting | Phase::Dead => {}
            _ => self.fail(
                ctx,
                FailureReason::Internal("closed locally before it was established"),
            ),
        }
    }

    /// Sends a Delete of this IKE SA (the request then outstanding).
    pub(crate) fn send_ike_delete(&mut self, ctx: &mut Ctx<'_>) {
        self.send_request(
            ctx,
            ExchangeType::INFORMATIONAL,
            &[Payload::Delete(DeletePayload::ike())],
            PendingKind::DeleteIke,
        );
    }
}
