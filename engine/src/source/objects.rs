//! The part every source shares: turning Endpoint and Cluster objects into a
//! [`DesiredState`].
//!
//! - [`endpoint_object`] / [`cluster_object`]: checks on one deserialised
//!   object (a missing `cable_name` is derived as Submariner does; an
//!   Endpoint must [`validate`](crate::crd::EndpointSpec::validate); a Cluster
//!   without `spec.cluster_id` takes its object name). A failure is a message
//!   for a [`SourceWarning`]: the object is skipped, never fatal.
//! - [`assemble`]: the desired state from all valid objects. Clusters are
//!   matched to Endpoints by cluster id (a second Cluster of one id is
//!   reported and skipped; the first in the source's order wins).
//!
//! **Which Endpoint of a cluster is used** (issue 13, fault 5). A cluster has
//! one active gateway, but its Endpoints can outnumber it for a while: after
//! a failover to another node, or a node IP change (a new cable name, so a
//! new object), the old Endpoint lingers until someone deletes it.
//!
//! - A remote cluster: the **newest** Endpoint wins, as in Submariner's cable
//!   engine (a cable is only replaced by an Endpoint whose
//!   `creationTimestamp` is not older). "Newest" is decided by
//!   `metadata.creationTimestamp` (an Endpoint without one, or with one
//!   that is not RFC 3339, counts as older than any with one), then, for
//!   equal times (the API server's are whole seconds), by the greater
//!   numeric `metadata.resourceVersion` (the later write; one that is not a
//!   number counts as older), and last by origin: the one that sorts first
//!   (file path, or `namespace/name`) wins. So the choice never depends on
//!   the order objects arrive in.
//! - The local cluster: **this gateway's own** Endpoint ([`LocalIdentity`]).
//!   A source that publishes the local Endpoint (Kubernetes) knows its cable
//!   name, and only the Endpoint with that cable name is local: until it is
//!   listed there is no local Endpoint, rather than another node's (or this
//!   node's old IP's) being used. A source that does not publish (the
//!   directory) prefers the Endpoints whose `spec.hostname` is this node's,
//!   then takes the newest as for a remote cluster.
//!
//! Every Endpoint not used is reported with the one used and why; the
//! local cluster's others are *stale*. The Kubernetes source's publisher
//! deletes stale local Endpoints ([`crate::source::kube::publish`]); the
//! directory source only reports them (it publishes nothing).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::chrono::{DateTime, Utc};

use super::{DesiredState, Site, SourceWarning};
use crate::crd::names::cable_name;
use crate::crd::{Cluster, ClusterSpec, Endpoint, EndpointSpec, ObjectMeta};

/// The metadata that tells which of two Endpoints of one cluster is newer
/// (see the module docs), as the object carried it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointAge {
    /// `metadata.creationTimestamp` ("" when absent).
    pub creation_timestamp: String,
    /// `metadata.resourceVersion` ("" when absent).
    pub resource_version: String,
}

impl EndpointAge {
    /// From an object's metadata.
    pub fn of(meta: &ObjectMeta) -> Self {
        EndpointAge {
            creation_timestamp: meta.creation_timestamp.clone(),
            resource_version: meta.resource_version.clone(),
        }
    }

    /// The creation time, when there is a readable one.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.creation_timestamp.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The resource version, when it is a number.
    pub fn version(&self) -> Option<u64> {
        self.resource_version.trim().parse().ok()
    }

    /// How the creation time reads in a message.
    fn describe_created(&self) -> String {
        match (self.created(), self.creation_timestamp.is_empty()) {
            (Some(_), _) => format!("created {}", self.creation_timestamp.trim()),
            (None, true) => "no creationTimestamp".into(),
            (None, false) => format!(
                "an unreadable creationTimestamp {:?}",
                self.creation_timestamp
            ),
        }
    }
}

/// How a source recognises this gateway's own Endpoint among those of the
/// local cluster (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalIdentity {
    /// `SUBMARINER_CLUSTERID`: Endpoints with it are the local cluster's.
    pub cluster_id: String,
    /// The cable name of the Endpoint this gateway publishes, when it
    /// publishes one: then only that Endpoint is local.
    pub cable_name: Option<String>,
    /// This node's hostname: when no cable name is known, the local
    /// cluster's Endpoints with this `spec.hostname` are preferred.
    pub hostname: Option<String>,
}

impl LocalIdentity {
    /// Knowing only the local cluster id (the newest local Endpoint wins).
    pub fn cluster(cluster_id: impl Into<String>) -> Self {
        LocalIdentity {
            cluster_id: cluster_id.into(),
            ..LocalIdentity::default()
        }
    }
}

/// A valid object and where it came from (a file, or `namespace/name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// An Endpoint's spec.
    Endpoint {
        /// Where it came from.
        origin: String,
        /// The spec (boxed: an Endpoint is much larger than a Cluster).
        spec: Box<EndpointSpec>,
        /// Which of two Endpoints of one cluster is newer.
        age: EndpointAge,
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
            age: EndpointAge::of(&ep.metadata),
            spec: Box::new(ep.spec),
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

/// An Endpoint competing for its cluster's place.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    origin: &'a str,
    spec: &'a EndpointSpec,
    age: &'a EndpointAge,
    stale: Option<&'a str>,
}

/// Orders two Endpoints of one cluster: `Greater` when `a` wins (it is
/// newer, see the module docs). Never `Equal` for different origins.
fn newer(a: &Candidate, b: &Candidate) -> Ordering {
    a.age
        .created()
        .cmp(&b.age.created())
        .then_with(|| a.age.version().cmp(&b.age.version()))
        .then_with(|| b.origin.cmp(a.origin))
}

/// Why `winner` is used rather than `loser`, for the warning.
fn why_newer(winner: &Candidate, loser: &Candidate) -> String {
    let (w, l) = (winner.age, loser.age);
    if w.created() != l.created() {
        format!(
            "the newest ({}; the skipped one has {})",
            w.describe_created(),
            l.describe_created()
        )
    } else if w.version() != l.version() {
        format!(
            "both have {}, and its resourceVersion {:?} is later than {:?}",
            w.describe_created(),
            w.resource_version,
            l.resource_version
        )
    } else {
        format!(
            "neither is newer (both have {} and resourceVersion {:?}): the first by name",
            w.describe_created(),
            w.resource_version
        )
    }
}

/// The newest of `candidates` (`None` only when there are none).
fn newest<'a>(candidates: &[Candidate<'a>]) -> Option<Candidate<'a>> {
    candidates.iter().copied().max_by(newer)
}

/// The warning for a local Endpoint that is not this gateway's.
fn stale_local(cluster_id: &str, c: &Candidate, why: String) -> SourceWarning {
    SourceWarning {
        origin: c.origin.to_string(),
        message: format!(
            "a stale Endpoint of the local cluster {cluster_id:?} (cable {:?}, hostname {:?}); not used: {why}",
            c.spec.cable_name, c.spec.hostname
        ),
    }
}

/// This gateway's own Endpoint among the local cluster's `candidates`
/// (see the module docs); every other one is reported as stale.
fn choose_local<'a>(
    candidates: &[Candidate<'a>],
    identity: &LocalIdentity,
    warnings: &mut Vec<SourceWarning>,
) -> Option<Candidate<'a>> {
    let id = &identity.cluster_id;
    let stale = |c: &Candidate, why: String| stale_local(id, c, why);
    let (pool, reason): (Vec<Candidate>, String) = match (&identity.cable_name, &identity.hostname)
    {
        (Some(own), _) => {
            let mine: Vec<Candidate> = candidates
                .iter()
                .filter(|c| &c.spec.cable_name == own)
                .copied()
                .collect();
            if mine.is_empty() {
                for c in candidates {
                    warnings.push(stale(
                        c,
                        format!(
                            "this gateway's own Endpoint (cable {own:?}) is not listed yet, and no other gateway's is used in its place"
                        ),
                    ));
                }
                return None;
            }
            (mine, format!("the cable name {own:?} is this gateway's"))
        }
        (None, Some(host)) if candidates.iter().any(|c| &c.spec.hostname == host) => (
            candidates
                .iter()
                .filter(|c| &c.spec.hostname == host)
                .copied()
                .collect(),
            format!("the hostname {host:?} is this node's"),
        ),
        _ => (candidates.to_vec(), String::new()),
    };
    let winner = newest(&pool)?;
    for c in candidates {
        if std::ptr::eq(c.spec, winner.spec) {
            continue;
        }
        let in_pool = pool.iter().any(|p| std::ptr::eq(p.spec, c.spec));
        let why = if in_pool {
            why_newer(&winner, c)
        } else {
            reason.clone()
        };
        warnings.push(stale(
            c,
            format!("this gateway's is the one in {}: {why}", winner.origin),
        ));
    }
    Some(winner)
}

/// Builds the desired state from `objects` (see the module docs); the
/// Endpoints and Clusters not used are reported in `warnings`.
pub fn assemble<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    local: &LocalIdentity,
    warnings: &mut Vec<SourceWarning>,
) -> DesiredState {
    let mut locals: Vec<Candidate> = Vec::new();
    let mut remotes: BTreeMap<&str, Vec<Candidate>> = BTreeMap::new();
    let mut clusters: BTreeMap<&str, (&str, &ClusterSpec)> = BTreeMap::new();
    for object in objects {
        match object {
            Object::Endpoint {
                origin,
                spec,
                age,
                stale,
            } => {
                let candidate = Candidate {
                    origin,
                    spec,
                    age,
                    stale: stale.as_deref(),
                };
                let id = spec.cluster_id.as_str();
                if id == local.cluster_id {
                    locals.push(candidate);
                } else {
                    remotes.entry(id).or_default().push(candidate);
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
    let mut state = DesiredState {
        local: choose_local(&locals, local, warnings).map(|c| site(c.spec)),
        ..DesiredState::default()
    };
    for (id, candidates) in remotes {
        let Some(winner) = newest(&candidates) else {
            continue;
        };
        for c in &candidates {
            if std::ptr::eq(c.spec, winner.spec) {
                continue;
            }
            warnings.push(SourceWarning {
                origin: c.origin.to_string(),
                message: format!(
                    "another Endpoint for cluster {id:?}; skipped: using the one in {}, {}",
                    winner.origin,
                    why_newer(&winner, c)
                ),
            });
        }
        if let Some(why) = winner.stale {
            state.notes.insert(id.to_string(), why.to_string());
        }
        state.remotes.insert(id.to_string(), site(winner.spec));
    }
    state
}
