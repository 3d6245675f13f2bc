//! The part every source shares: turning Endpoint and Cluster objects into a
//! [`DesiredState`].
//!
//! - [`endpoint_object`] / [`cluster_object`]: checks on one deserialised
//!   object (a missing `cable_name` is derived as Submariner does; an
//!   Endpoint must [`validate`](crate::crd::EndpointSpec::validate); a Cluster
//!   without `spec.cluster_id` takes its object name). A failure is a message
//!   for a [`SourceWarning`]: the object is skipped, never fatal.
//! - [`assemble`]: the desired state from all valid objects, in a stable
//!   order: the local Endpoint is the one with the local cluster id, every
//!   other Endpoint is the remote gateway of its cluster, Clusters are matched
//!   by cluster id; when two objects claim one place the first wins and the
//!   other is reported.

use std::collections::BTreeMap;

use super::{DesiredState, Site, SourceWarning};
use crate::crd::names::cable_name;
use crate::crd::{Cluster, ClusterSpec, Endpoint, EndpointSpec};

/// A valid object and where it came from (a file, or `namespace/name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// An Endpoint's spec.
    Endpoint {
        /// Where it came from.
        origin: String,
        /// The spec.
        spec: EndpointSpec,
        /// Set when this is the last valid version kept because the
        /// latest edit is invalid: why (shown on the connection).
        stale: Option<String>,
    },
    /// A Cluster's spec.
    Cluster {
        /// Where it came from.
        origin: String,
        /// The spec.
        spec: ClusterSpec,
    },
}

impl Object {
    /// Where it came from.
    pub fn origin(&self) -> &str {
        match self {
            Object::Endpoint { origin, .. } | Object::Cluster { origin, .. } => origin,
        }
    }

    /// Its kind and cluster id (what it stands for in the desired state).
    pub fn key(&self) -> (&'static str, &str) {
        match self {
            Object::Endpoint { spec, .. } => ("Endpoint", &spec.cluster_id),
            Object::Cluster { spec, .. } => ("Cluster", &spec.cluster_id),
        }
    }
}

/// An edit that makes an object invalid keeps its last valid version, in
/// both sources (issue 13, fault 6): a remote cluster's tunnel must not go
/// down for a typo in its Endpoint. `new` is the edited object (`None`:
/// invalid, already reported), `previous` the last valid one at the same
/// origin. Deleting the object still removes it.
pub fn keep_last_valid(
    origin: &str,
    new: Option<Object>,
    previous: Option<&Object>,
    warnings: &mut Vec<SourceWarning>,
) -> Option<Object> {
    match (new, previous) {
        (Some(o), _) => Some(o),
        (None, Some(p)) => {
            // The warning that made the edit invalid, for the connection.
            let why = warnings
                .iter()
                .rev()
                .find(|w| w.origin.starts_with(origin))
                .map(|w| w.message.trim_end_matches("; skipped").to_string())
                .unwrap_or_else(|| "it does not parse".into());
            warnings.push(SourceWarning {
                origin: origin.to_string(),
                message: "keeping its last valid version until the edit is fixed".into(),
            });
            let mut kept = p.clone();
            if let Object::Endpoint { stale, .. } = &mut kept {
                *stale = Some(format!(
                    "the latest edit of this Endpoint is invalid ({why}); its last valid version stays in use"
                ));
            }
            Some(kept)
        }
        (None, None) => None,
    }
}

/// `Kind "name"` (or just `Kind` without a name), for messages.
pub fn describe(kind: &str, name: &str) -> String {
    if name.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {name:?}")
    }
}

/// Checks a deserialised Endpoint; `Err` is the warning message.
pub fn endpoint_object(origin: &str, mut ep: Endpoint) -> Result<Object, String> {
    // Hand-written objects may leave the derived cable name out.
    if ep.spec.cable_name.is_empty() && !ep.spec.cluster_id.is_empty() {
        ep.spec.cable_name = cable_name(&ep.spec.cluster_id, &ep.spec.private_ip);
    }
    match ep.spec.validate() {
        Err(why) => Err(format!(
            "invalid {}: {why}; skipped",
            describe("Endpoint", &ep.metadata.name)
        )),
        Ok(()) => Ok(Object::Endpoint {
            origin: origin.to_string(),
            spec: ep.spec,
            stale: None,
        }),
    }
}

/// Checks a deserialised Cluster; `Err` is the warning message.
pub fn cluster_object(origin: &str, mut c: Cluster) -> Result<Object, String> {
    if c.spec.cluster_id.is_empty() {
        c.spec.cluster_id = c.metadata.name.clone();
    }
    if c.spec.cluster_id.is_empty() {
        return Err(format!(
            "invalid {}: spec.cluster_id is empty; skipped",
            describe("Cluster", &c.metadata.name)
        ));
    }
    Ok(Object::Cluster {
        origin: origin.to_string(),
        spec: c.spec,
    })
}

fn duplicate(origin: &str, kind: &str, cluster_id: &str, first: &str) -> SourceWarning {
    SourceWarning {
        origin: origin.to_string(),
        message: format!(
            "a second {kind} for cluster {cluster_id:?}; skipped (using the one in {first})"
        ),
    }
}

/// Builds the desired state from `objects` (see the module docs); duplicates
/// are reported in `warnings`.
pub fn assemble<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    local_cluster_id: &str,
    warnings: &mut Vec<SourceWarning>,
) -> DesiredState {
    let mut local: Option<(&str, &EndpointSpec)> = None;
    let mut remotes: BTreeMap<&str, (&str, &EndpointSpec)> = BTreeMap::new();
    let mut notes: BTreeMap<&str, &str> = BTreeMap::new();
    let mut clusters: BTreeMap<&str, (&str, &ClusterSpec)> = BTreeMap::new();
    for object in objects {
        match object {
            Object::Endpoint {
                origin,
                spec,
                stale,
            } => {
                let id = spec.cluster_id.as_str();
                let first = if id == local_cluster_id {
                    match local {
                        None => {
                            local = Some((origin, spec));
                            None
                        }
                        Some((first, _)) => Some(first),
                    }
                } else {
                    match remotes.get(id) {
                        None => {
                            remotes.insert(id, (origin, spec));
                            if let Some(why) = stale {
                                notes.insert(id, why);
                            }
                            None
                        }
                        Some((first, _)) => Some(*first),
                    }
                };
                if let Some(first) = first {
                    warnings.push(duplicate(origin, "Endpoint", id, first));
                }
            }
            Object::Cluster { origin, spec } => {
                let id = spec.cluster_id.as_str();
                match clusters.get(id) {
                    None => {
                        clusters.insert(id, (origin, spec));
                    }
                    Some((first, _)) => warnings.push(duplicate(origin, "Cluster", id, first)),
                }
            }
        }
    }
    let site = |spec: &EndpointSpec| Site {
        cluster: clusters
            .get(spec.cluster_id.as_str())
            .map(|(_, c)| (*c).clone()),
        endpoint: spec.clone(),
    };
    DesiredState {
        local: local.map(|(_, spec)| site(spec)),
        remotes: remotes
            .into_iter()
            .map(|(id, (_, spec))| (id.to_string(), site(spec)))
            .collect(),
        notes: notes
            .into_iter()
            .map(|(id, why)| (id.to_string(), why.to_string()))
            .collect(),
    }
}
