//! Which subnets a cable connects.
//!
//! Local: when the local `Cluster` is known, Submariner's derivation of the
//! local Endpoint's `subnets` (the global CIDR when globalnet is on, otherwise
//! the service CIDRs then the cluster CIDRs, of both IP families); without a
//! `Cluster`, the local Endpoint's own `subnets`. Remote: the remote
//! Endpoint's `subnets`. On both sides every entry that starts with
//! `<private IP>/` (the gateway's own host route, for each of its private
//! IPs) is dropped, as the driver's `extractSubnets` does. Order is
//! preserved: within each IP family it gives the `i`/`j` of connection
//! names (the plan splits the lists by family).

use crate::crd::{ClusterSpec, EndpointSpec};

/// Drops every subnet that starts with `<private_ip>/`.
pub fn without_own_address(subnets: &[String], private_ip: &str) -> Vec<String> {
    let prefix = format!("{private_ip}/");
    subnets
        .iter()
        .filter(|s| private_ip.is_empty() || !s.starts_with(&prefix))
        .cloned()
        .collect()
}

/// Drops every subnet that is the host route of one of the Endpoint's
/// private IPs (each family's).
fn without_own_addresses(subnets: &[String], endpoint: &EndpointSpec) -> Vec<String> {
    endpoint
        .private_ip_strings()
        .fold(subnets.to_vec(), |v, ip| without_own_address(&v, ip))
}

/// The subnets Submariner publishes for a cluster: the global CIDR with
/// globalnet, otherwise the service CIDRs then the cluster CIDRs (IPv4-only
/// releases only ever had IPv4 ones there; dual-stack ones list both).
pub fn cluster_subnets(cluster: &ClusterSpec) -> Vec<String> {
    if cluster.globalnet() {
        return cluster.global_cidr.clone();
    }
    cluster
        .service_cidr
        .iter()
        .chain(&cluster.cluster_cidr)
        .cloned()
        .collect()
}

/// The local side's subnets.
pub fn local_subnets(endpoint: &EndpointSpec, cluster: Option<&ClusterSpec>) -> Vec<String> {
    let all = match cluster {
        Some(c) => cluster_subnets(c),
        None => endpoint.subnets.clone(),
    };
    without_own_addresses(&all, endpoint)
}

/// The remote side's subnets.
pub fn remote_subnets(endpoint: &EndpointSpec) -> Vec<String> {
    without_own_addresses(&endpoint.subnets, endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn cluster(service: &[&str], pods: &[&str], global: &[&str]) -> ClusterSpec {
        ClusterSpec {
            cluster_id: "c1".into(),
            service_cidr: strings(service),
            cluster_cidr: strings(pods),
            global_cidr: strings(global),
            ..Default::default()
        }
    }

    fn endpoint(private_ip: &str, subnets: &[&str]) -> EndpointSpec {
        EndpointSpec {
            private_ip: private_ip.into(),
            subnets: strings(subnets),
            ..Default::default()
        }
    }

    /// Issue 12: the IPv6 CIDRs of a dual-stack cluster are kept (before:
    /// dropped, so no IPv6 pair could be planned); the plan splits by family.
    #[test]
    fn service_then_cluster_cidrs_without_globalnet() {
        let c = cluster(
            &["100.1.0.0/16", "fd00:100::/112"],
            &["10.1.0.0/16", "10.9.0.0/16"],
            &[],
        );
        let ep = endpoint("172.18.0.5", &["ignored/8"]);
        assert_eq!(
            local_subnets(&ep, Some(&c)),
            [
                "100.1.0.0/16",
                "fd00:100::/112",
                "10.1.0.0/16",
                "10.9.0.0/16"
            ]
        );
    }

    /// Each family's own host route is dropped (`privateIPs` too).
    #[test]
    fn own_addresses_of_both_families_dropped() {
        let mut ep = endpoint(
            "172.18.0.5",
            &["172.18.0.5/32", "fd00:18::5/128", "fd10:1::/64"],
        );
        ep.private_ips = strings(&["172.18.0.5", "fd00:18::5"]);
        assert_eq!(remote_subnets(&ep), ["fd10:1::/64"]);
    }

    #[test]
    fn global_cidr_with_globalnet() {
        let c = cluster(&["100.1.0.0/16"], &["10.1.0.0/16"], &["242.1.0.0/16"]);
        assert_eq!(
            local_subnets(&endpoint("172.18.0.5", &[]), Some(&c)),
            ["242.1.0.0/16"]
        );
    }

    #[test]
    fn endpoint_subnets_without_cluster_and_own_address_dropped() {
        let ep = endpoint(
            "172.18.0.5",
            &["172.18.0.5/32", "10.1.0.0/16", "172.18.0.50/32"],
        );
        assert_eq!(local_subnets(&ep, None), ["10.1.0.0/16", "172.18.0.50/32"]);
        let c = cluster(&["172.18.0.5/32"], &["10.1.0.0/16"], &[]);
        assert_eq!(local_subnets(&ep, Some(&c)), ["10.1.0.0/16"]);
        let remote = endpoint(
            "172.18.0.7",
            &["100.2.0.0/16", "172.18.0.7/32", "10.2.0.0/16"],
        );
        assert_eq!(remote_subnets(&remote), ["100.2.0.0/16", "10.2.0.0/16"]);
    }
}
