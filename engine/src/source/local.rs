//! The local Endpoint a gateway publishes, built as Submariner's gateway
//! builds its own (`GetLocalSpec`, `getBackendConfig` and the libreswan
//! driver's preferred-server handling). The Kubernetes source publishes it;
//! the directory source reads it from a file instead.
//!
//! - `cable_name`: `submariner-cable-<cluster>-<private IP with dashes>`.
//! - `subnets`: the global CIDRs with globalnet, else the IPv4 service CIDRs
//!   then the IPv4 cluster CIDRs.
//! - `backend_config`: the node's own settings (its `gateway.submariner.io/`
//!   labels and annotations, given), plus `udp-port`, always
//!   `CE_IPSEC_NATTPORT`, the port the engine's IKE socket is bound to (a
//!   node's own `udp-port` is ignored with a warning: one source of truth),
//!   `natt-discovery-port` (default 4490),
//!   `using-loadbalancer: "true"` when the public IP is resolved by a load
//!   balancer (`lb:...`), and `preferred-server` (the node's value, else
//!   `CE_IPSEC_PREFERREDSERVER`) with a fresh `preferred-server-timestamp`
//!   when true, so the clients of a restarted server reconnect.
//! - `healthCheckIP`: the CNI interface address, only when health checks
//!   are on and globalnet is off (with globalnet it is filled in later).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::cable::subnets::cluster_subnets;
use crate::crd::names::cable_name;
use crate::crd::{
    ClusterSpec, EndpointSpec, NATT_DISCOVERY_PORT_CONFIG, PREFERRED_SERVER_CONFIG,
    PREFERRED_SERVER_TIMESTAMP_CONFIG, UDP_PORT_CONFIG, USING_LOAD_BALANCER_CONFIG,
};
use crate::gobool::parse_go_bool;

/// Submariner's default NAT discovery port.
pub const DEFAULT_NATT_DISCOVERY_PORT: u16 = 4490;

/// What the local Endpoint is built from.
#[derive(Debug, Clone)]
pub struct LocalEndpointInputs {
    /// `SUBMARINER_CLUSTERID`.
    pub cluster_id: String,
    /// The node's hostname.
    pub hostname: String,
    /// The gateway's private IP (IPv4 unless the node has only IPv6).
    pub private_ip: IpAddr,
    /// Its IPv6 private IP in a dual-stack cluster.
    pub private_ip6: Option<IpAddr>,
    /// The resolved public IP ("" when unknown).
    pub public_ip: String,
    /// The resolved IPv6 public IP, with `private_ip6`.
    pub public_ip6: Option<IpAddr>,
    /// How the public IP was asked for (`SUBMARINER_PUBLICIP`, e.g.
    /// `lb:gateway-lb`, `ipv4:1.2.3.4`, `api:...`), "" when unset.
    pub public_ip_setting: String,
    /// `SUBMARINER_NATENABLED`.
    pub nat_enabled: bool,
    /// Service, cluster and global CIDRs (`SUBMARINER_SERVICECIDR`, ...).
    pub cidrs: ClusterSpec,
    /// `SUBMARINER_CABLEDRIVER` ("" means `libreswan`).
    pub cable_driver: String,
    /// The node's own backend settings (labels/annotations without prefix).
    pub node_backend_config: BTreeMap<String, String>,
    /// `CE_IPSEC_NATTPORT`.
    pub natt_port: u16,
    /// `CE_IPSEC_PREFERREDSERVER`.
    pub preferred_server: bool,
    /// The CNI interface address, when health checks are enabled.
    pub health_check_ip: Option<IpAddr>,
    /// Its IPv6 address, with `private_ip6`.
    pub health_check_ip6: Option<IpAddr>,
    /// Now, as Unix seconds (for `preferred-server-timestamp`).
    pub now_unix: u64,
}

/// A node setting that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node setting {key:?} {value:?}: expected a boolean")]
pub struct NodeConfigError {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// Builds the local Endpoint spec (see the module docs).
pub fn local_endpoint_spec(i: &LocalEndpointInputs) -> Result<EndpointSpec, NodeConfigError> {
    let mut backend_config = i.node_backend_config.clone();
    // The port the engine listens on is the one it advertises: a node's
    // own `udp-port` that differs cannot be honoured (the IKE socket is
    // bound to CE_IPSEC_NATTPORT) and would send every peer to a port
    // nobody answers on.
    let port = i.natt_port.to_string();
    if let Some(node) = backend_config.insert(UDP_PORT_CONFIG.to_string(), port.clone()) {
        if node != port {
            tracing::warn!(
                "node setting gateway.submariner.io/udp-port={node:?} ignored: the engine listens on CE_IPSEC_NATTPORT={port} and publishes that"
            );
        }
    }
    backend_config
        .entry(NATT_DISCOVERY_PORT_CONFIG.to_string())
        .or_insert_with(|| DEFAULT_NATT_DISCOVERY_PORT.to_string());
    if i.public_ip_setting.starts_with("lb:") {
        backend_config.insert(USING_LOAD_BALANCER_CONFIG.to_string(), "true".into());
    }
    let preferred = match backend_config.get(PREFERRED_SERVER_CONFIG) {
        Some(v) => parse_go_bool(v).ok_or_else(|| NodeConfigError {
            key: PREFERRED_SERVER_CONFIG.to_string(),
            value: v.clone(),
        })?,
        None => {
            backend_config.insert(
                PREFERRED_SERVER_CONFIG.to_string(),
                i.preferred_server.to_string(),
            );
            i.preferred_server
        }
    };
    if preferred {
        backend_config.insert(
            PREFERRED_SERVER_TIMESTAMP_CONFIG.to_string(),
            i.now_unix.to_string(),
        );
    }
    let private_ip = i.private_ip.to_string();
    let globalnet = i.cidrs.globalnet();
    Ok(EndpointSpec {
        cluster_id: i.cluster_id.clone(),
        cable_name: cable_name(&i.cluster_id, &private_ip),
        health_check_ip: match (globalnet, i.health_check_ip) {
            (false, Some(ip)) => ip.to_string(),
            _ => String::new(),
        },
        hostname: i.hostname.clone(),
        // Only the families with a private IP: a subnet of another family
        // would make dual-stack peers plan a cable we cannot serve.
        subnets: cluster_subnets(&i.cidrs)
            .into_iter()
            .filter(|s| {
                s.parse::<ipnetwork::IpNetwork>().is_ok_and(|n| {
                    n.is_ipv4() == i.private_ip.is_ipv4()
                        || (n.is_ipv6() && i.private_ip6.is_some())
                })
            })
            .collect(),
        private_ips: match i.private_ip6 {
            Some(v6) => vec![private_ip.clone(), v6.to_string()],
            None => Vec::new(),
        },
        public_ips: match i.public_ip6 {
            Some(v6) => vec![i.public_ip.clone(), v6.to_string()],
            None => Vec::new(),
        },
        health_check_ips: match (globalnet, i.health_check_ip, i.health_check_ip6) {
            (false, Some(v4), Some(v6)) => vec![v4.to_string(), v6.to_string()],
            _ => Vec::new(),
        },
        private_ip,
        public_ip: i.public_ip.clone(),
        nat_enabled: i.nat_enabled,
        backend: if i.cable_driver.is_empty() {
            "libreswan".into()
        } else {
            i.cable_driver.clone()
        },
        backend_config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> LocalEndpointInputs {
        LocalEndpointInputs {
            cluster_id: "cluster1".into(),
            hostname: "cluster1-worker".into(),
            private_ip: "172.18.0.5".parse().unwrap(),
            private_ip6: None,
            public_ip: "203.0.113.5".into(),
            public_ip6: None,
            public_ip_setting: String::new(),
            nat_enabled: false,
            cidrs: ClusterSpec {
                cluster_id: "cluster1".into(),
                service_cidr: vec!["100.1.0.0/16".into(), "fd00:100::/112".into()],
                cluster_cidr: vec!["10.1.0.0/16".into()],
                ..Default::default()
            },
            cable_driver: String::new(),
            node_backend_config: BTreeMap::new(),
            natt_port: 4500,
            preferred_server: false,
            health_check_ip: Some("10.1.0.1".parse().unwrap()),
            health_check_ip6: None,
            now_unix: 1714641300,
        }
    }

    #[test]
    fn default_local_endpoint() {
        let s = local_endpoint_spec(&inputs()).unwrap();
        assert_eq!(s.cable_name, "submariner-cable-cluster1-172-18-0-5");
        assert_eq!(s.subnets, ["100.1.0.0/16", "10.1.0.0/16"]);
        assert_eq!(s.health_check_ip, "10.1.0.1");
        assert_eq!(s.backend, "libreswan");
        assert_eq!(s.private_ip, "172.18.0.5");
        assert_eq!(s.public_ip, "203.0.113.5");
        let bc: Vec<_> = s
            .backend_config
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            bc,
            [
                "natt-discovery-port=4490",
                "preferred-server=false",
                "udp-port=4500"
            ]
        );
        assert!(s.validate().is_ok());
    }

    #[test]
    fn globalnet_preferred_server_load_balancer_and_node_settings() {
        let mut i = inputs();
        i.cidrs.global_cidr = vec!["242.1.0.0/16".into()];
        i.preferred_server = true;
        i.public_ip_setting = "lb:submariner-gateway".into();
        i.node_backend_config
            .insert("udp-port".into(), "4501".into());
        let s = local_endpoint_spec(&i).unwrap();
        assert_eq!(s.subnets, ["242.1.0.0/16"]);
        assert_eq!(s.health_check_ip, "", "filled in later with globalnet");
        // Issue 13, fault 4: the node's 4501 was published while the IKE
        // socket listened on CE_IPSEC_NATTPORT (4500).
        assert_eq!(s.backend_config["udp-port"], i.natt_port.to_string());
        assert_eq!(s.backend_config["using-loadbalancer"], "true");
        assert_eq!(s.backend_config["preferred-server"], "true");
        assert_eq!(s.backend_config["preferred-server-timestamp"], "1714641300");

        // The node's own preferred-server wins over CE_IPSEC_PREFERREDSERVER.
        let mut i = inputs();
        i.preferred_server = true;
        i.node_backend_config
            .insert("preferred-server".into(), "false".into());
        let s = local_endpoint_spec(&i).unwrap();
        assert_eq!(s.backend_config["preferred-server"], "false");
        assert!(!s.backend_config.contains_key("preferred-server-timestamp"));

        i.node_backend_config
            .insert("preferred-server".into(), "maybe".into());
        assert_eq!(
            local_endpoint_spec(&i).unwrap_err().to_string(),
            r#"invalid node setting "preferred-server" "maybe": expected a boolean"#
        );
    }
}
