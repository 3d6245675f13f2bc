//! The `Gateway` resource and the `Connection` status the engine reports.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::endpoint::EndpointSpec;
use super::meta::ObjectMeta;
use super::nullable::null_as_default;

/// `Connection.status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectionStatus {
    /// `connected`.
    #[serde(rename = "connected")]
    Connected,
    /// `connecting`.
    #[serde(rename = "connecting")]
    Connecting,
    /// `error`.
    #[serde(rename = "error")]
    Error,
    /// `none` (also what any unknown or empty value reads as).
    #[default]
    #[serde(rename = "none", other)]
    None,
}

impl ConnectionStatus {
    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Error => "error",
            ConnectionStatus::None => "none",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Connection.latencyRTT`: Go duration strings such as `"388.079µs"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyRtt {
    /// `last`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub last: String,
    /// `min`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub min: String,
    /// `average`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub average: String,
    /// `max`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub max: String,
    /// `stdDev`.
    #[serde(
        rename = "stdDev",
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub std_dev: String,
}

/// One entry of `Gateway.status.connections`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Connection {
    /// `status`.
    pub status: ConnectionStatus,
    /// `statusMessage` (always present, possibly empty).
    #[serde(rename = "statusMessage", deserialize_with = "null_as_default")]
    pub status_message: String,
    /// `endpoint`: the remote Endpoint's spec.
    pub endpoint: EndpointSpec,
    /// `usingIP`: the remote IP the cable uses.
    #[serde(
        rename = "usingIP",
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub using_ip: String,
    /// `usingNAT`.
    #[serde(
        rename = "usingNAT",
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub using_nat: bool,
    /// `latencyRTT`, when health checks have results.
    #[serde(rename = "latencyRTT", skip_serializing_if = "Option::is_none")]
    pub latency_rtt: Option<LatencyRtt>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `Gateway.status.haStatus`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HaStatus {
    /// `active`.
    #[default]
    #[serde(rename = "active")]
    Active,
    /// `passive`.
    #[serde(rename = "passive")]
    Passive,
}

/// `Gateway.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayStatus {
    /// `version` of the engine.
    #[serde(deserialize_with = "null_as_default")]
    pub version: String,
    /// `haStatus`.
    #[serde(rename = "haStatus")]
    pub ha_status: HaStatus,
    /// `localEndpoint`.
    #[serde(rename = "localEndpoint")]
    pub local_endpoint: EndpointSpec,
    /// `statusFailure`.
    #[serde(rename = "statusFailure", deserialize_with = "null_as_default")]
    pub status_failure: String,
    /// `connections` (serialised as `[]` when empty, as Submariner does).
    #[serde(deserialize_with = "null_as_default")]
    pub connections: Vec<Connection>,
}

/// A `Gateway` object (named after the gateway's hostname).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gateway {
    /// `submariner.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Gateway`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Status.
    #[serde(default)]
    pub status: GatewayStatus,
}
