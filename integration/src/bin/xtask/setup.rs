//! `cargo xtask setup`: install what a fresh machine lacks, idempotently.
//!
//! - Debian packages (apt-get): QEMU, Debian's kernel image (whose modules
//!   carry ESP), and the network tools the tests drive.
//! - virtme-ng (PyPI) in a virtualenv under `target/lab/venv`.
//! - The interop peers: strongSwan 5.9 (charon, swanctl) as Debian packages,
//!   and libreswan 4.x unpacked privately under `target/lab/libreswan` (its
//!   package conflicts with strongSwan's), with its library dependencies
//!   installed normally and `/usr/libexec/ipsec` linked to the unpacked tree
//!   (pluto and its updown script run programs there by fixed path).

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
    // The router namespace's NAT (iptables-nft) and the interop tests'
    // packet filters (u32 match).
    "iptables",
    // strongSwan peer (see integration/src/peers/strongswan.rs).
    "strongswan-charon",
    "strongswan-swanctl",
    "libstrongswan-standard-plugins",
    // libreswan's library dependencies (the package itself is unpacked
    // privately: it conflicts with strongswan-charon).
    "libnss3",
    "libnss3-tools",
    "libnspr4",
    "libcurl3-nss",
    "libevent-core-2.1-7",
    "libevent-pthreads-2.1-7",
    "libldap-2.5-0",
    "libldns3",
    "libunbound8",
    "libcap-ng0",
    "libaudit1",
    "dns-root-data",
];

/// The Debian package unpacked privately for the libreswan peer.
const LIBRESWAN_PACKAGE: &str = "libreswan";

/// Where libreswan's programs are looked up by fixed path (pluto runs
/// `addconn` there, `_updown` runs `_updown.xfrm` there).
const LIBRESWAN_EXECDIR: &str = "/usr/libexec/ipsec";

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
    libreswan(verbose)?;
    let kernel = lab_kernel()?;
    if verbose {
        eprintln!("setup: lab kernel {}", kernel.display());
    }
    Ok(())
}

/// The private libreswan tree: `target/lab/libreswan` holds the unpacked
/// package (`usr/libexec/ipsec/pluto`, `usr/sbin/ipsec`, ...).
pub fn libreswan_root() -> PathBuf {
    paths::lab().join("libreswan")
}

/// Unpack libreswan privately (once) and link `/usr/libexec/ipsec` to it.
fn libreswan(verbose: bool) -> Result<()> {
    let root = libreswan_root();
    let execdir = root.join("usr/libexec/ipsec");
    if !execdir.join("pluto").exists() {
        let dl = paths::lab().join("libreswan-deb");
        let _ = std::fs::remove_dir_all(&dl);
        std::fs::create_dir_all(&dl)?;
        eprintln!(
            "setup: unpacking {LIBRESWAN_PACKAGE} into {}",
            root.display()
        );
        exec(
            Command::new("apt-get")
                .args(["download", "-qq", LIBRESWAN_PACKAGE])
                .current_dir(&dl),
        )
        .or_else(|_| {
            exec(Command::new("apt-get").args(["update", "-qq"]))?;
            exec(
                Command::new("apt-get")
                    .args(["download", "-qq", LIBRESWAN_PACKAGE])
                    .current_dir(&dl),
            )
        })?;
        let deb = std::fs::read_dir(&dl)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .context("apt-get download libreswan left no .deb")?;
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)?;
        exec(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        if !execdir.join("pluto").exists() {
            bail!("{} has no usr/libexec/ipsec/pluto", deb.display());
        }
        let _ = std::fs::remove_dir_all(&dl);
    } else if verbose {
        eprintln!("setup: libreswan unpacked ({})", root.display());
    }
    let link = std::path::Path::new(LIBRESWAN_EXECDIR);
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            if std::fs::read_link(link)? != execdir {
                std::fs::remove_file(link)?;
                std::os::unix::fs::symlink(&execdir, link)?;
            }
        }
        Ok(_) => {
            // A real directory: a system libreswan is installed; leave it.
            if verbose {
                eprintln!("setup: {LIBRESWAN_EXECDIR} is a directory (system libreswan), kept");
            }
        }
        Err(_) => {
            std::fs::create_dir_all(link.parent().context("no parent")?)?;
            std::os::unix::fs::symlink(&execdir, link)
                .with_context(|| format!("linking {LIBRESWAN_EXECDIR}"))?;
            eprintln!("setup: linked {LIBRESWAN_EXECDIR} -> {}", execdir.display());
        }
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
