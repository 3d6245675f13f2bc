//! Async client for the Linux kernel's XFRM (IPsec SA and policy) netlink
//! interface, used by the Submariner cable engine.
//!
//! - [`XfrmClient`] ([`client`]): opened with [`XfrmClient::connect`] in the
//!   calling thread's network namespace; SPI allocation ([`spi`]), SAs
//!   ([`sa`], with [`lifetime`]s), policies ([`policy`]), and listing/cleaning up only what this
//!   engine owns ([`ownership`]).
//! - [`XfrmEvents`] ([`events`]): EXPIRE / ACQUIRE / MAPPING events as a
//!   `futures::Stream`.
//! - [`bypass_socket`] ([`socket_bypass`]): per-socket ALLOW policies so
//!   IKE sockets are never caught by IPsec policies.
//! - [`EspTransform`] / [`SecretKey`] ([`algorithms`]): AES-GCM-16 and
//!   AES-CBC + HMAC-SHA2 with their keys (zeroised on drop, never printed).
//! - [`XfrmError`] ([`error`]): typed kernel refusals.
//!
//! # Example: one side of a GCM tunnel
//! ```no_run
//! use xfrm::*;
//! # async fn f() -> Result<(), XfrmError> {
//! let client = XfrmClient::connect()?; // in this thread's network namespace
//! let (me, peer) = ("192.168.50.1".parse().unwrap(), "192.168.50.2".parse().unwrap());
//! let reqid = ReqId::owned(1)?;
//! // Inbound: the SPI is ours to choose; the kernel leaves a larval SA...
//! let spi_in = client.allocate_spi(&SpiRequest::new(peer, me, reqid)).await?;
//! // ...which the keyed SA replaces (UPDSA).
//! let key_in = SecretKey::new(vec![0u8; 36]); // AES-256 key || 4-byte salt, from IKE
//! client
//!     .update_sa(&SaConfig::new(peer, me, spi_in, reqid, EspTransform::aes_gcm(key_in)))
//!     .await?;
//! // Outbound: the peer chose the SPI.
//! let key_out = SecretKey::new(vec![1u8; 36]);
//! client
//!     .add_sa(&SaConfig::new(me, peer, 0xC000_1234, reqid, EspTransform::aes_gcm(key_out)))
//!     .await?;
//! let (local, remote) = ("10.1.0.0/16".parse().unwrap(), "10.2.0.0/16".parse().unwrap());
//! let out = TunnelTemplate { src: me, dst: peer, reqid };
//! let inbound = TunnelTemplate { src: peer, dst: me, reqid };
//! let sel_out = TrafficSelector::new(local, remote);
//! let sel_in = TrafficSelector::new(remote, local);
//! client.add_policy(&PolicyConfig::new(sel_out, Direction::Out, 1000, out)).await?;
//! client.add_policy(&PolicyConfig::new(sel_in, Direction::In, 1000, inbound)).await?;
//! client.add_policy(&PolicyConfig::new(sel_in, Direction::Fwd, 1000, inbound)).await?;
//! let counters = client.get_sa(&SaId { dst: peer, spi: 0xC000_1234, mark: None }).await?.counters;
//! println!("{} bytes sent", counters.bytes);
//! # Ok(()) }
//! ```
//!
//! # Ownership marker
//! Everything this engine installs carries a reqid in `0xCE00_0000 |
//! index` (see [`ownership`] for the reasoning). After a restart,
//! [`XfrmClient::list_owned_sas`] / [`XfrmClient::list_owned_policies`]
//! find the engine's entries again and [`XfrmClient::cleanup_owned`]
//! removes exactly those.
//!
//! # Keys
//! Keys live in [`SecretKey`]. Request and receive buffers and the key
//! copies inside netlink messages are zeroised after use; SAs read back from
//! the kernel ([`SaInfo`]) keep algorithm names and lengths, never keys.
//! Requests go over a `netlink-sys` socket owned by this crate (rather than
//! `netlink-proto`, whose buffers cannot be wiped); the key-free event
//! stream uses `netlink-proto`.

pub mod algorithms;
pub mod client;
pub mod error;
pub mod events;
pub mod lifetime;
pub mod ownership;
pub mod policy;
pub mod sa;
pub mod selector;
pub mod socket_bypass;
pub mod spi;
mod transport;
mod wire;

pub use algorithms::{AlgorithmInfo, AlgorithmRole, EspTransform, Integrity, SecretKey};
pub use client::XfrmClient;
pub use error::{KernelDetail, XfrmError};
pub use events::{AcquireEvent, ExpireEvent, MappingEvent, XfrmEvent, XfrmEvents};
pub use lifetime::{LifetimeLimits, Lifetimes};
pub use ownership::{CleanupReport, ReqId, MAX_OWNED_INDEX};
pub use policy::{
    Direction, PolicyAction, PolicyConfig, PolicyId, PolicyInfo, TemplateInfo, TunnelTemplate,
};
pub use sa::{SaConfig, SaCounters, SaId, SaInfo, SaStats, UdpEncap};
pub use selector::{Mark, PortMatch, TrafficSelector};
pub use socket_bypass::bypass_socket;
pub use spi::{SpiRequest, DEFAULT_SPI_RANGE};
