//! The `Gateway` object the engine writes every [`GATEWAY_UPDATE_INTERVAL`]
//! (the Kubernetes source's status writer uses it), as Submariner's gateway
//! syncer builds it: named after the local hostname (made a valid name),
//! annotated with the Unix time of the update (readers treat a Gateway not
//! updated for [`GATEWAY_STALE_TIMEOUT`] as stale), status holding the
//! version, HA status, the local Endpoint spec, a failure message when the
//! connections could not be read, and the connections (`[]`, never `null`).
//!
//! [`spawn_gateway_writer`] is the task that writes it, every
//! [`GATEWAY_UPDATE_INTERVAL`], with the manager's connections. Submariner's
//! Gateway CRD has **no status subresource** (its Go type is
//! `+genclient:noStatus` and the CRD says `subresources: {}`; Submariner's
//! syncer creates or updates the whole object): a write to `.../status`
//! would be answered 404, so the status is written on the object itself,
//! with a server-side apply patch (`PATCH
//! /apis/submariner.io/v1/namespaces/<ns>/gateways/<name>`, field manager
//! `cable-engine`, forced) that creates the object when it is missing and
//! removes fields the engine no longer reports.

use std::collections::BTreeMap;
use std::time::Duration;

use ::kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use ::kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::crd::names::ensure_valid_name;
use crate::crd::{
    Connection, EndpointSpec, Gateway, GatewayStatus, HaStatus, ObjectMeta, API_VERSION,
    KIND_GATEWAY,
};

/// How often the Gateway status is written.
pub const GATEWAY_UPDATE_INTERVAL: Duration = Duration::from_secs(5);
/// After how long without an update a Gateway is stale.
pub const GATEWAY_STALE_TIMEOUT: Duration = Duration::from_secs(15);
/// The annotation holding the update's Unix time.
pub const UPDATE_TIMESTAMP_ANNOTATION: &str = "update-timestamp";

/// Builds the Gateway object for `local` at Unix time `now_unix`.
pub fn gateway_object(
    local: &EndpointSpec,
    version: &str,
    ha_status: HaStatus,
    status_failure: Option<String>,
    connections: Vec<Connection>,
    now_unix: u64,
) -> Gateway {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        UPDATE_TIMESTAMP_ANNOTATION.to_string(),
        now_unix.to_string(),
    );
    Gateway {
        api_version: API_VERSION.to_string(),
        kind: KIND_GATEWAY.to_string(),
        metadata: ObjectMeta {
            name: ensure_valid_name(&local.hostname),
            annotations,
            ..ObjectMeta::default()
        },
        status: GatewayStatus {
            version: version.to_string(),
            ha_status,
            local_endpoint: local.clone(),
            // Submariner reports either a failure or the connections.
            connections: if status_failure.is_some() {
                Vec::new()
            } else {
                connections
            },
            status_failure: status_failure.unwrap_or_default(),
        },
    }
}

/// The version the engine reports in `status.version`.
pub fn engine_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// The Gateway's name for a local Endpoint: its hostname, made a valid name
/// (as Submariner names it).
pub fn gateway_name(local: &EndpointSpec) -> String {
    ensure_valid_name(&local.hostname)
}

/// `statusFailure` once the connection manager's channel is closed.
pub const NO_MANAGER_FAILURE: &str =
    "Error retrieving driver connections: the connection manager is not running";

/// The apply patch body: the whole Gateway, named `name` in `namespace`.
pub fn gateway_apply_body(gateway: &Gateway, namespace: &str, name: &str) -> serde_json::Value {
    let mut gw = gateway.clone();
    gw.metadata.name = name.to_string();
    gw.metadata.namespace = namespace.to_string();
    serde_json::to_value(&gw).unwrap_or_default()
}

/// Writes `gateway` as the object `namespace/name` (created when missing).
pub async fn write_gateway(
    client: Client,
    namespace: &str,
    name: &str,
    gateway: &Gateway,
) -> Result<(), ::kube::Error> {
    let api = Api::<DynamicObject>::namespaced_with(
        client,
        namespace,
        &crate::source::kube::gateway_resource(),
    );
    let body = gateway_apply_body(gateway, namespace, name);
    let params = PatchParams::apply(crate::source::kube::publish::FIELD_MANAGER).force();
    api.patch(name, &params, &Patch::Apply(&body)).await?;
    Ok(())
}

/// Deletes the Gateway `namespace/name` (as Submariner's gateway does when
/// it stops); a missing object is not an error.
pub async fn delete_gateway(
    client: Client,
    namespace: &str,
    name: &str,
) -> Result<(), ::kube::Error> {
    let api = Api::<DynamicObject>::namespaced_with(
        client,
        namespace,
        &crate::source::kube::gateway_resource(),
    );
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(::kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a Gateway object is stale at Unix time `now_unix`: its
/// `update-timestamp` is missing, unreadable, or older than
/// [`GATEWAY_STALE_TIMEOUT`] (Submariner's rule).
pub fn is_stale(gateway: &DynamicObject, now_unix: u64) -> bool {
    gateway
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(UPDATE_TIMESTAMP_ANNOTATION))
        .and_then(|t| t.parse::<u64>().ok())
        .is_none_or(|t| now_unix >= t.saturating_add(GATEWAY_STALE_TIMEOUT.as_secs()))
}

/// Deletes the stale Gateways of `namespace` other than `own` (what
/// Submariner's active gateway does, so gateways that moved or died do not
/// linger); returns the names deleted.
pub async fn delete_stale_gateways(
    client: Client,
    namespace: &str,
    own: &str,
    now_unix: u64,
) -> Result<Vec<String>, ::kube::Error> {
    let api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        namespace,
        &crate::source::kube::gateway_resource(),
    );
    let mut deleted = Vec::new();
    for gw in api.list(&ListParams::default()).await?.items {
        let Some(name) = gw.metadata.name.clone() else {
            continue;
        };
        if name != own && is_stale(&gw, now_unix) {
            delete_gateway(client.clone(), namespace, &name).await?;
            tracing::warn!("deleted stale Gateway {namespace}/{name}: not updated for {GATEWAY_STALE_TIMEOUT:?}");
            deleted.push(name);
        }
    }
    Ok(deleted)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Writes the Gateway `namespace/name` now and every
/// [`GATEWAY_UPDATE_INTERVAL`]: HA status active, the local Endpoint as
/// `local_endpoint` holds it, the connections as `connections` holds them
/// (or a `statusFailure` once that channel is closed). Failed writes are
/// logged and retried at the next tick. After a successful write, at most
/// every [`GATEWAY_STALE_TIMEOUT`], stale Gateways of other nodes are
/// deleted (this needs `list` and `delete` on gateways; without them it is
/// logged once and skipped). Abort the task to stop it.
pub fn spawn_gateway_writer(
    client: Client,
    namespace: String,
    name: String,
    connections: watch::Receiver<Vec<Connection>>,
    local_endpoint: watch::Receiver<EndpointSpec>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let version = engine_version();
        let mut ticks = tokio::time::interval(GATEWAY_UPDATE_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        let mut last_cleanup: Option<tokio::time::Instant> = None;
        let mut cleanup_failing = false;
        loop {
            ticks.tick().await;
            let failure = connections
                .has_changed()
                .is_err()
                .then(|| NO_MANAGER_FAILURE.to_string());
            let current = connections.borrow().clone();
            let local = local_endpoint.borrow().clone();
            let gw = gateway_object(
                &local,
                &version,
                HaStatus::Active,
                failure,
                current,
                unix_now(),
            );
            match write_gateway(client.clone(), &namespace, &name, &gw).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("Gateway {namespace}/{name} written again");
                        failing = false;
                    }
                    if last_cleanup.is_none_or(|t| t.elapsed() >= GATEWAY_STALE_TIMEOUT) {
                        last_cleanup = Some(tokio::time::Instant::now());
                        let cleaned =
                            delete_stale_gateways(client.clone(), &namespace, &name, unix_now())
                                .await;
                        match cleaned {
                            Ok(_) => cleanup_failing = false,
                            Err(e) if !cleanup_failing => {
                                cleanup_failing = true;
                                tracing::info!("cannot clean up stale Gateways: {e}");
                            }
                            Err(e) => tracing::debug!("cannot clean up stale Gateways: {e}"),
                        }
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!("cannot write Gateway {namespace}/{name}: {e}; retrying every {GATEWAY_UPDATE_INTERVAL:?}");
                    } else {
                        tracing::debug!("cannot write Gateway {namespace}/{name}: {e}");
                    }
                    failing = true;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ConnectionStatus;

    #[test]
    fn gateway_like_submariners_syncer() {
        let local = EndpointSpec {
            cluster_id: "cluster1".into(),
            hostname: "Cluster1_Worker".into(),
            ..Default::default()
        };
        let c = Connection {
            status: ConnectionStatus::Connected,
            ..Default::default()
        };
        let gw = gateway_object(
            &local,
            "v0.1.0",
            HaStatus::Active,
            None,
            vec![c],
            1714641300,
        );
        assert_eq!(gw.metadata.name, "cluster1-worker");
        assert_eq!(gw.metadata.annotations["update-timestamp"], "1714641300");
        let v = serde_json::to_value(&gw).unwrap();
        assert_eq!(v["apiVersion"], "submariner.io/v1");
        assert_eq!(v["kind"], "Gateway");
        assert_eq!(v["status"]["haStatus"], "active");
        assert_eq!(v["status"]["version"], "v0.1.0");
        assert_eq!(v["status"]["statusFailure"], "");
        assert_eq!(v["status"]["localEndpoint"]["cluster_id"], "cluster1");
        assert_eq!(v["status"]["connections"][0]["status"], "connected");

        let gw = gateway_object(
            &local,
            "v0.1.0",
            HaStatus::Active,
            Some("no driver".into()),
            vec![],
            1,
        );
        let v = serde_json::to_value(&gw).unwrap();
        assert_eq!(v["status"]["statusFailure"], "no driver");
        assert_eq!(v["status"]["connections"], serde_json::json!([]));
    }
}
