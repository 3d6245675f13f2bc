//! The Kubernetes source: Endpoint and Cluster custom resources
//! (`submariner.io/v1`) in `SUBMARINER_NAMESPACE`, watched with kube-runtime.
//!
//! One [`watcher`] per kind runs in its own task and forwards its events to a
//! [`ChannelSource`], whose [`WatchedObjects`](super::watch::WatchedObjects)
//! turns them into the desired state. So everything the watch core does holds
//! here too:
//!
//! - objects are watched as [`DynamicObject`]s, so one malformed custom
//!   resource (a wrong field type, a bad IP) cannot fail a whole list: it is
//!   reported (a warning naming `namespace/name` and why) and skipped;
//! - a watch restart that relists (after `410 Gone`, or after the list
//!   failed) replaces the kind's objects with the new list (`Init` ...
//!   `InitDone`), so objects deleted while the watch was down disappear;
//! - a watch that merely ends is resumed from the last resource version,
//!   without a relist;
//! - errors (API server unreachable, forbidden, ...) are logged and retried
//!   with kube-runtime's default backoff (0.8 s doubling to 30 s, with
//!   jitter, reset after 2 minutes without errors); they are never fatal.
//!
//! The local Endpoint is this gateway's own ([`KubeSource::with_own_endpoint`]:
//! the one with the cable name it publishes); among several Endpoints of a
//! remote cluster the newest is used (see [`super::objects`]).
//!
//! [`publish`] writes the local Endpoint (and Cluster) the gateway announces
//! and deletes the local cluster's stale Endpoints;
//! [`local_env`] builds the local Endpoint's inputs from the gateway pod's
//! environment; [`services`] starts all of it for `run`; the Gateway status
//! writer is in [`crate::status::gateway`].

pub mod local_env;
pub mod publish;
pub mod services;

use std::future::Future;

use ::kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use ::kube::runtime::watcher::{self, watcher};
use ::kube::runtime::WatchStreamExt;
use ::kube::Client;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::dir::DirSource;
use super::watch::{ChannelSource, WatchEvent, WatchedKind};
use super::{EndpointSource, SourceError, SourceUpdate};
use crate::crd::{EndpointSpec, KIND_CLUSTER, KIND_ENDPOINT, KIND_GATEWAY};

/// The API group of Submariner's resources.
pub const GROUP: &str = "submariner.io";
/// Their version.
pub const VERSION: &str = "v1";

/// The `ApiResource` of a Submariner kind (`Endpoint`, `Cluster`,
/// `Gateway`) with its plural.
pub fn api_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
}

/// `endpoints.submariner.io`.
pub fn endpoint_resource() -> ApiResource {
    api_resource(KIND_ENDPOINT, "endpoints")
}

/// `clusters.submariner.io`.
pub fn cluster_resource() -> ApiResource {
    api_resource(KIND_CLUSTER, "clusters")
}

/// `gateways.submariner.io`.
pub fn gateway_resource() -> ApiResource {
    api_resource(KIND_GATEWAY, "gateways")
}

/// A client from the environment: the in-cluster service account when run
/// in a pod, else `KUBECONFIG` (or `~/.kube/config`).
pub async fn client_from_environment() -> Result<Client, ::kube::Error> {
    Client::try_default().await
}

type Events = mpsc::Sender<(WatchedKind, WatchEvent<serde_json::Value>)>;

/// The Kubernetes [`EndpointSource`]: watches Endpoints and Clusters in one
/// namespace. Dropping it stops its watch tasks.
#[derive(Debug)]
pub struct KubeSource {
    inner: ChannelSource,
    tasks: Vec<JoinHandle<()>>,
}

impl KubeSource {
    /// Starts watching Endpoints and Clusters in `namespace`, choosing the
    /// local Endpoint by `local_cluster_id`. Must be called within a tokio
    /// runtime.
    pub fn new(client: Client, namespace: &str, local_cluster_id: &str) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let tasks = [
            (WatchedKind::Endpoint, endpoint_resource()),
            (WatchedKind::Cluster, cluster_resource()),
        ]
        .into_iter()
        .map(|(kind, resource)| {
            let api = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource);
            tokio::spawn(forward(api, kind, namespace.to_string(), tx.clone()))
        })
        .collect();
        KubeSource {
            inner: ChannelSource::new("kubernetes", local_cluster_id, rx),
            tasks,
        }
    }

    /// Follows the local Endpoint this gateway publishes: only the local
    /// cluster's Endpoint with its cable name is local, the others are
    /// stale (and deleted by the publisher, see [`publish`]). Without it
    /// the newest Endpoint of the local cluster is local.
    pub fn with_own_endpoint(mut self, own: watch::Receiver<EndpointSpec>) -> Self {
        self.inner.set_own_endpoint(own);
        self
    }
}

impl Drop for KubeSource {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl EndpointSource for KubeSource {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    /// The first update comes once both kinds have been listed.
    fn next_update(&mut self) -> impl Future<Output = Result<SourceUpdate, SourceError>> + Send {
        self.inner.next_update()
    }
}

/// An object as JSON (`None`, logged, in the impossible case it cannot be).
fn to_json(kind: WatchedKind, object: DynamicObject) -> Option<serde_json::Value> {
    let name = object.metadata.name.clone().unwrap_or_default();
    match serde_json::to_value(object) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("{kind:?} {name:?}: cannot be read as JSON ({e}); skipped");
            None
        }
    }
}

/// kube-runtime's event as the watch core's.
fn convert(
    kind: WatchedKind,
    event: watcher::Event<DynamicObject>,
) -> Option<WatchEvent<serde_json::Value>> {
    Some(match event {
        watcher::Event::Init => WatchEvent::Init,
        watcher::Event::InitDone => WatchEvent::InitDone,
        watcher::Event::InitApply(o) => WatchEvent::InitApply(to_json(kind, o)?),
        watcher::Event::Apply(o) => WatchEvent::Apply(to_json(kind, o)?),
        watcher::Event::Delete(o) => WatchEvent::Delete(to_json(kind, o)?),
    })
}

/// One kind's watch task: forwards events until the source is dropped;
/// errors are logged and retried with backoff.
async fn forward(api: Api<DynamicObject>, kind: WatchedKind, namespace: String, tx: Events) {
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut failing = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => {
                if failing {
                    tracing::info!(namespace = %namespace, "{kind:?} watch recovered");
                    failing = false;
                }
                if let Some(event) = convert(kind, event) {
                    if tx.send((kind, event)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                failing = true;
                tracing::warn!(namespace = %namespace, "{kind:?} watch: {e}; retrying");
            }
        }
    }
}

/// The source `run` uses: the directory given with `--endpoints-dir`, or
/// Kubernetes.
#[derive(Debug)]
pub enum SelectedSource {
    /// `--endpoints-dir`.
    Directory(DirSource),
    /// Endpoint and Cluster custom resources.
    Kubernetes(KubeSource),
}

impl EndpointSource for SelectedSource {
    fn name(&self) -> &'static str {
        match self {
            SelectedSource::Directory(s) => s.name(),
            SelectedSource::Kubernetes(s) => s.name(),
        }
    }

    async fn next_update(&mut self) -> Result<SourceUpdate, SourceError> {
        match self {
            SelectedSource::Directory(s) => s.next_update().await,
            SelectedSource::Kubernetes(s) => s.next_update().await,
        }
    }
}
