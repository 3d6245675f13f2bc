//! The command line: `cable-engine run [flags]` and
//! `cable-engine show connections [--output json]` (the drop-in
//! personalities `pluto`, `whack` and `ipsec` are picked in `main.rs`, see
//! [`crate::dropin`]).
//!
//! `run` resolves and validates the configuration (one clear line and exit
//! code 2 on a bad setting), starts the endpoint source (Kubernetes, or a
//! directory with `--endpoints-dir`), turns the desired state into one
//! [`CablePlan`] per remote cluster and hands the plans to the connection
//! manager ([`crate::manager`]), which builds the cables; it serves `show`
//! on the control socket and `/metrics`, `/healthz` and `/readyz` over
//! HTTP, writes the Gateway status (Kubernetes source), follows every
//! change of the Endpoints and Clusters, and stops cleanly on SIGTERM or
//! SIGINT.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cable::{plans_for_state, CablePlan, PlanDiff, PlanSettings};
use crate::config::{process_env, Config, LogFormat, RunFlags, DEFAULT_CONTROL_SOCKET};
use crate::control;
use crate::crd::Connection;
use crate::http::{self, Health};
use crate::manager::driver::Outputs;
use crate::manager::{self, HealthSettings, ManagerCommand, ManagerSettings};
use crate::metrics::MetricsSnapshot;
use crate::source::dir::DirSource;
use crate::source::kube::services::start_kubernetes;
use crate::source::kube::SelectedSource;
use crate::source::{DesiredState, EndpointSource, SourceUpdate};
use crate::status::{connection_for_plan, connections_json, connections_table, CableState};
use std::sync::Arc;

/// Exit code for an invalid configuration.
pub const EXIT_CONFIG: u8 = 2;

/// Status message of cables before the connection manager reports them.
pub const NO_MANAGER_MESSAGE: &str = "starting";

/// `cable-engine`: Submariner's IPsec cable engine (IKEv2 + kernel XFRM).
#[derive(Parser, Debug)]
#[command(name = "cable-engine", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the engine (the gateway daemon).
    Run(Box<RunFlags>),
    /// Show the running engine's state.
    Show {
        /// What to show.
        #[command(subcommand)]
        what: Show,
    },
}

/// What `show` shows.
#[derive(Subcommand, Debug)]
pub enum Show {
    /// The cables and their status, as `subctl show connections` prints them.
    Connections(ShowConnectionsArgs),
}

/// Output formats of `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// subctl's table.
    Table,
    /// The `Gateway.status.connections` JSON array.
    Json,
}

/// Flags of `show connections`.
#[derive(Args, Debug)]
pub struct ShowConnectionsArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The running engine's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    pub control_socket: PathBuf,
}

/// Runs a parsed command line.
pub async fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run(flags) => run(*flags).await,
        Command::Show {
            what: Show::Connections(args),
        } => show_connections(args).await,
    }
}

/// Sets up `tracing` output on stderr: human or JSON, `info` (or `debug` with
/// `CE_IPSEC_DEBUG`) unless `RUST_LOG` says otherwise.
pub fn init_logging(format: LogFormat, debug: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cable-engine: cannot write output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `show connections`.
pub async fn show_connections(args: ShowConnectionsArgs) -> ExitCode {
    let connections = match control::query_connections(&args.control_socket).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cable-engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.output {
        Output::Json => print_out(&format!("{}\n", connections_json(&connections))),
        Output::Table => match connections_table(&connections) {
            Some(table) => print_out(&table),
            None => {
                // subctl reports an empty list as an error too.
                eprintln!("no connections found");
                ExitCode::FAILURE
            }
        },
    }
}

/// The plans of a state, logged; returns the successful ones by cable id
/// (one per remote and IP family).
fn log_plans(
    state: &DesiredState,
    settings: &PlanSettings,
    local_cluster: &str,
) -> BTreeMap<String, CablePlan> {
    if state.local.is_none() {
        tracing::warn!(
            "no Endpoint for the local cluster {local_cluster:?}: no cable can be built until one appears"
        );
    }
    let mut plans = BTreeMap::new();
    for (cluster, result) in plans_for_state(state, settings) {
        match result {
            Ok(family_plans) => {
                for plan in family_plans {
                    for w in &plan.warnings {
                        tracing::warn!(cable = %plan.cable_id, "{w}");
                    }
                    plans.insert(plan.cable_id.clone(), plan);
                }
            }
            Err(e) => tracing::warn!(cluster = %cluster, "no cable: {e}"),
        }
    }
    plans
}

fn connections_of(plans: &BTreeMap<String, CablePlan>) -> Vec<Connection> {
    let state = CableState::NotStarted(NO_MANAGER_MESSAGE.to_string());
    plans
        .values()
        .map(|p| connection_for_plan(p, &state))
        .collect()
}

/// Logs what an update would change, cable by cable.
fn log_changes(old: &BTreeMap<String, CablePlan>, new: &BTreeMap<String, CablePlan>) {
    for (cluster, plan) in new {
        match old.get(cluster) {
            None => tracing::info!("would connect: {}", plan.summary()),
            Some(previous) => {
                let d = PlanDiff::between(previous, plan);
                if d.ike_changed {
                    tracing::info!("would rebuild (IKE parameters changed): {}", plan.summary());
                } else if d.touches_sas() {
                    let names = |v: &[crate::cable::ChildPair]| {
                        v.iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    tracing::info!(
                        cable = %plan.cable_name,
                        "would replace child SAs: remove [{}], add [{}]",
                        names(&d.removed),
                        names(&d.added)
                    );
                } else if d.endpoint_changed {
                    tracing::info!(cable = %plan.cable_name, "remote Endpoint changed (no SA change)");
                }
            }
        }
    }
    for (cluster, plan) in old {
        if !new.contains_key(cluster) {
            tracing::info!(cable = %plan.cable_name, "would disconnect cluster {cluster}");
        }
    }
}

fn log_update(update: &SourceUpdate) {
    let d = &update.diff;
    tracing::info!(
        local_changed = d.local_changed,
        added = ?d.added,
        changed = ?d.changed,
        removed = ?d.removed,
        "endpoints changed"
    );
}

/// Waits for SIGTERM or SIGINT.
pub async fn terminated() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, only Ctrl-C through tokio's default.
        let _ = tokio::signal::ctrl_c().await;
        return "interrupt";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// `run`.
pub async fn run(flags: RunFlags) -> ExitCode {
    let config = match Config::resolve(&flags, &process_env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cable-engine: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(config.log_format, config.ipsec.debug);
    tracing::info!(
        cluster_id = %config.cluster_id,
        namespace = %config.namespace,
        psk = %config.ipsec.psk_source,
        natt_port = config.ipsec.natt_port,
        force_encaps = config.ipsec.force_encaps,
        preferred_server = config.ipsec.preferred_server,
        health_check = config.health_check.enabled,
        health_check_interval_s = config.health_check.interval.as_secs(),
        max_packet_loss = config.health_check.max_packet_loss_count,
        metrics_port = config.metrics_port,
        source = %config.endpoints_dir.as_ref().map_or("kubernetes".to_string(), |d| d.display().to_string()),
        "cable-engine {} starting",
        env!("CARGO_PKG_VERSION")
    );

    let settings = PlanSettings::from(&config.ipsec);
    let (mut source, mut kube) = match &config.endpoints_dir {
        None => match start_kubernetes(&config, process_env).await {
            Ok((s, k)) => (SelectedSource::Kubernetes(s), Some(k)),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        },
        Some(dir) => (
            SelectedSource::Directory(
                DirSource::new(dir, &config.cluster_id)
                    .with_hostname(node_hostname())
                    .with_poll_interval(config.endpoints_poll),
            ),
            None,
        ),
    };
    let first = match source.next_update().await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut plans = log_plans(&first.state, &settings, &config.cluster_id);
    log_changes(&BTreeMap::new(), &plans);

    let listener = match control::bind(&config.control_socket).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                "cannot serve the control socket {}: {e}",
                config.control_socket.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let (status_tx, status_rx) = watch::channel(connections_of(&plans));
    if let Some(k) = kube.as_mut() {
        k.start_gateway_writer(status_rx.clone());
    }
    let server = tokio::spawn(control::serve(listener, status_rx));

    let health = Arc::new(Health::default());
    let (metrics_tx, metrics_rx) = watch::channel(MetricsSnapshot::default());
    let (local_tx, local_rx) = watch::channel(local_endpoint(&first.state));
    let metrics_listener = match http::bind(config.metrics_port).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                "cannot serve metrics on port {} (SUBMARINER_METRICSPORT): {e}",
                config.metrics_port
            );
            return ExitCode::FAILURE;
        }
    };
    let metrics_server = tokio::spawn(http::serve(
        metrics_listener,
        http::Sources {
            health: health.clone(),
            metrics: metrics_rx,
            local: local_rx,
        },
    ));

    let (commands, commands_rx) = mpsc::channel(16);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let mut manager = tokio::spawn(manager::run(
        manager_settings(&config, &first.state),
        commands_rx,
        Outputs {
            status: status_tx,
            metrics: metrics_tx,
            health,
            children: watch::channel(Vec::new()).0,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let _ = commands
        .send(ManagerCommand::Notes(first.state.notes.clone()))
        .await;
    let _ = commands.send(ManagerCommand::Plans(plans.clone())).await;

    let outcome = loop {
        tokio::select! {
            why = terminated() => break Ok(why),
            done = &mut manager => break Err(match done {
                Ok(Ok(())) => "the connection manager stopped".to_string(),
                Ok(Err(e)) => format!("{e:#}"),
                Err(e) => format!("the connection manager failed: {e}"),
            }),
            update = source.next_update() => match update {
                Ok(update) => {
                    log_update(&update);
                    let new = log_plans(&update.state, &settings, &config.cluster_id);
                    log_changes(&plans, &new);
                    plans = new;
                    local_tx.send_replace(local_endpoint(&update.state));
                    // The manager ignores an unchanged address.
                    let ips = local_health_ips(&update.state);
                    let _ = commands.send(ManagerCommand::LocalHealthIp(ips)).await;
                    let _ = commands.send(ManagerCommand::Notes(update.state.notes.clone())).await;
                    let _ = commands.send(ManagerCommand::Plans(plans.clone())).await;
                }
                Err(e) => tracing::warn!("{e}"),
            },
        }
    };
    let code = match outcome {
        Ok(why) => {
            tracing::info!("{why} received, stopping");
            let _ = stop.send(());
            match tokio::time::timeout(std::time::Duration::from_secs(10), &mut manager).await {
                Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
                Ok(Ok(Err(e))) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
                Ok(Err(e)) => {
                    tracing::error!("the connection manager failed: {e}");
                    ExitCode::FAILURE
                }
                Err(_) => {
                    tracing::error!("the connection manager did not stop within 10 s");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    };
    server.abort();
    if let Some(k) = kube {
        k.stop().await;
    }
    metrics_server.abort();
    let _ = std::fs::remove_file(&config.control_socket);
    code
}

/// The local Endpoint's spec (metrics labels), empty until one is known.
fn local_endpoint(state: &DesiredState) -> crate::crd::EndpointSpec {
    state
        .local
        .as_ref()
        .map(|l| l.endpoint.clone())
        .unwrap_or_default()
}

/// The local Endpoint's valid healthCheckIPs, IPv4 first (one per family).
fn local_health_ips(state: &DesiredState) -> Vec<std::net::IpAddr> {
    state.local.as_ref().map_or(Vec::new(), |l| {
        [true, false]
            .into_iter()
            .filter_map(|v4| l.endpoint.health_check_addr(v4))
            .collect()
    })
}

/// The connection manager's settings from the configuration and the local
/// Endpoint (whose healthCheckIP is the pings' source).
fn manager_settings(config: &Config, state: &DesiredState) -> ManagerSettings {
    let local_health_ips = local_health_ips(state);
    ManagerSettings {
        psk: ike::crypto::SecretBytes::from_slice(config.ipsec.psk.as_bytes()),
        natt_port: config.ipsec.natt_port,
        health: config.health_check.enabled.then_some(HealthSettings {
            interval: config.health_check.interval,
            max_loss: config.health_check.max_packet_loss_count,
        }),
        local_health_ips,
        cleanup_on_exit: config.cleanup_on_exit,
        lifetimes: config.ipsec.timers.lifetimes(),
        sa_limits: manager::core::ops::SaLimits {
            rekey_packets: config.ipsec.timers.rekey_packets,
        },
        proposals: config.ipsec.proposals.clone(),
        ike: ike::EndpointConfig {
            nat_keepalive: config.ipsec.timers.nat_keepalive,
            ..ike::EndpointConfig::default()
        },
    }
}

/// This node's hostname, as the local Endpoint publishes it (the kernel's,
/// else `NODE_NAME`; "" when neither is known): the directory source
/// prefers the local cluster's Endpoints with it.
fn node_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| process_env("NODE_NAME"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_run_and_show() {
        let cli = Cli::try_parse_from([
            "cable-engine",
            "run",
            "--endpoints-dir",
            "/tmp/e",
            "--force-encaps",
            "--debug=false",
            "--log-format",
            "json",
        ])
        .unwrap();
        let Command::Run(flags) = cli.command else {
            panic!("not run")
        };
        assert_eq!(flags.force_encaps.as_deref(), Some("true"));
        assert_eq!(flags.debug.as_deref(), Some("false"));
        assert_eq!(flags.log_format, LogFormat::Json);
        assert_eq!(flags.endpoints_dir, Some(PathBuf::from("/tmp/e")));
        assert_eq!(flags.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));

        let cli = Cli::try_parse_from(["cable-engine", "show", "connections", "--output", "json"])
            .unwrap();
        let Command::Show {
            what: Show::Connections(args),
        } = cli.command
        else {
            panic!("not show")
        };
        assert_eq!(args.output, Output::Json);
        let cli = Cli::try_parse_from([
            "cable-engine",
            "show",
            "connections",
            "-o",
            "table",
            "--control-socket",
            "/x.sock",
        ])
        .unwrap();
        let Command::Show {
            what: Show::Connections(args),
        } = cli.command
        else {
            panic!("not show")
        };
        assert_eq!(
            (args.output, args.control_socket),
            (Output::Table, PathBuf::from("/x.sock"))
        );
    }
}
