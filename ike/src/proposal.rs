//! SA payload negotiation (RFC 7296 2.7, 3.3): building our offers from
//! [`IkeProposal`]/[`EspProposal`], choosing from a peer's offer per local
//! preference (responder), and checking a peer's choice against what we
//! offered (initiator).
//!
//! Only AEAD ciphers exist here, so an acceptable proposal carries no
//! integrity transform (or only `NONE`). A proposal with a transform type
//! we do not know is never accepted (RFC 7296 3.3.6); a transform with
//! unknown attributes is skipped. An ESP proposal without any ESN transform
//! means "no ESN" (libreswan 4.10 sends those).

use crate::config::{EspProposal, IkeProposal};
use crate::crypto::{DhGroup, Encr, Prf};
use crate::event::IkeAlgorithms;
use crate::wire::{self, EsnId, Proposal, ProtocolId, SaPayload, Transform, TransformType};

/// The responder's pick from an IKE SA offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IkeChoice {
    /// Proposal number of the peer's proposal.
    pub number: u8,
    pub encr: Encr,
    pub prf: Prf,
    /// Groups of that proposal we accept, our preference first.
    pub dh_candidates: Vec<DhGroup>,
}

/// The pick from an ESP offer (either side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EspChoice {
    pub number: u8,
    pub encr: Encr,
    pub esn: bool,
    pub dh: Option<DhGroup>,
    /// The SPI of the proposal (the peer's inbound SPI).
    pub spi: u32,
    /// Whether the offer carried ESN transforms at all (if not, the
    /// answer must not carry one either).
    pub esn_offered: bool,
}

fn encr_transform(e: Encr) -> Transform {
    Transform::encr(wire::EncrId(e.transform_id()), Some(e.key_len_bits()))
}

fn prf_transform(p: Prf) -> Transform {
    Transform::prf(wire::PrfId(p.transform_id()))
}

fn dh_transform(g: DhGroup) -> Transform {
    Transform::dh(wire::DhGroup(g.transform_id()))
}

fn esn_transform(esn: bool) -> Transform {
    Transform::esn(if esn { EsnId::ESN } else { EsnId::NO_ESN })
}

fn number(i: usize) -> u8 {
    u8::try_from(i + 1).unwrap_or(u8::MAX)
}

/// Our IKE SA offer (IKE_SA_INIT: no SPI in the proposals).
pub(crate) fn ike_offer(props: &[IkeProposal]) -> SaPayload {
    SaPayload {
        proposals: props
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut t: Vec<Transform> = p.encr.iter().copied().map(encr_transform).collect();
                t.extend(p.prf.iter().copied().map(prf_transform));
                t.extend(p.dh.iter().copied().map(dh_transform));
                Proposal::new(number(i), ProtocolId::IKE, t)
            })
            .collect(),
    }
}

/// Our IKE SA offer for a rekey: every proposal carries our new SPI.
pub(crate) fn ike_rekey_offer(props: &[IkeProposal], spi: [u8; 8]) -> SaPayload {
    let mut sa = ike_offer(props);
    for p in &mut sa.proposals {
        p.spi = spi.to_vec();
    }
    sa
}

/// Our ESP offer with inbound SPI `spi`; DH transforms only when `pfs`.
///
/// With `pfs`, each proposal offers that group first, then its own others
/// (a proposal without groups of its own follows the peer's PFS: it offers
/// the group the peer used).
pub(crate) fn esp_offer(props: &[EspProposal], spi: u32, pfs: Option<DhGroup>) -> SaPayload {
    SaPayload {
        proposals: props
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut t: Vec<Transform> = p.encr.iter().copied().map(encr_transform).collect();
                if let Some(g) = pfs {
                    t.push(dh_transform(g));
                    t.extend(p.dh.iter().copied().filter(|d| *d != g).map(dh_transform));
                }
                t.extend(p.esn.iter().copied().map(esn_transform));
                let mut prop = Proposal::new(number(i), ProtocolId::ESP, t);
                prop.spi = spi.to_be_bytes().to_vec();
                prop
            })
            .collect(),
    }
}

/// Whether every transform type in `p` is one we understand.
fn known_types_only(p: &Proposal) -> bool {
    p.transforms.iter().all(|t| {
        matches!(
            t.transform_type,
            TransformType::ENCR
                | TransformType::PRF
                | TransformType::INTEG
                | TransformType::DH
                | TransformType::ESN
        )
    })
}

/// AEAD proposals carry no integrity algorithm (or only NONE).
fn integ_ok(p: &Proposal) -> bool {
    let mut integ = p.transforms_of(TransformType::INTEG).peekable();
    integ.peek().is_none() || p.transforms_of(TransformType::INTEG).any(|t| t.id == 0)
}

fn offered_encrs(p: &Proposal) -> Vec<Encr> {
    p.transforms_of(TransformType::ENCR)
        .filter(|t| !t.has_unknown_attributes())
        .filter_map(|t| Encr::from_transform_id(t.id, t.key_length()))
        .collect()
}

fn offered_prfs(p: &Proposal) -> Vec<Prf> {
    p.transforms_of(TransformType::PRF)
        .filter_map(|t| Prf::from_transform_id(t.id))
        .collect()
}

fn offered_dhs(p: &Proposal) -> Vec<DhGroup> {
    p.transforms_of(TransformType::DH)
        .filter_map(|t| DhGroup::from_transform_id(t.id))
        .collect()
}

fn first_common<T: Copy + PartialEq>(ours: &[T], theirs: &[T]) -> Option<T> {
    ours.iter().copied().find(|x| theirs.contains(x))
}

/// Responder: the first acceptable (local proposal, peer proposal) pair,
/// local proposals outermost, each algorithm by local preference.
pub(crate) fn select_ike(local: &[IkeProposal], offer: &SaPayload) -> Option<IkeChoice> {
    for ours in local {
        for p in &offer.proposals {
            if p.protocol != ProtocolId::IKE || !known_types_only(p) || !integ_ok(p) {
                continue;
            }
            if p.transforms_of(TransformType::ESN).next().is_some() {
                continue;
            }
            let Some(encr) = first_common(&ours.encr, &offered_encrs(p)) else {
                continue;
            };
            let Some(prf) = first_common(&ours.prf, &offered_prfs(p)) else {
                continue;
            };
            let theirs = offered_dhs(p);
            let dh_candidates: Vec<DhGroup> = ours
                .dh
                .iter()
                .copied()
                .filter(|g| theirs.contains(g))
                .collect();
            if dh_candidates.is_empty() {
                continue;
            }
            return Some(IkeChoice {
                number: p.number,
                encr,
                prf,
                dh_candidates,
            });
        }
    }
    None
}

/// The SA payload of our IKE_SA_INIT response.
pub(crate) fn ike_answer(choice: &IkeChoice, dh: DhGroup) -> SaPayload {
    SaPayload {
        proposals: vec![Proposal::new(
            choice.number,
            ProtocolId::IKE,
            vec![
                encr_transform(choice.encr),
                prf_transform(choice.prf),
                dh_transform(dh),
            ],
        )],
    }
}

/// Responder: pick an ESP proposal. `allow_dh` is false in IKE_AUTH (DH
/// transforms are then ignored, RFC 7296 1.2); in CREATE_CHILD_SA a peer
/// proposal with DH transforms needs a common group (or an offered NONE).
pub(crate) fn select_esp(
    local: &[EspProposal],
    offer: &SaPayload,
    allow_dh: bool,
) -> Option<EspChoice> {
    for ours in local {
        for p in &offer.proposals {
            if p.protocol != ProtocolId::ESP || !known_types_only(p) || !integ_ok(p) {
                continue;
            }
            if p.transforms_of(TransformType::PRF).next().is_some() {
                continue;
            }
            let Some(spi) = p.spi_u32() else { continue };
            let Some(encr) = first_common(&ours.encr, &offered_encrs(p)) else {
                continue;
            };
            let theirs_esn: Vec<bool> = p.esn_choices().iter().map(|e| *e == EsnId::ESN).collect();
            let Some(esn) = first_common(&ours.esn, &theirs_esn) else {
                continue;
            };
            let dh = if !allow_dh {
                None
            } else {
                let has_dh = p
                    .transforms_of(TransformType::DH)
                    .any(|t| t.id != wire::DhGroup::NONE.0);
                let offers_none = p
                    .transforms_of(TransformType::DH)
                    .any(|t| t.id == wire::DhGroup::NONE.0);
                match first_common(&ours.dh, &offered_dhs(p)) {
                    Some(g) => Some(g),
                    None if !has_dh || offers_none => None,
                    // No groups of our own: follow a peer that insists on
                    // PFS (strongSwan's `esp_proposals` with a group) with
                    // the first group it offers that we have.
                    None if ours.dh.is_empty() => match offered_dhs(p).first() {
                        Some(g) => Some(*g),
                        None => continue,
                    },
                    None => continue,
                }
            };
            return Some(EspChoice {
                number: p.number,
                encr,
                esn,
                dh,
                spi,
                esn_offered: p.transforms_of(TransformType::ESN).next().is_some(),
            });
        }
    }
    None
}

/// The SA payload answering an ESP offer, with our inbound SPI.
pub(crate) fn esp_answer(choice: &EspChoice, our_spi: u32) -> SaPayload {
    let mut t = vec![encr_transform(choice.encr)];
    if let Some(g) = choice.dh {
        t.push(dh_transform(g));
    }
    if choice.esn_offered {
        t.push(esn_transform(choice.esn));
    }
    let mut prop = Proposal::new(choice.number, ProtocolId::ESP, t);
    prop.spi = our_spi.to_be_bytes().to_vec();
    SaPayload {
        proposals: vec![prop],
    }
}

/// The single proposal of a response, checked against the offer: same
/// number and protocol, every transform one we offered in that proposal,
/// at most one transform per type.
fn answered<'a>(sent: &SaPayload, resp: &'a SaPayload) -> Result<&'a Proposal, &'static str> {
    let [p] = resp.proposals.as_slice() else {
        return Err("response SA must hold exactly one proposal");
    };
    let ours = sent
        .proposals
        .iter()
        .find(|o| o.number == p.number && o.protocol == p.protocol)
        .ok_or("response SA names a proposal we did not send")?;
    for t in &p.transforms {
        if !ours.transforms.contains(t) {
            return Err("response SA holds a transform we did not offer");
        }
        if p.transforms_of(t.transform_type).count() != 1 {
            return Err("response SA holds two transforms of one type");
        }
    }
    Ok(p)
}

/// Initiator: the algorithms the responder chose in IKE_SA_INIT.
pub(crate) fn check_ike_answer(
    sent: &SaPayload,
    resp: &SaPayload,
) -> Result<IkeAlgorithms, &'static str> {
    let p = answered(sent, resp)?;
    let encr = offered_encrs(p).first().copied().ok_or("no ENCR chosen")?;
    let prf = offered_prfs(p).first().copied().ok_or("no PRF chosen")?;
    let dh = offered_dhs(p)
        .first()
        .copied()
        .ok_or("no DH group chosen")?;
    Ok(IkeAlgorithms { encr, prf, dh })
}

/// Initiator: the responder's ESP choice and SPI.
pub(crate) fn check_esp_answer(
    sent: &SaPayload,
    resp: &SaPayload,
) -> Result<EspChoice, &'static str> {
    let p = answered(sent, resp)?;
    let encr = offered_encrs(p).first().copied().ok_or("no ENCR chosen")?;
    let esn = p
        .transforms_of(TransformType::ESN)
        .next()
        .is_some_and(|t| t.id == EsnId::ESN.0);
    let spi = p.spi_u32().ok_or("ESP proposal without a 4-byte SPI")?;
    if spi == 0 {
        return Err("ESP SPI zero");
    }
    Ok(EspChoice {
        number: p.number,
        encr,
        esn,
        dh: offered_dhs(p).first().copied(),
        spi,
        esn_offered: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responder_prefers_local_order() {
        let offer = ike_offer(&[IkeProposal {
            encr: vec![Encr::AesGcm16_128, Encr::AesGcm16_256],
            prf: vec![Prf::HmacSha512, Prf::HmacSha256],
            dh: vec![DhGroup::Ecp256, DhGroup::Curve25519],
        }]);
        let local = IkeProposal {
            encr: vec![Encr::AesGcm16_256],
            prf: vec![Prf::HmacSha256, Prf::HmacSha512],
            dh: vec![DhGroup::Curve25519, DhGroup::Ecp256],
        };
        let c = select_ike(&[local], &offer).unwrap();
        assert_eq!(c.encr, Encr::AesGcm16_256);
        assert_eq!(c.prf, Prf::HmacSha256);
        assert_eq!(c.dh_candidates, vec![DhGroup::Curve25519, DhGroup::Ecp256]);
        let ans = ike_answer(&c, DhGroup::Curve25519);
        let algs = check_ike_answer(&offer, &ans).unwrap();
        assert_eq!(algs.dh, DhGroup::Curve25519);
    }

    #[test]
    fn esp_without_esn_transform_means_no_esn() {
        let mut offer = esp_offer(&[EspProposal::default()], 0x1234, None);
        offer.proposals[0]
            .transforms
            .retain(|t| t.transform_type != TransformType::ESN);
        let only_esn = EspProposal {
            esn: vec![true],
            ..EspProposal::default()
        };
        assert!(select_esp(&[only_esn], &offer, false).is_none());
        let c = select_esp(&[EspProposal::default()], &offer, false).unwrap();
        assert!(!c.esn);
        assert_eq!(c.spi, 0x1234);
    }

    #[test]
    fn unknown_transform_type_rejects_proposal() {
        let mut offer = ike_offer(&[IkeProposal::default()]);
        offer.proposals[0]
            .transforms
            .push(Transform::new(TransformType(77), 1));
        assert!(select_ike(&[IkeProposal::default()], &offer).is_none());
    }

    #[test]
    fn forged_answer_rejected() {
        let offer = ike_offer(&[IkeProposal {
            encr: vec![Encr::AesGcm16_128],
            ..IkeProposal::default()
        }]);
        let forged = ike_offer(&[IkeProposal {
            encr: vec![Encr::AesGcm16_256],
            prf: vec![Prf::HmacSha256],
            dh: vec![DhGroup::Ecp256],
        }]);
        assert!(check_ike_answer(&offer, &forged).is_err());
    }
}
