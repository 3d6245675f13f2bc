//! `cargo xtask test`: everything, host first, then the lab in one VM boot.

use crate::{setup, vm};
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(crate::paths::root());
    c
}

/// Build the `cable-engine` daemon (`--release` when `release`).
pub fn build_engine(release: bool) -> Result<()> {
    let mut c = cargo();
    c.args([
        "build",
        "--package",
        "cable-engine",
        "--bin",
        "cable-engine",
    ]);
    if release {
        c.arg("--release");
    }
    if !c.status()?.success() {
        bail!("building cable-engine failed");
    }
    Ok(())
}

/// Build the lab test binary (and the daemon it drives) on the host and
/// return the test binary's path.
fn build_lab_tests() -> Result<String> {
    build_lab_target("lab")
}

/// Build a test target of the integration crate with the `lab` feature
/// (and the debug daemon) and return its executable.
pub fn build_lab_target(target: &str) -> Result<String> {
    build_engine(false)?;
    let out = cargo()
        .args([
            "test",
            "--package",
            "integration",
            "--features",
            "lab",
            "--test",
            target,
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo")?;
    if !out.status.success() {
        bail!("building the lab tests failed");
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] == "compiler-artifact" && v["target"]["name"] == target {
            if let Some(exe) = v["executable"].as_str() {
                return Ok(exe.to_string());
            }
        }
    }
    bail!("cargo built no {target} test executable")
}

/// Counts from libtest's `test result:` lines.
#[derive(Default, Debug)]
struct Tally {
    passed: u64,
    failed: u64,
    seen_result: bool,
}

impl Tally {
    fn feed(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        self.seen_result = true;
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let n: u64 = n.trim_start_matches("ok.").trim().parse().unwrap_or(0);
            match label {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                _ => {}
            }
        }
    }
}

/// Build the lab tests and run those matching `filters` (all when empty) in
/// one VM boot, concurrently (see `guest.rs`). Prints the closing
/// `lab: N passed, N failed` line; true when every test passed.
fn lab(filters: &[String]) -> Result<bool> {
    eprintln!("== lab: build lab tests");
    let exe = build_lab_tests()?;
    // Building the lab tests rebuilds this very binary (cargo builds a
    // package's binaries for its integration tests, here with the `lab`
    // feature), so the guest runs a copy of the running one.
    let me = crate::paths::lab().join("xtask-guest");
    std::fs::copy("/proc/self/exe", &me).context("copying the xtask binary for the guest")?;
    let me = me.to_string_lossy().into_owned();
    // The same for the test binary and the daemon: a host build during the
    // run (cargo test, clippy's build scripts) replaces them in place, and
    // the guest's running copies then crash (SIGSEGV) on their next page-in.
    let exe = snapshot(std::path::Path::new(&exe), "lab-tests")?;
    if std::env::var_os("CABLE_ENGINE_BIN").is_none() {
        let engine = crate::paths::target().join("debug").join("cable-engine");
        let engine = snapshot(&engine, "cable-engine")?;
        std::env::set_var("CABLE_ENGINE_BIN", engine);
    }
    eprintln!("== lab: run {exe}");
    let mut tally = Tally::default();
    let mut cmd = vec![me, "guest-run".to_string(), exe];
    cmd.extend(filters.iter().cloned());
    let code = vm::run_in_lab(&cmd, &mut |line| tally.feed(line));
    let code = match code {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lab: error: {e:#}");
            -1
        }
    };
    if !tally.seen_result && tally.failed == 0 {
        // The runner never reported (crash, boot failure): that is a failure.
        tally.failed = 1;
    }
    println!("lab: {} passed, {} failed", tally.passed, tally.failed);
    Ok(code == 0 && tally.failed == 0)
}

/// Copy a freshly built binary to `target/lab/<name>` (replacing the old
/// copy by rename, never in place) and return the copy's path.
fn snapshot(built: &std::path::Path, name: &str) -> Result<String> {
    let dest = crate::paths::lab().join(name);
    let tmp = crate::paths::lab().join(format!(".{name}.tmp"));
    std::fs::copy(built, &tmp).with_context(|| format!("copying {}", built.display()))?;
    std::fs::rename(&tmp, &dest)?;
    Ok(dest.to_string_lossy().into_owned())
}

/// `cargo xtask lab-tests [FILTER...]`: only the lab part, optionally only
/// the tests whose names contain one of the filters.
pub fn lab_only(filters: &[String]) -> Result<i32> {
    setup::run(false)?;
    Ok(if lab(filters)? { 0 } else { 1 })
}

pub fn run() -> Result<i32> {
    setup::run(false)?;

    eprintln!("== host: build and tests");
    let built = cargo()
        .args(["build", "--workspace", "--all-targets"])
        .status()?
        .success();
    let host_ok = built
        && cargo()
            .args(["test", "--workspace", "--no-fail-fast"])
            .status()?
            .success();
    if !host_ok {
        eprintln!("== host: FAILED (see above)");
    }

    let lab_ok = lab(&[])?;
    Ok(if host_ok && lab_ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn tally_reads_libtest_summaries() {
        let mut t = Tally::default();
        t.feed("test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3.1s");
        t.feed("test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out");
        t.feed("test foo ... ok");
        assert_eq!((t.passed, t.failed, t.seen_result), (5, 2, true));
    }
}
