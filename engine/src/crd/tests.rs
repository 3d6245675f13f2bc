//! (De)serialisation of Submariner objects as `kubectl get -o yaml` prints them.

use super::*;

const ENDPOINT_YAML: &str = r#"apiVersion: submariner.io/v1
kind: Endpoint
metadata:
  creationTimestamp: "2024-05-02T09:12:44Z"
  generation: 1
  labels:
    submariner-io/clusterID: cluster2
  name: cluster2-submariner-cable-cluster2-172-18-0-7
  namespace: submariner-operator
  resourceVersion: "1283"
  uid: 3c1e4d0a-6f0e-4a59-9a0f-2f7f5b8c7d11
spec:
  backend: libreswan
  backend_config:
    natt-discovery-port: "4490"
    preferred-server: "false"
    udp-port: "4500"
  cable_name: submariner-cable-cluster2-172-18-0-7
  cluster_id: cluster2
  healthCheckIP: 10.3.224.0
  hostname: cluster2-worker
  nat_enabled: false
  private_ip: 172.18.0.7
  public_ip: 203.0.113.7
  subnets:
  - 100.3.0.0/16
  - 10.3.0.0/16
"#;

#[test]
fn endpoint_from_kubectl_yaml() {
    let ep: Endpoint = serde_norway::from_str(ENDPOINT_YAML).unwrap();
    assert_eq!(ep.api_version, API_VERSION);
    assert_eq!(ep.kind, KIND_ENDPOINT);
    assert_eq!(
        ep.metadata.name,
        "cluster2-submariner-cable-cluster2-172-18-0-7"
    );
    assert_eq!(ep.metadata.namespace, "submariner-operator");
    assert_eq!(ep.metadata.resource_version, "1283");
    assert_eq!(ep.metadata.labels["submariner-io/clusterID"], "cluster2");
    let s = &ep.spec;
    assert_eq!(s.cluster_id, "cluster2");
    assert_eq!(s.cable_name, "submariner-cable-cluster2-172-18-0-7");
    assert_eq!(s.health_check_ip, "10.3.224.0");
    assert_eq!(s.hostname, "cluster2-worker");
    assert_eq!(s.subnets, ["100.3.0.0/16", "10.3.0.0/16"]);
    assert_eq!(s.private_ip, "172.18.0.7");
    assert_eq!(s.public_ip, "203.0.113.7");
    assert!(!s.nat_enabled);
    assert_eq!(s.backend, "libreswan");
    assert_eq!(s.backend_port(UDP_PORT_CONFIG, 1), Ok(4500));
    assert_eq!(s.backend_bool(PREFERRED_SERVER_CONFIG), Ok(Some(false)));
    assert_eq!(s.backend_bool(USING_LOAD_BALANCER_CONFIG), Ok(None));
    assert!(s.validate().is_ok());
}

#[test]
fn endpoint_spec_json_names_are_exact() {
    let ep: Endpoint = serde_norway::from_str(ENDPOINT_YAML).unwrap();
    let v = serde_json::to_value(&ep.spec).unwrap();
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "backend",
            "backend_config",
            "cable_name",
            "cluster_id",
            "healthCheckIP",
            "hostname",
            "nat_enabled",
            "private_ip",
            "public_ip",
            "subnets"
        ]
    );
    // Round trip.
    let back: EndpointSpec = serde_json::from_value(v).unwrap();
    assert_eq!(back, ep.spec);
}

#[test]
fn dual_stack_fields_and_go_nulls() {
    let json = r#"{
      "apiVersion": "submariner.io/v1", "kind": "Endpoint",
      "metadata": {"name": "c3", "labels": null},
      "spec": {
        "cluster_id": "cluster3", "cable_name": "submariner-cable-cluster3-10-0-0-3",
        "healthCheckIPs": ["10.4.0.1", "fd00:4::1"],
        "hostname": "gw3", "subnets": null,
        "private_ip": "10.0.0.3", "privateIPs": ["10.0.0.3", "fd00::3"],
        "public_ip": "", "publicIPs": ["198.51.100.3"],
        "nat_enabled": true, "backend": "libreswan", "backend_config": null,
        "someFutureField": {"x": 1}
      }
    }"#;
    let ep: Endpoint = serde_json::from_str(json).unwrap();
    let s = &ep.spec;
    assert!(s.subnets.is_empty() && s.backend_config.is_empty());
    assert_eq!(s.health_check_ips, ["10.4.0.1", "fd00:4::1"]);
    assert_eq!(s.private_ips, ["10.0.0.3", "fd00::3"]);
    assert_eq!(s.public_ips, ["198.51.100.3"]);
    assert_eq!(s.public_addr(), Some("198.51.100.3".parse().unwrap()));
    assert_eq!(s.health_check_addr(true), Some("10.4.0.1".parse().unwrap()));
    assert_eq!(
        s.health_check_addr(false),
        Some("fd00:4::1".parse().unwrap())
    );
    let out = serde_json::to_value(s).unwrap();
    assert_eq!(out["healthCheckIPs"][1], "fd00:4::1");
    assert_eq!(out["privateIPs"][0], "10.0.0.3");
    assert_eq!(out["publicIPs"][0], "198.51.100.3");
    assert_eq!(out["subnets"], serde_json::json!([]));
    assert!(out.get("healthCheckIP").is_none() && out.get("backend_config").is_none());
}

#[test]
fn endpoint_validation_names_the_field() {
    let ep: Endpoint = serde_norway::from_str(ENDPOINT_YAML).unwrap();
    let mut s = ep.spec.clone();
    s.subnets.push("10.0.0.0/40".into());
    assert_eq!(
        s.validate().unwrap_err(),
        r#"spec.subnets entry "10.0.0.0/40" is not a CIDR"#
    );
    let mut s = ep.spec.clone();
    s.private_ip = "gw.example".into();
    assert_eq!(
        s.validate().unwrap_err(),
        r#"spec.private_ip "gw.example" is not an IP address"#
    );
    let mut s = ep.spec.clone();
    s.cable_name.clear();
    assert_eq!(s.validate().unwrap_err(), "spec.cable_name is empty");
    let mut s = ep.spec;
    s.backend_config.insert(UDP_PORT_CONFIG.into(), "x".into());
    assert_eq!(
        s.backend_port(UDP_PORT_CONFIG, 4500)
            .unwrap_err()
            .to_string(),
        r#"invalid backend_config "udp-port" "x": expected a port number from 1 to 65535"#
    );
}

#[test]
fn cluster_from_kubectl_yaml() {
    let yaml = r#"apiVersion: submariner.io/v1
kind: Cluster
metadata:
  creationTimestamp: "2024-05-02T09:12:40Z"
  generation: 1
  name: cluster1
  namespace: submariner-operator
  resourceVersion: "1270"
  uid: 0b6a2f6e-2d4b-4a8e-8f44-5c3c1f7d2e01
spec:
  cluster_cidr:
  - 10.2.0.0/16
  cluster_id: cluster1
  color_codes:
  - blue
  global_cidr: []
  service_cidr:
  - 100.2.0.0/16
"#;
    let c: Cluster = serde_norway::from_str(yaml).unwrap();
    assert_eq!(c.kind, KIND_CLUSTER);
    assert_eq!(c.metadata.name, "cluster1");
    assert_eq!(c.spec.cluster_id, "cluster1");
    assert_eq!(c.spec.cluster_cidr, ["10.2.0.0/16"]);
    assert_eq!(c.spec.service_cidr, ["100.2.0.0/16"]);
    assert_eq!(c.spec.color_codes, ["blue"]);
    assert!(!c.spec.globalnet());
    let v = serde_json::to_value(&c.spec).unwrap();
    assert_eq!(v["global_cidr"], serde_json::json!([]));
    assert_eq!(v["service_cidr"][0], "100.2.0.0/16");
}

#[test]
fn gateway_status_from_kubectl_yaml_and_back() {
    let yaml = r#"apiVersion: submariner.io/v1
kind: Gateway
metadata:
  annotations:
    update-timestamp: "1714641300"
  name: cluster1-worker
  namespace: submariner-operator
status:
  connections:
  - endpoint:
      backend: libreswan
      backend_config:
        natt-discovery-port: "4490"
        preferred-server: "false"
        udp-port: "4500"
      cable_name: submariner-cable-cluster2-172-18-0-7
      cluster_id: cluster2
      healthCheckIP: 10.3.224.0
      hostname: cluster2-worker
      nat_enabled: false
      private_ip: 172.18.0.7
      public_ip: 203.0.113.7
      subnets:
      - 100.3.0.0/16
      - 10.3.0.0/16
    latencyRTT:
      average: 388.079µs
      last: 301.2µs
      max: 1.204ms
      min: 201.5µs
      stdDev: 96.42µs
    status: connected
    statusMessage: ""
    usingIP: 172.18.0.7
  - endpoint:
      backend: libreswan
      cable_name: submariner-cable-cluster3-172-18-0-9
      cluster_id: cluster3
      hostname: cluster3-worker
      nat_enabled: true
      private_ip: 172.18.0.9
      public_ip: 198.51.100.9
      subnets: null
    status: error
    statusMessage: Failed to successfully ping the remote endpoint IP "10.4.224.0"
    usingIP: 198.51.100.9
    usingNAT: true
  haStatus: active
  localEndpoint:
    backend: libreswan
    cable_name: submariner-cable-cluster1-172-18-0-5
    cluster_id: cluster1
    hostname: cluster1-worker
    nat_enabled: false
    private_ip: 172.18.0.5
    public_ip: 203.0.113.5
    subnets:
    - 100.2.0.0/16
    - 10.2.0.0/16
  statusFailure: ""
  version: v0.18.0
"#;
    let gw: Gateway = serde_norway::from_str(yaml).unwrap();
    assert_eq!(gw.kind, KIND_GATEWAY);
    let st = &gw.status;
    assert_eq!(st.ha_status, HaStatus::Active);
    assert_eq!(st.version, "v0.18.0");
    assert_eq!(st.local_endpoint.cluster_id, "cluster1");
    assert_eq!(st.connections.len(), 2);
    let c0 = &st.connections[0];
    assert_eq!(c0.status, ConnectionStatus::Connected);
    assert_eq!(c0.using_ip, "172.18.0.7");
    assert!(!c0.using_nat);
    let rtt = c0.latency_rtt.as_ref().unwrap();
    assert_eq!(rtt.average, "388.079µs");
    assert_eq!(rtt.std_dev, "96.42µs");
    let c1 = &st.connections[1];
    assert_eq!(c1.status, ConnectionStatus::Error);
    assert!(c1.using_nat && c1.latency_rtt.is_none());

    let v = serde_json::to_value(st).unwrap();
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "connections",
            "haStatus",
            "localEndpoint",
            "statusFailure",
            "version"
        ]
    );
    let c0v = &v["connections"][0];
    let mut ckeys: Vec<_> = c0v.as_object().unwrap().keys().cloned().collect();
    ckeys.sort();
    assert_eq!(
        ckeys,
        [
            "endpoint",
            "latencyRTT",
            "status",
            "statusMessage",
            "usingIP"
        ]
    );
    assert_eq!(c0v["latencyRTT"]["stdDev"], "96.42µs");
    assert_eq!(v["connections"][1]["usingNAT"], true);
    let back: GatewayStatus = serde_json::from_value(v).unwrap();
    assert_eq!(&back, st);
}

#[test]
fn connection_status_strings() {
    for (s, want) in [
        ("connected", ConnectionStatus::Connected),
        ("connecting", ConnectionStatus::Connecting),
        ("error", ConnectionStatus::Error),
        ("none", ConnectionStatus::None),
        ("", ConnectionStatus::None),
        ("weird", ConnectionStatus::None),
    ] {
        let got: ConnectionStatus = serde_json::from_value(serde_json::json!(s)).unwrap();
        assert_eq!(got, want, "{s:?}");
    }
    assert_eq!(
        serde_json::to_string(&ConnectionStatus::Error).unwrap(),
        r#""error""#
    );
    assert_eq!(ConnectionStatus::Connecting.to_string(), "connecting");
    let empty = GatewayStatus::default();
    assert_eq!(
        serde_json::to_value(&empty).unwrap()["connections"],
        serde_json::json!([])
    );
}
