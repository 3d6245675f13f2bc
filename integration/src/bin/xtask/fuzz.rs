//! `cargo xtask fuzz TARGET SECONDS`: runs one of `ike/fuzz`'s libFuzzer
//! targets (`decode_message`, `responder_datagrams`) for a while on the
//! committed corpus, which it grows in place (commit what it adds).
//!
//! cargo-fuzz is installed into `target/fuzz-tools` on first use (it is
//! not needed by the tests, so `setup` does not install it). The stable
//! toolchain builds the target with `RUSTC_BOOTSTRAP=1` (libFuzzer needs
//! sanitizer flags that are otherwise nightly-only).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::paths;

fn cargo_fuzz() -> Result<PathBuf> {
    let tools = paths::target().join("fuzz-tools");
    let bin = tools.join("bin").join("cargo-fuzz");
    if bin.exists() {
        return Ok(bin);
    }
    eprintln!("fuzz: installing cargo-fuzz into {}", tools.display());
    let st = Command::new("cargo")
        .args(["install", "--locked", "--quiet", "cargo-fuzz", "--root"])
        .arg(&tools)
        .status()
        .context("cargo install cargo-fuzz")?;
    if !st.success() {
        bail!("cargo install cargo-fuzz failed ({st})");
    }
    Ok(bin)
}

pub fn run(args: &[String]) -> Result<i32> {
    let (Some(target), Some(secs)) = (args.first(), args.get(1)) else {
        bail!(
            "usage: cargo xtask fuzz TARGET SECONDS (targets: decode_message, responder_datagrams)"
        );
    };
    let secs: u64 = secs.parse().context("SECONDS")?;
    let dir = paths::root().join("ike").join("fuzz");
    let corpus = dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)?;
    let st = Command::new(cargo_fuzz()?)
        .current_dir(&dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", target])
        .arg(&corpus)
        .args([
            "--",
            &format!("-max_total_time={secs}"),
            "-print_final_stats=1",
        ])
        .status()
        .context("cargo fuzz run")?;
    Ok(st.code().unwrap_or(1))
}
