//! Publishing the local Endpoint (and the local Cluster), as Submariner's
//! gateway does at start: `<cluster_id>-<cable_name>` (made a valid name)
//! in `SUBMARINER_NAMESPACE`, and again whenever the spec changes.
//!
//! Writes are server-side apply patches (`PATCH` with
//! `application/apply-patch+yaml`, field manager [`FIELD_MANAGER`], forced):
//! one request creates the object or updates it, whoever wrote it before.
//!
//! After each successful publish the publisher deletes the local cluster's
//! **stale** Endpoints ([`delete_stale_local_endpoints`]), as Submariner's
//! gateway does at start ("Ensuring we are the only endpoint active for
//! this cluster"): every Endpoint in the namespace whose `spec.cluster_id`
//! is this cluster's and whose name is not the one just published (an old
//! node IP's, a previous gateway node's). Other clusters' Endpoints, and
//! objects whose `spec.cluster_id` cannot be read, are never touched. A
//! failure (no `list`/`delete` permission) is logged and publishing goes
//! on; the source ignores stale Endpoints either way (issue 13, fault 5).

use std::time::Duration;

use ::kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use ::kube::Client;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{cluster_resource, endpoint_resource};
use crate::crd::names::{endpoint_object_name, ensure_valid_name};
use crate::crd::{ClusterSpec, EndpointSpec, API_VERSION, KIND_CLUSTER, KIND_ENDPOINT};

/// The field manager of everything the engine writes.
pub const FIELD_MANAGER: &str = "cable-engine";

/// First delay before retrying a failed publish (doubles up to
/// [`MAX_RETRY_DELAY`]).
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest delay between retries.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// The Endpoint object for `spec`, named `<cluster_id>-<cable_name>`.
pub fn endpoint_object(namespace: &str, spec: &EndpointSpec) -> serde_json::Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": KIND_ENDPOINT,
        "metadata": {
            "name": endpoint_object_name(&spec.cluster_id, &spec.cable_name),
            "namespace": namespace,
        },
        "spec": spec,
    })
}

/// The Cluster object for `spec`, named after the cluster id.
pub fn cluster_object(namespace: &str, spec: &ClusterSpec) -> serde_json::Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": KIND_CLUSTER,
        "metadata": {
            "name": ensure_valid_name(&spec.cluster_id),
            "namespace": namespace,
        },
        "spec": spec,
    })
}

async fn apply(
    api: Api<DynamicObject>,
    object: serde_json::Value,
) -> Result<String, ::kube::Error> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&object)).await?;
    Ok(name)
}

/// Creates or updates the local Endpoint; returns its name.
pub async fn publish_local_endpoint(
    client: Client,
    namespace: &str,
    spec: &EndpointSpec,
) -> Result<String, ::kube::Error> {
    let api = Api::<DynamicObject>::namespaced_with(client, namespace, &endpoint_resource());
    apply(api, endpoint_object(namespace, spec)).await
}

/// Creates or updates the local Cluster; returns its name.
pub async fn publish_local_cluster(
    client: Client,
    namespace: &str,
    spec: &ClusterSpec,
) -> Result<String, ::kube::Error> {
    let api = Api::<DynamicObject>::namespaced_with(client, namespace, &cluster_resource());
    apply(api, cluster_object(namespace, spec)).await
}

/// What the publisher keeps published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalObjects {
    /// The local Endpoint.
    pub endpoint: EndpointSpec,
    /// The local Cluster, when the engine publishes it too.
    pub cluster: Option<ClusterSpec>,
}

/// Publishes `local` now and again each time it changes, retrying failures
/// with backoff. Once the sender is dropped, the last value is published
/// (retried until it succeeds) and the task ends.
pub fn spawn_local_publisher(
    client: Client,
    namespace: String,
    mut local: watch::Receiver<LocalObjects>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut closed = false;
        loop {
            let objects = local.borrow_and_update().clone();
            let mut delay = FIRST_RETRY_DELAY;
            let published = loop {
                match publish_local_objects(client.clone(), &namespace, &objects).await {
                    Ok(name) => {
                        tracing::info!(namespace = %namespace, "published the local Endpoint {name}");
                        if let Err(e) = delete_stale_local_endpoints(
                            client.clone(),
                            &namespace,
                            &objects.endpoint,
                        )
                        .await
                        {
                            tracing::warn!(
                                namespace = %namespace,
                                "cannot delete the local cluster's stale Endpoints: {e}"
                            );
                        }
                        break true;
                    }
                    Err(e) => {
                        tracing::warn!(
                            namespace = %namespace,
                            "cannot publish the local Endpoint: {e}; retrying in {delay:?}"
                        );
                        if closed {
                            tokio::time::sleep(delay).await;
                        } else {
                            tokio::select! {
                                _ = tokio::time::sleep(delay) => {}
                                changed = local.changed() => match changed {
                                    Ok(()) => break false,
                                    Err(_) => closed = true,
                                },
                            }
                        }
                        delay = (delay * 2).min(MAX_RETRY_DELAY);
                    }
                }
            };
            if !published {
                continue; // a newer value arrived while retrying
            }
            if closed || local.changed().await.is_err() {
                return;
            }
        }
    })
}

/// Publishes the local Cluster (when given), then the local Endpoint;
/// returns the Endpoint's name.
pub async fn publish_local_objects(
    client: Client,
    namespace: &str,
    objects: &LocalObjects,
) -> Result<String, ::kube::Error> {
    if let Some(cluster) = &objects.cluster {
        publish_local_cluster(client.clone(), namespace, cluster).await?;
    }
    publish_local_endpoint(client, namespace, &objects.endpoint).await
}

/// Deletes the Endpoints of `namespace` that belong to `own`'s cluster but
/// are not `own`'s object (see the module docs); returns the names deleted.
/// A missing object is not an error.
pub async fn delete_stale_local_endpoints(
    client: Client,
    namespace: &str,
    own: &EndpointSpec,
) -> Result<Vec<String>, ::kube::Error> {
    let own_name = endpoint_object_name(&own.cluster_id, &own.cable_name);
    let api = Api::<DynamicObject>::namespaced_with(client, namespace, &endpoint_resource());
    let mut deleted = Vec::new();
    for ep in api.list(&ListParams::default()).await?.items {
        let Some(name) = ep.metadata.name.clone() else {
            continue;
        };
        let cluster_id = ep
            .data
            .get("spec")
            .and_then(|s| s.get("cluster_id"))
            .and_then(|c| c.as_str());
        if own.cluster_id.is_empty()
            || cluster_id != Some(own.cluster_id.as_str())
            || name == own_name
        {
            continue;
        }
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(::kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => return Err(e),
        }
        let cable = ep
            .data
            .get("spec")
            .and_then(|s| s.get("cable_name"))
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        tracing::warn!(
            "deleted the stale local Endpoint {namespace}/{name} (cable {cable:?}): this gateway's is {own_name}"
        );
        deleted.push(name);
    }
    Ok(deleted)
}
