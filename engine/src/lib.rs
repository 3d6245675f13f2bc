//! `cable-engine`: Submariner's IPsec cable engine, as a library the
//! `cable-engine` binary drives.
//!
//! What is here now (the foundation):
//! - [`config`] / [`psk`]: Submariner's environment and the CLI flags.
//! - [`crd`]: the `submariner.io/v1` resource types.
//! - [`source`]: where Endpoints and Clusters come from (a directory now;
//!   Kubernetes later) as a desired state plus changes.
//! - [`cable`]: the libreswan driver's rules turned into a [`cable::CablePlan`]
//!   per remote Endpoint, and the diff between two plans.
//! - [`status`]: `Connection` status, health-check merging, and the
//!   `show connections` table.
//! - [`control`]: the local socket `show` talks to.
//!
//! The IKE/XFRM connection manager (sockets, `ike` state machines, kernel
//! programming through `xfrm`) is being added by the lead in `manager/`; it
//! consumes [`cable::CablePlan`] and produces [`crd::Connection`]s.

pub mod cable;
pub mod cli;
pub mod config;
pub mod control;
pub mod crd;
pub mod dropin;
pub mod gobool;
pub mod http;
pub mod manager;
pub mod metrics;
pub mod psk;
pub mod source;
pub mod status;
