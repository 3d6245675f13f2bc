//! Issue 15: the peers of today's fleets, Debian 13's libreswan 5.x and
//! strongSwan 6.x (chroot roots made by `cargo xtask setup`; see
//! `integration::peers::Distro`). Each case runs a shared body of the
//! Debian 12 suite with [`use_distro`]`(Distro::Trixie)`: each lab test is
//! its own process, so the choice holds for the whole case and nothing is
//! copied. `CABLE_ENGINE_PEERS=trixie cargo xtask lab-tests interop::`
//! runs any other shared case the same way.

use crate::interop::{
    libreswan_case, nat_libreswan_case, strongswan_initiator_case, strongswan_responder_case,
};
use crate::rekey::{libreswan_rekey_case, strongswan_rekey_case, Driver};
use crate::subnets::many_subnets;
use integration::lab::require_lab;
use integration::peers::libreswan::Mode;
use integration::peers::{use_distro, Distro};

fn trixie() {
    require_lab();
    use_distro(Distro::Trixie);
}

/// Submariner's bidirectional whack calls, 2x2 subnets, both initiating.
#[test]
fn libreswan5_both_initiate() {
    trixie();
    many_subnets(
        "libreswan5_both_initiate",
        None,
        &["10.1.0.0/16", "10.11.0.0/16"],
        &["10.2.0.0/16", "10.12.0.0/16"],
    );
}

/// Server mode on libreswan 5's side (the engine initiates), then client
/// mode (libreswan 5 initiates, the engine is the preferred server).
#[test]
fn libreswan5_server_client() {
    trixie();
    libreswan_case(
        "libreswan5_server_client_responder",
        "responder (server mode)",
        false,
        true,
        Mode::Server,
    );
    libreswan_case(
        "libreswan5_server_client_initiator",
        "initiator (client mode)",
        true,
        false,
        Mode::Client,
    );
}

/// libreswan 5 with short lifetimes rekeys (its default: PFS on Child SA
/// rekey): every rekey carries KE, and no ping at 0.1 s is lost.
#[test]
fn libreswan5_rekey_pfs() {
    trixie();
    let log = libreswan_rekey_case("libreswan5_rekey_pfs", Driver::Peer);
    let rekeys: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("rekeyed Child SA") || l.contains("Child SA rekeyed"))
        .collect();
    assert!(
        !rekeys.is_empty(),
        "no Child SA rekey in pluto's log:\n{log}"
    );
    assert!(
        rekeys
            .iter()
            .all(|l| l.contains("-DH") || l.contains("pfsgroup")),
        "a Child SA rekey without KE:\n{}",
        rekeys.join("\n")
    );
}

/// NAT between (the engine's site is NATed), libreswan 5 with the
/// driver's `--encaps=yes`: ESP-in-UDP both ways.
#[test]
fn libreswan5_nat_encaps() {
    trixie();
    nat_libreswan_case("libreswan5_nat_encaps");
}

/// strongSwan 6 only responds; the engine initiates.
#[test]
fn strongswan6_responder() {
    trixie();
    strongswan_responder_case("strongswan6_responder");
}

/// strongSwan 6 initiates; the engine's own initiation is blocked.
#[test]
fn strongswan6_initiator() {
    trixie();
    strongswan_initiator_case("strongswan6_initiator");
}

/// strongSwan 6 with short lifetimes rekeys; the engine answers; no ping
/// at 0.1 s is lost.
#[test]
fn strongswan6_rekey() {
    trixie();
    strongswan_rekey_case("strongswan6_rekey", Driver::Peer);
}
