//! The Kubernetes source, the local Endpoint publisher and the Gateway
//! status writer against kube's mock service (`tower_test::mock::pair`): no
//! API server can run here, so each test scripts the API server's answers
//! and checks the requests the engine makes.

use std::time::Duration;

use cable_engine::crd::{Connection, ConnectionStatus, EndpointSpec, LatencyRtt};
use cable_engine::source::kube::publish::{
    publish_local_endpoint, spawn_local_publisher, LocalObjects,
};
use cable_engine::source::kube::KubeSource;
use cable_engine::source::{EndpointSource, SourceUpdate};
use cable_engine::status::gateway::{spawn_gateway_writer, NO_MANAGER_FAILURE};
use http::{Request, Response, StatusCode};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::watch;
use tower_test::mock::{self, SendResponse};

const NS: &str = "submariner-operator";
const WAIT: Duration = Duration::from_secs(20);

type Handle = mock::Handle<Request<Body>, Response<Body>>;
type Reply = SendResponse<Response<Body>>;

/// A request as the test sees it.
struct Seen {
    method: http::Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
    reply: Reply,
}

impl Seen {
    fn is_watch(&self) -> bool {
        self.query.contains("watch=true")
    }

    fn resource_version(&self) -> Option<String> {
        self.query
            .split('&')
            .find_map(|kv| kv.strip_prefix("resourceVersion="))
            .map(str::to_string)
    }

    fn respond(self, status: StatusCode, body: Vec<u8>) {
        self.reply.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(body))
                .unwrap(),
        );
    }

    fn json(self, body: Value) {
        self.respond(StatusCode::OK, serde_json::to_vec(&body).unwrap());
    }

    /// A watch response: the events, one JSON object a line; the stream
    /// ends after them.
    fn events(self, events: &[Value]) {
        let mut body = Vec::new();
        for e in events {
            body.extend(serde_json::to_vec(e).unwrap());
            body.push(b'\n');
        }
        self.respond(StatusCode::OK, body);
    }
}

/// The scripted API server: requests of the two watchers arrive in any
/// order, so those not asked for yet are kept until they are.
struct Server {
    handle: Handle,
    stash: Vec<Seen>,
}

impl Server {
    fn new() -> (Client, Server) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        (
            Client::new(service, NS),
            Server {
                handle,
                stash: Vec::new(),
            },
        )
    }

    async fn receive(&mut self) -> Seen {
        let (request, reply) = tokio::time::timeout(WAIT, self.handle.next_request())
            .await
            .expect("no request in time")
            .expect("client gone");
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        Seen {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            },
            reply,
        }
    }

    /// The next request for `plural` that is (or is not) a watch.
    async fn take(&mut self, plural: &str, watch: bool) -> Seen {
        let path = format!("/apis/submariner.io/v1/namespaces/{NS}/{plural}");
        let matches = |s: &Seen| s.path == path && s.is_watch() == watch;
        if let Some(i) = self.stash.iter().position(matches) {
            return self.stash.remove(i);
        }
        loop {
            let seen = self.receive().await;
            if matches(&seen) {
                return seen;
            }
            self.stash.push(seen);
        }
    }
}

fn endpoint(cluster: &str, ip: &str, rv: &str) -> Value {
    let cable = format!("submariner-cable-{cluster}-{}", ip.replace('.', "-"));
    json!({
        "apiVersion": "submariner.io/v1",
        "kind": "Endpoint",
        "metadata": {
            "name": format!("{cluster}-{cable}"),
            "namespace": NS,
            "resourceVersion": rv,
        },
        "spec": {
            "cluster_id": cluster,
            "cable_name": cable,
            "hostname": format!("{cluster}-gw"),
            "subnets": ["10.0.0.0/16"],
            "private_ip": ip,
            "public_ip": "",
            "nat_enabled": false,
            "backend": "libreswan",
            "backend_config": {"udp-port": "4500"},
        }
    })
}

fn cluster(id: &str, rv: &str) -> Value {
    json!({
        "apiVersion": "submariner.io/v1",
        "kind": "Cluster",
        "metadata": {"name": id, "namespace": NS, "resourceVersion": rv},
        "spec": {
            "cluster_id": id,
            "color_codes": ["blue"],
            "service_cidr": ["100.0.0.0/16"],
            "cluster_cidr": ["10.0.0.0/16"],
            "global_cidr": [],
        }
    })
}

fn list(kind: &str, rv: &str, items: Vec<Value>) -> Value {
    json!({
        "apiVersion": "submariner.io/v1",
        "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": rv},
        "items": items,
    })
}

fn event(kind: &str, object: Value) -> Value {
    json!({"type": kind, "object": object})
}

fn status_error(code: u16, reason: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": format!("scripted {reason}"),
        "reason": reason,
        "code": code,
    })
}

#[track_caller]
fn next_update(source: &mut KubeSource) -> impl std::future::Future<Output = SourceUpdate> + '_ {
    let caller = std::panic::Location::caller();
    async move {
        match tokio::time::timeout(WAIT, source.next_update()).await {
            Ok(Ok(u)) => u,
            other => panic!("no update at {caller}: {other:?}"),
        }
    }
}

fn remote_ids(u: &SourceUpdate) -> Vec<&str> {
    u.state.remotes.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn source_lists_watches_relists_and_skips_malformed_objects() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
    let (client, mut api) = Server::new();
    let mut source = KubeSource::new(client, NS, "cluster1");
    assert_eq!(source.name(), "kubernetes");

    // Endpoints: the local one, a remote one, and a malformed one (subnets
    // is not a list) that must be reported by namespace/name and skipped.
    let mut malformed = endpoint("cluster9", "172.18.0.9", "3");
    malformed["metadata"]["name"] = json!("broken");
    malformed["spec"]["subnets"] = json!("10.9.0.0/16");
    let mut bad_ip = endpoint("cluster8", "172.18.0.8", "4");
    bad_ip["metadata"]["name"] = json!("bad-ip");
    bad_ip["spec"]["private_ip"] = json!("not-an-ip");
    api.take("endpoints", false).await.json(list(
        "Endpoint",
        "10",
        vec![
            endpoint("cluster1", "172.18.0.5", "1"),
            malformed,
            endpoint("cluster2", "172.18.0.7", "2"),
            bad_ip,
        ],
    ));
    // Clusters: the first list fails (the API server is not ready); the
    // watcher backs off and lists again.
    api.take("clusters", false).await.respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        serde_json::to_vec(&status_error(500, "InternalError")).unwrap(),
    );
    api.take("clusters", false).await.json(list(
        "Cluster",
        "20",
        vec![cluster("cluster1", "5"), cluster("cluster2", "6")],
    ));

    let first = next_update(&mut source).await;
    let local = first.state.local.as_ref().expect("local endpoint");
    assert_eq!(
        local.endpoint.cable_name,
        "submariner-cable-cluster1-172-18-0-5"
    );
    assert_eq!(
        local.cluster.as_ref().map(|c| c.service_cidr.clone()),
        Some(vec!["100.0.0.0/16".to_string()])
    );
    assert_eq!(remote_ids(&first), ["cluster2"]);
    assert!(first.state.remotes["cluster2"].cluster.is_some());
    assert_eq!(first.diff.added, ["cluster2"]);
    let warned: Vec<&str> = first.warnings.iter().map(|w| w.origin.as_str()).collect();
    assert!(warned.contains(&"submariner-operator/broken"), "{warned:?}");
    assert!(warned.contains(&"submariner-operator/bad-ip"), "{warned:?}");
    let bad_ip_warning = first
        .warnings
        .iter()
        .find(|w| w.origin.ends_with("/bad-ip"))
        .unwrap();
    assert!(
        bad_ip_warning.message.contains("not-an-ip"),
        "{}",
        bad_ip_warning.message
    );

    // The endpoints watch starts from the list's version, reports a change,
    // then the API server says the version is too old (410): relist.
    let w = api.take("endpoints", true).await;
    assert_eq!(w.resource_version().as_deref(), Some("10"));
    let mut moved = endpoint("cluster2", "172.18.0.77", "11");
    moved["metadata"]["name"] = endpoint("cluster2", "172.18.0.7", "2")["metadata"]["name"].clone();
    w.events(&[
        event("MODIFIED", moved),
        event("ERROR", status_error(410, "Expired")),
    ]);
    let changed = next_update(&mut source).await;
    assert_eq!(changed.diff.changed, ["cluster2"]);
    assert_eq!(
        changed.state.remotes["cluster2"].endpoint.private_ip,
        "172.18.0.77"
    );

    // The relist no longer has cluster2 (deleted while the watch was down)
    // nor the malformed objects, and has a new cluster3.
    api.take("endpoints", false).await.json(list(
        "Endpoint",
        "30",
        vec![
            endpoint("cluster1", "172.18.0.5", "1"),
            endpoint("cluster3", "172.18.0.8", "12"),
        ],
    ));
    let relisted = next_update(&mut source).await;
    assert_eq!(relisted.diff.added, ["cluster3"]);
    assert_eq!(relisted.diff.removed, ["cluster2"]);
    assert!(!relisted.diff.local_changed);
    assert_eq!(remote_ids(&relisted), ["cluster3"]);
    assert!(relisted.state.remotes["cluster3"].cluster.is_none());

    // The clusters watch simply ends: it is resumed from the last version,
    // without a relist, and then reports cluster3's Cluster.
    let w = api.take("clusters", true).await;
    assert_eq!(w.resource_version().as_deref(), Some("20"));
    w.events(&[]);
    let w = api.take("clusters", true).await;
    assert_eq!(w.resource_version().as_deref(), Some("20"));
    w.events(&[event("ADDED", cluster("cluster3", "21"))]);
    let with_cluster = next_update(&mut source).await;
    assert_eq!(with_cluster.diff.changed, ["cluster3"]);
    assert!(with_cluster.state.remotes["cluster3"].cluster.is_some());

    // The endpoints watch after the relist starts from the relist's version;
    // a deletion disconnects.
    let w = api.take("endpoints", true).await;
    assert_eq!(w.resource_version().as_deref(), Some("30"));
    w.events(&[event("DELETED", endpoint("cluster3", "172.18.0.8", "31"))]);
    let deleted = next_update(&mut source).await;
    assert_eq!(deleted.diff.removed, ["cluster3"]);
    assert!(deleted.state.remotes.is_empty());
    assert!(deleted.state.local.is_some());

    // No list was ever repeated for the clusters after the failed one.
    assert!(
        api.stash.iter().all(|s| s.is_watch()),
        "unexpected requests: {:?}",
        api.stash
            .iter()
            .map(|s| format!("{} {}?{}", s.method, s.path, s.query))
            .collect::<Vec<_>>()
    );
}

fn local_spec(ip: &str) -> EndpointSpec {
    serde_json::from_value(endpoint("cluster1", ip, "1")["spec"].clone()).unwrap()
}

#[tokio::test]
async fn local_endpoint_is_applied_under_its_submariner_name() {
    let (client, mut api) = Server::new();
    let spec = local_spec("172.18.0.5");
    let task = tokio::spawn(async move { publish_local_endpoint(client, NS, &spec).await });
    let name = "cluster1-submariner-cable-cluster1-172-18-0-5";
    let seen = api.receive().await;
    assert_eq!(seen.method, http::Method::PATCH);
    assert_eq!(
        seen.path,
        format!("/apis/submariner.io/v1/namespaces/{NS}/endpoints/{name}")
    );
    assert!(
        seen.query.contains("fieldManager=cable-engine"),
        "{}",
        seen.query
    );
    assert!(seen.query.contains("force=true"), "{}", seen.query);
    assert_eq!(seen.content_type, "application/apply-patch+yaml");
    assert_eq!(seen.body["apiVersion"], "submariner.io/v1");
    assert_eq!(seen.body["kind"], "Endpoint");
    assert_eq!(seen.body["metadata"]["name"], name);
    assert_eq!(seen.body["metadata"]["namespace"], NS);
    let spec = &seen.body["spec"];
    assert_eq!(spec["cluster_id"], "cluster1");
    assert_eq!(spec["cable_name"], "submariner-cable-cluster1-172-18-0-5");
    assert_eq!(spec["private_ip"], "172.18.0.5");
    assert_eq!(spec["nat_enabled"], false);
    assert_eq!(spec["backend"], "libreswan");
    assert_eq!(spec["backend_config"]["udp-port"], "4500");
    assert_eq!(spec["subnets"], json!(["10.0.0.0/16"]));
    let echo = seen.body.clone();
    seen.json(echo);
    assert_eq!(task.await.unwrap().unwrap(), name);
}

#[tokio::test]
async fn local_publisher_retries_and_republishes_on_change() {
    let (client, mut api) = Server::new();
    let (tx, rx) = watch::channel(LocalObjects {
        endpoint: local_spec("172.18.0.5"),
        cluster: None,
    });
    let task = spawn_local_publisher(client, NS.to_string(), rx);

    let first = api.receive().await;
    assert_eq!(first.method, http::Method::PATCH);
    first.respond(
        StatusCode::FORBIDDEN,
        serde_json::to_vec(&status_error(403, "Forbidden")).unwrap(),
    );
    // Retried after a delay.
    let again = api.receive().await;
    assert_eq!(again.body["spec"]["private_ip"], "172.18.0.5");
    let echo = again.body.clone();
    again.json(echo);
    // Published: the stale local Endpoints are looked for (none here).
    api.take("endpoints", false)
        .await
        .json(list("Endpoint", "30", vec![]));

    // A change (new private IP, and now the Cluster too) is published.
    tx.send(LocalObjects {
        endpoint: local_spec("172.18.0.6"),
        cluster: Some(cable_engine::crd::ClusterSpec {
            cluster_id: "cluster1".into(),
            service_cidr: vec!["100.0.0.0/16".into()],
            ..Default::default()
        }),
    })
    .unwrap();
    let c = api.receive().await;
    assert_eq!(
        c.path,
        format!("/apis/submariner.io/v1/namespaces/{NS}/clusters/cluster1")
    );
    assert_eq!(c.body["spec"]["service_cidr"], json!(["100.0.0.0/16"]));
    let echo = c.body.clone();
    c.json(echo);
    let e = api.receive().await;
    assert_eq!(
        e.path,
        format!(
            "/apis/submariner.io/v1/namespaces/{NS}/endpoints/cluster1-submariner-cable-cluster1-172-18-0-6"
        )
    );
    let echo = e.body.clone();
    e.json(echo);
    api.take("endpoints", false)
        .await
        .json(list("Endpoint", "31", vec![]));

    // The sender gone, the task ends.
    drop(tx);
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

/// Issue 13, fault 5: the local cluster's stale Endpoints (a previous
/// gateway node's, this node's old IP's) were never deleted, so they
/// lingered in every cluster that syncs them. Now, after each publish, the
/// publisher deletes every Endpoint of the local cluster but its own, as
/// Submariner's gateway does at start, and never another cluster's (not
/// even one whose id starts with ours), nor one whose cluster it cannot
/// read; a stale Endpoint already gone is fine.
#[tokio::test]
async fn stale_local_endpoints_are_deleted_after_publishing() {
    let (client, mut api) = Server::new();
    let (tx, rx) = watch::channel(LocalObjects {
        endpoint: local_spec("172.18.0.5"),
        cluster: None,
    });
    let task = spawn_local_publisher(client, NS.to_string(), rx);
    let path = |name: &str| format!("/apis/submariner.io/v1/namespaces/{NS}/endpoints/{name}");
    let own = "cluster1-submariner-cable-cluster1-172-18-0-5";

    let patch = api.receive().await;
    assert_eq!(
        (&patch.method, patch.path.as_str()),
        (&http::Method::PATCH, path(own).as_str())
    );
    let echo = patch.body.clone();
    patch.json(echo);

    let mut no_cluster = endpoint("cluster1", "172.18.0.3", "4");
    no_cluster["metadata"]["name"] = json!("unreadable");
    no_cluster["spec"]["cluster_id"] = json!(7);
    let listing = api.take("endpoints", false).await;
    assert_eq!(listing.method, http::Method::GET);
    listing.json(list(
        "Endpoint",
        "40",
        vec![
            endpoint("cluster1", "172.18.0.4", "1"), // another node's: stale
            endpoint("cluster1", "172.18.0.5", "2"), // this gateway's
            endpoint("cluster10", "172.18.0.10", "3"), // another cluster
            endpoint("cluster2", "172.18.0.7", "5"),
            no_cluster,
        ],
    ));
    let delete = api.receive().await;
    assert_eq!(delete.method, http::Method::DELETE);
    assert_eq!(
        delete.path,
        path("cluster1-submariner-cable-cluster1-172-18-0-4")
    );
    delete.json(status_ok());

    // This node's IP changes: the new Endpoint is published, then the
    // previous one (already gone: 404) is deleted.
    tx.send(LocalObjects {
        endpoint: local_spec("172.18.0.6"),
        cluster: None,
    })
    .unwrap();
    let patch = api.receive().await;
    assert_eq!(
        patch.path,
        path("cluster1-submariner-cable-cluster1-172-18-0-6")
    );
    let echo = patch.body.clone();
    patch.json(echo);
    api.take("endpoints", false).await.json(list(
        "Endpoint",
        "41",
        vec![
            endpoint("cluster1", "172.18.0.5", "2"),
            endpoint("cluster1", "172.18.0.6", "6"),
            endpoint("cluster2", "172.18.0.7", "5"),
        ],
    ));
    let delete = api.receive().await;
    assert_eq!(delete.method, http::Method::DELETE);
    assert_eq!(delete.path, path(own));
    delete.respond(
        StatusCode::NOT_FOUND,
        serde_json::to_vec(&status_error(404, "NotFound")).unwrap(),
    );

    // Nothing else is deleted; the sender gone, the task ends.
    drop(tx);
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    let rest = tokio::time::timeout(Duration::from_millis(200), api.handle.next_request()).await;
    assert!(
        matches!(rest, Ok(None) | Err(_)),
        "an unexpected request after the task ended"
    );
    assert!(api.stash.is_empty());
}

fn status_ok() -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success", "code": 200})
}

#[tokio::test(start_paused = true)]
async fn gateway_status_is_written_every_interval_with_submariners_names() {
    let (client, mut api) = Server::new();
    let local = EndpointSpec {
        hostname: "Worker-1".into(),
        ..local_spec("172.18.0.5")
    };
    let connection = Connection {
        status: ConnectionStatus::Connected,
        status_message: String::new(),
        endpoint: local_spec("172.18.0.7"),
        using_ip: "172.18.0.7".into(),
        using_nat: true,
        latency_rtt: Some(LatencyRtt {
            last: "388.079µs".into(),
            min: "300µs".into(),
            average: "350µs".into(),
            max: "400µs".into(),
            std_dev: "20µs".into(),
        }),
    };
    let (conn_tx, conn_rx) = watch::channel(vec![connection]);
    let (_local_tx, local_rx) = watch::channel(local);
    let name = "worker-1";
    let writer = spawn_gateway_writer(client, NS.to_string(), name.to_string(), conn_rx, local_rx);

    let started = tokio::time::Instant::now();
    let seen = api.receive().await;
    assert_eq!(seen.method, http::Method::PATCH);
    assert_eq!(
        seen.path,
        format!("/apis/submariner.io/v1/namespaces/{NS}/gateways/{name}")
    );
    assert_eq!(seen.content_type, "application/apply-patch+yaml");
    assert!(seen.query.contains("fieldManager=cable-engine"));
    let gw = &seen.body;
    assert_eq!(gw["apiVersion"], "submariner.io/v1");
    assert_eq!(gw["kind"], "Gateway");
    assert_eq!(gw["metadata"]["name"], name);
    assert_eq!(gw["metadata"]["namespace"], NS);
    assert!(gw["metadata"]["annotations"]["update-timestamp"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    let status = &gw["status"];
    assert_eq!(status["haStatus"], "active");
    assert!(status["version"].as_str().unwrap().starts_with('v'));
    assert_eq!(status["statusFailure"], "");
    assert_eq!(status["localEndpoint"]["hostname"], "Worker-1");
    assert_eq!(status["localEndpoint"]["cluster_id"], "cluster1");
    let c = &status["connections"][0];
    assert_eq!(c["status"], "connected");
    assert_eq!(c["statusMessage"], "");
    assert_eq!(c["endpoint"]["private_ip"], "172.18.0.7");
    assert_eq!(
        c["endpoint"]["cable_name"],
        "submariner-cable-cluster1-172-18-0-7"
    );
    assert_eq!(c["usingIP"], "172.18.0.7");
    assert_eq!(c["usingNAT"], true);
    assert_eq!(
        c["latencyRTT"],
        json!({"last": "388.079µs", "min": "300µs", "average": "350µs", "max": "400µs", "stdDev": "20µs"})
    );
    // A failed write is retried at the next tick.
    seen.respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        serde_json::to_vec(&status_error(500, "InternalError")).unwrap(),
    );

    let second = api.receive().await;
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(
        second.body["status"]["connections"][0]["status"],
        "connected"
    );
    let echo = second.body.clone();
    second.json(echo);

    // After a successful write, stale Gateways of other nodes are deleted:
    // one not updated for 100 s, one without a timestamp; a fresh one and
    // our own stay.
    let listed = api.receive().await;
    assert_eq!(listed.method, http::Method::GET);
    assert_eq!(
        listed.path,
        format!("/apis/submariner.io/v1/namespaces/{NS}/gateways")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let gw = |name: &str, ts: Option<u64>| {
        let mut meta = json!({"name": name, "namespace": NS});
        if let Some(ts) = ts {
            meta["annotations"] = json!({"update-timestamp": ts.to_string()});
        }
        json!({"apiVersion": "submariner.io/v1", "kind": "Gateway", "metadata": meta, "status": {}})
    };
    listed.json(list(
        "Gateway",
        "40",
        vec![
            gw(name, Some(now - 100)),
            gw("old-node", Some(now - 100)),
            gw("fresh-node", Some(now)),
            gw("no-stamp", None),
        ],
    ));
    for stale in ["old-node", "no-stamp"] {
        let del = api.receive().await;
        assert_eq!(del.method, http::Method::DELETE);
        assert_eq!(
            del.path,
            format!("/apis/submariner.io/v1/namespaces/{NS}/gateways/{stale}")
        );
        del.json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}));
    }

    // Without the connection manager, the status says so.
    drop(conn_tx);
    let third = api.receive().await;
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(third.body["status"]["statusFailure"], NO_MANAGER_FAILURE);
    assert_eq!(third.body["status"]["connections"], json!([]));
    let echo = third.body.clone();
    third.json(echo);
    writer.abort();
}

#[tokio::test]
async fn gateway_is_deleted_on_stop_and_a_missing_one_is_fine() {
    let (client, mut api) = Server::new();
    let task = tokio::spawn(async move {
        cable_engine::status::gateway::delete_gateway(client, NS, "worker-1").await
    });
    let seen = api.receive().await;
    assert_eq!(seen.method, http::Method::DELETE);
    assert_eq!(
        seen.path,
        format!("/apis/submariner.io/v1/namespaces/{NS}/gateways/worker-1")
    );
    seen.respond(
        StatusCode::NOT_FOUND,
        serde_json::to_vec(&status_error(404, "NotFound")).unwrap(),
    );
    task.await.unwrap().unwrap();
}
