//! Fuzz target: arbitrary datagrams at a responder `Endpoint` (sans-IO, no
//! sockets), as an attacker on the internet would send them to a
//! preferred-server gateway. Nothing may panic, whatever arrives in which
//! order, and the endpoint's timers must stay in the future.
//!
//! Input: the first byte chooses whether a real initiator's IKE_SA_INIT
//! goes first (so later datagrams can reach a half-open SA: IKE_AUTH
//! parsing, decryption, fragments); then datagrams, each a 2-byte length
//! and its bytes. A datagram whose first byte is 0xfe gets the half-open
//! SA's SPIs written over its first 16 bytes, so mutations reach that SA.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ike::wire::Identity;
use ike::{Endpoint, EndpointConfig, PeerConfig, TsPair};
use libfuzzer_sys::fuzz_target;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ts(s: &str) -> ike::wire::TsRange {
    ike::wire::TsRange::from_cidr(s.parse::<ike::wire::Cidr>().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let local = addr("198.51.100.2:4500");
    let remote = addr("192.0.2.1:4500");
    let id_r = Identity::Ipv4("10.0.0.2".parse().unwrap());
    let id_i = Identity::Ipv4("10.0.0.1".parse().unwrap());
    let mut server = Endpoint::new(EndpointConfig::default()).unwrap();
    let mut p = PeerConfig::new("client", local, remote, id_r.clone(), id_i.clone(), b"psk");
    p.remote = None;
    p.children.push(TsPair {
        local: vec![ts("10.2.0.0/16")],
        remote: vec![ts("10.1.0.0/16")],
    });
    server.add_peer(p);
    let t0 = Instant::now();
    let mut now = t0;
    let mut spis = [0u8; 16];
    if mode & 1 == 1 {
        let mut client = Endpoint::new(EndpointConfig::default()).unwrap();
        let mut c = PeerConfig::new("server", remote, local, id_i, id_r, b"psk");
        c.children.push(TsPair {
            local: vec![ts("10.1.0.0/16")],
            remote: vec![ts("10.2.0.0/16")],
        });
        client.initiate(now, c).unwrap();
        let init = client.poll_transmit().unwrap();
        server.handle_datagram(now, local, remote, &init.payload);
        if let Some(answer) = server.poll_transmit() {
            spis.copy_from_slice(&answer.payload[..16.min(answer.payload.len())]);
        }
    }
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let take = n.min(rest.len() - 2);
        let mut d = rest[2..2 + take].to_vec();
        rest = &rest[2 + take..];
        if d.first() == Some(&0xfe) && d.len() >= 16 {
            d[..16].copy_from_slice(&spis);
        }
        // Alternate the sender between the real peer and a stranger.
        let from = if n & 1 == 0 { remote } else { addr("203.0.113.7:4500") };
        server.handle_datagram(now, local, from, &d);
        while server.poll_transmit().is_some() {}
        while server.poll_event().is_some() {}
        now += Duration::from_millis(u64::from(n as u8) * 50);
        server.handle_timeout(now);
        if let Some(t) = server.poll_timeout() {
            assert!(t > now, "a deadline at or before now after handle_timeout");
        }
    }
    server.handle_timeout(t0 + Duration::from_secs(3600));
});
