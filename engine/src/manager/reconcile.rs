//! What a restarted engine finds in the kernel.
//!
//! At start the manager lists the SAs and policies it owns (the reqid range
//! of `xfrm::ownership`) and keeps them: traffic keeps flowing on them while
//! the cables are rebuilt. New policies for the same pairs replace the old
//! ones in place (same selectors, same stable reqids). An old SA is removed
//! when the cable between its two addresses is whole again with new SAs, or
//! when the first set of plans shows no cable uses its addresses any more;
//! an old policy whose selector no planned pair uses is removed then too.

use std::collections::HashSet;
use std::net::IpAddr;

use xfrm::{PolicyId, PolicyInfo, SaInfo, XfrmClient};

/// Owned kernel entries left by an earlier engine.
#[derive(Debug, Default)]
pub struct Leftovers {
    pub sas: Vec<SaInfo>,
    pub policies: Vec<PolicyInfo>,
}

impl Leftovers {
    /// Read what this engine owns in the kernel.
    pub async fn load(x: &XfrmClient) -> Result<Self, xfrm::XfrmError> {
        Ok(Leftovers {
            sas: x.list_owned_sas().await?,
            policies: x.list_owned_policies().await?,
        })
    }

    /// Remove the leftover SAs between `a` and `b` (either direction).
    pub async fn remove_sas_between(&mut self, x: &XfrmClient, a: IpAddr, b: IpAddr) -> usize {
        let (gone, keep): (Vec<SaInfo>, Vec<SaInfo>) = std::mem::take(&mut self.sas)
            .into_iter()
            .partition(|s| (s.src == a && s.dst == b) || (s.src == b && s.dst == a));
        self.sas = keep;
        let mut n = 0;
        for sa in gone {
            match x.remove_sa(&sa).await {
                Ok(()) => n += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => tracing::warn!("removing a leftover SA (spi {:#x}): {e}", sa.spi),
            }
        }
        n
    }

    /// Remove leftovers no cable will use: SAs whose address pair is not in
    /// `pairs`, policies whose identity is not in `planned`.
    pub async fn remove_unplanned(
        &mut self,
        x: &XfrmClient,
        pairs: &HashSet<(IpAddr, IpAddr)>,
        planned: &HashSet<PolicyId>,
    ) -> (usize, usize) {
        let used = |s: &SaInfo| pairs.contains(&(s.src, s.dst)) || pairs.contains(&(s.dst, s.src));
        let (keep, gone): (Vec<SaInfo>, Vec<SaInfo>) =
            std::mem::take(&mut self.sas).into_iter().partition(used);
        self.sas = keep;
        let mut removed_sas = 0;
        for sa in gone {
            if x.remove_sa(&sa).await.is_ok() {
                removed_sas += 1;
            }
        }
        let mut removed_policies = 0;
        for p in std::mem::take(&mut self.policies) {
            let Some(id) = p.id() else { continue };
            if planned.contains(&id) {
                continue;
            }
            if x.delete_policy(&id).await.is_ok() {
                removed_policies += 1;
            }
        }
        (removed_sas, removed_policies)
    }
}
