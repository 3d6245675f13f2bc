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
    Direction, EspTransform, Integrity, LifetimeLimits, Lifetimes, PolicyConfig, PolicyId, ReqId,
    SaConfig, SaId, SecretKey, TrafficSelector, TunnelTemplate, UdpEncap,
};

/// Replay window for inbound SAs (libreswan's default is 128 with ESN).
const REPLAY_WINDOW: u32 = 128;

/// An installed Child SA: its two kernel SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledSas {
    pub inbound: SaId,
    pub outbound: SaId,
}

/// The policies of one pair, as installed: from the selectors its Child SA
/// negotiated, which may be narrower than the planned subnets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairPolicies {
    /// The pair's planned (local, remote) subnets.
    pub pair: (IpNetwork, IpNetwork),
    pub ids: Vec<PolicyId>,
    pub configs: Vec<PolicyConfig>,
}

impl PairPolicies {
    pub fn new(pair: (IpNetwork, IpNetwork), configs: Vec<PolicyConfig>) -> Self {
        PairPolicies {
            pair,
            ids: configs.iter().map(PolicyConfig::id).collect(),
            configs,
        }
    }
}

/// One kernel operation.
#[derive(Debug, Clone)]
pub enum KernelOp {
    /// A Child SA: its inbound SA, its outbound SA (unless held back, see
    /// [`super::held`]), then its pair's policies (none when those
    /// installed already are the same: replacing a policy in use drops
    /// the packets the kernel is routing with it, `XfrmOutPolDead`). If a step
    /// fails the SAs it added are removed again.
    InstallChild {
        cable: String,
        child: ChildId,
        /// The pair's name (logs).
        name: String,
        inbound: Box<SaConfig>,
        /// The inbound SPI was reserved in the kernel
        /// ([`KernelOp::ReserveSpis`]): its larval SA is replaced.
        reserved: bool,
        outbound: Option<Box<SaConfig>>,
        policies: Vec<PolicyConfig>,
        encapsulation: Encapsulation,
    },
    /// Policies of pairs that have no Child SA yet, installed when the
    /// cable is planned: their traffic is held (the kernel finds no SA for
    /// the template and drops it), never sent in clear, until the Child SA
    /// comes (libreswan's `--route`). The Child SA's install replaces them
    /// in place.
    HoldPolicies {
        cable: String,
        policies: Vec<PolicyConfig>,
    },
    /// The held-back outbound SA of a rekey the peer started.
    InstallOutbound {
        cable: String,
        child: ChildId,
        sa: Box<SaConfig>,
    },
    /// Update installed SAs in place (same SPIs and keys; a NAT mapping
    /// moved, so their UDP encapsulation ports did).
    UpdateSas {
        cable: String,
        sas: Vec<Box<SaConfig>>,
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
    /// Reserve `count` inbound SPIs in the kernel for SAs to `local`
    /// (`XFRM_MSG_ALLOCSPI`: each a larval SA that the Child SA's inbound
    /// SA later replaces); they go to [`super::Core::spis_reserved`].
    ReserveSpis { local: IpAddr, count: usize },
    /// Read the packet counter of an inbound SA for a Child SA whose
    /// outbound SA is held ([`super::held`]): its own (packets there
    /// release it) or an older one of its pair (packets there prolong the
    /// wait); the count goes to [`super::Core::inbound_packets`].
    ProbeInbound { child: ChildId, sa: SaId },
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

/// Packets an SA without ESN may carry before its 32-bit sequence number
/// runs out: the kernel stops sending at 2^32 (about 80 minutes at 900
/// kpps, RFC 4303 3.3.3). Such an SA is rekeyed at three quarters of it
/// (soft) and removed a little before it (hard).
pub const NO_ESN_SOFT_PACKETS: u64 = 3 << 30;
pub const NO_ESN_HARD_PACKETS: u64 = (1 << 32) - (1 << 24);

/// Kernel limits on a Child SA's SAs besides time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaLimits {
    /// Rekey (soft EXPIRE) after this many packets in either SA
    /// (`CE_IPSEC_REKEYPACKETS`); `None`: only the ESN-less default.
    pub rekey_packets: Option<u64>,
}

/// An SA's kernel lifetimes. The `ike` core rekeys on time before the soft
/// lifetime; the kernel's hard time limit is a safety net a little after
/// the negotiated one, so an engine that died never leaves SAs forever.
/// Packet limits come from [`SaLimits`] and, without ESN, from the
/// sequence number space: the soft limit makes the kernel send a soft
/// EXPIRE, on which the core rekeys the Child SA; the hard limit (twice the
/// soft one, at most [`NO_ESN_HARD_PACKETS`] without ESN) removes the SA.
pub fn sa_lifetimes(info: &ChildSaInfo, limits: &SaLimits) -> Lifetimes {
    let hard = info.lifetimes.child_hard.as_secs().saturating_add(60);
    let ceiling = (!info.esn).then_some(NO_ESN_HARD_PACKETS);
    let soft_packets = match (limits.rekey_packets, info.esn) {
        (Some(n), true) => Some(n),
        (Some(n), false) => Some(n.min(NO_ESN_SOFT_PACKETS)),
        (None, false) => Some(NO_ESN_SOFT_PACKETS),
        (None, true) => None,
    };
    let hard_packets = match (soft_packets, ceiling) {
        (Some(s), Some(c)) => Some(s.saturating_mul(2).min(c)),
        (Some(s), None) => Some(s.saturating_mul(2)),
        (None, c) => c,
    };
    Lifetimes {
        soft: LifetimeLimits {
            packets: soft_packets,
            ..Default::default()
        },
        hard: LifetimeLimits {
            add_seconds: Some(hard),
            packets: hard_packets,
            ..Default::default()
        },
    }
}

/// The kernel SA of one direction of a Child SA.
pub fn sa_config(info: &ChildSaInfo, inbound: bool, reqid: ReqId, limits: &SaLimits) -> SaConfig {
    let (src, dst, spi, key, auth_key) = if inbound {
        (
            info.remote_addr,
            info.local_addr,
            info.spi_in,
            &info.key_in,
            &info.auth_key_in,
        )
    } else {
        (
            info.local_addr,
            info.remote_addr,
            info.spi_out,
            &info.key_out,
            &info.auth_key_out,
        )
    };
    let transform = esp_transform(info.integ, key, auth_key);
    let mut sa = SaConfig::new(src, dst, spi, reqid, transform);
    sa.esn = info.esn;
    sa.replay_window = REPLAY_WINDOW;
    sa.lifetimes = sa_lifetimes(info, limits);
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

/// The kernel transform of a negotiated ESP cipher: AES-GCM (`key` is
/// AES key || salt) or AES-CBC with the HMAC-SHA2 `integ` and its key,
/// truncated as RFC 4868 says (xfrm sends it as `XFRMA_ALG_AUTH_TRUNC`).
fn esp_transform(
    integ: Option<ike::crypto::Integ>,
    key: &ike::crypto::SecretBytes,
    auth_key: &ike::crypto::SecretBytes,
) -> EspTransform {
    use ike::crypto::Integ;
    let integrity = match integ {
        None => return EspTransform::aes_gcm(SecretKey::from_slice(key.expose())),
        Some(Integ::HmacSha256_128) => Integrity::HmacSha256_128,
        Some(Integ::HmacSha384_192) => Integrity::HmacSha384_192,
        Some(Integ::HmacSha512_256) => Integrity::HmacSha512_256,
    };
    EspTransform::aes_cbc(
        SecretKey::from_slice(key.expose()),
        integrity,
        SecretKey::from_slice(auth_key.expose()),
    )
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

    fn info(esn: bool) -> ChildSaInfo {
        ChildSaInfo {
            sa: ike::SaId(1),
            child: ChildId(1),
            peer: "p".into(),
            pair_index: 0,
            initiated_locally: true,
            spi_in: 1,
            spi_out: 2,
            encr: ike::crypto::Encr::AesGcm16_256,
            integ: None,
            key_in: ike::crypto::SecretBytes::from_slice(&[0; 36]),
            key_out: ike::crypto::SecretBytes::from_slice(&[0; 36]),
            auth_key_in: ike::crypto::SecretBytes::default(),
            auth_key_out: ike::crypto::SecretBytes::default(),
            esn,
            pfs: None,
            ts_local: Vec::new(),
            ts_remote: Vec::new(),
            local_addr: "192.0.2.1".parse().unwrap(),
            remote_addr: "192.0.2.2".parse().unwrap(),
            encapsulation: Encapsulation::None,
            tunnel_mode: true,
            lifetimes: ike::Lifetimes::default(),
            rekey_of: None,
        }
    }

    /// Issue 10, fault 4: SAs had no packet limits, so an ESN-less SA
    /// (what libreswan 4.x responders choose) stopped at 2^32 packets.
    #[test]
    fn esn_less_sas_are_rekeyed_before_the_sequence_number_runs_out() {
        let l = sa_lifetimes(&info(false), &SaLimits::default());
        assert_eq!(l.soft.packets, Some(3 << 30));
        assert!(l.hard.packets.is_some_and(|h| h > 3 << 30 && h < 1 << 32));
        let l = sa_lifetimes(&info(true), &SaLimits::default());
        assert_eq!((l.soft.packets, l.hard.packets), (None, None));
        let small = SaLimits {
            rekey_packets: Some(200),
        };
        for esn in [false, true] {
            let l = sa_lifetimes(&info(esn), &small);
            assert_eq!((l.soft.packets, l.hard.packets), (Some(200), Some(400)));
            assert!(l.hard.add_seconds.is_some());
        }
    }

    /// Issue 14: a negotiated AES-CBC + HMAC-SHA2 Child SA becomes
    /// `cbc(aes)` with the right key per direction and `hmac(sha*)` with
    /// the RFC 4868 truncation and its own key; GCM stays `rfc4106(gcm(aes))`.
    #[test]
    fn cbc_child_sas_get_enc_and_auth_keys_per_direction() {
        use ike::crypto::{Encr, Integ, SecretBytes};
        for (integ, kernel, auth_len) in [
            (Integ::HmacSha256_128, Integrity::HmacSha256_128, 32),
            (Integ::HmacSha384_192, Integrity::HmacSha384_192, 48),
            (Integ::HmacSha512_256, Integrity::HmacSha512_256, 64),
        ] {
            let mut i = info(true);
            i.encr = Encr::AesCbc256;
            i.integ = Some(integ);
            i.key_in = SecretBytes::from_slice(&[1; 32]);
            i.key_out = SecretBytes::from_slice(&[2; 32]);
            i.auth_key_in = SecretBytes::from_slice(&vec![3; auth_len]);
            i.auth_key_out = SecretBytes::from_slice(&vec![4; auth_len]);
            let reqid = ReqId::owned(1).unwrap();
            let sa_in = sa_config(&i, true, reqid, &SaLimits::default());
            let sa_out = sa_config(&i, false, reqid, &SaLimits::default());
            assert_eq!(
                sa_in.transform.describe(),
                format!(
                    "cbc(aes) (AES-256) + {} truncated to {}",
                    kernel.kernel_name(),
                    kernel.truncation_bits()
                )
            );
            sa_in.transform.validate().unwrap();
            for (sa, enc, auth) in [(&sa_in, 1u8, 3u8), (&sa_out, 2, 4)] {
                let EspTransform::AesCbc {
                    enc_key,
                    integrity,
                    auth_key,
                } = &sa.transform
                else {
                    panic!("not CBC: {}", sa.transform.describe());
                };
                assert_eq!(*integrity, kernel);
                assert!(enc_key.ct_eq(&[enc; 32]), "encryption key of the wrong SA");
                assert!(
                    auth_key.ct_eq(&vec![auth; auth_len]),
                    "auth key of the wrong SA"
                );
            }
            assert_eq!(sa_in.spi, 1);
            assert_eq!(sa_out.spi, 2);
        }
        let gcm = sa_config(
            &info(true),
            true,
            ReqId::owned(1).unwrap(),
            &SaLimits::default(),
        );
        assert!(gcm.transform.describe().starts_with("rfc4106(gcm(aes))"));
    }

    #[test]
    fn more_specific_pairs_get_stronger_priorities() {
        let wide: IpNetwork = "10.0.0.0/8".parse().unwrap();
        let narrow: IpNetwork = "10.1.0.0/16".parse().unwrap();
        assert!(priority(&narrow, &narrow) < priority(&wide, &wide));
        assert!(priority(&wide, &wide) > 0);
    }
}
