//! The example endpoints directory, seen from both clusters: each engine
//! picks its own Endpoint, and the two plans mirror each other (addresses,
//! ports, child names' indices, identities), in default and preferred-server
//! mode, so two engines configured from one directory agree on the wire.

use std::path::PathBuf;

use cable_engine::cable::{build_plan, plans_for_state, CablePlan, PlanSettings, Role};
use cable_engine::source::dir::DirSource;
use cable_engine::source::DesiredState;

const SETTINGS: PlanSettings = PlanSettings {
    default_natt_port: 4500,
    force_encaps: false,
    preferred_server: false,
};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/endpoints")
}

fn state_of(cluster: &str) -> DesiredState {
    let update = DirSource::new(examples(), cluster).poll().unwrap().unwrap();
    assert!(update.warnings.is_empty(), "{:?}", update.warnings);
    update.state
}

fn only_plan(state: &DesiredState) -> CablePlan {
    let mut plans = plans_for_state(state, &SETTINGS);
    assert_eq!(plans.len(), 1);
    let mut family_plans = plans.remove(0).1.unwrap();
    assert_eq!(family_plans.len(), 1, "one IP family");
    family_plans.remove(0)
}

fn assert_mirrored(a: &CablePlan, b: &CablePlan) {
    assert_eq!(
        (a.local_address, a.remote_address),
        (b.remote_address, b.local_address)
    );
    assert_eq!((a.local_port, a.remote_port), (b.remote_port, b.local_port));
    assert_eq!((&a.local_id, &a.remote_id), (&b.remote_id, &b.local_id));
    assert_eq!(a.children.len(), b.children.len());
    for ca in &a.children {
        let cb = b
            .children
            .iter()
            .find(|c| c.local_index == ca.remote_index && c.remote_index == ca.local_index)
            .unwrap();
        assert_eq!(
            (ca.local_subnet, ca.remote_subnet),
            (cb.remote_subnet, cb.local_subnet)
        );
        assert_eq!(
            (&ca.local_id, &ca.remote_id),
            (&cb.remote_id, &cb.local_id),
            "{}",
            ca.name
        );
    }
}

#[test]
fn both_sides_of_the_example_directory_agree() {
    let s1 = state_of("cluster1");
    let s2 = state_of("cluster2");
    assert_eq!(s1.local.as_ref().unwrap().endpoint.cluster_id, "cluster1");
    assert_eq!(s2.local.as_ref().unwrap().endpoint.cluster_id, "cluster2");
    let p1 = only_plan(&s1);
    let p2 = only_plan(&s2);
    assert_eq!(p1.cable_name, "submariner-cable-cluster2-192-168-100-2");
    assert_eq!(p2.cable_name, "submariner-cable-cluster1-192-168-100-1");
    assert_eq!(
        (p1.role, p2.role),
        (Role::Bidirectional, Role::Bidirectional)
    );
    assert_eq!(p1.children.len(), 4);
    assert_mirrored(&p1, &p2);
}

#[test]
fn preferred_server_mode_identities_match_across_the_two_sides() {
    let mut s1 = state_of("cluster1");
    let mut s2 = state_of("cluster2");
    // cluster1 prefers to be the server; both sides see both Endpoints.
    let set = |state: &mut DesiredState, cluster: &str| {
        let ep = if state.local.as_ref().unwrap().endpoint.cluster_id == cluster {
            &mut state.local.as_mut().unwrap().endpoint
        } else {
            &mut state.remotes.get_mut(cluster).unwrap().endpoint
        };
        ep.backend_config
            .insert("preferred-server".into(), "true".into());
    };
    set(&mut s1, "cluster1");
    set(&mut s2, "cluster1");
    let p1 = only_plan(&s1);
    let p2 = only_plan(&s2);
    assert_eq!((p1.role, p2.role), (Role::Server, Role::Client));
    assert_eq!(p1.children[1].local_id.to_string(), "@192.168.100.1-0-1");
    assert_eq!(p1.children[1].remote_id.to_string(), "@192.168.100.2-1-0");
    assert_mirrored(&p1, &p2);

    // Both preferred: the greater cable name is the server, on both sides.
    set(&mut s1, "cluster2");
    set(&mut s2, "cluster2");
    let local1 = s1.local.clone().unwrap();
    let local2 = s2.local.clone().unwrap();
    let p1 = build_plan(&local1, &s1.remotes["cluster2"].endpoint, &SETTINGS).unwrap();
    let p2 = build_plan(&local2, &s2.remotes["cluster1"].endpoint, &SETTINGS).unwrap();
    assert_eq!((p1.role, p2.role), (Role::Client, Role::Server));
    assert_mirrored(&p1, &p2);
}
