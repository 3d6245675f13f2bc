//! Submariner's naming rules for cables and objects.

/// Kubernetes-safe object name as Submariner makes it: lower-cased, and
/// every character other than a lowercase letter, a digit, `-` or `.`
/// replaced by `-`.
pub fn ensure_valid_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            let c = c.to_lowercase().next().unwrap_or(c);
            if c.is_numeric() || c.is_lowercase() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The cable name of a gateway: `submariner-cable-<cluster>-<private IP with
/// dots (and colons) as dashes>`.
pub fn cable_name(cluster_id: &str, private_ip: &str) -> String {
    format!(
        "submariner-cable-{cluster_id}-{}",
        private_ip.replace(['.', ':'], "-")
    )
}

/// The `Endpoint` object name: `<cluster_id>-<cable_name>`, made valid.
pub fn endpoint_object_name(cluster_id: &str, cable_name: &str) -> String {
    ensure_valid_name(&format!("{cluster_id}-{cable_name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            cable_name("cluster2", "172.18.0.7"),
            "submariner-cable-cluster2-172-18-0-7"
        );
        assert_eq!(
            endpoint_object_name("cluster2", "submariner-cable-cluster2-172-18-0-7"),
            "cluster2-submariner-cable-cluster2-172-18-0-7"
        );
        assert_eq!(ensure_valid_name("My_Cluster.A/b"), "my-cluster.a-b");
    }
}
