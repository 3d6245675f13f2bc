//! `cable-engine show connections`: the table `subctl show connections`
//! prints, and JSON.
//!
//! Formatting facts taken from subctl (`internal/show/connections.go` and
//! `internal/show/table`):
//! - Columns `GATEWAY` (the remote Endpoint's `hostname`, at most 30),
//!   `CLUSTER` (its `cluster_id`, at most 24), `REMOTE IP`, `NAT` (`yes`/`no`),
//!   `CABLE DRIVER` (its `backend`), `SUBNETS` (its `subnets` joined by `", "`,
//!   at most 40), `STATUS`, `RTT avg.` (`latencyRTT.average`, empty without).
//! - `REMOTE IP`/`NAT`: `usingIP`/`usingNAT` when `usingIP` is set; otherwise
//!   the public IP with `yes` when `nat_enabled`, else the private IP, `no`.
//! - Each column is as wide as its longest cell (byte length, capped at the
//!   column's maximum) or its header; every cell, the last included, is
//!   printed as Go's `%-{w+3}.{w}s`: cut to `w` characters, then padded with
//!   spaces to `w + 3` characters. (Go measures the width in bytes but cuts
//!   and pads in characters, so a `µs` cell gets one space less: reproduced.)
//! - No rows: nothing is printed and subctl reports "no connections found".

use crate::crd::Connection;

struct Column {
    name: &'static str,
    max: Option<usize>,
}

const COLUMNS: [Column; 8] = [
    Column {
        name: "GATEWAY",
        max: Some(30),
    },
    Column {
        name: "CLUSTER",
        max: Some(24),
    },
    Column {
        name: "REMOTE IP",
        max: None,
    },
    Column {
        name: "NAT",
        max: None,
    },
    Column {
        name: "CABLE DRIVER",
        max: None,
    },
    Column {
        name: "SUBNETS",
        max: Some(40),
    },
    Column {
        name: "STATUS",
        max: None,
    },
    Column {
        name: "RTT avg.",
        max: None,
    },
];

/// The remote IP and NAT flag subctl shows for a connection.
pub fn remote_ip_and_nat(c: &Connection) -> (String, bool) {
    if !c.using_ip.is_empty() {
        return (c.using_ip.clone(), c.using_nat);
    }
    if c.endpoint.nat_enabled {
        return (c.endpoint.public_ip.clone(), true);
    }
    (c.endpoint.private_ip.clone(), false)
}

fn row(c: &Connection) -> [String; 8] {
    let (ip, nat) = remote_ip_and_nat(c);
    [
        c.endpoint.hostname.clone(),
        c.endpoint.cluster_id.clone(),
        ip,
        if nat { "yes" } else { "no" }.to_string(),
        c.endpoint.backend.clone(),
        c.endpoint.subnets.join(", "),
        c.status.to_string(),
        c.latency_rtt
            .as_ref()
            .map(|l| l.average.clone())
            .unwrap_or_default(),
    ]
}

/// Go's `%-{width+3}.{width}s`.
fn cell(out: &mut String, value: &str, width: usize) {
    let mut n = 0;
    for ch in value.chars().take(width) {
        out.push(ch);
        n += 1;
    }
    out.extend(std::iter::repeat_n(' ', width + 3 - n));
}

/// The table, one `\n`-terminated line per row after the header; `None`
/// when there are no connections.
pub fn connections_table(connections: &[Connection]) -> Option<String> {
    if connections.is_empty() {
        return None;
    }
    let rows: Vec<[String; 8]> = connections.iter().map(row).collect();
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, col)| {
            rows.iter()
                .map(|r| col.max.map_or(r[i].len(), |m| r[i].len().min(m)))
                .chain(std::iter::once(col.name.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (col, w) in COLUMNS.iter().zip(&widths) {
        cell(&mut out, col.name, *w);
    }
    out.push('\n');
    for r in &rows {
        for (value, w) in r.iter().zip(&widths) {
            cell(&mut out, value, *w);
        }
        out.push('\n');
    }
    Some(out)
}

/// The connections as pretty JSON (the `Gateway.status.connections` array).
pub fn connections_json(connections: &[Connection]) -> String {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(connections).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ConnectionStatus, EndpointSpec, LatencyRtt};

    fn connection(
        host: &str,
        cluster: &str,
        ip: &str,
        subnets: &[&str],
        avg: Option<&str>,
    ) -> Connection {
        Connection {
            status: ConnectionStatus::Connected,
            status_message: String::new(),
            endpoint: EndpointSpec {
                cluster_id: cluster.into(),
                hostname: host.into(),
                backend: "libreswan".into(),
                subnets: subnets.iter().map(|s| s.to_string()).collect(),
                private_ip: ip.into(),
                ..Default::default()
            },
            using_ip: ip.into(),
            using_nat: false,
            latency_rtt: avg.map(|a| LatencyRtt {
                average: a.into(),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn table_like_subctl() {
        let conns = [
            connection(
                "worker0.example",
                "cluster2",
                "10.13.26.218",
                &["242.1.0.0/16"],
                Some("1.2786ms"),
            ),
            connection(
                "worker0.example",
                "cluster3",
                "10.15.133.94",
                &["242.2.0.0/16"],
                Some("614.899µs"),
            ),
        ];
        let got = connections_table(&conns).unwrap();
        // Widths: 15, 8, 12, 3, 12, 12, 9, 10 (bytes; "614.899µs" is 10 bytes).
        let want = concat!(
            "GATEWAY           CLUSTER    REMOTE IP      NAT   CABLE DRIVER   SUBNETS        STATUS      RTT avg.     \n",
            "worker0.example   cluster2   10.13.26.218   no    libreswan      242.1.0.0/16   connected   1.2786ms     \n",
            "worker0.example   cluster3   10.15.133.94   no    libreswan      242.2.0.0/16   connected   614.899µs    \n",
        );
        assert_eq!(got, want);
    }

    #[test]
    fn long_cells_are_cut_and_subnets_joined() {
        let mut c = connection(
            "a-very-long-gateway-hostname-that-goes-on-and-on",
            "cluster-with-a-rather-long-identifier",
            "172.18.0.7",
            &[
                "100.2.0.0/16",
                "10.2.0.0/16",
                "10.22.0.0/16",
                "10.23.0.0/16",
            ],
            None,
        );
        c.status = ConnectionStatus::Error;
        let got = connections_table(&[c]).unwrap();
        let lines: Vec<&str> = got.lines().collect();
        let hostname_cell = &lines[1][..33];
        assert_eq!(hostname_cell, "a-very-long-gateway-hostname-t   ");
        assert!(lines[1].contains("cluster-with-a-rather-lo   172.18.0.7"));
        assert!(lines[1].contains("100.2.0.0/16, 10.2.0.0/16, 10.22.0.0/16,   error    "));
        // No RTT: an empty cell padded to the header's width.
        assert!(lines[1].ends_with(&format!("error{}", " ".repeat(15))));
    }

    #[test]
    fn remote_ip_fallbacks() {
        let mut c = connection("gw", "c2", "", &[], None);
        c.endpoint.private_ip = "172.18.0.7".into();
        c.endpoint.public_ip = "198.51.100.7".into();
        assert_eq!(remote_ip_and_nat(&c), ("172.18.0.7".into(), false));
        c.endpoint.nat_enabled = true;
        assert_eq!(remote_ip_and_nat(&c), ("198.51.100.7".into(), true));
        c.using_ip = "172.18.0.7".into();
        c.using_nat = false;
        assert_eq!(remote_ip_and_nat(&c), ("172.18.0.7".into(), false));
        let t = connections_table(&[c]).unwrap();
        assert!(t.lines().nth(1).unwrap().contains("172.18.0.7   no "));
    }

    #[test]
    fn empty_and_json() {
        assert_eq!(connections_table(&[]), None);
        assert_eq!(connections_json(&[]), "[]");
        let j = connections_json(&[connection(
            "gw",
            "c2",
            "172.18.0.7",
            &["10.2.0.0/16"],
            Some("1ms"),
        )]);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v[0]["status"], "connected");
        assert_eq!(v[0]["usingIP"], "172.18.0.7");
        assert_eq!(v[0]["latencyRTT"]["average"], "1ms");
        assert_eq!(v[0]["endpoint"]["hostname"], "gw");
    }
}
