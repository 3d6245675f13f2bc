//! The connection manager: builds every planned cable with the `ike` core,
//! programs the kernel through `xfrm`, and reports each cable's status.
//!
//! The decisions live in [`core`], a state machine without I/O (plans,
//! datagrams, time, kernel events and results in; datagrams, kernel
//! operations, health-check targets and status out), testable in one
//! process. One tokio task ([`driver`]) does the I/O around it: the
//! IKE/NAT-T socket ([`socket`]), the XFRM client ([`kernel`]) and event
//! stream, the health-check pingers. It is fed complete sets of
//! [`CablePlan`]s and answers with `Connection`s on a watch channel that
//! the control socket (`show connections`), the Gateway status writer and
//! the metrics read.
//!
//! - [`cable`]: one cable's runtime state and status.
//! - [`peers`]: a plan becomes one `ike` peer (default mode: every pair
//!   under one IKE SA) or one per pair (preferred-server FQDN identities).
//! - [`backoff`]: retry schedules (re-initiating a peer, asking again for
//!   a refused Child SA).
//! - [`reqids`]: one stable reqid per pair, derived from its name.
//! - [`reconcile`]: what a restarted engine finds in the kernel is kept
//!   until the new SAs are in, then removed; nothing foreign is touched.

pub mod backoff;
pub mod cable;
pub mod core;
pub mod driver;
pub mod kernel;
pub mod peers;
pub mod reconcile;
pub mod reqids;
pub mod socket;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::cable::CablePlan;

pub use driver::run;

/// Health-check settings (SUBMARINER_HEALTHCHECK*).
#[derive(Debug, Clone, Copy)]
pub struct HealthSettings {
    pub interval: Duration,
    pub max_loss: u32,
}

/// What the manager needs besides the plans.
pub struct ManagerSettings {
    /// The PSK as used in AUTH (the base64 text).
    pub psk: ike::crypto::SecretBytes,
    /// Local IKE / NAT-T port (CE_IPSEC_NATTPORT).
    pub natt_port: u16,
    /// Health checks, when enabled.
    pub health: Option<HealthSettings>,
    /// The local Endpoint's healthCheckIPs, at most one per IP family (the
    /// pings' source for targets of that family).
    pub local_health_ips: Vec<IpAddr>,
    /// Remove everything the engine installed on shutdown (default). When
    /// false the SAs stay so traffic flows while a new engine starts.
    pub cleanup_on_exit: bool,
    /// IKE and Child SA lifetimes (CE_IPSEC_IKELIFETIME and friends).
    pub lifetimes: ike::Lifetimes,
    /// Kernel packet limits of Child SAs (CE_IPSEC_REKEYPACKETS).
    pub sa_limits: core::ops::SaLimits,
    /// The proposals of every peer (CE_IPSEC_IKEPROPOSALS,
    /// CE_IPSEC_ESPPROPOSALS, CE_IPSEC_REQUIREPFS).
    pub proposals: peers::ProposalSettings,
    /// Override of the ike core's settings (tests shorten timers).
    pub ike: ike::EndpointConfig,
}

/// Input of the manager.
#[derive(Debug)]
pub enum ManagerCommand {
    /// The complete desired set of cables, by cable name.
    Plans(BTreeMap<String, CablePlan>),
    /// The local Endpoint's healthCheckIPs (the pings' sources) changed:
    /// health checks restart from it; tunnels are not touched.
    LocalHealthIp(Vec<IpAddr>),
    /// Problems to show on remote clusters' connections, by cluster id
    /// (see [`crate::source::DesiredState::notes`]).
    Notes(BTreeMap<String, String>),
}
