//! From a [`CablePlan`] to the `ike` core's [`PeerConfig`]s.
//!
//! In the default (bidirectional) mode both identities are the private IPs,
//! so one IKE SA carries every Child SA of the cable: one peer with all the
//! (local subnet x remote subnet) pairs, the first negotiated in IKE_AUTH and
//! the rest with CREATE_CHILD_SA, as libreswan does. In preferred-server mode
//! every pair has its own FQDN identities (`@<ip>-<i>-<j>`), which libreswan
//! negotiates as separate IKE SAs: one peer per pair.
//!
//! ESP is offered twice (see [`esp_proposals`]): once with ESN transforms
//! (ESN, then no ESN) and once more without any ESN transform, because
//! libreswan 4.10 as a responder, configured as Submariner configures it,
//! answers NO_PROPOSAL_CHOSEN to every ESP proposal that holds an ESN
//! transform (its own proposals carry none).
//!
//! Each peer is named; [`PeerKey`] maps a peer name back to its cable and to
//! the index of its first pair in the plan.

use std::net::SocketAddr;

use ike::wire::{Cidr, Identity, TsRange};
use ike::{EspProposal, IkeProposal, PeerConfig, TsPair};
use ipnetwork::IpNetwork;

use crate::cable::{CablePlan, Encapsulation, IkeId};

/// Where a peer's Child SAs sit in its cable's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerKey {
    /// The cable (its plan's `cable_id`).
    pub cable: String,
    /// Index in `plan.children` of the peer's pair 0.
    pub first_pair: usize,
}

fn identity(id: &IkeId) -> Identity {
    match id {
        IkeId::Ipv4(a) => Identity::Ipv4(*a),
        IkeId::Ipv6(a) => Identity::Ipv6(*a),
        IkeId::Fqdn(name) => Identity::Fqdn(name.clone()),
    }
}

fn selector(net: &IpNetwork) -> Option<TsRange> {
    Cidr::new(net.network(), net.prefix())
        .ok()
        .map(TsRange::from_cidr)
}

fn ts_pair(local: &IpNetwork, remote: &IpNetwork) -> Option<TsPair> {
    Some(TsPair {
        local: vec![selector(local)?],
        remote: vec![selector(remote)?],
    })
}

/// The proposals of every peer: `ike`'s defaults, or the lists of
/// `CE_IPSEC_IKEPROPOSALS` and `CE_IPSEC_ESPPROPOSALS`. The same lists are
/// offered as initiator and accepted as responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSettings {
    /// IKE SA proposals in preference order.
    pub ike: Vec<IkeProposal>,
    /// ESP proposals as configured; [`esp_proposals`] adds the copies
    /// without ESN transforms.
    pub esp: Vec<EspProposal>,
    /// `CE_IPSEC_REQUIREPFS`: KE in every CREATE_CHILD_SA of Child SAs,
    /// refused without ([`PeerConfig::require_pfs`]).
    pub require_pfs: bool,
}

impl Default for ProposalSettings {
    fn default() -> Self {
        ProposalSettings {
            ike: vec![IkeProposal::default()],
            esp: vec![EspProposal::default()],
            require_pfs: false,
        }
    }
}

/// The ESP proposals of every peer, in preference order: the configured
/// ones (by default the `ike` default: AES-GCM-16 then AES-CBC with
/// HMAC-SHA2, ESN then no ESN), then each that allows no ESN again with
/// no ESN transform at all. Responders that follow RFC 7296 (strongSwan,
/// this engine) pick from the first; libreswan 4.10, which rejects any
/// proposal with an ESN transform, picks from the copies. As a responder
/// the copies never match (an empty ESN list accepts nothing) and do no
/// harm. A proposal restricted to ESN (`esn` alone) gets no copy.
pub fn esp_proposals(configured: &[EspProposal]) -> Vec<EspProposal> {
    let without_esn = configured
        .iter()
        .filter(|p| p.esn.contains(&false))
        .map(|p| EspProposal {
            esn: Vec::new(),
            ..p.clone()
        });
    configured.iter().cloned().chain(without_esn).collect()
}

/// The peers for one cable, each with its key. `initiate` says whether the
/// manager should also initiate them (the plan's role decides).
pub fn peer_configs(
    plan: &CablePlan,
    psk: &[u8],
    lifetimes: ike::Lifetimes,
    proposals: &ProposalSettings,
) -> Vec<(PeerConfig, PeerKey)> {
    let local = SocketAddr::new(plan.local_address, plan.local_port);
    let remote = SocketAddr::new(plan.remote_address, plan.remote_port);
    let force = plan.encapsulation == Encapsulation::EspInUdp;
    let esp = esp_proposals(&proposals.esp);
    let make = |name: String, local_id: &IkeId, remote_id: &IkeId, pairs: Vec<TsPair>| {
        let mut peer = PeerConfig::new(
            name,
            local,
            remote,
            identity(local_id),
            identity(remote_id),
            psk,
        );
        if plan.role.accepts_any_peer_address() {
            peer.remote = None;
        }
        peer.children = pairs;
        peer.ike_proposals = proposals.ike.clone();
        peer.esp_proposals = esp.clone();
        peer.require_pfs = proposals.require_pfs;
        peer.force_encapsulation = force;
        peer.lifetimes = lifetimes;
        // libreswan's dpddelay (the driver's 30 s; a drop-in connection's
        // --dpddelay).
        peer.dpd_delay = Some(plan.dpd.delay);
        peer
    };
    if plan.role.uses_fqdn_ids() {
        plan.children
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let pair = ts_pair(&c.local_subnet, &c.remote_subnet)?;
                let peer = make(c.name.clone(), &c.local_id, &c.remote_id, vec![pair]);
                Some((
                    peer,
                    PeerKey {
                        cable: plan.cable_id.clone(),
                        first_pair: i,
                    },
                ))
            })
            .collect()
    } else {
        let pairs: Vec<TsPair> = plan
            .children
            .iter()
            .filter_map(|c| ts_pair(&c.local_subnet, &c.remote_subnet))
            .collect();
        let peer = make(
            plan.cable_id.clone(),
            &plan.local_id,
            &plan.remote_id,
            pairs,
        );
        vec![(
            peer,
            PeerKey {
                cable: plan.cable_id.clone(),
                first_pair: 0,
            },
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (lab test interop::libreswan_responder): libreswan 4.10
    /// as a responder rejected our only ESP proposal because it held ESN
    /// transforms; a second proposal without any ESN transform must follow,
    /// and the first must stay RFC 7296-complete for strongSwan.
    #[test]
    fn esp_offered_with_and_without_esn_transforms() {
        let p = esp_proposals(&ProposalSettings::default().esp);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].esn, vec![true, false]);
        assert!(p[1].esn.is_empty());
        assert_eq!(p[0].encr, p[1].encr);
        assert!(p[0].dh.is_empty() && p[1].dh.is_empty());
    }

    /// Issue 14: restricted proposals (CE_IPSEC_IKEPROPOSALS and
    /// CE_IPSEC_ESPPROPOSALS) and CE_IPSEC_REQUIREPFS reach every peer, which
    /// offers and accepts just them; an ESP proposal allowing no ESN gets
    /// its ESN-less copy for libreswan 4.10, one restricted to ESN none.
    #[test]
    fn restricted_proposals_reach_every_peer() {
        let proposals = ProposalSettings {
            ike: ike::parse_ike_proposals("aes256-sha384-ecp384").unwrap(),
            esp: ike::parse_esp_proposals("aes256gcm16-esn,aes128gcm16").unwrap(),
            require_pfs: true,
        };
        {
            let peers = peer_configs(
                &crate::manager::cable::test_plan(),
                b"psk",
                ike::Lifetimes::default(),
                &proposals,
            );
            assert!(!peers.is_empty());
            for (p, _) in &peers {
                assert_eq!(p.ike_proposals, proposals.ike);
                assert!(p.require_pfs);
                assert_eq!(p.esp_proposals.len(), 3);
                assert_eq!(&p.esp_proposals[..2], &proposals.esp[..]);
                assert_eq!(
                    p.esp_proposals[2],
                    EspProposal {
                        esn: Vec::new(),
                        ..proposals.esp[1].clone()
                    }
                );
            }
        }
        let (p, _) = &peer_configs(
            &crate::manager::cable::test_plan(),
            b"psk",
            ike::Lifetimes::default(),
            &ProposalSettings::default(),
        )[0];
        assert_eq!(p.ike_proposals, vec![IkeProposal::default()]);
        assert!(!p.require_pfs);
        assert_eq!(p.esp_proposals, esp_proposals(&[EspProposal::default()]));
    }
}
