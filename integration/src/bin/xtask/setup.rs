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
//! - The Debian 13 (trixie) peers, libreswan 5.x and strongSwan 6.x: one
//!   `debootstrap` root each under `target/lab/trixie/` (their packages
//!   conflict), made once (about 3 minutes each) and remade when missing;
//!   the peer helpers run the daemons there with chroot
//!   (`integration/src/peers/mod.rs`, `Distro`).

use crate::paths;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian packages the lab and its tests need.
const APT_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "linux-image-amd64",
    // virtme-ng builds the guest's initramfs around a statically linked
    // busybox; without it the VM does not boot ("no busybox was found").
    "busybox-static",
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
    // The Debian 13 peers' roots.
    "debootstrap",
];

/// The Debian 13 peer roots: (directory under `target/lab/trixie`, the
/// packages beyond `minbase`, a file that proves the root complete).
pub const TRIXIE_ROOTS: &[(&str, &str, &str)] = &[
    (
        "strongswan",
        "strongswan-charon,strongswan-swanctl,libstrongswan-standard-plugins,iproute2",
        "usr/sbin/swanctl",
    ),
    (
        "libreswan",
        // `host` (a virtual package libreswan depends on) is bind9-host.
        "libreswan,bind9-host,libnss3-tools,iproute2",
        "usr/libexec/ipsec/pluto",
    ),
];

/// The Debian mirror the trixie roots come from.
const TRIXIE_MIRROR: &str = "http://deb.debian.org/debian";

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
    trixie(verbose)?;
    let kernel = lab_kernel()?;
    if verbose {
        eprintln!("setup: lab kernel {}", kernel.display());
    }
    preflight()
}

/// Whether `path` is an ELF executable without a program interpreter
/// (statically linked). 64-bit little-endian only: the lab is x86_64.
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // ELF magic, ELFCLASS64, little-endian.
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..usize::from(phnum)).all(|i| {
        let at = phoff as usize + i * usize::from(phentsize);
        bytes
            .get(at..at + 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
    })
}

/// The first of `names` found in PATH (or /sbin, /usr/sbin) that satisfies `ok`.
fn find_in_path(names: &[&str], ok: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
    let found = dirs
        .flat_map(|d| names.iter().map(move |n| Path::new(d).join(n)))
        .find(|p| p.is_file() && ok(p));
    found
}

/// Check everything the lab needs before a VM is booted, and name each
/// missing piece with what provides it (rather than failing inside a boot).
pub fn preflight() -> Result<()> {
    let mut missing = Vec::new();
    if find_in_path(
        &["busybox-static", "busybox.static", "busybox"],
        is_static_elf,
    )
    .is_none()
    {
        missing.push("a statically linked busybox (Debian package busybox-static)".to_string());
    }
    if find_in_path(&["qemu-system-x86_64"], |_| true).is_none() {
        missing.push("qemu-system-x86_64 (Debian package qemu-system-x86)".to_string());
    }
    if !paths::vng().exists() {
        missing.push(format!("virtme-ng ({} from PyPI)", VIRTME_NG));
    }
    if let Err(e) = lab_kernel() {
        missing.push(format!("{e:#}"));
    }
    for (path, what) in [
        (
            "/usr/lib/ipsec/charon",
            "strongSwan's charon (strongswan-charon)",
        ),
        ("/usr/sbin/swanctl", "swanctl (strongswan-swanctl)"),
        ("/usr/bin/certutil", "certutil (libnss3-tools)"),
    ] {
        if !Path::new(path).exists() {
            missing.push(format!("{path}: {what}"));
        }
    }
    if !libreswan_root().join("usr/libexec/ipsec/pluto").exists() {
        missing.push("libreswan's pluto, unpacked under target/lab/libreswan".to_string());
    }
    for (name, _, proof) in TRIXIE_ROOTS {
        if !paths::lab().join("trixie").join(name).join(proof).exists() {
            missing.push(format!(
                "the Debian 13 {name} root (target/lab/trixie/{name})"
            ));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    bail!(
        "the lab is missing: {}. Run `cargo xtask setup` (as root), which installs them",
        missing.join("; ")
    )
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

/// Make the Debian 13 peer roots that are missing (debootstrap into a
/// temporary directory, renamed into place once complete; downloaded
/// packages are kept in `target/lab/trixie-debs` for the next root).
fn trixie(verbose: bool) -> Result<()> {
    let base = paths::lab().join("trixie");
    let debs = paths::lab().join("trixie-debs");
    for (name, packages, proof) in TRIXIE_ROOTS {
        let root = base.join(name);
        if root.join(proof).exists() {
            if verbose {
                eprintln!("setup: Debian 13 {name} root present ({})", root.display());
            }
            continue;
        }
        let tmp = base.join(format!("{name}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&debs)?;
        eprintln!(
            "setup: debootstrap trixie ({packages}) into {}",
            root.display()
        );
        let started = std::time::Instant::now();
        exec(
            Command::new("debootstrap")
                .arg("--variant=minbase")
                .arg(format!("--cache-dir={}", debs.display()))
                .arg(format!("--include={packages}"))
                .arg("trixie")
                .arg(&tmp)
                .arg(TRIXIE_MIRROR),
        )?;
        if !tmp.join(proof).exists() {
            bail!("debootstrap left no {proof} in {}", tmp.display());
        }
        std::fs::rename(&tmp, &root)?;
        eprintln!(
            "setup: Debian 13 {name} root made in {:.0?}",
            started.elapsed()
        );
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

#[cfg(test)]
mod tests {
    use super::is_static_elf;

    /// A minimal ELF64 little-endian header with one program header of
    /// type `ptype` (64-byte header, program headers right after it).
    fn elf_with_program_header(ptype: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        b[64..68].copy_from_slice(&ptype.to_le_bytes());
        b
    }

    #[test]
    fn static_busybox_is_told_from_a_dynamic_one() {
        let dir = std::env::temp_dir().join(format!("xtask-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (stat, dynamic, text) = (dir.join("static"), dir.join("dynamic"), dir.join("text"));
        std::fs::write(&stat, elf_with_program_header(1)).unwrap(); // PT_LOAD only
        std::fs::write(&dynamic, elf_with_program_header(3)).unwrap(); // PT_INTERP
        std::fs::write(&text, b"#!/bin/sh\n").unwrap();
        assert!(is_static_elf(&stat));
        assert!(!is_static_elf(&dynamic));
        assert!(!is_static_elf(&text));
        assert!(!is_static_elf(&dir.join("absent")));
        // This test binary is dynamically linked (it has an interpreter).
        assert!(!is_static_elf(&std::env::current_exe().unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
