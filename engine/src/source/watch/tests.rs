//! Watched objects: initial lists, changes, malformed objects, watch restarts.

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::*;

fn endpoint(cluster: &str, ip: &str, subnets: &[&str]) -> Value {
    let cable = format!("submariner-cable-{cluster}-{}", ip.replace('.', "-"));
    json!({
        "apiVersion": "submariner.io/v1",
        "kind": "Endpoint",
        "metadata": {"name": format!("{cluster}-{cable}"), "namespace": "submariner-operator", "resourceVersion": "1"},
        "spec": {
            "cluster_id": cluster, "cable_name": cable, "hostname": format!("{cluster}-gw"),
            "private_ip": ip, "public_ip": "", "nat_enabled": false, "backend": "libreswan",
            "subnets": subnets, "backend_config": {"udp-port": "4500"}
        }
    })
}

fn cluster(id: &str, pods: &str) -> Value {
    json!({
        "apiVersion": "submariner.io/v1", "kind": "Cluster",
        "metadata": {"name": id, "namespace": "submariner-operator"},
        "spec": {"cluster_id": id, "service_cidr": [], "cluster_cidr": [pods], "global_cidr": [], "color_codes": null}
    })
}

use WatchEvent::*;
use WatchedKind::{Cluster as C, Endpoint as E};

fn synced() -> WatchedObjects {
    let mut w = WatchedObjects::new("cluster1");
    assert_eq!(w.handle(E, Init), None);
    assert_eq!(
        w.handle(
            E,
            InitApply(endpoint("cluster1", "172.18.0.5", &["10.1.0.0/16"]))
        ),
        None
    );
    assert_eq!(
        w.handle(
            E,
            InitApply(endpoint("cluster2", "172.18.0.7", &["10.2.0.0/16"]))
        ),
        None
    );
    // Endpoints listed, Clusters not yet: nothing emitted.
    assert_eq!(w.handle(E, InitDone), None);
    assert!(!w.is_synced());
    assert_eq!(w.handle(C, Init), None);
    assert_eq!(
        w.handle(C, InitApply(cluster("cluster1", "10.1.0.0/16"))),
        None
    );
    let u = w.handle(C, InitDone).expect("first full state");
    assert!(w.is_synced());
    assert_eq!(
        u.state.local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.5"
    );
    assert!(u.state.local.as_ref().unwrap().cluster.is_some());
    assert_eq!(u.diff.added, ["cluster2"]);
    w
}

#[test]
fn initial_lists_then_changes() {
    let mut w = synced();
    let u = w
        .handle(
            E,
            Apply(endpoint("cluster3", "172.18.0.9", &["10.3.0.0/16"])),
        )
        .unwrap();
    assert_eq!(u.diff.added, ["cluster3"]);
    let u = w
        .handle(
            E,
            Apply(endpoint("cluster3", "172.18.0.9", &["10.33.0.0/16"])),
        )
        .unwrap();
    assert_eq!(u.diff.changed, ["cluster3"]);
    // A resourceVersion-only change: no update.
    let mut same = endpoint("cluster3", "172.18.0.9", &["10.33.0.0/16"]);
    same["metadata"]["resourceVersion"] = json!("2");
    assert_eq!(w.handle(E, Apply(same)), None);
    let u = w
        .handle(C, Apply(cluster("cluster3", "10.33.0.0/16")))
        .unwrap();
    assert_eq!(u.diff.changed, ["cluster3"]);
    let u = w
        .handle(E, Delete(endpoint("cluster3", "172.18.0.9", &[])))
        .unwrap();
    assert_eq!(u.diff.removed, ["cluster3"]);
    // Deleting something unknown changes nothing.
    assert_eq!(
        w.handle(E, Delete(endpoint("cluster9", "172.18.0.99", &[]))),
        None
    );
}

#[test]
fn malformed_objects_are_reported_and_skipped() {
    let mut w = synced();
    let mut bad = endpoint("cluster4", "172.18.0.10", &["10.4.0.0/16"]);
    bad["spec"]["nat_enabled"] = json!("sometimes");
    assert_eq!(w.handle(E, Apply(bad)), None);
    assert!(!w.state().remotes.contains_key("cluster4"));

    let mut bad_cidr = endpoint("cluster5", "172.18.0.11", &["10.5.0.0/33"]);
    bad_cidr["metadata"]["name"] = json!("cluster5-bad");
    assert_eq!(w.handle(E, Apply(bad_cidr)), None);

    // A valid version replaces the malformed one; the update carries the
    // warnings since the previous one.
    let u = w
        .handle(
            E,
            Apply(endpoint("cluster4", "172.18.0.10", &["10.4.0.0/16"])),
        )
        .unwrap();
    assert_eq!(u.diff.added, ["cluster4"]);
    assert_eq!(u.warnings.len(), 2, "{:?}", u.warnings);
    assert!(u.warnings[0]
        .message
        .starts_with(r#"invalid Endpoint "cluster4-"#));
    assert!(u.warnings[1].message.contains("10.5.0.0/33"));

    // Warnings name the object and say why, in one line.
    let mut w2 = WatchedObjects::new("cluster1");
    w2.handle(E, Init);
    let mut bad = endpoint("cluster6", "172.18.0.12", &["10.6.0.0/16"]);
    bad["spec"]["subnets"] = json!(["not-a-cidr"]);
    w2.handle(E, InitApply(bad));
    w2.handle(E, InitApply(json!({"kind": "Endpoint", "metadata": {}})));
    w2.handle(E, InitDone);
    w2.handle(C, Init);
    let u = w2.handle(C, InitDone).unwrap();
    assert_eq!(u.warnings.len(), 2, "{:?}", u.warnings);
    assert_eq!(u.warnings[1].origin, "Endpoint watch");
    assert_eq!(
        u.warnings[0].origin,
        "submariner-operator/cluster6-submariner-cable-cluster6-172-18-0-12"
    );
    assert!(u.warnings[0]
        .message
        .contains(r#"spec.subnets entry "not-a-cidr" is not a CIDR"#));
    assert!(u.state.remotes.is_empty() && u.state.local.is_none());
}

#[test]
fn watch_restart_drops_what_was_deleted_meanwhile() {
    let mut w = synced();
    w.handle(
        E,
        Apply(endpoint("cluster3", "172.18.0.9", &["10.3.0.0/16"])),
    )
    .unwrap();

    // The Endpoint watch restarts; cluster3 was deleted while it was down.
    assert_eq!(w.handle(E, Init), None);
    assert_eq!(
        w.handle(
            E,
            InitApply(endpoint("cluster1", "172.18.0.5", &["10.1.0.0/16"]))
        ),
        None
    );
    assert_eq!(
        w.handle(
            E,
            InitApply(endpoint("cluster2", "172.18.0.7", &["10.2.0.0/16"]))
        ),
        None
    );
    // Until the relist is done, the old view stands.
    assert!(w.state().remotes.contains_key("cluster3"));
    let u = w.handle(E, InitDone).unwrap();
    assert_eq!(u.diff.removed, ["cluster3"]);
    assert!(u.diff.added.is_empty() && u.diff.changed.is_empty());

    // A restart that lists the same objects changes nothing.
    w.handle(C, Init);
    w.handle(C, InitApply(cluster("cluster1", "10.1.0.0/16")));
    assert_eq!(w.handle(C, InitDone), None);
}

#[tokio::test]
async fn channel_source_yields_updates_and_ends_with_its_senders() {
    let (tx, rx) = mpsc::channel(16);
    let mut s = ChannelSource::new("kubernetes", "cluster1", rx);
    assert_eq!(s.name(), "kubernetes");
    for (k, e) in [
        (E, Init),
        (
            E,
            InitApply(endpoint("cluster1", "172.18.0.5", &["10.1.0.0/16"])),
        ),
        (
            E,
            InitApply(endpoint("cluster2", "172.18.0.7", &["10.2.0.0/16"])),
        ),
        (E, InitDone),
        (C, Init),
        (C, InitDone),
        (E, Delete(endpoint("cluster2", "172.18.0.7", &[]))),
    ] {
        tx.send((k, e)).await.unwrap();
    }
    drop(tx);
    let first = s.next_update().await.unwrap();
    assert_eq!(first.diff.added, ["cluster2"]);
    let second = s.next_update().await.unwrap();
    assert_eq!(second.diff.removed, ["cluster2"]);
    let end = s.next_update().await.unwrap_err();
    assert_eq!(end.to_string(), "the kubernetes source stopped");
}

/// Issue 13, fault 6, Kubernetes side: an invalid edit of a remote
/// Endpoint keeps its last valid version (with a warning); deleting it
/// removes it.
#[test]
fn invalid_edit_keeps_the_last_valid_endpoint() {
    let mut w = synced();
    let mut broken = endpoint("cluster2", "172.18.0.7", &["10.2.0.0/16"]);
    broken["spec"]["private_ip"] = json!("not-an-ip");
    let u = w.handle(E, Apply(broken.clone()));
    let warned = |ws: &[SourceWarning]| ws.iter().any(|x| x.message.contains("last valid version"));
    assert!(warned(&w.pending_warnings) || u.as_ref().is_some_and(|u| warned(&u.warnings)));
    let state = u.map(|u| u.state).unwrap_or_else(|| w.state().clone());
    assert_eq!(
        state.remotes["cluster2"].endpoint.private_ip, "172.18.0.7",
        "the last valid spec"
    );
    let u = w.handle(E, Delete(broken)).expect("deleted");
    assert!(u.state.remotes.is_empty());
}

/// Issue 13, fault 6: the same note as the directory source's, from the
/// Kubernetes source, until a valid version arrives.
#[test]
fn invalid_edit_is_noted_for_the_connection_until_fixed() {
    let mut w = synced();
    let mut broken = endpoint("cluster2", "172.18.0.7", &["10.2.0.0/16"]);
    broken["spec"]["private_ip"] = json!("not-an-ip");
    let u = w.handle(E, Apply(broken)).expect("the note is a change");
    let note = &u.state.notes["cluster2"];
    assert!(note.contains("latest edit"), "{note}");
    let mut fixed = endpoint("cluster2", "172.18.0.7", &["10.2.0.0/16"]);
    fixed["spec"]["private_ip"] = json!("172.18.0.9");
    let u = w.handle(E, Apply(fixed)).expect("fixed");
    assert!(u.state.notes.is_empty(), "{:?}", u.state.notes);
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.9"
    );
}

/// `endpoint` with a creationTimestamp and resourceVersion.
fn aged(cluster: &str, ip: &str, created: &str, rv: &str) -> Value {
    let mut e = endpoint(cluster, ip, &["10.0.0.0/16"]);
    e["metadata"]["creationTimestamp"] = json!(created);
    e["metadata"]["resourceVersion"] = json!(rv);
    e
}

/// Issue 13, fault 5, Kubernetes side: after a failover of a remote
/// cluster, its new gateway's Endpoint (named after its own IP, here
/// sorting after the old one) was skipped as "a second Endpoint" while
/// the old one lingered: the first by `namespace/name` won. Now the newest
/// wins, whatever the names and the order of events.
#[test]
fn the_newest_endpoint_of_a_remote_cluster_wins() {
    let mut w = synced();
    let mut old = endpoint("cluster2", "172.18.0.7", &["10.2.0.0/16"]);
    old["metadata"]["creationTimestamp"] = json!("2024-05-02T09:00:00Z");
    // Give the old one a timestamp first (no change of the state).
    assert_eq!(w.handle(E, Apply(old.clone())), None);
    let u = w
        .handle(
            E,
            Apply(aged("cluster2", "172.18.0.8", "2024-05-02T09:30:00Z", "7")),
        )
        .expect("the new gateway's Endpoint is used");
    assert_eq!(u.diff.changed, ["cluster2"]);
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.8"
    );
    let w0 = u
        .warnings
        .iter()
        .find(|w| w.origin == "submariner-operator/cluster2-submariner-cable-cluster2-172-18-0-7")
        .unwrap_or_else(|| panic!("{:?}", u.warnings));
    assert!(
        w0.message.contains(
            "using the one in submariner-operator/cluster2-submariner-cable-cluster2-172-18-0-8, the newest (created 2024-05-02T09:30:00Z"
        ),
        "{w0}"
    );
    // An edit of the old one (a later resourceVersion) does not bring it
    // back: it is still the older.
    let mut edited = old.clone();
    edited["metadata"]["resourceVersion"] = json!("99");
    edited["spec"]["hostname"] = json!("edited");
    assert_eq!(w.handle(E, Apply(edited.clone())), None);
    assert_eq!(
        w.state().remotes["cluster2"].endpoint.private_ip,
        "172.18.0.8"
    );
    // The new one deleted: the old one is the only one left.
    let u = w
        .handle(
            E,
            Delete(aged("cluster2", "172.18.0.8", "2024-05-02T09:30:00Z", "7")),
        )
        .expect("changed");
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.7"
    );
}

/// Issue 13, fault 5, Kubernetes side: the local Endpoint was the local
/// cluster's first by name, so another gateway node's Endpoint (or this
/// node's old IP's) could be taken for this gateway's. Now, once the
/// source knows the cable name this gateway publishes, only that Endpoint
/// is local, and it follows a change of that name (a node IP change).
#[test]
fn the_local_endpoint_is_the_one_this_gateway_publishes() {
    let mut w = synced();
    assert_eq!(
        w.set_own_cable_name("submariner-cable-cluster1-172-18-0-5"),
        None,
        "already the local one"
    );
    // A newer Endpoint of the local cluster, sorting first: not ours.
    let other = aged("cluster1", "172.18.0.4", "2030-01-01T00:00:00Z", "50");
    assert_eq!(w.handle(E, Apply(other.clone())), None);
    assert_eq!(
        w.state().local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.5"
    );
    let stale = w
        .pending_warnings
        .iter()
        .find(|x| {
            x.origin
                .ends_with("cluster1-submariner-cable-cluster1-172-18-0-4")
        })
        .unwrap_or_else(|| panic!("{:?}", w.pending_warnings));
    assert!(
        stale
            .message
            .starts_with(r#"a stale Endpoint of the local cluster "cluster1""#)
            && stale.message.contains(
                r#"the cable name "submariner-cable-cluster1-172-18-0-5" is this gateway's"#
            ),
        "{stale}"
    );

    // This node's IP changes: its new Endpoint is not listed yet, and no
    // other one stands in for it.
    let u = w
        .set_own_cable_name("submariner-cable-cluster1-172-18-0-6")
        .expect("the local Endpoint goes");
    assert!(u.diff.local_changed && u.state.local.is_none());
    assert!(
        u.warnings
            .iter()
            .any(|x| x.message.contains("is not listed yet")),
        "{:?}",
        u.warnings
    );
    let u = w
        .handle(
            E,
            Apply(endpoint("cluster1", "172.18.0.6", &["10.1.0.0/16"])),
        )
        .expect("the new one is local");
    assert_eq!(
        u.state.local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.6"
    );
    // The stale ones deleted (by the publisher): nothing changes.
    assert_eq!(w.handle(E, Delete(other)), None);
    assert_eq!(
        w.handle(E, Delete(endpoint("cluster1", "172.18.0.5", &[]))),
        None
    );
}

/// The channel source follows the Endpoint this gateway publishes
/// (`KubeSource::with_own_endpoint`): a new cable name is a new update.
#[tokio::test]
async fn channel_source_follows_the_published_endpoint() {
    let spec = |ip: &str| -> EndpointSpec {
        serde_json::from_value(endpoint("cluster1", ip, &["10.1.0.0/16"])["spec"].clone()).unwrap()
    };
    let (own_tx, own_rx) = tokio::sync::watch::channel(spec("172.18.0.5"));
    let (tx, rx) = mpsc::channel(16);
    let mut s = ChannelSource::new("kubernetes", "cluster1", rx).with_own_endpoint(own_rx);
    for (k, e) in [
        (E, Init),
        // Sorts first and is newer, but is not this gateway's.
        (
            E,
            InitApply(aged("cluster1", "172.18.0.4", "2030-01-01T00:00:00Z", "9")),
        ),
        (
            E,
            InitApply(endpoint("cluster1", "172.18.0.5", &["10.1.0.0/16"])),
        ),
        (E, InitDone),
        (C, Init),
        (C, InitDone),
    ] {
        tx.send((k, e)).await.unwrap();
    }
    let first = s.next_update().await.unwrap();
    assert_eq!(
        first.state.local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.5"
    );
    own_tx.send(spec("172.18.0.6")).unwrap();
    let u = s.next_update().await.unwrap();
    assert!(u.state.local.is_none(), "{:?}", u.state.local);
    tx.send((
        E,
        Apply(endpoint("cluster1", "172.18.0.6", &["10.1.0.0/16"])),
    ))
    .await
    .unwrap();
    let u = s.next_update().await.unwrap();
    assert_eq!(
        u.state.local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.6"
    );
    // The publisher gone: the source goes on with the last cable name.
    drop(own_tx);
    tx.send((E, Delete(endpoint("cluster1", "172.18.0.6", &[]))))
        .await
        .unwrap();
    let u = s.next_update().await.unwrap();
    assert!(u.state.local.is_none());
}
