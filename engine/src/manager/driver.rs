//! The manager's task: the I/O around the [`Core`]. One loop owns the
//! IKE/NAT-T socket, the XFRM client and event stream, the health-check
//! pingers and the outputs; it feeds the core what arrives and carries out
//! what the core asks for.
//!
//! After every input the loop first runs the core's kernel operations,
//! then sends its datagrams: a Child SA is in the kernel before the
//! message that completes it (the responder's answer) leaves. Then it waits
//! for the first of: shutdown, a new set of plans, a datagram, the core's
//! deadline, an XFRM event, or the status tick.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use healthcheck::{LatencyInfo, Pinger, PingerConfig};
use ike::Endpoint;
use tokio::sync::{mpsc, watch};
use xfrm::{XfrmClient, XfrmEvents};

use super::core::{ChildStatus, Core, CoreSettings};
use super::kernel::{Done, Kernel};
use super::reconcile::Leftovers;
use super::socket::{classify, IkeSocket, Received};
use super::{HealthSettings, ManagerCommand, ManagerSettings};
use crate::cable::CablePlan;
use crate::crd::Connection;
use crate::http::Health;
use crate::metrics::MetricsSnapshot;

/// How often status is published (the Gateway CR is written every 5 s from it).
const STATUS_TICK: Duration = Duration::from_secs(1);

/// The longest one kernel operation may take: a netlink call that never
/// answers must not freeze the manager (the operation fails, the readiness
/// probe turns unready until one succeeds again).
pub const KERNEL_OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Resubscribing to XFRM events after the stream ended or failed: the first
/// delay, doubled up to [`EVENTS_RETRY_MAX`].
const EVENTS_RETRY_FIRST: Duration = Duration::from_secs(1);
const EVENTS_RETRY_MAX: Duration = Duration::from_secs(60);

/// Whether a kernel operation's failure was a timeout (the kernel side is
/// stuck), rather than an answer.
fn is_stuck<T>(r: &Result<T, String>) -> bool {
    r.as_ref()
        .err()
        .is_some_and(|e| e.contains("no answer from the kernel"))
}

/// `fut`, or an error once `limit` has passed.
pub async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "{what}: no answer from the kernel within {limit:?}"
        )),
    }
}

/// Run the manager until `shutdown` completes. Fails only when it cannot
/// start (socket, netlink); everything after that is reported in status.
pub async fn run(
    settings: ManagerSettings,
    mut commands: mpsc::Receiver<ManagerCommand>,
    outputs: Outputs,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let socket = IkeSocket::bind(settings.natt_port).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the IKE socket on UDP port {}: {e}",
            settings.natt_port
        )
    })?;
    let xfrm = XfrmClient::connect()
        .map_err(|e| anyhow::anyhow!("cannot open the XFRM netlink socket: {e}"))?;
    let mut events = Some(
        XfrmEvents::subscribe()
            .map_err(|e| anyhow::anyhow!("cannot subscribe to XFRM events: {e}"))?,
    );
    let mut resubscribe = Resubscribe::default();
    let leftovers = Leftovers::load(&xfrm).await.unwrap_or_else(|e| {
        tracing::warn!("cannot list the engine's kernel entries from before: {e}");
        Leftovers::default()
    });
    if !leftovers.sas.is_empty() || !leftovers.policies.is_empty() {
        tracing::info!(
            sas = leftovers.sas.len(),
            policies = leftovers.policies.len(),
            "found SAs and policies of an earlier run: keeping them until the cables are rebuilt"
        );
    }
    let endpoint =
        Endpoint::new(settings.ike.clone()).map_err(|e| anyhow::anyhow!("IKE core: {e}"))?;
    let core = Core::new(
        CoreSettings {
            psk: settings.psk.clone(),
            natt_port: settings.natt_port,
            lifetimes: settings.lifetimes,
            sa_limits: settings.sa_limits,
            proposals: settings.proposals.clone(),
        },
        endpoint,
    );
    let mut d = Driver {
        core,
        kernel: Kernel { x: xfrm, leftovers },
        socket,
        health: settings.health,
        local_health_ips: settings.local_health_ips,
        cleanup_on_exit: settings.cleanup_on_exit,
        pingers: HashMap::new(),
        targets: HashMap::new(),
        outputs,
        sync_iterations: 0,
    };
    tracing::info!(port = d.socket.port(), "IKE listening");

    tokio::pin!(shutdown);
    let mut buf = vec![0u8; 65536];
    let mut tick = tokio::time::interval(STATUS_TICK);
    let mut commands_open = true;
    loop {
        d.carry_out().await;
        let deadline = d
            .core
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = &mut shutdown => break,
            cmd = commands.recv(), if commands_open => match cmd {
                Some(ManagerCommand::Plans(plans)) => d.apply_plans(plans),
                Some(ManagerCommand::LocalHealthIp(ips)) => d.set_local_health_ips(ips),
                Some(ManagerCommand::Notes(notes)) => d.core.set_notes(notes),
                None => commands_open = false,
            },
            r = d.socket.recv(&mut buf) => match r {
                Ok((n, from, local)) => match classify(&buf[..n.min(buf.len())]) {
                    Received::Ike(msg) => d.core.handle_datagram(Instant::now(), local, from, msg),
                    Received::Keepalive => {}
                    Received::Other(why) => tracing::debug!(%from, "dropped datagram: {why}"),
                },
                Err(e) => {
                    // A socket that keeps failing must not spin the loop.
                    tracing::warn!("IKE socket receive: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => d.core.handle_timeout(Instant::now()),
            ev = async {
                match events.as_mut() {
                    Some(e) => e.next().await,
                    None => std::future::pending().await,
                }
            }, if events.is_some() => {
                match ev {
                    Some(ev) => d.core.xfrm_event(Instant::now(), ev),
                    None => {
                        // Not resubscribed in a tight loop: a socket that
                        // keeps failing is retried with backoff.
                        let wait = resubscribe.ended(Instant::now());
                        tracing::warn!("XFRM event stream ended; resubscribing in {wait:?}");
                        events = None;
                    }
                }
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(resubscribe.at)), if events.is_none() => {
                match XfrmEvents::subscribe() {
                    Ok(e) => {
                        tracing::info!("XFRM events resubscribed");
                        events = Some(e);
                        resubscribe.succeeded();
                    }
                    Err(e) => {
                        let wait = resubscribe.failed(Instant::now());
                        tracing::warn!("cannot resubscribe to XFRM events: {e}; again in {wait:?}");
                    }
                }
            },
            _ = tick.tick() => {
                d.outputs.health.beat();
                d.core.tick(Instant::now());
                d.carry_out().await;
                d.publish();
            }
        }
    }
    d.shutdown().await;
    Ok(())
}

/// When to subscribe to XFRM events again after the stream ended: after
/// [`EVENTS_RETRY_FIRST`], doubled after each failed attempt up to
/// [`EVENTS_RETRY_MAX`], back to the first delay once an attempt works.
/// Never at once: a socket that keeps closing must not spin the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resubscribe {
    backoff: Duration,
    /// The next attempt (meaningful while unsubscribed).
    pub at: Instant,
}

impl Default for Resubscribe {
    fn default() -> Self {
        Resubscribe {
            backoff: EVENTS_RETRY_FIRST,
            at: Instant::now(),
        }
    }
}

impl Resubscribe {
    /// The stream ended at `now`: the wait before the first attempt.
    pub fn ended(&mut self, now: Instant) -> Duration {
        self.at = now + self.backoff;
        self.backoff
    }

    /// An attempt failed at `now`: the (longer) wait before the next.
    pub fn failed(&mut self, now: Instant) -> Duration {
        self.backoff = (self.backoff * 2).min(EVENTS_RETRY_MAX);
        self.at = now + self.backoff;
        self.backoff
    }

    /// An attempt worked.
    pub fn succeeded(&mut self) {
        self.backoff = EVENTS_RETRY_FIRST;
    }
}

/// Where the manager reports: connection status (control socket, Gateway
/// CR), metrics, and liveness/readiness.
pub struct Outputs {
    pub status: watch::Sender<Vec<Connection>>,
    pub metrics: watch::Sender<MetricsSnapshot>,
    pub health: Arc<Health>,
    /// Every established Child SA (the drop-in mode's `--trafficstatus`).
    pub children: watch::Sender<Vec<ChildStatus>>,
}

struct Driver {
    core: Core,
    kernel: Kernel,
    socket: IkeSocket,
    health: Option<HealthSettings>,
    local_health_ips: Vec<IpAddr>,
    cleanup_on_exit: bool,
    /// Health-check pingers by cable.
    pingers: HashMap<String, Pinger>,
    /// Health-check targets by cable.
    targets: HashMap<String, IpAddr>,
    outputs: Outputs,
    sync_iterations: u64,
}

impl Driver {
    /// Kernel operations, then datagrams, then health-check changes, until
    /// the core has nothing left.
    async fn carry_out(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(op) = self.core.poll_kernel_op() {
                progressed = true;
                let result = within(KERNEL_OP_TIMEOUT, "netlink", self.kernel.execute(&op)).await;
                self.outputs
                    .health
                    .set_kernel_ok(result.is_ok() || !is_stuck(&result));
                match result {
                    Ok(Done::Bytes { rx, tx }) => {
                        if let super::core::KernelOp::ReadCounters { cable, .. } = &op {
                            self.core.set_byte_counters(cable, rx, tx);
                        }
                        self.core.kernel_result(Instant::now(), &op, Ok(()));
                    }
                    Ok(Done::Packets(n)) => {
                        if let super::core::KernelOp::ProbeInbound { child, sa } = &op {
                            self.core.inbound_packets(*child, *sa, n);
                        }
                        self.core.kernel_result(Instant::now(), &op, Ok(()));
                    }
                    Ok(Done::Spis(spis)) => {
                        if let super::core::KernelOp::ReserveSpis { local, .. } = &op {
                            self.core.spis_reserved(Instant::now(), *local, &spis);
                        }
                    }
                    Ok(Done::Nothing) => self.core.kernel_result(Instant::now(), &op, Ok(())),
                    Err(e) => self.core.kernel_result(Instant::now(), &op, Err(e)),
                }
            }
            while let Some(t) = self.core.poll_transmit() {
                progressed = true;
                if let Err(e) = self
                    .socket
                    .send(t.remote, Some(t.local.ip()), &t.payload, t.non_esp_marker)
                    .await
                {
                    tracing::debug!(to = %t.remote, "IKE send failed: {e}");
                }
            }
            while let Some((cable, target)) = self.core.poll_health_target() {
                progressed = true;
                self.set_health_target(cable, target);
            }
            if !progressed {
                break;
            }
        }
    }

    fn apply_plans(&mut self, plans: BTreeMap<String, CablePlan>) {
        let was_ready = self.core.ready();
        self.core.apply_plans(Instant::now(), plans);
        if !was_ready && self.core.ready() {
            self.outputs.health.set_ready();
        }
        self.publish();
    }

    fn set_health_target(&mut self, cable: String, target: Option<IpAddr>) {
        self.pingers.remove(&cable);
        match target {
            Some(t) => {
                self.targets.insert(cable.clone(), t);
                if let Some(p) = self.pinger(t) {
                    self.pingers.insert(cable, p);
                }
            }
            None => {
                self.targets.remove(&cable);
            }
        }
    }

    fn pinger(&self, target: IpAddr) -> Option<Pinger> {
        let health = self.health?;
        Some(Pinger::start(PingerConfig {
            source: self
                .local_health_ips
                .iter()
                .find(|a| a.is_ipv4() == target.is_ipv4())
                .copied(),
            target,
            interval: health.interval,
            max_loss: health.max_loss,
        }))
    }

    /// Restart every health check from the new source addresses.
    fn set_local_health_ips(&mut self, ips: Vec<IpAddr>) {
        if self.local_health_ips == ips {
            return;
        }
        let show = |v: &[IpAddr]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        tracing::info!(
            "local healthCheckIPs {} -> {}: restarting health checks",
            show(&self.local_health_ips),
            show(&ips)
        );
        self.local_health_ips = ips;
        let targets: Vec<(String, IpAddr)> =
            self.targets.iter().map(|(c, t)| (c.clone(), *t)).collect();
        for (cable, target) in targets {
            self.set_health_target(cable, Some(target));
        }
    }

    fn publish(&mut self) {
        self.sync_iterations += 1;
        let pingers = &self.pingers;
        let health =
            |cable: &str| -> Option<LatencyInfo> { pingers.get(cable).map(Pinger::latency_info) };
        let snapshot = MetricsSnapshot {
            cables: self.core.samples(&health),
            counters: self.core.counters(),
            sync_iterations: self.sync_iterations,
        };
        self.outputs.metrics.send_replace(snapshot);
        let connections = self.core.connections(&health);
        self.core.log_transitions(&connections);
        self.outputs.status.send_if_modified(|old| {
            if *old == connections {
                false
            } else {
                *old = connections;
                true
            }
        });
        let children = self.core.child_statuses();
        self.outputs.children.send_if_modified(|old| {
            if *old == children {
                false
            } else {
                *old = children;
                true
            }
        });
    }

    async fn shutdown(&mut self) {
        if !self.cleanup_on_exit {
            // The SAs stay for the next engine, which starts with
            // INITIAL_CONTACT: the peers are not told to delete theirs
            // (an IKE Delete would make them drop, or stop waiting for,
            // SAs that still carry traffic meanwhile).
            tracing::info!("shutdown: kernel SAs and policies left in place for the next engine; peers not told");
            return;
        }
        self.core.shutdown(Instant::now());
        while let Some(t) = self.core.poll_transmit() {
            let _ = self
                .socket
                .send(t.remote, Some(t.local.ip()), &t.payload, t.non_esp_marker)
                .await;
        }
        match self.kernel.x.cleanup_owned().await {
            Ok(r) => tracing::info!("shutdown: removed the engine's kernel state ({r:?})"),
            Err(e) => tracing::error!("shutdown: removing the engine's kernel state failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13, fault 7: an XFRM event stream that keeps ending, and
    /// subscriptions that keep failing, are retried after 1 s, then 2, 4,
    /// ... up to 60 s, never at once; a working subscription starts the
    /// delays over.
    #[test]
    fn xfrm_events_are_resubscribed_with_backoff() {
        let t0 = Instant::now();
        let mut r = Resubscribe::default();
        assert_eq!(r.ended(t0), Duration::from_secs(1));
        assert_eq!(r.at, t0 + Duration::from_secs(1));
        let waits: Vec<u64> = (0..8).map(|_| r.failed(t0).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(r.at, t0 + Duration::from_secs(60));
        r.succeeded();
        assert_eq!(r.ended(t0), Duration::from_secs(1));
    }

    /// Issue 13, fault 7: a netlink call that never answers froze the
    /// manager's loop. Every kernel operation now runs under
    /// [`KERNEL_OP_TIMEOUT`] and fails with a clear error instead.
    #[tokio::test(start_paused = true)]
    async fn a_kernel_call_that_never_answers_fails_after_the_timeout() {
        let hung = std::future::pending::<Result<(), String>>();
        let t0 = tokio::time::Instant::now();
        let r = within(KERNEL_OP_TIMEOUT, "netlink", hung).await;
        assert!(is_stuck(&r), "{r:?}");
        assert_eq!(t0.elapsed(), KERNEL_OP_TIMEOUT);
        let ok = within(KERNEL_OP_TIMEOUT, "netlink", async { Ok::<_, String>(7) }).await;
        assert_eq!(ok, Ok(7));
        let refused = within(KERNEL_OP_TIMEOUT, "netlink", async {
            Err::<(), _>("File exists (os error 17)")
        })
        .await;
        assert!(!is_stuck(&refused));
    }
}
