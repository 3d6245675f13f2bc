//! The kernel lab: detection from inside, and the guest-side environment.
//!
//! The build machine's kernel has no ESP, so every test that installs an ESP
//! state or passes traffic through a tunnel runs inside a virtme-ng VM booted
//! with Debian's kernel (see `cargo xtask lab`). The guest script exports
//! [`LAB_ENV`] so that code can tell where it runs.

/// Environment variable set (to `1`) by the lab's guest script.
pub const LAB_ENV: &str = "CABLE_ENGINE_LAB";

/// Environment variable naming a writable directory shared with the host
/// (`target/lab/out`), for logs and captures that must survive the VM.
pub const LAB_OUT_ENV: &str = "CABLE_ENGINE_LAB_OUT";

/// True when running inside the lab VM.
pub fn in_lab() -> bool {
    std::env::var(LAB_ENV).is_ok_and(|v| v == "1")
}

/// Refuse to run outside the lab: panics with a message saying how to run the
/// test. Every lab test calls this first, so a lab test never passes silently
/// on a kernel that cannot carry ESP.
pub fn require_lab() {
    if !in_lab() {
        panic!(
            "this is a kernel-lab test: it installs ESP states, which the build machine's \
             kernel cannot do. Run it with `cargo xtask test`, or \
             `cargo xtask lab -- <lab test binary> <filter>`"
        );
    }
}

/// Directory for artefacts that must reach the host (logs, captures), when
/// the lab was booted with one.
pub fn out_dir() -> Option<std::path::PathBuf> {
    std::env::var_os(LAB_OUT_ENV).map(std::path::PathBuf::from)
}
