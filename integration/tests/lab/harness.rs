//! Tests of the lab itself: the topology helper and the guest kernel.

use integration::lab::require_lab;
use integration::topo::TwoSites;

/// The lab kernel loads ESP and the topology carries plain traffic between
/// the two sites' pod addresses (routing only, no tunnel yet).
#[test]
fn lab_topology_routes_between_pod_cidrs() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let out = t
        .left
        .sh(&format!(
            "ping -c1 -W2 -I {} {}",
            TwoSites::LEFT_POD_IP,
            TwoSites::RIGHT_POD_IP
        ))
        .expect("ping between pod addresses");
    assert!(out.contains("1 received"), "{out}");
    let mods = std::fs::read_to_string("/proc/modules").expect("/proc/modules");
    assert!(
        mods.contains("esp4"),
        "esp4 is not loaded in the lab kernel"
    );
}

/// Namespaces are gone once the topology is dropped.
#[test]
fn lab_topology_is_torn_down() {
    require_lab();
    let names = {
        let t = TwoSites::new().expect("topology");
        [t.left.name().to_string(), t.right.name().to_string()]
    };
    let list = integration::topo::host_sh("ip netns list").expect("ip netns list");
    for n in names {
        assert!(!list.contains(&n), "{n} still exists: {list}");
    }
}
