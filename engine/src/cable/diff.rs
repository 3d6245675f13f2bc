//! What changed between two plans for the same remote cluster, so that
//! "changes to an Endpoint replace only what changed".
//!
//! - IKE-level parameters (cable name, addresses, ports, NAT, encapsulation,
//!   role, plan identities, DPD) changed: the IKE SA and everything under it
//!   must be rebuilt ([`PlanDiff::ike_changed`]). So must it when this side is
//!   the client of a preferred server whose `preferred-server-timestamp`
//!   changed: the server restarted and lost the IKE SA (Submariner bumps the
//!   timestamp exactly to make its clients reconnect; it is ignored behind a
//!   load balancer, as Submariner does).
//! - Otherwise only the listed children are installed or removed; a child
//!   whose selectors or identities changed appears in both lists (same name).
//! - [`PlanDiff::endpoint_changed`]: the remote Endpoint changed at all
//!   (e.g. its `healthCheckIP` or `hostname`): status and health checks
//!   may need refreshing even when no SA does.

use super::plan::{CablePlan, ChildPair};
use super::role::Role;

/// The difference between an old and a new plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanDiff {
    /// The IKE SA must be rebuilt (with all children).
    pub ike_changed: bool,
    /// Children in the new plan that the old one did not have.
    pub added: Vec<ChildPair>,
    /// Children of the old plan that the new one does not have.
    pub removed: Vec<ChildPair>,
    /// The remote Endpoint spec differs.
    pub endpoint_changed: bool,
}

impl PlanDiff {
    /// Compares `old` to `new`.
    pub fn between(old: &CablePlan, new: &CablePlan) -> PlanDiff {
        let ike_changed = old.cable_name != new.cable_name
            || old.local_address != new.local_address
            || old.local_port != new.local_port
            || old.remote_address != new.remote_address
            || old.remote_port != new.remote_port
            || old.using_nat != new.using_nat
            || old.encapsulation != new.encapsulation
            || old.role != new.role
            || old.local_id != new.local_id
            || old.remote_id != new.remote_id
            || old.dpd != new.dpd
            || (new.role == Role::Client && old.remote_restart_marker != new.remote_restart_marker);
        PlanDiff {
            ike_changed,
            added: new
                .children
                .iter()
                .filter(|c| !old.children.contains(c))
                .cloned()
                .collect(),
            removed: old
                .children
                .iter()
                .filter(|c| !new.children.contains(c))
                .cloned()
                .collect(),
            endpoint_changed: old.remote_endpoint != new.remote_endpoint,
        }
    }

    /// True when nothing at all changed.
    pub fn is_empty(&self) -> bool {
        !self.ike_changed
            && self.added.is_empty()
            && self.removed.is_empty()
            && !self.endpoint_changed
    }

    /// True when kernel or IKE state must change (not just status).
    pub fn touches_sas(&self) -> bool {
        self.ike_changed || !self.added.is_empty() || !self.removed.is_empty()
    }
}
