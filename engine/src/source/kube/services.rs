//! What `run` starts in Kubernetes mode besides the source: the local
//! Endpoint (and Cluster) publisher, its refresh when the host or the
//! node's `gateway.submariner.io/` settings change (a CNI address appearing
//! gives the Endpoint its healthCheckIP), and the Gateway status writer.
//! Reading the Node (`NODE_NAME`) needs `get` on nodes; without it the
//! node has no settings (logged).

use std::collections::BTreeMap;
use std::time::Duration;

use ::kube::api::Api;
use ::kube::Client;
use k8s_openapi::api::core::v1::Node;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::local_env::{
    local_cluster_spec, local_inputs, node_backend_config, HostFacts, LocalSettings,
};
use super::publish::{publish_local_objects, spawn_local_publisher, LocalObjects};
use super::{client_from_environment, KubeSource};
use crate::config::Config;
use crate::crd::{Connection, EndpointSpec};
use crate::source::local::local_endpoint_spec;
use crate::status::gateway::{delete_gateway, gateway_name, spawn_gateway_writer};

/// How often the host is looked at again for a changed local Endpoint.
pub const LOCAL_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// How long start waits for the first publish before watching anyway.
const FIRST_PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The Kubernetes-side tasks of a running engine.
pub struct KubeServices {
    client: Client,
    namespace: String,
    local_endpoint: watch::Receiver<EndpointSpec>,
    tasks: Vec<JoinHandle<()>>,
    gateway: Option<String>,
}

/// The node's backend settings from its Node object (`NODE_NAME`); none
/// when unknown or unreadable (logged).
async fn node_config(client: &Client, env: fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    let Some(node) = env("NODE_NAME").filter(|n| !n.is_empty()) else {
        return BTreeMap::new();
    };
    let api = Api::<Node>::all(client.clone());
    match api.get(&node).await {
        Ok(n) => {
            let mut warnings = Vec::new();
            let config = node_backend_config(
                &n.metadata.labels.unwrap_or_default(),
                &n.metadata.annotations.unwrap_or_default(),
                &mut warnings,
            );
            for w in warnings {
                tracing::warn!(node = %node, "{w}");
            }
            config
        }
        Err(e) => {
            tracing::warn!(node = %node, "cannot read the node's gateway settings: {e}; using none");
            BTreeMap::new()
        }
    }
}

async fn build_local(
    client: &Client,
    settings: &LocalSettings,
    env: fn(&str) -> Option<String>,
    now_unix: u64,
) -> Result<LocalObjects, String> {
    let host = HostFacts {
        node_backend_config: node_config(client, env).await,
        ..HostFacts::gather()
    };
    let inputs = local_inputs(settings, &env, &host, now_unix)?;
    let endpoint = local_endpoint_spec(&inputs).map_err(|e| e.to_string())?;
    Ok(LocalObjects {
        endpoint,
        cluster: Some(local_cluster_spec(&settings.cluster_id, &env)),
    })
}

/// Connects to the API server, publishes the local Endpoint and Cluster and
/// starts watching. `Err` is one line for the log.
pub async fn start_kubernetes(
    config: &Config,
    env: fn(&str) -> Option<String>,
) -> Result<(KubeSource, KubeServices), String> {
    tracing::info!(
        namespace = %config.namespace,
        "endpoint source: Kubernetes (no --endpoints-dir)"
    );
    let client = client_from_environment()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API (in-cluster or KUBECONFIG): {e}"))?;
    let settings = LocalSettings::from(config);
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let local = build_local(&client, &settings, env, now_unix)
        .await
        .map_err(|e| format!("cannot build the local Endpoint: {e}"))?;
    tracing::info!(
        cable = %local.endpoint.cable_name,
        private_ip = %local.endpoint.private_ip,
        public_ip = %local.endpoint.public_ip,
        health_check_ip = %local.endpoint.health_check_ip,
        subnets = ?local.endpoint.subnets,
        "local Endpoint"
    );
    let namespace = config.namespace.clone();
    // Publish once before watching, so the first list usually has it.
    match tokio::time::timeout(
        FIRST_PUBLISH_TIMEOUT,
        publish_local_objects(client.clone(), &namespace, &local),
    )
    .await
    {
        Ok(Ok(name)) => {
            tracing::info!(namespace = %namespace, "published the local Endpoint {name}")
        }
        Ok(Err(e)) => tracing::warn!("cannot publish the local Endpoint yet: {e}; retrying"),
        Err(_) => tracing::warn!("publishing the local Endpoint takes long; retrying"),
    }
    let (objects_tx, objects_rx) = watch::channel(local.clone());
    let (endpoint_tx, endpoint_rx) = watch::channel(local.endpoint.clone());
    let publisher = spawn_local_publisher(client.clone(), namespace.clone(), objects_rx);
    let refresh_client = client.clone();
    let refresher = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(LOCAL_REFRESH_INTERVAL);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match build_local(&refresh_client, &settings, env, now_unix).await {
                Ok(new) => {
                    if *objects_tx.borrow() != new {
                        tracing::info!("the local Endpoint changed; publishing it again");
                        let _ = endpoint_tx.send(new.endpoint.clone());
                        let _ = objects_tx.send(new);
                    }
                }
                Err(e) => tracing::warn!("cannot rebuild the local Endpoint: {e}"),
            }
        }
    });
    // Only the Endpoint this gateway publishes is local (it follows a
    // node IP change); the publisher deletes the local cluster's others.
    let source = KubeSource::new(client.clone(), &namespace, &config.cluster_id)
        .with_own_endpoint(endpoint_rx.clone());
    Ok((
        source,
        KubeServices {
            client,
            namespace,
            local_endpoint: endpoint_rx,
            tasks: vec![publisher, refresher],
            gateway: None,
        },
    ))
}

impl KubeServices {
    /// Starts writing the Gateway status from the manager's connections.
    pub fn start_gateway_writer(&mut self, connections: watch::Receiver<Vec<Connection>>) {
        let name = gateway_name(&self.local_endpoint.borrow());
        tracing::info!(namespace = %self.namespace, "writing Gateway {name} every 5 s");
        self.tasks.push(spawn_gateway_writer(
            self.client.clone(),
            self.namespace.clone(),
            name.clone(),
            connections,
            self.local_endpoint.clone(),
        ));
        self.gateway = Some(name);
    }

    /// Stops the tasks and deletes the Gateway (as Submariner's gateway does
    /// when it stops); the local Endpoint stays for the next start.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(name) = &self.gateway {
            let deleted = tokio::time::timeout(
                Duration::from_secs(5),
                delete_gateway(self.client.clone(), &self.namespace, name),
            )
            .await;
            match deleted {
                Ok(Ok(())) => tracing::info!("deleted Gateway {}/{name}", self.namespace),
                Ok(Err(e)) => {
                    tracing::warn!("cannot delete Gateway {}/{name}: {e}", self.namespace)
                }
                Err(_) => tracing::warn!("deleting Gateway {}/{name} timed out", self.namespace),
            }
        }
    }
}
