//! The local Endpoint's inputs in a gateway pod, from the environment
//! Submariner's operator sets (`SUBMARINER_SERVICECIDR`,
//! `SUBMARINER_CLUSTERCIDR`, `SUBMARINER_GLOBALCIDR`, `SUBMARINER_NATENABLED`,
//! `SUBMARINER_PUBLICIP`, `SUBMARINER_CABLEDRIVER`) and from the host:
//!
//! - hostname: the kernel's (the pod uses the host network), else
//!   `NODE_NAME`;
//! - private IP: the source address of the default route, found by
//!   connecting (not sending on) a UDP socket, as Submariner does; the
//!   IPv6 default route's too when the cluster has IPv6 CIDRs (dual-stack,
//!   issue 12), and that one alone on an IPv6-only node;
//! - healthCheckIP: per family, the first local address inside a cluster
//!   CIDR of that family (the CNI interface), when health checks are on.
//!
//! `SUBMARINER_PUBLICIP`: only the `ipv4:<address>` and `ipv6:<address>`
//! resolvers are supported; any other (`lb:`, `api:`, `dns:`) is reported
//! and the private IP is used as the public one.
//!
//! The node's own settings are its `gateway.submariner.io/<key>` labels,
//! overridden by annotations of the same name ([`node_backend_config`]),
//! for the keys Submariner accepts there (`udp-port`,
//! `natt-discovery-port`, `public-ip`, `preferred-server`); the node's
//! `public-ip` wins over `SUBMARINER_PUBLICIP`.

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};

use ipnetwork::IpNetwork;

use crate::config::Config;
use crate::crd::ClusterSpec;
use crate::gobool::parse_go_bool;
use crate::source::local::LocalEndpointInputs;

/// What is read from the host rather than the environment.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// The kernel's hostname ("" when unknown).
    pub hostname: String,
    /// The default route's source address.
    pub private_ip: Option<IpAddr>,
    /// The IPv6 default route's source address.
    pub private_ip6: Option<IpAddr>,
    /// Every local interface address.
    pub addresses: Vec<IpAddr>,
    /// The node's own backend settings ([`node_backend_config`]).
    pub node_backend_config: BTreeMap<String, String>,
}

/// The prefix of the node labels and annotations holding gateway settings.
pub const GATEWAY_CONFIG_PREFIX: &str = "gateway.submariner.io/";

/// The settings a node may carry.
pub const VALID_NODE_CONFIG: [&str; 4] = [
    crate::crd::UDP_PORT_CONFIG,
    crate::crd::NATT_DISCOVERY_PORT_CONFIG,
    crate::crd::PUBLIC_IP_CONFIG,
    crate::crd::PREFERRED_SERVER_CONFIG,
];

/// The node's backend settings from its labels, then its annotations (which
/// win); unknown `gateway.submariner.io/` keys are reported and skipped.
pub fn node_backend_config(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut config = BTreeMap::new();
    for (key, value) in labels.iter().chain(annotations) {
        let Some(setting) = key.strip_prefix(GATEWAY_CONFIG_PREFIX) else {
            continue;
        };
        if VALID_NODE_CONFIG.contains(&setting) {
            config.insert(setting.to_string(), value.clone());
        } else {
            warnings.push(format!("unknown node setting {key:?}; ignored"));
        }
    }
    config
}

impl HostFacts {
    /// Reads them from this host.
    pub fn gather() -> HostFacts {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        // connect() on UDP only selects a route and a source address: no
        // packet is sent.
        let route_source = |bind: &str, to: &str| {
            UdpSocket::bind(bind)
                .and_then(|s| {
                    s.connect(to)?;
                    s.local_addr()
                })
                .ok()
                .map(|a| a.ip())
                .filter(|ip| !ip.is_unspecified())
        };
        HostFacts {
            hostname,
            private_ip: route_source("0.0.0.0:0", "8.8.8.8:53"),
            private_ip6: route_source("[::]:0", "[2001:4860:4860::8888]:53"),
            addresses: interface_addresses(),
            node_backend_config: BTreeMap::new(),
        }
    }
}

/// Every IPv4/IPv6 address of the local interfaces.
fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; every node
    // and address pointer is checked for null before it is read, and the
    // sockaddr is read as the type its family says.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

fn cidrs(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Vec<String> {
    env(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The local Cluster's spec from `SUBMARINER_*CIDR`.
pub fn local_cluster_spec(cluster_id: &str, env: &dyn Fn(&str) -> Option<String>) -> ClusterSpec {
    ClusterSpec {
        cluster_id: cluster_id.to_string(),
        color_codes: vec!["blue".into()],
        service_cidr: cidrs(env, "SUBMARINER_SERVICECIDR"),
        cluster_cidr: cidrs(env, "SUBMARINER_CLUSTERCIDR"),
        global_cidr: cidrs(env, "SUBMARINER_GLOBALCIDR"),
    }
}

/// The engine settings the local Endpoint depends on.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// `SUBMARINER_CLUSTERID`.
    pub cluster_id: String,
    /// `SUBMARINER_HEALTHCHECKENABLED`.
    pub health_check: bool,
    /// `CE_IPSEC_NATTPORT`.
    pub natt_port: u16,
    /// `CE_IPSEC_PREFERREDSERVER`.
    pub preferred_server: bool,
}

impl From<&Config> for LocalSettings {
    fn from(c: &Config) -> Self {
        LocalSettings {
            cluster_id: c.cluster_id.clone(),
            health_check: c.health_check.enabled,
            natt_port: c.ipsec.natt_port,
            preferred_server: c.ipsec.preferred_server,
        }
    }
}

/// Builds the local Endpoint's inputs; `Err` is one line naming the setting.
pub fn local_inputs(
    config: &LocalSettings,
    env: &dyn Fn(&str) -> Option<String>,
    host: &HostFacts,
    now_unix: u64,
) -> Result<LocalEndpointInputs, String> {
    let cidrs = local_cluster_spec(&config.cluster_id, env);
    for c in cidrs
        .service_cidr
        .iter()
        .chain(&cidrs.cluster_cidr)
        .chain(&cidrs.global_cidr)
    {
        if c.parse::<IpNetwork>().is_err() {
            return Err(format!("invalid CIDR {c:?} in SUBMARINER_*CIDR"));
        }
    }
    let hostname = if host.hostname.is_empty() {
        env("NODE_NAME").unwrap_or_default()
    } else {
        host.hostname.clone()
    };
    if hostname.is_empty() {
        return Err("cannot tell the hostname: set NODE_NAME".into());
    }
    let has_v6_cidr = !cidrs.globalnet()
        && cidrs
            .service_cidr
            .iter()
            .chain(&cidrs.cluster_cidr)
            .any(|c| c.parse::<IpNetwork>().is_ok_and(|n| n.is_ipv6()));
    // IPv4 first; an IPv6-only node has only the IPv6 one; a dual-stack
    // cluster adds the IPv6 one as the second private IP.
    let v6_route = host.private_ip6.filter(|_| has_v6_cidr);
    let private_ip = host
        .private_ip
        .or(v6_route)
        .ok_or("cannot find the private IP (no default route)")?;
    let private_ip6 = v6_route.filter(|_| private_ip.is_ipv4());
    let nat_enabled = match env("SUBMARINER_NATENABLED") {
        None => false,
        Some(v) => parse_go_bool(&v)
            .ok_or_else(|| format!("invalid SUBMARINER_NATENABLED {v:?}: expected a boolean"))?,
    };
    let public_ip_setting = host
        .node_backend_config
        .get(crate::crd::PUBLIC_IP_CONFIG)
        .cloned()
        .or_else(|| env("SUBMARINER_PUBLICIP"))
        .unwrap_or_default();
    let resolved = |prefix: &str| {
        public_ip_setting
            .split(',')
            .filter_map(|r| r.trim().strip_prefix(prefix))
            .find_map(|ip| ip.parse::<IpAddr>().ok())
    };
    let prefix = if private_ip.is_ipv4() {
        "ipv4:"
    } else {
        "ipv6:"
    };
    let public_ip = resolved(prefix).unwrap_or_else(|| {
        if !public_ip_setting.is_empty() {
            tracing::warn!(
                "public IP setting {public_ip_setting:?}: only {prefix}<address> is supported; using the private IP {private_ip} as the public IP"
            );
        }
        private_ip
    });
    let public_ip6 = private_ip6.map(|p| resolved("ipv6:").unwrap_or(p));
    let nets: Vec<IpNetwork> = cidrs
        .cluster_cidr
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let cni_address = |v4: bool| {
        host.addresses
            .iter()
            .find(|a| a.is_ipv4() == v4 && nets.iter().any(|n| n.contains(**a)))
            .copied()
            .filter(|_| config.health_check)
    };
    let health_check_ip = cni_address(private_ip.is_ipv4());
    let health_check_ip6 = private_ip6.and_then(|_| cni_address(false));
    Ok(LocalEndpointInputs {
        cluster_id: config.cluster_id.clone(),
        hostname,
        private_ip,
        private_ip6,
        public_ip: public_ip.to_string(),
        public_ip6,
        public_ip_setting,
        nat_enabled,
        cidrs,
        cable_driver: env("SUBMARINER_CABLEDRIVER").unwrap_or_default(),
        node_backend_config: host.node_backend_config.clone(),
        natt_port: config.natt_port,
        preferred_server: config.preferred_server,
        health_check_ip,
        health_check_ip6,
        now_unix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings() -> LocalSettings {
        LocalSettings {
            cluster_id: "cluster1".into(),
            health_check: true,
            natt_port: 4500,
            preferred_server: false,
        }
    }

    #[test]
    fn inputs_from_the_gateway_environment() {
        let env: BTreeMap<&str, &str> = [
            ("SUBMARINER_SERVICECIDR", "100.1.0.0/16"),
            ("SUBMARINER_CLUSTERCIDR", "10.1.0.0/16, 10.9.0.0/16"),
            ("SUBMARINER_PUBLICIP", "lb:gw,ipv4:203.0.113.5"),
            ("SUBMARINER_NATENABLED", "true"),
        ]
        .into_iter()
        .collect();
        let env = |k: &str| env.get(k).map(|v| v.to_string());
        let host = HostFacts {
            hostname: "worker-1".into(),
            private_ip: Some("172.18.0.5".parse().unwrap()),
            private_ip6: Some("fd00:18::5".parse().unwrap()),
            addresses: vec!["172.18.0.5".parse().unwrap(), "10.9.0.1".parse().unwrap()],
            node_backend_config: BTreeMap::new(),
        };
        let i = local_inputs(&settings(), &env, &host, 7).unwrap();
        assert_eq!(i.hostname, "worker-1");
        assert_eq!(i.public_ip, "203.0.113.5");
        assert!(i.nat_enabled);
        assert_eq!(i.cidrs.cluster_cidr, ["10.1.0.0/16", "10.9.0.0/16"]);
        assert_eq!(i.health_check_ip, Some("10.9.0.1".parse().unwrap()));
        let spec = crate::source::local::local_endpoint_spec(&i).unwrap();
        assert_eq!(spec.cable_name, "submariner-cable-cluster1-172-18-0-5");
        assert_eq!(spec.subnets, ["100.1.0.0/16", "10.1.0.0/16", "10.9.0.0/16"]);

        // No ipv4: resolver: the private IP stands in; no hostname: NODE_NAME.
        let env2 = |k: &str| match k {
            "SUBMARINER_PUBLICIP" => Some("api:example".to_string()),
            "NODE_NAME" => Some("node-a".to_string()),
            _ => None,
        };
        let host2 = HostFacts {
            hostname: String::new(),
            ..host.clone()
        };
        let i = local_inputs(&settings(), &env2, &host2, 7).unwrap();
        assert_eq!(
            (i.public_ip.as_str(), i.hostname.as_str()),
            ("172.18.0.5", "node-a")
        );
        assert_eq!(i.health_check_ip, None);

        let bad = |k: &str| (k == "SUBMARINER_CLUSTERCIDR").then(|| "10.1.0.0/99".to_string());
        assert!(local_inputs(&settings(), &bad, &host, 7)
            .unwrap_err()
            .contains("10.1.0.0/99"));
        let no_ip = HostFacts {
            private_ip: None,
            ..host.clone()
        };
        assert!(local_inputs(&settings(), &|_: &str| None, &no_ip, 7).is_err());
        // The IPv6 route is not used without IPv6 CIDRs (the first env).
        let i = local_inputs(&settings(), &env, &host, 7).unwrap();
        assert_eq!(i.private_ip6, None);
    }

    /// Issue 12: a dual-stack cluster (IPv6 CIDRs in SUBMARINER_*CIDR)
    /// publishes both private IPs, both public IPs (`ipv6:` resolver),
    /// both health-check IPs and the subnets of both families; an
    /// IPv6-only node (no IPv4 route) has the IPv6 address as its private
    /// IP (before: only IPv4, and no IPv4 route was an error).
    #[test]
    fn dual_stack_and_ipv6_only_local_endpoints() {
        let env: BTreeMap<&str, &str> = [
            ("SUBMARINER_SERVICECIDR", "100.1.0.0/16,fd00:100::/112"),
            ("SUBMARINER_CLUSTERCIDR", "10.1.0.0/16,fd10:1::/64"),
            ("SUBMARINER_PUBLICIP", "ipv4:203.0.113.5,ipv6:2001:db8::5"),
        ]
        .into_iter()
        .collect();
        let env = |k: &str| env.get(k).map(|v| v.to_string());
        let host = HostFacts {
            hostname: "worker-1".into(),
            private_ip: Some("172.18.0.5".parse().unwrap()),
            private_ip6: Some("fd00:18::5".parse().unwrap()),
            addresses: vec![
                "172.18.0.5".parse().unwrap(),
                "10.1.0.1".parse().unwrap(),
                "fd10:1::1".parse().unwrap(),
            ],
            node_backend_config: BTreeMap::new(),
        };
        let i = local_inputs(&settings(), &env, &host, 7).unwrap();
        let spec = crate::source::local::local_endpoint_spec(&i).unwrap();
        assert_eq!(spec.private_ip, "172.18.0.5");
        assert_eq!(spec.private_ips, ["172.18.0.5", "fd00:18::5"]);
        assert_eq!(spec.public_ips, ["203.0.113.5", "2001:db8::5"]);
        assert_eq!(spec.health_check_ips, ["10.1.0.1", "fd10:1::1"]);
        assert_eq!(
            spec.subnets,
            [
                "100.1.0.0/16",
                "fd00:100::/112",
                "10.1.0.0/16",
                "fd10:1::/64"
            ]
        );
        assert_eq!(spec.cable_name, "submariner-cable-cluster1-172-18-0-5");

        let v6_only = HostFacts {
            private_ip: None,
            ..host
        };
        let i = local_inputs(&settings(), &env, &v6_only, 7).unwrap();
        let spec = crate::source::local::local_endpoint_spec(&i).unwrap();
        assert_eq!(spec.private_ip, "fd00:18::5");
        assert_eq!(spec.public_ip, "2001:db8::5");
        assert_eq!(spec.health_check_ip, "fd10:1::1");
        assert_eq!(spec.subnets, ["fd00:100::/112", "fd10:1::/64"]);
        assert_eq!(spec.cable_name, "submariner-cable-cluster1-fd00-18--5");
    }

    #[test]
    fn node_settings_annotations_win_and_public_ip_overrides_the_environment() {
        let map = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let labels = map(&[
            ("gateway.submariner.io/udp-port", "4501"),
            ("gateway.submariner.io/public-ip", "ipv4:198.51.100.1"),
            ("submariner.io/gateway", "true"),
        ]);
        let annotations = map(&[
            ("gateway.submariner.io/public-ip", "ipv4:198.51.100.2"),
            ("gateway.submariner.io/bogus", "x"),
        ]);
        let mut warnings = Vec::new();
        let config = node_backend_config(&labels, &annotations, &mut warnings);
        assert_eq!(
            config,
            map(&[("public-ip", "ipv4:198.51.100.2"), ("udp-port", "4501")])
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("gateway.submariner.io/bogus"));

        let host = HostFacts {
            hostname: "worker-1".into(),
            private_ip: Some("172.18.0.5".parse().unwrap()),
            private_ip6: None,
            addresses: vec![],
            node_backend_config: config,
        };
        let env = |k: &str| (k == "SUBMARINER_PUBLICIP").then(|| "ipv4:203.0.113.9".to_string());
        let i = local_inputs(&settings(), &env, &host, 7).unwrap();
        assert_eq!(i.public_ip, "198.51.100.2");
        let spec = crate::source::local::local_endpoint_spec(&i).unwrap();
        // The engine advertises the port it listens on (issue 13, fault 4).
        assert_eq!(spec.backend_config["udp-port"], i.natt_port.to_string());
        assert_eq!(spec.backend_config["public-ip"], "ipv4:198.51.100.2");
    }
}
