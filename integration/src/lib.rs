//! The kernel lab and the end-to-end tests' helpers.
//!
//! - [`topo`]: network namespaces joined by veth pairs, torn down on drop.
//! - [`dropin`]: the engine as `pluto`, driven the way Submariner's libreswan
//!   driver drives it.
//! - [`lab`]: detection of the lab VM, so lab tests refuse to run elsewhere.
//! - [`peers`]: strongSwan and libreswan daemons as interop peers in a namespace.
//! - [`sites`]: Endpoint YAML for a simulated cluster, and the engine as a process.
//! - [`traffic`]: a ping left running through a tunnel, and the engine's counters.
//! - `src/bin/xtask.rs`: `cargo xtask setup | lab | test`.

pub mod dropin;
pub mod lab;
pub mod peers;
pub mod sites;
pub mod topo;
pub mod traffic;
