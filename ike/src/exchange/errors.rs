//! Mapping of error notifies in responses (RFC 7296 3.10.1) to typed
//! [`FailureReason`]s. Status notifies (16384 and above) are never errors;
//! an unknown error type in a response fails the exchange.

use crate::event::{FailureReason, RejectedBy};
use crate::wire::{NotifyPayload, NotifyType, Payload};

/// The first error notify among `payloads`.
pub(crate) fn first_error(payloads: &[Payload]) -> Option<&NotifyPayload> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.is_error() => Some(n),
        _ => None,
    })
}

/// The failure a peer's error notify stands for.
pub(crate) fn reason_for(t: NotifyType) -> FailureReason {
    match t {
        NotifyType::NO_PROPOSAL_CHOSEN => FailureReason::NoProposalChosen(RejectedBy::Peer),
        NotifyType::AUTHENTICATION_FAILED => FailureReason::AuthenticationFailed(RejectedBy::Peer),
        NotifyType::TS_UNACCEPTABLE => FailureReason::TsUnacceptable(RejectedBy::Peer),
        other => FailureReason::PeerError(other),
    }
}
