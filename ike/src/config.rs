//! Configuration of the sans-IO core: endpoint-wide knobs
//! ([`EndpointConfig`], [`RetransmitConfig`]) and one peer
//! ([`PeerConfig`]: addresses, identities, PSK, proposals and the Child SA
//! traffic-selector pairs to establish).
//!
//! Defaults follow what Submariner's libreswan driver does on the wire
//! (see `docs/interop-notes.md`), with the fast algorithms first: AES-GCM-16
//! then AES-CBC with HMAC-SHA2, PRF HMAC-SHA2, the ECP groups and
//! Curve25519 then MODP 2048/3072/4096, retransmission 500 ms doubling
//! for 60 s, IKE on the NAT-T port from the first message; IKE
//! fragmentation (RFC 7383) announced, used above 1280-byte datagrams
//! (see [`DEFAULT_FRAGMENT_SIZE`]).

use std::net::SocketAddr;
use std::time::Duration;

use crate::crypto::{DhGroup, Encr, Integ, Prf, SecretBytes};
use crate::wire::{Identity, ReassemblyLimits, TsRange};

/// Default of [`EndpointConfig::fragment_size`]: the largest IP datagram
/// (IP and UDP headers, non-ESP marker and IKE message) an IKE fragment
/// may fill.
///
/// RFC 7383 2.5.1 calls 1280 bytes (IPv6) and 576 bytes (IPv4) the
/// conservative values when the path MTU is unknown. libreswan follows it
/// (576 for IPv4, less its own overhead estimate); strongSwan's
/// `charon.fragment_size` defaults to 1280 for both families. We take
/// 1280 for both, like strongSwan: a 1280-byte path is the smallest any
/// IPv6 network carries and below what real IPv4 node networks (and the
/// tunnels between clusters) offer, and 576 would more than double the
/// number of fragments of a large IKE_AUTH, bringing it closer to the
/// receivers' fragment-count limits. A smaller path needs a smaller
/// setting (at least [`MIN_FRAGMENT_SIZE`]).
pub const DEFAULT_FRAGMENT_SIZE: usize = 1280;

/// Smallest [`EndpointConfig::fragment_size`] used (RFC 791: every IPv4
/// host accepts 576-byte datagrams); smaller settings are raised to it.
pub const MIN_FRAGMENT_SIZE: usize = 576;

/// Retransmission schedule of requests (RFC 7296 2.1).
///
/// A request is sent at `t0`, then retransmitted at `t0 + initial`,
/// `t0 + initial + initial*2`, ... (each interval multiplied by
/// `multiplier`, capped at `max_interval`) as long as the retransmission
/// time is strictly before `t0 + total`. At exactly `t0 + total` the
/// exchange is abandoned and a [`FailureReason::Timeout`](crate::FailureReason::Timeout)
/// is reported.
///
/// With the default (500 ms doubling, 60 s) retransmissions happen at
/// 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s and the timeout at 60 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// First retransmission interval.
    pub initial: Duration,
    /// Factor applied to the interval after each retransmission (>= 1).
    pub multiplier: u32,
    /// Upper bound of one interval.
    pub max_interval: Duration,
    /// Time after the first transmission at which the exchange fails.
    pub total: Duration,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        RetransmitConfig {
            initial: Duration::from_millis(500),
            multiplier: 2,
            max_interval: Duration::from_secs(60),
            total: Duration::from_secs(60),
        }
    }
}

/// Default encryption algorithms: AEAD first (what peers prefer, and one
/// transform less), then AES-CBC.
pub const DEFAULT_ENCR: [Encr; 4] = [
    Encr::AesGcm16_256,
    Encr::AesGcm16_128,
    Encr::AesCbc256,
    Encr::AesCbc128,
];

/// Default integrity algorithms, used with AES-CBC only.
pub const DEFAULT_INTEG: [Integ; 3] = [
    Integ::HmacSha256_128,
    Integ::HmacSha384_192,
    Integ::HmacSha512_256,
];

/// Default IKE groups: the ECP groups and Curve25519 (fast), then the MODP
/// groups. The first is the initiator's first KE.
pub const DEFAULT_DH: [DhGroup; 7] = [
    DhGroup::Ecp256,
    DhGroup::Ecp384,
    DhGroup::Curve25519,
    DhGroup::Ecp521,
    DhGroup::Modp2048,
    DhGroup::Modp3072,
    DhGroup::Modp4096,
];

/// One IKE SA proposal: every combination of the listed algorithms is
/// acceptable. Lists are in preference order. AEAD and CBC ciphers listed
/// together are offered as two proposals on the wire, AEAD first (see
/// `proposal.rs`); `integ` applies to the CBC ones only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeProposal {
    /// Encryption algorithms.
    pub encr: Vec<Encr>,
    /// Integrity algorithms for the non-AEAD ciphers (a CBC cipher is not
    /// offered without one).
    pub integ: Vec<Integ>,
    /// Pseudo-random functions.
    pub prf: Vec<Prf>,
    /// Diffie-Hellman groups; the initiator's first KE uses the first one.
    pub dh: Vec<DhGroup>,
}

impl Default for IkeProposal {
    fn default() -> Self {
        IkeProposal {
            encr: DEFAULT_ENCR.to_vec(),
            integ: DEFAULT_INTEG.to_vec(),
            prf: vec![Prf::HmacSha256, Prf::HmacSha384, Prf::HmacSha512],
            dh: DEFAULT_DH.to_vec(),
        }
    }
}

/// One ESP proposal. An empty `dh` means no PFS group is offered or
/// accepted (Child SAs created in IKE_AUTH never carry KE anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspProposal {
    /// Encryption algorithms in preference order (AEAD and CBC are offered
    /// as separate proposals, AEAD first, as for [`IkeProposal`]).
    pub encr: Vec<Encr>,
    /// Integrity algorithms for the non-AEAD ciphers (the kernel's
    /// `hmac(sha*)` with the RFC 4868 truncation).
    pub integ: Vec<Integ>,
    /// Extended sequence numbers, in preference order (`true` = ESN).
    /// A received proposal without ESN transform counts as "no ESN".
    pub esn: Vec<bool>,
    /// PFS groups for CREATE_CHILD_SA (empty: no KE).
    pub dh: Vec<DhGroup>,
}

impl Default for EspProposal {
    fn default() -> Self {
        EspProposal {
            encr: DEFAULT_ENCR.to_vec(),
            integ: DEFAULT_INTEG.to_vec(),
            esn: vec![true, false],
            dh: Vec::new(),
        }
    }
}

/// One Child SA to establish: local subnets (our side, TSi when we
/// initiate) and remote subnets (the peer's side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsPair {
    /// Traffic selectors of our side.
    pub local: Vec<TsRange>,
    /// Traffic selectors of the peer's side.
    pub remote: Vec<TsRange>,
}

/// Lifetimes passed through to the kernel SAs (and used by the rekey
/// logic of the lifecycle issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Soft lifetime (rekey time) of Child SAs.
    pub child_soft: Duration,
    /// Hard lifetime of Child SAs.
    pub child_hard: Duration,
    /// Rekeys happen at a random time in `child_soft - fuzz ..= child_soft`
    /// after creation, so two peers rarely rekey at once.
    pub child_rekey_fuzz: Duration,
    /// Lifetime of the IKE SA.
    pub ike: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        // libreswan: 8 h SA lifetime, rekey margin 9 min.
        Lifetimes {
            child_soft: Duration::from_secs(8 * 3600 - 9 * 60),
            child_hard: Duration::from_secs(8 * 3600),
            child_rekey_fuzz: Duration::from_secs(9 * 60),
            ike: Duration::from_secs(8 * 3600),
        }
    }
}

/// Everything the core needs to talk to one peer.
#[derive(Clone)]
pub struct PeerConfig {
    /// Name for events and logs (e.g. the Submariner cable name).
    pub name: String,
    /// Local address and port IKE is sent from (give the real address, not
    /// a wildcard: it goes into the NAT detection hashes).
    pub local: SocketAddr,
    /// Peer address and port. As a responder, `None` accepts the peer from
    /// any address (Submariner's preferred-server mode).
    pub remote: Option<SocketAddr>,
    /// Our identity (IDi when initiating, IDr when responding).
    pub local_id: Identity,
    /// The identity the peer must present.
    pub remote_id: Identity,
    /// The pre-shared key as used in AUTH (Submariner: the base64 *text*).
    pub psk: SecretBytes,
    /// IKE proposals in preference order.
    pub ike_proposals: Vec<IkeProposal>,
    /// ESP proposals in preference order.
    pub esp_proposals: Vec<EspProposal>,
    /// Child SAs: the first is created in IKE_AUTH, the others each with
    /// its own CREATE_CHILD_SA. As a responder, the pairs a peer's
    /// selectors may be narrowed to.
    pub children: Vec<TsPair>,
    /// Send a fake NAT_DETECTION_SOURCE_IP so the peer sees a NAT and both
    /// sides use ESP-in-UDP (libreswan `encapsulation=yes`).
    pub force_encapsulation: bool,
    /// Send INITIAL_CONTACT in IKE_AUTH.
    pub initial_contact: bool,
    /// Lifetimes reported with every Child SA.
    pub lifetimes: Lifetimes,
    /// This peer's liveness interval (libreswan's per-connection
    /// `dpddelay`), in place of [`EndpointConfig::dpd_delay`]; `None`: the
    /// endpoint's.
    pub dpd_delay: Option<Duration>,
    /// Require PFS in every CREATE_CHILD_SA of Child SAs (new pairs and
    /// rekeys; the Child SA of IKE_AUTH never has KE): as initiator each
    /// carries KE (in the group learnt from the peer, else the first
    /// group of the ESP proposals, else the IKE SA's group) and an answer
    /// without that group fails; as responder a request whose proposals
    /// have no group is refused with NO_PROPOSAL_CHOSEN. Off (default):
    /// PFS as the ESP proposals' groups say, and following the peer.
    pub require_pfs: bool,
}

impl core::fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeerConfig")
            .field("name", &self.name)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("local_id", &self.local_id)
            .field("remote_id", &self.remote_id)
            .field("psk", &self.psk)
            .field("ike_proposals", &self.ike_proposals)
            .field("esp_proposals", &self.esp_proposals)
            .field("children", &self.children)
            .field("force_encapsulation", &self.force_encapsulation)
            .field("require_pfs", &self.require_pfs)
            .finish_non_exhaustive()
    }
}

impl PeerConfig {
    /// A peer with default proposals, INITIAL_CONTACT on, no forced
    /// encapsulation and no Child SA yet.
    pub fn new(
        name: impl Into<String>,
        local: SocketAddr,
        remote: SocketAddr,
        local_id: Identity,
        remote_id: Identity,
        psk: &[u8],
    ) -> Self {
        PeerConfig {
            name: name.into(),
            local,
            remote: Some(remote),
            local_id,
            remote_id,
            psk: SecretBytes::from_slice(psk),
            ike_proposals: vec![IkeProposal::default()],
            esp_proposals: vec![EspProposal::default()],
            children: Vec::new(),
            force_encapsulation: false,
            initial_contact: true,
            lifetimes: Lifetimes::default(),
            dpd_delay: None,
            require_pfs: false,
        }
    }

    /// Whether `g` may be this peer's PFS group: a group of an ESP
    /// proposal, or, for an ESP proposal without groups of its own (which
    /// follows the peer), a group of the IKE proposals.
    pub(crate) fn pfs_group_ok(&self, g: DhGroup) -> bool {
        self.esp_proposals.iter().any(|p| {
            if p.dh.is_empty() {
                self.ike_proposals.iter().any(|i| i.dh.contains(&g))
            } else {
                p.dh.contains(&g)
            }
        })
    }

    /// What [`select_esp`](crate::proposal::select_esp) accepts as PFS
    /// in CREATE_CHILD_SA.
    pub(crate) fn pfs_policy(&self) -> crate::proposal::PfsPolicy {
        let mut follow: Vec<DhGroup> = Vec::new();
        for g in self.ike_proposals.iter().flat_map(|p| p.dh.iter()) {
            if !follow.contains(g) {
                follow.push(*g);
            }
        }
        crate::proposal::PfsPolicy {
            follow,
            required: self.require_pfs,
        }
    }
}

/// Endpoint-wide settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Retransmission of our requests.
    pub retransmit: RetransmitConfig,
    /// Require a COOKIE once this many half-open responder SAs exist
    /// (`Some(0)`: always; `None`: never).
    pub cookie_threshold: Option<usize>,
    /// A responder SA that has not completed IKE_AUTH this long after
    /// IKE_SA_INIT is dropped.
    pub half_open_timeout: Duration,
    /// How many INVALID_KE_PAYLOAD answers an initiator follows before it
    /// gives up with [`FailureReason::InvalidKeRetriesExhausted`](crate::FailureReason::InvalidKeRetriesExhausted).
    pub max_invalid_ke_retries: u8,
    /// How many COOKIE answers an initiator follows.
    pub max_cookie_retries: u8,
    /// Responder: insist on our preferred DH group of the chosen proposal
    /// (answer INVALID_KE_PAYLOAD even when the initiator's KE group is
    /// acceptable). When false an acceptable KE group is taken as is.
    pub strict_ke_group: bool,
    /// Liveness check: an empty INFORMATIONAL request after this long
    /// without hearing from the peer (Submariner's libreswan: 30 s). The
    /// peer is declared dead (IkeSaClosed with Timeout) when the
    /// retransmission schedule of that request runs out. `None`: never.
    pub dpd_delay: Option<Duration>,
    /// Interval of NAT keepalives (RFC 3948) while we are behind a NAT
    /// (or force encapsulation). `None`: never.
    pub nat_keepalive: Option<Duration>,
    /// Half-open responder SAs beyond this are not created at all (first
    /// messages are dropped), whatever the cookie setting.
    pub max_half_open: usize,
    /// The same limit per source address, so that one host cannot take
    /// every half-open slot from the others. Responder SAs whose IKE_AUTH
    /// failed count too while they linger.
    pub max_half_open_per_source: usize,
    /// Child SAs per IKE SA a responder accepts (more: NO_ADDITIONAL_SAS).
    pub max_child_sas: usize,
    /// Queued exchanges per IKE SA (further requests to queue are refused).
    pub max_queued_exchanges: usize,
    /// When crossed initiations leave two IKE SAs with one peer, delete the
    /// redundant one we initiated (lowest-nonce rule, see `peer_sas.rs`).
    /// Both ends must apply the same rule to converge; against a peer that
    /// re-initiates when its SA is deleted (some libreswan setups), turn
    /// it off and live with the duplicates, as libreswan itself does.
    pub resolve_duplicate_ike_sas: bool,
    /// IKE fragmentation (RFC 7383): announce IKEV2_FRAGMENTATION_SUPPORTED
    /// in IKE_SA_INIT (as initiator; as responder when the initiator
    /// did), and when both did, send encrypted messages larger than
    /// [`fragment_size`](Self::fragment_size) as Encrypted Fragment
    /// payloads and reassemble the peer's. Off: no announcement, and
    /// fragments are dropped.
    pub fragmentation: bool,
    /// The largest IP datagram an IKE message (whole or fragment) may
    /// fill, IP and UDP headers and non-ESP marker included; see
    /// [`DEFAULT_FRAGMENT_SIZE`] for the choice.
    pub fragment_size: usize,
    /// Caps on one fragmented message being reassembled. Each IKE SA
    /// reassembles at most one request and one response at a time, so
    /// an SA holds at most twice `max_bytes` of fragments (and only
    /// fragments that passed their integrity check).
    pub reassembly: ReassemblyLimits,
    /// A fragmented message still incomplete this long after its first
    /// fragment arrived is dropped (the sender retransmits every fragment).
    pub reassembly_timeout: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            retransmit: RetransmitConfig::default(),
            cookie_threshold: Some(30),
            half_open_timeout: Duration::from_secs(30),
            max_invalid_ke_retries: 3,
            max_cookie_retries: 3,
            strict_ke_group: false,
            dpd_delay: Some(Duration::from_secs(30)),
            nat_keepalive: Some(Duration::from_secs(20)),
            max_half_open: 1000,
            max_half_open_per_source: 32,
            max_child_sas: 256,
            max_queued_exchanges: 256,
            resolve_duplicate_ike_sas: true,
            fragmentation: true,
            fragment_size: DEFAULT_FRAGMENT_SIZE,
            reassembly: ReassemblyLimits::default(),
            reassembly_timeout: Duration::from_secs(30),
        }
    }
}
