//! Make-before-break at the kernel: which SAs wait before they go in, and
//! which stay a little after their Child SA is gone.
//!
//! The kernel sends on the newest outbound SA of a pair. When we answer a
//! CREATE_CHILD_SA or IKE_AUTH for a pair that already has an SA pair (a
//! rekey the peer started, a crossed initiation, a cable rebuilt under a
//! new IKE SA), the peer installs its side only when our answer arrives;
//! packets we sent on the new SA before that would be dropped (one ping in
//! ~500 at 0.1 s intervals in the lab). So the new outbound SA is *held*:
//! installed once the peer has proved it has our answer (it sent its next
//! request on that IKE SA, such as the Delete of the old Child SA, or its
//! first packet arrived on the new inbound SA: the kernel's counter of that
//! SA is read every [`PROBE_INTERVAL`] while the outbound one waits), or
//! after [`OUTBOUND_DELAY`] (strongSwan waits the same way) unless the
//! peer still sends on the pair's older inbound SA (read alongside): a
//! peer that sends on the old SA and not on the new one has not taken
//! our answer (libreswan under load in CI), so the wait goes on. libreswan
//! 4.x sends on a new SA as soon as it has it and, when its old SAs are
//! already gone, sends no further request: without the probe our replies
//! went into the old SA for the whole delay.
//!
//! When a Child SA goes away, its SAs stay until its pair has another
//! Child SA and no held SA of the pair waits (else the pair would have
//! none: a peer that restarted keeps its predecessor's SAs until its new
//! ones are in), the inbound one at least [`OUTBOUND_DELAY`] (the peer may
//! still be sending on it until it has processed the Delete), neither
//! longer than [`LINGER_MAX`]. Every entry has a deadline in the future;
//! [`Held::next`] is the earliest, and what is due is taken, so no deadline
//! outlives its handling.

use std::time::{Duration, Instant};

use ike::{ChildId, SaId};
use ipnetwork::IpNetwork;
use xfrm::SaConfig;

/// The longest a held outbound SA waits, and how long an inbound SA stays
/// after its Child SA is gone.
pub const OUTBOUND_DELAY: Duration = Duration::from_secs(3);

/// How often the inbound SA of a held outbound one is read for its first
/// packet.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// A pair, by its selectors (stable across plans and generations).
pub type PairKey = (IpNetwork, IpNetwork);

/// A new outbound SA not installed yet.
pub struct HeldOutbound {
    pub cable: String,
    pub child: ChildId,
    /// The IKE SA that carries the Child SA, and the peer's request count
    /// on it when we answered.
    pub ike_sa: SaId,
    pub peer_requests: u32,
    pub pair: PairKey,
    pub due: Instant,
    pub sa: Box<SaConfig>,
    /// The Child SA's inbound SA, and when to read its counter next.
    pub inbound: xfrm::SaId,
    pub probe_at: Instant,
    /// The inbound SAs of the pair's other Child SAs, read with it.
    pub old: Vec<OldInbound>,
    /// The wait was prolonged because the peer still sent on an old SA.
    pub prolonged: bool,
}

/// An older inbound SA of a held outbound SA's pair and its packet counts:
/// the first read since the wait began (or was last prolonged), and the
/// latest.
pub struct OldInbound {
    pub sa: xfrm::SaId,
    pub since: Option<u64>,
    pub latest: Option<u64>,
}

impl OldInbound {
    pub fn new(sa: xfrm::SaId) -> Self {
        OldInbound {
            sa,
            since: None,
            latest: None,
        }
    }
}

impl HeldOutbound {
    /// Packets arrived on an older inbound SA of the pair since the wait
    /// began (or was last prolonged).
    fn peer_sends_on_old(&self) -> bool {
        self.old
            .iter()
            .any(|o| matches!((o.since, o.latest), (Some(a), Some(b)) if b > a))
    }

    /// A read of inbound SA `sa` (an older one of the pair) found `packets`.
    pub fn old_read(&mut self, sa: &xfrm::SaId, packets: u64) {
        if let Some(o) = self.old.iter_mut().find(|o| o.sa == *sa) {
            o.since.get_or_insert(packets);
            o.latest = Some(packets);
        }
    }
}

/// The longest an SA of a deleted Child SA stays waiting for its pair to be
/// covered again.
pub const LINGER_MAX: Duration = Duration::from_secs(30);

/// An SA of a Child SA that is gone, still in the kernel: it goes once its
/// pair has another Child SA (and no held outbound SA of the pair waits)
/// and `min_until` has passed, or at `max_until` whatever happens. A peer
/// that restarted (INITIAL_CONTACT) keeps the SAs of its predecessor until
/// its new ones are in, so ours keep working with them meanwhile.
pub struct Lingering {
    pub cable: String,
    pub pair: PairKey,
    pub sa: xfrm::SaId,
    /// The IKE SA its Child SA belonged to.
    pub ike_sa: Option<SaId>,
    /// That IKE SA was closed with a Delete (ours or the peer's): the peer
    /// has removed its side, so this SA carries nothing any more and no
    /// new outbound SA waits for its sake.
    pub peer_gone: bool,
    pub min_until: Instant,
    pub max_until: Instant,
    /// `min_until` has passed (only coverage or `max_until` ends it now).
    min_passed: bool,
}

impl Lingering {
    pub fn new(cable: String, pair: PairKey, sa: xfrm::SaId, now: Instant, min: Duration) -> Self {
        Lingering {
            cable,
            pair,
            sa,
            ike_sa: None,
            peer_gone: false,
            min_until: now + min,
            max_until: now + LINGER_MAX.max(min),
            min_passed: min.is_zero(),
        }
    }
}

/// The held and lingering SAs, and kernel operations put off.
#[derive(Default)]
pub struct Held {
    pub outbound: Vec<HeldOutbound>,
    pub lingering: Vec<Lingering>,
    /// Operations to run at a given time (an earlier engine's SAs stay
    /// [`OUTBOUND_DELAY`] after the cable is whole again: the peer may
    /// still send on them until it has switched).
    pub later: Vec<(Instant, super::KernelOp)>,
}

impl Held {
    /// Whether a held outbound SA of `pair` waits on `cable`.
    pub fn waiting(&self, cable: &str, pair: &PairKey) -> bool {
        self.outbound
            .iter()
            .any(|h| h.cable == cable && h.pair == *pair)
    }

    /// Whether SAs of a gone Child SA of `pair` are still in the kernel
    /// and may still carry traffic (the peer has not deleted its side).
    pub fn lingers(&self, cable: &str, pair: &PairKey) -> bool {
        self.lingering
            .iter()
            .any(|l| l.cable == cable && l.pair == *pair && !l.peer_gone)
    }

    /// IKE SA `sa` was closed with a Delete: its lingering SAs are dead
    /// on the peer's side.
    pub fn peer_deleted(&mut self, sa: SaId) {
        for l in self.lingering.iter_mut().filter(|l| l.ike_sa == Some(sa)) {
            l.peer_gone = true;
        }
    }

    /// Held outbound SAs to install now: their IKE SA's peer sent another
    /// request since (`requests` says how many it has sent; `None` when
    /// the IKE SA is gone, which releases it too: its Child SA is deleted
    /// right after), or due while the peer no longer sends on an older
    /// inbound SA of the pair. One due while it still does waits another
    /// [`OUTBOUND_DELAY`].
    pub fn take_released(
        &mut self,
        now: Instant,
        requests: impl Fn(SaId) -> Option<u32>,
    ) -> Vec<HeldOutbound> {
        let mut go = Vec::new();
        for mut h in std::mem::take(&mut self.outbound) {
            if requests(h.ike_sa).is_none_or(|n| n > h.peer_requests) {
                go.push(h);
            } else if h.due <= now && h.peer_sends_on_old() {
                if !h.prolonged {
                    tracing::info!(
                        cable = %h.cable,
                        "the peer still sends on the pair's old SA, not on the new one: the new outbound SA waits"
                    );
                }
                h.prolonged = true;
                h.due = now + OUTBOUND_DELAY;
                for o in &mut h.old {
                    o.since = o.latest;
                }
                self.outbound.push(h);
            } else if h.due <= now {
                go.push(h);
            } else {
                self.outbound.push(h);
            }
        }
        go
    }

    /// The inbound SAs to read now (their held outbound SA waits: its own
    /// inbound SA and the pair's older ones), each next read
    /// [`PROBE_INTERVAL`] later.
    pub fn take_probes(&mut self, now: Instant) -> Vec<(ChildId, xfrm::SaId)> {
        let mut v = Vec::new();
        for h in self.outbound.iter_mut().filter(|h| h.probe_at <= now) {
            h.probe_at = now + PROBE_INTERVAL;
            v.push((h.child, h.inbound));
            v.extend(h.old.iter().map(|o| (h.child, o.sa)));
        }
        v
    }

    /// The held outbound SA of `child`, if one waits.
    pub fn get_mut(&mut self, child: ChildId) -> Option<&mut HeldOutbound> {
        self.outbound.iter_mut().find(|h| h.child == child)
    }

    /// The held outbound SA of `child`, taken out (its peer sends on the
    /// new inbound SA: it has installed both).
    pub fn take_child(&mut self, child: ChildId) -> Option<HeldOutbound> {
        let i = self.outbound.iter().position(|h| h.child == child)?;
        Some(self.outbound.remove(i))
    }

    /// Lingering SAs to remove now: past `max_until`, or past `min_until`
    /// with their pair covered (`covered`) and no held SA of it waiting.
    pub fn take_expired(
        &mut self,
        now: Instant,
        covered: impl Fn(&str, &PairKey) -> bool,
    ) -> Vec<Lingering> {
        let waiting: Vec<(String, PairKey)> = self
            .outbound
            .iter()
            .map(|h| (h.cable.clone(), h.pair))
            .collect();
        let (go, mut keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.lingering)
            .into_iter()
            .partition(|l| {
                let held = waiting.iter().any(|(c, p)| *c == l.cable && *p == l.pair);
                now >= l.max_until || (now >= l.min_until && !held && covered(&l.cable, &l.pair))
            });
        for l in &mut keep {
            l.min_passed |= now >= l.min_until;
        }
        self.lingering = keep;
        go
    }

    /// Operations put off until now.
    pub fn take_later(&mut self, now: Instant) -> Vec<super::KernelOp> {
        let (go, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.later)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.later = keep;
        go.into_iter().map(|(_, op)| op).collect()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        let held = self.outbound.iter().map(|h| h.due.min(h.probe_at));
        let lingering = self.lingering.iter().map(|l| {
            if l.min_passed {
                l.max_until
            } else {
                l.min_until
            }
        });
        let later = self.later.iter().map(|(t, _)| *t);
        held.chain(lingering).chain(later).min()
    }

    /// Forget the held SA of a Child SA that went away before it went in.
    pub fn forget_child(&mut self, child: ChildId) {
        self.outbound.retain(|h| h.child != child);
    }

    /// The IKE SA was rekeyed: held SAs follow, with the new SA's count.
    pub fn rename_sa(&mut self, old: SaId, new: SaId, requests: u32) {
        for h in self.outbound.iter_mut().filter(|h| h.ike_sa == old) {
            h.ike_sa = new;
            h.peer_requests = requests;
        }
    }

    /// Forget every entry of a cable (it is being removed; its SAs go now).
    pub fn forget_cable(&mut self, cable: &str) -> Vec<xfrm::SaId> {
        self.outbound.retain(|h| h.cable != cable);
        let (gone, keep) = std::mem::take(&mut self.lingering)
            .into_iter()
            .partition(|l| l.cable == cable);
        self.lingering = keep;
        gone.into_iter().map(|l: Lingering| l.sa).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrm::{EspTransform, ReqId, SecretKey};

    fn pair(n: u8) -> PairKey {
        (
            format!("10.{n}.0.0/16").parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
        )
    }

    fn held(child: u32, sa: u64, requests: u32, p: PairKey, due: Instant) -> HeldOutbound {
        let cfg = SaConfig::new(
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            child,
            ReqId::owned(1).unwrap(),
            EspTransform::aes_gcm(SecretKey::new(vec![0; 36])),
        );
        HeldOutbound {
            cable: "c".into(),
            child: ChildId(child),
            ike_sa: SaId(sa),
            peer_requests: requests,
            pair: p,
            due,
            sa: Box::new(cfg),
            inbound: xfrm::SaId {
                dst: "192.0.2.1".parse().unwrap(),
                spi: child + 0x1000,
                mark: None,
            },
            probe_at: due,
            old: Vec::new(),
            prolonged: false,
        }
    }

    #[test]
    fn inbound_sa_read_every_interval_until_released() {
        let t0 = Instant::now();
        let mut h = Held::default();
        let mut x = held(1, 7, 2, pair(2), t0 + OUTBOUND_DELAY);
        x.probe_at = t0 + PROBE_INTERVAL;
        h.outbound.push(x);
        assert_eq!(h.next(), Some(t0 + PROBE_INTERVAL));
        assert!(h.take_probes(t0).is_empty());
        let got = h.take_probes(t0 + PROBE_INTERVAL);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, ChildId(1));
        assert_eq!(h.next(), Some(t0 + PROBE_INTERVAL * 2));
        assert!(h.take_probes(t0 + PROBE_INTERVAL).is_empty());
        assert!(h.take_child(ChildId(2)).is_none());
        assert!(h.take_child(ChildId(1)).is_some());
        assert_eq!(h.next(), None);
    }

    #[test]
    fn released_by_the_peers_next_request_or_the_deadline() {
        let t0 = Instant::now();
        let mut h = Held::default();
        h.outbound.push(held(1, 7, 2, pair(2), t0 + OUTBOUND_DELAY));
        h.outbound
            .push(held(2, 8, 5, pair(3), t0 + Duration::from_secs(1)));
        // Nothing new from either peer, nothing due.
        let counts = |sa: SaId| Some(if sa == SaId(7) { 2 } else { 5 });
        assert!(h.take_released(t0, counts).is_empty());
        assert_eq!(h.next(), Some(t0 + Duration::from_secs(1)));
        // The first IKE SA's peer sent its next request.
        let counts = |sa: SaId| Some(if sa == SaId(7) { 3 } else { 5 });
        let got = h.take_released(t0, counts);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].child, ChildId(1));
        // The other one at its deadline, once.
        let got = h.take_released(t0 + Duration::from_secs(1), counts);
        assert_eq!(got.len(), 1);
        assert!(h.take_released(t0 + OUTBOUND_DELAY * 2, counts).is_empty());
        assert_eq!(h.next(), None, "no deadline outlives its entry");
    }

    #[test]
    fn deadline_prolonged_while_the_peer_sends_on_the_old_sa() {
        let t0 = Instant::now();
        let mut h = Held::default();
        let mut x = held(1, 7, 2, pair(2), t0 + OUTBOUND_DELAY);
        let old = xfrm::SaId {
            dst: "192.0.2.1".parse().unwrap(),
            spi: 0x99,
            mark: None,
        };
        x.old.push(OldInbound::new(old));
        h.outbound.push(x);
        let counts = |_: SaId| Some(2);
        // Packets on the old inbound SA during the wait: prolonged.
        h.outbound[0].old_read(&old, 10);
        h.outbound[0].old_read(&old, 12);
        assert!(h.take_released(t0 + OUTBOUND_DELAY, counts).is_empty());
        assert_eq!(h.outbound[0].due, t0 + OUTBOUND_DELAY * 2);
        // Unread or quiet since: released at the new deadline.
        assert!(h
            .take_released(t0 + OUTBOUND_DELAY * 2 - Duration::from_millis(1), counts)
            .is_empty());
        h.outbound[0].old_read(&old, 12);
        assert_eq!(h.take_released(t0 + OUTBOUND_DELAY * 2, counts).len(), 1);
        // A read of some other SA changes nothing.
        let mut y = held(2, 7, 2, pair(3), t0);
        y.old_read(&old, 5);
        assert!(y.old.is_empty() && !y.peer_sends_on_old());
    }

    #[test]
    fn lingering_sa_waits_for_its_pair_and_the_held_one() {
        let t0 = Instant::now();
        let mut h = Held::default();
        h.outbound.push(held(1, 7, 2, pair(2), t0 + OUTBOUND_DELAY));
        let sa = xfrm::SaId {
            dst: "192.0.2.2".parse().unwrap(),
            spi: 0x11,
            mark: None,
        };
        h.lingering
            .push(Lingering::new("c".into(), pair(2), sa, t0, Duration::ZERO));
        let covered = |_: &str, p: &PairKey| *p == pair(2);
        let uncovered = |_: &str, _: &PairKey| false;
        // A held SA of its pair waits: it stays, covered or not.
        assert!(h.take_expired(t0 + OUTBOUND_DELAY, covered).is_empty());
        assert!(h.waiting("c", &pair(2)) && !h.waiting("c", &pair(3)));
        h.take_released(t0 + OUTBOUND_DELAY, |_| Some(2));
        // Nothing held: it stays while the pair has no other Child SA...
        assert!(h.take_expired(t0 + OUTBOUND_DELAY, uncovered).is_empty());
        assert_eq!(h.next(), Some(t0 + LINGER_MAX), "no deadline in the past");
        // ... and goes once it has.
        assert_eq!(h.take_expired(t0 + OUTBOUND_DELAY, covered).len(), 1);
        // An inbound SA stays its minimum even when covered, at most LINGER_MAX.
        h.lingering
            .push(Lingering::new("c".into(), pair(3), sa, t0, OUTBOUND_DELAY));
        assert!(h.take_expired(t0, |_: &str, _: &PairKey| true).is_empty());
        assert_eq!(h.next(), Some(t0 + OUTBOUND_DELAY));
        assert_eq!(h.take_expired(t0 + LINGER_MAX, uncovered).len(), 1);
        assert_eq!(h.next(), None);
    }
}
