//! `cargo xtask bench`: the benchmark (`integration/tests/bench/main.rs`)
//! against a release build of the engine, in one lab boot; its results are
//! copied to `integration/bench/`.

use crate::test::{build_engine, build_lab_target};
use crate::{paths, setup, vm};
use anyhow::{Context, Result};

/// What the benchmark writes (under `$CABLE_ENGINE_LAB_OUT/bench/`).
const FILES: &[&str] = &["results.json", "RESULTS.md", "setup.svg", "hub.svg"];

pub fn run() -> Result<i32> {
    setup::run(false)?;
    build_engine(true)?;
    let engine = paths::target().join("release").join("cable-engine");
    let exe = build_lab_target("bench")?;
    let out = paths::lab().join("out").join("bench");
    for f in FILES {
        let _ = std::fs::remove_file(out.join(f));
    }
    // Twenty-odd daemons at once: more room than the test suite needs.
    if std::env::var_os("LAB_MEMORY").is_none() {
        std::env::set_var("LAB_MEMORY", "4G");
    }
    std::env::set_var("CABLE_ENGINE_BIN", &engine);
    let code = vm::run_in_lab(&[exe], &mut |_| {})?;
    let dest = paths::root().join("integration").join("bench");
    std::fs::create_dir_all(&dest)?;
    let mut copied = 0;
    for f in FILES {
        if out.join(f).exists() {
            std::fs::copy(out.join(f), dest.join(f))
                .with_context(|| format!("copying {f} to {}", dest.display()))?;
            copied += 1;
        }
    }
    eprintln!("bench: {copied} files written to {}", dest.display());
    Ok(code)
}
