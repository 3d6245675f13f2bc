//! Prometheus metrics with Submariner's names and labels, plus the engine's
//! own IKE counters.
//!
//! Submariner's gauges (`pkg/cable/metrics.go` upstream), labelled
//! `cable_driver`, `local_cluster`, `local_hostname`, `local_endpoint_ip`,
//! `remote_cluster`, `remote_hostname`, `remote_endpoint_ip`:
//! `submariner_gateway_rx_bytes`, `submariner_gateway_tx_bytes` (from the
//! kernel SA counters), `submariner_connections` (1, with `status`),
//! `submariner_connection_established_timestamp` (Unix seconds) and
//! `submariner_connection_latency_seconds` (last RTT); and the counter
//! `submariner_gateway_sync_iterations`. The endpoint IP labels carry the
//! public IPs, as upstream.
//!
//! The manager publishes a [`MetricsSnapshot`]; a scrape renders it into a
//! fresh registry, so nothing stale (a removed cable) survives.

use std::collections::BTreeMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::crd::EndpointSpec;

/// One cable's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct CableSample {
    pub remote: EndpointSpec,
    /// `connected`, `connecting`, `error`, `none`.
    pub status: String,
    /// When the cable last became connected (Unix seconds).
    pub established_unix: Option<u64>,
    /// Last health-check RTT in seconds.
    pub latency_seconds: Option<f64>,
    /// Bytes through the cable's inbound SAs.
    pub rx_bytes: u64,
    /// Bytes through the cable's outbound SAs.
    pub tx_bytes: u64,
}

/// IKE activity since start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IkeCounters {
    /// IKE SAs established, by role (`initiator` / `responder`).
    pub ike_established: BTreeMap<String, u64>,
    /// IKE negotiations that failed, by reason.
    pub ike_failures: BTreeMap<String, u64>,
    /// Child SAs installed in the kernel.
    pub child_installed: u64,
    /// Child SAs that replaced a rekeyed one.
    pub child_rekeys: u64,
    /// IKE SA rekeys.
    pub ike_rekeys: u64,
    /// Child SAs the kernel refused.
    pub child_install_failures: u64,
    /// Datagrams the IKE core dropped.
    pub ike_dropped: u64,
    /// INVALID_KE_PAYLOAD answers we sent (initiators asked for another
    /// DH group, e.g. libreswan opening with MODP2048).
    pub invalid_ke_sent: u64,
    /// INVALID_KE_PAYLOAD answers we received and followed.
    pub invalid_ke_received: u64,
    /// COOKIE answers sent: the responder was under load (many half-open
    /// IKE SAs) and asked initiators to prove their address first.
    pub cookies_sent: u64,
    /// IKE fragments (RFC 7383) sent and received, and messages put
    /// together from received fragments.
    pub fragments_sent: u64,
    pub fragments_received: u64,
    pub messages_reassembled: u64,
}

/// What the manager publishes for scrapes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub cables: Vec<CableSample>,
    pub counters: IkeCounters,
    /// Status publications (Submariner's gateway sync iterations).
    pub sync_iterations: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CableLabels {
    cable_driver: String,
    local_cluster: String,
    local_hostname: String,
    local_endpoint_ip: String,
    remote_cluster: String,
    remote_hostname: String,
    remote_endpoint_ip: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    #[prometheus(flatten)]
    cable: CableLabels,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabel {
    key: String,
}

fn labels(local: &EndpointSpec, remote: &EndpointSpec) -> CableLabels {
    let driver = if local.backend.is_empty() {
        "libreswan"
    } else {
        &local.backend
    };
    CableLabels {
        cable_driver: driver.to_string(),
        local_cluster: local.cluster_id.clone(),
        local_hostname: local.hostname.clone(),
        local_endpoint_ip: local.public_ip.clone(),
        remote_cluster: remote.cluster_id.clone(),
        remote_hostname: remote.hostname.clone(),
        remote_endpoint_ip: remote.public_ip.clone(),
    }
}

/// Render the snapshot in the Prometheus (OpenMetrics) text format.
pub fn render(local: &EndpointSpec, snap: &MetricsSnapshot) -> String {
    let mut reg = Registry::default();
    let rx = Family::<CableLabels, Gauge>::default();
    let tx = Family::<CableLabels, Gauge>::default();
    let conns = Family::<StatusLabels, Gauge>::default();
    let established = Family::<CableLabels, Gauge>::default();
    let latency = Family::<CableLabels, Gauge<f64, AtomicU64>>::default();
    for c in &snap.cables {
        let l = labels(local, &c.remote);
        rx.get_or_create(&l)
            .set(i64::try_from(c.rx_bytes).unwrap_or(i64::MAX));
        tx.get_or_create(&l)
            .set(i64::try_from(c.tx_bytes).unwrap_or(i64::MAX));
        if let Some(t) = c.established_unix {
            established
                .get_or_create(&l)
                .set(i64::try_from(t).unwrap_or(i64::MAX));
        }
        if let Some(s) = c.latency_seconds {
            latency.get_or_create(&l).set(s);
        }
        let s = StatusLabels {
            cable: l,
            status: c.status.clone(),
        };
        conns.get_or_create(&s).set(1);
    }
    reg.register(
        "submariner_gateway_rx_bytes",
        "Count of bytes received (by cable driver and cable)",
        rx,
    );
    reg.register(
        "submariner_gateway_tx_bytes",
        "Count of bytes transmitted (by cable driver and cable)",
        tx,
    );
    reg.register(
        "submariner_connections",
        "Number of connections and corresponding status (by cable driver and cable)",
        conns,
    );
    reg.register(
        "submariner_connection_established_timestamp",
        "Timestamp of last successful connection established (by cable driver and cable)",
        established,
    );
    reg.register(
        "submariner_connection_latency_seconds",
        "Connection latency in seconds (last RTT, by cable driver and cable)",
        latency,
    );
    // A counter upstream, but OpenMetrics counters gain a `_total` suffix
    // and dashboards query the bare name: exposed as a gauge to keep it.
    let sync: Gauge = Gauge::default();
    sync.set(i64::try_from(snap.sync_iterations).unwrap_or(i64::MAX));
    reg.register(
        "submariner_gateway_sync_iterations",
        "Gateway synchronization iterations",
        sync,
    );

    let k = &snap.counters;
    let by_key = |m: &BTreeMap<String, u64>| {
        let f = Family::<KeyLabel, Counter>::default();
        for (key, v) in m {
            f.get_or_create(&KeyLabel { key: key.clone() }).inc_by(*v);
        }
        f
    };
    reg.register(
        "cable_engine_ike_sa_established",
        "IKE SAs established (key: initiator or responder)",
        by_key(&k.ike_established),
    );
    reg.register(
        "cable_engine_ike_failures",
        "IKE negotiations that failed (key: reason)",
        by_key(&k.ike_failures),
    );
    for (name, help, v) in [
        (
            "cable_engine_child_sa_installed",
            "Child SAs installed in the kernel",
            k.child_installed,
        ),
        (
            "cable_engine_child_sa_rekeys",
            "Child SAs installed as the rekey of another",
            k.child_rekeys,
        ),
        ("cable_engine_ike_sa_rekeys", "IKE SA rekeys", k.ike_rekeys),
        (
            "cable_engine_child_sa_install_failures",
            "Child SAs the kernel refused",
            k.child_install_failures,
        ),
        (
            "cable_engine_ike_datagrams_dropped",
            "Datagrams the IKE core dropped as malformed or unexpected",
            k.ike_dropped,
        ),
        (
            "cable_engine_ike_invalid_ke_sent",
            "INVALID_KE_PAYLOAD answers sent (an initiator was asked for another DH group)",
            k.invalid_ke_sent,
        ),
        (
            "cable_engine_ike_invalid_ke_received",
            "INVALID_KE_PAYLOAD answers received (a responder asked for another DH group)",
            k.invalid_ke_received,
        ),
        (
            "cable_engine_ike_cookies_sent",
            "COOKIE answers sent (many half-open IKE SAs: initiators must prove their address)",
            k.cookies_sent,
        ),
        (
            "cable_engine_ike_fragments_sent",
            "IKE fragments sent (RFC 7383: messages larger than the fragment size)",
            k.fragments_sent,
        ),
        (
            "cable_engine_ike_fragments_received",
            "IKE fragments received and accepted",
            k.fragments_received,
        ),
        (
            "cable_engine_ike_messages_reassembled",
            "IKE messages put together from received fragments",
            k.messages_reassembled,
        ),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(v);
        reg.register(name, help, c);
    }
    let mut out = String::new();
    if encode(&mut out, &reg).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(cluster: &str, host: &str, ip: &str) -> EndpointSpec {
        EndpointSpec {
            cluster_id: cluster.into(),
            hostname: host.into(),
            public_ip: ip.into(),
            backend: "libreswan".into(),
            ..Default::default()
        }
    }

    #[test]
    fn renders_submariner_names_and_labels() {
        let snap = MetricsSnapshot {
            cables: vec![CableSample {
                remote: ep("c2", "gw2", "198.51.100.2"),
                status: "connected".into(),
                established_unix: Some(1_700_000_000),
                latency_seconds: Some(0.000388),
                rx_bytes: 1234,
                tx_bytes: 5678,
            }],
            counters: IkeCounters {
                ike_established: [("initiator".to_string(), 2)].into(),
                ike_failures: [("timeout".to_string(), 1)].into(),
                child_installed: 3,
                ..Default::default()
            },
            sync_iterations: 7,
        };
        let text = render(&ep("c1", "gw1", "198.51.100.1"), &snap);
        let labels = "cable_driver=\"libreswan\",local_cluster=\"c1\",local_hostname=\"gw1\",local_endpoint_ip=\"198.51.100.1\",remote_cluster=\"c2\",remote_hostname=\"gw2\",remote_endpoint_ip=\"198.51.100.2\"";
        for line in [
            format!("submariner_gateway_rx_bytes{{{labels}}} 1234"),
            format!("submariner_gateway_tx_bytes{{{labels}}} 5678"),
            format!("submariner_connections{{{labels},status=\"connected\"}} 1"),
            format!("submariner_connection_established_timestamp{{{labels}}} 1700000000"),
            format!("submariner_connection_latency_seconds{{{labels}}} 0.000388"),
            "submariner_gateway_sync_iterations 7".to_string(),
            "cable_engine_ike_sa_established_total{key=\"initiator\"} 2".to_string(),
            "cable_engine_ike_failures_total{key=\"timeout\"} 1".to_string(),
            "cable_engine_child_sa_installed_total 3".to_string(),
        ] {
            assert!(text.contains(&line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn a_removed_cable_leaves_no_series() {
        let text = render(&ep("c1", "gw1", "1.1.1.1"), &MetricsSnapshot::default());
        assert!(!text.contains("remote_cluster="), "{text}");
    }
}
