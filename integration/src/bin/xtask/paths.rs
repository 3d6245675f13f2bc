//! Where things live: the workspace root, the target dir and the lab's files.

use std::path::PathBuf;

/// The workspace root (the parent of the `integration` crate).
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// The lab's own files: the virtme-ng venv, guest scripts, shared output.
pub fn lab() -> PathBuf {
    root().join("target").join("lab")
}

/// The virtme-ng launcher inside the venv.
pub fn vng() -> PathBuf {
    lab().join("venv").join("bin").join("vng")
}

/// Cargo's target directory (honours CARGO_TARGET_DIR).
pub fn target() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => {
            let t = PathBuf::from(t);
            if t.is_absolute() {
                t
            } else {
                root().join(t)
            }
        }
        None => root().join("target"),
    }
}
