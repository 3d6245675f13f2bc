//! Per-message dispatch of one IKE SA: decryption (of whole SK messages,
//! or of SKF fragments one by one and their reassembly, RFC 7383),
//! message-ID window checks, retransmitted requests answered from the
//! cache, responses matched to the outstanding request, then the exchange
//! handlers; sending (fragmented when negotiated and too large); and the
//! SA's timers (retransmission of every datagram of a request, half-open
//! and reassembly expiry).

use std::net::SocketAddr;

use crate::event::{CloseReason, Event, FailureReason};
use crate::retransmit::{Retransmit, RetransmitAction};
use crate::sa::fragment::{max_message, Taken};
use crate::sa::sk::Opened;
use crate::sa::window::RequestCheck;
use crate::sa::{Ctx, IkeSa, Pending, PendingKind, Phase, Task};
use crate::stats::DropReason;
use crate::wire::{
    EncryptedView, ExchangeType, Header, Message, NotifyPayload, NotifyType, Payload, PayloadType,
    WireError,
};

impl IkeSa {
    /// Seals a message of ours: one SK datagram, or SKF fragments when
    /// fragmentation was negotiated and the message is too large.
    fn seal_datagrams(
        &mut self,
        ctx: &Ctx<'_>,
        header: &Header,
        payloads: &[Payload],
    ) -> Option<Vec<Vec<u8>>> {
        let max = self
            .frag
            .enabled
            .then(|| max_message(ctx.config, self.local, self.remote));
        self.sk
            .as_mut()
            .and_then(|sk| sk.seal_message(header, payloads, max))
    }

    /// Queues datagrams of ours (counting fragments).
    fn send_all(&self, ctx: &mut Ctx<'_>, datagrams: &[Vec<u8>]) {
        if datagrams.len() > 1 {
            ctx.out.stats.fragments_sent += datagrams.len() as u64;
        }
        for d in datagrams {
            ctx.out.send(self.local, self.remote, d.clone());
        }
    }

    /// Seals and sends a request, making it the outstanding one. Returns
    /// false if it cannot be encoded (e.g. more than 255 traffic selectors
    /// in one payload, the wire format's limit): an IKE_AUTH fails the IKE
    /// SA, a new Child SA fails with an event, instead of waiting forever
    /// for an answer to nothing.
    pub(crate) fn send_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
        kind: PendingKind,
    ) -> bool {
        let mid = self.window.next_mid;
        let header = self.header(exchange, false, mid);
        let Some(datagrams) = self.seal_datagrams(ctx, &header, payloads) else {
            let why = FailureReason::Internal("a request of ours cannot be encoded");
            match &kind {
                PendingKind::Auth(_) => {
                    kind.release(ctx.out);
                    self.fail(ctx, why);
                }
                PendingKind::CreateChild(r) if r.rekey_of.is_none() => {
                    let index = r.pair_index;
                    kind.release(ctx.out);
                    self.child_failed(ctx, Some(index), why);
                }
                _ => kind.release(ctx.out),
            }
            return false;
        };
        self.send_all(ctx, &datagrams);
        self.window.next_mid = mid.wrapping_add(1);
        self.window.pending = Some(Pending {
            mid,
            datagrams,
            retx: Retransmit::start(ctx.now, &ctx.config.retransmit),
            kind,
        });
        true
    }

    /// Seals, sends and caches the response to request `mid`.
    pub(crate) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        mid: u32,
        payloads: &[Payload],
    ) {
        let header = self.header(exchange, true, mid);
        if let Some(datagrams) = self.seal_datagrams(ctx, &header, payloads) {
            self.send_all(ctx, &datagrams);
            self.window.last_response = Some((mid, datagrams));
        }
        self.window.peer_next = mid.wrapping_add(1);
    }

    /// Re-sends the cached response (retransmitted request), every
    /// fragment of it if it was fragmented.
    pub(crate) fn resend_response(&mut self, ctx: &mut Ctx<'_>) {
        if let Some((_, datagrams)) = &self.window.last_response {
            ctx.out.stats.responses_resent += 1;
            self.send_all(ctx, datagrams);
        }
    }

    /// Responder: re-sends our IKE_SA_INIT response (the request was
    /// retransmitted or replayed; nothing changes).
    pub(crate) fn resend_init_response(&mut self, ctx: &mut Ctx<'_>) {
        if !self.initiator && !self.init_response.is_empty() {
            ctx.out.stats.responses_resent += 1;
            ctx.out
                .send(self.local, self.remote, self.init_response.clone());
        }
    }

    /// Handles a datagram addressed to this SA.
    pub(crate) fn handle_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        header: &Header,
        datagram: &[u8],
    ) {
        if header.exchange == ExchangeType::IKE_SA_INIT {
            self.handle_plain_init(ctx, remote, header, datagram);
            return;
        }
        let Some(sk) = self.sk.as_ref() else {
            ctx.out.drop(remote, DropReason::UnexpectedExchange);
            return;
        };
        let opened = if header.next_payload == PayloadType::SKF {
            match self.receive_fragment(ctx, remote, datagram) {
                Some(o) => o,
                None => return,
            }
        } else {
            match sk.open(datagram) {
                Ok(o) => o,
                Err(reason) => {
                    ctx.out.drop(remote, reason);
                    return;
                }
            }
        };
        let h = opened.header;
        if h.is_request() {
            match self.window.check_request(h.message_id) {
                RequestCheck::New => {}
                RequestCheck::Retransmission => {
                    self.resend_response(ctx);
                    return;
                }
                RequestCheck::OutOfWindow => {
                    ctx.out.drop(remote, DropReason::OutOfWindow);
                    return;
                }
            }
        } else if !self.window.is_expected_response(h.message_id) {
            ctx.out.drop(remote, DropReason::UnexpectedResponse);
            return;
        }
        // Authenticated and new (not a retransmission): follow the peer's
        // address while the SA is being set up (port float), and after only
        // if the peer is behind a NAT (RFC 7296 2.23: a peer that is not is
        // not followed, nor are we when we are the one behind it).
        self.local = local;
        if remote != self.remote {
            if self.phase != Phase::Established {
                self.remote = remote;
            } else if self.nat.remote_behind_nat {
                let old = std::mem::replace(&mut self.remote, remote);
                ctx.out.event(Event::PeerAddressChanged {
                    sa: self.id,
                    peer: self.peer_name(),
                    old,
                    new: remote,
                });
            }
        }
        self.last_heard = ctx.now;
        let payloads = match opened.payloads {
            Ok(p) => p,
            Err(e) => {
                ctx.out.drop(remote, DropReason::Malformed);
                if h.is_request() {
                    let n = match e {
                        WireError::UnsupportedCriticalPayload { payload_type } => {
                            NotifyPayload::unsupported_critical_payload(payload_type)
                        }
                        _ => NotifyPayload::new(NotifyType::INVALID_SYNTAX, Vec::new()),
                    };
                    self.send_response(ctx, h.exchange, h.message_id, &[Payload::Notify(n)]);
                } else {
                    self.fail_request(ctx, FailureReason::InvalidResponse("undecodable response"));
                }
                return;
            }
        };
        if h.is_request() {
            self.handle_request(ctx, &h, payloads);
        } else if let Some(p) = self.window.pending.take() {
            self.handle_response(ctx, p.kind, payloads);
        }
    }

    /// An Encrypted Fragment message (RFC 7383 2.6): dropped unless
    /// fragmentation was negotiated and its message ID is the request we
    /// expect, a retransmission of the last one, or the response to ours;
    /// then its ICV is checked and it is decrypted on its own. A fragment
    /// of a retransmitted request re-sends our cached response (every
    /// fragment) only if it is fragment 1 (2.6.1), so that one
    /// retransmission is answered once. Returns the whole message when
    /// this fragment completed it.
    fn receive_fragment(
        &mut self,
        ctx: &mut Ctx<'_>,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> Option<Opened> {
        let Ok(view) = EncryptedView::parse(datagram) else {
            ctx.out.drop(remote, DropReason::Fragment);
            return None;
        };
        let (Some(fragment), true) = (view.fragment, self.frag.enabled) else {
            ctx.out.drop(remote, DropReason::Fragment);
            return None;
        };
        let h = &view.header;
        let mut retransmission = false;
        if h.is_request() {
            match self.window.check_request(h.message_id) {
                RequestCheck::New => {}
                RequestCheck::Retransmission => retransmission = true,
                RequestCheck::OutOfWindow => {
                    ctx.out.drop(remote, DropReason::OutOfWindow);
                    return None;
                }
            }
        } else if !self.window.is_expected_response(h.message_id) {
            ctx.out.drop(remote, DropReason::UnexpectedResponse);
            return None;
        }
        let content = match self.sk.as_ref()?.open_fragment(&view) {
            Ok(c) => c,
            Err(reason) => {
                ctx.out.drop(remote, reason);
                return None;
            }
        };
        ctx.out.stats.fragments_received += 1;
        if retransmission {
            if fragment.number == 1 {
                self.resend_response(ctx);
            }
            return None;
        }
        // Before IKE_AUTH has authenticated the peer, anyone who did an
        // IKE_SA_INIT has the keys: such an SA may reassemble much less.
        let authenticated = self.phase != Phase::HalfOpen;
        match self.frag.take(
            ctx.config,
            ctx.now,
            &view,
            fragment,
            &content,
            authenticated,
        ) {
            Taken::Pending => None,
            Taken::Complete(opened) => {
                ctx.out.stats.messages_reassembled += 1;
                Some(*opened)
            }
            Taken::Refused => {
                ctx.out.drop(remote, DropReason::Fragment);
                None
            }
        }
    }

    fn handle_plain_init(
        &mut self,
        ctx: &mut Ctx<'_>,
        remote: SocketAddr,
        header: &Header,
        datagram: &[u8],
    ) {
        if header.is_request() {
            // A retransmitted IKE_SA_INIT request that reached us by SPI.
            if !self.initiator && header.message_id == 0 && datagram == self.init_request {
                self.resend_init_response(ctx);
            } else {
                ctx.out.drop(remote, DropReason::UnexpectedExchange);
            }
            return;
        }
        if self.phase != Phase::InitSent || !self.window.is_expected_response(header.message_id) {
            ctx.out.drop(remote, DropReason::UnexpectedResponse);
            return;
        }
        match Message::decode(datagram) {
            Ok(msg) => self.handle_init_response(ctx, remote, datagram, &msg),
            Err(_) => ctx.out.drop(remote, DropReason::Malformed),
        }
    }

    fn handle_request(&mut self, ctx: &mut Ctx<'_>, h: &Header, payloads: Vec<Payload>) {
        let mid = h.message_id;
        match (h.exchange, self.phase) {
            (ExchangeType::IKE_AUTH, Phase::HalfOpen) if !self.initiator => {
                self.handle_auth_request(ctx, mid, &payloads)
            }
            (ExchangeType::CREATE_CHILD_SA, Phase::Established | Phase::Deleting) => {
                self.handle_create_child_request(ctx, mid, &payloads)
            }
            (ExchangeType::INFORMATIONAL, Phase::Established | Phase::Deleting) => {
                self.handle_informational_request(ctx, mid, &payloads)
            }
            (ExchangeType::INFORMATIONAL, Phase::InitSent | Phase::AuthSent | Phase::HalfOpen) => {
                // E.g. AUTHENTICATION_FAILED before the SA is complete.
                self.send_response(ctx, h.exchange, mid, &[]);
                let reason = crate::exchange::errors::first_error(&payloads)
                    .map(|n| crate::exchange::errors::reason_for(n.notify_type))
                    .unwrap_or(FailureReason::InvalidResponse(
                        "INFORMATIONAL before IKE_AUTH",
                    ));
                self.fail(ctx, reason);
            }
            _ => {
                ctx.out.drop(self.remote, DropReason::UnexpectedExchange);
            }
        }
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, kind: PendingKind, payloads: Vec<Payload>) {
        match kind {
            PendingKind::Init => {}
            PendingKind::Auth(child) => self.handle_auth_response(ctx, child, &payloads),
            PendingKind::CreateChild(req) => {
                self.handle_create_child_response(ctx, *req, &payloads)
            }
            PendingKind::RekeyIke(req) => self.handle_rekey_ike_response(ctx, *req, &payloads),
            PendingKind::DeleteIke => self.die(ctx, None),
            PendingKind::Informational => self.start_next_task(ctx),
            PendingKind::DeleteChild(spi) => self.handle_delete_child_response(ctx, spi),
        }
    }

    /// The outstanding request failed for good (timeout, bad response).
    pub(crate) fn fail_request(&mut self, ctx: &mut Ctx<'_>, reason: FailureReason) {
        match self.phase {
            Phase::InitSent | Phase::AuthSent | Phase::HalfOpen => self.fail(ctx, reason),
            Phase::Deleting | Phase::Lingering | Phase::Dead => self.die(ctx, None),
            Phase::Established => {
                // RFC 7296 2.4: an unanswered request means the peer is gone.
                let e = Event::IkeSaClosed {
                    sa: self.id,
                    peer: self.peer_name(),
                    reason: CloseReason::Timeout,
                };
                self.die(ctx, Some(e));
            }
        }
    }

    /// Runs the SA's timers.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.frag.expire(ctx.config, ctx.now);
        if self.expires_at.is_some_and(|t| ctx.now >= t)
            && matches!(
                self.phase,
                Phase::HalfOpen | Phase::Deleting | Phase::Lingering
            )
        {
            // A half-open SA from the address of a configured peer is worth
            // reporting (its IKE_AUTH never came); anything else, e.g. from
            // spoofed first messages, goes quietly.
            let expected = self
                .candidates
                .iter()
                .find(|p| p.remote.is_some_and(|r| r.ip() == self.remote.ip()))
                .filter(|_| self.phase == Phase::HalfOpen);
            let event = expected.map(|p| Event::IkeSaFailed {
                sa: self.id,
                peer: p.name.clone(),
                reason: FailureReason::HalfOpenExpired,
            });
            self.die(ctx, event);
            return;
        }
        if self.phase == Phase::Established {
            if let Some(t) = self.keepalive_at.filter(|t| *t <= ctx.now) {
                ctx.out.send_keepalive(self.local, self.remote);
                self.keepalive_at = ctx.config.nat_keepalive.map(|d| t.max(ctx.now) + d);
            }
            self.queue_due_rekeys(ctx);
            if self.ike_rekey_at.is_some_and(|t| t <= ctx.now) {
                self.ike_rekey_at = None;
                self.queue(Task::RekeyIke);
            }
            if self.dpd_at(ctx.config).is_some_and(|t| t <= ctx.now) {
                self.queue(Task::Dpd);
            }
            self.start_next_task(ctx);
        }
        let Some(p) = self.window.pending.as_mut() else {
            return;
        };
        match p.retx.poll(ctx.now, &ctx.config.retransmit) {
            RetransmitAction::Wait => {}
            RetransmitAction::Resend => {
                ctx.out.stats.retransmissions += 1;
                let datagrams = p.datagrams.clone();
                self.send_all(ctx, &datagrams);
            }
            RetransmitAction::GiveUp => {
                if let Some(p) = self.window.pending.take() {
                    p.kind.release(ctx.out);
                }
                // An IKE_SA_INIT that only met errors: report the error.
                let reason = self.init_error().unwrap_or(FailureReason::Timeout);
                self.fail_request(ctx, reason);
            }
        }
    }
}
