//! The ownership marker: which SAs and policies belong to this engine.
//!
//! # Choice
//! Ownership is carried by the **reqid**. Every SA this engine installs and
//! every policy template it installs uses a reqid in the reserved range
//! `0xCE00_0000 ..= 0xCEFF_FFFF` (top byte [`OWNED_REQID_PREFIX`], low 24 bits
//! chosen by the engine, see [`ReqId::owned`]).
//!
//! Why the reqid:
//! - it is stored by the kernel on both SAs (`xfrm_usersa_info.reqid`) and
//!   policy templates (`xfrm_user_tmpl.reqid`), and it is what binds an
//!   outbound policy to its SAs anyway, so we need one per tunnel regardless;
//! - it survives an engine restart (it is kernel state, not process state)
//!   and needs no side file, so a restarted engine can dump the SAD/SPD,
//!   pick out its own entries and reconcile them;
//! - it does not constrain anything the engine may want to use for other
//!   purposes (marks and if_ids stay free for routing designs);
//! - the other IKE daemons met in Submariner deployments allocate small
//!   reqids (strongSwan counts from 1, libreswan from 16384 upwards in steps
//!   of 4, `ip xfrm` defaults to 0), far below the reserved range.
//!
//! A policy is owned when **all** of its templates carry an owned reqid and it
//! has at least one template; an SA is owned when its reqid is owned. Entries
//! without a reqid in the range are never modified or deleted by
//! [`crate::XfrmClient::cleanup_owned`].

use std::fmt;

use crate::client::XfrmClient;
use crate::error::XfrmError;
use crate::policy::PolicyInfo;
use crate::sa::SaId;
use crate::sa::SaInfo;
use crate::spi::SpiRequest;

/// Top byte of every reqid this engine uses.
pub const OWNED_REQID_PREFIX: u32 = 0xCE00_0000;
/// Mask selecting the prefix byte.
pub const OWNED_REQID_MASK: u32 = 0xFF00_0000;
/// Largest index that fits in the low 24 bits.
pub const MAX_OWNED_INDEX: u32 = 0x00FF_FFFF;

/// A reqid (request id) linking policies to SAs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReqId(u32);

impl ReqId {
    /// The owned reqid with the given index (`0 ..= 0xFF_FFFF`).
    pub fn owned(index: u32) -> Result<ReqId, XfrmError> {
        if index > MAX_OWNED_INDEX {
            return Err(XfrmError::InvalidInput(format!(
                "reqid index {index:#x} does not fit in 24 bits"
            )));
        }
        Ok(ReqId(OWNED_REQID_PREFIX | index))
    }

    /// Wrap a raw reqid (e.g. read back from the kernel).
    pub fn from_raw(raw: u32) -> ReqId {
        ReqId(raw)
    }

    /// The raw value sent to the kernel.
    pub fn raw(self) -> u32 {
        self.0
    }

    /// True when the reqid lies in this engine's reserved range.
    pub fn is_owned(self) -> bool {
        is_owned_reqid(self.0)
    }

    /// The low 24 bits, when owned.
    pub fn owned_index(self) -> Option<u32> {
        self.is_owned().then_some(self.0 & MAX_OWNED_INDEX)
    }
}

impl fmt::Debug for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReqId({:#010x})", self.0)
    }
}

impl fmt::Display for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// True when `raw` lies in the reserved range.
pub fn is_owned_reqid(raw: u32) -> bool {
    raw & OWNED_REQID_MASK == OWNED_REQID_PREFIX
}

/// True when a policy with these template reqids is ours.
pub fn policy_is_owned(template_reqids: &[u32]) -> bool {
    !template_reqids.is_empty() && template_reqids.iter().all(|&r| is_owned_reqid(r))
}

/// What [`crate::XfrmClient::cleanup_owned`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// SAs deleted.
    pub sas_removed: usize,
    /// Policies deleted.
    pub policies_removed: usize,
}

impl XfrmClient {
    /// The SAs whose reqid is in the reserved range.
    pub async fn list_owned_sas(&self) -> Result<Vec<SaInfo>, XfrmError> {
        Ok(self
            .list_sas()
            .await?
            .into_iter()
            .filter(SaInfo::is_owned)
            .collect())
    }

    /// The policies whose templates all carry an owned reqid.
    pub async fn list_owned_policies(&self) -> Result<Vec<PolicyInfo>, XfrmError> {
        Ok(self
            .list_policies()
            .await?
            .into_iter()
            .filter(PolicyInfo::is_owned)
            .collect())
    }

    /// Delete every owned policy, then every owned SA; foreign entries are
    /// never touched. Entries that vanish meanwhile (expired, deleted by a
    /// concurrent call) are not an error.
    pub async fn cleanup_owned(&self) -> Result<CleanupReport, XfrmError> {
        let mut report = CleanupReport::default();
        for p in self.list_owned_policies().await? {
            let Some(id) = p.id() else { continue };
            match self.delete_policy(&id).await {
                Ok(()) => report.policies_removed += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        for sa in self.list_owned_sas().await? {
            match self.remove_sa(&sa).await {
                Ok(()) => report.sas_removed += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Delete an SA read back from the kernel, including a larval one.
    ///
    /// A packet that meets one of our policies while its pair has no SA
    /// makes the kernel create a larval "acquire" state (SPI 0) carrying the
    /// policy's reqid, until it expires (`net.core.xfrm_acq_expires`, 30 s).
    /// DELSA finds states by SPI, so such a state cannot be deleted as it
    /// is: ALLOCSPI with its addresses and reqid gives it an SPI (the kernel
    /// finds the larval state by mode, reqid and addresses), then it is
    /// deleted by that SPI.
    pub async fn remove_sa(&self, sa: &SaInfo) -> Result<(), XfrmError> {
        if sa.spi != 0 {
            return self.delete_sa(&sa.id()).await;
        }
        let mut req = SpiRequest::new(sa.src, sa.dst, sa.reqid);
        req.mark = sa.mark;
        req.if_id = sa.if_id;
        let spi = self.allocate_spi(&req).await?;
        self.delete_sa(&SaId {
            dst: sa.dst,
            spi,
            mark: sa.mark,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_range() {
        let r = ReqId::owned(5).unwrap();
        assert_eq!(r.raw(), 0xCE00_0005);
        assert!(r.is_owned());
        assert_eq!(r.owned_index(), Some(5));
        assert!(ReqId::owned(MAX_OWNED_INDEX).unwrap().is_owned());
        assert!(ReqId::owned(MAX_OWNED_INDEX + 1).is_err());
        for foreign in [0, 1, 16384, 0xCD00_0000, 0xCF00_0000, u32::MAX] {
            assert!(!ReqId::from_raw(foreign).is_owned(), "{foreign:#x}");
        }
    }

    #[test]
    fn policies_need_all_templates_owned() {
        assert!(!policy_is_owned(&[]));
        assert!(policy_is_owned(&[0xCE00_0001]));
        assert!(!policy_is_owned(&[0xCE00_0001, 7]));
    }
}
