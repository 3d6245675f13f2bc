//! Child SA rekeying (RFC 7296 1.3.3, 2.8, 2.8.1), make-before-break.
//!
//! The rekey initiator sends CREATE_CHILD_SA with `N(REKEY_SA)` naming its
//! inbound SPI of the old SA (see `create_child.rs`). Both ends report the
//! new SA pair (a new [`ChildId`](crate::ChildId), `rekey_of` set) before
//! anything is removed; the rekey initiator then deletes the old pair with
//! an INFORMATIONAL Delete and reports it deleted when the peer confirmed
//! (by then the peer has switched to the new pair).
//!
//! Collisions (both ends rekey the same SA at once): of the two new SAs,
//! the one whose exchange holds the lowest of the four nonces is redundant
//! and is deleted by the side that initiated that exchange (the loser).
//! Each side checks as soon as it knows both exchanges, whichever order
//! they completed in. The old SA is deleted by the winner only, as in
//! RFC 7296 2.8.1 and strongSwan; the loser leaves it `Replaced` with the
//! [`REPLACED_GRACE`] timer, so it still goes if that Delete never comes.

use std::time::{Duration, Instant};

use crate::child::{ChildSa, ChildState, RekeyRecord};
use crate::sa::{Ctx, IkeSa, Pending, PendingKind, Task};

/// Retry delay after a failed rekey.
const REKEY_RETRY: Duration = Duration::from_secs(30);

/// How long a Child SA the peer rekeyed (or won a rekey collision for)
/// waits for the peer's Delete before we delete it ourselves (a peer that
/// never sends it would otherwise leave it, and its kernel SAs, forever).
pub(crate) const REPLACED_GRACE: Duration = Duration::from_secs(30);

impl IkeSa {
    /// Our rekey of `old` created the SA `ours`. `orphan` is the peer's
    /// colliding rekey of `old` if the peer deleted `old` meanwhile.
    pub(crate) fn after_own_rekey(
        &mut self,
        now: Instant,
        old: u32,
        ours: RekeyRecord,
        orphan: Option<RekeyRecord>,
    ) {
        let new_spi = ours.new_spi_in;
        let lost = |theirs: &RekeyRecord| ours.lowest_nonce < theirs.lowest_nonce;
        let Some(c) = self.child_by_spi_in_mut(old) else {
            // The winner's Delete of the old SA overtook the answer to our
            // rekey: our new SA is still redundant if we lost.
            if orphan.as_ref().is_some_and(lost) {
                self.delete_redundant(new_spi);
            }
            return;
        };
        c.state = ChildState::Replaced;
        c.rekey_at = None;
        let redundant = c.peer_rekey.as_ref().is_some_and(lost);
        c.our_rekey = Some(ours);
        if !redundant {
            self.queue(Task::DeleteChild(old));
            return;
        }
        // We lost the collision: our new SA goes, and the old one is the
        // winner's to delete (deleting it too sent a second Delete).
        c.rekey_at = Some(now + REPLACED_GRACE);
        self.delete_redundant(new_spi);
    }

    /// Deletes our new SA `spi`, which lost a rekey collision, first.
    fn delete_redundant(&mut self, spi: u32) {
        self.tasks.push_front(Task::DeleteChild(spi));
        if let Some(n) = self.child_by_spi_in_mut(spi) {
            n.state = ChildState::Replaced;
            n.rekey_at = None;
        }
    }

    /// The peer deleted Child SA `c`. If our rekey of it is outstanding,
    /// keeps the peer's own rekey of it (if any) with our request, for the
    /// collision decision when our answer comes.
    pub(crate) fn rekeyed_child_deleted(&mut self, c: &ChildSa) {
        if let Some(Pending {
            kind: PendingKind::CreateChild(req),
            ..
        }) = self.window.pending.as_mut()
        {
            if req.rekey_of == Some(c.spi_in) {
                req.peer_rekey.clone_from(&c.peer_rekey);
            }
        }
    }

    /// We answered the peer's rekey of `old` with the SA whose inbound SPI
    /// is `new_spi`.
    pub(crate) fn after_peer_rekey(
        &mut self,
        now: std::time::Instant,
        old: u32,
        new_spi: u32,
        lowest_nonce: Vec<u8>,
    ) {
        let Some(c) = self.child_by_spi_in_mut(old) else {
            return;
        };
        let theirs = RekeyRecord {
            lowest_nonce,
            new_spi_in: new_spi,
        };
        let ours_redundant = c
            .our_rekey
            .as_ref()
            .filter(|ours| ours.lowest_nonce < theirs.lowest_nonce)
            .map(|ours| ours.new_spi_in);
        if c.state == ChildState::Active {
            // No collision: the peer deletes the old SA; if it does not
            // within the grace period, we do.
            c.state = ChildState::Replaced;
            c.rekey_at = Some(now + REPLACED_GRACE);
        } else {
            c.rekey_at = None;
        }
        c.peer_rekey = Some(theirs);
        if let Some(spi) = ours_redundant {
            // Late collision: our completed rekey lost.
            self.delete_redundant(spi);
        }
    }

    /// Our rekey of `old` failed: keep using it, try again later.
    pub(crate) fn rekey_failed(&mut self, ctx: &mut Ctx<'_>, old: u32) {
        let now = ctx.now;
        if let Some(c) = self.child_by_spi_in_mut(old) {
            if c.state == ChildState::Rekeying {
                c.state = ChildState::Active;
                c.rekey_at = Some(now + REKEY_RETRY);
            }
        }
    }

    /// The peer confirmed the deletion of our Child SA `spi`.
    pub(crate) fn handle_delete_child_response(&mut self, ctx: &mut Ctx<'_>, spi: u32) {
        if let Some(pos) = self.children.iter().position(|c| c.spi_in == spi) {
            self.remove_child(ctx, pos);
        }
        self.start_next_task(ctx);
    }

    /// Rekeys Child SAs whose time has come.
    /// Child SAs whose timer is due: an active one is rekeyed; one the
    /// peer rekeyed but never deleted ([`REPLACED_GRACE`]) is deleted.
    pub(crate) fn queue_due_rekeys(&mut self, ctx: &Ctx<'_>) {
        let mut rekey = Vec::new();
        let mut delete = Vec::new();
        for c in &mut self.children {
            if c.rekey_at.is_none_or(|t| t > ctx.now) {
                continue;
            }
            match c.state {
                ChildState::Active => rekey.push(c.spi_in),
                ChildState::Replaced => delete.push(c.spi_in),
                _ => {}
            }
            c.rekey_at = None;
        }
        for spi in rekey {
            self.queue(Task::RekeyChild(spi));
        }
        for spi in delete {
            self.queue(Task::DeleteChild(spi));
        }
    }
}
