//! Measuring traffic through a tunnel while something happens to it
//! (rekeys, restarts): a `ping` left running in a namespace, stopped with
//! SIGINT so it prints its summary, and the engine's Prometheus counters.

use crate::sites::http_get;
use crate::topo::Netns;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A `ping -i <interval> -I <from> <to>` running in a namespace.
pub struct BackgroundPing {
    child: Child,
    started: Instant,
    what: String,
}

/// What a stopped [`BackgroundPing`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingTally {
    pub sent: u64,
    pub received: u64,
    pub duration: Duration,
}

impl PingTally {
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
}

impl BackgroundPing {
    /// Start pinging `to` from `from` every `interval` (at least 0.01 s:
    /// root may go below ping's 0.2 s floor) with a 1 s reply timeout.
    pub fn start(ns: &Netns, from: &str, to: &str, interval: Duration) -> Result<Self> {
        let child = ns
            .command("ping")
            .args([
                "-n",
                "-q",
                "-W1",
                "-i",
                &format!("{:.2}", interval.as_secs_f64()),
                "-I",
                from,
                to,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting ping")?;
        Ok(BackgroundPing {
            child,
            started: Instant::now(),
            what: format!("ping {from} -> {to}"),
        })
    }

    /// SIGINT the ping and read its summary line
    /// (`N packets transmitted, M received`).
    pub fn stop(mut self) -> Result<PingTally> {
        let duration = self.started.elapsed();
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let mut out = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            s.read_to_string(&mut out)?;
        }
        let _ = self.child.wait();
        let (sent, received) = parse_summary(&out)
            .with_context(|| format!("{}: no summary in its output: {out:?}", self.what))?;
        Ok(PingTally {
            sent,
            received,
            duration,
        })
    }
}

impl Drop for BackgroundPing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(transmitted, received)` from ping's summary.
pub fn parse_summary(out: &str) -> Option<(u64, u64)> {
    let line = out.lines().find(|l| l.contains("packets transmitted"))?;
    let mut nums = line
        .split(',')
        .map(|part| part.split_whitespace().next()?.parse::<u64>().ok());
    Some((nums.next()??, nums.next()??))
}

/// The value of the sample `name` (or `name_total`, as counters are
/// written) whose labels contain every one of `labels` (`key="value"`).
pub fn metric_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let series = l.split([' ', '{']).next().unwrap_or_default();
            (series == name || series.strip_suffix("_total") == Some(name))
                && labels.iter().all(|want| l.contains(want))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// One counter of the engine serving metrics on `port` inside `ns`.
pub fn engine_counter(ns: &Netns, port: u16, name: &str) -> Result<f64> {
    let text = http_get(ns, port, "/metrics")?;
    match metric_value(&text, name, &[]) {
        Some(v) => Ok(v),
        None => bail!("metric {name} not found in:\n{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_summary_is_parsed() {
        let out = "PING 10.2.0.1 (10.2.0.1) from 10.1.0.1 : 56(84) bytes of data.\n\n--- 10.2.0.1 ping statistics ---\n1210 packets transmitted, 1207 received, 0.247934% packet loss, time 121000ms\n";
        assert_eq!(parse_summary(out), Some((1210, 1207)));
        let out = "--- x ping statistics ---\n5 packets transmitted, 0 received, +5 errors, 100% packet loss, time 4000ms\n";
        assert_eq!(parse_summary(out), Some((5, 0)));
        assert_eq!(
            parse_summary("ping: connect: Network is unreachable\n"),
            None
        );
    }

    #[test]
    fn counters_are_found_with_or_without_total() {
        let text = "# HELP cable_engine_child_sa_rekeys Child SAs installed as the rekey of another.\n# TYPE cable_engine_child_sa_rekeys counter\ncable_engine_child_sa_rekeys_total 3\ncable_engine_child_sa_rekeys_other_total 9\nsubmariner_connection_latency_seconds{remote_cluster=\"b\"} 0.002\n";
        assert_eq!(
            metric_value(text, "cable_engine_child_sa_rekeys", &[]),
            Some(3.0)
        );
        assert_eq!(
            metric_value(
                text,
                "submariner_connection_latency_seconds",
                &["remote_cluster=\"b\""]
            ),
            Some(0.002)
        );
        assert_eq!(metric_value(text, "cable_engine_ike_sa_rekeys", &[]), None);
    }
}
