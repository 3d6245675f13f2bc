//! What the core reports to its owner through [`Endpoint::poll_event`](crate::Endpoint::poll_event):
//! IKE SAs and Child SAs coming up (with everything the kernel needs),
//! negotiation failures with typed reasons, and closures.
//!
//! Key material travels in [`SecretBytes`], whose `Debug` prints only the
//! length, so logging an event with `{:?}` never leaks a key.

use std::net::{IpAddr, SocketAddr};

use crate::config::Lifetimes;
use crate::crypto::{DhGroup, Encr, Integ, Prf, SecretBytes};
use crate::wire::{NotifyType, TsRange};

/// Handle of one IKE SA inside an [`Endpoint`](crate::Endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaId(pub u64);

/// Identifier of one Child SA (one inbound + one outbound ESP SA), unique
/// within the endpoint and never zero. A rekey creates a new Child SA with
/// a new identifier (its `rekey_of` names the old one's inbound SPI), so
/// [`Event::ChildSaDeleted`] always names exactly the pair to remove. For a
/// kernel `reqid` that must stay the same across rekeys, key it by the
/// peer and [`ChildSaInfo::pair_index`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(pub u32);

/// Which side refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectedBy {
    /// We refused what the peer sent.
    Us,
    /// The peer refused what we sent (it answered with an error notify).
    Peer,
}

/// Why an IKE SA or a Child SA could not be established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// No acceptable proposal (NO_PROPOSAL_CHOSEN).
    NoProposalChosen(RejectedBy),
    /// PSK authentication failed (AUTHENTICATION_FAILED), or the peer's
    /// identity is not the configured one.
    AuthenticationFailed(RejectedBy),
    /// No acceptable traffic selectors (TS_UNACCEPTABLE).
    TsUnacceptable(RejectedBy),
    /// The peer kept asking for other DH groups (or one we cannot do).
    InvalidKeRetriesExhausted {
        /// The last group the peer asked for (IANA number).
        requested: u16,
    },
    /// The peer kept answering with COOKIEs.
    CookieRetriesExhausted,
    /// The retransmission schedule ran out without an answer.
    Timeout,
    /// A responder SA was not completed by IKE_AUTH in time.
    HalfOpenExpired,
    /// The peer answered with another error notify.
    PeerError(NotifyType),
    /// The peer's response was malformed or inconsistent with our request.
    InvalidResponse(&'static str),
    /// A local resource problem (random generator failure, ...).
    Internal(&'static str),
}

/// How ESP (and IKE) packets travel to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// Raw ESP (IP protocol 50).
    None,
    /// ESP-in-UDP (RFC 3948) between these ports.
    Udp {
        /// Our UDP port (the NAT-T socket).
        local_port: u16,
        /// The peer's UDP port.
        remote_port: u16,
    },
}

/// The algorithms negotiated for an IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeAlgorithms {
    /// SK payload cipher.
    pub encr: Encr,
    /// SK payload integrity (`None` with an AEAD cipher).
    pub integ: Option<Integ>,
    /// PRF.
    pub prf: Prf,
    /// Diffie-Hellman group of IKE_SA_INIT.
    pub dh: DhGroup,
}

/// An IKE SA is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaInfo {
    /// Handle of the SA.
    pub sa: SaId,
    /// The [`PeerConfig::name`](crate::PeerConfig::name) it belongs to.
    pub peer: String,
    /// Whether we were the original initiator.
    pub initiator: bool,
    /// Our address/port for IKE.
    pub local: SocketAddr,
    /// The peer's address/port for IKE (after NAT, as we see it).
    pub remote: SocketAddr,
    /// IKE SPIs (initiator's, responder's).
    pub spi_i: u64,
    /// Responder's IKE SPI.
    pub spi_r: u64,
    /// A NAT was detected in front of us (or encapsulation was forced by us).
    pub nat_local: bool,
    /// A NAT was detected in front of the peer (or the peer forced encapsulation).
    pub nat_remote: bool,
    /// Negotiated algorithms.
    pub algorithms: IkeAlgorithms,
}

/// A Child SA is up: one inbound and one outbound ESP SA, in tunnel mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaInfo {
    /// The IKE SA it belongs to.
    pub sa: SaId,
    /// Its identifier (kernel reqid).
    pub child: ChildId,
    /// Peer name.
    pub peer: String,
    /// Index into [`PeerConfig::children`](crate::PeerConfig::children) of
    /// the pair it serves (the responder's pair its selectors fell into).
    pub pair_index: usize,
    /// Whether we initiated the exchange that created it.
    pub initiated_locally: bool,
    /// SPI of the inbound ESP SA (peer -> us).
    pub spi_in: u32,
    /// SPI of the outbound ESP SA (us -> peer).
    pub spi_out: u32,
    /// Encryption algorithm: AEAD `rfc4106(gcm(aes))` (ICV 128 bits), or
    /// `cbc(aes)` with [`integ`](Self::integ).
    pub encr: Encr,
    /// Integrity algorithm with AES-CBC (kernel `hmac(sha256|384|512)`
    /// as `XFRMA_ALG_AUTH_TRUNC`, RFC 4868 truncation); `None` for AEAD.
    pub integ: Option<Integ>,
    /// Inbound encryption key: AES key || 4-byte salt for GCM, the AES
    /// key for CBC.
    pub key_in: SecretBytes,
    /// Outbound encryption key (layout as `key_in`).
    pub key_out: SecretBytes,
    /// Inbound integrity key (CBC only; empty for AEAD).
    pub auth_key_in: SecretBytes,
    /// Outbound integrity key (CBC only; empty for AEAD).
    pub auth_key_out: SecretBytes,
    /// Extended sequence numbers negotiated.
    pub esn: bool,
    /// PFS group used when the SA was created (None for IKE_AUTH children).
    pub pfs: Option<DhGroup>,
    /// Agreed selectors of our side (after narrowing, RFC 7296 2.9).
    pub ts_local: Vec<TsRange>,
    /// Agreed selectors of the peer's side.
    pub ts_remote: Vec<TsRange>,
    /// Our tunnel endpoint address.
    pub local_addr: IpAddr,
    /// The peer's tunnel endpoint address.
    pub remote_addr: IpAddr,
    /// Raw ESP or ESP-in-UDP.
    pub encapsulation: Encapsulation,
    /// Always true: tunnel mode (transport mode is never negotiated).
    pub tunnel_mode: bool,
    /// Lifetimes from the peer configuration.
    pub lifetimes: Lifetimes,
    /// Set when this SA pair replaces (rekeys) another: the inbound SPI of
    /// the old pair, which stays installed until its own
    /// [`Event::ChildSaDeleted`] (same selectors, same `pair_index`).
    pub rekey_of: Option<u32>,
}

impl ChildSaInfo {
    /// Key length in bits without the salt (128 or 256).
    pub fn key_bits(&self) -> u16 {
        self.encr.key_len_bits()
    }

    /// The kernel's encryption algorithm name: `rfc4106(gcm(aes))` for
    /// `XFRMA_ALG_AEAD`, `cbc(aes)` for `XFRMA_ALG_CRYPT`.
    pub fn kernel_encr_name(&self) -> &'static str {
        if self.encr.is_aead() {
            "rfc4106(gcm(aes))"
        } else {
            "cbc(aes)"
        }
    }

    /// ICV length in bits: the GCM tag, or the truncated HMAC.
    pub fn icv_bits(&self) -> u32 {
        let bytes = self.integ.map_or(Encr::ICV_LEN, Integ::icv_len);
        u32::try_from(bytes * 8).unwrap_or(u32::MAX)
    }

    /// Bits of `key_in`/`key_out` as the kernel wants them (key + salt
    /// for GCM, the key for CBC).
    pub fn kernel_key_bits(&self) -> u32 {
        u32::try_from(self.encr.keymat_len() * 8).unwrap_or(u32::MAX)
    }
}

/// Why an IKE SA went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// We asked for it ([`Endpoint::close`](crate::Endpoint::close)).
    Local,
    /// The peer deleted it.
    DeletedByPeer,
    /// A request (DPD, CREATE_CHILD_SA, ...) was never answered.
    Timeout,
    /// Another IKE SA with the same peer took over (crossed initiations,
    /// RFC 7296 2.8.1-style choice by the lowest nonce); its Child SAs
    /// cover the same traffic.
    Superseded,
    /// The peer restarted: it opened a new IKE SA with INITIAL_CONTACT, so
    /// this older one is gone on its side (nothing is sent for it).
    PeerRestarted,
}

/// Something the owner of the endpoint should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An IKE SA completed IKE_AUTH.
    IkeSaEstablished(IkeSaInfo),
    /// A Child SA is ready to be installed in the kernel.
    ChildSaEstablished(Box<ChildSaInfo>),
    /// Establishing an IKE SA failed; the SA is gone.
    IkeSaFailed {
        /// Handle of the SA.
        sa: SaId,
        /// Peer name ("" when the peer was never identified).
        peer: String,
        /// What went wrong.
        reason: FailureReason,
    },
    /// A Child SA for one traffic-selector pair could not be created (the
    /// IKE SA stays up).
    ChildSaFailed {
        /// The IKE SA.
        sa: SaId,
        /// Peer name.
        peer: String,
        /// Index into the peer's `children` (None when a responder found
        /// no matching pair).
        pair_index: Option<usize>,
        /// What went wrong.
        reason: FailureReason,
    },
    /// A Child SA was deleted (by the peer or with its IKE SA): remove it
    /// from the kernel.
    ChildSaDeleted {
        /// The IKE SA.
        sa: SaId,
        /// The Child SA.
        child: ChildId,
        /// Its inbound SPI.
        spi_in: u32,
        /// Its outbound SPI.
        spi_out: u32,
    },
    /// The IKE SA was rekeyed (RFC 7296 2.18): `new` replaces `old`, its
    /// Child SAs moved over unchanged (later events name `new`); `old` goes
    /// away without further events.
    IkeSaRekeyed {
        /// The replaced SA.
        old: SaId,
        /// The new SA (new SPIs and keys).
        new: SaId,
        /// The new SA's details.
        info: IkeSaInfo,
    },
    /// The peer of an established IKE SA, which is behind a NAT, now sends
    /// from another address or port (its NAT dropped the mapping and made
    /// a new one), as an authenticated message showed: IKE follows it
    /// (RFC 7296 2.23), and so must the Child SAs' outbound ESP. A peer
    /// not behind a NAT is not followed.
    PeerAddressChanged {
        /// The IKE SA.
        sa: SaId,
        /// Peer name.
        peer: String,
        /// Where it was.
        old: std::net::SocketAddr,
        /// Where it is now.
        new: std::net::SocketAddr,
    },
    /// An established IKE SA is gone (its Child SAs were reported deleted
    /// just before).
    IkeSaClosed {
        /// Handle of the SA.
        sa: SaId,
        /// Peer name.
        peer: String,
        /// Why.
        reason: CloseReason,
    },
}
