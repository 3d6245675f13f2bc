//! Plan rules: subnets, pairing, names, identities, roles, addresses, ports,
//! encapsulation, and plan diffs.

use std::net::IpAddr;

use super::*;
use crate::cable::PlanDiff;
use crate::crd::ClusterSpec;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn endpoint(cluster: &str, private_ip: &str, subnets: &[&str]) -> EndpointSpec {
    EndpointSpec {
        cluster_id: cluster.into(),
        cable_name: format!(
            "submariner-cable-{cluster}-{}",
            private_ip.replace('.', "-")
        ),
        hostname: format!("{cluster}-gw"),
        subnets: strings(subnets),
        private_ip: private_ip.into(),
        public_ip: "203.0.113.9".into(),
        backend: "libreswan".into(),
        ..Default::default()
    }
}

fn local_site() -> Site {
    Site {
        endpoint: endpoint("cluster1", "172.18.0.5", &["100.1.0.0/16", "10.1.0.0/16"]),
        cluster: Some(ClusterSpec {
            cluster_id: "cluster1".into(),
            service_cidr: strings(&["100.1.0.0/16"]),
            cluster_cidr: strings(&["10.1.0.0/16"]),
            ..Default::default()
        }),
    }
}

fn remote() -> EndpointSpec {
    endpoint(
        "cluster2",
        "172.18.0.7",
        &[
            "100.2.0.0/16",
            "172.18.0.7/32",
            "10.2.0.0/16",
            "10.22.0.0/16",
        ],
    )
}

const SETTINGS: PlanSettings = PlanSettings {
    default_natt_port: 4500,
    force_encaps: false,
    preferred_server: false,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn default_mode_plan() {
    let p = build_plan(&local_site(), &remote(), &SETTINGS).unwrap();
    assert_eq!(p.cable_name, "submariner-cable-cluster2-172-18-0-7");
    assert_eq!(p.remote_cluster_id, "cluster2");
    assert_eq!(p.local_address, ip("172.18.0.5"));
    assert_eq!((p.local_port, p.remote_port), (4500, 4500));
    assert_eq!(p.remote_address, ip("172.18.0.7"));
    assert!(!p.using_nat);
    assert_eq!(p.encapsulation, Encapsulation::RawEsp);
    assert_eq!(p.role, Role::Bidirectional);
    assert_eq!(p.local_id, IkeId::Ipv4("172.18.0.5".parse().unwrap()));
    assert_eq!(p.remote_id, IkeId::Ipv4("172.18.0.7".parse().unwrap()));
    assert_eq!(
        p.dpd,
        Dpd {
            delay: Duration::from_secs(30),
            action: DpdAction::Hold
        }
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // 2 local x 3 remote (the remote's own /32 dropped), local-major.
    let got: Vec<_> = p
        .children
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.local_subnet.to_string(),
                c.remote_subnet.to_string(),
            )
        })
        .collect();
    let n = |i, j| format!("submariner-cable-cluster2-172-18-0-7-{i}-{j}");
    let want = [
        (n(0, 0), "100.1.0.0/16", "100.2.0.0/16"),
        (n(0, 1), "100.1.0.0/16", "10.2.0.0/16"),
        (n(0, 2), "100.1.0.0/16", "10.22.0.0/16"),
        (n(1, 0), "10.1.0.0/16", "100.2.0.0/16"),
        (n(1, 1), "10.1.0.0/16", "10.2.0.0/16"),
        (n(1, 2), "10.1.0.0/16", "10.22.0.0/16"),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want.iter()) {
        assert_eq!((g.0, g.1.as_str(), g.2.as_str()), (w.0.as_str(), w.1, w.2));
    }
    // Every child shares the plan's IP-address identities: one IKE SA.
    assert!(p
        .children
        .iter()
        .all(|c| c.local_id == p.local_id && c.remote_id == p.remote_id));
    assert!(
        p.summary().contains("bi-directional, no NAT, raw ESP"),
        "{}",
        p.summary()
    );
}

#[test]
fn globalnet_uses_global_cidrs() {
    let mut local = local_site();
    if let Some(c) = local.cluster.as_mut() {
        c.global_cidr = strings(&["242.1.0.0/16"]);
    }
    let mut r = remote();
    r.subnets = strings(&["242.2.0.0/16"]);
    let p = build_plan(&local, &r, &SETTINGS).unwrap();
    assert_eq!(p.children.len(), 1);
    assert_eq!(p.children[0].local_subnet.to_string(), "242.1.0.0/16");
    assert_eq!(p.children[0].remote_subnet.to_string(), "242.2.0.0/16");
    assert_eq!(
        p.children[0].name,
        "submariner-cable-cluster2-172-18-0-7-0-0"
    );
}

#[test]
fn nat_load_balancer_and_forced_encapsulation() {
    let mut r = remote();
    r.nat_enabled = true;
    let p = build_plan(&local_site(), &r, &SETTINGS).unwrap();
    assert_eq!(p.remote_address, ip("203.0.113.9"));
    assert!(p.using_nat);
    assert_eq!(p.encapsulation, Encapsulation::EspInUdp);
    // Identities stay the private IPs even when reached on the public one.
    assert_eq!(p.remote_id, IkeId::Ipv4("172.18.0.7".parse().unwrap()));

    let mut r = remote();
    r.backend_config
        .insert("using-loadbalancer".into(), "true".into());
    let p = build_plan(&local_site(), &r, &SETTINGS).unwrap();
    assert_eq!((p.remote_address, p.using_nat), (ip("203.0.113.9"), true));

    let forced = PlanSettings {
        force_encaps: true,
        ..SETTINGS
    };
    let p = build_plan(&local_site(), &remote(), &forced).unwrap();
    assert_eq!((p.remote_address, p.using_nat), (ip("172.18.0.7"), false));
    assert_eq!(p.encapsulation, Encapsulation::EspInUdp);

    let mut r = remote();
    r.nat_enabled = true;
    r.public_ip.clear();
    let p = build_plan(&local_site(), &r, &SETTINGS).unwrap();
    assert_eq!((p.remote_address, p.using_nat), (ip("172.18.0.7"), false));
    assert!(
        p.warnings[0].contains("no valid IPv4 public IP"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn ports_from_udp_port() {
    let mut local = local_site();
    local
        .endpoint
        .backend_config
        .insert("udp-port".into(), "4501".into());
    let mut r = remote();
    r.backend_config.insert("udp-port".into(), "4600".into());
    let settings = PlanSettings {
        default_natt_port: 4555,
        ..SETTINGS
    };
    let p = build_plan(&local, &r, &settings).unwrap();
    // Issue 13, fault 4: the local side listens on CE_IPSEC_NATTPORT, so
    // that is its port (it was the Endpoint's 4501); the mismatch is told.
    assert_eq!((p.local_port, p.remote_port), (4555, 4600));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("advertises udp-port 4501")),
        "{:?}",
        p.warnings
    );
    // Absent: CE_IPSEC_NATTPORT. Invalid: a warning and the default.
    let mut r = remote();
    r.backend_config
        .insert("udp-port".into(), "not-a-port".into());
    let p = build_plan(&local_site(), &r, &settings).unwrap();
    assert_eq!((p.local_port, p.remote_port), (4555, 4555));
    assert!(p.warnings[0].starts_with(r#"remote invalid backend_config "udp-port""#));
}

fn with_preferred(mut ep: EndpointSpec, v: &str) -> EndpointSpec {
    ep.backend_config
        .insert("preferred-server".into(), v.into());
    ep
}

#[test]
fn preferred_server_roles_and_fqdn_identities() {
    // Local server (backend_config), remote explicitly not.
    let mut local = local_site();
    local.endpoint = with_preferred(local.endpoint, "true");
    let p = build_plan(&local, &with_preferred(remote(), "false"), &SETTINGS).unwrap();
    assert_eq!(p.role, Role::Server);
    let c = &p.children[4]; // local 1, remote 1
    assert_eq!((c.local_index, c.remote_index), (1, 1));
    assert_eq!(c.local_id, IkeId::Fqdn("172.18.0.5-1-1".into()));
    assert_eq!(c.remote_id, IkeId::Fqdn("172.18.0.7-1-1".into()));
    let c = &p.children[1]; // local 0, remote 1
    assert_eq!(c.local_id.to_string(), "@172.18.0.5-0-1");
    assert_eq!(c.remote_id.to_string(), "@172.18.0.7-1-0");

    // Local preference from CE_IPSEC_PREFERREDSERVER when the Endpoint has none.
    let env_pref = PlanSettings {
        preferred_server: true,
        ..SETTINGS
    };
    let p = build_plan(&local_site(), &with_preferred(remote(), "false"), &env_pref).unwrap();
    assert_eq!(p.role, Role::Server);
    // ... but the Endpoint's own value wins.
    let mut local = local_site();
    local.endpoint = with_preferred(local.endpoint, "false");
    let p = build_plan(&local, &with_preferred(remote(), "true"), &env_pref).unwrap();
    assert_eq!(p.role, Role::Client);
    assert_eq!(p.children[0].local_id.to_string(), "@172.18.0.5-0-0");

    // Remote absent: bidirectional, address IDs, whatever the local says.
    let p = build_plan(&local_site(), &remote(), &env_pref).unwrap();
    assert_eq!(p.role, Role::Bidirectional);
    assert_eq!(p.children[0].local_id, p.local_id);

    // Both preferred: cable name order. cluster2's name sorts greater.
    let mut local = local_site();
    local.endpoint = with_preferred(local.endpoint, "true");
    let p = build_plan(&local, &with_preferred(remote(), "true"), &SETTINGS).unwrap();
    assert_eq!(p.role, Role::Client);

    // An invalid remote value is a warning and counts as absent.
    let p = build_plan(&local, &with_preferred(remote(), "yes"), &SETTINGS).unwrap();
    assert_eq!(p.role, Role::Bidirectional);
    assert!(p.warnings.iter().any(|w| w.contains("preferred-server")));
}

#[test]
fn plan_errors() {
    let mut r = remote();
    r.private_ip = "nope".into();
    assert_eq!(
        build_plan(&local_site(), &r, &SETTINGS)
            .unwrap_err()
            .to_string(),
        r#"remote Endpoint "submariner-cable-cluster2-172-18-0-7" has no valid private IP"#
    );
    let mut r = remote();
    r.subnets.push("10.0.0.0/99".into());
    assert!(matches!(
        build_plan(&local_site(), &r, &SETTINGS),
        Err(PlanError::BadSubnet { side: "remote", .. })
    ));
    let r = endpoint("cluster1", "172.18.0.6", &["10.1.0.0/16"]);
    assert!(matches!(
        build_plan(&local_site(), &r, &SETTINGS),
        Err(PlanError::SelfConnection { .. })
    ));
    // No subnets: a plan without children, and a warning.
    let mut r = remote();
    r.subnets.clear();
    let p = build_plan(&local_site(), &r, &SETTINGS).unwrap();
    assert!(p.children.is_empty() && p.warnings[0].starts_with("no subnet pairs"));
}

/// Issue 12: indices count within each family's subnets, as the 0.21
/// driver's per-family lists do (before: positions in the mixed list,
/// `-0-1`/`-1-1` here); an IPv6 subnet makes the names carry the family.
#[test]
fn mixed_families_are_split_with_indices_per_family() {
    let mut r = remote();
    r.subnets = strings(&["fd00:2::/64", "10.2.0.0/16"]);
    let p = build_plan(&local_site(), &r, &SETTINGS).unwrap();
    let names: Vec<_> = p
        .children
        .iter()
        .map(|c| c.name.rsplit_once("7-").unwrap().1.to_string())
        .collect();
    assert_eq!(names, ["v4-0-0", "v4-1-0"]);
}

#[test]
fn plans_for_a_state() {
    let mut state = DesiredState {
        local: None,
        ..Default::default()
    };
    state.remotes.insert(
        "cluster2".into(),
        Site {
            endpoint: remote(),
            cluster: None,
        },
    );
    assert!(plans_for_state(&state, &SETTINGS).is_empty());
    state.local = Some(local_site());
    let plans = plans_for_state(&state, &SETTINGS);
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].0, "cluster2");
    assert!(plans[0].1.is_ok());
}

#[test]
fn diff_replaces_only_what_changed() {
    let old = build_plan(&local_site(), &remote(), &SETTINGS).unwrap();
    assert!(PlanDiff::between(&old, &old).is_empty());

    // A remote subnet added at the end: three new children, nothing else.
    let mut r = remote();
    r.subnets.push("10.30.0.0/16".into());
    let new = build_plan(&local_site(), &r, &SETTINGS).unwrap();
    let d = PlanDiff::between(&old, &new);
    assert!(!d.ike_changed && d.removed.is_empty() && d.endpoint_changed);
    let added: Vec<_> = d
        .added
        .iter()
        .map(|c| c.name.rsplit_once("7-").unwrap().1.to_string())
        .collect();
    assert_eq!(added, ["0-3", "1-3"]);

    // A subnet replaced in place: that column's children are replaced.
    let mut r = remote();
    r.subnets[0] = "100.20.0.0/16".into();
    let d = PlanDiff::between(&old, &build_plan(&local_site(), &r, &SETTINGS).unwrap());
    assert!(!d.ike_changed);
    assert_eq!(d.added.len(), 2);
    assert_eq!(d.removed.len(), 2);
    assert_eq!(d.added[0].name, d.removed[0].name);

    // Only the health-check IP: no SA changes, status must refresh.
    let mut r = remote();
    r.health_check_ip = "10.2.0.1".into();
    let d = PlanDiff::between(&old, &build_plan(&local_site(), &r, &SETTINGS).unwrap());
    assert!(!d.touches_sas() && d.endpoint_changed && !d.is_empty());

    // NAT turned on: a new address and encapsulation, the IKE SA is rebuilt.
    let mut r = remote();
    r.nat_enabled = true;
    let d = PlanDiff::between(&old, &build_plan(&local_site(), &r, &SETTINGS).unwrap());
    assert!(d.ike_changed && d.added.is_empty() && d.removed.is_empty());

    // Port change: IKE-level.
    let mut r = remote();
    r.backend_config.insert("udp-port".into(), "4501".into());
    assert!(
        PlanDiff::between(&old, &build_plan(&local_site(), &r, &SETTINGS).unwrap()).ike_changed
    );

    // Role change to preferred-server: IKE-level, and every child's IDs change.
    let mut local = local_site();
    local.endpoint = with_preferred(local.endpoint, "true");
    let d = PlanDiff::between(
        &old,
        &build_plan(&local, &with_preferred(remote(), "false"), &SETTINGS).unwrap(),
    );
    assert!(d.ike_changed);
    assert_eq!((d.added.len(), d.removed.len()), (6, 6));
}

#[test]
fn restarted_preferred_server_makes_its_client_reconnect() {
    let server = |ts: &str| {
        let mut r = with_preferred(remote(), "true");
        r.backend_config
            .insert("preferred-server-timestamp".into(), ts.into());
        r
    };
    let old = build_plan(&local_site(), &server("1714641300"), &SETTINGS).unwrap();
    assert_eq!(old.role, Role::Client);
    assert_eq!(old.remote_restart_marker.as_deref(), Some("1714641300"));
    let new = build_plan(&local_site(), &server("1714649999"), &SETTINGS).unwrap();
    let d = PlanDiff::between(&old, &new);
    assert!(d.ike_changed && d.added.is_empty() && d.removed.is_empty());

    // Behind a load balancer the timestamp is ignored, as Submariner does.
    let lb = |ts: &str| {
        let mut r = server(ts);
        r.backend_config
            .insert("using-loadbalancer".into(), "true".into());
        r
    };
    let old = build_plan(&local_site(), &lb("1"), &SETTINGS).unwrap();
    let new = build_plan(&local_site(), &lb("2"), &SETTINGS).unwrap();
    assert_eq!(old.remote_restart_marker, None);
    let d = PlanDiff::between(&old, &new);
    assert!(!d.touches_sas() && d.endpoint_changed);

    // A server does not care about its client's timestamps.
    let mut local = local_site();
    local.endpoint = with_preferred(local.endpoint, "true");
    let client = |ts: &str| {
        let mut r = with_preferred(remote(), "false");
        r.backend_config
            .insert("preferred-server-timestamp".into(), ts.into());
        r
    };
    let old = build_plan(&local, &client("1"), &SETTINGS).unwrap();
    let new = build_plan(&local, &client("2"), &SETTINGS).unwrap();
    assert_eq!(new.role, Role::Server);
    assert!(!PlanDiff::between(&old, &new).touches_sas());
}

// ------------------------------------------------ IP families (issue 12)

/// A Site whose Endpoint has the given private IPs and subnets (no Cluster).
fn family_site(cluster: &str, ips: &[&str], subnets: &[&str]) -> Site {
    let mut ep = endpoint(cluster, ips[0], subnets);
    ep.private_ips = strings(ips);
    ep.public_ip = String::new();
    ep.cable_name = format!(
        "submariner-cable-{cluster}-{}",
        ips[0].replace(['.', ':'], "-")
    );
    Site {
        endpoint: ep,
        cluster: None,
    }
}

#[test]
fn dual_stack_endpoints_make_one_cable_per_family() {
    let local = family_site(
        "cluster1",
        &["172.18.0.5", "fd00:18::5"],
        &["10.1.0.0/16", "fd10:1::/64", "100.1.0.0/16"],
    );
    let mut remote = family_site(
        "cluster2",
        &["172.18.0.7", "fd00:18::7"],
        &["fd10:2::/64", "10.2.0.0/16", "fd10:22::/64"],
    )
    .endpoint;
    remote.health_check_ips = strings(&["10.2.0.1", "fd10:2::1"]);
    let plans = build_plans(&local, &remote, &SETTINGS).unwrap();
    assert_eq!(plans.len(), 2);
    let (v4, v6) = (&plans[0], &plans[1]);
    let cable = "submariner-cable-cluster2-172-18-0-7";
    assert_eq!((v4.family, v6.family), (Family::V4, Family::V6));
    assert_eq!(v4.cable_id, format!("{cable}-v4"));
    assert_eq!(v6.cable_id, format!("{cable}-v6"));
    assert_eq!(v4.cable_name, cable);
    // Each family's private IPs, and its IDs.
    assert_eq!(v4.local_address, "172.18.0.5".parse::<IpAddr>().unwrap());
    assert_eq!(v4.remote_address, "172.18.0.7".parse::<IpAddr>().unwrap());
    assert_eq!(v6.local_address, "fd00:18::5".parse::<IpAddr>().unwrap());
    assert_eq!(v6.remote_address, "fd00:18::7".parse::<IpAddr>().unwrap());
    assert_eq!(v6.local_id, IkeId::Ipv6("fd00:18::5".parse().unwrap()));
    assert_eq!(v6.remote_id, IkeId::Ipv6("fd00:18::7".parse().unwrap()));
    // Indices count within the family's subnets; names carry the family.
    let names = |p: &CablePlan| -> Vec<(String, String, String)> {
        p.children
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.local_subnet.to_string(),
                    c.remote_subnet.to_string(),
                )
            })
            .collect()
    };
    let t = |n: &str, l: &str, r: &str| (format!("{cable}-{n}"), l.to_string(), r.to_string());
    assert_eq!(
        names(v4),
        vec![
            t("v4-0-0", "10.1.0.0/16", "10.2.0.0/16"),
            t("v4-1-0", "100.1.0.0/16", "10.2.0.0/16"),
        ]
    );
    assert_eq!(
        names(v6),
        vec![
            t("v6-0-0", "fd10:1::/64", "fd10:2::/64"),
            t("v6-0-1", "fd10:1::/64", "fd10:22::/64"),
        ]
    );
    // Each family's health check goes to that family's healthCheckIP.
    assert_eq!(
        v6.remote_endpoint.health_check_addr(v6.family.is_v4()),
        Some("fd10:2::1".parse().unwrap())
    );
}

#[test]
fn ipv6_only_endpoints_make_one_ipv6_cable() {
    let local = family_site("cluster1", &["fd00:18::5"], &["fd10:1::/64"]);
    let remote = family_site("cluster2", &["fd00:18::7"], &["fd10:2::/64"]).endpoint;
    let plans = build_plans(&local, &remote, &SETTINGS).unwrap();
    assert_eq!(plans.len(), 1);
    let p = &plans[0];
    assert_eq!(p.family, Family::V6);
    assert_eq!(p.cable_id, "submariner-cable-cluster2-fd00-18--7-v6");
    assert_eq!(
        p.children[0].name,
        "submariner-cable-cluster2-fd00-18--7-v6-0-0"
    );
    assert_eq!(p.local_id, IkeId::Ipv6("fd00:18::5".parse().unwrap()));
}

/// A dual-stack remote and an IPv4-only local cluster: one IPv4 cable,
/// named by family as the dual-stack release names it.
#[test]
fn only_the_families_both_have_get_a_cable() {
    let local = family_site("cluster1", &["172.18.0.5"], &["10.1.0.0/16"]);
    let remote = family_site(
        "cluster2",
        &["172.18.0.7", "fd00:18::7"],
        &["10.2.0.0/16", "fd10:2::/64"],
    )
    .endpoint;
    let plans = build_plans(&local, &remote, &SETTINGS).unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].family, Family::V4);
    assert_eq!(plans[0].cable_id, "submariner-cable-cluster2-172-18-0-7-v4");
    assert_eq!(plans[0].children.len(), 1);
    assert!(plans[0].children[0].name.ends_with("-v4-0-0"));
}

/// IPv4-only on both sides keeps today's names and key (what releases
/// before 0.21 show).
#[test]
fn ipv4_only_endpoints_keep_the_names_without_family() {
    let plans = build_plans(&local_site(), &remote(), &SETTINGS).unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].cable_id, "submariner-cable-cluster2-172-18-0-7");
    assert_eq!(
        plans[0].children[0].name,
        "submariner-cable-cluster2-172-18-0-7-0-0"
    );
}

/// No family in common: one plan without Child SAs, with a warning.
#[test]
fn no_family_in_common_plans_no_pairs() {
    let local = family_site("cluster1", &["172.18.0.5"], &["10.1.0.0/16"]);
    let remote = family_site("cluster2", &["fd00:18::7"], &["fd10:2::/64"]).endpoint;
    let plans = build_plans(&local, &remote, &SETTINGS).unwrap();
    assert_eq!(plans.len(), 1);
    assert!(plans[0].children.is_empty());
    assert!(
        plans[0]
            .warnings
            .iter()
            .any(|w| w.contains("no subnet pairs")),
        "{:?}",
        plans[0].warnings
    );
}
