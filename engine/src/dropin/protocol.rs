//! The drop-in control socket's protocol (ours, not pluto's: pluto's is a
//! C struct that changes between releases).
//!
//! A Unix stream socket, `<rundir>/pluto.ctl` (default `/run/pluto`). The
//! client writes one JSON line `{"args": ["--route", "--name", "x"]}` (the
//! `whack` arguments as given), the daemon answers one JSON line
//! `{"code": 0, "output": "..."}` and closes. The daemon parses the
//! arguments again: the client only checks them to fail fast.

use serde::{Deserialize, Serialize};

/// Where pluto's control socket is by default.
pub const DEFAULT_RUNDIR: &str = "/run/pluto";
/// The control socket's file name in the run directory.
pub const CTL_NAME: &str = "pluto.ctl";
/// The largest request or answer line.
pub const MAX_LINE: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The exit code whack returns (libreswan's codes).
    pub code: i32,
    /// What whack prints on stdout.
    pub output: String,
}
