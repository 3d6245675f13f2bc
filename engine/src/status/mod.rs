//! Connection status: what the engine reports for each cable.
//!
//! - [`connection`]: the manager's view of a cable ([`CableState`]) turned
//!   into Submariner's [`Connection`](crate::crd::Connection).
//! - [`health`]: health-check results merged into it, exactly as Submariner's
//!   gateway syncer does.
//! - [`gateway`]: the `Gateway` object written every 5 s.
//! - [`table`]: `show connections` output, as `subctl show connections`
//!   prints it, and JSON.

pub mod connection;
pub mod gateway;
pub mod health;
pub mod table;

pub use connection::{connection_for_plan, connection_for_unplanned, CableState};
pub use gateway::{gateway_object, GATEWAY_UPDATE_INTERVAL};
pub use health::{merge_health, ping_failure_message, HealthReport, HealthState};
pub use table::{connections_json, connections_table, remote_ip_and_nat};
