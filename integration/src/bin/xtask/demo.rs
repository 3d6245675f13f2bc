//! `cargo xtask demo`: build the engine and the demo driver on the host, then
//! run the demo (`integration/src/bin/demo.rs`) inside the kernel lab.

use crate::{paths, setup, vm};
use anyhow::{bail, Result};

pub fn run() -> Result<i32> {
    setup::run(false)?;
    eprintln!("demo: building cable-engine and the demo driver");
    for (package, bin) in [("cable-engine", "cable-engine"), ("integration", "demo")] {
        let ok = crate::test::cargo()
            .args(["build", "--quiet", "--package", package, "--bin", bin])
            .status()?
            .success();
        if !ok {
            bail!("building {bin} failed");
        }
    }
    let demo = paths::target().join("debug").join("demo");
    vm::run_in_lab(&[demo.to_string_lossy().into_owned()], &mut |_| {})
}
