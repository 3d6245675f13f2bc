//! Message-ID bookkeeping (RFC 7296 2.2, window size 1): the request we
//! have outstanding (with its retransmission timer and what it was for),
//! the next request ID we expect from the peer, and the cached last
//! response that is re-sent when the peer retransmits its request.

use crate::child::ChildRequest;
use crate::exchange::rekey_ike::IkeRekeyRequest;
use crate::outbox::Outbox;
use crate::retransmit::Retransmit;

/// What an outstanding request was for (how to handle its response).
#[derive(Debug)]
pub(crate) enum PendingKind {
    /// IKE_SA_INIT (initiator).
    Init,
    /// IKE_AUTH carrying the first Child SA (if any).
    Auth(Option<Box<ChildRequest>>),
    /// CREATE_CHILD_SA for one more Child SA.
    CreateChild(Box<ChildRequest>),
    /// CREATE_CHILD_SA rekeying the IKE SA.
    RekeyIke(Box<IkeRekeyRequest>),
    /// INFORMATIONAL deleting the IKE SA.
    DeleteIke,
    /// INFORMATIONAL deleting the Child SA with this inbound SPI.
    DeleteChild(u32),
    /// Any other INFORMATIONAL (liveness check, notification).
    Informational,
}

impl PendingKind {
    /// Frees what the request had reserved (inbound SPIs).
    pub(crate) fn release(self, out: &mut Outbox) {
        match self {
            PendingKind::Auth(Some(c)) | PendingKind::CreateChild(c) => out.free_esp_spi(c.spi_in),
            _ => {}
        }
    }
}

/// The request we wait an answer for.
#[derive(Debug)]
pub(crate) struct Pending {
    pub mid: u32,
    /// The request as sent: one datagram, or every fragment (all are
    /// retransmitted, RFC 7383 2.6.1).
    pub datagrams: Vec<Vec<u8>>,
    pub retx: Retransmit,
    pub kind: PendingKind,
}

/// Message IDs of both directions.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// ID of our next request.
    pub next_mid: u32,
    /// Our outstanding request.
    pub pending: Option<Pending>,
    /// ID of the next request we accept from the peer.
    pub peer_next: u32,
    /// Our last response: its message ID and datagrams (every fragment
    /// when it was fragmented).
    pub last_response: Option<(u32, Vec<Vec<u8>>)>,
}

/// How to treat a request with message ID `mid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestCheck {
    /// The next request: process it.
    New,
    /// A retransmission of the request we last answered.
    Retransmission,
    /// Anything else: drop.
    OutOfWindow,
}

impl Window {
    /// Classifies a request's message ID.
    pub(crate) fn check_request(&self, mid: u32) -> RequestCheck {
        if mid == self.peer_next {
            RequestCheck::New
        } else if self
            .last_response
            .as_ref()
            .is_some_and(|(m, _)| *m == mid && mid.wrapping_add(1) == self.peer_next)
        {
            RequestCheck::Retransmission
        } else {
            RequestCheck::OutOfWindow
        }
    }

    /// Whether `mid` answers our outstanding request.
    pub(crate) fn is_expected_response(&self, mid: u32) -> bool {
        self.pending.as_ref().is_some_and(|p| p.mid == mid)
    }
}
