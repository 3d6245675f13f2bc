//! Submariner's custom resources (`submariner.io/v1`) as Rust types whose JSON
//! and YAML names are exactly those of Submariner's Go types, so objects read
//! from `kubectl get -o yaml` (or the API server) round-trip.
//!
//! - [`Endpoint`] / [`EndpointSpec`]: one gateway of one cluster.
//! - [`Cluster`] / [`ClusterSpec`]: a cluster's CIDRs.
//! - [`Gateway`] / [`GatewayStatus`] / [`Connection`]: what the engine reports.
//!
//! Go serialises a nil slice or map as `null` and treats a missing field as
//! its zero value; both are accepted here (see [`nullable`]). Unknown fields
//! are ignored, so newer Submariner releases still parse.

mod cluster;
mod endpoint;
mod gateway;
mod meta;
pub mod names;
pub mod nullable;

pub use cluster::{Cluster, ClusterSpec};
pub use endpoint::{
    BackendConfigError, Endpoint, EndpointSpec, NATT_DISCOVERY_PORT_CONFIG,
    PREFERRED_SERVER_CONFIG, PREFERRED_SERVER_TIMESTAMP_CONFIG, PUBLIC_IP_CONFIG, UDP_PORT_CONFIG,
    USING_LOAD_BALANCER_CONFIG,
};
pub use gateway::{Connection, ConnectionStatus, Gateway, GatewayStatus, HaStatus, LatencyRtt};
pub use meta::ObjectMeta;

/// `apiVersion` of every Submariner object.
pub const API_VERSION: &str = "submariner.io/v1";
/// `kind` of an [`Endpoint`].
pub const KIND_ENDPOINT: &str = "Endpoint";
/// `kind` of a [`Cluster`].
pub const KIND_CLUSTER: &str = "Cluster";
/// `kind` of a [`Gateway`].
pub const KIND_GATEWAY: &str = "Gateway";

#[cfg(test)]
mod tests;
