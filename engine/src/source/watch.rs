//! Watched objects: the core of the Kubernetes source, without Kubernetes.
//!
//! kube-runtime's `watcher` reports each kind as a stream of events: `Init`,
//! `InitApply(obj)`..., `InitDone` for every (re)list, then `Apply(obj)` and
//! `Delete(obj)`. [`WatchEvent`] mirrors those events for objects as JSON
//! (the Kubernetes source watches `DynamicObject`s, so one malformed custom
//! resource cannot break the whole list), and [`WatchedObjects`] keeps the
//! Endpoints and Clusters they describe:
//!
//! - every object is checked on its own ([`super::objects`]); a malformed
//!   one is reported (a [`SourceWarning`] naming `namespace/name` and why)
//!   and skipped, and replaced when a valid version arrives;
//! - a relist (a watch restart) replaces the kind's objects with those
//!   listed between `Init` and `InitDone`, so objects deleted while the watch
//!   was down disappear, and nothing changes for objects that did not;
//! - no state is emitted before both kinds have been listed once; after
//!   that, an update is emitted whenever the desired state changes.
//!
//! [`ChannelSource`] is an [`EndpointSource`] fed by a channel of such
//! events; the Kubernetes source is its watchers forwarding into it.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, watch};

use super::objects::{
    assemble, cluster_object, describe, endpoint_object, keep_last_valid, LocalIdentity, Object,
};
use super::{DesiredState, EndpointSource, SourceError, SourceUpdate, SourceWarning, StateDiff};
use crate::crd::{Cluster, Endpoint, EndpointSpec};

/// A watcher event for one object kind (kube-runtime's `watcher::Event`).
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<T> {
    /// An object was created or changed.
    Apply(T),
    /// An object was deleted.
    Delete(T),
    /// A (re)list starts.
    Init,
    /// An object of the (re)list.
    InitApply(T),
    /// The (re)list is complete.
    InitDone,
}

/// Which kind a watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchedKind {
    /// `Endpoint` objects.
    Endpoint,
    /// `Cluster` objects.
    Cluster,
}

/// One kind's objects: `namespace/name` -> the valid object, or `None` for
/// one that was reported and skipped.
#[derive(Debug, Default)]
struct KindStore {
    objects: BTreeMap<String, Option<Object>>,
    relist: Option<BTreeMap<String, Option<Object>>>,
    synced: bool,
}

/// The Endpoints and Clusters a set of watches reports, as a desired state.
#[derive(Debug)]
pub struct WatchedObjects {
    local: LocalIdentity,
    endpoints: KindStore,
    clusters: KindStore,
    state: DesiredState,
    started: bool,
    /// Warnings since the last update (each already logged).
    pending_warnings: Vec<SourceWarning>,
}

fn key_of(value: &serde_json::Value) -> Option<String> {
    let meta = value.get("metadata")?;
    let name = meta.get("name")?.as_str().filter(|n| !n.is_empty())?;
    let namespace = meta.get("namespace").and_then(|n| n.as_str()).unwrap_or("");
    Some(if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    })
}

/// Checks one object of `kind`; `None` (with a warning) when invalid.
fn parse(
    kind: WatchedKind,
    key: &str,
    value: serde_json::Value,
    warnings: &mut Vec<SourceWarning>,
) -> Option<Object> {
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    let result = match kind {
        WatchedKind::Endpoint => serde_json::from_value::<Endpoint>(value)
            .map_err(|e| format!("invalid {}: {e}; skipped", describe("Endpoint", &name)))
            .and_then(|ep| endpoint_object(key, ep)),
        WatchedKind::Cluster => serde_json::from_value::<Cluster>(value)
            .map_err(|e| format!("invalid {}: {e}; skipped", describe("Cluster", &name)))
            .and_then(|c| cluster_object(key, c)),
    };
    match result {
        Ok(o) => Some(o),
        Err(message) => {
            warnings.push(SourceWarning {
                origin: key.to_string(),
                message,
            });
            None
        }
    }
}

impl WatchedObjects {
    /// Empty, choosing the local Endpoint by `local_cluster_id` (the
    /// newest of that cluster's, until [`WatchedObjects::set_own_cable_name`]).
    pub fn new(local_cluster_id: impl Into<String>) -> Self {
        WatchedObjects {
            local: LocalIdentity::cluster(local_cluster_id),
            endpoints: KindStore::default(),
            clusters: KindStore::default(),
            state: DesiredState::default(),
            started: false,
            pending_warnings: Vec::new(),
        }
    }

    /// The desired state as of the last event.
    pub fn state(&self) -> &DesiredState {
        &self.state
    }

    /// Whether both kinds have been listed at least once.
    pub fn is_synced(&self) -> bool {
        self.endpoints.synced && self.clusters.synced
    }

    /// Applies one event; returns an update when the desired state changed
    /// (or, once, when both kinds are first listed). Warnings are logged at
    /// once and also carried by the next update.
    pub fn handle(
        &mut self,
        kind: WatchedKind,
        event: WatchEvent<serde_json::Value>,
    ) -> Option<SourceUpdate> {
        let mut warnings = Vec::new();
        let store = match kind {
            WatchedKind::Endpoint => &mut self.endpoints,
            WatchedKind::Cluster => &mut self.clusters,
        };
        let keyed = |value: &serde_json::Value, warnings: &mut Vec<SourceWarning>| {
            let key = key_of(value);
            if key.is_none() {
                warnings.push(SourceWarning {
                    origin: format!("{kind:?} watch"),
                    message: "an object without metadata.name; skipped".into(),
                });
            }
            key
        };
        let mut visible_change = false;
        match event {
            WatchEvent::Init => store.relist = Some(BTreeMap::new()),
            WatchEvent::InitApply(value) => {
                if let Some(key) = keyed(&value, &mut warnings) {
                    let object = parse(kind, &key, value, &mut warnings);
                    let previous = store.objects.get(&key).cloned().flatten();
                    let object = keep_last_valid(&key, object, previous.as_ref(), &mut warnings);
                    match store.relist.as_mut() {
                        Some(relist) => {
                            relist.insert(key, object);
                        }
                        None => {
                            store.objects.insert(key, object);
                            visible_change = true;
                        }
                    }
                }
            }
            WatchEvent::InitDone => {
                if let Some(relist) = store.relist.take() {
                    store.objects = relist;
                }
                store.synced = true;
                visible_change = true;
            }
            WatchEvent::Apply(value) => {
                if let Some(key) = keyed(&value, &mut warnings) {
                    let object = parse(kind, &key, value, &mut warnings);
                    let previous = store.objects.get(&key).cloned().flatten();
                    let object = keep_last_valid(&key, object, previous.as_ref(), &mut warnings);
                    store.objects.insert(key, object);
                    visible_change = true;
                }
            }
            WatchEvent::Delete(value) => {
                if let Some(key) = keyed(&value, &mut warnings) {
                    visible_change = store.objects.remove(&key).is_some();
                }
            }
        }
        for w in &warnings {
            tracing::warn!(origin = %w.origin, "{}", w.message);
        }
        self.pending_warnings.append(&mut warnings);
        if !visible_change {
            return None;
        }
        self.reassemble()
    }

    /// The cable name of the Endpoint this gateway publishes: from now on
    /// only the local cluster's Endpoint with this cable name is local (see
    /// [`super::objects`]). Returns an update when that changes the state.
    pub fn set_own_cable_name(&mut self, cable_name: impl Into<String>) -> Option<SourceUpdate> {
        let cable_name = Some(cable_name.into());
        if self.local.cable_name == cable_name {
            return None;
        }
        self.local.cable_name = cable_name;
        self.reassemble()
    }

    /// The desired state from the objects known; an update when it changed
    /// (or, once, when both kinds are first listed).
    fn reassemble(&mut self) -> Option<SourceUpdate> {
        if !self.is_synced() {
            return None;
        }
        let objects = self
            .endpoints
            .objects
            .values()
            .chain(self.clusters.objects.values())
            .flatten();
        let mut assembly_warnings = Vec::new();
        let state = assemble(objects, &self.local, &mut assembly_warnings);
        for w in &assembly_warnings {
            tracing::warn!(origin = %w.origin, "{}", w.message);
        }
        self.pending_warnings.append(&mut assembly_warnings);
        if self.started && state == self.state {
            return None;
        }
        let diff = StateDiff::between(&self.state, &state);
        self.state = state.clone();
        self.started = true;
        Some(SourceUpdate {
            state,
            diff,
            warnings: std::mem::take(&mut self.pending_warnings),
        })
    }
}

/// An [`EndpointSource`] fed by watcher events over a channel (what the
/// Kubernetes source's watch tasks send).
#[derive(Debug)]
pub struct ChannelSource {
    name: &'static str,
    events: mpsc::Receiver<(WatchedKind, WatchEvent<serde_json::Value>)>,
    objects: WatchedObjects,
    /// The Endpoint this gateway publishes, when it publishes one.
    own: Option<watch::Receiver<EndpointSpec>>,
    /// An update not yet returned (from [`ChannelSource::set_own_endpoint`]).
    pending: Option<Box<SourceUpdate>>,
}

impl ChannelSource {
    /// A source named `name` (for logs) reading `events`.
    pub fn new(
        name: &'static str,
        local_cluster_id: impl Into<String>,
        events: mpsc::Receiver<(WatchedKind, WatchEvent<serde_json::Value>)>,
    ) -> Self {
        ChannelSource {
            name,
            events,
            objects: WatchedObjects::new(local_cluster_id),
            own: None,
            pending: None,
        }
    }

    /// Follows the Endpoint this gateway publishes (its value now and each
    /// change): only the local cluster's Endpoint with its cable name is
    /// local, so after a node IP change the new one is, not the old.
    pub fn with_own_endpoint(mut self, own: watch::Receiver<EndpointSpec>) -> Self {
        self.set_own_endpoint(own);
        self
    }

    /// [`ChannelSource::with_own_endpoint`] in place.
    pub fn set_own_endpoint(&mut self, mut own: watch::Receiver<EndpointSpec>) {
        let cable_name = own.borrow_and_update().cable_name.clone();
        if let Some(update) = self.objects.set_own_cable_name(cable_name) {
            self.pending = Some(Box::new(update));
        }
        self.own = Some(own);
    }
}

impl EndpointSource for ChannelSource {
    fn name(&self) -> &'static str {
        self.name
    }

    /// Waits until the events change the desired state; fails when every
    /// sender is gone.
    async fn next_update(&mut self) -> Result<SourceUpdate, SourceError> {
        if let Some(update) = self.pending.take() {
            return Ok(*update);
        }
        loop {
            let own_changed = async {
                match self.own.as_mut() {
                    Some(own) => own.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = self.events.recv() => {
                    let Some((kind, event)) = event else {
                        return Err(SourceError::Closed(self.name));
                    };
                    if let Some(update) = self.objects.handle(kind, event) {
                        return Ok(update);
                    }
                }
                alive = own_changed => {
                    let Some(own) = self.own.as_mut() else { continue };
                    if !alive {
                        // The publisher is gone: its last value stays.
                        self.own = None;
                        continue;
                    }
                    let cable_name = own.borrow_and_update().cable_name.clone();
                    if let Some(update) = self.objects.set_own_cable_name(cable_name) {
                        return Ok(update);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
