//! The pinger: one tokio task per remote endpoint, echoing its health-check IP
//! once per interval from the local health-check IP (so the packets match the
//! tunnel's policies and go through it), keeping [`RttStats`] and the
//! [`LossTracker`], and offering a [`LatencyInfo`] snapshot at any time.
//!
//! If the raw socket cannot be opened (no privilege, address not present),
//! the status stays unknown with a message saying why, and the pinger retries
//! every 5 s, as Submariner's does.

use crate::duration::go_duration;
use crate::icmp::{echo_request, parse_echo_reply};
use crate::loss::{HealthStatus, LossTracker};
use crate::stats::RttStats;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

/// Delay before retrying a pinger whose socket could not be opened.
const RETRY: Duration = Duration::from_secs(5);
/// Sent echoes remembered for RTT matching (older replies are ignored).
const IN_FLIGHT: usize = 64;

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// What to ping and how often.
#[derive(Debug, Clone)]
pub struct PingerConfig {
    /// Local source address (the local Endpoint's healthCheckIP), if any.
    pub source: Option<IpAddr>,
    /// The remote Endpoint's healthCheckIP.
    pub target: IpAddr,
    /// SUBMARINER_HEALTHCHECKINTERVAL.
    pub interval: Duration,
    /// SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT.
    pub max_loss: u32,
}

/// A snapshot of one pinger, as the Gateway status reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyInfo {
    pub ip: String,
    pub status: HealthStatus,
    /// Empty unless in error (or the pinger cannot run).
    pub message: String,
    /// Go duration strings, as in `latencyRTT`.
    pub last: String,
    pub min: String,
    pub average: String,
    pub max: String,
    pub std_dev: String,
    /// The running mean in nanoseconds (for metrics).
    pub average_nanos: u64,
    /// The last RTT in nanoseconds (for metrics; 0 before the first reply).
    pub last_nanos: u64,
}

struct State {
    stats: RttStats,
    loss: LossTracker,
    failure: Option<String>,
}

impl State {
    fn snapshot(&self, ip: &str) -> LatencyInfo {
        let s = &self.stats;
        let message = match &self.failure {
            Some(f) if self.loss.status() != HealthStatus::Error => f.clone(),
            _ => self.loss.message(),
        };
        LatencyInfo {
            ip: ip.to_string(),
            status: self.loss.status(),
            message,
            last: go_duration(s.last()),
            min: go_duration(s.min()),
            average: go_duration(s.mean()),
            max: go_duration(s.max()),
            std_dev: go_duration(s.std_dev()),
            average_nanos: s.mean(),
            last_nanos: s.last(),
        }
    }
}

/// A running pinger; stops when dropped.
pub struct Pinger {
    ip: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Pinger {
    /// Start pinging on the current tokio runtime.
    pub fn start(config: PingerConfig) -> Pinger {
        let ip = config.target.to_string();
        let state = Arc::new(Mutex::new(State {
            stats: RttStats::default(),
            loss: LossTracker::new(ip.clone(), config.max_loss),
            failure: None,
        }));
        let task = tokio::spawn(run(config, state.clone()));
        Pinger { ip, state, task }
    }

    /// The remote health-check IP.
    pub fn ip(&self) -> &str {
        &self.ip
    }

    /// The current status and statistics.
    pub fn latency_info(&self) -> LatencyInfo {
        match self.state.lock() {
            Ok(s) => s.snapshot(&self.ip),
            Err(poisoned) => poisoned.into_inner().snapshot(&self.ip),
        }
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn with_state(state: &Mutex<State>, f: impl FnOnce(&mut State)) {
    match state.lock() {
        Ok(mut s) => f(&mut s),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

fn open_socket(config: &PingerConfig) -> io::Result<AsyncFd<Socket>> {
    let (domain, proto) = match config.target {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let socket = Socket::new(domain, Type::RAW, Some(proto))?;
    socket.set_nonblocking(true)?;
    if let Some(src) = config.source {
        socket.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
    }
    socket.connect(&SockAddr::from(SocketAddr::new(config.target, 0)))?;
    // SAFETY: the socket owns its descriptor, which stays open and the same
    // for as long as the AsyncFd that takes ownership of it lives.
    unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)
}

async fn run(config: PingerConfig, state: Arc<Mutex<State>>) {
    loop {
        match open_socket(&config) {
            Ok(socket) => {
                with_state(&state, |s| s.failure = None);
                let err = ping_loop(&config, &socket, &state).await;
                tracing::warn!(target_ip = %config.target, "health-check pinger stopped: {err}");
                with_state(&state, |s| {
                    s.failure = Some(format!(
                        "Failed to run the pinger for the remote endpoint IP \"{}\": {err}",
                        config.target
                    ))
                });
            }
            Err(err) => {
                tracing::warn!(target_ip = %config.target, "cannot open the health-check socket: {err}");
                with_state(&state, |s| {
                    s.failure = Some(format!(
                        "Failed to create the pinger for the remote endpoint IP \"{}\": {err}",
                        config.target
                    ))
                });
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Send one echo per interval and read replies until the socket fails.
async fn ping_loop(
    config: &PingerConfig,
    socket: &AsyncFd<Socket>,
    state: &Mutex<State>,
) -> io::Error {
    let v6 = config.target.is_ipv6();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) ^ (std::process::id() as u16);
    let mut seq: u16 = 0;
    let mut sent: VecDeque<(u16, Instant)> = VecDeque::with_capacity(IN_FLIGHT);
    let mut ticker = tokio::time::interval(config.interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = [0u8; 1500];
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                seq = seq.wrapping_add(1);
                let packet = echo_request(v6, id, seq);
                // A send error (no route yet, policy blocks) counts as a loss:
                // the tunnel being down is exactly what this measures.
                let _ = socket.get_ref().send(&packet);
                if sent.len() == IN_FLIGHT {
                    sent.pop_front();
                }
                sent.push_back((seq, Instant::now()));
                with_state(state, |s| {
                    if s.loss.on_send() {
                        tracing::warn!(target_ip = %config.target, "{}", s.loss.message());
                    }
                });
            }
            ready = socket.readable() => {
                let mut guard = match ready {
                    Ok(g) => g,
                    Err(e) => return e,
                };
                loop {
                    match guard.try_io(|s| s.get_ref().read(&mut buf)) {
                        Ok(Ok(n)) => {
                            let now = Instant::now();
                            let Some(rseq) = buf.get(..n).and_then(|d| parse_echo_reply(v6, d, id)) else { continue };
                            let Some(pos) = sent.iter().position(|(s, _)| *s == rseq) else { continue };
                            let (_, at) = sent.remove(pos).unwrap_or((rseq, now));
                            let rtt = now.saturating_duration_since(at).as_nanos() as u64;
                            with_state(state, |s| {
                                s.stats.update(rtt);
                                if s.loss.on_reply() {
                                    tracing::info!(target_ip = %config.target, "ping to the remote endpoint IP is successful");
                                }
                            });
                        }
                        Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // ICMP errors queued on a connected raw socket (e.g.
                        // unreachable): the echo is simply lost.
                        Ok(Err(e)) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable) => continue,
                        Ok(Err(e)) => return e,
                        Err(_would_block) => break,
                    }
                }
            }
        }
    }
}
