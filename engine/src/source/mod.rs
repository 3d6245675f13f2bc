//! Where the engine learns about Endpoints and Clusters.
//!
//! A source produces the **full desired state** ([`DesiredState`]): the local
//! Endpoint (this gateway's own among the local cluster's) with the local
//! Cluster, and every remote cluster's Endpoint (its newest) with its
//! Cluster; [`objects`] says how one Endpoint is chosen among several. Each time that state changes it
//! yields a [`SourceUpdate`] holding the new state and a [`StateDiff`] against
//! the previous one, so the consumer can both reconcile level-triggered (from
//! the state) and act only on what changed (from the diff).
//!
//! Sources:
//! - [`dir::DirSource`]: `--endpoints-dir DIR`, YAML files as `kubectl get -o
//!   yaml` prints them (the embedded default for the demo and the tests).
//! - [`kube::KubeSource`]: Endpoint and Cluster CRs in `SUBMARINER_NAMESPACE`,
//!   watched with kube-runtime and fed into [`watch::ChannelSource`], whose
//!   logic (malformed objects, watch restarts) is in [`watch`].
//!
//! [`objects`] holds what all sources share: per-object checks and the
//! assembly of the desired state; [`local`] builds the local Endpoint a
//! gateway publishes, as Submariner does.
//!
//! Invalid objects are never fatal: they are reported as [`SourceWarning`]s
//! (also logged with `tracing::warn!`) and skipped.

pub mod dir;
pub mod kube;
pub mod local;
pub mod objects;
pub mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use crate::crd::{ClusterSpec, EndpointSpec};

/// One cluster's gateway as the source knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The Endpoint's spec.
    pub endpoint: EndpointSpec,
    /// The cluster's `Cluster` spec, when one was found for its cluster id.
    pub cluster: Option<ClusterSpec>,
}

/// Everything the engine should be connected to, right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// The local gateway: `None` until this gateway's Endpoint is known
    /// (see [`objects`]); without it no cable can be built.
    pub local: Option<Site>,
    /// Remote gateways keyed by cluster id (one active gateway per cluster:
    /// the newest Endpoint of the cluster).
    pub remotes: BTreeMap<String, Site>,
    /// Problems to show on a remote cluster's connection, by cluster id:
    /// its Endpoint's latest edit is invalid and the last valid version is
    /// in use. Plans ignore them.
    pub notes: BTreeMap<String, String>,
}

/// What changed between two desired states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateDiff {
    /// The local Endpoint or Cluster changed (every cable may need rebuilding;
    /// [`crate::cable::PlanDiff`] tells what exactly).
    pub local_changed: bool,
    /// Cluster ids of remotes that appeared.
    pub added: Vec<String>,
    /// Cluster ids of remotes whose Endpoint or Cluster changed.
    pub changed: Vec<String>,
    /// Cluster ids of remotes that disappeared.
    pub removed: Vec<String>,
}

impl StateDiff {
    /// Compares `old` to `new`.
    pub fn between(old: &DesiredState, new: &DesiredState) -> StateDiff {
        let mut d = StateDiff {
            local_changed: old.local != new.local,
            ..StateDiff::default()
        };
        for (id, site) in &new.remotes {
            match old.remotes.get(id) {
                None => d.added.push(id.clone()),
                Some(o) if o != site => d.changed.push(id.clone()),
                Some(_) => {}
            }
        }
        d.removed = old
            .remotes
            .keys()
            .filter(|id| !new.remotes.contains_key(*id))
            .cloned()
            .collect();
        d
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.local_changed
            && self.added.is_empty()
            && self.changed.is_empty()
            && self.removed.is_empty()
    }
}

/// A problem with one object or file that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceWarning {
    /// Where: a file path (and document number) or an object name.
    pub origin: String,
    /// Why it was skipped.
    pub message: String,
}

impl fmt::Display for SourceWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

/// A new desired state and how it differs from the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUpdate {
    /// The full desired state.
    pub state: DesiredState,
    /// The difference from the previous update (from the empty state for the
    /// first one).
    pub diff: StateDiff,
    /// Problems found while reading the inputs that changed (already logged).
    pub warnings: Vec<SourceWarning>,
}

/// A source failure that stops the source (not an invalid object: those are
/// warnings).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The directory cannot be listed.
    #[error("cannot read endpoints directory {path:?}: {reason}")]
    Directory {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The source's inputs ended (e.g. every watch task stopped).
    #[error("the {0} source stopped")]
    Closed(&'static str),
}

/// A source of Endpoints and Clusters.
///
/// The first call to [`next_update`](EndpointSource::next_update) returns the
/// initial state at once; later calls wait until the state changes.
pub trait EndpointSource: Send {
    /// A short name for logs (`"directory"`, `"kubernetes"`).
    fn name(&self) -> &'static str;

    /// Waits for the next change of the desired state.
    fn next_update(&mut self) -> impl Future<Output = Result<SourceUpdate, SourceError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(cluster: &str, ip: &str) -> Site {
        Site {
            endpoint: EndpointSpec {
                cluster_id: cluster.into(),
                private_ip: ip.into(),
                ..Default::default()
            },
            cluster: None,
        }
    }

    #[test]
    fn diff_between_states() {
        let mut old = DesiredState {
            local: Some(site("c1", "10.0.0.1")),
            ..Default::default()
        };
        old.remotes.insert("c2".into(), site("c2", "10.0.0.2"));
        old.remotes.insert("c3".into(), site("c3", "10.0.0.3"));
        let mut new = old.clone();
        assert!(StateDiff::between(&old, &new).is_empty());
        new.remotes.remove("c2");
        new.remotes.insert("c3".into(), site("c3", "10.0.0.33"));
        new.remotes.insert("c4".into(), site("c4", "10.0.0.4"));
        let d = StateDiff::between(&old, &new);
        assert_eq!(
            d,
            StateDiff {
                local_changed: false,
                added: vec!["c4".into()],
                changed: vec!["c3".into()],
                removed: vec!["c2".into()],
            }
        );
        new.local = None;
        assert!(StateDiff::between(&old, &new).local_changed);
    }
}
