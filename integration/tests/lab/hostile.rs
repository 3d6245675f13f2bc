//! Hostile networks (issue 13): attackers on the path, and what the
//! engine must keep doing meanwhile.

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::strongswan::StrongSwan;
use integration::sites::all_connected;
use integration::sites::TEST_PSK;
use integration::topo::{Nat, RoutedSites};
use integration::traffic::{engine_counter, BackgroundPing};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const METRICS_PORT: u16 = 32780;

/// A raw socket that sees every IPv4 packet of the namespace it was made
/// in (AF_PACKET, cooked), and one that sends IPv4 packets with our own
/// headers (IP_HDRINCL).
pub(crate) fn sockets() -> std::io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: plain socket(2) calls; the descriptors are owned at once.
    unsafe {
        let sniff = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM,
            (libc::ETH_P_IP as u16).to_be() as i32,
        );
        if sniff < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let sniff = OwnedFd::from_raw_fd(sniff);
        let send = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
        if send < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        libc::setsockopt(
            sniff.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
        Ok((sniff, OwnedFd::from_raw_fd(send)))
    }
}

/// The initiator SPI of an IKE_SA_INIT request from `from` to UDP 4500 in
/// an IPv4 packet, if it is one.
fn init_request_spi(pkt: &[u8], from: [u8; 4]) -> Option<[u8; 8]> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    if pkt.len() < ihl + 8 + 4 + 28 || pkt[9] != 17 || pkt[12..16] != from {
        return None;
    }
    let udp = &pkt[ihl..];
    if u16::from_be_bytes([udp[2], udp[3]]) != 4500 {
        return None;
    }
    // Non-ESP marker, then the IKE header.
    let ike = &udp[8..];
    if ike[..4] != [0; 4] {
        return None;
    }
    let h = &ike[4..];
    // Exchange IKE_SA_INIT (34), a request (no Response flag), SPIr zero.
    (h[18] == 34 && h[19] & 0x20 == 0 && h[8..16] == [0; 8]).then(|| {
        let mut spi = [0; 8];
        spi.copy_from_slice(&h[..8]);
        spi
    })
}

/// An IKE_SA_INIT response saying NO_PROPOSAL_CHOSEN for `spi_i`, in a
/// UDP/IPv4 packet from `src`:4500 to `dst`:4500 (non-ESP marker first).
fn forged_answer(spi_i: [u8; 8], src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut ike = Vec::new();
    ike.extend_from_slice(&spi_i);
    ike.extend_from_slice(&0x0bad_f00d_0bad_f00d_u64.to_be_bytes());
    ike.extend_from_slice(&[41, 0x20, 34, 0x20]); // Notify next, v2.0, IKE_SA_INIT, Response
    ike.extend_from_slice(&0u32.to_be_bytes());
    ike.extend_from_slice(&36u32.to_be_bytes());
    // Notify: no next, length 8, protocol 0, SPI size 0, NO_PROPOSAL_CHOSEN.
    ike.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 14]);
    let mut payload = vec![0u8; 4];
    payload.extend_from_slice(&ike);
    udp4(src, 4500, dst, 4500, &payload)
}

/// A UDP/IPv4 packet (IP header with checksum, no UDP checksum) for an
/// IP_HDRINCL raw socket.
pub(crate) fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let mut sum: u32 = 0;
    for w in p.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    p[10..12].copy_from_slice(&csum.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]); // no UDP checksum (IPv4)
    p.extend_from_slice(payload);
    p
}

/// Sends `pkt` (built by [`udp4`]) on the IP_HDRINCL socket `fd` towards
/// `dst`; whether it went.
pub(crate) fn send_raw(fd: &OwnedFd, pkt: &[u8], dst: [u8; 4]) -> bool {
    let to = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(dst),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sendto with our buffer and a valid sockaddr_in.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
            0,
            &to as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    sent > 0
}

/// A small deterministic generator (xorshift64*), so a failing run can be
/// repeated from the seed it printed.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn seeded() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng(t | 1)
    }
}

pub(crate) fn ip4(s: &str) -> [u8; 4] {
    s.parse::<std::net::Ipv4Addr>().unwrap().octets()
}

/// Issue 13, fault 2: an attacker on the path (here the router between
/// the sites) answers every IKE_SA_INIT of the engine with a forged
/// NO_PROPOSAL_CHOSEN before strongSwan's real answer (delayed 300 ms by
/// netem) arrives. The engine ignores the forgeries and connects. Before,
/// each forged answer aborted the attempt, and the engine never connected
/// while the attacker was there.
#[test]
fn forged_init_response_ignored() {
    require_lab();
    let t = RoutedSites::new(Nat::None).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("forged_init_response_ignored");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let dev = t
        .right
        .sh(&format!(
            "ip -o route get {} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'",
            a.left_ip
        ))
        .expect("route")
        .trim()
        .to_string();
    t.right
        .sh(&format!("tc qdisc add dev {dev} root netem delay 300ms"))
        .expect("netem");
    let (sniff, send) = t.router.enter(sockets).expect("enter").expect("sockets");
    let stop = Arc::new(AtomicBool::new(false));
    let forged = Arc::new(AtomicUsize::new(0));
    let (left, right) = (ip4(a.left_ip), ip4(a.right_ip));
    let attacker = {
        let (stop, forged) = (stop.clone(), forged.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: recv into our buffer; send a packet we built.
                let n = unsafe {
                    libc::recv(
                        sniff.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                if n <= 0 {
                    continue;
                }
                let Some(spi) = init_request_spi(&buf[..n as usize], left) else {
                    continue;
                };
                let pkt = forged_answer(spi, right, left);
                let sent = send_raw(&send, &pkt, left);
                if sent {
                    forged.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, false, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    wait_connected(&mut e, || sw.log_text());
    let took = t0.elapsed();
    ping_both_ways(&t.left, &t.right, &a);
    stop.store(true, Ordering::Relaxed);
    let _ = attacker.join();
    let n = forged.load(Ordering::Relaxed);
    keep_logs(
        "forged_init_response_ignored",
        &[("engine", e.log_text()), ("charon", sw.log_text())],
    );
    assert!(n >= 1, "the attacker forged nothing");
    let log = e.log_text();
    assert!(
        !log.contains("IKE negotiation failed"),
        "a forged answer ended an attempt:\n{log}"
    );
    record(
        "forged_init_response_ignored",
        "strongSwan 5.9.8",
        "responder (300 ms away)",
        "attacker on the router",
        took,
        &format!("pass: {n} forged NO_PROPOSAL_CHOSEN answers ignored; connected, pings pass"),
    );
}

/// Issue 13, fault 6: an invalid edit of a remote Endpoint (its private IP
/// made `not-an-ip`) must not tear its tunnel down: two engines, pings every
/// 0.1 s, the Endpoint file broken for 8 s and then fixed. Before, the
/// engines dropped the Endpoint and the cable with it.
#[test]
fn bad_endpoint_edit_keeps_tunnel() {
    use crate::engine::{connect_pair, sites, tempdir};
    use integration::topo::TwoSites;
    require_lab();
    let t = TwoSites::new().expect("topology");
    tunnel_only(&t.left, &t.right, &two_sites_addrs());
    let work = tempdir("bad-endpoint-edit");
    let (a, b) = sites();
    let dir = work.join("endpoints");
    a.write_into(&dir).unwrap();
    b.write_into(&dir).unwrap();
    let limit = std::time::Duration::from_secs(90);
    let (ea, eb) = connect_pair(&t, (&a, &dir), (&b, &dir), &work, &[], limit);
    let ping = pod_pings(&t.left);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let file = b.endpoint_file(&dir);
    let good = std::fs::read_to_string(&file).unwrap();
    let bad = good.replace(
        &format!("private_ip: {}", b.private_ip),
        "private_ip: not-an-ip",
    );
    assert_ne!(good, bad);
    let tmp = dir.join(".broken.tmp");
    std::fs::write(&tmp, &bad).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(8));
    let during = ea.connections().unwrap_or_default();
    std::fs::write(&tmp, &good).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let tally = ping.stop().expect("ping summary");
    let log = ea.log_text();
    keep_logs(
        "bad_endpoint_edit_keeps_tunnel",
        &[("cluster-a", log.clone()), ("cluster-b", eb.log_text())],
    );
    assert!(
        all_connected(&during),
        "cable not connected while the edit was broken: {during:?}"
    );
    assert!(log.contains("last valid version"), "{log}");
    // ...and shown on the connection (issue 13, fault 6).
    assert!(
        during.iter().any(|c| c["statusMessage"]
            .as_str()
            .is_some_and(|m| m.contains("latest edit") && m.contains("not-an-ip"))),
        "no note on the connection: {during:?}"
    );
    assert_eq!(tally.lost(), 0, "pings lost: {tally:?}");
    assert!(ea.connections().is_ok_and(|c| all_connected(&c)));
    record(
        "bad_endpoint_edit_keeps_tunnel",
        "engine",
        "both initiate",
        "none",
        std::time::Duration::ZERO,
        &format!(
            "pass: the broken Endpoint kept its last valid version for 8 s; pings every 0.1 s: {} sent, {} lost",
            tally.sent,
            tally.lost()
        ),
    );
}

/// The IKE messages (after the non-ESP marker) in a packet seen on the
/// router between `a` and `b` on UDP 4500, if it carries one.
fn ike_message(pkt: &[u8], a: [u8; 4], b: [u8; 4]) -> Option<Vec<u8>> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    if pkt.len() < ihl + 8 + 4 + 28 || pkt[9] != 17 {
        return None;
    }
    let (src, dst) = (&pkt[12..16], &pkt[16..20]);
    if !(src == a && dst == b || src == b && dst == a) {
        return None;
    }
    let udp = &pkt[ihl..];
    let ike = udp.get(8..)?;
    (u16::from_be_bytes([udp[2], udp[3]]) == 4500 && ike[..4] == [0; 4]).then(|| ike[4..].to_vec())
}

/// The fuzz corpus's seeds (real IKE messages of both peers).
const SEEDS: [&[u8]; 6] = [
    include_bytes!("../../../ike/fuzz/corpus/decode_message/seed-ike-auth-sk"),
    include_bytes!("../../../ike/fuzz/corpus/decode_message/seed-ike-auth-skf"),
    include_bytes!("../../../ike/fuzz/corpus/decode_message/seed-inner-chain"),
    include_bytes!("../../../ike/fuzz/corpus/decode_message/seed-libreswan-sa-init"),
    include_bytes!("../../../ike/fuzz/corpus/decode_message/seed-natt-framed"),
    include_bytes!("../../../ike/fuzz/corpus/decode_message/seed-strongswan-sa-init"),
];

/// One garbage datagram for UDP 4500: a real message of this tunnel (with
/// its real SPIs) or a corpus seed, mutated, or random bytes.
fn garbage(rng: &mut Rng, seen: &[Vec<u8>]) -> Vec<u8> {
    let base = if seen.is_empty() || rng.below(3) == 0 {
        SEEDS[rng.below(SEEDS.len())].to_vec()
    } else {
        seen[rng.below(seen.len())].clone()
    };
    let mut m = match rng.below(5) {
        // Bytes flipped anywhere (header fields, lengths, ciphertext).
        0 | 1 => {
            let mut m = base;
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(m.len());
                if let Some(b) = m.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            m
        }
        // Truncated.
        2 => {
            let mut m = base;
            m.truncate(rng.below(m.len() + 1));
            m
        }
        // The real header (SPIs, exchange, message ID) over random bytes.
        3 => {
            let mut m = base;
            m.truncate(28);
            let n = rng.below(1200);
            m.extend((0..n).map(|_| rng.next() as u8));
            m
        }
        // Random bytes.
        _ => (0..rng.below(1400)).map(|_| rng.next() as u8).collect(),
    };
    // Mostly IKE (non-ESP marker); sometimes what looks like ESP-in-UDP.
    if rng.below(10) == 0 {
        m.splice(0..0, (0..4).map(|_| rng.next() as u8 | 1));
    } else {
        m.splice(0..0, [0u8; 4]);
    }
    m
}

/// Issue 13: random and mutated IKE datagrams at the running daemon for
/// 60 s, half of them spoofed from the real peer's address and port and
/// built from the tunnel's own messages (real SPIs and message IDs),
/// the rest from random addresses; pings every 0.1 s meanwhile. The
/// engine must not panic or restart, and the tunnel must not notice:
/// no ping lost, the same Child SAs at the end, strongSwan still up.
#[test]
fn garbage_datagrams_do_no_harm() {
    require_lab();
    let t = RoutedSites::new(Nat::None).expect("topology");
    let a = routed_addrs(&t);
    tunnel_only(&t.left, &t.right, &a);
    let work = workdir("garbage_datagrams_do_no_harm");
    let (es, ps) = (engine_site(&a, false), peer_site(&a, false));
    let (left, right) = (ip4(a.left_ip), ip4(a.right_ip));
    // Record the tunnel's own IKE messages while it is set up.
    let (sniff, send) = t.router.enter(sockets).expect("enter").expect("sockets");
    let stop = Arc::new(AtomicBool::new(false));
    let sniffer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) && seen.len() < 200 {
                // SAFETY: recv into our buffer.
                let n = unsafe {
                    libc::recv(
                        sniff.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                if n > 0 {
                    if let Some(m) = ike_message(&buf[..n as usize], left, right) {
                        seen.push(m);
                    }
                }
            }
            seen
        })
    };
    let sw = StrongSwan::start(
        &t.right,
        &swan_conn(&a, &es, false, false, TEST_PSK),
        &work.join("strongswan"),
    )
    .expect("strongSwan");
    let t0 = Instant::now();
    let mut e = start_engine(&t.left, &es, &ps, &work, &[]);
    wait_connected(&mut e, || sw.log_text());
    let took = t0.elapsed();
    sw.wait_up(UP_LIMIT).expect("strongSwan SAs");
    std::thread::sleep(std::time::Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let seen = sniffer.join().expect("sniffer");
    assert!(
        seen.len() >= 4,
        "saw {} IKE messages of the set-up",
        seen.len()
    );
    let spis = esp_spis(&t.left);
    let dropped = || engine_counter(&t.left, METRICS_PORT, "cable_engine_ike_datagrams_dropped");
    let dropped_before = dropped().expect("metrics");
    let ping = BackgroundPing::start(
        &t.left,
        RoutedSites::LEFT_POD_IP,
        RoutedSites::RIGHT_POD_IP,
        std::time::Duration::from_millis(100),
    )
    .expect("ping");
    let seed = Rng::seeded().0;
    println!("garbage_datagrams_do_no_harm: seed {seed:#x}");
    let mut rng = Rng(seed);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < std::time::Duration::from_secs(60) {
        for _ in 0..20 {
            let payload = garbage(&mut rng, &seen);
            let (src, sport) = if rng.below(2) == 0 {
                (right, 4500)
            } else {
                let r = rng.next();
                (
                    [100, 64, (r >> 8) as u8, r as u8 | 1],
                    (r >> 16) as u16 | 1024,
                )
            };
            if send_raw(&send, &udp4(src, sport, left, 4500, &payload), left) {
                sent += 1;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let tally = ping.stop().expect("ping summary");
    let dropped_after = dropped().expect("metrics after");
    let exited = e.child.try_wait().ok().flatten();
    let log = e.log_text();
    keep_logs(
        "garbage_datagrams_do_no_harm",
        &[("engine", log.clone()), ("charon", sw.log_text())],
    );
    assert!(exited.is_none(), "the engine exited: {exited:?}\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(sent >= 10_000, "only {sent} datagrams sent");
    assert_eq!(tally.lost(), 0, "pings lost: {tally:?}");
    assert_eq!(esp_spis(&t.left), spis, "the Child SAs changed");
    assert!(e.connections().is_ok_and(|c| all_connected(&c)));
    assert!(sw.all_up(), "{}", sw.list_sas().unwrap_or_default());
    record(
        "garbage_datagrams_do_no_harm",
        "strongSwan 5.9.8",
        "responder",
        "none",
        took,
        &format!(
            "pass: {sent} garbage datagrams in 60 s (half from strongSwan's address; mutations of {} real messages of the tunnel and the fuzz seeds, random bytes), {} counted dropped; pings every 0.1 s: {} sent, {} lost; same Child SAs",
            seen.len(),
            dropped_after - dropped_before,
            tally.sent,
            tally.lost()
        ),
    );
}
