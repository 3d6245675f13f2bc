//! Boot the kernel lab VM (virtme-ng, software emulation) and run one command
//! in it.
//!
//! The guest shares the host's root filesystem read-only, so binaries built on
//! the host run inside at the same paths. A small guest script (written under
//! `target/lab/`) marks the boot, loads the kernel modules the tests need,
//! enters the caller's working directory, runs the command and reports its
//! exit code on a marker line that this side parses: the exit code survives
//! whatever virtme-ng does with its own.

use crate::{paths, setup};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BOOT_MARK: &str = "lab: guest up";
const EXIT_MARK: &str = "lab: command exited with ";

/// Modules loaded before the command runs; a missing one is reported, not fatal.
const MODULES: &[&str] = &[
    "xfrm_user",
    "esp4",
    "esp6",
    "xfrm4_tunnel",
    "xfrm6_tunnel",
    "tunnel4",
    "tunnel6",
    "gcm",
    "ghash-generic",
    "seqiv",
    "authenc",
    "cbc",
    "aes_generic",
    "sha256_generic",
    "sha512_generic",
    "veth",
    "dummy",
    "sch_netem",
    "af_key",
];

/// Environment passed from the host into the guest command.
const PASS_ENV: &[&str] = &[
    "PATH",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "CI",
    "CARGO_TARGET_DIR",
    "HOME",
    "LAB_JOBS",
    "LAB_TEST_TIMEOUT",
    "CABLE_ENGINE_BIN",
    // Which Debian release's interop peers (`integration::peers::PEERS_ENV`).
    "CABLE_ENGINE_PEERS",
    "BENCH_REPS",
    "BENCH_HUB",
    "BENCH_ONLY",
    "BENCH_SHAPES",
    "BENCH_WHO",
];

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn guest_script(cmd: &[String]) -> Result<String> {
    let cwd = std::env::current_dir()?;
    let out = paths::lab().join("out");
    let mut s = String::from("#!/bin/sh\n");
    s += &format!("echo \"{BOOT_MARK} (kernel $(uname -r))\"\n");
    for var in PASS_ENV {
        if let Ok(v) = std::env::var(var) {
            s += &format!("export {var}={}\n", shell_quote(&v));
        }
    }
    s += &format!("export {}=1\n", integration::lab::LAB_ENV);
    s += &format!(
        "export {}={}\n",
        integration::lab::LAB_OUT_ENV,
        shell_quote(&out.to_string_lossy())
    );
    s += &format!(
        "for m in {}; do modprobe -q $m 2>/dev/null || echo \"lab: note: module $m not loaded\"; done\n",
        MODULES.join(" ")
    );
    s += &format!("cd {} || exit 125\n", shell_quote(&cwd.to_string_lossy()));
    let quoted: Vec<String> = cmd.iter().map(|a| shell_quote(a)).collect();
    s += &quoted.join(" ");
    s += &format!("\nrc=$?\necho \"{EXIT_MARK}$rc\"\nexit $rc\n");
    Ok(s)
}

fn timeout() -> Duration {
    let secs = std::env::var("LAB_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3600);
    Duration::from_secs(secs)
}

/// A console line made fit for a log: control characters (the serial
/// console emits NULs and terminal sequences) dropped, trailing space cut.
fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip an escape sequence: ESC [ params final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out.trim_end().to_string()
}

/// Boot the lab, run `cmd` inside, stream its output (each line also goes to
/// `on_line`), and return its exit code.
pub fn run_in_lab(cmd: &[String], on_line: &mut dyn FnMut(&str)) -> Result<i32> {
    setup::preflight()?;
    let kernel = setup::lab_kernel()?;
    let lab = paths::lab();
    let out = lab.join("out");
    std::fs::create_dir_all(&out)?;
    let script = lab.join(format!("guest-{}.sh", std::process::id()));
    std::fs::write(&script, guest_script(cmd)?)?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;

    let memory = std::env::var("LAB_MEMORY").unwrap_or_else(|_| "2G".into());
    let venv_bin = paths::vng()
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    eprintln!("lab: booting {} (software emulation)", kernel.display());
    let started = Instant::now();
    let mut child = Command::new(paths::vng())
        .env("PATH", path)
        .args([
            "--disable-kvm",
            "--cpus",
            "2",
            "--memory",
            &memory,
            "--user",
            "root",
        ])
        .arg("--run")
        .arg(&kernel)
        .arg("--rwdir")
        .arg(&out)
        .arg("--exec")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Piped, never inherited: QEMU would reopen an inherited log file and
        // write over what came before.
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .context("starting virtme-ng (run `cargo xtask setup`)")?;

    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(err).split(b'\n').map_while(Result::ok) {
                let line = clean(&line);
                if !line.is_empty() {
                    eprintln!("{line}");
                }
            }
        });
    }
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let limit = timeout();
    {
        let (done, timed_out) = (done.clone(), timed_out.clone());
        std::thread::spawn(move || {
            while started.elapsed() < limit {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            timed_out.store(true, Ordering::Relaxed);
            // Kill virtme-ng and its QEMU: they share the process group.
            let _ = Command::new("kill")
                .args(["-9", &format!("-{pid}")])
                .status();
        });
    }

    let mut booted = false;
    let mut exit: Option<i32> = None;
    let stdout = child.stdout.take().context("no stdout from virtme-ng")?;
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    let mut term = std::io::stdout();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = clean(&buf);
        let line = line.as_str();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(BOOT_MARK) {
            booted = true;
            eprintln!("lab: booted in {:.0?}", started.elapsed());
        }
        if let Some(code) = line.strip_prefix(EXIT_MARK) {
            exit = code.trim().parse().ok();
        }
        let _ = writeln!(term, "{line}");
        on_line(line);
    }
    let status = child.wait()?;
    done.store(true, Ordering::Relaxed);
    let _ = std::fs::remove_file(&script);
    if timed_out.load(Ordering::Relaxed) {
        bail!(
            "the lab timed out after {limit:?} (LAB_TIMEOUT); {}",
            if booted {
                "the command did not finish"
            } else {
                "the VM never booted"
            }
        );
    }
    if !booted {
        bail!("the lab VM failed to boot (virtme-ng exited with {status}); see its output above");
    }
    match exit {
        Some(code) => {
            eprintln!("lab: done in {:.0?}, exit code {code}", started.elapsed());
            Ok(code)
        }
        None => bail!("the lab VM stopped before the command finished (virtme-ng: {status})"),
    }
}
