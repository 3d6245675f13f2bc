//! NAT detection (RFC 7296 2.23): the NAT_DETECTION_SOURCE_IP /
//! NAT_DETECTION_DESTINATION_IP notifies we send, and the verdict drawn
//! from the peer's. Forced encapsulation sends a source hash of a random
//! value, so the peer believes we are behind a NAT and both sides use
//! ESP-in-UDP (what libreswan and strongSwan do for `encapsulation=yes`).

use std::net::SocketAddr;

use ring::rand::SecureRandom;

use crate::crypto::nat_detection_hash;
use crate::wire::{Message, NotifyPayload, NotifyType, Payload};

/// The NAT verdict of an IKE SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NatDetection {
    /// Our address is translated (or we force encapsulation).
    pub local_behind_nat: bool,
    /// The peer's address is translated (or it forces encapsulation).
    pub remote_behind_nat: bool,
}

impl NatDetection {
    /// Whether ESP must go in UDP.
    pub(crate) fn any(&self) -> bool {
        self.local_behind_nat || self.remote_behind_nat
    }

    /// Draws the verdict from the peer's NAT-D notifies in `msg`, received
    /// from `remote` on `local`. No NAT-D payloads at all: no NAT.
    pub(crate) fn detect(
        msg: &Message,
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
        local: SocketAddr,
        remote: SocketAddr,
        force: bool,
    ) -> NatDetection {
        let src: Vec<&NotifyPayload> = msg
            .notifies()
            .filter(|n| n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP)
            .collect();
        let dst = msg.notify(NotifyType::NAT_DETECTION_DESTINATION_IP);
        let remote_hash = nat_detection_hash(spi_i, spi_r, remote.ip(), remote.port());
        let local_hash = nat_detection_hash(spi_i, spi_r, local.ip(), local.port());
        NatDetection {
            local_behind_nat: force || dst.is_some_and(|d| d.data != local_hash),
            remote_behind_nat: !src.is_empty() && !src.iter().any(|n| n.data == remote_hash),
        }
    }
}

/// Our two NAT-D notifies for a message from `local` to `remote`.
pub(crate) fn nat_notifies(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
    force: bool,
    rng: &dyn SecureRandom,
) -> [Payload; 2] {
    let mut src = nat_detection_hash(spi_i, spi_r, local.ip(), local.port());
    if force {
        // Any value that is not the real hash will do; random makes it
        // impossible for the peer to learn anything from it.
        if rng.fill(&mut src).is_err() {
            src.iter_mut().for_each(|b| *b = !*b);
        }
    }
    let dst = nat_detection_hash(spi_i, spi_r, remote.ip(), remote.port());
    [
        Payload::Notify(NotifyPayload::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            src.to_vec(),
        )),
        Payload::Notify(NotifyPayload::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            dst.to_vec(),
        )),
    ]
}
