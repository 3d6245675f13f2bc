//! Inbound SPIs reserved in the kernel before they are offered.
//!
//! An inbound SPI is ours to choose, but the kernel's SA table is shared:
//! another program's SA, or one an earlier engine kept, may already use a
//! random pick. So, as libreswan and strongSwan do, the kernel picks
//! (`XFRM_MSG_ALLOCSPI`): each SPI is reserved as a larval SA, and the
//! Child SA's inbound SA replaces that larval SA (`XFRM_MSG_UPDSA`) when it
//! is installed. `ike` is sans-IO and takes SPIs synchronously, so the core
//! keeps a small pool per local address topped up ahead of need
//! ([`ike::Endpoint::supply_esp_spis`]). The kernel drops an unused larval
//! SA after `net.core.xfrm_acq_expires` (30 s); `ike` stops taking a
//! reserved SPI after [`ike::SPI_POOL_MAX_AGE`] (20 s), and an install
//! that finds its larval SA gone adds the SA instead. With the pool empty
//! (a burst, or the kernel refusing), `ike` draws a random SPI, and an
//! install over a taken SPI fails (never overwrites) and is retried.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Fresh reserved SPIs kept per local address.
pub const POOL_TARGET: usize = 8;

/// How long the kernel keeps an unused larval SA
/// (`net.core.xfrm_acq_expires`, default).
pub const LARVAL_LIFETIME: Duration = Duration::from_secs(30);

/// How long to wait before reserving again after the kernel refused.
pub const REFUSED_BACKOFF: Duration = Duration::from_secs(30);

/// How long one reservation may stay unanswered before another is asked.
const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct ReservedSpis {
    /// Reserved and not yet installed, with when.
    spis: HashMap<(IpAddr, u32), Instant>,
    /// Per local address: a reservation asked for at this instant and not
    /// answered yet, or no new one before this instant (refused).
    busy_until: HashMap<IpAddr, Instant>,
}

impl ReservedSpis {
    /// How many SPIs to reserve for `local`, which has `fresh` usable
    /// ones in `ike`'s pool; `None` when enough, or one is in flight.
    pub fn wanted(&mut self, local: IpAddr, fresh: usize, now: Instant) -> Option<usize> {
        self.spis
            .retain(|_, at| now.saturating_duration_since(*at) < LARVAL_LIFETIME);
        if fresh >= POOL_TARGET || self.busy_until.get(&local).is_some_and(|t| now < *t) {
            return None;
        }
        self.busy_until.insert(local, now + IN_FLIGHT_LIMIT);
        Some(POOL_TARGET - fresh)
    }

    /// The kernel reserved `spis` for `local` (none: it refused, and the
    /// next attempt waits [`REFUSED_BACKOFF`]).
    pub fn add(&mut self, local: IpAddr, spis: &[u32], now: Instant) {
        if spis.is_empty() {
            self.busy_until.insert(local, now + REFUSED_BACKOFF);
        } else {
            self.busy_until.remove(&local);
        }
        for spi in spis {
            self.spis.insert((local, *spi), now);
        }
    }

    /// Whether inbound SPI `spi` to `local` was reserved (and may still
    /// have its larval SA); it is no longer counted as reserved.
    pub fn take(&mut self, local: IpAddr, spi: u32) -> bool {
        self.spis.remove(&(local, spi)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_reservation_at_a_time_up_to_the_target() {
        let t0 = Instant::now();
        let mut r = ReservedSpis::default();
        let a = ip("192.0.2.1");
        assert_eq!(r.wanted(a, 0, t0), Some(POOL_TARGET));
        assert_eq!(r.wanted(a, 0, t0), None, "one in flight");
        assert_eq!(r.wanted(ip("192.0.2.7"), 5, t0), Some(POOL_TARGET - 5));
        r.add(a, &[0xc000_0001, 0xc000_0002], t0);
        assert_eq!(r.wanted(a, POOL_TARGET, t0), None, "enough");
        assert_eq!(r.wanted(a, 3, t0), Some(POOL_TARGET - 3));
        // An unanswered reservation does not block for ever.
        assert_eq!(r.wanted(a, 3, t0 + IN_FLIGHT_LIMIT), Some(POOL_TARGET - 3));
        assert!(r.take(a, 0xc000_0001));
        assert!(!r.take(a, 0xc000_0001), "taken once");
        assert!(!r.take(ip("192.0.2.7"), 0xc000_0002), "another address");
        // The kernel dropped the larval SA by now.
        let _ = r.wanted(a, POOL_TARGET, t0 + LARVAL_LIFETIME);
        assert!(!r.take(a, 0xc000_0002));
    }

    #[test]
    fn refused_reservation_backs_off() {
        let t0 = Instant::now();
        let mut r = ReservedSpis::default();
        let a = ip("192.0.2.1");
        assert!(r.wanted(a, 0, t0).is_some());
        r.add(a, &[], t0);
        assert_eq!(r.wanted(a, 0, t0 + Duration::from_secs(1)), None);
        assert!(r.wanted(a, 0, t0 + REFUSED_BACKOFF).is_some());
    }
}
