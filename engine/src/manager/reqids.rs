//! Stable kernel `reqid`s for Child SA pairs.
//!
//! Every SA and policy of one (local subnet x remote subnet) pair shares one
//! reqid, as libreswan gives one per connection: the inbound policy's
//! template then accepts whichever of the pair's SAs the peer uses, which
//! matters when both gateways initiate and duplicate Child SAs exist.
//!
//! The reqid comes from a hash of the pair's connection name, so an engine
//! restarted with the same Endpoints derives the same reqids and its new
//! policies replace the old ones in place, keeping traffic flowing. The
//! owned range (see `xfrm::ownership`) marks them as ours; a collision with
//! another name is resolved by probing.

use std::collections::HashMap;

use xfrm::ReqId;

/// Indices available inside the owned reqid range.
const SPACE: u32 = 1 << 20;

/// The reqids handed out, by connection name.
#[derive(Debug, Default)]
pub struct ReqIds {
    by_name: HashMap<String, u32>,
    taken: HashMap<u32, String>,
}

fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

impl ReqIds {
    /// The reqid of `name`, allocated on first use.
    pub fn get(&mut self, name: &str) -> ReqId {
        if let Some(i) = self.by_name.get(name) {
            return owned(*i);
        }
        let mut index = fnv1a(name) % SPACE;
        while self.taken.contains_key(&index) {
            index = (index + 1) % SPACE;
        }
        self.by_name.insert(name.to_string(), index);
        self.taken.insert(index, name.to_string());
        owned(index)
    }

    /// Forget `name` (its pair was removed).
    pub fn release(&mut self, name: &str) {
        if let Some(i) = self.by_name.remove(name) {
            self.taken.remove(&i);
        }
    }
}

fn owned(index: u32) -> ReqId {
    // Indices below SPACE are always inside the owned range.
    ReqId::owned(index).unwrap_or_else(|_| ReqId::from_raw(0xCE00_0000 | index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_distinct_and_owned() {
        let mut a = ReqIds::default();
        let x = a.get("submariner-cable-c2-10-0-0-2-0-0");
        let y = a.get("submariner-cable-c2-10-0-0-2-0-1");
        assert_ne!(x, y);
        assert!(x.is_owned() && y.is_owned());
        assert_eq!(a.get("submariner-cable-c2-10-0-0-2-0-0"), x);
        // A fresh allocator (a restarted engine) derives the same values.
        let mut b = ReqIds::default();
        assert_eq!(b.get("submariner-cable-c2-10-0-0-2-0-1"), y);
        assert_eq!(b.get("submariner-cable-c2-10-0-0-2-0-0"), x);
    }

    #[test]
    fn collisions_are_probed() {
        let mut a = ReqIds::default();
        let name = "n";
        let first = a.get(name);
        // Force a collision by pretending another name took the slot.
        let mut b = ReqIds::default();
        b.taken.insert(fnv1a(name) % SPACE, "other".into());
        assert_ne!(b.get(name), first);
    }
}
