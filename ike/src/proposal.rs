//! SA payload negotiation (RFC 7296 2.7, 3.3): building our offers from
//! [`IkeProposal`]/[`EspProposal`], choosing from a peer's offer per local
//! preference (responder), and checking a peer's choice against what we
//! offered (initiator).
//!
//! AEAD ciphers (AES-GCM) and AES-CBC never share a proposal on the wire:
//! a configured proposal listing both is offered as an AEAD proposal
//! followed by a CBC one with the integrity algorithms (RFC 7296 3.3: a
//! proposal with a combined-mode cipher offers no integrity transform, or
//! only `NONE`). The responder splits its own proposals the same way, so
//! an AEAD choice is preferred to a CBC one whatever the peer's order, and
//! within a proposal the local order of groups puts the ECP groups before
//! the MODP ones. A proposal with a transform type we do not know is never
//! accepted (RFC 7296 3.3.6); a transform with unknown attributes is
//! skipped. An ESP proposal without any ESN transform means "no ESN"
//! (libreswan 4.10 sends those).

use crate::config::{EspProposal, IkeProposal};
use crate::crypto::{DhGroup, Encr, Integ, Prf};
use crate::event::IkeAlgorithms;
use crate::wire::{self, EsnId, Proposal, ProtocolId, SaPayload, Transform, TransformType};

/// The responder's pick from an IKE SA offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IkeChoice {
    /// Proposal number of the peer's proposal.
    pub number: u8,
    pub encr: Encr,
    /// `None` with an AEAD `encr`.
    pub integ: Option<Integ>,
    /// An AEAD choice from a proposal that listed INTEG NONE: the answer
    /// names NONE (RFC 7296 2.7, one transform of each type proposed).
    pub integ_none: bool,
    pub prf: Prf,
    /// Groups of that proposal we accept, our preference first.
    pub dh_candidates: Vec<DhGroup>,
}

/// The pick from an ESP offer (either side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EspChoice {
    pub number: u8,
    pub encr: Encr,
    /// `None` with an AEAD `encr`.
    pub integ: Option<Integ>,
    /// As [`IkeChoice::integ_none`].
    pub integ_none: bool,
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

fn integ_transform(i: Integ) -> Transform {
    Transform::integ(wire::IntegId(i.transform_id()))
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

/// The cipher lists of a configured proposal, for [`split`].
trait CipherLists: Clone {
    fn encr(&self) -> &[Encr];
    fn integ(&self) -> &[Integ];
    /// A copy with other cipher lists.
    fn with(&self, encr: Vec<Encr>, integ: Vec<Integ>) -> Self;
}

impl CipherLists for IkeProposal {
    fn encr(&self) -> &[Encr] {
        &self.encr
    }
    fn integ(&self) -> &[Integ] {
        &self.integ
    }
    fn with(&self, encr: Vec<Encr>, integ: Vec<Integ>) -> Self {
        IkeProposal {
            encr,
            integ,
            ..self.clone()
        }
    }
}

impl CipherLists for EspProposal {
    fn encr(&self) -> &[Encr] {
        &self.encr
    }
    fn integ(&self) -> &[Integ] {
        &self.integ
    }
    fn with(&self, encr: Vec<Encr>, integ: Vec<Integ>) -> Self {
        EspProposal {
            encr,
            integ,
            ..self.clone()
        }
    }
}

/// The wire-level proposals of configured proposals: each split into its
/// AEAD part (no integrity) and its CBC part (with the integrity
/// algorithms; left out without any), in that order.
fn split<P: CipherLists>(props: &[P]) -> Vec<P> {
    let mut out = Vec::new();
    for p in props {
        let (aead, cbc): (Vec<Encr>, Vec<Encr>) = p.encr().iter().partition(|e| e.is_aead());
        if !aead.is_empty() {
            out.push(p.with(aead, Vec::new()));
        }
        if !cbc.is_empty() && !p.integ().is_empty() {
            out.push(p.with(cbc, p.integ().to_vec()));
        }
    }
    out
}

/// Our IKE SA offer (IKE_SA_INIT: no SPI in the proposals).
pub(crate) fn ike_offer(props: &[IkeProposal]) -> SaPayload {
    SaPayload {
        proposals: split(props)
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut t: Vec<Transform> = p.encr.iter().copied().map(encr_transform).collect();
                t.extend(p.integ.iter().copied().map(integ_transform));
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
        proposals: split(props)
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut t: Vec<Transform> = p.encr.iter().copied().map(encr_transform).collect();
                t.extend(p.integ.iter().copied().map(integ_transform));
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

/// Whether an AEAD cipher may be taken from `p`: it carries no integrity
/// algorithm, or only NONE (RFC 7296 3.3: a combined-mode cipher "MUST
/// either offer no integrity algorithm or a single integrity algorithm of
/// NONE"). A proposal with a real integrity algorithm beside NONE is not
/// an AEAD proposal.
fn aead_ok(p: &Proposal) -> bool {
    p.transforms_of(TransformType::INTEG)
        .all(|t| t.id == wire::IntegId::NONE.0)
}

/// Whether an answer choosing `integ` from `p` must name INTEG NONE: an
/// AEAD choice (no integrity) from a proposal that listed INTEG
/// transforms, which [`aead_ok`] allows only as NONE.
fn integ_none(integ: Option<Integ>, p: &Proposal) -> bool {
    integ.is_none() && p.transforms_of(TransformType::INTEG).next().is_some()
}

/// The INTEG transform of an answer: the chosen algorithm, NONE when the
/// AEAD proposal listed it, or nothing.
fn answer_integ(integ: Option<Integ>, none: bool) -> Option<Transform> {
    match integ {
        Some(i) => Some(integ_transform(i)),
        None if none => Some(Transform::integ(wire::IntegId::NONE)),
        None => None,
    }
}

fn offered_integs(p: &Proposal) -> Vec<Integ> {
    p.transforms_of(TransformType::INTEG)
        .filter_map(|t| Integ::from_transform_id(t.id))
        .collect()
}

/// The first of our ciphers `p` offers that can be used with it, with its
/// integrity algorithm: an AEAD cipher needs a proposal without integrity
/// (or with NONE), AES-CBC an integrity algorithm we both have.
fn pick_encr(ours: &[Encr], our_integ: &[Integ], p: &Proposal) -> Option<(Encr, Option<Integ>)> {
    let theirs = offered_encrs(p);
    let their_integ = offered_integs(p);
    ours.iter()
        .copied()
        .filter(|e| theirs.contains(e))
        .find_map(|e| {
            if e.is_aead() {
                aead_ok(p).then_some((e, None))
            } else {
                first_common(our_integ, &their_integ).map(|i| (e, Some(i)))
            }
        })
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
    for ours in &split(local) {
        for p in &offer.proposals {
            if p.protocol != ProtocolId::IKE || !known_types_only(p) {
                continue;
            }
            if p.transforms_of(TransformType::ESN).next().is_some() {
                continue;
            }
            let Some((encr, integ)) = pick_encr(&ours.encr, &ours.integ, p) else {
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
                integ,
                integ_none: integ_none(integ, p),
                prf,
                dh_candidates,
            });
        }
    }
    None
}

/// The SA payload of our IKE_SA_INIT response.
pub(crate) fn ike_answer(choice: &IkeChoice, dh: DhGroup) -> SaPayload {
    let mut t = vec![encr_transform(choice.encr)];
    t.extend(answer_integ(choice.integ, choice.integ_none));
    t.push(prf_transform(choice.prf));
    t.push(dh_transform(dh));
    SaPayload {
        proposals: vec![Proposal::new(choice.number, ProtocolId::IKE, t)],
    }
}

/// The PFS a responder accepts in CREATE_CHILD_SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PfsPolicy {
    /// The groups a local proposal without groups of its own accepts
    /// from a peer that insists on PFS (the IKE proposals' groups).
    pub follow: Vec<DhGroup>,
    /// Refuse a peer proposal without a group.
    pub required: bool,
}

/// Responder: pick an ESP proposal. `pfs` is `None` in IKE_AUTH (DH
/// transforms are then ignored, RFC 7296 1.2); in CREATE_CHILD_SA a peer
/// proposal with DH transforms needs a common group (or an offered NONE,
/// unless PFS is required), and with PFS required one without is skipped.
pub(crate) fn select_esp(
    local: &[EspProposal],
    offer: &SaPayload,
    pfs: Option<&PfsPolicy>,
) -> Option<EspChoice> {
    for ours in &split(local) {
        for p in &offer.proposals {
            if p.protocol != ProtocolId::ESP || !known_types_only(p) {
                continue;
            }
            if p.transforms_of(TransformType::PRF).next().is_some() {
                continue;
            }
            let Some(spi) = p.spi_u32() else { continue };
            let Some((encr, integ)) = pick_encr(&ours.encr, &ours.integ, p) else {
                continue;
            };
            let theirs_esn: Vec<bool> = p.esn_choices().iter().map(|e| *e == EsnId::ESN).collect();
            let Some(esn) = first_common(&ours.esn, &theirs_esn) else {
                continue;
            };
            let dh = match pfs {
                None => None,
                Some(pfs) => {
                    let has_dh = p
                        .transforms_of(TransformType::DH)
                        .any(|t| t.id != wire::DhGroup::NONE.0);
                    let offers_none = p
                        .transforms_of(TransformType::DH)
                        .any(|t| t.id == wire::DhGroup::NONE.0);
                    let without = (!has_dh || offers_none) && !pfs.required;
                    let theirs = offered_dhs(p);
                    match first_common(&ours.dh, &theirs) {
                        Some(g) => Some(g),
                        None if without => None,
                        // No groups of our own: follow a peer that insists
                        // on PFS (strongSwan's `esp_proposals` with a
                        // group), or any peer when we require it, with the
                        // first group it offers of the IKE proposals'.
                        None if ours.dh.is_empty() => {
                            match theirs.iter().find(|g| pfs.follow.contains(g)) {
                                Some(g) => Some(*g),
                                None => continue,
                            }
                        }
                        None => continue,
                    }
                }
            };
            return Some(EspChoice {
                number: p.number,
                encr,
                integ,
                integ_none: integ_none(integ, p),
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
    t.extend(answer_integ(choice.integ, choice.integ_none));
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
    let integ = chosen_integ(encr, p)?;
    let prf = offered_prfs(p).first().copied().ok_or("no PRF chosen")?;
    let dh = offered_dhs(p)
        .first()
        .copied()
        .ok_or("no DH group chosen")?;
    Ok(IkeAlgorithms {
        encr,
        integ,
        prf,
        dh,
    })
}

/// The integrity algorithm of an answer: none (or NONE) with AEAD, one
/// with AES-CBC.
fn chosen_integ(encr: Encr, p: &Proposal) -> Result<Option<Integ>, &'static str> {
    let integ = offered_integs(p).first().copied();
    match (encr.is_aead(), integ) {
        (true, None) if aead_ok(p) => Ok(None),
        (false, Some(i)) => Ok(Some(i)),
        (true, _) => Err("integrity algorithm chosen with an AEAD cipher"),
        (false, None) => Err("no INTEG chosen for AES-CBC"),
    }
}

/// Initiator: the responder's ESP choice and SPI.
pub(crate) fn check_esp_answer(
    sent: &SaPayload,
    resp: &SaPayload,
) -> Result<EspChoice, &'static str> {
    let p = answered(sent, resp)?;
    let encr = offered_encrs(p).first().copied().ok_or("no ENCR chosen")?;
    let integ = chosen_integ(encr, p)?;
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
        integ,
        integ_none: false,
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
            integ: Vec::new(),
            prf: vec![Prf::HmacSha512, Prf::HmacSha256],
            dh: vec![DhGroup::Ecp256, DhGroup::Curve25519],
        }]);
        let local = IkeProposal {
            encr: vec![Encr::AesGcm16_256],
            integ: Vec::new(),
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
        for p in &mut offer.proposals {
            p.transforms
                .retain(|t| t.transform_type != TransformType::ESN);
        }
        let only_esn = EspProposal {
            esn: vec![true],
            ..EspProposal::default()
        };
        assert!(select_esp(&[only_esn], &offer, None).is_none());
        let c = select_esp(&[EspProposal::default()], &offer, None).unwrap();
        assert!(!c.esn);
        assert_eq!(c.spi, 0x1234);
    }

    #[test]
    fn unknown_transform_type_rejects_proposal() {
        let mut offer = ike_offer(&[IkeProposal::default()]);
        assert!(select_ike(&[IkeProposal::default()], &offer).is_some());
        for p in &mut offer.proposals {
            p.transforms.push(Transform::new(TransformType(77), 1));
        }
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
            integ: Vec::new(),
            prf: vec![Prf::HmacSha256],
            dh: vec![DhGroup::Ecp256],
        }]);
        assert!(check_ike_answer(&offer, &forged).is_err());
    }

    fn transforms_of(p: &Proposal, ty: TransformType) -> Vec<u16> {
        p.transforms_of(ty).map(|t| t.id).collect()
    }

    #[test]
    fn default_offer_is_aead_and_ecp_first_then_cbc_and_modp() {
        let offer = ike_offer(&[IkeProposal::default()]);
        let [aead, cbc] = offer.proposals.as_slice() else {
            panic!("two proposals expected: {offer:?}");
        };
        assert_eq!((aead.number, cbc.number), (1, 2));
        // AEAD: GCM-256, GCM-128, no integrity (RFC 7296 3.3).
        assert_eq!(
            offered_encrs(aead),
            vec![Encr::AesGcm16_256, Encr::AesGcm16_128]
        );
        assert!(transforms_of(aead, TransformType::INTEG).is_empty());
        // CBC: AES-CBC-256, -128 with HMAC-SHA2-256-128, 384-192, 512-256.
        assert_eq!(offered_encrs(cbc), vec![Encr::AesCbc256, Encr::AesCbc128]);
        assert_eq!(transforms_of(cbc, TransformType::INTEG), vec![12, 13, 14]);
        // Both: the ECP groups and Curve25519 first, then MODP 2048/3072/4096.
        for p in [aead, cbc] {
            assert_eq!(
                transforms_of(p, TransformType::DH),
                vec![19, 20, 31, 21, 14, 15, 16]
            );
        }
        let esp = esp_offer(&[EspProposal::default()], 7, None);
        let [aead, cbc] = esp.proposals.as_slice() else {
            panic!("two ESP proposals expected: {esp:?}");
        };
        assert!(transforms_of(aead, TransformType::INTEG).is_empty());
        assert_eq!(offered_encrs(cbc), vec![Encr::AesCbc256, Encr::AesCbc128]);
        assert_eq!(transforms_of(cbc, TransformType::INTEG), vec![12, 13, 14]);
        assert_eq!(cbc.spi_u32(), Some(7));
    }

    /// What strongSwan sends for `proposals = aes256-sha256-modp2048`.
    fn strongswan_cbc_modp2048() -> SaPayload {
        SaPayload {
            proposals: vec![Proposal::new(
                1,
                ProtocolId::IKE,
                vec![
                    Transform::encr(wire::EncrId::AES_CBC, Some(256)),
                    Transform::integ(wire::IntegId::HMAC_SHA2_256_128),
                    Transform::prf(wire::PrfId::HMAC_SHA2_256),
                    Transform::dh(wire::DhGroup::MODP2048),
                ],
            )],
        }
    }

    #[test]
    fn a_cbc_modp_only_peer_is_accepted_and_answered_with_integrity() {
        let c = select_ike(&[IkeProposal::default()], &strongswan_cbc_modp2048()).unwrap();
        assert_eq!(c.encr, Encr::AesCbc256);
        assert_eq!(c.integ, Some(Integ::HmacSha256_128));
        assert_eq!(c.dh_candidates, vec![DhGroup::Modp2048]);
        let ans = ike_answer(&c, DhGroup::Modp2048);
        assert_eq!(
            transforms_of(&ans.proposals[0], TransformType::INTEG),
            vec![12]
        );
        // As the initiator of that offer would check our answer.
        let algs = check_ike_answer(&strongswan_cbc_modp2048(), &ans).unwrap();
        assert_eq!(algs.integ, Some(Integ::HmacSha256_128));
        assert_eq!(algs.dh, DhGroup::Modp2048);
    }

    #[test]
    fn aead_is_chosen_before_cbc_whatever_the_peers_order() {
        // strongSwan's default: a CBC proposal first, then an AEAD one.
        let mut offer = strongswan_cbc_modp2048();
        offer.proposals.push(Proposal::new(
            2,
            ProtocolId::IKE,
            vec![
                Transform::encr(wire::EncrId::AES_GCM_16, Some(128)),
                Transform::prf(wire::PrfId::HMAC_SHA2_256),
                Transform::dh(wire::DhGroup::MODP2048),
                Transform::dh(wire::DhGroup::ECP256),
            ],
        ));
        let c = select_ike(&[IkeProposal::default()], &offer).unwrap();
        assert_eq!((c.number, c.encr, c.integ), (2, Encr::AesGcm16_128, None));
        // ECP before MODP among the groups the peer offers.
        assert_eq!(c.dh_candidates, vec![DhGroup::Ecp256, DhGroup::Modp2048]);
    }

    #[test]
    fn cbc_needs_a_common_integrity_and_aead_refuses_one() {
        // CBC with only HMAC-SHA1-96: nothing we run.
        let mut offer = strongswan_cbc_modp2048();
        offer.proposals[0].transforms[1] = Transform::integ(wire::IntegId::HMAC_SHA1_96);
        assert!(select_ike(&[IkeProposal::default()], &offer).is_none());
        // GCM with a real integrity algorithm: not acceptable (RFC 7296 3.3).
        let offer = SaPayload {
            proposals: vec![Proposal::new(
                1,
                ProtocolId::IKE,
                vec![
                    Transform::encr(wire::EncrId::AES_GCM_16, Some(256)),
                    Transform::integ(wire::IntegId::HMAC_SHA2_256_128),
                    Transform::prf(wire::PrfId::HMAC_SHA2_256),
                    Transform::dh(wire::DhGroup::ECP256),
                ],
            )],
        };
        assert!(select_ike(&[IkeProposal::default()], &offer).is_none());
        // A local proposal without integrity algorithms offers no CBC.
        let aead_only = IkeProposal {
            integ: Vec::new(),
            ..IkeProposal::default()
        };
        assert_eq!(
            ike_offer(std::slice::from_ref(&aead_only)).proposals.len(),
            1
        );
        assert!(select_ike(&[aead_only], &strongswan_cbc_modp2048()).is_none());
    }

    /// A GCM proposal that lists a real integrity algorithm next to NONE.
    fn gcm_with(integ: &[wire::IntegId]) -> Proposal {
        let mut t = vec![Transform::encr(wire::EncrId::AES_GCM_16, Some(256))];
        t.extend(integ.iter().map(|i| Transform::integ(*i)));
        t.push(Transform::prf(wire::PrfId::HMAC_SHA2_256));
        t.push(Transform::dh(wire::DhGroup::ECP256));
        Proposal::new(1, ProtocolId::IKE, t)
    }

    /// RFC 7296 3.3: a combined-mode cipher's proposal "MUST either offer
    /// no integrity algorithm or a single integrity algorithm of NONE".
    /// One offering HMAC-SHA2-256 beside NONE is malformed: no AEAD from it.
    #[test]
    fn aead_is_not_taken_from_a_proposal_with_a_real_integrity_beside_none() {
        let offer = SaPayload {
            proposals: vec![gcm_with(&[
                wire::IntegId::HMAC_SHA2_256_128,
                wire::IntegId::NONE,
            ])],
        };
        assert_eq!(select_ike(&[IkeProposal::default()], &offer), None);
        let mut esp = gcm_with(&[wire::IntegId::NONE, wire::IntegId::HMAC_SHA2_256_128]);
        esp.protocol = ProtocolId::ESP;
        esp.transforms.retain(|t| {
            t.transform_type == TransformType::ENCR || t.transform_type == TransformType::INTEG
        });
        esp.spi = 0x0102_0304u32.to_be_bytes().to_vec();
        let offer = SaPayload {
            proposals: vec![esp],
        };
        assert_eq!(select_esp(&[EspProposal::default()], &offer, None), None);
    }

    /// RFC 7296 2.7: "The accepted cryptographic suite MUST contain
    /// exactly one transform of each type included in the proposal." A
    /// GCM proposal that lists INTEG NONE (allowed by 3.3) is answered with
    /// INTEG NONE, in IKE_SA_INIT and for ESP; one without INTEG without.
    #[test]
    fn an_aead_proposal_with_integ_none_is_answered_with_none() {
        let with_none = SaPayload {
            proposals: vec![gcm_with(&[wire::IntegId::NONE])],
        };
        let c = select_ike(&[IkeProposal::default()], &with_none).unwrap();
        assert_eq!((c.encr, c.integ), (Encr::AesGcm16_256, None));
        let ans = ike_answer(&c, DhGroup::Ecp256);
        let types: Vec<TransformType> = ans.proposals[0]
            .transforms
            .iter()
            .map(|t| t.transform_type)
            .collect();
        assert_eq!(
            types,
            vec![
                TransformType::ENCR,
                TransformType::INTEG,
                TransformType::PRF,
                TransformType::DH
            ]
        );
        assert_eq!(
            transforms_of(&ans.proposals[0], TransformType::INTEG),
            vec![0]
        );
        // Every answered transform is one the peer proposed.
        for t in &ans.proposals[0].transforms {
            assert!(with_none.proposals[0].transforms.contains(t), "{t:?}");
        }
        // An initiator that offered that proposal accepts the answer.
        let algs = check_ike_answer(&with_none, &ans).unwrap();
        assert_eq!(algs.integ, None);

        let mut esp = gcm_with(&[wire::IntegId::NONE]);
        esp.protocol = ProtocolId::ESP;
        esp.transforms.retain(|t| {
            t.transform_type == TransformType::ENCR || t.transform_type == TransformType::INTEG
        });
        esp.transforms.push(Transform::esn(EsnId::NO_ESN));
        esp.spi = 0x0102_0304u32.to_be_bytes().to_vec();
        let offer = SaPayload {
            proposals: vec![esp],
        };
        let c = select_esp(&[EspProposal::default()], &offer, None).unwrap();
        let ans = esp_answer(&c, 0x1111);
        assert_eq!(
            transforms_of(&ans.proposals[0], TransformType::INTEG),
            vec![0]
        );
        assert_eq!(check_esp_answer(&offer, &ans).unwrap().integ, None);

        // Without INTEG in the proposal, none in the answer (as before).
        let c = select_ike(
            &[IkeProposal::default()],
            &SaPayload {
                proposals: vec![gcm_with(&[])],
            },
        )
        .unwrap();
        assert!(transforms_of(
            &ike_answer(&c, DhGroup::Ecp256).proposals[0],
            TransformType::INTEG
        )
        .is_empty());
    }

    #[test]
    fn esp_cbc_choice_and_answers_are_checked() {
        // strongSwan `esp_proposals = aes256-sha256`.
        let offer = SaPayload {
            proposals: vec![{
                let mut p = Proposal::new(
                    1,
                    ProtocolId::ESP,
                    vec![
                        Transform::encr(wire::EncrId::AES_CBC, Some(256)),
                        Transform::integ(wire::IntegId::HMAC_SHA2_256_128),
                        Transform::esn(EsnId::NO_ESN),
                    ],
                );
                p.spi = 0xabcd_0001u32.to_be_bytes().to_vec();
                p
            }],
        };
        let c = select_esp(&[EspProposal::default()], &offer, None).unwrap();
        assert_eq!(
            (c.encr, c.integ, c.esn),
            (Encr::AesCbc256, Some(Integ::HmacSha256_128), false)
        );
        let ans = esp_answer(&c, 0x1111);
        let back = check_esp_answer(&offer, &ans).unwrap();
        assert_eq!(back.integ, Some(Integ::HmacSha256_128));
        // An answer dropping the integrity transform of a CBC choice.
        let mut bad = ans.clone();
        bad.proposals[0]
            .transforms
            .retain(|t| t.transform_type != TransformType::INTEG);
        assert_eq!(
            check_esp_answer(&offer, &bad).err(),
            Some("no INTEG chosen for AES-CBC")
        );
    }
}
