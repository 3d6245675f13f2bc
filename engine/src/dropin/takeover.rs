//! Switching a running gateway from libreswan: what its pluto left.
//!
//! Submariner's `pluto` script flushes every XFRM state and policy before
//! starting libreswan; the drop-in does not run that script (and flushes
//! nothing that is not libreswan's). When it starts it removes what a
//! previous libreswan pluto left, and only that: SAs and policies whose
//! reqids are libreswan's (it allocates them from 16384 upwards in steps of
//! 4; [`LIBRESWAN_REQIDS`]), with no mark and no interface id. Entries of
//! other programs (strongSwan counts reqids from 1, Cilium marks its own,
//! socket policies have no direction here) and the engine's own (reqids
//! `0xCE......`, kept across its restarts) are not touched.

use std::ops::Range;

use xfrm::{PolicyInfo, SaInfo, XfrmClient, XfrmError};

/// The reqids libreswan allocates (`IPSEC_MANUAL_REQID_MAX + 1` upwards).
pub const LIBRESWAN_REQIDS: Range<u32> = 16384..(1 << 24);

const IPPROTO_ESP: u8 = 50;
const IPPROTO_AH: u8 = 51;
const IPPROTO_COMP: u8 = 108;

/// An SA libreswan's pluto installed.
pub fn is_libreswan_sa(s: &SaInfo) -> bool {
    s.mark.is_none()
        && s.if_id.is_none()
        && matches!(s.proto, IPPROTO_ESP | IPPROTO_AH | IPPROTO_COMP)
        && LIBRESWAN_REQIDS.contains(&s.reqid.raw())
}

/// A policy libreswan's pluto installed: in, out or fwd, with templates
/// that all carry libreswan reqids.
pub fn is_libreswan_policy(p: &PolicyInfo) -> bool {
    p.direction.is_some()
        && p.mark.is_none()
        && p.if_id.is_none()
        && !p.templates.is_empty()
        && p.templates
            .iter()
            .all(|t| LIBRESWAN_REQIDS.contains(&t.reqid.raw()))
}

/// Remove libreswan's leftovers: (SAs, policies) removed.
pub async fn remove_libreswan_leftovers(x: &XfrmClient) -> Result<(usize, usize), XfrmError> {
    let mut policies = 0;
    for p in x.list_policies().await? {
        if !is_libreswan_policy(&p) {
            continue;
        }
        if let Some(id) = p.id() {
            match x.delete_policy(&id).await {
                Ok(()) => policies += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => tracing::warn!("removing a libreswan policy: {e}"),
            }
        }
    }
    let mut sas = 0;
    for s in x.list_sas().await? {
        if !is_libreswan_sa(&s) {
            continue;
        }
        match x.delete_sa(&s.id()).await {
            Ok(()) => sas += 1,
            Err(e) if e.is_not_found() => {}
            Err(e) => tracing::warn!("removing a libreswan SA (spi {:#x}): {e}", s.spi),
        }
    }
    Ok((sas, policies))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrm::{Direction, ReqId};

    fn policy(reqids: &[u32], direction: Option<Direction>) -> PolicyInfo {
        PolicyInfo {
            selector: None,
            direction,
            priority: 2080,
            index: 1,
            action: xfrm::PolicyAction::Allow,
            templates: reqids
                .iter()
                .map(|r| xfrm::TemplateInfo {
                    src: "192.0.2.1".parse().unwrap(),
                    dst: "192.0.2.2".parse().unwrap(),
                    proto: IPPROTO_ESP,
                    spi: 0,
                    reqid: ReqId::from_raw(*r),
                    mode: 1,
                })
                .collect(),
            mark: None,
            if_id: None,
        }
    }

    #[test]
    fn only_libreswans_entries_are_picked() {
        assert!(is_libreswan_policy(&policy(&[16389], Some(Direction::Out))));
        assert!(is_libreswan_policy(&policy(&[16393], Some(Direction::Fwd))));
        // strongSwan's, ours, a socket policy, a policy without template,
        // a marked one (Cilium's kind): left alone.
        assert!(!is_libreswan_policy(&policy(&[1], Some(Direction::Out))));
        let ours = ReqId::owned(5).unwrap().raw();
        assert!(!is_libreswan_policy(&policy(&[ours], Some(Direction::Out))));
        assert!(!is_libreswan_policy(&policy(&[16389], None)));
        assert!(!is_libreswan_policy(&policy(&[], Some(Direction::In))));
        let mut marked = policy(&[16389], Some(Direction::In));
        marked.mark = Some(xfrm::Mark {
            value: 0xe00,
            mask: 0xf00,
        });
        assert!(!is_libreswan_policy(&marked));
    }
}
