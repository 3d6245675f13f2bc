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

pub mod libreswan;
pub mod strongswan;

use anyhow::{bail, Result};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

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
