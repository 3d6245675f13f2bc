//! SA lifetimes: soft and hard limits on bytes, packets and seconds, and
//! their mapping to the kernel's `xfrm_lifetime_cfg` (unlimited counts are
//! `XFRM_INF`, unlimited times are 0).

use netlink_packet_xfrm::{LifetimeConfig, XFRM_INF};

/// One side (soft or hard) of an SA lifetime. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifetimeLimits {
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    /// Seconds after the SA was added.
    pub add_seconds: Option<u64>,
    /// Seconds after the SA was first used.
    pub use_seconds: Option<u64>,
}

/// Soft and hard lifetimes. The kernel sends a soft EXPIRE when a soft limit
/// is reached and deletes the SA (hard EXPIRE) at a hard limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    pub soft: LifetimeLimits,
    pub hard: LifetimeLimits,
}

impl Lifetimes {
    pub(crate) fn to_nl(self) -> LifetimeConfig {
        let count = |v: Option<u64>| v.unwrap_or(XFRM_INF);
        let secs = |v: Option<u64>| v.unwrap_or(0);
        LifetimeConfig {
            soft_byte_limit: count(self.soft.bytes),
            hard_byte_limit: count(self.hard.bytes),
            soft_packet_limit: count(self.soft.packets),
            hard_packet_limit: count(self.hard.packets),
            soft_add_expires_seconds: secs(self.soft.add_seconds),
            hard_add_expires_seconds: secs(self.hard.add_seconds),
            soft_use_expires_seconds: secs(self.soft.use_seconds),
            hard_use_expires_seconds: secs(self.hard.use_seconds),
        }
    }

    pub(crate) fn from_nl(c: &LifetimeConfig) -> Self {
        let count = |v: u64| (v != XFRM_INF).then_some(v);
        let secs = |v: u64| (v != 0).then_some(v);
        Lifetimes {
            soft: LifetimeLimits {
                bytes: count(c.soft_byte_limit),
                packets: count(c.soft_packet_limit),
                add_seconds: secs(c.soft_add_expires_seconds),
                use_seconds: secs(c.soft_use_expires_seconds),
            },
            hard: LifetimeLimits {
                bytes: count(c.hard_byte_limit),
                packets: count(c.hard_packet_limit),
                add_seconds: secs(c.hard_add_expires_seconds),
                use_seconds: secs(c.hard_use_expires_seconds),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_and_limited_round_trip() {
        let none = Lifetimes::default().to_nl();
        assert_eq!(none.soft_byte_limit, XFRM_INF);
        assert_eq!(none.hard_packet_limit, XFRM_INF);
        assert_eq!(none.hard_add_expires_seconds, 0);
        let mut l = Lifetimes::default();
        l.soft.bytes = Some(1000);
        l.hard.packets = Some(20);
        l.soft.add_seconds = Some(30);
        l.hard.use_seconds = Some(60);
        let nl = l.to_nl();
        assert_eq!(nl.soft_byte_limit, 1000);
        assert_eq!(nl.hard_packet_limit, 20);
        assert_eq!(nl.soft_add_expires_seconds, 30);
        assert_eq!(nl.hard_use_expires_seconds, 60);
        assert_eq!(Lifetimes::from_nl(&nl), l);
    }
}
