//! The `cable-engine` binary's command line: configuration errors (one line,
//! exit code 2, no PSK) and `show connections` against a control socket.

use std::path::Path;
use std::process::{Command, Output};

use cable_engine::control;
use cable_engine::crd::{Connection, ConnectionStatus, EndpointSpec, LatencyRtt};
use tokio::sync::watch;

const BIN: &str = env!("CARGO_BIN_EXE_cable-engine");
/// (environment, extra flags, expected start of the error line)
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);

const PSK: &str = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVkLWFueXdoZXJlLWF0LWFsbA==";

fn run_with_env(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .arg("run")
        .arg("--endpoints-dir")
        .arg(dir)
        .arg("--control-socket")
        .arg(dir.join("ctl.sock"))
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn invalid_configuration_fails_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let base = [("SUBMARINER_CLUSTERID", "cluster1"), ("CE_IPSEC_PSK", PSK)];
    let cases: &[Case] = &[
        (
            &[("SUBMARINER_HEALTHCHECKINTERVAL", "abc")],
            &[],
            r#"invalid SUBMARINER_HEALTHCHECKINTERVAL "abc": expected a whole number of seconds"#,
        ),
        (
            &[("CE_IPSEC_FORCEENCAPS", "yes")],
            &[],
            r#"invalid CE_IPSEC_FORCEENCAPS "yes": expected a boolean"#,
        ),
        (
            &[],
            &["--natt-port", "99999"],
            r#"invalid --natt-port "99999""#,
        ),
        (
            &[],
            &["--broker-info", "/nonexistent/broker-info.subm"],
            "invalid --broker-info file",
        ),
    ];
    for (env, extra, want) in cases {
        let mut all: Vec<(&str, &str)> = base.to_vec();
        all.extend_from_slice(env);
        let out = run_with_env(dir.path(), &all, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{want}: {stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("cable-engine: {want}")),
            "{stderr}"
        );
        assert!(!stderr.contains(PSK));
    }
    // Missing cluster id.
    let out = run_with_env(dir.path(), &[("CE_IPSEC_PSK", PSK)], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("cable-engine: missing SUBMARINER_CLUSTERID"));
}

fn connection(host: &str, cluster: &str, ip: &str, avg: &str) -> Connection {
    Connection {
        status: ConnectionStatus::Connected,
        status_message: String::new(),
        endpoint: EndpointSpec {
            cluster_id: cluster.into(),
            cable_name: format!("submariner-cable-{cluster}-{}", ip.replace('.', "-")),
            hostname: host.into(),
            subnets: vec!["100.2.0.0/16".into(), "10.2.0.0/16".into()],
            private_ip: ip.into(),
            backend: "libreswan".into(),
            ..Default::default()
        },
        using_ip: ip.into(),
        using_nat: false,
        latency_rtt: Some(LatencyRtt {
            average: avg.into(),
            ..Default::default()
        }),
    }
}

fn show(socket: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["show", "connections", "--control-socket"])
        .arg(socket)
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_connections_prints_subctls_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ctl.sock");

    // No engine.
    let out = tokio::task::spawn_blocking({
        let s = socket.clone();
        move || show(&s, &[])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the engine"));

    let (tx, rx) = watch::channel(Vec::new());
    let server = tokio::spawn(control::serve(control::bind(&socket).await.unwrap(), rx));

    // An engine without connections: like subctl, an error.
    let s = socket.clone();
    let out = tokio::task::spawn_blocking(move || show(&s, &[]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "no connections found\n"
    );

    tx.send_replace(vec![
        connection("cluster2-gw", "cluster2", "172.18.0.7", "388.079µs"),
        connection("cluster3-gw", "cluster3", "172.18.0.9", "1.2ms"),
    ]);
    let s = socket.clone();
    let out = tokio::task::spawn_blocking(move || show(&s, &[]))
        .await
        .unwrap();
    assert!(out.status.success());
    let want = concat!(
        "GATEWAY       CLUSTER    REMOTE IP    NAT   CABLE DRIVER   SUBNETS                     STATUS      RTT avg.     \n",
        "cluster2-gw   cluster2   172.18.0.7   no    libreswan      100.2.0.0/16, 10.2.0.0/16   connected   388.079µs    \n",
        "cluster3-gw   cluster3   172.18.0.9   no    libreswan      100.2.0.0/16, 10.2.0.0/16   connected   1.2ms        \n",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);

    let s = socket.clone();
    let out = tokio::task::spawn_blocking(move || show(&s, &["-o", "json"]))
        .await
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["endpoint"]["cluster_id"], "cluster2");
    assert_eq!(v[0]["latencyRTT"]["average"], "388.079µs");

    server.abort();
}
