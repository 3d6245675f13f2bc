//! IKE_SA_INIT, responder side (RFC 7296 1.2, 2.6, 2.23).
//!
//! Everything that can reject a request happens before any state is kept:
//! the COOKIE check (when half-open SAs reach the configured threshold),
//! proposal selection (NO_PROPOSAL_CHOSEN) and the KE group check
//! (INVALID_KE_PAYLOAD naming our preferred group, e.g. when libreswan
//! opens with MODP2048). Requests from addresses no configured peer may
//! use are dropped. IKEV2_FRAGMENTATION_SUPPORTED is answered with ours
//! when enabled (RFC 7383 2.3). Only an acceptable request creates a half-open
//! responder SA, whose response is cached for retransmitted requests.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::PeerConfig;
use crate::crypto::{
    check_public_value, random_ike_spi, random_nonce, CookieSecrets, DhGroup, DhPrivateKey,
    IkeSaKeys, Role,
};
use crate::event::SaId;
use crate::proposal::{ike_answer, select_ike};
use crate::sa::{nat_notifies, Ctx, Fragmentation, IkeSa, NatDetection, Phase, SkState, Window};
use crate::stats::DropReason;
use crate::wire::{
    ExchangeType, Flags, Header, KePayload, Message, NoncePayload, NotifyPayload, NotifyType,
    Payload, WireError,
};

/// What the endpoint knows that the responder needs.
pub(crate) struct ResponderEnv<'a> {
    pub cookies: &'a CookieSecrets,
    pub peers: &'a [Arc<PeerConfig>],
    pub half_open: usize,
    /// Half-open SAs from the datagram's source address.
    pub half_open_from_source: usize,
    pub spi_in_use: &'a dyn Fn(u64) -> bool,
}

/// Peers that may send from `remote` (exact IP match first, then peers
/// accepted from any address). The first one's IKE proposals are used.
pub(crate) fn candidates(peers: &[Arc<PeerConfig>], remote: SocketAddr) -> Vec<Arc<PeerConfig>> {
    let exact = peers
        .iter()
        .filter(|p| p.remote.is_some_and(|r| r.ip() == remote.ip()));
    let any = peers.iter().filter(|p| p.remote.is_none());
    exact.chain(any).cloned().collect()
}

fn unprotected_answer(
    ctx: &mut Ctx<'_>,
    req: &Header,
    local: SocketAddr,
    remote: SocketAddr,
    n: NotifyPayload,
) {
    let mut msg = Message::new(Header::new(
        req.spi_i,
        0,
        ExchangeType::IKE_SA_INIT,
        Flags::RESPONSE,
        0,
    ));
    msg.payloads.push(Payload::Notify(n));
    if let Ok(bytes) = msg.encode() {
        ctx.out.send(local, remote, bytes);
    }
}

/// Handles an IKE_SA_INIT request that belongs to no SA yet. Returns the
/// new half-open SA when the request was accepted.
pub(crate) fn handle_init_request(
    ctx: &mut Ctx<'_>,
    env: &ResponderEnv<'_>,
    id: SaId,
    local: SocketAddr,
    remote: SocketAddr,
    datagram: &[u8],
) -> Option<IkeSa> {
    let msg = match Message::decode(datagram) {
        Ok(m) => m,
        Err(WireError::UnsupportedCriticalPayload { payload_type }) => {
            if let Ok(h) = Header::decode(datagram) {
                let n = NotifyPayload::unsupported_critical_payload(payload_type);
                unprotected_answer(ctx, &h, local, remote, n);
            }
            ctx.out.drop(remote, DropReason::Malformed);
            return None;
        }
        Err(_) => {
            ctx.out.drop(remote, DropReason::Malformed);
            return None;
        }
    };
    let h = &msg.header;
    if h.message_id != 0 || h.spi_i == 0 || !h.flags.is_initiator() {
        ctx.out.drop(remote, DropReason::Malformed);
        return None;
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
    let (Some(sa), Some(ke), Some(nonce)) = (sa, ke, nonce) else {
        ctx.out.drop(remote, DropReason::Malformed);
        return None;
    };
    let spi_i = h.spi_i.to_be_bytes();

    if env.half_open >= ctx.config.max_half_open
        || env.half_open_from_source >= ctx.config.max_half_open_per_source
    {
        ctx.out.drop(remote, DropReason::RejectedInit);
        return None;
    }

    // 1. Cookie (stateless; RFC 7296 2.6).
    if ctx
        .config
        .cookie_threshold
        .is_some_and(|t| env.half_open >= t)
    {
        let ok = msg.notify(NotifyType::COOKIE).is_some_and(|c| {
            env.cookies
                .verify(&c.data, &nonce.nonce, remote.ip(), &spi_i)
                .is_ok()
        });
        if !ok {
            let cookie = env.cookies.make(&nonce.nonce, remote.ip(), &spi_i);
            ctx.out.stats.cookies_sent += 1;
            unprotected_answer(
                ctx,
                h,
                local,
                remote,
                NotifyPayload::new(NotifyType::COOKIE, cookie),
            );
            return None;
        }
    }

    // 2. Proposal.
    let cands = candidates(env.peers, remote);
    let Some(first_peer) = cands.first() else {
        // Nobody we would ever authenticate sends from there.
        ctx.out.drop(remote, DropReason::RejectedInit);
        return None;
    };
    let Some(choice) = select_ike(&first_peer.ike_proposals, sa) else {
        unprotected_answer(
            ctx,
            h,
            local,
            remote,
            NotifyPayload::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
        );
        ctx.out.drop(remote, DropReason::RejectedInit);
        return None;
    };

    // 3. KE group.
    let preferred = *choice.dh_candidates.first()?;
    let ke_group = DhGroup::from_transform_id(ke.group.0);
    let group = match ke_group {
        Some(g) if g == preferred => g,
        Some(g) if !ctx.config.strict_ke_group && choice.dh_candidates.contains(&g) => g,
        _ => {
            let n = NotifyPayload::invalid_ke(crate::wire::DhGroup(preferred.transform_id()));
            ctx.out.stats.invalid_ke_sent += 1;
            unprotected_answer(ctx, h, local, remote, n);
            return None;
        }
    };
    if check_public_value(group, &ke.data).is_err() {
        ctx.out.drop(remote, DropReason::Malformed);
        return None;
    }

    // 4. Accept: keys, NAT-D, response.
    let fail = |ctx: &mut Ctx<'_>| {
        ctx.out.drop(remote, DropReason::RejectedInit);
        None
    };
    let Ok(dh) = DhPrivateKey::generate(group, ctx.rng) else {
        return fail(ctx);
    };
    let mut spi_r = [0u8; 8];
    for _ in 0..4 {
        match random_ike_spi(ctx.rng) {
            Ok(s) if !(env.spi_in_use)(u64::from_be_bytes(s)) => {
                spi_r = s;
                break;
            }
            _ => {}
        }
    }
    let Ok(nr) = random_nonce(ctx.rng) else {
        return fail(ctx);
    };
    if spi_r == [0; 8] {
        return fail(ctx);
    }
    let public = dh.public_value().to_vec();
    let Ok(g_ir) = dh.agree(&ke.data) else {
        ctx.out.drop(remote, DropReason::Malformed);
        return None;
    };
    let algs = crate::event::IkeAlgorithms {
        encr: choice.encr,
        integ: choice.integ,
        prf: choice.prf,
        dh: group,
    };
    let ni = nonce.nonce.clone();
    let Ok(keys) = IkeSaKeys::derive(
        algs.prf, algs.encr, algs.integ, &g_ir, &ni, &nr, &spi_i, &spi_r,
    ) else {
        return fail(ctx);
    };
    let sk = SkState::new(keys, Role::Responder)?;
    let force = cands.first().is_some_and(|p| p.force_encapsulation);
    // The initiator hashed with the SPIs of its header: SPIr still zero.
    let nat = NatDetection::detect(&msg, &spi_i, &[0; 8], local, remote, force);

    let mut resp = Message::new(Header::new(
        h.spi_i,
        u64::from_be_bytes(spi_r),
        ExchangeType::IKE_SA_INIT,
        Flags::RESPONSE,
        0,
    ));
    resp.payloads.push(Payload::Sa(ike_answer(&choice, group)));
    resp.payloads.push(Payload::Ke(KePayload {
        group: crate::wire::DhGroup(group.transform_id()),
        data: public,
    }));
    resp.payloads
        .push(Payload::Nonce(NoncePayload { nonce: nr.clone() }));
    if msg.notify(NotifyType::NAT_DETECTION_SOURCE_IP).is_some() {
        resp.payloads
            .extend(nat_notifies(&spi_i, &spi_r, local, remote, force, ctx.rng));
    }
    // RFC 7383 2.3: answer the announcement with ours.
    let fragmentation = ctx.config.fragmentation
        && msg
            .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
            .is_some();
    if fragmentation {
        resp.payloads.push(Payload::Notify(NotifyPayload::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            Vec::new(),
        )));
    }
    let Ok(bytes) = resp.encode() else {
        return fail(ctx);
    };
    ctx.out.send(local, remote, bytes.clone());
    Some(IkeSa {
        id,
        initiator: false,
        peer: None,
        candidates: cands,
        local,
        remote,
        spi_i,
        spi_r,
        phase: Phase::HalfOpen,
        ni,
        nr,
        init_request: datagram.to_vec(),
        init_response: bytes.clone(),
        algs: Some(algs),
        sk: Some(sk),
        nat,
        window: Window {
            next_mid: 0,
            pending: None,
            peer_next: 1,
            last_response: Some((0, vec![bytes])),
        },
        children: Vec::new(),
        tasks: Default::default(),
        last_heard: ctx.now,
        init: None,
        expires_at: Some(ctx.now + ctx.config.half_open_timeout),
        replaced: false,
        ike_rekey_at: None,
        keepalive_at: None,
        created_at: ctx.now,
        established_at: None,
        other_sas_with_peer: false,
        superseded_deadline: None,
        lost_to_duplicate: false,
        pfs_group: None,
        frag: Fragmentation::new(fragmentation),
        passive_rekey: None,
    })
}
