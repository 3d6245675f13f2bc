//! What a restarted engine finds in the kernel.
//!
//! At start the manager lists the SAs and policies it owns (the reqid range
//! of `xfrm::ownership`) and keeps them: traffic keeps flowing on them while
//! the cables are rebuilt. New policies for the same pairs replace the old
//! ones in place (same selectors, same stable reqids). An old SA is removed
//! when the cable between its two addresses is whole again with new SAs, or
//! when the first set of plans shows no cable uses its addresses any more;
//! an old policy whose selector lies within no planned pair (policies follow
//! the negotiated selectors, which can be narrower than the plan) is
//! removed then too.

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
    /// `pairs`, policies [`within`] none of `planned`.
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
            if planned.iter().any(|pl| within(&id, pl)) {
                continue;
            }
            if x.delete_policy(&id).await.is_ok() {
                removed_policies += 1;
            }
        }
        (removed_sas, removed_policies)
    }
}

/// Whether policy `id` is one a planned pair's policy `planned` may have
/// become after narrowing: same direction, mark and interface, and both
/// selector networks inside the planned ones.
pub fn within(id: &PolicyId, planned: &PolicyId) -> bool {
    let inside = |n: &ipnetwork::IpNetwork, outer: &ipnetwork::IpNetwork| {
        n.is_ipv4() == outer.is_ipv4() && n.prefix() >= outer.prefix() && outer.contains(n.ip())
    };
    id.direction == planned.direction
        && id.mark == planned.mark
        && id.if_id == planned.if_id
        && inside(&id.selector.src, &planned.selector.src)
        && inside(&id.selector.dst, &planned.selector.dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrm::{Direction, TrafficSelector};

    fn id(src: &str, dst: &str, direction: Direction) -> PolicyId {
        PolicyId {
            selector: TrafficSelector::new(src.parse().unwrap(), dst.parse().unwrap()),
            direction,
            mark: None,
            if_id: None,
        }
    }

    /// A policy narrowed from a planned pair is one the plan still uses.
    #[test]
    fn narrowed_leftover_policies_are_kept() {
        let planned = id("10.1.0.0/16", "10.2.0.0/16", Direction::Out);
        assert!(within(&planned, &planned));
        assert!(within(
            &id("10.1.0.0/16", "10.2.1.0/24", Direction::Out),
            &planned
        ));
        assert!(!within(
            &id("10.1.0.0/16", "10.2.1.0/24", Direction::In),
            &planned
        ));
        assert!(!within(
            &id("10.1.0.0/16", "10.0.0.0/8", Direction::Out),
            &planned
        ));
        assert!(!within(
            &id("10.1.0.0/16", "10.3.0.0/24", Direction::Out),
            &planned
        ));
    }
}
