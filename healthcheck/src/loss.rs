//! The consecutive-loss rule of Submariner's health checker.
//!
//! Each echo sent counts one; a reply clears the count and marks the
//! connection `connected`. When, right after a send, more echoes are
//! unanswered than the configured maximum, the connection becomes `error`
//! with Submariner's message, and counting starts afresh (Submariner restarts
//! its pinger there); it stays `error` until a reply arrives.

/// What the health check says about one remote endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// No reply yet and not enough losses to call it an error.
    Unknown,
    Connected,
    Error,
}

/// Counts unanswered echoes for one remote health-check IP.
#[derive(Debug, Clone)]
pub struct LossTracker {
    ip: String,
    max_loss: u32,
    unanswered: u32,
    status: HealthStatus,
}

impl LossTracker {
    /// `max_loss` is SUBMARINER_HEALTHCHECKMAXPACKETLOSSCOUNT (0 means the
    /// default, 5, as in Submariner).
    pub fn new(ip: impl Into<String>, max_loss: u32) -> Self {
        LossTracker {
            ip: ip.into(),
            max_loss: if max_loss == 0 { 5 } else { max_loss },
            unanswered: 0,
            status: HealthStatus::Unknown,
        }
    }

    /// An echo was sent. Returns true when this send turned the status to
    /// `error`.
    pub fn on_send(&mut self) -> bool {
        self.unanswered = self.unanswered.saturating_add(1);
        if self.unanswered > self.max_loss {
            self.unanswered = 0;
            let changed = self.status != HealthStatus::Error;
            self.status = HealthStatus::Error;
            return changed;
        }
        false
    }

    /// A reply arrived. Returns true when this turned the status to `connected`.
    pub fn on_reply(&mut self) -> bool {
        self.unanswered = 0;
        let changed = self.status != HealthStatus::Connected;
        self.status = HealthStatus::Connected;
        changed
    }

    pub fn status(&self) -> HealthStatus {
        self.status
    }

    /// Submariner's status message: empty unless in error.
    pub fn message(&self) -> String {
        match self.status {
            HealthStatus::Error => format!(
                "Failed to successfully ping the remote endpoint IP \"{}\"",
                self.ip
            ),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_after_more_than_max_consecutive_losses() {
        let mut t = LossTracker::new("10.2.0.1", 5);
        for _ in 0..5 {
            assert!(!t.on_send());
            assert_eq!(t.status(), HealthStatus::Unknown);
        }
        assert!(t.on_send(), "the sixth unanswered echo is an error");
        assert_eq!(t.status(), HealthStatus::Error);
        assert_eq!(
            t.message(),
            "Failed to successfully ping the remote endpoint IP \"10.2.0.1\""
        );
        // Still in error: further losses do not report a new transition.
        for _ in 0..6 {
            assert!(!t.on_send());
        }
        assert_eq!(t.status(), HealthStatus::Error);
    }

    #[test]
    fn a_reply_resets_the_count_and_the_status() {
        let mut t = LossTracker::new("10.2.0.1", 2);
        t.on_send();
        t.on_send();
        assert!(t.on_reply());
        assert_eq!(t.status(), HealthStatus::Connected);
        assert_eq!(t.message(), "");
        // Losses are consecutive: two more are still fine, the third is not.
        assert!(!t.on_send());
        assert!(!t.on_send());
        assert!(t.on_send());
        assert!(t.on_reply());
        assert_eq!(t.status(), HealthStatus::Connected);
    }

    #[test]
    fn zero_means_submariners_default_of_five() {
        let mut t = LossTracker::new("x", 0);
        for _ in 0..5 {
            assert!(!t.on_send());
        }
        assert!(t.on_send());
    }
}
