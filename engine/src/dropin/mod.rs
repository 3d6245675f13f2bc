//! Drop-in mode: cable-engine under an unmodified Submariner gateway, in
//! place of libreswan's `pluto` and `ipsec whack`.
//!
//! Submariner's libreswan driver runs exactly two programs,
//! `/usr/local/bin/pluto` (once, the daemon) and `/usr/sbin/ipsec whack
//! ...` (every control call), and parses one output (`--trafficstatus`);
//! the contract is `../shared/docs/submariner-dropin.md`. Installed under
//! those names, cable-engine answers to both, so Submariner's operator,
//! leader election, broker sync and NAT discovery drive this engine's IKEv2
//! and XFRM.
//!
//! - [`whack`]: the `whack` options the driver uses, parsed.
//! - [`secrets`]: the PSK from libreswan's secrets files.
//! - [`conns`]: libreswan's connections turned into cable plans.
//! - [`traffic`]: `--trafficstatus` lines in libreswan 4.x's format.
//! - [`protocol`], [`client`]: the control socket and the `whack`/`ipsec`
//!   side of it.
//! - [`pluto`]: the daemon; [`takeover`]: what a libreswan pluto left.

pub mod client;
pub mod conns;
pub mod pluto;
pub mod protocol;
pub mod secrets;
pub mod takeover;
pub mod traffic;
pub mod whack;
