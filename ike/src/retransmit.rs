//! The retransmission timer of one outstanding request (RFC 7296 2.1),
//! following [`RetransmitConfig`]: exponential backoff from the first
//! transmission, and a give-up instant `first + total`.

use std::time::{Duration, Instant};

use crate::config::RetransmitConfig;

/// What the timer wants done at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetransmitAction {
    /// Nothing yet.
    Wait,
    /// Send the request again.
    Resend,
    /// The schedule is exhausted: the exchange failed.
    GiveUp,
}

/// Backoff state of one request.
#[derive(Debug, Clone)]
pub(crate) struct Retransmit {
    next_at: Instant,
    interval: Duration,
    give_up_at: Instant,
}

impl Retransmit {
    /// A request first sent at `now`.
    pub(crate) fn start(now: Instant, cfg: &RetransmitConfig) -> Self {
        let interval = cfg.initial.min(cfg.max_interval);
        Retransmit {
            next_at: now + interval,
            interval,
            give_up_at: now + cfg.total,
        }
    }

    /// The next instant at which [`poll`](Self::poll) has something to do.
    pub(crate) fn deadline(&self) -> Instant {
        self.next_at.min(self.give_up_at)
    }

    /// Advances the schedule to `now`.
    pub(crate) fn poll(&mut self, now: Instant, cfg: &RetransmitConfig) -> RetransmitAction {
        if now >= self.give_up_at {
            return RetransmitAction::GiveUp;
        }
        if now < self.next_at {
            return RetransmitAction::Wait;
        }
        let grown = self
            .interval
            .checked_mul(cfg.multiplier.max(1))
            .unwrap_or(cfg.max_interval);
        self.interval = grown.min(cfg.max_interval);
        let scheduled = self.next_at + self.interval;
        self.next_at = if scheduled > now {
            scheduled
        } else {
            now + self.interval
        };
        RetransmitAction::Resend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule() {
        let cfg = RetransmitConfig::default();
        let t0 = Instant::now();
        let mut r = Retransmit::start(t0, &cfg);
        let mut resends = Vec::new();
        loop {
            let at = r.deadline();
            match r.poll(at, &cfg) {
                RetransmitAction::Resend => resends.push(at - t0),
                RetransmitAction::GiveUp => {
                    assert_eq!(at - t0, Duration::from_secs(60));
                    break;
                }
                RetransmitAction::Wait => panic!("deadline without action"),
            }
        }
        let ms: Vec<u128> = resends.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![500, 1500, 3500, 7500, 15500, 31500]);
    }

    #[test]
    fn capped_interval() {
        let cfg = RetransmitConfig {
            initial: Duration::from_secs(1),
            multiplier: 10,
            max_interval: Duration::from_secs(3),
            total: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let mut r = Retransmit::start(t0, &cfg);
        assert_eq!(r.poll(t0, &cfg), RetransmitAction::Wait);
        let mut at = Vec::new();
        while r.poll(r.deadline(), &cfg) == RetransmitAction::Resend {
            at.push((r.deadline() - t0).as_secs());
        }
        // resends at 1, 4, 7 -> next deadlines 4, 7, 10(give up)
        assert_eq!(at, vec![4, 7, 10]);
    }
}
