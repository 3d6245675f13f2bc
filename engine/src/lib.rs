//! `cable-engine`: Submariner's IPsec cable engine, as a library the
//! `cable-engine` binary drives.
//!
//! - [`config`] / [`psk`]: Submariner's environment and the CLI flags.
//! - [`crd`]: the `submariner.io/v1` resource types.
//! - [`source`]: where Endpoints and Clusters come from (Kubernetes or a
//!   directory), as a desired state plus changes; the local Endpoint the
//!   gateway publishes.
//! - [`cable`]: the libreswan driver's rules turned into a
//!   [`cable::CablePlan`] per remote Endpoint, and the diff between two
//!   plans.
//! - [`manager`]: the connection manager: a pure core (`manager::core`)
//!   and the tokio driver around it (IKE socket, XFRM, health checks).
//! - [`status`]: `Connection` status, health-check merging, and the
//!   `show connections` table; [`metrics`] and [`http`]: Prometheus and
//!   the probes.
//! - [`control`]: the local socket `show` talks to.
//! - [`dropin`]: the `pluto`/`whack`/`ipsec` personalities that let a
//!   stock Submariner gateway drive the engine.

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
