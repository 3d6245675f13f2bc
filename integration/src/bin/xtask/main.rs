//! `cargo xtask`: the developer entry point.
//!
//! - `cargo xtask setup`: install what a fresh machine lacks (idempotent).
//! - `cargo xtask lab -- CMD [ARGS]`: boot the kernel lab VM and run CMD as
//!   root inside it, in the same working directory; exits with CMD's code.
//! - `cargo xtask test`: host build and tests, then every lab test in one VM
//!   boot (several at a time), with a closing `N passed, N failed` line for
//!   the lab part.
//! - `cargo xtask lab-tests [FILTER...]`: only the lab tests (those whose
//!   names contain a filter, or all), in one VM boot.
//! - `cargo xtask bench`: the engine next to libreswan and strongSwan in one
//!   lab boot; results in `integration/bench/`.
//! - `cargo xtask fuzz TARGET SECONDS`: one of `ike/fuzz`'s targets on its
//!   corpus, for that long.
//! - `xtask guest-run`: the lab test runner itself, run inside the VM.

mod bench;
mod demo;
mod fuzz;
mod guest;
mod paths;
mod setup;
mod test;
mod vm;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <demo | setup | lab -- CMD [ARGS] | test | lab-tests | bench | fuzz>

  demo               three simulated clusters connected by cable-engine, in the lab
  setup              install the lab's packages (apt) and virtme-ng (venv under target/)
  lab -- CMD [ARGS]  boot the kernel lab and run CMD as root inside it
  test               host tests, then all lab tests in one VM boot
  lab-tests [FILTER...]  only the lab tests (names containing a filter), in one VM boot
  bench              cable-engine next to libreswan and strongSwan, in one VM boot;
                     results in integration/bench/ (BENCH_REPS, BENCH_HUB=10,20, BENCH_ONLY=setup,hub,restart,rekey)
  fuzz TARGET SECS   run an ike/fuzz target (decode_message, responder_datagrams) on its corpus

environment: LAB_TIMEOUT (seconds for the whole VM, default 3600), LAB_MEMORY (default 2G),
  LAB_JOBS (lab tests at a time, default 4), LAB_TEST_TIMEOUT (seconds per lab test, default 900)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(true).map(|()| 0),
        Some("lab") => {
            let rest: Vec<String> = args[1..]
                .iter()
                .skip_while(|a| a.as_str() == "--")
                .cloned()
                .collect();
            if rest.is_empty() {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
            setup::run(false).and_then(|()| vm::run_in_lab(&rest, &mut |_| {}))
        }
        Some("test") => test::run(),
        Some("lab-tests") => test::lab_only(&args[1..]),
        Some("guest-run") => guest::run(&args[1..]),
        Some("demo") => demo::run(),
        Some("bench") => bench::run(),
        Some("fuzz") => fuzz::run(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1)),
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
