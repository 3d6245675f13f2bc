//! Child SAs: the request state of one being negotiated
//! ([`ChildRequest`]), the record of an established one ([`ChildSa`],
//! with its rekey state), the responder's choice of a configured
//! traffic-selector pair, and the assembly of the kernel-ready
//! [`ChildSaInfo`].

use std::time::{Duration, Instant};

use crate::config::{PeerConfig, TsPair};
use crate::crypto::{ChildSaKeys, DhGroup, DhPrivateKey, Role};
use crate::event::{ChildId, ChildSaInfo, Encapsulation};
use crate::proposal::EspChoice;
use crate::sa::{Ctx, IkeSa};
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
    /// Rekey: inbound SPI of the Child SA being replaced.
    pub rekey_of: Option<u32>,
    /// Rekey: the peer's colliding rekey of that SA, kept here when the
    /// peer deleted the SA (and with it the record) before our answer came.
    pub peer_rekey: Option<RekeyRecord>,
}

/// Where an established Child SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// In use.
    Active,
    /// We are rekeying it.
    Rekeying,
    /// A replacement exists; it waits to be deleted.
    Replaced,
}

/// A rekey exchange of a Child SA, for collision resolution (RFC 7296
/// 2.8.1): the lower of its two nonces and the inbound SPI of the SA it
/// created on our side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RekeyRecord {
    pub lowest_nonce: Vec<u8>,
    pub new_spi_in: u32,
}

/// An established Child SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChildSa {
    pub id: ChildId,
    pub pair_index: usize,
    /// Whether we initiated the exchange that made it.
    pub ours: bool,
    pub spi_in: u32,
    pub spi_out: u32,
    pub ts_local: Vec<TsRange>,
    pub ts_remote: Vec<TsRange>,
    pub state: ChildState,
    /// When our lifetime policy rekeys it.
    pub rekey_at: Option<Instant>,
    /// Our rekey exchange of this SA, once completed.
    pub our_rekey: Option<RekeyRecord>,
    /// The peer's rekey exchange of this SA, once answered.
    pub peer_rekey: Option<RekeyRecord>,
}

/// The lower of two nonces (byte-wise, as RFC 7296 2.8.1 compares them).
pub(crate) fn lowest_nonce(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.min(b).to_vec()
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
    pub rekey_of: Option<u32>,
}

/// Soft lifetime minus a random part of the fuzz.
pub(crate) fn rekey_time(ctx: &Ctx<'_>, soft: Duration, fuzz: Duration) -> Instant {
    let mut b = [0u8; 4];
    let r = if ctx.rng.fill(&mut b).is_ok() {
        u32::from_be_bytes(b)
    } else {
        0
    };
    let cut = fuzz.mul_f64(f64::from(r) / f64::from(u32::MAX));
    ctx.now + soft.saturating_sub(cut)
}

impl IkeSa {
    /// Records a new Child SA and builds its event payload.
    pub(crate) fn add_child(
        &mut self,
        ctx: &Ctx<'_>,
        id: ChildId,
        new: NewChild,
    ) -> Option<ChildSaInfo> {
        let peer = self.peer.as_ref()?;
        let encapsulation = if self.nat.any() {
            Encapsulation::Udp {
                local_port: self.local.port(),
                remote_port: self.remote.port(),
            }
        } else {
            Encapsulation::None
        };
        let lt = peer.lifetimes;
        let info = ChildSaInfo {
            sa: self.id,
            child: id,
            peer: peer.name.clone(),
            pair_index: new.pair_index,
            initiated_locally: new.role == Role::Initiator,
            spi_in: new.spi_in,
            spi_out: new.choice.spi,
            encr: new.choice.encr,
            integ: new.choice.integ,
            key_in: new.keys.inbound(new.role).clone(),
            key_out: new.keys.outbound(new.role).clone(),
            auth_key_in: new.keys.inbound_auth(new.role).clone(),
            auth_key_out: new.keys.outbound_auth(new.role).clone(),
            esn: new.choice.esn,
            pfs: new.pfs,
            ts_local: new.ts_local.clone(),
            ts_remote: new.ts_remote.clone(),
            local_addr: self.local.ip(),
            remote_addr: self.remote.ip(),
            encapsulation,
            tunnel_mode: true,
            lifetimes: lt,
            rekey_of: new.rekey_of,
        };
        self.children.push(ChildSa {
            id,
            pair_index: new.pair_index,
            ours: new.role == Role::Initiator,
            spi_in: new.spi_in,
            spi_out: new.choice.spi,
            ts_local: new.ts_local,
            ts_remote: new.ts_remote,
            state: ChildState::Active,
            rekey_at: Some(rekey_time(ctx, lt.child_soft, lt.child_rekey_fuzz)),
            our_rekey: None,
            peer_rekey: None,
        });
        Some(info)
    }

    /// The Child SA with inbound SPI `spi`.
    pub(crate) fn child_by_spi_in(&self, spi: u32) -> Option<&ChildSa> {
        self.children.iter().find(|c| c.spi_in == spi)
    }

    /// Mutable access to the Child SA with inbound SPI `spi`.
    pub(crate) fn child_by_spi_in_mut(&mut self, spi: u32) -> Option<&mut ChildSa> {
        self.children.iter_mut().find(|c| c.spi_in == spi)
    }
}
