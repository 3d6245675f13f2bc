//! Kernel programming for Child SAs through the `xfrm` crate.
//!
//! Order matters for a tunnel that must never leak or drop: the inbound SA
//! first (so the peer's first packet finds it), then the outbound SA, then
//! the policies (out, in, fwd), which are *updated* (created or replaced) so
//! that a rekeyed, duplicate or restarted Child SA takes over the pair's
//! policies in place. Policies belong to the pair, not to one SA: they stay
//! while the pair is planned (`dpdaction=hold`: traffic is held, never sent
//! in clear) and go when the pair or the cable goes.

use std::net::IpAddr;

use ike::{ChildSaInfo, Encapsulation};
use ipnetwork::IpNetwork;
use xfrm::{
    Direction, EspTransform, LifetimeLimits, Lifetimes, PolicyConfig, PolicyId, ReqId, SaConfig,
    SaId, SecretKey, TrafficSelector, TunnelTemplate, UdpEncap, XfrmClient, XfrmError,
};

/// Replay window for inbound SAs (libreswan's default is 128 with ESN).
const REPLAY_WINDOW: u32 = 128;

/// An installed Child SA: its two kernel SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledSas {
    pub inbound: SaId,
    pub outbound: SaId,
}

/// The policies of one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairPolicies {
    pub ids: Vec<PolicyId>,
}

/// Policy priority: more specific selectors win (lower is stronger), in the
/// band libreswan uses so both can coexist on a host.
fn priority(local: &IpNetwork, remote: &IpNetwork) -> u32 {
    let specificity = u32::from(local.prefix()) + u32::from(remote.prefix());
    2080 - specificity.min(256) * 4
}

fn sa_lifetimes(info: &ChildSaInfo) -> Lifetimes {
    // The core rekeys before the soft lifetime; the kernel's hard lifetime is
    // a safety net a little after the negotiated one, so an engine that died
    // never leaves SAs forever.
    let hard = info.lifetimes.child_hard.as_secs().saturating_add(60);
    Lifetimes {
        soft: LifetimeLimits::default(),
        hard: LifetimeLimits {
            add_seconds: Some(hard),
            ..Default::default()
        },
    }
}

fn sa_config(info: &ChildSaInfo, inbound: bool, reqid: ReqId) -> SaConfig {
    let (src, dst, spi, key) = if inbound {
        (info.remote_addr, info.local_addr, info.spi_in, &info.key_in)
    } else {
        (
            info.local_addr,
            info.remote_addr,
            info.spi_out,
            &info.key_out,
        )
    };
    let transform = EspTransform::aes_gcm(SecretKey::from_slice(key.expose()));
    let mut sa = SaConfig::new(src, dst, spi, reqid, transform);
    sa.esn = info.esn;
    sa.replay_window = REPLAY_WINDOW;
    sa.lifetimes = sa_lifetimes(info);
    sa.encap = match info.encapsulation {
        Encapsulation::None => None,
        Encapsulation::Udp {
            local_port,
            remote_port,
        } => Some(if inbound {
            UdpEncap {
                sport: remote_port,
                dport: local_port,
                original_address: None,
            }
        } else {
            UdpEncap {
                sport: local_port,
                dport: remote_port,
                original_address: None,
            }
        }),
    };
    sa
}

async fn add_or_update_sa(x: &XfrmClient, sa: &SaConfig) -> Result<(), XfrmError> {
    match x.add_sa(sa).await {
        Err(e) if e.is_already_exists() => x.update_sa(sa).await,
        other => other,
    }
}

/// Install the two SAs of a Child SA (inbound first), or only the inbound
/// one when `outbound_now` is false (see [`super::deferred`]); the ids of
/// both are returned either way.
pub async fn install_sas(
    x: &XfrmClient,
    info: &ChildSaInfo,
    reqid: ReqId,
    outbound_now: bool,
) -> Result<InstalledSas, XfrmError> {
    let inbound = sa_config(info, true, reqid);
    add_or_update_sa(x, &inbound).await?;
    let outbound = sa_config(info, false, reqid);
    if outbound_now {
        if let Err(e) = add_or_update_sa(x, &outbound).await {
            let _ = x.delete_sa(&inbound.id()).await;
            return Err(e);
        }
    }
    Ok(InstalledSas {
        inbound: inbound.id(),
        outbound: outbound.id(),
    })
}

/// Install the outbound SA of a Child SA whose inbound SA is in already.
pub async fn install_outbound(
    x: &XfrmClient,
    info: &ChildSaInfo,
    reqid: ReqId,
) -> Result<(), XfrmError> {
    add_or_update_sa(x, &sa_config(info, false, reqid)).await
}

/// Remove a Child SA's two SAs; ones already gone are fine.
pub async fn remove_sas(x: &XfrmClient, sas: &InstalledSas) -> Result<(), XfrmError> {
    let mut first_err = None;
    for id in [sas.outbound, sas.inbound] {
        match x.delete_sa(&id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Create or replace the out/in/fwd policies of one pair, tunnelling between
/// `local_addr` and `remote_addr`.
pub async fn install_policies(
    x: &XfrmClient,
    local: IpNetwork,
    remote: IpNetwork,
    local_addr: IpAddr,
    remote_addr: IpAddr,
    reqid: ReqId,
) -> Result<PairPolicies, XfrmError> {
    let prio = priority(&local, &remote);
    let out = PolicyConfig::new(
        TrafficSelector::new(local, remote),
        Direction::Out,
        prio,
        TunnelTemplate {
            src: local_addr,
            dst: remote_addr,
            reqid,
        },
    );
    let inbound = |dir| {
        PolicyConfig::new(
            TrafficSelector::new(remote, local),
            dir,
            prio,
            TunnelTemplate {
                src: remote_addr,
                dst: local_addr,
                reqid,
            },
        )
    };
    let mut ids = Vec::with_capacity(3);
    for p in [out, inbound(Direction::In), inbound(Direction::Fwd)] {
        x.update_policy(&p).await?;
        ids.push(p.id());
    }
    Ok(PairPolicies { ids })
}

/// Remove a pair's policies; ones already gone are fine.
pub async fn remove_policies(x: &XfrmClient, policies: &PairPolicies) -> Result<(), XfrmError> {
    let mut first_err = None;
    for id in &policies.ids {
        match x.delete_policy(id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_specific_pairs_get_stronger_priorities() {
        let wide: IpNetwork = "10.0.0.0/8".parse().unwrap();
        let narrow: IpNetwork = "10.1.0.0/16".parse().unwrap();
        assert!(priority(&narrow, &narrow) < priority(&wide, &wide));
        assert!(priority(&wide, &wide) > 0);
    }
}
