//! Child SAs: the request state of one being negotiated
//! ([`ChildRequest`]), the record of an established one ([`ChildSa`]),
//! the responder's choice of a configured traffic-selector pair, and the
//! assembly of the kernel-ready [`ChildSaInfo`].

use crate::config::{PeerConfig, TsPair};
use crate::crypto::{ChildSaKeys, DhGroup, DhPrivateKey, Role};
use crate::event::{ChildId, ChildSaInfo, Encapsulation};
use crate::proposal::EspChoice;
use crate::sa::IkeSa;
use crate::ts_narrow::narrow;
use crate::wire::{SaPayload, TsRange};

/// A Child SA we asked for and wait the answer to.
#[derive(Debug)]
pub(crate) struct ChildRequest {
    pub pair_index: usize,
    /// Our inbound SPI, offered in the SA payload.
    pub spi_in: u32,
    pub offer: SaPayload,
    /// TSi and TSr as sent (ours, then the peer's side).
    pub ts_i: Vec<TsRange>,
    pub ts_r: Vec<TsRange>,
    /// CREATE_CHILD_SA: our nonce (IKE_AUTH children use the IKE nonces).
    pub nonce: Option<Vec<u8>>,
    /// CREATE_CHILD_SA with PFS: our ephemeral key.
    pub dh: Option<DhPrivateKey>,
}

/// An established Child SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChildSa {
    pub id: ChildId,
    pub pair_index: usize,
    pub spi_in: u32,
    pub spi_out: u32,
}

/// Responder: the first configured pair the peer's selectors narrow into.
/// `ts_i` are the initiator's (our remote) selectors, `ts_r` ours.
/// Returns the pair index and the narrowed TSi, TSr.
pub(crate) fn match_pair(
    peer: &PeerConfig,
    ts_i: &[TsRange],
    ts_r: &[TsRange],
) -> Option<(usize, Vec<TsRange>, Vec<TsRange>)> {
    peer.children
        .iter()
        .enumerate()
        .find_map(|(i, TsPair { local, remote })| {
            let ni = narrow(ts_i, remote);
            let nr = narrow(ts_r, local);
            (!ni.is_empty() && !nr.is_empty()).then_some((i, ni, nr))
        })
}

/// What is known once a Child SA exchange completed.
pub(crate) struct NewChild {
    pub pair_index: usize,
    /// Our role in the exchange that created it.
    pub role: Role,
    pub choice: EspChoice,
    pub spi_in: u32,
    pub keys: ChildSaKeys,
    pub ts_local: Vec<TsRange>,
    pub ts_remote: Vec<TsRange>,
    pub pfs: Option<DhGroup>,
}

impl IkeSa {
    /// Records a new Child SA and builds its event payload.
    pub(crate) fn add_child(&mut self, id: ChildId, new: NewChild) -> Option<ChildSaInfo> {
        let peer = self.peer.as_ref()?;
        let encapsulation = if self.nat.any() {
            Encapsulation::Udp {
                local_port: self.local.port(),
                remote_port: self.remote.port(),
            }
        } else {
            Encapsulation::None
        };
        let info = ChildSaInfo {
            sa: self.id,
            child: id,
            peer: peer.name.clone(),
            pair_index: new.pair_index,
            initiated_locally: new.role == Role::Initiator,
            spi_in: new.spi_in,
            spi_out: new.choice.spi,
            encr: new.choice.encr,
            key_in: new.keys.inbound(new.role).clone(),
            key_out: new.keys.outbound(new.role).clone(),
            esn: new.choice.esn,
            pfs: new.pfs,
            ts_local: new.ts_local,
            ts_remote: new.ts_remote,
            local_addr: self.local.ip(),
            remote_addr: self.remote.ip(),
            encapsulation,
            tunnel_mode: true,
            lifetimes: peer.lifetimes,
        };
        self.children.push(ChildSa {
            id,
            pair_index: new.pair_index,
            spi_in: new.spi_in,
            spi_out: new.choice.spi,
        });
        Some(info)
    }
}
