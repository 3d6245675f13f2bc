//! ICMP health checks through the tunnels, reported the way Submariner reports
//! them.
//!
//! - [`stats`]: RTT last/min/average/max/stdDev with Submariner's running
//!   (Welford) statistics and its 1000-sample window, bit-for-bit.
//! - [`duration`]: Go's `time.Duration.String()` formatting, as the Gateway
//!   status carries RTTs (`"388.079µs"`).
//! - [`loss`]: the consecutive-loss rule that turns a connection to `error`.
//! - [`icmp`]: echo request/reply encoding and parsing (IPv4 and IPv6).
//! - [`pinger`]: the tokio task that pings one remote health-check IP from the
//!   local one, so the echo goes through the tunnel, and keeps the above.

pub mod duration;
pub mod icmp;
pub mod loss;
pub mod pinger;
pub mod stats;

pub use duration::go_duration;
pub use loss::{HealthStatus, LossTracker};
pub use pinger::{LatencyInfo, Pinger, PingerConfig};
pub use stats::RttStats;
