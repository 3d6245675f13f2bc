//! Health-check results merged into connection status, as Submariner's
//! gateway syncer merges its pinger's results:
//!
//! - When the cable has a health report, `latencyRTT` is the report's RTT
//!   statistics and `endpoint.healthCheckIP` the IP actually pinged.
//! - A `connected` cable: its message is cleared; if the pinger is in error
//!   the cable becomes `error` with the pinger's message
//!   (`Failed to successfully ping the remote endpoint IP "<ip>"`); if the
//!   pinger is in an unknown state (it could not run) the cable stays
//!   `connected` with the pinger's message.
//! - An `error` cable whose pinger is connected again becomes `connected`
//!   with an empty message.
//! - Otherwise (`connecting`, `none`) status and message are left alone.

use crate::crd::{Connection, ConnectionStatus, LatencyRtt};

/// The pinger's state for one remote health-check IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// The last ping was answered.
    Connected,
    /// The pinger could not run (or has no result yet).
    Unknown,
    /// More than the allowed consecutive pings were lost.
    Error,
}

/// One health-check result, as the health checker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// The remote health-check IP that is pinged.
    pub ip: String,
    /// The pinger's state.
    pub state: HealthState,
    /// Its message (empty when connected).
    pub message: String,
    /// RTT statistics as Go duration strings.
    pub latency: LatencyRtt,
}

/// Submariner's message for a lost remote health-check IP.
pub fn ping_failure_message(ip: &str) -> String {
    format!(
        "Failed to successfully ping the remote endpoint IP {}",
        go_quote(ip)
    )
}

/// Go's `%q` for the characters an IP address can contain (and escapes for
/// the rest, which never occur in practice).
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Merges a health report into a connection (see the module docs).
pub fn merge_health(connection: &mut Connection, report: Option<&HealthReport>) {
    let Some(report) = report else { return };
    connection.latency_rtt = Some(report.latency.clone());
    connection.endpoint.health_check_ip = report.ip.clone();
    match connection.status {
        ConnectionStatus::Connected => {
            connection.status_message.clear();
            match report.state {
                HealthState::Error => {
                    connection.status = ConnectionStatus::Error;
                    connection.status_message = report.message.clone();
                }
                HealthState::Unknown => connection.status_message = report.message.clone(),
                HealthState::Connected => {}
            }
        }
        ConnectionStatus::Error if report.state == HealthState::Connected => {
            connection.status = ConnectionStatus::Connected;
            connection.status_message.clear();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(status: ConnectionStatus, msg: &str) -> Connection {
        Connection {
            status,
            status_message: msg.into(),
            using_ip: "172.18.0.7".into(),
            ..Default::default()
        }
    }

    fn report(state: HealthState) -> HealthReport {
        HealthReport {
            ip: "10.2.224.0".into(),
            state,
            message: match state {
                HealthState::Error => ping_failure_message("10.2.224.0"),
                HealthState::Unknown => "Failed to run the pinger".into(),
                HealthState::Connected => String::new(),
            },
            latency: LatencyRtt {
                last: "301.2µs".into(),
                min: "201.5µs".into(),
                average: "388.079µs".into(),
                max: "1.204ms".into(),
                std_dev: "96.42µs".into(),
            },
        }
    }

    #[test]
    fn failure_message_text() {
        assert_eq!(
            ping_failure_message("10.2.224.0"),
            r#"Failed to successfully ping the remote endpoint IP "10.2.224.0""#
        );
    }

    #[test]
    fn connected_and_ping_lost_becomes_error() {
        let mut c = conn(ConnectionStatus::Connected, "");
        merge_health(&mut c, Some(&report(HealthState::Error)));
        assert_eq!(c.status, ConnectionStatus::Error);
        assert_eq!(
            c.status_message,
            r#"Failed to successfully ping the remote endpoint IP "10.2.224.0""#
        );
        assert_eq!(c.endpoint.health_check_ip, "10.2.224.0");
        assert_eq!(c.latency_rtt.as_ref().unwrap().average, "388.079µs");
    }

    #[test]
    fn error_and_ping_answered_becomes_connected() {
        let mut c = conn(ConnectionStatus::Error, "old message");
        merge_health(&mut c, Some(&report(HealthState::Connected)));
        assert_eq!(c.status, ConnectionStatus::Connected);
        assert_eq!(c.status_message, "");
    }

    #[test]
    fn connected_and_pinger_unknown_keeps_status_with_message() {
        let mut c = conn(ConnectionStatus::Connected, "stale");
        merge_health(&mut c, Some(&report(HealthState::Unknown)));
        assert_eq!(c.status, ConnectionStatus::Connected);
        assert_eq!(c.status_message, "Failed to run the pinger");
        let mut c = conn(ConnectionStatus::Connected, "stale");
        merge_health(&mut c, Some(&report(HealthState::Connected)));
        assert_eq!(
            (c.status, c.status_message.as_str()),
            (ConnectionStatus::Connected, "")
        );
    }

    #[test]
    fn connecting_is_left_alone_but_gets_rtt() {
        for state in [
            HealthState::Connected,
            HealthState::Error,
            HealthState::Unknown,
        ] {
            let mut c = conn(ConnectionStatus::Connecting, "waiting for IKE_AUTH");
            merge_health(&mut c, Some(&report(state)));
            assert_eq!(c.status, ConnectionStatus::Connecting);
            assert_eq!(c.status_message, "waiting for IKE_AUTH");
            assert!(c.latency_rtt.is_some());
        }
        let mut c = conn(ConnectionStatus::Error, "auth failed");
        merge_health(&mut c, Some(&report(HealthState::Error)));
        assert_eq!(
            (c.status, c.status_message.as_str()),
            (ConnectionStatus::Error, "auth failed")
        );
    }

    #[test]
    fn no_report_changes_nothing() {
        let mut c = conn(ConnectionStatus::Connected, "");
        let before = c.clone();
        merge_health(&mut c, None);
        assert_eq!(c, before);
    }
}
