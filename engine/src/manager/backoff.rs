//! Retry schedules with exponential backoff: re-initiating a peer after a
//! failed negotiation, asking again for a Child SA the peer refused.
//!
//! An attempt that comes due stays recorded (its time pushed far out) so
//! that the next failure doubles its delay; success clears it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Longest delay between attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(30);

/// How far out a due attempt is pushed until it fails again or succeeds.
const PARKED: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy)]
struct Retry {
    at: Instant,
    backoff: Duration,
}

/// Pending attempts by key, each with its own backoff.
#[derive(Debug)]
pub struct Backoff<K: Ord> {
    first: Duration,
    entries: BTreeMap<K, Retry>,
}

impl<K: Ord + Clone> Backoff<K> {
    /// A schedule whose first delay is `first`, doubled up to [`RETRY_MAX`].
    pub fn new(first: Duration) -> Self {
        Backoff {
            first,
            entries: BTreeMap::new(),
        }
    }

    /// Schedule an attempt for `key` after the next delay; returns it.
    pub fn schedule(&mut self, key: K, now: Instant) -> Duration {
        let backoff = self
            .entries
            .get(&key)
            .map_or(self.first, |r| (r.backoff * 2).min(RETRY_MAX));
        self.entries.insert(
            key,
            Retry {
                at: now + backoff,
                backoff,
            },
        );
        backoff
    }

    /// Schedule a first attempt for `key` after `delay` (its backoff
    /// starts there), unless one is scheduled already.
    pub fn schedule_once(&mut self, key: K, now: Instant, delay: Duration) {
        self.entries.entry(key).or_insert(Retry {
            at: now + delay,
            backoff: delay,
        });
    }

    /// The keys due at `now` (kept, with their backoff, until cleared).
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        for (key, r) in self.entries.iter_mut() {
            if r.at <= now {
                r.at = now + PARKED;
                due.push(key.clone());
            }
        }
        due
    }

    /// Whether an attempt for `key` is scheduled.
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// The attempt succeeded or is moot.
    pub fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Keep only the keys `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }

    /// Rename keys (e.g. to a rekeyed IKE SA), keeping their schedule.
    pub fn rename(&mut self, f: impl Fn(&K) -> K) {
        self.entries = std::mem::take(&mut self.entries)
            .into_iter()
            .map(|(k, r)| (f(&k), r))
            .collect();
    }

    /// When the earliest attempt is due.
    pub fn next(&self) -> Option<Instant> {
        self.entries.values().map(|r| r.at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_and_clear_on_success() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(2));
        assert_eq!(b.schedule("a", t0), Duration::from_secs(2));
        assert_eq!(b.next(), Some(t0 + Duration::from_secs(2)));
        assert!(b.take_due(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(b.take_due(t0 + Duration::from_secs(2)), vec!["a"]);
        assert!(
            b.take_due(t0 + Duration::from_secs(3)).is_empty(),
            "due once"
        );
        assert_eq!(b.schedule("a", t0), Duration::from_secs(4));
        for _ in 0..10 {
            b.schedule("a", t0);
        }
        assert_eq!(b.schedule("a", t0), RETRY_MAX);
        b.clear(&"a");
        assert_eq!(b.next(), None);
        assert_eq!(b.schedule("a", t0), Duration::from_secs(2), "starts over");
    }

    #[test]
    fn renamed_keys_keep_their_schedule() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(1));
        b.schedule((1, 0), t0);
        b.schedule((1, 0), t0);
        b.schedule((2, 5), t0);
        b.rename(|&(sa, i)| if sa == 1 { (3, i) } else { (sa, i) });
        assert_eq!(b.schedule((3, 0), t0), Duration::from_secs(4));
        b.retain(|&(sa, _)| sa != 2);
        assert_eq!(b.take_due(t0 + RETRY_MAX).len(), 1);
    }
}
