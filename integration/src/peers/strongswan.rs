//! strongSwan 5.9 (`charon` + `swanctl`) as a peer inside a namespace.
//!
//! `charon` reads a private `strongswan.conf` (chosen with `STRONGSWAN_CONF`)
//! that keeps `load_modular = yes` and includes Debian's per-plugin files
//! (without them every plugin loads and worker threads crash), puts the vici
//! socket and the log under the peer's own directory, and leaves routing to
//! the test topology (`install_routes = no`). Connections are loaded with
//! `swanctl --load-all` from a private `SWANCTL_DIR`. Proposals are left
//! unset, so strongSwan's defaults apply. IKE runs on port 4500 from the
//! first message (`local_port = remote_port = 4500`), as Submariner does.

use super::{require, run, stop_child, wait_for_path, Distro};
use crate::topo::Netns;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Debian's charon binary.
pub const CHARON: &str = "/usr/lib/ipsec/charon";
/// Debian's swanctl.
pub const SWANCTL: &str = "/usr/sbin/swanctl";
/// charon writes its pid to `/run/charon.pid` (compiled in) and refuses to
/// start while that file names a live process. Each charon therefore gets a
/// private `/run` (a tmpfs mounted in the mount namespace `ip netns exec`
/// makes for it), so several can run at once, one per test.
const PRIVATE_RUN: &str = "mount -t tmpfs -o mode=0755 charon-run /run && exec \"$0\"";

/// One IKE connection with one Child SA per (local, remote) traffic selector
/// pair, named `cable-<i>-<j>` as Submariner names its connections.
/// Addresses, identities and traffic selectors may be IPv4 or IPv6 (an
/// IPv6 cable as Submariner sets one up for the IPv6 family: IPv6 private
/// IPs as addresses and IDs, IPv6 subnets as selectors).
#[derive(Debug, Clone)]
pub struct SwanConn {
    /// Our address (`local_addrs`).
    pub local_addr: String,
    /// The address the peer is reached on (`remote_addrs`).
    pub remote_addr: String,
    /// IKE identities (IPv4 addresses give ID_IPV4_ADDR, IPv6 addresses
    /// ID_IPV6_ADDR).
    pub local_id: String,
    pub remote_id: String,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
    /// The PSK text, used as-is (as Submariner uses its base64 text).
    pub psk: String,
    /// `start_action = start`: initiate every Child SA as soon as loaded.
    /// Otherwise strongSwan only responds (unless [`StrongSwan::initiate`]).
    pub start: bool,
    /// `encap = yes`: force ESP-in-UDP (fake NAT-D).
    pub encap: bool,
    /// More settings of the IKE connection, one `key = value` each (e.g.
    /// `proposals = aes256gcm16-prfsha384-ecp384`, `rekey_time = 60s`).
    pub ike_extra: Vec<String>,
    /// More settings of every Child SA (e.g. `esp_proposals = aes128gcm16`,
    /// `rekey_time = 20s`).
    pub child_extra: Vec<String>,
    /// More settings of charon itself, in `strongswan.conf` (e.g.
    /// `fragment_size = 1280`).
    pub charon_extra: Vec<String>,
}

impl SwanConn {
    pub fn child_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for i in 0..self.local_ts.len() {
            for j in 0..self.remote_ts.len() {
                v.push(format!("cable-{i}-{j}"));
            }
        }
        v
    }

    /// The `swanctl.conf` text.
    pub fn swanctl_conf(&self) -> Result<String> {
        if self.psk.starts_with("0x") || self.psk.starts_with("0s") {
            bail!("a PSK starting with 0x/0s would be decoded by strongSwan, not used as text");
        }
        let mut children = String::new();
        for (i, l) in self.local_ts.iter().enumerate() {
            for (j, r) in self.remote_ts.iter().enumerate() {
                let extra: String = self
                    .child_extra
                    .iter()
                    .map(|e| format!("        {e}\n"))
                    .collect();
                children += &format!(
                    "      cable-{i}-{j} {{\n        local_ts = {l}\n        remote_ts = {r}\n        mode = tunnel\n        start_action = {}\n        dpd_action = restart\n{extra}      }}\n",
                    if self.start { "start" } else { "none" }
                );
            }
        }
        Ok(format!(
            "connections {{\n  cable {{\n    version = 2\n    local_addrs = {la}\n    remote_addrs = {ra}\n    local_port = 4500\n    remote_port = 4500\n    encap = {encap}\n    dpd_delay = 30s\n{ike_extra}    local {{\n      auth = psk\n      id = {lid}\n    }}\n    remote {{\n      auth = psk\n      id = {rid}\n    }}\n    children {{\n{children}    }}\n  }}\n}}\nsecrets {{\n  ike-cable {{\n    id-local = {lid}\n    id-remote = {rid}\n    secret = \"{psk}\"\n  }}\n}}\n",
            la = self.local_addr,
            ra = self.remote_addr,
            encap = if self.encap { "yes" } else { "no" },
            lid = self.local_id,
            rid = self.remote_id,
            psk = self.psk,
            ike_extra = self
                .ike_extra
                .iter()
                .map(|e| format!("    {e}\n"))
                .collect::<String>(),
        ))
    }
}

/// A running charon in a namespace; stopped when dropped.
pub struct StrongSwan {
    child: Child,
    dir: PathBuf,
    pub conn: SwanConn,
    /// The Debian 13 root charon runs in (chroot), or none: the host's.
    root: Option<PathBuf>,
}

impl StrongSwan {
    /// Write the configuration under `dir` (made afresh), start charon in
    /// `ns`, wait for its vici socket and load the connection.
    /// The release is [`super::distro`]'s.
    pub fn start(ns: &Netns, conn: &SwanConn, dir: &Path) -> Result<StrongSwan> {
        Self::start_in(super::distro(), ns, conn, dir)
    }

    /// The same with Debian `release`'s strongSwan.
    pub fn start_in(
        release: Distro,
        ns: &Netns,
        conn: &SwanConn,
        dir: &Path,
    ) -> Result<StrongSwan> {
        let root = release.root("strongswan")?;
        let inside = |p: &str| match &root {
            Some(r) => r.join(p.trim_start_matches('/')),
            None => PathBuf::from(p),
        };
        require(&inside(CHARON), "strongSwan's charon")?;
        require(&inside(SWANCTL), "strongSwan's swanctl")?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("swanctl"))?;
        let sock = dir.join("charon.vici");
        let conf = dir.join("strongswan.conf");
        std::fs::write(
            &conf,
            format!(
                "charon {{\n  load_modular = yes\n  install_routes = no\n  port_nat_t = 4500\n{extra}  plugins {{\n    include /etc/strongswan.d/charon/*.conf\n    vici {{\n      socket = unix://{sock}\n    }}\n    stroke {{\n      load = no\n    }}\n  }}\n  filelog {{\n    peer {{\n      path = {log}\n      time_format = %T\n      default = 1\n      ike = 2\n      cfg = 2\n      flush_line = yes\n    }}\n  }}\n}}\n",
                sock = sock.display(),
                log = dir.join("charon.log").display(),
                extra = conn
                    .charon_extra
                    .iter()
                    .map(|e| format!("  {e}\n"))
                    .collect::<String>()
            ),
        )?;
        std::fs::write(dir.join("swanctl/swanctl.conf"), conn.swanctl_conf()?)?;
        let out = std::fs::File::create(dir.join("charon.out"))?;
        let mut cmd = match &root {
            None => ns.command("sh"),
            Some(r) => {
                let mut c = ns.command("chroot");
                c.arg(r).arg("/bin/sh");
                c
            }
        };
        let mut child = cmd
            .args(["-c", PRIVATE_RUN, CHARON])
            .env("STRONGSWAN_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting charon")?;
        if let Err(e) = wait_for_path(
            &sock,
            Duration::from_secs(60),
            &mut child,
            "charon",
            &dir.join("charon.out"),
        ) {
            stop_child(&mut child, Duration::from_secs(5));
            return Err(e);
        }
        let s = StrongSwan {
            child,
            dir: dir.to_path_buf(),
            conn: conn.clone(),
            root,
        };
        s.swanctl(&["--load-all"])?;
        Ok(s)
    }

    /// Run `swanctl <args> --uri unix://<socket>` (operation first).
    pub fn swanctl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Distro::command(self.root.as_deref(), SWANCTL);
        cmd.args(args)
            .arg("--uri")
            .arg(format!("unix://{}", self.dir.join("charon.vici").display()))
            .env("SWANCTL_DIR", self.dir.join("swanctl"));
        run(&mut cmd, &format!("swanctl {}", args.join(" ")))
    }

    /// `strongSwan <version>` of the running release, for reports.
    pub fn label(&self) -> String {
        super::peer_label("strongSwan", self.root.as_deref(), "strongswan-charon")
    }

    /// Initiate one Child SA (and its IKE SA), waiting up to `timeout_s`.
    pub fn initiate(&self, child: &str, timeout_s: u32) -> Result<String> {
        self.swanctl(&[
            "--initiate",
            "--child",
            child,
            "--timeout",
            &timeout_s.to_string(),
        ])
    }

    /// `swanctl --list-sas` text.
    pub fn list_sas(&self) -> Result<String> {
        self.swanctl(&["--list-sas"])
    }

    /// Whether the IKE SA is ESTABLISHED and every Child SA INSTALLED.
    pub fn all_up(&self) -> bool {
        let Ok(sas) = self.list_sas() else {
            return false;
        };
        sas.contains("ESTABLISHED")
            && self.conn.child_names().iter().all(|c| {
                sas.lines()
                    .any(|l| l.contains(c) && l.contains("INSTALLED"))
            })
    }

    /// Whether strongSwan is the initiator of an established IKE SA: the
    /// IKE SA line marks our own SPI with `*`, as `<spi>_i*` when we
    /// initiated and `<spi>_r*` when we responded.
    pub fn initiated(&self) -> Result<bool> {
        let sas = self.list_sas()?;
        let line = sas
            .lines()
            .find(|l| l.contains("ESTABLISHED"))
            .with_context(|| format!("no established IKE SA:\n{sas}"))?;
        Ok(line.contains("_i*"))
    }

    /// Wait until [`Self::all_up`], or fail with the SAs and the log.
    pub fn wait_up(&self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.all_up() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!(
            "strongSwan: not all Child SAs up within {limit:?}\n{}\n--- charon log ---\n{}",
            self.list_sas().unwrap_or_default(),
            self.log_text()
        )
    }

    /// The daemon's process id (`ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// charon's log (file log plus stdout/stderr).
    pub fn log_text(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default();
        s += &std::fs::read_to_string(self.dir.join("charon.out")).unwrap_or_default();
        s
    }

    /// Kill charon with SIGKILL (a crash: no DELETE sent, and its kernel
    /// state stays until the caller flushes it).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop charon (SIGTERM: it deletes its SAs and tells the peer).
    pub fn stop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(15));
    }
}

impl Drop for StrongSwan {
    fn drop(&mut self) {
        self.stop();
    }
}
