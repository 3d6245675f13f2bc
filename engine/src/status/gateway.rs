//! The `Gateway` object the engine writes every [`GATEWAY_UPDATE_INTERVAL`]
//! (the Kubernetes source's status writer uses it), as Submariner's gateway
//! syncer builds it: named after the local hostname (made a valid name),
//! annotated with the Unix time of the update (readers treat a Gateway not
//! updated for [`GATEWAY_STALE_TIMEOUT`] as stale), status holding the
//! version, HA status, the local Endpoint spec, a failure message when the
//! connections could not be read, and the connections (`[]`, never `null`).

use std::collections::BTreeMap;
use std::time::Duration;

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
