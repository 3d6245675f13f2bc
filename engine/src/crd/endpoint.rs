//! The `Endpoint` resource: one gateway of one cluster.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use super::nullable::null_as_default;
use crate::gobool::parse_go_bool;

/// `backend_config` key: the peer's IKE / NAT-T UDP port (default 4500).
pub const UDP_PORT_CONFIG: &str = "udp-port";
/// `backend_config` key: NAT discovery port (default 4490).
pub const NATT_DISCOVERY_PORT_CONFIG: &str = "natt-discovery-port";
/// `backend_config` key: `"true"` when the gateway prefers to be the IKE server.
pub const PREFERRED_SERVER_CONFIG: &str = "preferred-server";
/// `backend_config` key: bumped when a preferred server restarts.
pub const PREFERRED_SERVER_TIMESTAMP_CONFIG: &str = "preferred-server-timestamp";
/// `backend_config` key: how the public IP is resolved.
pub const PUBLIC_IP_CONFIG: &str = "public-ip";
/// `backend_config` key: `"true"` when the gateway sits behind a load balancer.
pub const USING_LOAD_BALANCER_CONFIG: &str = "using-loadbalancer";

/// `Endpoint.spec`, with Submariner's exact JSON names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointSpec {
    /// `cluster_id`.
    #[serde(deserialize_with = "null_as_default")]
    pub cluster_id: String,
    /// `cable_name`: `submariner-cable-<cluster>-<private IPv4 with dashes>`.
    #[serde(deserialize_with = "null_as_default")]
    pub cable_name: String,
    /// `healthCheckIP`: the gateway's address on the CNI interface.
    #[serde(
        rename = "healthCheckIP",
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub health_check_ip: String,
    /// `healthCheckIPs` (newer releases; one per IP family).
    #[serde(
        rename = "healthCheckIPs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub health_check_ips: Vec<String>,
    /// `hostname` of the gateway node.
    #[serde(deserialize_with = "null_as_default")]
    pub hostname: String,
    /// `subnets` (CIDRs) this gateway's cluster exposes.
    #[serde(deserialize_with = "null_as_default")]
    pub subnets: Vec<String>,
    /// `private_ip`.
    #[serde(deserialize_with = "null_as_default")]
    pub private_ip: String,
    /// `privateIPs` (newer releases; one per IP family).
    #[serde(
        rename = "privateIPs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub private_ips: Vec<String>,
    /// `public_ip`.
    #[serde(deserialize_with = "null_as_default")]
    pub public_ip: String,
    /// `publicIPs` (newer releases; one per IP family).
    #[serde(
        rename = "publicIPs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub public_ips: Vec<String>,
    /// `nat_enabled`.
    #[serde(deserialize_with = "null_as_default")]
    pub nat_enabled: bool,
    /// `backend`: the cable driver (`libreswan`).
    #[serde(deserialize_with = "null_as_default")]
    pub backend: String,
    /// `backend_config`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub backend_config: BTreeMap<String, String>,
}

/// A `backend_config` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid backend_config {key:?} {value:?}: {expected}")]
pub struct BackendConfigError {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}

fn first_ip(single: &str, many: &[String], want_v4: Option<bool>) -> Option<IpAddr> {
    std::iter::once(single)
        .chain(many.iter().map(String::as_str))
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .find(|ip| want_v4.is_none_or(|v4| ip.is_ipv4() == v4))
}

impl EndpointSpec {
    /// A `backend_config` port, `default` when the key is absent.
    pub fn backend_port(&self, key: &str, default: u16) -> Result<u16, BackendConfigError> {
        match self.backend_config.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<u16>() {
                Ok(p) if p != 0 => Ok(p),
                _ => Err(BackendConfigError {
                    key: key.to_string(),
                    value: v.clone(),
                    expected: "expected a port number from 1 to 65535",
                }),
            },
        }
    }

    /// A `backend_config` boolean (Go `strconv.ParseBool`), `None` when absent.
    pub fn backend_bool(&self, key: &str) -> Result<Option<bool>, BackendConfigError> {
        match self.backend_config.get(key) {
            None => Ok(None),
            Some(v) => parse_go_bool(v)
                .map(Some)
                .ok_or_else(|| BackendConfigError {
                    key: key.to_string(),
                    value: v.clone(),
                    expected: "expected a boolean",
                }),
        }
    }

    /// The private IP: `private_ip`, else the first of `privateIPs`.
    pub fn private_addr(&self) -> Option<IpAddr> {
        first_ip(&self.private_ip, &self.private_ips, None)
    }

    /// The public IP: `public_ip`, else the first of `publicIPs`.
    pub fn public_addr(&self) -> Option<IpAddr> {
        first_ip(&self.public_ip, &self.public_ips, None)
    }

    /// The private IP of one family (`v4` or IPv6): `private_ip` if it is
    /// of that family, else the first of `privateIPs` that is (Submariner's
    /// `GetPrivateIP(family)`).
    pub fn private_addr_of(&self, v4: bool) -> Option<IpAddr> {
        first_ip(&self.private_ip, &self.private_ips, Some(v4))
    }

    /// The public IP of one family, as [`Self::private_addr_of`].
    pub fn public_addr_of(&self, v4: bool) -> Option<IpAddr> {
        first_ip(&self.public_ip, &self.public_ips, Some(v4))
    }

    /// Every private IP the Endpoint names (`private_ip` and `privateIPs`).
    pub fn private_ip_strings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.private_ip.as_str())
            .chain(self.private_ips.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
    }

    /// The health-check IP of the given family (`healthCheckIP`, else
    /// `healthCheckIPs`).
    pub fn health_check_addr(&self, v4: bool) -> Option<IpAddr> {
        first_ip(&self.health_check_ip, &self.health_check_ips, Some(v4))
    }

    /// Checks what the engine needs of an Endpoint: ids, a parseable private
    /// IP, parseable optional IPs and CIDR subnets. The message names the
    /// field.
    pub fn validate(&self) -> Result<(), String> {
        if self.cluster_id.is_empty() {
            return Err("spec.cluster_id is empty".into());
        }
        if self.cable_name.is_empty() {
            return Err("spec.cable_name is empty".into());
        }
        if self.private_ip.is_empty() && self.private_ips.is_empty() {
            return Err("spec.private_ip is empty".into());
        }
        let ip_fields: [(&str, &[String]); 3] = [
            ("privateIPs", &self.private_ips),
            ("publicIPs", &self.public_ips),
            ("healthCheckIPs", &self.health_check_ips),
        ];
        for (name, value) in [
            ("private_ip", &self.private_ip),
            ("public_ip", &self.public_ip),
            ("healthCheckIP", &self.health_check_ip),
        ] {
            if !value.is_empty() && value.parse::<IpAddr>().is_err() {
                return Err(format!("spec.{name} {value:?} is not an IP address"));
            }
        }
        for (name, values) in ip_fields {
            for v in values {
                if v.parse::<IpAddr>().is_err() {
                    return Err(format!("spec.{name} entry {v:?} is not an IP address"));
                }
            }
        }
        for s in &self.subnets {
            if s.parse::<IpNetwork>().is_err() {
                return Err(format!("spec.subnets entry {s:?} is not a CIDR"));
            }
        }
        Ok(())
    }
}

/// An `Endpoint` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// `submariner.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Endpoint`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: EndpointSpec,
}
