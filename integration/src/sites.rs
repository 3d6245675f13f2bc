//! Simulated Submariner clusters for end-to-end tests: Endpoint and Cluster
//! objects written as YAML files (as `kubectl get -o yaml` prints them) into
//! an endpoints directory, and `cable-engine` processes run in namespaces.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::topo::Netns;

/// A PSK as Submariner makes it: the base64 text of 48 bytes.
pub const TEST_PSK: &str = "kY2Jd1w0Y3r6G0l6s3Nt7QyQ0a8ZcX1mB2nV4pL5qR6tU7wE8rT9yU0iO1pA2sD3";

/// An IP family, as Submariner's dual-stack support splits cables and
/// status entries by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    /// The family of an address or a CIDR (`10.1.0.1`, `fd10:1::/64`);
    /// `None` when it is neither.
    pub fn of(addr: &str) -> Option<IpFamily> {
        let ip = addr.split('/').next().unwrap_or(addr);
        match ip.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(_) => Some(IpFamily::V4),
            std::net::IpAddr::V6(_) => Some(IpFamily::V6),
        }
    }

    /// `IPv4` / `IPv6`, for messages.
    pub fn label(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }

    /// `v4` / `v6`: the family token of the libreswan driver's connection
    /// names (`<cable>-v6-<i>-<j>`) and, with two dashes, of its whack
    /// option (`--ipv6`).
    pub fn token(self) -> &'static str {
        match self {
            IpFamily::V4 => "v4",
            IpFamily::V6 => "v6",
        }
    }
}

/// One simulated cluster's gateway Endpoint.
///
/// IPv4-only (as every test before IPv6 support): the singular fields, and
/// the lists left empty (they are then left out of the YAML, as an older
/// Submariner writes it). IPv6-only: the singular fields hold the IPv6
/// addresses and the lists the same one address each
/// ([`Site::with_ip_lists`]). Dual-stack: the singular fields hold the
/// IPv4 addresses (Submariner fills them with IPv4), the lists one address
/// per family, and `subnets` CIDRs of both families ([`Site::with_ipv6`]).
#[derive(Debug, Clone, Default)]
pub struct Site {
    pub cluster_id: String,
    pub private_ip: String,
    pub public_ip: String,
    pub health_check_ip: String,
    /// CIDRs of either family (also the Cluster's `cluster_cidr`).
    pub subnets: Vec<String>,
    pub nat_enabled: bool,
    pub preferred_server: bool,
    /// `privateIPs` (at most one per family; empty: left out).
    pub private_ips: Vec<String>,
    /// `publicIPs` (at most one per family; empty: left out).
    pub public_ips: Vec<String>,
    /// `healthCheckIPs` (at most one per family; empty: left out).
    pub health_check_ips: Vec<String>,
}

/// A YAML scalar: quoted when it holds a `:` (IPv6 addresses and CIDRs),
/// as is otherwise (so IPv4-only Endpoints are written as before).
fn yaml_scalar(s: &str) -> String {
    if s.contains(':') {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// `\n  - a\n  - b` (a YAML block list at the spec's level), or ` []`.
fn yaml_list(items: &[String]) -> String {
    if items.is_empty() {
        return " []".into();
    }
    items
        .iter()
        .map(|s| format!("\n  - {}", yaml_scalar(s)))
        .collect()
}

/// The address of `family` among a singular field and its list.
fn of_family<'a>(single: &'a str, many: &'a [String], family: IpFamily) -> Option<&'a str> {
    std::iter::once(single)
        .chain(many.iter().map(String::as_str))
        .find(|a| IpFamily::of(a) == Some(family))
}

impl Site {
    /// `submariner-cable-<cluster>-<ip with dashes>`: the IPv4 private IP
    /// with its dots as dashes, or, for an IPv6-only Endpoint, the IPv6
    /// private IP with its colons as dashes.
    pub fn cable_name(&self) -> String {
        let ip = self
            .private_ip_of(IpFamily::V4)
            .or_else(|| self.private_ip_of(IpFamily::V6))
            .unwrap_or(&self.private_ip);
        format!(
            "submariner-cable-{}-{}",
            self.cluster_id,
            ip.replace(['.', ':'], "-")
        )
    }

    /// Make an IPv4-only site dual-stack: the lists get the singular (IPv4)
    /// address and the given IPv6 one, `subnets` the IPv6 CIDRs after the
    /// IPv4 ones. The singular fields keep IPv4.
    pub fn with_ipv6(
        mut self,
        private_ip: &str,
        public_ip: &str,
        health_check_ip: &str,
        subnets: &[&str],
    ) -> Site {
        self.private_ips = vec![self.private_ip.clone(), private_ip.into()];
        self.public_ips = vec![self.public_ip.clone(), public_ip.into()];
        self.health_check_ips = vec![self.health_check_ip.clone(), health_check_ip.into()];
        self.subnets.extend(subnets.iter().map(|s| s.to_string()));
        self
    }

    /// Fill the lists from the singular fields (one address each), as a
    /// release with dual-stack support writes a single-family Endpoint;
    /// for an IPv6-only site built with IPv6 singular fields.
    pub fn with_ip_lists(mut self) -> Site {
        self.private_ips = vec![self.private_ip.clone()];
        self.public_ips = vec![self.public_ip.clone()];
        self.health_check_ips = vec![self.health_check_ip.clone()];
        self
    }

    /// The private IP of `family` (singular field or list).
    pub fn private_ip_of(&self, family: IpFamily) -> Option<&str> {
        of_family(&self.private_ip, &self.private_ips, family)
    }

    /// The public IP of `family` (singular field or list).
    pub fn public_ip_of(&self, family: IpFamily) -> Option<&str> {
        of_family(&self.public_ip, &self.public_ips, family)
    }

    /// The health-check IP of `family` (singular field or list).
    pub fn health_check_ip_of(&self, family: IpFamily) -> Option<&str> {
        of_family(&self.health_check_ip, &self.health_check_ips, family)
    }

    /// The subnets of `family`, in order.
    pub fn subnets_of(&self, family: IpFamily) -> Vec<String> {
        self.subnets
            .iter()
            .filter(|s| IpFamily::of(s) == Some(family))
            .cloned()
            .collect()
    }

    /// The families this site has a private IP of (IPv4 first).
    pub fn families(&self) -> Vec<IpFamily> {
        [IpFamily::V4, IpFamily::V6]
            .into_iter()
            .filter(|f| self.private_ip_of(*f).is_some())
            .collect()
    }

    /// The Endpoint object as YAML.
    pub fn endpoint_yaml(&self) -> String {
        let subnets: String = self
            .subnets
            .iter()
            .map(|s| format!("\n  - {}", yaml_scalar(s)))
            .collect();
        let list = |key: &str, items: &[String]| {
            if items.is_empty() {
                String::new()
            } else {
                format!("  {key}:{}\n", yaml_list(items))
            }
        };
        format!(
            "apiVersion: submariner.io/v1\nkind: Endpoint\nmetadata:\n  name: {cluster}-{cable}\n  namespace: submariner-operator\nspec:\n  backend: libreswan\n  backend_config:\n    natt-discovery-port: \"4490\"\n    preferred-server: \"{pref}\"\n    udp-port: \"4500\"\n  cable_name: {cable}\n  cluster_id: {cluster}\n  healthCheckIP: {hc}\n{hcs}  hostname: gw-{cluster}\n  nat_enabled: {nat}\n  private_ip: {private}\n{privates}  public_ip: {public}\n{publics}  subnets:{subnets}\n",
            cluster = self.cluster_id,
            cable = self.cable_name(),
            pref = self.preferred_server,
            hc = yaml_scalar(&self.health_check_ip),
            hcs = list("healthCheckIPs", &self.health_check_ips),
            nat = self.nat_enabled,
            private = yaml_scalar(&self.private_ip),
            privates = list("privateIPs", &self.private_ips),
            public = yaml_scalar(&self.public_ip),
            publics = list("publicIPs", &self.public_ips),
        )
    }

    /// The Cluster object as YAML (cluster CIDRs = the Endpoint's subnets).
    pub fn cluster_yaml(&self) -> String {
        let cidrs: String = self
            .subnets
            .iter()
            .map(|s| format!("\n  - {}", yaml_scalar(s)))
            .collect();
        format!(
            "apiVersion: submariner.io/v1\nkind: Cluster\nmetadata:\n  name: {c}\n  namespace: submariner-operator\nspec:\n  cluster_id: {c}\n  cluster_cidr:{cidrs}\n  color_codes:\n  - blue\n  global_cidr: []\n  service_cidr: []\n",
            c = self.cluster_id
        )
    }

    /// Write this site's two objects into `dir` so that a reader never sees
    /// half a file: written next to it, then renamed into place.
    pub fn write_into_atomically(&self, dir: &Path) -> Result<()> {
        let staging = dir.with_extension("staging");
        self.write_into(&staging)?;
        for entry in std::fs::read_dir(&staging)? {
            let path = entry?.path();
            if let Some(name) = path.file_name() {
                std::fs::rename(&path, dir.join(name))?;
            }
        }
        std::fs::remove_dir(&staging)?;
        Ok(())
    }

    /// Write this site's two objects into `dir`.
    pub fn write_into(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(self.endpoint_file(dir), self.endpoint_yaml())?;
        std::fs::write(
            dir.join(format!("cluster-{}.yaml", self.cluster_id)),
            self.cluster_yaml(),
        )?;
        Ok(())
    }

    /// The path of this site's Endpoint file in `dir`.
    pub fn endpoint_file(&self, dir: &Path) -> PathBuf {
        dir.join(format!("endpoint-{}.yaml", self.cluster_id))
    }
}

/// The `cable-engine` binary of the running program's target directory
/// (a test runs from `target/<profile>/deps/`, a binary from `target/<profile>/`).
pub fn engine_binary() -> Result<PathBuf> {
    // The benchmark runs a release build, named by this variable.
    if let Some(bin) = std::env::var_os("CABLE_ENGINE_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    let here = exe.parent().context("executable has no directory")?;
    for dir in [Some(here), here.parent()].into_iter().flatten() {
        let bin = dir.join("cable-engine");
        if bin.is_file() {
            return Ok(bin);
        }
    }
    bail!(
        "cable-engine is missing next to {}: build it first (cargo build -p cable-engine)",
        exe.display()
    )
}

/// A running `cable-engine run` inside a namespace; killed when dropped.
pub struct Engine {
    pub child: Child,
    pub control_socket: PathBuf,
    pub log: PathBuf,
}

impl Engine {
    /// Start an engine for `site` in `ns`, reading `endpoints_dir`, with the
    /// extra environment `env`. Logs go to `<work>/<cluster>.log`.
    pub fn start(
        ns: &Netns,
        site: &Site,
        endpoints_dir: &Path,
        work: &Path,
        env: &[(&str, &str)],
    ) -> Result<Engine> {
        Self::start_cluster(ns, &site.cluster_id, endpoints_dir, work, env)
    }

    /// Start an engine for the cluster `cluster_id` (see [`Engine::start`]).
    pub fn start_cluster(
        ns: &Netns,
        cluster_id: &str,
        endpoints_dir: &Path,
        work: &Path,
        env: &[(&str, &str)],
    ) -> Result<Engine> {
        Self::start_with_args(ns, cluster_id, endpoints_dir, work, env, &[])
    }

    /// [`Engine::start_cluster`] with more `run` flags.
    pub fn start_with_args(
        ns: &Netns,
        cluster_id: &str,
        endpoints_dir: &Path,
        work: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Engine> {
        let control_socket = work.join(format!("{cluster_id}.sock"));
        let log = work.join(format!("{cluster_id}.log"));
        let out = std::fs::File::create(&log)?;
        let mut cmd = ns.command(&engine_binary()?.to_string_lossy());
        cmd.args(["run", "--endpoints-dir"])
            .arg(endpoints_dir)
            .arg("--control-socket")
            .arg(&control_socket)
            .args(args)
            .env("SUBMARINER_CLUSTERID", cluster_id)
            .env("CE_IPSEC_PSK", TEST_PSK)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("starting cable-engine")?;
        Ok(Engine {
            child,
            control_socket,
            log,
        })
    }

    /// `cable-engine show connections` output (table or `-o json`).
    pub fn show(&self, json: bool) -> Result<String> {
        let mut cmd = std::process::Command::new(engine_binary()?);
        cmd.args(["show", "connections", "--control-socket"])
            .arg(&self.control_socket);
        if json {
            cmd.args(["-o", "json"]);
        }
        let out = cmd.output()?;
        if !out.status.success() {
            bail!(
                "show connections: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The connections as JSON values.
    pub fn connections(&self) -> Result<Vec<serde_json::Value>> {
        let v: serde_json::Value = serde_json::from_str(&self.show(true)?)?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Wait until `pred` holds for the connections, or fail after `limit`
    /// with the last answer and the engine's log.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Result<Vec<serde_json::Value>> {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "{what}: the engine exited ({status})\n--- log ---\n{}",
                    self.log_text()
                );
            }
            match self.connections() {
                Ok(c) if pred(&c) => return Ok(c),
                Ok(c) => last = serde_json::to_string(&c)?,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!(
            "{what}: not reached within {limit:?}; last: {last}\n--- log ---\n{}",
            self.log_text()
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send SIGTERM and wait (up to `limit`) for the process to exit.
    pub fn terminate(&mut self, limit: Duration) -> Result<std::process::ExitStatus> {
        // `ip netns exec` execs the engine, so the child's pid is the engine's.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("engine did not exit within {limit:?} of SIGTERM")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether every connection is `connected`, and there is at least one.
pub fn all_connected(c: &[serde_json::Value]) -> bool {
    !c.is_empty() && c.iter().all(|x| x["status"] == "connected")
}

/// `GET path` on `127.0.0.1:port` inside `ns` (HTTP/1.1, connection close);
/// returns the whole response, status line included.
pub fn http_get(ns: &Netns, port: u16, path: &str) -> Result<String> {
    let path = path.to_string();
    ns.enter(move || -> Result<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })?
}

/// The IP family of one status entry, from its `usingIP` (the remote
/// address the cable uses). With dual-stack support the engine reports one
/// entry per (remote Endpoint, IP family), told apart by this.
pub fn connection_family(entry: &serde_json::Value) -> Option<IpFamily> {
    entry["usingIP"].as_str().and_then(IpFamily::of)
}

/// The first status entry of `family` (see [`connection_family`]).
pub fn connection_of(c: &[serde_json::Value], family: IpFamily) -> Option<&serde_json::Value> {
    c.iter().find(|x| connection_family(x) == Some(family))
}

/// The status (`connected`, `connecting`, `error`, ...) of the entry of
/// `family`, if there is one.
pub fn family_status(c: &[serde_json::Value], family: IpFamily) -> Option<&str> {
    connection_of(c, family).and_then(|x| x["status"].as_str())
}

/// Whether there is an entry of `family` and it is `connected`.
pub fn family_connected(c: &[serde_json::Value], family: IpFamily) -> bool {
    family_status(c, family) == Some("connected")
}

/// [`all_connected`], and an entry of every family in `families`.
pub fn families_connected(c: &[serde_json::Value], families: &[IpFamily]) -> bool {
    all_connected(c) && families.iter().all(|f| connection_of(c, *f).is_some())
}

/// Whether an entry's health check has been answered: `latencyRTT.last`
/// is a Go duration other than empty and `0s`.
pub fn rtt_measured(entry: &serde_json::Value) -> bool {
    entry["latencyRTT"]["last"]
        .as_str()
        .is_some_and(|s| !s.is_empty() && s != "0s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> Site {
        Site {
            cluster_id: "c1".into(),
            private_ip: "192.168.50.1".into(),
            public_ip: "192.168.50.1".into(),
            health_check_ip: "10.1.0.1".into(),
            subnets: vec!["10.1.0.0/16".into()],
            ..Default::default()
        }
    }

    #[test]
    fn ipv4_only_yaml_has_no_lists() {
        let y = v4().endpoint_yaml();
        assert!(
            y.contains("  private_ip: 192.168.50.1\n  public_ip: 192.168.50.1\n"),
            "{y}"
        );
        assert!(!y.contains("IPs"), "{y}");
        assert_eq!(v4().cable_name(), "submariner-cable-c1-192-168-50-1");
    }

    #[test]
    fn dual_stack_lists_both_families_and_names_by_ipv4() {
        let s = v4().with_ipv6("fd00:50::1", "fd00:50::1", "fd10:1::1", &["fd10:1::/64"]);
        let y = s.endpoint_yaml();
        assert!(
            y.contains("  privateIPs:\n  - 192.168.50.1\n  - \"fd00:50::1\"\n"),
            "{y}"
        );
        assert!(
            y.contains("  healthCheckIPs:\n  - 10.1.0.1\n  - \"fd10:1::1\"\n"),
            "{y}"
        );
        assert!(
            y.contains("  subnets:\n  - 10.1.0.0/16\n  - \"fd10:1::/64\"\n"),
            "{y}"
        );
        assert_eq!(s.cable_name(), "submariner-cable-c1-192-168-50-1");
        assert_eq!(s.families(), [IpFamily::V4, IpFamily::V6]);
        assert_eq!(s.health_check_ip_of(IpFamily::V6), Some("fd10:1::1"));
        assert_eq!(s.subnets_of(IpFamily::V6), ["fd10:1::/64"]);
    }

    #[test]
    fn ipv6_only_names_by_ipv6() {
        let s = Site {
            cluster_id: "c1".into(),
            private_ip: "fd00:50::1".into(),
            public_ip: "fd00:50::1".into(),
            health_check_ip: "fd10:1::1".into(),
            subnets: vec!["fd10:1::/64".into()],
            ..Default::default()
        }
        .with_ip_lists();
        assert_eq!(s.cable_name(), "submariner-cable-c1-fd00-50--1");
        assert_eq!(s.families(), [IpFamily::V6]);
        let y = s.endpoint_yaml();
        assert!(
            y.contains("  private_ip: \"fd00:50::1\"\n  privateIPs:\n  - \"fd00:50::1\"\n"),
            "{y}"
        );
    }

    #[test]
    fn status_entries_by_family() {
        let c: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"status":"connected","usingIP":"192.168.50.2","latencyRTT":{"last":"1.2ms"}},
                {"status":"error","usingIP":"fd00:50::2","latencyRTT":{"last":"0s"}}]"#,
        )
        .unwrap();
        assert!(family_connected(&c, IpFamily::V4));
        assert_eq!(family_status(&c, IpFamily::V6), Some("error"));
        assert!(!families_connected(&c, &[IpFamily::V4]));
        assert!(rtt_measured(&c[0]) && !rtt_measured(&c[1]));
    }
}
