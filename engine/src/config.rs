//! The engine's configuration: Submariner's environment variables with their
//! defaults, overridden by command-line flags.
//!
//! | setting | environment | flag | default |
//! |---|---|---|---|
//! | local cluster id | `SUBMARINER_CLUSTERID` | `--cluster-id` | required |
//! | namespace | `SUBMARINER_NAMESPACE` | `--namespace` | `submariner-operator` |
//! | health checks on | `SUBMARINER_HEALTHCHECKENABLED` | `--health-check-enabled[=BOOL]` | `true` |
//! | ping interval (s) | `SUBMARINER_HEALTHCHECKINTERVAL` | `--health-check-interval` | 1 |
//! | max lost pings | `SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT` | `--health-check-max-packet-loss-count` | 5 |
//! | metrics port | `SUBMARINER_METRICSPORT` | `--metrics-port` | 32780 |
//! | PSK text | `CE_IPSEC_PSK` | (none: keep secrets off the command line) | |
//! | PSK secret name | `CE_IPSEC_PSKSECRET` | `--psk-secret` | |
//! | PSK from broker-info | | `--broker-info FILE` | |
//! | IKE / NAT-T port | `CE_IPSEC_NATTPORT` | `--natt-port` | 4500 |
//! | force ESP-in-UDP | `CE_IPSEC_FORCEENCAPS` | `--force-encaps[=BOOL]` | false |
//! | preferred server | `CE_IPSEC_PREFERREDSERVER` | `--preferred-server[=BOOL]` | false |
//! | debug logs | `CE_IPSEC_DEBUG` | `--debug[=BOOL]` | false |
//! | remove the engine's SAs and policies on stop | `CABLE_ENGINE_CLEANUP_ON_EXIT` | `--cleanup-on-exit[=BOOL]` | true |
//! | IKE SA lifetime | `CE_IPSEC_IKELIFETIME` | `--ike-lifetime` | 8h (libreswan's) |
//! | Child SA lifetime | `CE_IPSEC_SALIFETIME` | `--sa-lifetime` | 8h |
//! | rekey margin | `CE_IPSEC_REKEYMARGIN` | `--rekey-margin` | 9m |
//! | NAT keepalive interval (0: none) | `CE_IPSEC_NATKEEPALIVE` | `--nat-keepalive` | 20s |
//! | rekey after this many packets per SA | `CE_IPSEC_REKEYPACKETS` | `--rekey-packets` | 3 x 2^30 without ESN (the 32-bit sequence number), none with ESN |
//! | IKE SA proposals offered and accepted | `CE_IPSEC_IKEPROPOSALS` | `--ike-proposals` | `ike`'s defaults |
//! | ESP proposals offered and accepted | `CE_IPSEC_ESPPROPOSALS` | `--esp-proposals` | `ike`'s defaults |
//! | require PFS (KE) in every CREATE_CHILD_SA of Child SAs | `CE_IPSEC_REQUIREPFS` | `--require-pfs[=BOOL]` | false: PFS follows the peer |
//! | endpoints directory | | `--endpoints-dir DIR` | none: Endpoints and Clusters from Kubernetes |
//! | how often the directory is read (ms) | | `--endpoints-poll-ms` | 1000 |
//! | log format | | `--log-format human\|json` | `human` |
//! | control socket | | `--control-socket PATH` | [`DEFAULT_CONTROL_SOCKET`] |
//!
//! Rules, as Submariner applies them:
//! - Booleans are parsed like Go's `strconv.ParseBool` ([`crate::gobool`]).
//! - A health-check interval or loss count of 0 means "the default", as in
//!   Submariner's pinger.
//! - PSK precedence: `--broker-info` (a flag) first, then
//!   `CE_IPSEC_PSKSECRET`/`--psk-secret` (the driver lets the secret win over
//!   `CE_IPSEC_PSK`), then `CE_IPSEC_PSK`. See [`crate::psk`] for what the
//!   wire uses (the base64 text).
//! - An environment variable set to the empty string counts as unset
//!   (manifests often template empty values).
//!
//! Resolution is a pure function of the flags, an environment lookup and the
//! secrets root directory ([`Config::resolve`]), so tests never touch the
//! process environment. Every failure is one [`ConfigError`] whose `Display`
//! is a single line naming the setting (the environment variable when the
//! value came from the environment, the flag when it came from the command
//! line), and never containing the PSK.
//!
//! clap's own `env` feature is deliberately not used: it cannot say whether a
//! bad value came from the flag or the variable, its errors are multi-line,
//! and `--help` would print the environment's values (the PSK among them).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::gobool::parse_go_bool;
use crate::psk::Psk;

mod proposals;
mod timers;
pub use timers::{parse_duration, TimersConfig};

/// Where a PSK secret named `<name>` is mounted: `<root>/<name>/psk`.
pub const DEFAULT_SECRETS_ROOT: &str = "/var/run/secrets/submariner.io";
/// Where `run` serves, and `show` asks, the engine's status.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/cable-engine/control.sock";
/// Default namespace: where the Submariner operator deploys the gateway.
pub const DEFAULT_NAMESPACE: &str = "submariner-operator";
/// Default IKE / NAT-T port (`CE_IPSEC_NATTPORT`).
pub const DEFAULT_NATT_PORT: u16 = 4500;
/// Default metrics port (`SUBMARINER_METRICSPORT`).
pub const DEFAULT_METRICS_PORT: u16 = 32780;
/// Default ping interval (`SUBMARINER_HEALTHCHECKINTERVAL`).
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Default consecutive-loss limit (`SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT`).
pub const DEFAULT_MAX_PACKET_LOSS_COUNT: u32 = 5;

/// Largest file read as a secret or broker-info (they are tiny).
const MAX_SECRET_FILE: u64 = 1 << 20;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Flags of `cable-engine run`. Each one overrides its environment variable.
///
/// Values are taken as text so that a bad value is reported by
/// [`Config::resolve`] with the flag's name in one line.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    after_help = "The PSK comes from --broker-info, else CE_IPSEC_PSKSECRET / --psk-secret, \
else CE_IPSEC_PSK (the base64 text, as libreswan uses it). Flags override the environment. \
Booleans are Go's: 1 t T TRUE true True 0 f F FALSE false False."
)]
pub struct RunFlags {
    /// Local cluster id [env: SUBMARINER_CLUSTERID]
    #[arg(long, value_name = "ID")]
    pub cluster_id: Option<String>,
    /// Namespace of the Submariner objects [env: SUBMARINER_NAMESPACE] [default: submariner-operator]
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Ping remote gateways through the tunnels [env: SUBMARINER_HEALTHCHECKENABLED] [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub health_check_enabled: Option<String>,
    /// Seconds between pings [env: SUBMARINER_HEALTHCHECKINTERVAL] [default: 1]
    #[arg(long, value_name = "SECONDS")]
    pub health_check_interval: Option<String>,
    /// Consecutive lost pings before a connection is in error [env: SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT] [default: 5]
    #[arg(long, value_name = "COUNT")]
    pub health_check_max_packet_loss_count: Option<String>,
    /// Port serving /metrics [env: SUBMARINER_METRICSPORT] [default: 32780]
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<String>,
    /// Name of the Secret whose `psk` file (under the secrets root) holds the raw PSK [env: CE_IPSEC_PSKSECRET]
    #[arg(long, value_name = "NAME")]
    pub psk_secret: Option<String>,
    /// Take the PSK from a broker-info.subm file (wins over CE_IPSEC_PSK and CE_IPSEC_PSKSECRET)
    #[arg(long, value_name = "FILE")]
    pub broker_info: Option<PathBuf>,
    /// Local IKE / NAT-T UDP port, and the default for peers [env: CE_IPSEC_NATTPORT] [default: 4500]
    #[arg(long, value_name = "PORT")]
    pub natt_port: Option<String>,
    /// Always encapsulate ESP in UDP [env: CE_IPSEC_FORCEENCAPS] [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub force_encaps: Option<String>,
    /// Prefer to be the IKE server (responder) [env: CE_IPSEC_PREFERREDSERVER] [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub preferred_server: Option<String>,
    /// IKE SA lifetime, e.g. 8h or 3600 [env: CE_IPSEC_IKELIFETIME] [default: 8h]
    #[arg(long, value_name = "DURATION")]
    pub ike_lifetime: Option<String>,
    /// Child SA lifetime [env: CE_IPSEC_SALIFETIME] [default: 8h]
    #[arg(long, value_name = "DURATION")]
    pub sa_lifetime: Option<String>,
    /// Rekey this long (plus up to as much again, at random) before a lifetime ends [env: CE_IPSEC_REKEYMARGIN] [default: 9m]
    #[arg(long, value_name = "DURATION")]
    pub rekey_margin: Option<String>,
    /// NAT keepalive interval when behind NAT, 0 for none [env: CE_IPSEC_NATKEEPALIVE] [default: 20s]
    #[arg(long, value_name = "DURATION")]
    pub nat_keepalive: Option<String>,
    /// Rekey a Child SA after this many packets through one of its SAs (the kernel's soft limit) [env: CE_IPSEC_REKEYPACKETS] [default: 3221225472 without ESN, none with ESN]
    #[arg(long, value_name = "PACKETS")]
    pub rekey_packets: Option<String>,
    /// Offer and accept only these IKE SA proposals, strongSwan-style, e.g. aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048 [env: CE_IPSEC_IKEPROPOSALS] [default: AES-GCM/AES-CBC, SHA2, ECP and Curve25519 then MODP 2048-4096]
    #[arg(long, value_name = "LIST")]
    pub ike_proposals: Option<String>,
    /// Offer and accept only these ESP proposals, e.g. aes256gcm16,aes256-sha256 (a group is the PFS group, esn/noesn fix ESN) [env: CE_IPSEC_ESPPROPOSALS] [default: AES-GCM/AES-CBC with SHA2, ESN or not]
    #[arg(long, value_name = "LIST")]
    pub esp_proposals: Option<String>,
    /// Require PFS: KE in every CREATE_CHILD_SA of Child SAs (new pairs, rekeys), a peer's without refused [env: CE_IPSEC_REQUIREPFS] [default: false: PFS follows the peer]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub require_pfs: Option<String>,
    /// Debug logging [env: CE_IPSEC_DEBUG] [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub debug: Option<String>,
    /// Remove the engine's SAs and policies when it stops; false keeps them so traffic flows while the next engine starts (a rolling update) [env: CABLE_ENGINE_CLEANUP_ON_EXIT] [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub cleanup_on_exit: Option<String>,
    /// Directory of Endpoint and Cluster YAML files (the endpoint source)
    #[arg(long, value_name = "DIR")]
    pub endpoints_dir: Option<PathBuf>,
    /// How often the endpoints directory is read for changes, in milliseconds
    /// [default: 1000]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub endpoints_poll_ms: Option<u64>,
    /// Log format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Unix socket on which the engine answers `show`
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    pub control_socket: PathBuf,
    /// Root of mounted Submariner secrets (for tests)
    #[arg(long, value_name = "DIR", default_value = DEFAULT_SECRETS_ROOT, hide = true)]
    pub secrets_root: PathBuf,
}

/// Health-check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// `SUBMARINER_HEALTHCHECKENABLED`.
    pub enabled: bool,
    /// `SUBMARINER_HEALTHCHECKINTERVAL` (0 is replaced by the 1 s default).
    pub interval: Duration,
    /// `SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT` (0 is replaced by 5).
    pub max_packet_loss_count: u32,
}

/// Where the PSK was taken from (safe to log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PskSource {
    /// `CE_IPSEC_PSK`.
    Env,
    /// A mounted Secret: `CE_IPSEC_PSKSECRET` / `--psk-secret`.
    Secret {
        /// The secret name.
        name: String,
        /// The file that was read.
        path: PathBuf,
    },
    /// `--broker-info FILE`.
    BrokerInfo(PathBuf),
}

impl fmt::Display for PskSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PskSource::Env => f.write_str("CE_IPSEC_PSK"),
            PskSource::Secret { name, path } => {
                write!(f, "secret {name:?} ({})", path.display())
            }
            PskSource::BrokerInfo(p) => write!(f, "broker-info {}", p.display()),
        }
    }
}

/// IPsec settings (the libreswan driver's `CE_IPSEC_*`).
#[derive(Debug, Clone)]
pub struct IpsecConfig {
    /// The PSK (base64 text, used as is on the wire).
    pub psk: Psk,
    /// Where it came from.
    pub psk_source: PskSource,
    /// `CE_IPSEC_NATTPORT`: the local IKE port (the socket's, which the
    /// published local Endpoint advertises as `udp-port`), and the default
    /// for peers without one.
    pub natt_port: u16,
    /// `CE_IPSEC_FORCEENCAPS`.
    pub force_encaps: bool,
    /// `CE_IPSEC_PREFERREDSERVER` (used when the local Endpoint's
    /// `backend_config` has no `preferred-server`).
    pub preferred_server: bool,
    /// `CE_IPSEC_DEBUG`.
    pub debug: bool,
    /// Lifetimes, rekey margin, NAT keepalive.
    pub timers: TimersConfig,
    /// `CE_IPSEC_IKEPROPOSALS`, `CE_IPSEC_ESPPROPOSALS`,
    /// `CE_IPSEC_REQUIREPFS`.
    pub proposals: crate::manager::peers::ProposalSettings,
}

/// The resolved, validated configuration of `cable-engine run`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SUBMARINER_CLUSTERID`.
    pub cluster_id: String,
    /// `SUBMARINER_NAMESPACE`.
    pub namespace: String,
    /// Health checks.
    pub health_check: HealthCheckConfig,
    /// `SUBMARINER_METRICSPORT`.
    pub metrics_port: u16,
    /// IPsec.
    pub ipsec: IpsecConfig,
    /// `--endpoints-dir`: `None` reads Endpoints and Clusters from Kubernetes.
    pub endpoints_dir: Option<PathBuf>,
    /// `--endpoints-poll-ms`: how often the directory source reads the directory.
    pub endpoints_poll: std::time::Duration,
    /// `--log-format`.
    pub log_format: LogFormat,
    /// `--control-socket`.
    pub control_socket: PathBuf,
    /// `CABLE_ENGINE_CLEANUP_ON_EXIT`: remove the engine's kernel state
    /// when it stops (default). False keeps the SAs and policies, which the
    /// next engine adopts (see `manager::reconcile`), so a rolling update
    /// is not an outage; an engine that is not coming back leaves them
    /// until their hard lifetime ends.
    pub cleanup_on_exit: bool,
}

/// A configuration error: its `Display` is one line naming the setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A value that does not parse or is out of range.
    #[error("invalid {setting} {value:?}: {expected}")]
    Invalid {
        /// Environment variable or flag.
        setting: String,
        /// The offending value (never a PSK).
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A required setting that is absent.
    #[error("missing {setting}: {hint}")]
    Missing {
        /// What is missing.
        setting: String,
        /// How to provide it.
        hint: String,
    },
    /// A file named by a setting that cannot be used.
    #[error("invalid {setting} file {path:?}: {reason}")]
    File {
        /// Environment variable or flag.
        setting: String,
        /// The file.
        path: PathBuf,
        /// Why (never containing file contents).
        reason: String,
    },
}

/// A value together with the name of the setting it came from.
struct Found {
    value: String,
    setting: &'static str,
}

/// Picks the flag value if given, else the non-empty environment value.
fn pick(
    flag: Option<&str>,
    flag_name: &'static str,
    env_name: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Found> {
    if let Some(v) = flag {
        return Some(Found {
            value: v.to_string(),
            setting: flag_name,
        });
    }
    env(env_name).filter(|v| !v.is_empty()).map(|v| Found {
        value: v,
        setting: env_name,
    })
}

fn invalid(found: &Found, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        setting: found.setting.to_string(),
        value: found.value.clone(),
        expected: expected.to_string(),
    }
}

fn parse_bool(found: Option<Found>, default: bool) -> Result<bool, ConfigError> {
    match found {
        None => Ok(default),
        Some(f) => parse_go_bool(&f.value).ok_or_else(|| {
            invalid(
                &f,
                "expected a boolean (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)",
            )
        }),
    }
}

fn parse_port(found: Option<Found>, default: u16) -> Result<u16, ConfigError> {
    match found {
        None => Ok(default),
        Some(f) => match f.value.parse::<u16>() {
            Ok(p) if p != 0 => Ok(p),
            _ => Err(invalid(&f, "expected a port number from 1 to 65535")),
        },
    }
}

/// Whether `s` is a DNS-1123 label, as `subctl join` requires of cluster ids.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` can be a Secret name (a DNS-1123 subdomain): in particular no
/// `/` and no `..`, so it cannot escape the secrets root.
fn is_secret_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label_loose)
}

fn is_dns_label_loose(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Reads a small file into zeroised memory.
fn read_small(setting: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let file_err = |reason: String| ConfigError::File {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| file_err(e.to_string()))?;
    if !meta.is_file() {
        return Err(file_err("not a regular file".into()));
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(file_err(format!("larger than {MAX_SECRET_FILE} bytes")));
    }
    let bytes = std::fs::read(path).map_err(|e| file_err(e.to_string()))?;
    Ok(Zeroizing::new(bytes))
}

/// The parts of broker-info.subm the engine reads; everything else (the
/// broker token among it) is skipped without being kept.
#[derive(Deserialize)]
struct BrokerInfo {
    #[serde(rename = "IPSecPSK")]
    ipsec_psk: Option<SecretData>,
}

#[derive(Deserialize)]
struct SecretData {
    data: Option<PskData>,
}

#[derive(Deserialize)]
struct PskData {
    psk: Option<String>,
}

/// Reads the PSK from a `broker-info.subm` file: base64 (URL-safe alphabet,
/// standard accepted too, padding optional) of JSON whose
/// `IPSecPSK.data.psk` is the base64 text of the secret; that text is the PSK.
pub fn psk_from_broker_info(path: &Path) -> Result<Psk, ConfigError> {
    const SETTING: &str = "--broker-info";
    let file_err = |reason: &str| ConfigError::File {
        setting: SETTING.to_string(),
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let raw = read_small(SETTING, path)?;
    let text = std::str::from_utf8(&raw).map_err(|_| file_err("not base64 text"))?;
    let text = text.trim();
    let cfg = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let url = base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg);
    let std_engine = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
    let json = url
        .decode(text)
        .or_else(|_| std_engine.decode(text))
        .map(Zeroizing::new)
        .map_err(|_| file_err("not base64 text"))?;
    let info: BrokerInfo = serde_json::from_slice(&json)
        .map_err(|_| file_err("not the base64 of a broker-info JSON object"))?;
    let psk = info
        .ipsec_psk
        .and_then(|s| s.data)
        .and_then(|d| d.psk)
        .map(Zeroizing::new)
        .ok_or_else(|| file_err("no IPSecPSK.data.psk in it"))?;
    if psk.is_empty() {
        return Err(file_err("IPSecPSK.data.psk is empty"));
    }
    if base64::engine::general_purpose::STANDARD
        .decode(psk.as_bytes())
        .map(Zeroizing::new)
        .is_err()
    {
        return Err(file_err("IPSecPSK.data.psk is not base64"));
    }
    Ok(Psk::from_text(psk.to_string()))
}

/// The proposal settings (`CE_IPSEC_IKEPROPOSALS`, `CE_IPSEC_ESPPROPOSALS`,
/// `CE_IPSEC_REQUIREPFS`) from the environment alone, as the drop-in pluto
/// reads them from the gateway's environment.
pub fn proposals_from_env(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<crate::manager::peers::ProposalSettings, ConfigError> {
    proposals::resolve(&RunFlags::default(), env)
}

impl Config {
    /// Resolves and validates the configuration from `flags` (which win), the
    /// environment as seen through `env`, and `flags.secrets_root`.
    ///
    /// The first problem found is returned; settings are checked in the order
    /// of the table in the module docs.
    pub fn resolve(
        flags: &RunFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let cluster_id = pick(
            flags.cluster_id.as_deref(),
            "--cluster-id",
            "SUBMARINER_CLUSTERID",
            env,
        )
        .ok_or_else(|| ConfigError::Missing {
            setting: "SUBMARINER_CLUSTERID".into(),
            hint: "set it (or --cluster-id) to the local cluster id".into(),
        })?;
        if !is_dns_label(&cluster_id.value) {
            return Err(invalid(
                &cluster_id,
                "expected a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)",
            ));
        }

        let namespace = pick(
            flags.namespace.as_deref(),
            "--namespace",
            "SUBMARINER_NAMESPACE",
            env,
        );
        let namespace = match namespace {
            None => DEFAULT_NAMESPACE.to_string(),
            Some(f) if is_dns_label(&f.value) => f.value,
            Some(f) => return Err(invalid(&f, "expected a Kubernetes namespace name")),
        };

        let enabled = parse_bool(
            pick(
                flags.health_check_enabled.as_deref(),
                "--health-check-enabled",
                "SUBMARINER_HEALTHCHECKENABLED",
                env,
            ),
            true,
        )?;
        let interval = match pick(
            flags.health_check_interval.as_deref(),
            "--health-check-interval",
            "SUBMARINER_HEALTHCHECKINTERVAL",
            env,
        ) {
            None => DEFAULT_HEALTH_CHECK_INTERVAL,
            Some(f) => match f.value.parse::<u32>() {
                Ok(0) => DEFAULT_HEALTH_CHECK_INTERVAL,
                Ok(s) => Duration::from_secs(u64::from(s)),
                Err(_) => return Err(invalid(&f, "expected a whole number of seconds")),
            },
        };
        let max_packet_loss_count = match pick(
            flags.health_check_max_packet_loss_count.as_deref(),
            "--health-check-max-packet-loss-count",
            "SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT",
            env,
        ) {
            None => DEFAULT_MAX_PACKET_LOSS_COUNT,
            Some(f) => match f.value.parse::<u32>() {
                Ok(0) => DEFAULT_MAX_PACKET_LOSS_COUNT,
                Ok(n) => n,
                Err(_) => return Err(invalid(&f, "expected a whole number of packets")),
            },
        };

        let metrics_port = parse_port(
            pick(
                flags.metrics_port.as_deref(),
                "--metrics-port",
                "SUBMARINER_METRICSPORT",
                env,
            ),
            DEFAULT_METRICS_PORT,
        )?;

        let (psk, psk_source) = Self::resolve_psk(flags, env)?;

        let natt_port = parse_port(
            pick(
                flags.natt_port.as_deref(),
                "--natt-port",
                "CE_IPSEC_NATTPORT",
                env,
            ),
            DEFAULT_NATT_PORT,
        )?;
        let force_encaps = parse_bool(
            pick(
                flags.force_encaps.as_deref(),
                "--force-encaps",
                "CE_IPSEC_FORCEENCAPS",
                env,
            ),
            false,
        )?;
        let preferred_server = parse_bool(
            pick(
                flags.preferred_server.as_deref(),
                "--preferred-server",
                "CE_IPSEC_PREFERREDSERVER",
                env,
            ),
            false,
        )?;
        let debug = parse_bool(
            pick(flags.debug.as_deref(), "--debug", "CE_IPSEC_DEBUG", env),
            false,
        )?;
        let cleanup_on_exit = parse_bool(
            pick(
                flags.cleanup_on_exit.as_deref(),
                "--cleanup-on-exit",
                "CABLE_ENGINE_CLEANUP_ON_EXIT",
                env,
            ),
            true,
        )?;

        let timers = TimersConfig::resolve(flags, env)?;
        let proposals = proposals::resolve(flags, env)?;

        let endpoints_dir = flags.endpoints_dir.clone();
        if let Some(dir) = endpoints_dir.as_ref().filter(|d| !d.is_dir()) {
            return Err(ConfigError::Invalid {
                setting: "--endpoints-dir".into(),
                value: dir.display().to_string(),
                expected: "expected an existing directory".into(),
            });
        }

        Ok(Config {
            cluster_id: cluster_id.value,
            namespace,
            health_check: HealthCheckConfig {
                enabled,
                interval,
                max_packet_loss_count,
            },
            metrics_port,
            ipsec: IpsecConfig {
                psk,
                psk_source,
                natt_port,
                force_encaps,
                preferred_server,
                debug,
                timers,
                proposals,
            },
            endpoints_dir,
            endpoints_poll: flags.endpoints_poll_ms.map_or(
                crate::source::dir::DEFAULT_POLL_INTERVAL,
                std::time::Duration::from_millis,
            ),
            log_format: flags.log_format,
            control_socket: flags.control_socket.clone(),
            cleanup_on_exit,
        })
    }

    fn resolve_psk(
        flags: &RunFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Psk, PskSource), ConfigError> {
        if let Some(path) = &flags.broker_info {
            let psk = psk_from_broker_info(path)?;
            return Ok((psk, PskSource::BrokerInfo(path.clone())));
        }
        if let Some(found) = pick(
            flags.psk_secret.as_deref(),
            "--psk-secret",
            "CE_IPSEC_PSKSECRET",
            env,
        ) {
            if !is_secret_name(&found.value) {
                return Err(invalid(&found, "expected a Kubernetes Secret name"));
            }
            let path = flags.secrets_root.join(&found.value).join("psk");
            let raw = read_small(found.setting, &path)?;
            if raw.is_empty() {
                return Err(ConfigError::File {
                    setting: found.setting.to_string(),
                    path,
                    reason: "empty".into(),
                });
            }
            let psk = Psk::from_secret_bytes(&raw);
            return Ok((
                psk,
                PskSource::Secret {
                    name: found.value,
                    path,
                },
            ));
        }
        match env("CE_IPSEC_PSK").filter(|v| !v.is_empty()) {
            Some(text) => Ok((Psk::from_text(text), PskSource::Env)),
            None => Err(ConfigError::Missing {
                setting: "PSK".into(),
                hint: "set CE_IPSEC_PSK or CE_IPSEC_PSKSECRET, or give --broker-info FILE".into(),
            }),
        }
    }
}

/// The process environment, for [`Config::resolve`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const PSK_TEXT: &str = "dGhpcy1pcy1hLXRlc3QtcHNrLW9mLTQ4LWJ5dGVzLWxvbmctZW5vdWdoLXllcw==";

    struct Fixture {
        dir: tempfile::TempDir,
        env: HashMap<String, String>,
        flags: RunFlags,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let endpoints = dir.path().join("endpoints");
            std::fs::create_dir(&endpoints).unwrap();
            let mut env = HashMap::new();
            env.insert("SUBMARINER_CLUSTERID".into(), "cluster1".into());
            env.insert("CE_IPSEC_PSK".into(), PSK_TEXT.into());
            let flags = RunFlags {
                endpoints_dir: Some(endpoints),
                control_socket: DEFAULT_CONTROL_SOCKET.into(),
                secrets_root: dir.path().join("secrets"),
                ..RunFlags::default()
            };
            Fixture { dir, env, flags }
        }
        fn set(&mut self, k: &str, v: &str) -> &mut Self {
            self.env.insert(k.into(), v.into());
            self
        }
        fn resolve(&self) -> Result<Config, ConfigError> {
            let env = self.env.clone();
            Config::resolve(&self.flags, &move |k| env.get(k).cloned())
        }
        fn err(&self) -> String {
            let e = self.resolve().unwrap_err();
            let s = e.to_string();
            assert!(!s.contains('\n'), "multi-line error: {s}");
            assert!(!s.contains(PSK_TEXT) && !format!("{e:?}").contains(PSK_TEXT));
            s
        }
    }

    /// Issue 13, item 9: cleanup on exit was hard-wired on, so every
    /// rolling update was an outage. It is a setting now, on by default.
    #[test]
    fn cleanup_on_exit_is_a_setting() {
        let mut f = Fixture::new();
        assert!(f.resolve().unwrap().cleanup_on_exit);
        f.set("CABLE_ENGINE_CLEANUP_ON_EXIT", "false");
        assert!(!f.resolve().unwrap().cleanup_on_exit);
        f.flags.cleanup_on_exit = Some("true".into());
        assert!(f.resolve().unwrap().cleanup_on_exit, "the flag wins");
        f.flags.cleanup_on_exit = None;
        f.set("CABLE_ENGINE_CLEANUP_ON_EXIT", "sometimes");
        assert!(f.err().contains("CABLE_ENGINE_CLEANUP_ON_EXIT"));
    }

    /// Issue 14: the proposals can be restricted (e.g. to a FIPS list);
    /// unset, the defaults stay; a name the engine does not run stops it
    /// with one line naming the setting and the name.
    /// The drop-in pluto reads the same three settings from its
    /// environment alone (before: it always ran `ike`'s defaults).
    #[test]
    fn proposals_from_the_environment_alone() {
        let env = |k: &str| match k {
            "CE_IPSEC_IKEPROPOSALS" => Some("aes256-sha256-modp2048".to_string()),
            "CE_IPSEC_REQUIREPFS" => Some("true".to_string()),
            _ => None,
        };
        let p = proposals_from_env(&env).unwrap();
        assert_eq!(p.ike.len(), 1);
        assert_eq!(p.ike[0].dh, vec![ike::crypto::DhGroup::Modp2048]);
        assert!(p.require_pfs);
        assert_eq!(
            p.esp,
            crate::manager::peers::ProposalSettings::default().esp
        );
        let bad = |k: &str| (k == "CE_IPSEC_ESPPROPOSALS").then(|| "des".to_string());
        let e = proposals_from_env(&bad).unwrap_err().to_string();
        assert!(
            e.contains("CE_IPSEC_ESPPROPOSALS") && e.contains("des"),
            "{e}"
        );
    }

    #[test]
    fn proposal_restrictions() {
        use crate::manager::peers::ProposalSettings;
        use ike::crypto::{DhGroup, Encr, Integ, Prf};
        let mut f = Fixture::new();
        assert_eq!(
            f.resolve().unwrap().ipsec.proposals,
            ProposalSettings::default()
        );
        f.set(
            "CE_IPSEC_IKEPROPOSALS",
            "aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048",
        )
        .set("CE_IPSEC_ESPPROPOSALS", "aes256gcm16,aes256-sha256");
        let p = f.resolve().unwrap().ipsec.proposals;
        assert_eq!(p.ike.len(), 2);
        assert_eq!(
            (
                p.ike[0].encr.as_slice(),
                p.ike[0].prf.as_slice(),
                p.ike[0].dh.as_slice()
            ),
            (
                &[Encr::AesGcm16_256][..],
                &[Prf::HmacSha256][..],
                &[DhGroup::Ecp256][..]
            )
        );
        assert_eq!(p.ike[1].integ, vec![Integ::HmacSha256_128]);
        assert_eq!(p.ike[1].dh, vec![DhGroup::Modp2048]);
        assert_eq!(p.esp.len(), 2);
        assert_eq!(p.esp[1].encr, vec![Encr::AesCbc256]);

        f.flags.esp_proposals = Some("aes128gcm16".into());
        let p = f.resolve().unwrap().ipsec.proposals;
        assert_eq!(p.esp[0].encr, vec![Encr::AesGcm16_128], "the flag wins");

        let cases = [
            (
                "CE_IPSEC_IKEPROPOSALS",
                "aes256gcm16-prfsha256-ecp256,aes192-sha1-modp1024",
                r#"invalid CE_IPSEC_IKEPROPOSALS "aes256gcm16-prfsha256-ecp256,aes192-sha1-modp1024": unknown or unsupported algorithm "aes192" in IKE proposal "aes192-sha1-modp1024" (supported: "#,
            ),
            (
                "CE_IPSEC_ESPPROPOSALS",
                "aes256gcm16-sha1",
                r#"invalid CE_IPSEC_ESPPROPOSALS "aes256gcm16-sha1": unknown or unsupported algorithm "sha1""#,
            ),
            (
                "CE_IPSEC_ESPPROPOSALS",
                "aes256gcm16-prfsha256",
                r#"unknown or unsupported algorithm "prfsha256" in ESP proposal"#,
            ),
            (
                "CE_IPSEC_IKEPROPOSALS",
                "aes256gcm16-prfsha256",
                r#"invalid CE_IPSEC_IKEPROPOSALS "aes256gcm16-prfsha256": IKE proposal "aes256gcm16-prfsha256" has no DH group"#,
            ),
            (
                "CE_IPSEC_ESPPROPOSALS",
                "aes256",
                r#"ESP proposal "aes256" has no integrity algorithm"#,
            ),
        ];
        for (name, value, want) in cases {
            let mut f = Fixture::new();
            f.set(name, value);
            let got = f.err();
            assert!(got.contains(want), "{name}: got {got:?}, want {want:?}");
        }
        let mut f = Fixture::new();
        f.flags.ike_proposals = Some("3des-md5-modp1024".into());
        assert!(f
            .err()
            .starts_with(r#"invalid --ike-proposals "3des-md5-modp1024": unknown or unsupported algorithm "3des""#));
    }

    /// Issue 14: requiring PFS is a setting, off by default.
    #[test]
    fn require_pfs_is_a_setting() {
        let mut f = Fixture::new();
        assert!(!f.resolve().unwrap().ipsec.proposals.require_pfs);
        f.set("CE_IPSEC_REQUIREPFS", "true");
        assert!(f.resolve().unwrap().ipsec.proposals.require_pfs);
        f.flags.require_pfs = Some("false".into());
        assert!(
            !f.resolve().unwrap().ipsec.proposals.require_pfs,
            "the flag wins"
        );
        f.flags.require_pfs = None;
        f.set("CE_IPSEC_REQUIREPFS", "always");
        assert!(f
            .err()
            .starts_with(r#"invalid CE_IPSEC_REQUIREPFS "always": expected a boolean"#));
    }

    #[test]
    fn endpoints_poll_interval() {
        let mut f = Fixture::new();
        let c = f.resolve().unwrap();
        assert_eq!(c.endpoints_poll, std::time::Duration::from_secs(1));
        f.flags.endpoints_poll_ms = Some(100);
        let c = f.resolve().unwrap();
        assert_eq!(c.endpoints_poll, std::time::Duration::from_millis(100));
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            flags: RunFlags,
        }
        assert!(Cli::try_parse_from(["x", "--endpoints-poll-ms", "5"]).is_err());
        assert!(Cli::try_parse_from(["x", "--endpoints-poll-ms", "250"]).is_ok());
    }

    #[test]
    fn defaults() {
        let f = Fixture::new();
        let c = f.resolve().unwrap();
        assert_eq!(c.cluster_id, "cluster1");
        assert_eq!(c.namespace, "submariner-operator");
        assert_eq!(
            c.health_check,
            HealthCheckConfig {
                enabled: true,
                interval: Duration::from_secs(1),
                max_packet_loss_count: 5
            }
        );
        assert_eq!(c.metrics_port, 32780);
        assert_eq!(c.ipsec.natt_port, 4500);
        assert!(!c.ipsec.force_encaps && !c.ipsec.preferred_server && !c.ipsec.debug);
        assert_eq!(c.ipsec.psk.as_bytes(), PSK_TEXT.as_bytes());
        assert_eq!(c.ipsec.psk_source, PskSource::Env);
        assert_eq!(c.log_format, LogFormat::Human);
        assert_eq!(c.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
    }

    #[test]
    fn environment_values() {
        let mut f = Fixture::new();
        f.set("SUBMARINER_NAMESPACE", "submariner-ns")
            .set("SUBMARINER_HEALTHCHECKENABLED", "F")
            .set("SUBMARINER_HEALTHCHECKINTERVAL", "3")
            .set("SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT", "7")
            .set("SUBMARINER_METRICSPORT", "9999")
            .set("CE_IPSEC_NATTPORT", "4501")
            .set("CE_IPSEC_FORCEENCAPS", "TRUE")
            .set("CE_IPSEC_PREFERREDSERVER", "1")
            .set("CE_IPSEC_DEBUG", "True");
        let c = f.resolve().unwrap();
        assert_eq!(c.namespace, "submariner-ns");
        assert!(!c.health_check.enabled);
        assert_eq!(c.health_check.interval, Duration::from_secs(3));
        assert_eq!(c.health_check.max_packet_loss_count, 7);
        assert_eq!(c.metrics_port, 9999);
        assert_eq!(c.ipsec.natt_port, 4501);
        assert!(c.ipsec.force_encaps && c.ipsec.preferred_server && c.ipsec.debug);
    }

    #[test]
    fn zero_interval_and_loss_mean_default_and_empty_env_is_unset() {
        let mut f = Fixture::new();
        f.set("SUBMARINER_HEALTHCHECKINTERVAL", "0")
            .set("SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT", "0")
            .set("CE_IPSEC_NATTPORT", "")
            .set("SUBMARINER_HEALTHCHECKENABLED", "");
        let c = f.resolve().unwrap();
        assert_eq!(c.health_check.interval, Duration::from_secs(1));
        assert_eq!(c.health_check.max_packet_loss_count, 5);
        assert_eq!(c.ipsec.natt_port, 4500);
        assert!(c.health_check.enabled);
    }

    #[test]
    fn flags_override_environment() {
        let mut f = Fixture::new();
        f.set("SUBMARINER_HEALTHCHECKINTERVAL", "abc")
            .set("CE_IPSEC_FORCEENCAPS", "true")
            .set("CE_IPSEC_NATTPORT", "1");
        f.flags.cluster_id = Some("cluster9".into());
        f.flags.health_check_interval = Some("2".into());
        f.flags.force_encaps = Some("false".into());
        f.flags.natt_port = Some("4600".into());
        f.flags.log_format = LogFormat::Json;
        let c = f.resolve().unwrap();
        assert_eq!(c.cluster_id, "cluster9");
        assert_eq!(c.health_check.interval, Duration::from_secs(2));
        assert!(!c.ipsec.force_encaps);
        assert_eq!(c.ipsec.natt_port, 4600);
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn invalid_values_name_their_setting() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "SUBMARINER_HEALTHCHECKINTERVAL",
                "abc",
                r#"invalid SUBMARINER_HEALTHCHECKINTERVAL "abc": expected a whole number of seconds"#,
            ),
            (
                "SUBMARINER_HEALTHCHECKINTERVAL",
                "-1",
                r#"invalid SUBMARINER_HEALTHCHECKINTERVAL "-1": expected a whole number of seconds"#,
            ),
            (
                "SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT",
                "lots",
                r#"invalid SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT "lots": expected a whole number of packets"#,
            ),
            (
                "SUBMARINER_HEALTHCHECKENABLED",
                "yes",
                r#"invalid SUBMARINER_HEALTHCHECKENABLED "yes": expected a boolean (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)"#,
            ),
            (
                "SUBMARINER_METRICSPORT",
                "70000",
                r#"invalid SUBMARINER_METRICSPORT "70000": expected a port number from 1 to 65535"#,
            ),
            (
                "CE_IPSEC_NATTPORT",
                "0",
                r#"invalid CE_IPSEC_NATTPORT "0": expected a port number from 1 to 65535"#,
            ),
            (
                "CE_IPSEC_FORCEENCAPS",
                "on",
                r#"invalid CE_IPSEC_FORCEENCAPS "on": expected a boolean"#,
            ),
            (
                "CE_IPSEC_PREFERREDSERVER",
                "nope",
                r#"invalid CE_IPSEC_PREFERREDSERVER "nope": expected a boolean"#,
            ),
            (
                "CE_IPSEC_DEBUG",
                "2",
                r#"invalid CE_IPSEC_DEBUG "2": expected a boolean"#,
            ),
            (
                "SUBMARINER_CLUSTERID",
                "Cluster_1",
                r#"invalid SUBMARINER_CLUSTERID "Cluster_1": expected a DNS-1123 label"#,
            ),
            (
                "SUBMARINER_NAMESPACE",
                "a/b",
                r#"invalid SUBMARINER_NAMESPACE "a/b": expected a Kubernetes namespace name"#,
            ),
            (
                "CE_IPSEC_PSKSECRET",
                "../etc",
                r#"invalid CE_IPSEC_PSKSECRET "../etc": expected a Kubernetes Secret name"#,
            ),
        ];
        for (name, value, want) in cases {
            let mut f = Fixture::new();
            f.set(name, value);
            let got = f.err();
            assert!(got.starts_with(want), "{name}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn invalid_flag_values_name_the_flag() {
        let mut f = Fixture::new();
        f.flags.health_check_interval = Some("1.5".into());
        assert_eq!(
            f.err(),
            r#"invalid --health-check-interval "1.5": expected a whole number of seconds"#
        );
        let mut f = Fixture::new();
        f.flags.debug = Some("maybe".into());
        assert!(f.err().starts_with(r#"invalid --debug "maybe""#));
    }

    #[test]
    fn missing_settings() {
        let mut f = Fixture::new();
        f.env.remove("SUBMARINER_CLUSTERID");
        assert!(f.err().starts_with("missing SUBMARINER_CLUSTERID:"));

        let mut f = Fixture::new();
        f.env.remove("CE_IPSEC_PSK");
        assert!(f.err().starts_with("missing PSK: set CE_IPSEC_PSK"));

        // Without a directory the Endpoints come from Kubernetes.
        let mut f = Fixture::new();
        f.flags.endpoints_dir = None;
        assert_eq!(f.resolve().map(|c| c.endpoints_dir).ok(), Some(None));

        let mut f = Fixture::new();
        f.flags.endpoints_dir = Some(f.dir.path().join("nope"));
        assert!(f.err().starts_with("invalid --endpoints-dir"));
    }

    #[test]
    fn psk_from_secret_file_wins_over_env() {
        let mut f = Fixture::new();
        let raw: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(91)).collect();
        let secret_dir = f.flags.secrets_root.join("submariner-ipsec-psk");
        std::fs::create_dir_all(&secret_dir).unwrap();
        std::fs::write(secret_dir.join("psk"), &raw).unwrap();
        f.set("CE_IPSEC_PSKSECRET", "submariner-ipsec-psk");
        let c = f.resolve().unwrap();
        let want = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(c.ipsec.psk.as_bytes(), want.as_bytes());
        assert_eq!(want.len(), 64);
        assert!(
            matches!(c.ipsec.psk_source, PskSource::Secret { ref name, .. } if name == "submariner-ipsec-psk")
        );
        // Nothing printed about the config reveals the key.
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(&want) && !dbg.contains(PSK_TEXT), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn psk_secret_problems() {
        let mut f = Fixture::new();
        f.set("CE_IPSEC_PSKSECRET", "absent");
        let e = f.err();
        assert!(
            e.starts_with("invalid CE_IPSEC_PSKSECRET file ") && e.contains("absent/psk"),
            "{e}"
        );

        let mut f = Fixture::new();
        let d = f.flags.secrets_root.join("empty");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("psk"), b"").unwrap();
        f.flags.psk_secret = Some("empty".into());
        let e = f.err();
        assert!(
            e.starts_with("invalid --psk-secret file ") && e.ends_with(": empty"),
            "{e}"
        );
    }

    fn broker_info(psk_json: &str, url_safe: bool) -> String {
        let json = format!(
            r#"{{"brokerURL":"https://broker:6443","ClientToken":{{"metadata":{{"name":"tok"}},"data":{{"token":"c2VjcmV0LXRva2Vu"}}}},"IPSecPSK":{{"metadata":{{"name":"submariner-ipsec-psk","creationTimestamp":null}},"data":{{"psk":{psk_json}}}}},"ServiceDiscovery":true,"Components":["service-discovery","connectivity"],"CustomDomains":null}}"#
        );
        if url_safe {
            base64::engine::general_purpose::URL_SAFE.encode(json)
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(json)
        }
    }

    #[test]
    fn psk_from_broker_info_is_the_base64_text() {
        let raw: Vec<u8> = (0..48u8).map(|i| 255 - i * 3).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&raw);
        for url_safe in [true, false] {
            let mut f = Fixture::new();
            let path = f.dir.path().join("broker-info.subm");
            std::fs::write(&path, broker_info(&format!("{text:?}"), url_safe) + "\n").unwrap();
            f.flags.broker_info = Some(path.clone());
            f.set("CE_IPSEC_PSKSECRET", "ignored-because-broker-info-wins");
            let c = f.resolve().unwrap();
            assert_eq!(c.ipsec.psk.as_bytes(), text.as_bytes());
            assert_eq!(c.ipsec.psk_source, PskSource::BrokerInfo(path));
            assert!(!format!("{c:?}").contains(&text));
        }
    }

    #[test]
    fn broker_info_problems_name_the_flag_and_hide_the_key() {
        let cases = [
            ("not base64 at all!".to_string(), "not base64 text"),
            (
                base64::engine::general_purpose::URL_SAFE.encode("[1,2]"),
                "not the base64 of a broker-info JSON object",
            ),
            (
                base64::engine::general_purpose::URL_SAFE.encode(r#"{"brokerURL":"x"}"#),
                "no IPSecPSK.data.psk in it",
            ),
            (
                broker_info(r#""%%%not-b64%%%""#, true),
                "IPSecPSK.data.psk is not base64",
            ),
        ];
        for (content, why) in cases {
            let mut f = Fixture::new();
            let path = f.dir.path().join("broker-info.subm");
            std::fs::write(&path, content).unwrap();
            f.flags.broker_info = Some(path);
            let e = f.err();
            assert!(e.starts_with("invalid --broker-info file "), "{e}");
            assert!(e.ends_with(why), "{e}");
            assert!(!e.contains("%%%not-b64%%%"));
        }
    }
}
