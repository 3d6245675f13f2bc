//! `xtask guest-run`: the lab test runner, run *inside* the VM.
//!
//! Most lab time is spent waiting on real timers (rekeys, keepalives, health
//! checks), not on the CPU, so the tests run concurrently: each test is its
//! own process (`<lab binary> --exact NAME`), so namespace names (which carry
//! the process id), work directories and a crash stay per test. Tests under
//! a `solo::` module change state the whole guest shares (kernel modules) and
//! run first, one at a time, with nothing else running.
//!
//! Each test's output goes to `$CABLE_ENGINE_LAB_OUT/test-logs/NAME.log`;
//! a failed test's log is printed at the end. The runner prints one line per
//! finished test with its wall time, and closes with a libtest-style
//! `test result:` line (which `cargo xtask test` counts). Durations are kept
//! in `$CABLE_ENGINE_LAB_OUT/lab-durations.tsv` so that the next run starts
//! the longest tests first.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tests whose path starts with this run alone, before the others.
const SOLO_PREFIX: &str = "solo::";

/// Concurrent tests by default (`LAB_JOBS` overrides).
const DEFAULT_JOBS: usize = 4;

/// A test still running after this long is killed and counted as failed
/// (`LAB_TEST_TIMEOUT`, seconds, overrides).
const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
struct Outcome {
    name: String,
    passed: bool,
    took: Duration,
    log: PathBuf,
    why: Option<String>,
}

fn env_num(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The tests the binary holds (`--list --format terse`: `name: test`).
fn list_tests(exe: &str) -> Result<Vec<String>> {
    let out = Command::new(exe)
        .args(["--list", "--format", "terse"])
        .output()
        .with_context(|| format!("listing the tests of {exe}"))?;
    if !out.status.success() {
        bail!(
            "{exe} --list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

fn durations_file(out: &Path) -> PathBuf {
    out.join("lab-durations.tsv")
}

fn load_durations(out: &Path) -> HashMap<String, f64> {
    std::fs::read_to_string(durations_file(out))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (name, secs) = l.split_once('\t')?;
            Some((name.to_string(), secs.parse().ok()?))
        })
        .collect()
}

/// Run one test in its own process group, output to `log`.
fn run_one(exe: &str, name: &str, log: &Path, limit: Duration) -> Outcome {
    let started = Instant::now();
    let fail = |why: String| Outcome {
        name: name.to_string(),
        passed: false,
        took: started.elapsed(),
        log: log.to_path_buf(),
        why: Some(why),
    };
    let file = match std::fs::File::create(log) {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot create {}: {e}", log.display())),
    };
    let err = match file.try_clone() {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot clone the log handle: {e}")),
    };
    let child = Command::new(exe)
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start {exe}: {e}")),
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() > limit => {
                // The test and everything it started (same process group).
                let _ = Command::new("kill")
                    .args(["-9", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                return fail(format!("timed out after {limit:?} (LAB_TEST_TIMEOUT)"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return fail(format!("waiting for the test: {e}")),
        }
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // Exit 0 with "1 passed": a filter that matched nothing is no pass.
    let ran = text.contains("test result: ok. 1 passed");
    Outcome {
        name: name.to_string(),
        passed: status.success() && ran,
        took: started.elapsed(),
        log: log.to_path_buf(),
        why: (!status.success())
            .then(|| format!("exited with {status}"))
            .or_else(|| (!ran).then(|| "the binary ran no test by that name".to_string())),
    }
}

/// Run `tests` with at most `jobs` at once; report each as it ends.
fn run_pool(exe: &str, tests: Vec<String>, jobs: usize, logs: &Path) -> Vec<Outcome> {
    let queue = Arc::new(Mutex::new(tests.into_iter()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let limit = Duration::from_secs(env_num("LAB_TEST_TIMEOUT", DEFAULT_TEST_TIMEOUT.as_secs()));
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let (queue, results) = (queue.clone(), results.clone());
            s.spawn(move || loop {
                let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                let Some(name) = next else { return };
                let log = logs.join(format!("{}.log", name.replace("::", "__")));
                let o = run_one(exe, &name, &log, limit);
                println!(
                    "test {} ... {} ({:.1} s){}",
                    o.name,
                    if o.passed { "ok" } else { "FAILED" },
                    o.took.as_secs_f64(),
                    o.why
                        .as_deref()
                        .map(|w| format!(": {w}"))
                        .unwrap_or_default()
                );
                let _ = std::io::stdout().flush();
                if let Ok(mut r) = results.lock() {
                    r.push(o);
                }
            });
        }
    });
    let r = results.lock().map(|r| r.clone()).unwrap_or_default();
    r
}

/// `guest-run EXE [FILTER...]`: run the lab tests whose names contain one
/// of the filters (all when none), solo tests first. Returns the exit code.
pub fn run(args: &[String]) -> Result<i32> {
    let Some((exe, filters)) = args.split_first() else {
        bail!("usage: xtask guest-run LAB_TEST_BINARY [FILTER...]");
    };
    let out = integration::lab::out_dir().unwrap_or_else(std::env::temp_dir);
    let logs = out.join("test-logs");
    std::fs::create_dir_all(&logs)?;
    let jobs = env_num("LAB_JOBS", DEFAULT_JOBS as u64) as usize;
    let known = load_durations(&out);
    let mut tests: Vec<String> = list_tests(exe)?
        .into_iter()
        .filter(|t| filters.is_empty() || filters.iter().any(|f| t.contains(f.as_str())))
        .collect();
    if tests.is_empty() {
        bail!("no lab test matches {filters:?}");
    }
    // Longest first (as last measured); tests never measured go first.
    tests.sort_by(|a, b| {
        let d = |t: &String| known.get(t).copied().unwrap_or(f64::INFINITY);
        d(b).total_cmp(&d(a))
    });
    let (solo, shared): (Vec<String>, Vec<String>) =
        tests.into_iter().partition(|t| t.starts_with(SOLO_PREFIX));
    println!(
        "lab runner: {} tests alone, then {} with {jobs} at a time",
        solo.len(),
        shared.len()
    );
    let started = Instant::now();
    let mut results = run_pool(exe, solo, 1, &logs);
    results.extend(run_pool(exe, shared, jobs, &logs));
    let took = started.elapsed();

    let mut all = known;
    for o in &results {
        all.insert(o.name.clone(), o.took.as_secs_f64());
    }
    let mut rows: Vec<_> = all.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let tsv: String = rows.iter().map(|(n, s)| format!("{n}\t{s:.1}\n")).collect();
    let _ = std::fs::write(durations_file(&out), tsv);

    let failed: Vec<&Outcome> = results.iter().filter(|o| !o.passed).collect();
    for o in &failed {
        println!("\n---- {} output ({}) ----", o.name, o.log.display());
        // Prefixed, so that the test's own `test result:` line is not
        // counted again by `cargo xtask test`.
        for line in std::fs::read_to_string(&o.log).unwrap_or_default().lines() {
            println!("| {line}");
        }
    }
    let busy: f64 = results.iter().map(|o| o.took.as_secs_f64()).sum();
    println!(
        "\nlab runner: {:.0} s of tests in {:.0} s wall time ({:.1}x)",
        busy,
        took.as_secs_f64(),
        busy / took.as_secs_f64().max(1e-9)
    );
    if !failed.is_empty() {
        println!("failures:");
        for o in &failed {
            println!("    {}", o.name);
        }
    }
    let passed = results.len() - failed.len();
    println!(
        "test result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        took.as_secs_f64()
    );
    Ok(if failed.is_empty() { 0 } else { 101 })
}
