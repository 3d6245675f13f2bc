//! libreswan 4.x (`pluto` + `whack`) as a peer inside a namespace,
//! configured the way Submariner's libreswan cable driver configures it
//! (`pkg/cable/libreswan/libreswan.go`): a secrets file `%any %any : PSK
//! "<base64 text>"`, then per (local subnet i, remote subnet j) one `whack`
//! call with `--psk --encrypt --encaps=auto|yes --name <cable>-v4-<i>-<j>
//! --ipv4 --id .. --host .. --client .. [--ikeport ..] --to --id .. --host
//! .. --client .. [--ikeport ..] --dpdaction=hold --dpddelay 30`, followed
//! (except in server mode) by `--route` and `--initiate --asynchronous`.
//! An IPv6 cable (IPv6 private IPs and subnets, as the driver since 0.21
//! sets up the IPv6 family of a remote Endpoint) is named
//! `<cable>-v6-<i>-<j>` and gets `--ipv6` instead of `--ipv4`.
//!
//! pluto runs from the tree `cargo xtask setup` unpacked (reached through
//! `/usr/libexec/ipsec`, where pluto and its updown script look by fixed
//! path), with its own `--config`, `--rundir`, `--dumpdir`, `--nssdir`,
//! `--secretsfile` and `--ipsecdir` (in that order), and the unpacked
//! `usr/sbin` first in PATH so that its updown's `ipsec` is libreswan's.

use super::{require, run, stop_child, wait_for_path, Distro};
use crate::sites::IpFamily;
use crate::topo::Netns;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where pluto, whack and their helpers are (a link to the unpacked tree).
pub const EXECDIR: &str = "/usr/libexec/ipsec";

/// The `usr/sbin` of the unpacked tree (holds libreswan's `ipsec` script).
fn sbindir() -> Result<PathBuf> {
    let exec = std::fs::canonicalize(EXECDIR)
        .with_context(|| format!("libreswan is missing ({EXECDIR}): run `cargo xtask setup`"))?;
    let sbin = exec
        .parent()
        .and_then(Path::parent)
        .map(|usr| usr.join("sbin"))
        .context("odd libreswan tree")?;
    require(&sbin.join("ipsec"), "libreswan's ipsec script")?;
    Ok(sbin)
}

/// The three ways Submariner's driver sets up a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Default: both gateways initiate; IDs are the private IPs.
    Bidirectional,
    /// Preferred server: wait for the client from any address; IDs
    /// `@<privateIP>-<i>-<j>`.
    Server,
    /// The other side is the preferred server: initiate; FQDN IDs.
    Client,
}

/// Which release's `whack` tokens the driver emits
/// (`../shared/docs/submariner-dropin.md`, "The add command").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Release {
    /// 0.16 to 0.21.0: `--forceencaps` when NAT or forced, else nothing;
    /// no family option; connections named `<cable>-<i>-<j>`.
    V0_19,
    /// 0.21.1 and 0.22.0: `--encapsulation=yes` or nothing; `--ipv4`;
    /// `<cable>-v4-<i>-<j>`.
    V0_21_1,
    /// Later 0.21.x, 0.22.x and devel: `--encaps=yes|auto`; `--ipv4`.
    #[default]
    Current,
}

/// One cable as Submariner's driver would set it up towards a remote
/// Endpoint (the "left" side is this pluto), for one IP family: IPv4 or
/// IPv6 private IPs and subnets (never mixed; a dual-stack Endpoint gets
/// one `Cable` per family, as the driver calls ConnectToEndpoint once per
/// family).
#[derive(Debug, Clone)]
pub struct Cable {
    /// The remote Endpoint's `cable_name` (connection names derive from it).
    pub remote_cable_name: String,
    pub local_private_ip: String,
    pub remote_private_ip: String,
    /// The address used to reach the remote (its private or public IP).
    pub remote_use_ip: String,
    pub local_subnets: Vec<String>,
    pub remote_subnets: Vec<String>,
    pub mode: Mode,
    /// `UseNAT || CE_IPSEC_FORCEENCAPS`: `--encaps=yes`, else `auto`.
    pub encaps: bool,
    /// Our NAT-T port and the remote's `udp-port`.
    pub local_port: u16,
    pub remote_port: u16,
    /// More `whack` options appended to every connection (not the
    /// driver's: tests use them for short lifetimes, e.g. `--ipseclifetime
    /// 20`, or for one ESP algorithm, `--esp aes_gcm256`).
    pub extra_args: Vec<String>,
    /// The driver release whose tokens and names are used.
    pub release: Release,
}

impl Cable {
    /// The IP family of this cable: the driver (0.21+) sets one cable up
    /// per family of the remote Endpoint, with that family's private IPs
    /// and subnets; here the family is that of `local_private_ip` (IPv4
    /// when it does not parse).
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.local_private_ip).unwrap_or(IpFamily::V4)
    }

    /// `<cable>-v4-<i>-<j>` or `<cable>-v6-<i>-<j>` by [`Cable::family`]
    /// (`<cable>-<i>-<j>` before 0.21.1), the driver's connection name.
    pub fn connection_name(&self, i: usize, j: usize) -> String {
        match self.release {
            Release::V0_19 => format!("{}-{i}-{j}", self.remote_cable_name),
            _ => format!(
                "{}-{}-{i}-{j}",
                self.remote_cable_name,
                self.family().token()
            ),
        }
    }

    pub fn connection_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for i in 0..self.local_subnets.len() {
            for j in 0..self.remote_subnets.len() {
                v.push(self.connection_name(i, j));
            }
        }
        v
    }

    /// The `whack` arguments that add connection (i, j), in the driver's order.
    pub fn add_args(&self, i: usize, j: usize) -> Vec<String> {
        let fqdn = |ip: &str, a: usize, b: usize| format!("@{ip}-{a}-{b}");
        let (lid, rid) = match self.mode {
            Mode::Bidirectional => (
                self.local_private_ip.clone(),
                self.remote_private_ip.clone(),
            ),
            Mode::Server | Mode::Client => (
                fqdn(&self.local_private_ip, i, j),
                fqdn(&self.remote_private_ip, j, i),
            ),
        };
        let mut a: Vec<String> = vec!["--psk".into(), "--encrypt".into()];
        match (self.release, self.encaps) {
            (Release::V0_19, true) => a.push("--forceencaps".into()),
            (Release::V0_21_1, true) => a.push("--encapsulation=yes".into()),
            (Release::Current, e) => a.push(format!("--encaps={}", if e { "yes" } else { "auto" })),
            (_, false) => {}
        }
        a.extend(["--name".into(), self.connection_name(i, j)]);
        if self.release != Release::V0_19 {
            a.push(format!("--ip{}", self.family().token()));
        }
        a.extend([
            "--id".into(),
            lid,
            "--host".into(),
            self.local_private_ip.clone(),
            "--client".into(),
            self.local_subnets[i].clone(),
        ]);
        if self.mode != Mode::Client {
            a.extend(["--ikeport".into(), self.local_port.to_string()]);
        }
        a.extend(["--to".into(), "--id".into(), rid, "--host".into()]);
        a.push(if self.mode == Mode::Server {
            "%any".into()
        } else {
            self.remote_use_ip.clone()
        });
        a.extend(["--client".into(), self.remote_subnets[j].clone()]);
        if self.mode != Mode::Server {
            a.extend(["--ikeport".into(), self.remote_port.to_string()]);
        }
        a.extend(["--dpdaction=hold".into(), "--dpddelay".into(), "30".into()]);
        a.extend(self.extra_args.iter().cloned());
        a
    }
}

/// Seconds after which a `whack` call is killed (and tried again).
const WHACK_LIMIT: &str = "10";

/// A running pluto in a namespace; stopped when dropped.
pub struct Pluto {
    child: Child,
    dir: PathBuf,
    /// The Debian 13 root pluto runs in (chroot), or none: the host's.
    root: Option<PathBuf>,
}

impl Pluto {
    /// Make a private configuration under `dir` (afresh): an empty
    /// `config setup`, an NSS database, the driver's secrets line with
    /// `psk`; start pluto in `ns` and wait for its control socket.
    /// The release is [`super::distro`]'s.
    pub fn start(ns: &Netns, psk: &str, dir: &Path) -> Result<Pluto> {
        Self::start_in(super::distro(), ns, psk, dir)
    }

    /// The same with Debian `release`'s libreswan.
    pub fn start_in(release: Distro, ns: &Netns, psk: &str, dir: &Path) -> Result<Pluto> {
        let root = release.root("libreswan")?;
        let inside = |p: &Path| match &root {
            Some(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
            None => p.to_path_buf(),
        };
        let pluto = Path::new(EXECDIR).join("pluto");
        require(&inside(&pluto), "libreswan's pluto")?;
        require(
            &inside(&Path::new(EXECDIR).join("whack")),
            "libreswan's whack",
        )?;
        require(
            &inside(Path::new("/usr/bin/certutil")),
            "certutil (libnss3-tools)",
        )?;
        let path = match &root {
            None => format!(
                "{}:{}",
                sbindir()?.display(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
            ),
            Some(_) => "/usr/sbin:/usr/bin:/sbin:/bin".into(),
        };
        let _ = std::fs::remove_dir_all(dir);
        for d in ["run", "dump", "nss", "ipsec.d"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        std::fs::write(dir.join("ipsec.conf"), "config setup\n")?;
        std::fs::write(
            dir.join("ipsec.secrets"),
            format!("%any %any : PSK \"{psk}\"\n"),
        )?;
        run(
            Distro::command(root.as_deref(), "/usr/bin/certutil")
                .args(["-N", "--empty-password", "-d"])
                .arg(format!("sql:{}", dir.join("nss").display())),
            "certutil -N (pluto's NSS database)",
        )?;
        let log = dir.join("pluto.log");
        let out = std::fs::File::create(&log)?;
        let mut cmd = match &root {
            None => ns.command(&pluto.to_string_lossy()),
            Some(r) => {
                let mut c = ns.command("chroot");
                c.arg(r).arg(&pluto);
                c
            }
        };
        let mut child = cmd
            .arg("--config")
            .arg(dir.join("ipsec.conf"))
            .arg("--rundir")
            .arg(dir.join("run"))
            .arg("--dumpdir")
            .arg(dir.join("dump"))
            .arg("--nssdir")
            .arg(dir.join("nss"))
            .arg("--secretsfile")
            .arg(dir.join("ipsec.secrets"))
            .arg("--ipsecdir")
            .arg(dir.join("ipsec.d"))
            .args(["--nofork", "--stderrlog"])
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting pluto")?;
        if let Err(e) = wait_for_path(
            &dir.join("run/pluto.ctl"),
            Duration::from_secs(90),
            &mut child,
            "pluto",
            &log,
        ) {
            stop_child(&mut child, Duration::from_secs(5));
            return Err(e);
        }
        Ok(Pluto {
            child,
            dir: dir.to_path_buf(),
            root,
        })
    }

    /// `libreswan <version>` of the running release, for reports.
    pub fn label(&self) -> String {
        super::peer_label("libreswan", self.root.as_deref(), "libreswan")
    }

    /// `whack --rundir <dir> <args>`, killed after [`WHACK_LIMIT`] and
    /// retried up to three times like the driver does.
    pub fn whack(&self, args: &[String]) -> Result<String> {
        let mut last = None;
        for _ in 0..3 {
            // The driver kills a whack that has not answered within 5 s;
            // pluto can leave one hanging (seen with both sides initiating
            // 3x2 connections), so a call here is killed too, after
            // WHACK_LIMIT (the emulated VM needs more than 5 s).
            let mut cmd = Command::new("timeout");
            cmd.args(["-s", "KILL", WHACK_LIMIT]);
            if let Some(r) = &self.root {
                cmd.arg("chroot").arg(r);
            }
            cmd.arg(Path::new(EXECDIR).join("whack"))
                .arg("--rundir")
                .arg(self.dir.join("run"))
                .args(args);
            match run(&mut cmd, &format!("whack {}", args.join(" "))) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        Err(last.unwrap())
    }

    /// Set up `cable` as the driver's `ConnectToEndpoint` does.
    pub fn connect(&self, cable: &Cable) -> Result<()> {
        self.whack(&["--listen".into()])?;
        for i in 0..cable.local_subnets.len() {
            for j in 0..cable.remote_subnets.len() {
                self.connect_pair(cable, i, j)?;
            }
        }
        Ok(())
    }

    /// Add connection (i, j) of `cable`, then (except in server mode)
    /// route and initiate it, as the driver does for each pair.
    pub fn connect_pair(&self, cable: &Cable, i: usize, j: usize) -> Result<()> {
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
        Ok(())
    }

    /// `whack --delete --name <name>`, the driver's DisconnectFromEndpoint
    /// for one pair.
    pub fn delete(&self, name: &str) -> Result<String> {
        self.whack(&["--delete".into(), "--name".into(), name.into()])
    }

    /// `whack --trafficstatus` (what the driver reads for its status).
    pub fn traffic_status(&self) -> Result<String> {
        self.whack(&["--trafficstatus".into()])
    }

    /// `whack --status`.
    pub fn status(&self) -> String {
        self.whack(&["--status".into()]).unwrap_or_default()
    }

    /// Whether every connection of `cable` shows in `--trafficstatus`, i.e.
    /// the driver would call the cable connected.
    pub fn all_up(&self, cable: &Cable) -> bool {
        let Ok(ts) = self.traffic_status() else {
            return false;
        };
        cable
            .connection_names()
            .iter()
            .all(|n| ts.lines().any(|l| l.contains(&format!("\"{n}\""))))
    }

    /// Wait until [`Self::all_up`], or fail with pluto's status and log.
    pub fn wait_up(&self, cable: &Cable, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.all_up(cable) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        bail!(
            "libreswan: not every connection up within {limit:?}\n{}\n--- pluto log ---\n{}",
            self.traffic_status().unwrap_or_default(),
            self.log_text()
        )
    }

    /// The daemon's process id (`ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kill the daemon at once (SIGKILL: its kernel state stays), as a
    /// crash or a pod kill would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("pluto.log")).unwrap_or_default()
    }

    /// Stop pluto (SIGTERM: it deletes its SAs).
    pub fn stop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(15));
    }
}

impl Drop for Pluto {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_cable_is_the_drivers_v6_call() {
        let c = Cable {
            remote_cable_name: "submariner-cable-a-fd00-50--1".into(),
            local_private_ip: "fd00:50::2".into(),
            remote_private_ip: "fd00:50::1".into(),
            remote_use_ip: "fd00:50::1".into(),
            local_subnets: vec!["fd10:2::/64".into()],
            remote_subnets: vec!["fd10:1::/64".into()],
            mode: Mode::Bidirectional,
            encaps: false,
            local_port: 4500,
            remote_port: 4500,
            extra_args: Vec::new(),
            release: Release::Current,
        };
        assert_eq!(
            c.add_args(0, 0).join(" "),
            "--psk --encrypt --encaps=auto --name submariner-cable-a-fd00-50--1-v6-0-0 --ipv6 \
             --id fd00:50::2 --host fd00:50::2 --client fd10:2::/64 --ikeport 4500 --to \
             --id fd00:50::1 --host fd00:50::1 --client fd10:1::/64 --ikeport 4500 \
             --dpdaction=hold --dpddelay 30"
        );
    }
}
