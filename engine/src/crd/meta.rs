//! The subset of Kubernetes `ObjectMeta` the engine uses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::nullable::{lenient_string, null_as_default};

/// Kubernetes object metadata (the fields the engine reads or writes; the
/// rest of what `kubectl get -o yaml` prints is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Object name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Namespace.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace: String,
    /// Labels.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Resource version (opaque).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub resource_version: String,
    /// Creation time, RFC 3339 as the API server writes it
    /// (`2024-05-02T09:12:44Z`); "" when absent. Read leniently: a value
    /// that is not a string (a hand-written file) reads as "", so the
    /// Endpoint is still used, only without a known age.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub creation_timestamp: String,
    /// UID.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub uid: String,
}
