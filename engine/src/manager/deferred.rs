//! The responder of a Child SA rekey holds back its new outbound SA.
//!
//! When the peer rekeys, we answer its CREATE_CHILD_SA and could install
//! both new SAs at once; but the peer installs its new *inbound* SA only
//! when our answer arrives, and the kernel sends on the newest outbound SA
//! at once, so packets we send in between are dropped by the peer (one
//! ping in ~500 at 0.1 s intervals in the lab). Like strongSwan, we
//! install the new inbound SA at once and the new outbound SA only when
//! the peer deletes the old Child SA (it has switched by then), or after
//! [`OUTBOUND_DELAY`] if it keeps the old one longer.

use std::time::{Duration, Instant};

use ike::{ChildId, ChildSaInfo};

/// The longest an outbound SA waits for the old Child SA's DELETE.
pub const OUTBOUND_DELAY: Duration = Duration::from_secs(3);

/// The inbound SPI of the Child SA a new one replaces, when we answered a
/// rekey the peer started: then its outbound SA waits.
pub fn peer_rekey_of(info: &ChildSaInfo) -> Option<u32> {
    info.rekey_of.filter(|_| !info.initiated_locally)
}

/// One new outbound SA not installed yet; `T` is what installing it takes
/// (the Child SA's keys and reqid).
pub struct Deferred<T> {
    pub cable: String,
    /// The new Child SA.
    pub child: ChildId,
    /// Inbound SPI of the Child SA it replaces.
    pub replaces_spi_in: u32,
    pub due: Instant,
    pub payload: T,
}

/// The outbound SAs waiting, in the order they were deferred.
pub struct DeferredOutbound<T> {
    waiting: Vec<Deferred<T>>,
}

impl<T> Default for DeferredOutbound<T> {
    fn default() -> Self {
        DeferredOutbound {
            waiting: Vec::new(),
        }
    }
}

impl<T> DeferredOutbound<T> {
    pub fn push(&mut self, d: Deferred<T>) {
        self.waiting.push(d);
    }

    /// Take those to install now that the Child SA whose inbound SPI is
    /// `spi_in` is deleted.
    pub fn take_replacing(&mut self, spi_in: u32) -> Vec<Deferred<T>> {
        self.take_where(|d| d.replaces_spi_in == spi_in)
    }

    /// Take those whose wait is over.
    pub fn take_due(&mut self, now: Instant) -> Vec<Deferred<T>> {
        self.take_where(|d| d.due <= now)
    }

    /// Forget the one of a Child SA that went away before installing it.
    pub fn forget(&mut self, child: ChildId) {
        self.waiting.retain(|d| d.child != child);
    }

    /// Forget every one of a cable (it is being removed).
    pub fn forget_cable(&mut self, cable: &str) {
        self.waiting.retain(|d| d.cable != cable);
    }

    fn take_where(&mut self, pred: impl Fn(&Deferred<T>) -> bool) -> Vec<Deferred<T>> {
        let (take, keep) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(pred);
        self.waiting = keep;
        take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(cable: &str, child: u32, replaces: u32, due: Instant) -> Deferred<()> {
        Deferred {
            cable: cable.into(),
            child: ChildId(child),
            replaces_spi_in: replaces,
            due,
            payload: (),
        }
    }

    #[test]
    fn released_by_the_old_child_delete_or_the_deadline() {
        let t0 = Instant::now();
        let mut q = DeferredOutbound::default();
        q.push(d("a", 2, 0x11, t0 + OUTBOUND_DELAY));
        q.push(d("a", 3, 0x22, t0 + OUTBOUND_DELAY));
        q.push(d("b", 4, 0x33, t0 + Duration::from_secs(1)));
        assert!(q.take_replacing(0x99).is_empty());
        let got = q.take_replacing(0x22);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].child, ChildId(3));
        assert!(q.take_due(t0).is_empty());
        let due = q.take_due(t0 + Duration::from_secs(1));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].child, ChildId(4));
        let due = q.take_due(t0 + OUTBOUND_DELAY);
        assert_eq!(due.len(), 1);
        assert!(
            q.take_due(t0 + OUTBOUND_DELAY * 2).is_empty(),
            "each one is released once"
        );
    }

    #[test]
    fn forgotten_with_its_child_or_cable() {
        let t0 = Instant::now();
        let mut q = DeferredOutbound::default();
        q.push(d("a", 2, 0x11, t0));
        q.push(d("b", 3, 0x22, t0));
        q.push(d("b", 4, 0x33, t0));
        q.forget(ChildId(2));
        q.forget_cable("b");
        assert!(q.take_due(t0).is_empty());
    }
}
