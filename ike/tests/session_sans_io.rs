//! The core stays sans-IO: no runtime, socket or netlink dependency, and
//! an [`Endpoint`] can be moved into whatever task or thread drives it.

use ike::Endpoint;

#[test]
fn only_pure_dependencies() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap();
    let names: Vec<&str> = deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['=', '.', ' ']).next())
        .collect();
    for n in &names {
        assert!(
            [
                "ring",
                "zeroize",
                "thiserror",
                "subtle",
                "aes",
                "cbc",
                "crypto-bigint",
                "p521",
            ]
            .contains(n),
            "unexpected dependency {n}: the IKE core must stay free of I/O crates"
        );
    }
    for banned in ["tokio", "mio", "netlink", "socket2", "nix", "libc"] {
        assert!(!deps.contains(banned), "{banned} in ike/Cargo.toml");
    }
}

#[test]
fn endpoint_is_send() {
    fn send<T: Send>() {}
    send::<Endpoint>();
    send::<ike::Event>();
    send::<ike::Transmit>();
}
