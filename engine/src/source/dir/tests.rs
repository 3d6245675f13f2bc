//! Directory source tests: files added, changed and removed in a temp dir.

use std::time::Duration;

use super::*;

fn endpoint_yaml(cluster: &str, ip: &str, subnets: &[&str]) -> String {
    let dashed = ip.replace('.', "-");
    let subnets: String = subnets.iter().map(|s| format!("  - {s}\n")).collect();
    format!(
        r#"apiVersion: submariner.io/v1
kind: Endpoint
metadata:
  name: {cluster}-submariner-cable-{cluster}-{dashed}
  namespace: submariner-operator
spec:
  backend: libreswan
  backend_config:
    udp-port: "4500"
  cable_name: submariner-cable-{cluster}-{dashed}
  cluster_id: {cluster}
  healthCheckIP: 10.99.0.1
  hostname: {cluster}-gw
  nat_enabled: false
  private_ip: {ip}
  public_ip: ""
  subnets:
{subnets}"#
    )
}

fn cluster_yaml(cluster: &str, service: &str, pods: &str) -> String {
    format!(
        r#"apiVersion: submariner.io/v1
kind: Cluster
metadata:
  name: {cluster}
spec:
  cluster_cidr:
  - {pods}
  cluster_id: {cluster}
  color_codes:
  - blue
  global_cidr: []
  service_cidr:
  - {service}
"#
    )
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn write(&self, name: &str, content: &str) {
        // Write then rename, as tools that update files atomically do.
        let tmp = self.dir.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, content).unwrap();
        std::fs::rename(&tmp, self.dir.path().join(name)).unwrap();
    }
    fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join(name)).unwrap();
    }
    fn source(&self) -> DirSource {
        DirSource::new(self.dir.path(), "cluster1")
    }
}

fn two_clusters(d: &Dir) {
    d.write(
        "cluster1.yaml",
        &format!(
            "{}---\n{}",
            endpoint_yaml("cluster1", "172.18.0.5", &["100.1.0.0/16", "10.1.0.0/16"]),
            cluster_yaml("cluster1", "100.1.0.0/16", "10.1.0.0/16")
        ),
    );
    d.write(
        "cluster2.yaml",
        &format!(
            "{}---\n{}",
            endpoint_yaml("cluster2", "172.18.0.7", &["100.2.0.0/16", "10.2.0.0/16"]),
            cluster_yaml("cluster2", "100.2.0.0/16", "10.2.0.0/16")
        ),
    );
}

#[test]
fn initial_state_chooses_local_by_cluster_id() {
    let d = Dir::new();
    two_clusters(&d);
    d.write("notes.txt", "not yaml, not read");
    let mut s = d.source();
    let u = s.poll().unwrap().expect("first poll always yields");
    assert!(u.warnings.is_empty(), "{:?}", u.warnings);
    let local = u.state.local.as_ref().unwrap();
    assert_eq!(local.endpoint.cluster_id, "cluster1");
    assert_eq!(local.endpoint.private_ip, "172.18.0.5");
    assert_eq!(
        local.cluster.as_ref().unwrap().service_cidr,
        ["100.1.0.0/16"]
    );
    assert_eq!(u.state.remotes.keys().collect::<Vec<_>>(), ["cluster2"]);
    let remote = &u.state.remotes["cluster2"];
    assert_eq!(
        remote.endpoint.cable_name,
        "submariner-cable-cluster2-172-18-0-7"
    );
    assert_eq!(
        remote.cluster.as_ref().unwrap().cluster_cidr,
        ["10.2.0.0/16"]
    );
    assert!(u.diff.local_changed);
    assert_eq!(u.diff.added, ["cluster2"]);
    // Nothing changed: no update.
    assert_eq!(s.poll().unwrap(), None);

    // The same directory seen from cluster2's side.
    let mut s2 = DirSource::new(d.dir.path(), "cluster2");
    let u2 = s2.poll().unwrap().unwrap();
    assert_eq!(u2.state.local.unwrap().endpoint.cluster_id, "cluster2");
    assert_eq!(u2.state.remotes.keys().collect::<Vec<_>>(), ["cluster1"]);
}

#[test]
fn files_added_changed_and_removed() {
    let d = Dir::new();
    two_clusters(&d);
    let mut s = d.source();
    s.poll().unwrap().unwrap();

    // Added.
    d.write(
        "cluster3.yml",
        &endpoint_yaml("cluster3", "172.18.0.9", &["10.3.0.0/16"]),
    );
    let u = s.poll().unwrap().unwrap();
    assert_eq!(u.diff.added, ["cluster3"]);
    assert!(!u.diff.local_changed && u.diff.changed.is_empty() && u.diff.removed.is_empty());
    assert!(u.state.remotes["cluster3"].cluster.is_none());

    // Changed (same size, different content).
    d.write(
        "cluster3.yml",
        &endpoint_yaml("cluster3", "172.18.0.9", &["10.4.0.0/16"]),
    );
    let u = s.poll().unwrap().unwrap();
    assert_eq!(u.diff.changed, ["cluster3"]);
    assert_eq!(
        u.state.remotes["cluster3"].endpoint.subnets,
        ["10.4.0.0/16"]
    );

    // A change that does not change the state (a comment) yields nothing.
    d.write(
        "cluster3.yml",
        &format!(
            "# edited\n{}",
            endpoint_yaml("cluster3", "172.18.0.9", &["10.4.0.0/16"])
        ),
    );
    assert_eq!(s.poll().unwrap(), None);

    // Removed.
    d.remove("cluster3.yml");
    let u = s.poll().unwrap().unwrap();
    assert_eq!(u.diff.removed, ["cluster3"]);
    assert!(!u.state.remotes.contains_key("cluster3"));

    // The local endpoint removed: no local site.
    d.remove("cluster1.yaml");
    let u = s.poll().unwrap().unwrap();
    assert!(u.diff.local_changed && u.state.local.is_none());
}

#[test]
fn malformed_files_and_unknown_kinds_are_reported_and_skipped() {
    let d = Dir::new();
    two_clusters(&d);
    d.write(
        "broken.yaml",
        "apiVersion: submariner.io/v1\nkind: Endpoint\nspec: [unclosed\n",
    );
    d.write(
        "gateway.yaml",
        "apiVersion: submariner.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n",
    );
    d.write(
        "other-group.yaml",
        &endpoint_yaml("cluster5", "172.18.0.11", &["10.5.0.0/16"])
            .replace("submariner.io/v1", "example.com/v1"),
    );
    d.write(
        "bad-cidr.yaml",
        &endpoint_yaml("cluster4", "172.18.0.10", &["10.4.0.0/33"]),
    );
    d.write(
        "bad-type.yaml",
        &endpoint_yaml("cluster6", "172.18.0.12", &["10.6.0.0/16"])
            .replace("nat_enabled: false", "nat_enabled: sometimes"),
    );
    d.write(".hidden.yaml", "this: [is: not: read");
    let mut s = d.source();
    let u = s.poll().unwrap().unwrap();
    assert_eq!(u.state.remotes.keys().collect::<Vec<_>>(), ["cluster2"]);
    let find = |file: &str| {
        u.warnings
            .iter()
            .find(|w| w.origin.ends_with(file))
            .unwrap_or_else(|| panic!("no warning for {file}: {:?}", u.warnings))
            .message
            .clone()
    };
    assert!(
        find("broken.yaml").starts_with("not valid YAML"),
        "{}",
        find("broken.yaml")
    );
    assert_eq!(find("gateway.yaml"), r#"unknown kind "Gateway"; skipped"#);
    assert!(find("other-group.yaml").contains(r#"apiVersion "example.com/v1""#));
    assert!(find("bad-cidr.yaml").contains(r#"spec.subnets entry "10.4.0.0/33" is not a CIDR"#));
    assert!(find("bad-type.yaml").starts_with(r#"invalid Endpoint "cluster6-"#));
    assert_eq!(u.warnings.len(), 5, "{:?}", u.warnings);
    // The warning names the file and the message is one line.
    for w in &u.warnings {
        assert!(w.origin.starts_with(&d.dir.path().display().to_string()));
        assert!(!w.to_string().contains('\n'), "{w}");
    }

    // Fixing a broken file brings its endpoint in.
    d.write(
        "broken.yaml",
        &endpoint_yaml("cluster7", "172.18.0.13", &["10.7.0.0/16"]),
    );
    let u = s.poll().unwrap().unwrap();
    assert_eq!(u.diff.added, ["cluster7"]);
    assert!(u.warnings.is_empty());

    // Breaking it again keeps its last valid contents (a half-written file
    // does not tear the cable down) and says so.
    d.write("broken.yaml", "kind: Endpoint\nspec: {cluster_id: [\n");
    assert_eq!(s.poll().unwrap(), None);
    assert!(s.state().remotes.contains_key("cluster7"));
}

#[test]
fn lists_and_duplicates() {
    let d = Dir::new();
    let ep2 = endpoint_yaml("cluster2", "172.18.0.7", &["10.2.0.0/16"]);
    let ep3 = endpoint_yaml("cluster3", "172.18.0.9", &["10.3.0.0/16"]);
    let indent = |s: &str| {
        s.lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    format!("- {l}\n")
                } else {
                    format!("  {l}\n")
                }
            })
            .collect::<String>()
    };
    d.write(
        "a-list.yaml",
        &format!(
            "apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\nitems:\n{}{}",
            indent(&ep2),
            indent(&ep3)
        ),
    );
    d.write(
        "b-local.yaml",
        &endpoint_yaml("cluster1", "172.18.0.5", &["10.1.0.0/16"]),
    );
    d.write(
        "c-dup.yaml",
        &endpoint_yaml("cluster2", "172.18.0.8", &["10.2.0.0/16"]),
    );
    d.write(
        "d-dup-local.json",
        &serde_json::to_string(
            &serde_norway::from_str::<serde_json::Value>(&endpoint_yaml(
                "cluster1",
                "172.18.0.6",
                &["10.1.0.0/16"],
            ))
            .unwrap(),
        )
        .unwrap(),
    );
    let mut s = d.source();
    let u = s.poll().unwrap().unwrap();
    assert_eq!(
        u.state.local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.5"
    );
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.7"
    );
    assert_eq!(u.state.remotes.len(), 2);
    assert_eq!(u.warnings.len(), 2, "{:?}", u.warnings);
    let find = |file: &str| {
        let w = u.warnings.iter().find(|w| w.origin.ends_with(file));
        w.unwrap_or_else(|| panic!("no warning for {file}: {:?}", u.warnings))
            .message
            .clone()
    };
    // Neither has metadata saying which is newer: the first by name.
    let dup = find("c-dup.yaml");
    assert!(
        dup.contains(r#"another Endpoint for cluster "cluster2"; skipped"#),
        "{dup}"
    );
    assert!(dup.contains("a-list.yaml item 1"), "{dup}");
    assert!(dup.contains("the first by name"), "{dup}");
    let local = find("d-dup-local.json");
    assert!(
        local.contains(r#"a stale Endpoint of the local cluster "cluster1""#),
        "{local}"
    );
}

#[test]
fn missing_directory_is_an_error_at_start() {
    let d = Dir::new();
    let mut s = DirSource::new(d.dir.path().join("absent"), "cluster1");
    let e = s.poll().unwrap_err().to_string();
    assert!(e.starts_with("cannot read endpoints directory"), "{e}");
}

#[tokio::test]
async fn next_update_waits_for_changes() {
    let d = Dir::new();
    two_clusters(&d);
    let mut s = d.source().with_poll_interval(Duration::from_millis(10));
    let first = s.next_update().await.unwrap();
    assert_eq!(first.diff.added, ["cluster2"]);
    assert_eq!(s.name(), "directory");

    // No change: next_update keeps waiting.
    let waited = tokio::time::timeout(Duration::from_millis(100), s.next_update()).await;
    assert!(waited.is_err());

    d.remove("cluster2.yaml");
    let u = tokio::time::timeout(Duration::from_secs(5), s.next_update())
        .await
        .expect("change seen")
        .unwrap();
    assert_eq!(u.diff.removed, ["cluster2"]);
}

#[test]
fn missing_cable_name_is_derived() {
    let d = Dir::new();
    d.write(
        "c2.yaml",
        &endpoint_yaml("cluster2", "172.18.0.7", &["10.2.0.0/16"])
            .replace("  cable_name: submariner-cable-cluster2-172-18-0-7\n", ""),
    );
    let u = d.source().poll().unwrap().unwrap();
    assert!(u.warnings.is_empty(), "{:?}", u.warnings);
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.cable_name,
        "submariner-cable-cluster2-172-18-0-7"
    );
}

/// Issue 13, fault 6: an edit that made a remote Endpoint invalid removed
/// it, which tore its tunnel down (the Kubernetes source did the same).
/// Now the last valid version stays, with a warning, until the edit is
/// fixed; removing the file still removes the Endpoint.
#[test]
fn invalid_edit_keeps_the_last_valid_endpoint() {
    let d = Dir::new();
    two_clusters(&d);
    let mut s = d.source();
    s.poll().unwrap().expect("first state");
    let broken = endpoint_yaml("cluster2", "not-an-ip", &["100.2.0.0/16"]);
    d.write("cluster2.yaml", &broken);
    let u = s.poll().unwrap();
    let state = u.as_ref().map_or(&s.state, |u| &u.state);
    let remote = &state.remotes["cluster2"];
    assert_eq!(
        remote.endpoint.private_ip, "172.18.0.7",
        "the last valid spec"
    );
    if let Some(u) = &u {
        assert!(
            u.warnings
                .iter()
                .any(|w| w.message.contains("last valid version")),
            "{:?}",
            u.warnings
        );
    }
    // Fixed: the new version is taken.
    d.write(
        "cluster2.yaml",
        &endpoint_yaml("cluster2", "172.18.0.9", &["100.2.0.0/16"]),
    );
    let u = s.poll().unwrap().expect("changed");
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.9"
    );
    // Broken again, then removed: gone.
    d.write("cluster2.yaml", &broken);
    let _ = s.poll().unwrap();
    d.remove("cluster2.yaml");
    let u = s.poll().unwrap().expect("removed");
    assert!(u.state.remotes.is_empty());
}

/// Issue 13, fault 6: the invalid edit is shown on the connection, not
/// only logged. Before, nothing in the desired state said that the
/// Endpoint in use was not the one in the file.
#[test]
fn invalid_edit_is_noted_for_the_connection_until_fixed() {
    let d = Dir::new();
    two_clusters(&d);
    let mut s = d.source();
    let first = s.poll().unwrap().expect("first state");
    assert!(first.state.notes.is_empty());
    d.write(
        "cluster2.yaml",
        &endpoint_yaml("cluster2", "not-an-ip", &["100.2.0.0/16"]),
    );
    let u = s.poll().unwrap().expect("the note is a change");
    let note = &u.state.notes["cluster2"];
    assert!(
        note.contains("latest edit") && note.contains("not-an-ip"),
        "{note}"
    );
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.7"
    );
    // Another file changing meanwhile keeps the note.
    d.write(
        "cluster3.yaml",
        &endpoint_yaml("cluster3", "172.18.0.11", &["100.3.0.0/16"]),
    );
    let u = s.poll().unwrap().expect("cluster3 added");
    assert!(
        u.state.notes.contains_key("cluster2"),
        "{:?}",
        u.state.notes
    );
    // Fixed: the note goes.
    d.write(
        "cluster2.yaml",
        &endpoint_yaml("cluster2", "172.18.0.9", &["100.2.0.0/16"]),
    );
    let u = s.poll().unwrap().expect("fixed");
    assert!(u.state.notes.is_empty(), "{:?}", u.state.notes);
}

/// Issue 13, item 11: a slow file system (a hung network mount) must not
/// stall the runtime the daemon's other tasks run on. The reader here
/// takes 300 ms; on a single-threaded runtime a 20 ms timer must still
/// fire long before the directory has been read. Before, the files were
/// read on the runtime's own thread, and the timer waited for the read.
#[test]
fn slow_file_reads_do_not_block_the_runtime() {
    fn slow(dir: &std::path::Path) -> Result<Snapshot, SourceError> {
        std::thread::sleep(Duration::from_millis(300));
        read_snapshot(dir)
    }
    let d = Dir::new();
    two_clusters(&d);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let order = rt.block_on(async {
        let mut s = d.source().with_reader(slow);
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let o = order.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            o.lock().unwrap().push("timer");
        });
        let o = order.clone();
        let read = tokio::spawn(async move {
            let u = s.next_update().await.unwrap();
            o.lock().unwrap().push("read");
            u
        });
        let u = read.await.unwrap();
        timer.await.unwrap();
        assert_eq!(u.diff.added, ["cluster2"]);
        let v = order.lock().unwrap().clone();
        v
    });
    assert_eq!(order, ["timer", "read"]);
}

/// `endpoint_yaml` with `metadata.creationTimestamp` and
/// `metadata.resourceVersion` (either left out when empty).
fn aged(yaml: &str, created: &str, rv: &str) -> String {
    let mut meta = String::new();
    if !created.is_empty() {
        meta.push_str(&format!("  creationTimestamp: \"{created}\"\n"));
    }
    if !rv.is_empty() {
        meta.push_str(&format!("  resourceVersion: \"{rv}\"\n"));
    }
    yaml.replacen(
        "  namespace: submariner-operator\n",
        &format!("  namespace: submariner-operator\n{meta}"),
        1,
    )
}

/// Issue 13, fault 5: of two Endpoints of one remote cluster (a failover
/// leaves the old gateway's behind) the one in the file that sorts first
/// was used, whatever their age. Now the newest is, by creationTimestamp,
/// then resourceVersion, then file name, whatever the file order, and the
/// skipped one is reported with the one used and why.
#[test]
fn the_newest_endpoint_of_a_remote_cluster_wins() {
    let d = Dir::new();
    d.write(
        "cluster1.yaml",
        &endpoint_yaml("cluster1", "172.18.0.5", &["10.1.0.0/16"]),
    );
    // The old gateway's sorts first; the new one was created a day later.
    d.write(
        "a-old.yaml",
        &aged(
            &endpoint_yaml("cluster2", "172.18.0.7", &["10.2.0.0/16"]),
            "2024-05-01T09:00:00Z",
            "9000",
        ),
    );
    d.write(
        "b-new.yaml",
        &aged(
            &endpoint_yaml("cluster2", "172.18.0.8", &["10.2.0.0/16"]),
            "2024-05-02T09:00:00Z",
            "1200",
        ),
    );
    let mut s = d.source();
    let u = s.poll().unwrap().unwrap();
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip, "172.18.0.8",
        "the newest, not the first by name (nor the greater resourceVersion)"
    );
    assert_eq!(u.warnings.len(), 1, "{:?}", u.warnings);
    let w = &u.warnings[0];
    assert!(w.origin.ends_with("a-old.yaml"), "{w}");
    assert!(
        w.message
            .starts_with(r#"another Endpoint for cluster "cluster2"; skipped: using the one in "#)
            && w.message.contains("b-new.yaml, the newest (created 2024-05-02T09:00:00Z; the skipped one has created 2024-05-01T09:00:00Z)"),
        "{w}"
    );

    // The same times (whole seconds): the later resourceVersion wins.
    d.write(
        "a-old.yaml",
        &aged(
            &endpoint_yaml("cluster2", "172.18.0.7", &["10.2.0.0/16"]),
            "2024-05-02T09:00:00Z",
            "1100",
        ),
    );
    let u = s.poll().unwrap();
    assert_eq!(u, None, "b-new.yaml still wins: {u:?}");
    d.write(
        "a-old.yaml",
        &aged(
            &endpoint_yaml("cluster2", "172.18.0.7", &["10.2.0.0/16"]),
            "2024-05-02T09:00:00Z",
            "1300",
        ),
    );
    let u = s.poll().unwrap().expect("a-old.yaml now wins");
    assert_eq!(u.diff.changed, ["cluster2"]);
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.7"
    );
    assert!(
        u.warnings[0].origin.ends_with("b-new.yaml")
            && u.warnings[0]
                .message
                .contains(r#"its resourceVersion "1300" is later than "1200""#),
        "{:?}",
        u.warnings
    );

    // One without a creationTimestamp (or with an unreadable one, or one
    // that is not even a string) is older than one with: the dated one
    // wins though it sorts last.
    d.write(
        "a-old.yaml",
        &aged(
            &endpoint_yaml("cluster2", "172.18.0.7", &["10.2.0.0/16"]),
            "",
            "99999",
        ),
    );
    d.write(
        "c-bad.yaml",
        &aged(
            &endpoint_yaml("cluster2", "172.18.0.9", &["10.2.0.0/16"]),
            "yesterday",
            "99999",
        ),
    );
    d.write(
        "d-number.yaml",
        &endpoint_yaml("cluster2", "172.18.0.10", &["10.2.0.0/16"]).replacen(
            "  namespace: submariner-operator\n",
            "  namespace: submariner-operator\n  creationTimestamp: 12\n",
            1,
        ),
    );
    let u = s.poll().unwrap().expect("b-new.yaml wins again");
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.8"
    );
    assert_eq!(u.warnings.len(), 3, "{:?}", u.warnings);
    assert!(
        u.warnings.iter().any(|w| w
            .message
            .contains(r#"an unreadable creationTimestamp "yesterday""#)),
        "{:?}",
        u.warnings
    );

    // Without any metadata: the file that sorts first (deterministic).
    for f in ["b-new.yaml", "c-bad.yaml", "d-number.yaml"] {
        d.remove(f);
    }
    d.write(
        "a-old.yaml",
        &endpoint_yaml("cluster2", "172.18.0.7", &["10.2.0.0/16"]),
    );
    d.write(
        "b-other.yaml",
        &endpoint_yaml("cluster2", "172.18.0.8", &["10.2.0.0/16"]),
    );
    let u = s.poll().unwrap().expect("changed");
    assert_eq!(
        u.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.7"
    );
    assert!(
        u.warnings[0].message.contains("the first by name"),
        "{:?}",
        u.warnings
    );
}

/// Issue 13, fault 5: of two Endpoints of the local cluster the one in the
/// file that sorts first was local. Now this node's own (its hostname) is,
/// else the newest; the other is reported as stale and left in place (the
/// directory source writes nothing).
#[test]
fn the_local_endpoint_is_this_nodes_else_the_newest() {
    let d = Dir::new();
    two_clusters(&d);
    // Another gateway node's Endpoint, newer, in a file that sorts first.
    d.write(
        "a-other-node.yaml",
        &aged(
            &endpoint_yaml("cluster1", "172.18.0.4", &["10.1.0.0/16"])
                .replace("hostname: cluster1-gw", "hostname: cluster1-worker2"),
            "2024-05-02T10:00:00Z",
            "",
        ),
    );
    d.write(
        "cluster1.yaml",
        &aged(
            &endpoint_yaml("cluster1", "172.18.0.5", &["10.1.0.0/16"]),
            "2024-05-02T09:00:00Z",
            "",
        ),
    );
    // This node is cluster1-gw: its own Endpoint, though older.
    let u = d
        .source()
        .with_hostname("cluster1-gw")
        .poll()
        .unwrap()
        .unwrap();
    assert_eq!(
        u.state.local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.5"
    );
    assert_eq!(u.warnings.len(), 1, "{:?}", u.warnings);
    assert!(u.warnings[0].origin.ends_with("a-other-node.yaml"));
    assert!(
        u.warnings[0].message.starts_with(
            r#"a stale Endpoint of the local cluster "cluster1" (cable "submariner-cable-cluster1-172-18-0-4", hostname "cluster1-worker2"); not used: this gateway's is the one in "#
        ) && u.warnings[0]
            .message
            .ends_with(r#"cluster1.yaml: the hostname "cluster1-gw" is this node's"#),
        "{}",
        u.warnings[0]
    );
    // The stale file is left alone.
    assert!(d.dir.path().join("a-other-node.yaml").exists());

    // A node whose hostname matches neither: the newest.
    let u = d
        .source()
        .with_hostname("elsewhere")
        .poll()
        .unwrap()
        .unwrap();
    assert_eq!(
        u.state.local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.4"
    );
    assert!(u.warnings[0].origin.ends_with("/cluster1.yaml"));
    assert!(
        u.warnings[0].message.contains("the newest"),
        "{:?}",
        u.warnings
    );
    // Without a hostname too.
    let u = d.source().poll().unwrap().unwrap();
    assert_eq!(
        u.state.local.as_ref().unwrap().endpoint.private_ip,
        "172.18.0.4"
    );
}
