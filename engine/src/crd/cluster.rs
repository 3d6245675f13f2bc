//! The `Cluster` resource.

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use super::nullable::null_as_default;

/// `Cluster.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSpec {
    /// `cluster_id`.
    #[serde(deserialize_with = "null_as_default")]
    pub cluster_id: String,
    /// `color_codes` (omitted when empty, as newer releases do).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub color_codes: Vec<String>,
    /// `service_cidr`.
    #[serde(deserialize_with = "null_as_default")]
    pub service_cidr: Vec<String>,
    /// `cluster_cidr`.
    #[serde(deserialize_with = "null_as_default")]
    pub cluster_cidr: Vec<String>,
    /// `global_cidr` (non-empty when globalnet is on).
    #[serde(deserialize_with = "null_as_default")]
    pub global_cidr: Vec<String>,
}

impl ClusterSpec {
    /// Whether globalnet is on for this cluster (it has a global CIDR).
    pub fn globalnet(&self) -> bool {
        !self.global_cidr.is_empty()
    }
}

/// A `Cluster` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// `submariner.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Cluster`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: ClusterSpec,
}
