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

/// One simulated cluster's gateway Endpoint.
#[derive(Debug, Clone)]
pub struct Site {
    pub cluster_id: String,
    pub private_ip: String,
    pub public_ip: String,
    pub health_check_ip: String,
    pub subnets: Vec<String>,
    pub nat_enabled: bool,
    pub preferred_server: bool,
}

impl Site {
    /// `submariner-cable-<cluster>-<ip with dashes>`.
    pub fn cable_name(&self) -> String {
        format!(
            "submariner-cable-{}-{}",
            self.cluster_id,
            self.private_ip.replace('.', "-")
        )
    }

    /// The Endpoint object as YAML.
    pub fn endpoint_yaml(&self) -> String {
        let subnets: String = self.subnets.iter().map(|s| format!("\n  - {s}")).collect();
        format!(
            "apiVersion: submariner.io/v1\nkind: Endpoint\nmetadata:\n  name: {cluster}-{cable}\n  namespace: submariner-operator\nspec:\n  backend: libreswan\n  backend_config:\n    natt-discovery-port: \"4490\"\n    preferred-server: \"{pref}\"\n    udp-port: \"4500\"\n  cable_name: {cable}\n  cluster_id: {cluster}\n  healthCheckIP: {hc}\n  hostname: gw-{cluster}\n  nat_enabled: {nat}\n  private_ip: {private}\n  public_ip: {public}\n  subnets:{subnets}\n",
            cluster = self.cluster_id,
            cable = self.cable_name(),
            pref = self.preferred_server,
            hc = self.health_check_ip,
            nat = self.nat_enabled,
            private = self.private_ip,
            public = self.public_ip,
        )
    }

    /// The Cluster object as YAML (cluster CIDRs = the Endpoint's subnets).
    pub fn cluster_yaml(&self) -> String {
        let cidrs: String = self.subnets.iter().map(|s| format!("\n  - {s}")).collect();
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
