//! IKE_SA_INIT, initiator side (RFC 7296 1.2, 2.6, 2.23):
//! `HDR, [N(COOKIE),] SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP),
//! N(NAT_DETECTION_DESTINATION_IP) [, N(IKEV2_FRAGMENTATION_SUPPORTED)]`, the INVALID_KE_PAYLOAD retry with the
//! requested group (fresh ephemeral key, same SPI and nonce), the COOKIE
//! retry, and on success the key schedule, NAT verdict and whether IKE
//! fragmentation was negotiated (RFC 7383 2.3), followed by the
//! IKE_AUTH request.

use std::sync::Arc;

use ring::rand::SecureRandom;

use crate::config::PeerConfig;
use crate::crypto::{random_ike_spi, random_nonce, DhGroup, DhPrivateKey, IkeSaKeys, Role};
use crate::event::{Event, FailureReason, SaId};
use crate::exchange::errors::reason_for;
use crate::proposal::{check_ike_answer, ike_offer};
use crate::retransmit::Retransmit;
use crate::sa::{
    nat_notifies, Ctx, Fragmentation, IkeSa, NatDetection, Pending, PendingKind, Phase, SkState,
    Task, Window,
};
use crate::stats::DropReason;
use crate::wire::{
    ExchangeType, KePayload, Message, NoncePayload, NotifyPayload, NotifyType, Payload, SaPayload,
};

/// Initiator state until the IKE_SA_INIT response arrives.
pub(crate) struct InitiatorInit {
    /// The ephemeral key of the current attempt.
    pub dh: Option<DhPrivateKey>,
    /// Our SA offer (the response is checked against it).
    pub offer: SaPayload,
    /// The responder's cookie, echoed first in the request.
    pub cookie: Option<Vec<u8>>,
    pub ke_retries: u8,
    pub cookie_retries: u8,
    /// What the last unprotected error or unusable answer said: reported
    /// if no valid answer comes before the retransmissions run out.
    pub error: Option<FailureReason>,
}

impl IkeSa {
    /// A new initiator SA for `peer` (nothing is sent yet).
    pub(crate) fn new_initiator(
        id: SaId,
        peer: PeerConfig,
        remote: std::net::SocketAddr,
        now: std::time::Instant,
        rng: &dyn SecureRandom,
    ) -> Result<IkeSa, FailureReason> {
        let group = peer
            .ike_proposals
            .first()
            .and_then(|p| p.dh.first())
            .copied()
            .ok_or(FailureReason::Internal("no DH group configured"))?;
        let spi_i = random_ike_spi(rng).map_err(|_| FailureReason::Internal("rng"))?;
        let ni = random_nonce(rng).map_err(|_| FailureReason::Internal("rng"))?;
        let dh = DhPrivateKey::generate(group, rng).map_err(|_| FailureReason::Internal("rng"))?;
        // The first pair goes into IKE_AUTH, the others follow.
        let tasks = (1..peer.children.len()).map(Task::CreateChild).collect();
        Ok(IkeSa {
            id,
            initiator: true,
            local: peer.local,
            remote,
            spi_i,
            spi_r: [0; 8],
            phase: Phase::InitSent,
            ni,
            nr: Vec::new(),
            init_request: Vec::new(),
            init_response: Vec::new(),
            algs: None,
            sk: None,
            nat: NatDetection::default(),
            window: Window::default(),
            children: Vec::new(),
            tasks,
            last_heard: now,
            init: Some(InitiatorInit {
                dh: Some(dh),
                offer: ike_offer(&peer.ike_proposals),
                cookie: None,
                ke_retries: 0,
                cookie_retries: 0,
                error: None,
            }),
            expires_at: None,
            replaced: false,
            ike_rekey_at: None,
            keepalive_at: None,
            created_at: now,
            established_at: None,
            other_sas_with_peer: false,
            superseded_deadline: None,
            lost_to_duplicate: false,
            pfs_group: None,
            candidates: Vec::new(),
            peer: Some(Arc::new(peer)),
            frag: Fragmentation::default(),
            passive_rekey: None,
        })
    }

    /// Ends a not yet established SA with a failure event.
    pub(crate) fn fail(&mut self, ctx: &mut Ctx<'_>, reason: FailureReason) {
        let e = Event::IkeSaFailed {
            sa: self.id,
            peer: self.peer_name(),
            reason,
        };
        self.die(ctx, Some(e));
    }

    /// (Re)sends the IKE_SA_INIT request of the current attempt.
    pub(crate) fn send_init(&mut self, ctx: &mut Ctx<'_>) {
        let force = self.peer.as_ref().is_some_and(|p| p.force_encapsulation);
        let Some(init) = self.init.as_ref() else {
            return;
        };
        let Some(dh) = init.dh.as_ref() else {
            return;
        };
        let mut msg = Message::new(self.header(ExchangeType::IKE_SA_INIT, false, 0));
        if let Some(c) = &init.cookie {
            msg.payloads.push(Payload::Notify(NotifyPayload::new(
                NotifyType::COOKIE,
                c.clone(),
            )));
        }
        msg.payloads.push(Payload::Sa(init.offer.clone()));
        msg.payloads.push(Payload::Ke(KePayload {
            group: crate::wire::DhGroup(dh.group().transform_id()),
            data: dh.public_value().to_vec(),
        }));
        msg.payloads.push(Payload::Nonce(NoncePayload {
            nonce: self.ni.clone(),
        }));
        msg.payloads.extend(nat_notifies(
            &self.spi_i,
            &self.spi_r,
            self.local,
            self.remote,
            force,
            ctx.rng,
        ));
        if ctx.config.fragmentation {
            msg.payloads.push(Payload::Notify(NotifyPayload::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            )));
        }
        let Ok(bytes) = msg.encode() else {
            self.fail(ctx, FailureReason::Internal("encoding IKE_SA_INIT"));
            return;
        };
        self.init_request = bytes.clone();
        ctx.out.send(self.local, self.remote, bytes.clone());
        self.window.pending = Some(Pending {
            mid: 0,
            datagrams: vec![bytes],
            retx: Retransmit::start(ctx.now, &ctx.config.retransmit),
            kind: PendingKind::Init,
        });
        self.window.next_mid = 1;
    }

    /// Handles the (unencrypted) IKE_SA_INIT response.
    /// An answer to our IKE_SA_INIT request, which is still outstanding.
    /// It is unauthenticated, so an error notify or an answer that cannot
    /// be ours does not end the exchange: it is noted, the request stays
    /// outstanding (retransmitted on schedule) and the first valid answer
    /// is taken; the note is the failure reason if none comes (RFC 7296
    /// 2.21.1). COOKIE and INVALID_KE_PAYLOAD start a new attempt (bounded).
    pub(crate) fn handle_init_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        remote: std::net::SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) {
        if let Some(cookie) = msg.notify(NotifyType::COOKIE) {
            self.window.pending = None;
            self.retry_with_cookie(ctx, cookie.data.clone());
            return;
        }
        if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
            let requested = n.invalid_ke_group().map(|g| g.0).unwrap_or(0);
            let current = self
                .init
                .as_ref()
                .and_then(|i| i.dh.as_ref())
                .map(|d| d.group().transform_id());
            if current == Some(requested) {
                // We already sent that group: this answers an earlier copy
                // of the request (each retransmission is answered). The
                // request stays outstanding: its answer, or the
                // retransmission schedule, decides (RFC 7296 2.21.1).
                return;
            }
            self.window.pending = None;
            ctx.out.stats.invalid_ke_received += 1;
            self.retry_with_group(ctx, requested);
            return;
        }
        let unusable = match msg.notifies().find(|n| n.is_error()) {
            Some(err) => Some(reason_for(err.notify_type)),
            None => self.check_init_response(msg).err(),
        };
        if let Some(reason) = unusable {
            if let Some(init) = self.init.as_mut() {
                init.error = Some(reason);
            }
            ctx.out.drop(remote, DropReason::UnprotectedInitAnswer);
            return;
        }
        self.window.pending = None;
        if let Err(reason) = self.complete_init(ctx, datagram, msg) {
            self.fail(ctx, reason);
            return;
        }
        self.send_auth(ctx);
    }

    /// The unprotected error or unusable answer seen while our IKE_SA_INIT
    /// was outstanding, if any (the reason when it times out).
    pub(crate) fn init_error(&self) -> Option<FailureReason> {
        self.init.as_ref().and_then(|i| i.error.clone())
    }

    /// Whether an IKE_SA_INIT response can answer our request, checked
    /// without using our DH key (which one agreement consumes).
    fn check_init_response(&self, msg: &Message) -> Result<(), FailureReason> {
        let bad = FailureReason::InvalidResponse;
        let init = self.init.as_ref().ok_or(bad("no IKE_SA_INIT state"))?;
        if msg.header.spi_r == 0 {
            return Err(bad("responder SPI zero"));
        }
        let sa = msg.payloads.iter().find_map(|p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        });
        let ke = msg.payloads.iter().find_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        });
        let has_nonce = msg.payloads.iter().any(|p| matches!(p, Payload::Nonce(_)));
        let (Some(sa), Some(ke), true) = (sa, ke, has_nonce) else {
            return Err(bad("IKE_SA_INIT response lacks SA, KE or Nonce"));
        };
        let algs = check_ike_answer(&init.offer, sa).map_err(bad)?;
        let dh = init.dh.as_ref().ok_or(bad("no DH key"))?;
        if algs.dh != dh.group() || ke.group.0 != dh.group().transform_id() {
            return Err(bad("responder chose another DH group than our KE"));
        }
        Ok(())
    }

    fn retry_with_cookie(&mut self, ctx: &mut Ctx<'_>, cookie: Vec<u8>) {
        let max = ctx.config.max_cookie_retries;
        let Some(init) = self.init.as_mut() else {
            return;
        };
        if init.cookie_retries >= max || cookie.is_empty() || cookie.len() > 64 {
            self.fail(ctx, FailureReason::CookieRetriesExhausted);
            return;
        }
        init.cookie_retries += 1;
        init.cookie = Some(cookie);
        self.send_init(ctx);
    }

    fn retry_with_group(&mut self, ctx: &mut Ctx<'_>, requested: u16) {
        let max = ctx.config.max_invalid_ke_retries;
        let offered = self
            .peer
            .as_ref()
            .map(|p| {
                p.ike_proposals
                    .iter()
                    .any(|x| x.dh.iter().any(|g| g.transform_id() == requested))
            })
            .unwrap_or(false);
        let Some(init) = self.init.as_mut() else {
            return;
        };
        let current = init.dh.as_ref().map(|d| d.group().transform_id());
        let group = DhGroup::from_transform_id(requested);
        let Some(group) =
            group.filter(|_| offered && current != Some(requested) && init.ke_retries < max)
        else {
            self.fail(ctx, FailureReason::InvalidKeRetriesExhausted { requested });
            return;
        };
        match DhPrivateKey::generate(group, ctx.rng) {
            Ok(k) => {
                init.dh = Some(k);
                init.ke_retries += 1;
                self.send_init(ctx);
            }
            Err(_) => self.fail(ctx, FailureReason::Internal("rng")),
        }
    }

    /// Checks the response, derives the keys and the NAT verdict.
    fn complete_init(
        &mut self,
        ctx: &mut Ctx<'_>,
        datagram: &[u8],
        msg: &Message,
    ) -> Result<(), FailureReason> {
        let bad = FailureReason::InvalidResponse;
        let init = self.init.take().ok_or(bad("no IKE_SA_INIT state"))?;
        let spi_r = msg.header.spi_r.to_be_bytes();
        if spi_r == [0; 8] {
            return Err(bad("responder SPI zero"));
        }
        let mut sa = None;
        let mut ke = None;
        let mut nonce = None;
        for p in &msg.payloads {
            match p {
                Payload::Sa(s) => sa = sa.or(Some(s)),
                Payload::Ke(k) => ke = ke.or(Some(k)),
                Payload::Nonce(n) => nonce = nonce.or(Some(n)),
                _ => {}
            }
        }
        let (sa, ke, nonce) = match (sa, ke, nonce) {
            (Some(s), Some(k), Some(n)) => (s, k, n),
            _ => return Err(bad("IKE_SA_INIT response lacks SA, KE or Nonce")),
        };
        let algs = check_ike_answer(&init.offer, sa).map_err(bad)?;
        let dh = init.dh.ok_or(bad("no DH key"))?;
        if algs.dh != dh.group() || ke.group.0 != dh.group().transform_id() {
            return Err(bad("responder chose another DH group than our KE"));
        }
        let g_ir = dh.agree(&ke.data).map_err(|_| bad("invalid KE data"))?;
        self.spi_r = spi_r;
        self.nr = nonce.nonce.clone();
        let keys = IkeSaKeys::derive(
            algs.prf,
            algs.encr,
            algs.integ,
            &g_ir,
            &self.ni,
            &self.nr,
            &self.spi_i,
            &self.spi_r,
        )
        .map_err(|_| FailureReason::Internal("key derivation"))?;
        self.sk =
            Some(SkState::new(keys, Role::Initiator).ok_or(FailureReason::Internal("cipher"))?);
        self.algs = Some(algs);
        self.init_response = datagram.to_vec();
        // RFC 7383 2.3: fragmentation once both announced it.
        self.frag.enabled = ctx.config.fragmentation
            && msg
                .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                .is_some();
        let force = self.peer.as_ref().is_some_and(|p| p.force_encapsulation);
        self.nat = NatDetection::detect(
            msg,
            &self.spi_i,
            &self.spi_r,
            self.local,
            self.remote,
            force,
        );
        // RFC 7296 2.23: with a NAT, leave port 500 for the NAT-T port.
        if self.nat.any() && self.local.port() == 500 && self.remote.port() == 500 {
            self.local.set_port(4500);
            self.remote.set_port(4500);
        }
        Ok(())
    }
}
