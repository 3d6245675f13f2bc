//! Third-party IKE daemons as test peers of the engine, each run inside a
//! network namespace with private configuration, run and socket directories
//! (so several can run at once and nothing under /etc or /run is shared):
//!
//! - [`strongswan`]: strongSwan 5.9's `charon`, configured with `swanctl`
//!   (Debian packages `strongswan-charon`, `strongswan-swanctl`,
//!   `libstrongswan-standard-plugins`).
//! - [`libreswan`]: libreswan 4.x's `pluto`, configured with `whack` exactly
//!   as Submariner's libreswan cable driver does (the package is unpacked
//!   privately by `cargo xtask setup`: it conflicts with strongSwan's).
//!
//! Both are stopped (SIGTERM, then SIGKILL) when dropped, so a failing test
//! still tears its peer down. A missing daemon is an error that says to run
//! `cargo xtask setup`, never a skipped test.

//!
//! Each comes in two builds ([`Distro`]): Debian 12's (libreswan 4.10,
//! strongSwan 5.9.8; on the host, as above) and Debian 13's (libreswan
//! 5.x, strongSwan 6.x), run with chroot in a `debootstrap` root per
//! daemon that `cargo xtask setup` makes under `target/lab/trixie/`. The
//! root sees the guest's `/proc`, `/sys`, `/dev` and `/tmp` (the peers'
//! private directories) through bind mounts, so the same paths work in
//! both. A test picks the build with [`use_distro`]; without one,
//! `CABLE_ENGINE_PEERS=trixie` runs every interop case against Debian 13's.

pub mod libreswan;
pub mod strongswan;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Which Debian release's peer daemons a test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distro {
    /// Debian 12: libreswan 4.10 and strongSwan 5.9.8, the host's.
    Bookworm,
    /// Debian 13: libreswan 5.x and strongSwan 6.x, in chroot roots.
    Trixie,
}

/// The environment variable that picks the peers' release for a whole run.
pub const PEERS_ENV: &str = "CABLE_ENGINE_PEERS";

static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// Run this process's peers from `d` (each lab test is its own process).
pub fn use_distro(d: Distro) {
    CHOSEN.store(
        match d {
            Distro::Bookworm => 1,
            Distro::Trixie => 2,
        },
        Ordering::SeqCst,
    );
}

/// The release chosen with [`use_distro`], else by [`PEERS_ENV`]
/// (`trixie`), else Debian 12.
pub fn distro() -> Distro {
    match CHOSEN.load(Ordering::SeqCst) {
        1 => Distro::Bookworm,
        2 => Distro::Trixie,
        _ if std::env::var(PEERS_ENV).is_ok_and(|v| v == "trixie") => Distro::Trixie,
        _ => Distro::Bookworm,
    }
}

impl Distro {
    /// The chroot root for `daemon` (`libreswan` or `strongswan`), made
    /// ready (bind mounts); `None` for the host's own.
    pub fn root(self, daemon: &str) -> Result<Option<PathBuf>> {
        match self {
            Distro::Bookworm => Ok(None),
            Distro::Trixie => {
                let lab = crate::lab::out_dir()
                    .and_then(|o| o.parent().map(Path::to_path_buf))
                    .context("the lab's output directory is not set (not in the lab?)")?;
                let root = lab.join("trixie").join(daemon);
                require(
                    &root.join("usr/bin"),
                    &format!("the Debian 13 {daemon} root"),
                )?;
                prepare_root(&root)?;
                Ok(Some(root))
            }
        }
    }

    /// `program` (an absolute path inside the root) as a command: itself,
    /// or `chroot <root> program`.
    pub fn command(root: Option<&Path>, program: &str) -> Command {
        match root {
            None => Command::new(program),
            Some(r) => {
                let mut c = Command::new("chroot");
                c.arg(r).arg(program);
                c
            }
        }
    }

    /// The package's version in the release, e.g. `5.2-2.2` (from the
    /// root's dpkg status; the host's for Debian 12).
    pub fn package_version(root: Option<&Path>, package: &str) -> Option<String> {
        let status = root.unwrap_or(Path::new("/")).join("var/lib/dpkg/status");
        let text = std::fs::read_to_string(status).ok()?;
        let block = text
            .split("\n\n")
            .find(|b| b.lines().next() == Some(&format!("Package: {package}")))?;
        block
            .lines()
            .find_map(|l| l.strip_prefix("Version: "))
            .map(str::to_string)
    }
}

/// The peer name and upstream version for reports, e.g. `libreswan 5.2`.
pub fn peer_label(name: &str, root: Option<&Path>, package: &str) -> String {
    let v = Distro::package_version(root, package).unwrap_or_else(|| "?".into());
    let upstream = v.split(['-', '+']).next().unwrap_or(&v).to_string();
    format!("{name} {upstream}")
}

/// `text` (a report's peer column) with Debian 12's peer names replaced
/// by the running release's (`libreswan 4.10` -> `libreswan 5.2`), so the
/// cases shared by both releases report what they ran against.
pub fn release_label(text: &str) -> String {
    if distro() == Distro::Bookworm {
        return text.to_string();
    }
    let mut out = text.to_string();
    for (old, name, daemon, package) in [
        ("libreswan 4.10", "libreswan", "libreswan", "libreswan"),
        (
            "strongSwan 5.9.8",
            "strongSwan",
            "strongswan",
            "strongswan-charon",
        ),
    ] {
        if out.contains(old) {
            let root = Distro::Trixie.root(daemon).ok().flatten();
            out = out.replace(old, &peer_label(name, root.as_deref(), package));
        }
    }
    out
}

/// Bind the guest's `/proc`, `/sys`, `/dev` and `/tmp` into `root` (once;
/// concurrent tests serialise on a lock file).
fn prepare_root(root: &Path) -> Result<()> {
    let r = root.display();
    let script = format!(
        "for d in proc sys dev tmp; do mountpoint -q {r}/$d || mount --rbind /$d {r}/$d || exit 1; done"
    );
    run(
        // The guest sees the build tree read-only (but for the lab's
        // output): the lock lives in the guest's /tmp.
        Command::new("flock")
            .arg(format!(
                "/tmp/peer-root-{}.lock",
                root.file_name().and_then(|n| n.to_str()).unwrap_or("root")
            ))
            .args(["sh", "-c", &script]),
        "binding /proc, /sys, /dev and /tmp into the peer root",
    )?;
    Ok(())
}

/// Error unless `path` exists, naming what is missing and how to get it.
pub(crate) fn require(path: &Path, what: &str) -> Result<()> {
    if !path.exists() {
        bail!(
            "{what} is missing ({}): run `cargo xtask setup`, which installs the interop peers",
            path.display()
        );
    }
    Ok(())
}

/// SIGTERM the child (whose pid is the daemon's: `ip netns exec` execs it),
/// wait up to `limit`, then SIGKILL. Returns whether it exited on SIGTERM.
pub(crate) fn stop_child(child: &mut Child, limit: Duration) -> bool {
    if let Ok(Some(_)) = child.try_wait() {
        return true;
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Wait until `path` exists, or fail after `limit` (or when the child exits)
/// with `log`'s text.
pub(crate) fn wait_for_path(
    path: &Path,
    limit: Duration,
    child: &mut Child,
    what: &str,
    log: &Path,
) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if path.exists() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "{what} exited ({status}) before creating {}\n--- log ---\n{}",
                path.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{what}: {} not created within {limit:?}\n--- log ---\n{}",
        path.display(),
        std::fs::read_to_string(log).unwrap_or_default()
    )
}

/// Run a program and return stdout; error with both streams unless it exits 0.
pub(crate) fn run(cmd: &mut std::process::Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("{what}: cannot run: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(stdout)
}
