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
//! request on that IKE SA, such as the Delete of the old Child SA), or
//! after [`OUTBOUND_DELAY`] (strongSwan waits the same way).
//!
//! When a Child SA goes away, its outbound SA stays while a held SA of the
//! same pair waits (else the pair would have none), and its inbound SA
//! stays for [`OUTBOUND_DELAY`]: the peer may still be sending on it until
//! it has processed the Delete. Every entry has a deadline; [`Held::next`]
//! is the earliest, and [`Held::take_due`] clears what is due, so no
//! deadline outlives its handling.

use std::time::{Duration, Instant};

use ike::{ChildId, SaId};
use ipnetwork::IpNetwork;
use xfrm::SaConfig;

/// The longest a held outbound SA waits, and how long an inbound SA stays
/// after its Child SA is gone.
pub const OUTBOUND_DELAY: Duration = Duration::from_secs(3);

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
}

/// An SA of a Child SA that is gone, still in the kernel.
pub struct Lingering {
    pub cable: String,
    pub pair: PairKey,
    pub sa: xfrm::SaId,
    /// `None`: until no held outbound SA of the pair waits.
    pub until: Option<Instant>,
}

/// The held and lingering SAs.
#[derive(Default)]
pub struct Held {
    pub outbound: Vec<HeldOutbound>,
    pub lingering: Vec<Lingering>,
}

impl Held {
    /// Whether a held outbound SA of `pair` waits on `cable`.
    pub fn waiting(&self, cable: &str, pair: &PairKey) -> bool {
        self.outbound
            .iter()
            .any(|h| h.cable == cable && h.pair == *pair)
    }

    /// Held outbound SAs to install now: due, or their IKE SA's peer sent
    /// another request since (`requests` says how many it has sent; `None`
    /// when the IKE SA is gone, which releases it too: its Child SA is
    /// deleted right after).
    pub fn take_released(
        &mut self,
        now: Instant,
        requests: impl Fn(SaId) -> Option<u32>,
    ) -> Vec<HeldOutbound> {
        let (go, keep) = std::mem::take(&mut self.outbound)
            .into_iter()
            .partition(|h| h.due <= now || requests(h.ike_sa).is_none_or(|n| n > h.peer_requests));
        self.outbound = keep;
        go
    }

    /// Lingering SAs whose time is up, or that waited for held SAs of their
    /// pair that are all installed now.
    pub fn take_expired(&mut self, now: Instant) -> Vec<Lingering> {
        let waiting: Vec<(String, PairKey)> = self
            .outbound
            .iter()
            .map(|h| (h.cable.clone(), h.pair))
            .collect();
        let (go, keep) = std::mem::take(&mut self.lingering)
            .into_iter()
            .partition(|l| match l.until {
                Some(t) => t <= now,
                None => !waiting.iter().any(|(c, p)| *c == l.cable && *p == l.pair),
            });
        self.lingering = keep;
        go
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        let held = self.outbound.iter().map(|h| h.due);
        let lingering = self.lingering.iter().filter_map(|l| l.until);
        held.chain(lingering).min()
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
        }
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
    fn lingering_outbound_waits_for_the_held_one_of_its_pair() {
        let t0 = Instant::now();
        let mut h = Held::default();
        h.outbound.push(held(1, 7, 2, pair(2), t0 + OUTBOUND_DELAY));
        h.lingering.push(Lingering {
            cable: "c".into(),
            pair: pair(2),
            sa: xfrm::SaId {
                dst: "192.0.2.2".parse().unwrap(),
                spi: 0x11,
                mark: None,
            },
            until: None,
        });
        assert!(h.take_expired(t0 + OUTBOUND_DELAY * 9).is_empty());
        assert!(h.waiting("c", &pair(2)) && !h.waiting("c", &pair(3)));
        h.take_released(t0 + OUTBOUND_DELAY, |_| Some(2));
        assert_eq!(h.take_expired(t0).len(), 1);
    }
}
