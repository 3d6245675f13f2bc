//! Exchanges an IKE SA wants to start, queued until the request window
//! is free (one outstanding request at a time, RFC 7296 2.3 with window
//! size 1): further Child SAs, Child SA rekeys and deletes, liveness checks.

use crate::child::ChildState;
use crate::sa::{Ctx, IkeSa, PendingKind, Phase};
use crate::wire::{DeletePayload, ExchangeType, Payload};

/// One queued exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    /// CREATE_CHILD_SA for the peer's pair with this index.
    CreateChild(usize),
    /// Rekey the Child SA with this inbound SPI.
    RekeyChild(u32),
    /// Delete the Child SA with this inbound SPI.
    DeleteChild(u32),
    /// An empty INFORMATIONAL request (dead peer detection).
    Dpd,
    /// Rekey the IKE SA itself.
    RekeyIke,
}

impl IkeSa {
    /// Starts queued exchanges until one request is outstanding.
    pub(crate) fn start_next_task(&mut self, ctx: &mut Ctx<'_>) {
        while self.phase == Phase::Established && self.window.pending.is_none() {
            let Some(task) = self.tasks.pop_front() else {
                return;
            };
            match task {
                Task::CreateChild(index) => {
                    let Some(pair) = self.peer.as_ref().and_then(|p| p.children.get(index)) else {
                        continue;
                    };
                    let (ts_i, ts_r) = (pair.local.clone(), pair.remote.clone());
                    self.send_create_child(ctx, index, ts_i, ts_r, None);
                }
                Task::RekeyChild(spi) => {
                    let Some(c) = self.child_by_spi_in_mut(spi) else {
                        continue;
                    };
                    if c.state != ChildState::Active {
                        continue;
                    }
                    c.state = ChildState::Rekeying;
                    c.rekey_at = None;
                    let (index, ts_i, ts_r) =
                        (c.pair_index, c.ts_local.clone(), c.ts_remote.clone());
                    if !self.send_create_child(ctx, index, ts_i, ts_r, Some(spi)) {
                        self.rekey_failed(ctx, spi);
                    }
                }
                Task::DeleteChild(spi) => {
                    if self.child_by_spi_in(spi).is_none() {
                        continue;
                    }
                    self.send_request(
                        ctx,
                        ExchangeType::INFORMATIONAL,
                        &[Payload::Delete(DeletePayload::esp(&[spi]))],
                        PendingKind::DeleteChild(spi),
                    );
                }
                Task::RekeyIke => self.send_rekey_ike(ctx),
                Task::Dpd => {
                    self.send_request(
                        ctx,
                        ExchangeType::INFORMATIONAL,
                        &[],
                        PendingKind::Informational,
                    );
                }
            }
        }
    }

    /// Queues `task` unless the same one is already queued (internal
    /// follow-ups: never refused).
    pub(crate) fn queue(&mut self, task: Task) {
        if !self.tasks.contains(&task) {
            self.tasks.push_back(task);
        }
    }

    /// Queues a task asked for from outside, unless the queue is full.
    /// Returns whether it is queued.
    pub(crate) fn queue_bounded(&mut self, task: Task, max: usize) -> bool {
        if !self.tasks.contains(&task) && self.tasks.len() >= max {
            return false;
        }
        self.queue(task);
        true
    }
}
