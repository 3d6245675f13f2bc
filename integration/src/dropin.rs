//! The engine in drop-in mode (`cable-engine pluto`) inside a namespace,
//! driven exactly as Submariner's libreswan driver drives pluto
//! (`../shared/docs/submariner-dropin.md`): the secrets files written
//! first, pluto started with the upstream script's options, its control
//! socket waited for (60 s at most, polled every 100 ms), then every
//! control call as `ipsec whack --ctlsocket <socket> ARGS` (what the
//! upstream `ipsec` script runs), each attempt killed after 5 s and
//! retried up to 3 times 1 s apart, and `--trafficstatus` (not retried)
//! parsed with the regex of the driver's release.

use crate::peers::libreswan::{Cable, Mode, Release};
use crate::sites::engine_binary;
use crate::topo::Netns;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The driver's regex for `--trafficstatus` lines (0.21 and later).
pub const TRAFFIC_REGEX_0_21: &str =
    r#".* "([^"]+-v[46]-[0-1]-[0-1])"[^,]*, .*inBytes=(\d+), outBytes=(\d+).*"#;
/// The same, 0.16 to 0.20.
pub const TRAFFIC_REGEX_0_16: &str = r#".* "([^"]+)"[^,]*, .*inBytes=(\d+), outBytes=(\d+).*"#;

/// The regex the driver of `release` reads `--trafficstatus` with.
pub fn traffic_regex(release: Release) -> &'static str {
    match release {
        Release::V0_19 => TRAFFIC_REGEX_0_16,
        _ => TRAFFIC_REGEX_0_21,
    }
}

/// The driver's wait for the control socket.
pub const SOCKET_WAIT: Duration = Duration::from_secs(60);

/// A running drop-in daemon; killed when dropped.
pub struct DropIn {
    pub child: Child,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// From spawning pluto to its control socket existing.
    pub socket_after: Duration,
}

impl DropIn {
    pub fn ctl(&self) -> PathBuf {
        self.dir.join("run/pluto.ctl")
    }

    /// Write the secrets as the driver does and start `pluto` in `ns`,
    /// with the extra environment `env` (e.g. `CE_IPSEC_NATTPORT`).
    pub fn start(ns: &Netns, psk: &str, dir: &Path, env: &[(&str, &str)]) -> Result<DropIn> {
        std::fs::create_dir_all(dir.join("ipsec.d"))?;
        std::fs::write(dir.join("ipsec.secrets"), "include ipsec.d/*.secrets\n")?;
        std::fs::write(
            dir.join("ipsec.d/submariner.secrets"),
            format!("%any %any : PSK \"{psk}\"\n"),
        )?;
        let log = dir.join("pluto.log");
        let out = std::fs::File::create(&log)?;
        let mut cmd = ns.command(&engine_binary()?.to_string_lossy());
        cmd.args([
            "pluto",
            "--leak-detective",
            "--config",
            "/etc/ipsec.conf",
            "--nofork",
        ])
        .arg("--rundir")
        .arg(dir.join("run"))
        .arg("--secretsfile")
        .arg(dir.join("ipsec.secrets"))
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let t0 = Instant::now();
        let mut child = cmd.spawn().context("starting cable-engine pluto")?;
        let ctl = dir.join("run/pluto.ctl");
        while !ctl.exists() {
            if let Some(st) = child.try_wait()? {
                bail!(
                    "pluto exited ({st}) before its control socket existed:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if t0.elapsed() > SOCKET_WAIT {
                let _ = child.kill();
                bail!("no control socket within {SOCKET_WAIT:?} (the driver's limit)");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(DropIn {
            child,
            dir: dir.to_path_buf(),
            log,
            socket_after: t0.elapsed(),
        })
    }

    /// One attempt of `ipsec whack ARGS`, killed after 5 s: its exit code
    /// and stdout.
    fn attempt(&self, args: &[String]) -> Result<(i32, String)> {
        let out = Command::new("timeout")
            .args(["-s", "KILL", "5"])
            .arg(engine_binary()?)
            .args(["ipsec", "whack", "--ctlsocket"])
            .arg(self.ctl())
            .args(args)
            .output()?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    /// An ordinary control call: retried up to 3 times, 1 s apart, on a
    /// non-zero exit, as the driver does.
    pub fn whack(&self, args: &[String]) -> Result<String> {
        let mut last = (0, String::new());
        for _ in 0..3 {
            last = self.attempt(args)?;
            if last.0 == 0 {
                return Ok(last.1);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        bail!("whack {} exited with {}", args.join(" "), last.0)
    }

    /// The driver's ConnectToEndpoint for `cable` (built with the driver's
    /// add template): `--listen`, then per pair the add and, except in
    /// server mode, `--route` and `--initiate --asynchronous`.
    pub fn connect(&self, cable: &Cable) -> Result<()> {
        self.whack(&["--listen".into()])?;
        for i in 0..cable.local_subnets.len() {
            for j in 0..cable.remote_subnets.len() {
                self.whack(&cable.add_args(i, j))?;
                if cable.mode != Mode::Server {
                    let name = cable.connection_name(i, j);
                    self.whack(&["--route".into(), "--name".into(), name.clone()])?;
                    self.whack(&[
                        "--initiate".into(),
                        "--asynchronous".into(),
                        "--name".into(),
                        name,
                    ])?;
                }
            }
        }
        Ok(())
    }

    /// The driver's DisconnectFromEndpoint: `--delete` of every pair (a
    /// non-zero exit is only logged by the driver; returned here).
    pub fn disconnect(&self, cable: &Cable) -> Vec<(String, i32)> {
        cable
            .connection_names()
            .into_iter()
            .map(|n| {
                let code = self
                    .attempt(&["--delete".into(), "--name".into(), n.clone()])
                    .map_or(-1, |r| r.0);
                (n, code)
            })
            .collect()
    }

    /// `--trafficstatus` as the driver reads it: per connection name, the
    /// summed (inBytes, outBytes) of its lines matching the driver's
    /// regex. `Err` on a non-zero exit (the driver's Gateway error).
    pub fn traffic(&self, release: Release) -> Result<BTreeMap<String, (u64, u64)>> {
        let (code, out) = self.attempt(&["--trafficstatus".into()])?;
        if code != 0 {
            bail!("--trafficstatus exited with {code}");
        }
        Ok(parse_traffic(&out, traffic_regex(release)))
    }

    /// Wait until every connection of `cable` is listed (the driver's
    /// `Connected`), or fail with the daemon's log.
    pub fn wait_connected(&self, cable: &Cable, limit: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        let mut last = BTreeMap::new();
        while t0.elapsed() < limit {
            if let Ok(t) = self.traffic(cable.release) {
                if cable.connection_names().iter().all(|n| t.contains_key(n)) {
                    return Ok(t0.elapsed());
                }
                last = t;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!(
            "not every connection listed within {limit:?}: {last:?}\n--- pluto (drop-in) log ---\n{}",
            self.log_text()
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait up to `limit` for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Result<std::process::ExitStatus> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("pluto (drop-in) did not exit within {limit:?} of SIGTERM")
    }
}

impl Drop for DropIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The driver's parse of `--trafficstatus` output with `regex`: bytes
/// summed per connection name.
pub fn parse_traffic(out: &str, regex: &str) -> BTreeMap<String, (u64, u64)> {
    let re = regex::Regex::new(&format!("^{regex}$")).expect("regex");
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in out.lines() {
        if let Some(c) = re.captures(line) {
            let e = m.entry(c[1].to_string()).or_default();
            e.0 += c[2].parse::<u64>().unwrap_or(0);
            e.1 += c[3].parse::<u64>().unwrap_or(0);
        }
    }
    m
}
