//! The `pluto` personality: the daemon Submariner's driver starts once.
//!
//! It accepts libreswan's start options (`--leak-detective`, `--config F`,
//! `--nofork`, `--stderrlog`; `--rundir DIR` and `--secretsfile F` as
//! well), reads the PSK from the secrets files (see [`super::secrets`];
//! read again on an add while missing), binds the IKE socket on
//! `CE_IPSEC_NATTPORT` (the gateway's environment, which pluto inherits;
//! 4500 by default) through the connection manager (with the algorithm
//! settings `CE_IPSEC_IKEPROPOSALS`, `CE_IPSEC_ESPPROPOSALS` and
//! `CE_IPSEC_REQUIREPFS` of that environment too), creates its control
//! socket `<rundir>/pluto.ctl` at once (after removing what a libreswan
//! pluto left, see [`super::takeover`]), and stays in the foreground. It
//! exits only on SIGTERM/SIGINT (removing its SAs, policies and socket) or
//! when it cannot start at all: Submariner's gateway exits with it.
//!
//! Each `whack` call changes the [`Registry`] of connections; the cables
//! they make go to the manager once the calls have paused for
//! [`SETTLE`] (the driver adds, routes and initiates every pair of an
//! Endpoint in one burst: one plan for the burst, not one rebuild per
//! pair), and at the latest [`SETTLE_MAX`] after the first change.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch, Mutex, Notify};

use super::conns::{Refusal, Registry};
use super::protocol::{Request, Response, CTL_NAME, DEFAULT_RUNDIR, MAX_LINE};
use super::secrets::load_psk;
use super::traffic;
use super::whack::{Action, Whack, RC_WHACK_PROBLEM};
use crate::cli::init_logging;
use crate::config::LogFormat;
use crate::http::Health;
use crate::manager::core::ChildStatus;
use crate::manager::driver::Outputs;
use crate::manager::{self, ManagerCommand, ManagerSettings};
use crate::metrics::MetricsSnapshot;
use crate::psk::Psk;

/// Quiet time after a change before the cables go to the manager.
pub const SETTLE: Duration = Duration::from_millis(300);
/// The longest a change waits for the calls to pause.
pub const SETTLE_MAX: Duration = Duration::from_secs(2);

/// libreswan's default secrets file.
const DEFAULT_SECRETS: &str = "/etc/ipsec.secrets";

/// The daemon's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlutoArgs {
    pub rundir: PathBuf,
    pub secrets: PathBuf,
    pub stderrlog: bool,
}

impl PlutoArgs {
    /// libreswan's options as Submariner's `pluto` script passes them,
    /// plus `--rundir` and `--secretsfile`.
    pub fn parse(args: &[String]) -> Result<PlutoArgs, String> {
        let mut a = PlutoArgs {
            rundir: PathBuf::from(DEFAULT_RUNDIR),
            secrets: PathBuf::from(DEFAULT_SECRETS),
            stderrlog: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| format!("pluto: {name} needs a value"))
            };
            match key {
                "--leak-detective" | "--nofork" => {}
                "--stderrlog" => a.stderrlog = true,
                // No ipsec.conf is written in PSK mode; the path is not read.
                "--config" => {
                    value("--config")?;
                }
                "--rundir" => a.rundir = PathBuf::from(value("--rundir")?),
                "--secretsfile" => a.secrets = PathBuf::from(value("--secretsfile")?),
                other => return Err(format!("pluto: unsupported option {other:?}")),
            }
        }
        Ok(a)
    }
}

/// The running manager.
struct Running {
    commands: mpsc::Sender<ManagerCommand>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// What the control socket's calls share.
struct Daemon {
    registry: Registry,
    natt_port: u16,
    /// CE_IPSEC_IKEPROPOSALS, CE_IPSEC_ESPPROPOSALS, CE_IPSEC_REQUIREPFS.
    proposals: crate::manager::peers::ProposalSettings,
    secrets: PathBuf,
    manager: Option<Running>,
    children: watch::Receiver<Vec<ChildStatus>>,
    children_tx: Option<watch::Sender<Vec<ChildStatus>>>,
    xfrm: Option<xfrm::XfrmClient>,
}

impl Daemon {
    /// Start the manager once the PSK can be read.
    fn ensure_manager(&mut self) -> Result<(), Refusal> {
        if self.manager.is_some() {
            return Ok(());
        }
        let psk: Psk = load_psk(&self.secrets).map_err(|e| Refusal {
            code: 1,
            message: format!("no pre-shared key: {e}"),
        })?;
        let Some(children) = self.children_tx.take() else {
            return Err(Refusal {
                code: 1,
                message: "the connection manager stopped".into(),
            });
        };
        let settings = ManagerSettings {
            psk: ike::crypto::SecretBytes::from_slice(psk.as_bytes()),
            natt_port: self.natt_port,
            // Submariner's own health checker runs in the gateway.
            health: None,
            local_health_ips: Vec::new(),
            cleanup_on_exit: true,
            lifetimes: ike::Lifetimes::default(),
            sa_limits: Default::default(),
            proposals: self.proposals.clone(),
            ike: ike::EndpointConfig::default(),
        };
        let (commands, commands_rx) = mpsc::channel(16);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let outputs = Outputs {
            status: watch::channel(Vec::new()).0,
            metrics: watch::channel(MetricsSnapshot::default()).0,
            health: Arc::new(Health::default()),
            children,
        };
        let task = tokio::spawn(manager::run(settings, commands_rx, outputs, async move {
            let _ = stop_rx.await;
        }));
        tracing::info!("pre-shared key loaded; connection manager started");
        self.manager = Some(Running {
            commands,
            stop: Some(stop),
            task,
        });
        Ok(())
    }

    /// Carry out one call's actions; stops at the first refusal.
    async fn call(&mut self, args: &[String], changed: &Notify) -> Response {
        let w = match Whack::parse(args) {
            Ok(w) => w,
            Err(e) => {
                return Response {
                    code: RC_WHACK_PROBLEM,
                    output: e,
                }
            }
        };
        let mut output = String::new();
        for action in w.actions {
            let r = match action {
                Action::Add(spec) => {
                    let name = spec.name.clone();
                    let port = spec.local.ikeport;
                    self.ensure_manager()
                        .and_then(|()| self.registry.add(spec))
                        .map(|()| {
                            if port.is_some_and(|p| p != self.natt_port) {
                                tracing::warn!(connection = %name, "--ikeport {port:?} differs from the port pluto listens on ({}, CE_IPSEC_NATTPORT): IKE uses {}", self.natt_port, self.natt_port);
                            }
                            tracing::info!(connection = %name, "added");
                            changed.notify_one();
                        })
                }
                Action::Delete(name) => self.registry.delete(&name).map(|()| {
                    tracing::info!(connection = %name, "deleted");
                    changed.notify_one();
                }),
                Action::Route(name) => self.registry.route(&name).map(|()| {
                    changed.notify_one();
                }),
                Action::Initiate { name, .. } => self.registry.initiate(&name).map(|()| {
                    changed.notify_one();
                }),
                Action::Listen => {
                    self.registry.listening = true;
                    Ok(())
                }
                Action::Debug(what) => {
                    tracing::info!("whack --debug {what}: logging follows RUST_LOG/CE_IPSEC_DEBUG");
                    Ok(())
                }
                Action::TrafficStatus => {
                    output.push_str(&self.traffic_status().await);
                    Ok(())
                }
                Action::Status => {
                    output.push_str(&self.status());
                    Ok(())
                }
            };
            if let Err(refusal) = r {
                output.push_str(&refusal.message);
                output.push('\n');
                return Response {
                    code: refusal.code,
                    output,
                };
            }
        }
        Response { code: 0, output }
    }

    /// One line per established Child SA, bytes from the kernel.
    async fn traffic_status(&mut self) -> String {
        let children = self.children.borrow().clone();
        if self.xfrm.is_none() && !children.is_empty() {
            self.xfrm = xfrm::XfrmClient::connect()
                .map_err(|e| tracing::warn!("trafficstatus: no XFRM socket: {e}"))
                .ok();
        }
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut out = String::new();
        for c in &children {
            let (mut add_time, mut rx, mut tx) =
                (now_unix.saturating_sub(c.since.elapsed().as_secs()), 0, 0);
            if let Some(x) = &self.xfrm {
                if let Ok(sa) = x.get_sa(&c.inbound).await {
                    rx = sa.counters.bytes;
                    if sa.counters.add_time > 0 {
                        add_time = sa.counters.add_time;
                    }
                }
                if let Ok(sa) = x.get_sa(&c.outbound).await {
                    tx = sa.counters.bytes;
                }
            }
            out.push_str(&traffic::line(c, add_time, rx, tx));
            out.push('\n');
        }
        out
    }

    /// `whack --status`: the connections and their Child SAs.
    fn status(&self) -> String {
        let children = self.children.borrow();
        let mut out = String::from("000 cable-engine drop-in (libreswan pluto's place)\n");
        for c in self.registry.conns.values() {
            let s = &c.spec;
            let end = |e: &super::whack::End| {
                format!(
                    "{}==={}[{}]",
                    e.client.map_or("?".into(), |n| n.to_string()),
                    match e.host {
                        Some(super::whack::Host::Addr(a)) => a.to_string(),
                        Some(super::whack::Host::Any) => "%any".into(),
                        None => "?".into(),
                    },
                    e.id.as_deref().unwrap_or("?")
                )
            };
            let up = children.iter().filter(|x| x.name == s.name).count();
            out.push_str(&format!(
                "000 \"{}\": {}...{}; {}{}; {} Child SA(s)\n",
                s.name,
                end(&s.local),
                end(&s.remote),
                if c.routed { "routed" } else { "unrouted" },
                if c.initiated { ", initiated" } else { "" },
                up
            ));
        }
        out
    }
}

fn natt_port() -> Result<u16, String> {
    match std::env::var("CE_IPSEC_NATTPORT") {
        Err(_) => Ok(4500),
        Ok(v) if v.trim().is_empty() => Ok(4500),
        Ok(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("CE_IPSEC_NATTPORT={v:?} is not a UDP port")),
    }
}

/// Push the cables to the manager after each burst of changes.
async fn push_plans(daemon: Arc<Mutex<Daemon>>, changed: Arc<Notify>) {
    loop {
        changed.notified().await;
        let first = tokio::time::Instant::now();
        loop {
            let quiet = tokio::time::sleep(SETTLE);
            tokio::select! {
                _ = quiet => break,
                _ = changed.notified() => {
                    if first.elapsed() >= SETTLE_MAX {
                        break;
                    }
                }
            }
        }
        let d = daemon.lock().await;
        let plans = d.registry.plans(d.natt_port);
        if let Some(m) = &d.manager {
            tracing::info!(
                cables = plans.len(),
                pairs = plans.values().map(|p| p.children.len()).sum::<usize>(),
                "connections changed: updating the cables"
            );
            let _ = m.commands.send(ManagerCommand::Plans(plans)).await;
        }
    }
}

async fn serve_one(stream: UnixStream, daemon: Arc<Mutex<Daemon>>, changed: Arc<Notify>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        BufReader::new(read.take(MAX_LINE)).read_line(&mut line),
    )
    .await;
    let response = match got {
        Ok(Ok(_)) => match serde_json::from_str::<Request>(&line) {
            Ok(req) => daemon.lock().await.call(&req.args, &changed).await,
            Err(e) => Response {
                code: RC_WHACK_PROBLEM,
                output: format!("bad request: {e}"),
            },
        },
        _ => return,
    };
    if let Ok(mut text) = serde_json::to_string(&response) {
        text.push('\n');
        let _ = write.write_all(text.as_bytes()).await;
    }
}

/// `pluto ARGS`.
pub async fn pluto_main(args: &[String]) -> ExitCode {
    let a = match PlutoArgs::parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let debug = std::env::var("CE_IPSEC_DEBUG")
        .is_ok_and(|v| crate::gobool::parse_go_bool(&v) == Some(true));
    init_logging(LogFormat::Human, debug);
    let natt_port = match natt_port() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    // The gateway's environment may restrict the algorithms as for
    // `cable-engine run`; a bad value stops pluto at start, naming it.
    let proposals = match crate::config::proposals_from_env(&|k| std::env::var(k).ok()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let ctl = a.rundir.join(CTL_NAME);
    let listener: UnixListener = match crate::control::bind(&ctl).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot create the control socket {}: {e}", ctl.display());
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "cable-engine {} as pluto: control socket {}, IKE on UDP {natt_port}, secrets {}",
        env!("CARGO_PKG_VERSION"),
        ctl.display(),
        a.secrets.display()
    );
    // What a libreswan pluto left (the gateway ran libreswan before the
    // image was switched): its policies would capture our pairs' traffic.
    match xfrm::XfrmClient::connect() {
        Ok(x) => match super::takeover::remove_libreswan_leftovers(&x).await {
            Ok((0, 0)) => {}
            Ok((sas, policies)) => tracing::info!(
                sas,
                policies,
                "removed the SAs and policies a libreswan pluto left"
            ),
            Err(e) => tracing::warn!("cannot list the kernel's SAs and policies: {e}"),
        },
        Err(e) => tracing::warn!("no XFRM netlink socket: {e}"),
    }
    let (children_tx, children) = watch::channel(Vec::new());
    let daemon = Arc::new(Mutex::new(Daemon {
        registry: Registry::default(),
        natt_port,
        proposals,
        secrets: a.secrets.clone(),
        manager: None,
        children,
        children_tx: Some(children_tx),
        xfrm: None,
    }));
    // Start at once when the secrets are there (the driver writes them
    // first), so the IKE socket answers before the first add.
    if let Err(r) = daemon.lock().await.ensure_manager() {
        tracing::warn!("{}; will try again on the first add", r.message);
    }
    let changed = Arc::new(Notify::new());
    let pusher = tokio::spawn(push_plans(daemon.clone(), changed.clone()));
    let stopped = loop {
        let manager_done = async {
            let mut d = daemon.lock().await;
            match d.manager.as_mut() {
                Some(m) if m.task.is_finished() => Some((&mut m.task).await),
                _ => None,
            }
        };
        tokio::select! {
            why = crate::cli::terminated() => break Ok(why),
            conn = listener.accept() => match conn {
                Ok((stream, _)) => {
                    tokio::spawn(serve_one(stream, daemon.clone(), changed.clone()));
                }
                Err(e) => tracing::warn!("control socket: {e}"),
            },
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if let Some(done) = manager_done.await {
                    break Err(match done {
                        Ok(Ok(())) => "the connection manager stopped".to_string(),
                        Ok(Err(e)) => format!("{e:#}"),
                        Err(e) => format!("the connection manager failed: {e}"),
                    });
                }
            }
        }
    };
    pusher.abort();
    let code = match stopped {
        Ok(why) => {
            tracing::info!("{why} received, stopping");
            let running = daemon.lock().await.manager.take();
            if let Some(mut m) = running {
                if let Some(stop) = m.stop.take() {
                    let _ = stop.send(());
                }
                let _ = tokio::time::timeout(Duration::from_secs(10), &mut m.task).await;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    };
    let _ = std::fs::remove_file(&ctl);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn submariners_start_options() {
        let a =
            PlutoArgs::parse(&args("--leak-detective --config /etc/ipsec.conf --nofork")).unwrap();
        assert_eq!(a.rundir, PathBuf::from("/run/pluto"));
        assert_eq!(a.secrets, PathBuf::from("/etc/ipsec.secrets"));
        assert!(!a.stderrlog);
        let a = PlutoArgs::parse(&args(
            "--leak-detective --config /etc/ipsec.conf --nofork --stderrlog --rundir /tmp/r --secretsfile=/tmp/s",
        ))
        .unwrap();
        assert_eq!(
            (a.rundir, a.secrets, a.stderrlog),
            (PathBuf::from("/tmp/r"), PathBuf::from("/tmp/s"), true)
        );
        assert!(PlutoArgs::parse(&args("--config")).is_err());
        assert!(PlutoArgs::parse(&args("--frob")).is_err());
    }
}
