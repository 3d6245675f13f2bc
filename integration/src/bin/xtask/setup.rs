//! `cargo xtask setup`: install what a fresh machine lacks, idempotently.
//!
//! - Debian packages (apt-get): QEMU, Debian's kernel image (whose modules
//!   carry ESP), and the network tools the tests drive.
//! - virtme-ng (PyPI) in a virtualenv under `target/lab/venv`.

use crate::paths;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// Debian packages the lab and its tests need.
const APT_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "linux-image-amd64",
    "iproute2",
    "iputils-ping",
    "tcpdump",
    "kmod",
    "procps",
];

/// virtme-ng version the lab was proven with.
const VIRTME_NG: &str = "virtme-ng==1.42";

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn exec(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Install what is missing. `verbose` also reports what was already there.
pub fn run(verbose: bool) -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if !missing.is_empty() {
        eprintln!("setup: installing Debian packages: {}", missing.join(" "));
        exec(Command::new("apt-get").args(["update", "-qq"]))?;
        exec(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing),
        )?;
    } else if verbose {
        eprintln!("setup: Debian packages present");
    }
    let vng = paths::vng();
    if !vng.exists() {
        let venv = paths::lab().join("venv");
        eprintln!("setup: installing {VIRTME_NG} into {}", venv.display());
        std::fs::create_dir_all(paths::lab())?;
        exec(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        exec(Command::new(venv.join("bin").join("pip")).args([
            "install",
            "-q",
            "--disable-pip-version-check",
            VIRTME_NG,
        ]))?;
        if !vng.exists() {
            bail!("virtme-ng installed but {} is missing", vng.display());
        }
    } else if verbose {
        eprintln!("setup: virtme-ng present ({})", vng.display());
    }
    let kernel = lab_kernel()?;
    if verbose {
        eprintln!("setup: lab kernel {}", kernel.display());
    }
    Ok(())
}

/// The Debian kernel the lab boots: the newest `/boot/vmlinuz-*` whose
/// modules are installed (not the build machine's own kernel).
pub fn lab_kernel() -> Result<PathBuf> {
    let mut best: Option<(Vec<u64>, PathBuf)> = None;
    for entry in std::fs::read_dir("/boot").context("reading /boot")? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(version) = name.strip_prefix("vmlinuz-") else {
            continue;
        };
        if !PathBuf::from("/lib/modules").join(version).is_dir() {
            continue;
        }
        let key: Vec<u64> = version
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|s| s.parse().ok())
            .collect();
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, path));
        }
    }
    best.map(|(_, p)| p).context(
        "no kernel in /boot with modules in /lib/modules: run `cargo xtask setup` \
         (it installs Debian's linux-image-amd64)",
    )
}
