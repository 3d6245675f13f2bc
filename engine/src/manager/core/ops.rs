//! What the core asks of the kernel: [`KernelOp`]s, built from `ike`'s
//! Child SAs and the plans, executed by the driver in order, their failures
//! reported back to the core ([`super::Core::kernel_failed`]).
//!
//! Order matters for a tunnel that must never leak or drop: a Child SA's
//! inbound SA first (so the peer's first packet finds it), then its
//! outbound SA, then the pair's policies (out, in, fwd), which are
//! *updated* (created or replaced) so that a rekeyed, duplicate or
//! restarted Child SA takes over the pair's policies in place. Policies
//! belong to the pair, not to one SA: they stay while the pair is planned
//! (`dpdaction=hold`: traffic is held, never sent in clear) and go when the
//! pair or the cable goes.

use std::collections::HashSet;
use std::net::IpAddr;

use ike::{ChildId, ChildSaInfo, Encapsulation};
use ipnetwork::IpNetwork;
use xfrm::{
    Direction, EspTransform, LifetimeLimits, Lifetimes, PolicyConfig, PolicyId, ReqId, SaConfig,
    SaId, SecretKey, TrafficSelector, TunnelTemplate, UdpEncap,
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

/// One kernel operation.
#[derive(Debug, Clone)]
pub enum KernelOp {
    /// A Child SA: its inbound SA, its outbound SA (unless held back, see
    /// [`super::held`]), then its pair's policies. If a step
    /// fails the SAs it added are removed again.
    InstallChild {
        cable: String,
        child: ChildId,
        /// The pair's name (logs).
        name: String,
        inbound: Box<SaConfig>,
        outbound: Option<Box<SaConfig>>,
        policies: Vec<PolicyConfig>,
        encapsulation: Encapsulation,
    },
    /// The held-back outbound SA of a rekey the peer started.
    InstallOutbound {
        cable: String,
        child: ChildId,
        sa: Box<SaConfig>,
    },
    /// Remove SAs; ones already gone are fine.
    RemoveSas { cable: String, ids: Vec<SaId> },
    /// Remove policies; ones already gone are fine.
    RemovePolicies { cable: String, ids: Vec<PolicyId> },
    /// Remove the SAs an earlier engine left between two addresses (the
    /// cable between them is whole again).
    RemoveLeftoversBetween {
        cable: String,
        local: IpAddr,
        remote: IpAddr,
    },
    /// Remove what an earlier engine left that no planned cable uses.
    RemoveUnplanned {
        pairs: HashSet<(IpAddr, IpAddr)>,
        planned: HashSet<PolicyId>,
    },
    /// Read the byte counters of a cable's SAs
    /// ([`super::Core::set_byte_counters`]).
    ReadCounters {
        cable: String,
        inbound: Vec<SaId>,
        outbound: Vec<SaId>,
    },
}

/// Policy priority: more specific selectors win (lower is stronger), in the
/// band libreswan uses so both can coexist on a host.
pub fn priority(local: &IpNetwork, remote: &IpNetwork) -> u32 {
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

/// The kernel SA of one direction of a Child SA.
pub fn sa_config(info: &ChildSaInfo, inbound: bool, reqid: ReqId) -> SaConfig {
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

/// The out/in/fwd policies of one pair, tunnelling between `local_addr`
/// and `remote_addr`.
pub fn pair_policies(
    local: IpNetwork,
    remote: IpNetwork,
    local_addr: IpAddr,
    remote_addr: IpAddr,
    reqid: ReqId,
) -> Vec<PolicyConfig> {
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
    vec![out, inbound(Direction::In), inbound(Direction::Fwd)]
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
