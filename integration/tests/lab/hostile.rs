//! Hostile networks (issue 13): attackers on the path, and what the
//! engine must keep doing meanwhile.

use crate::common::*;
use integration::lab::require_lab;
use integration::peers::strongswan::StrongSwan;
use integration::sites::TEST_PSK;
use integration::topo::{Nat, RoutedSites};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A raw socket that sees every IPv4 packet of the namespace it was made
/// in (AF_PACKET, cooked), and one that sends IPv4 packets with our own
/// headers (IP_HDRINCL).
fn sockets() -> std::io::Result<(OwnedFd, OwnedFd)> {
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
    p.extend_from_slice(&4500u16.to_be_bytes());
    p.extend_from_slice(&4500u16.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]); // no UDP checksum (IPv4)
    p.extend_from_slice(&payload);
    p
}

fn ip4(s: &str) -> [u8; 4] {
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
                let to = libc::sockaddr_in {
                    sin_family: libc::AF_INET as u16,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(left),
                    },
                    sin_zero: [0; 8],
                };
                let sent = unsafe {
                    libc::sendto(
                        send.as_raw_fd(),
                        pkt.as_ptr() as *const libc::c_void,
                        pkt.len(),
                        0,
                        &to as *const _ as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as u32,
                    )
                };
                if sent > 0 {
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
    use integration::sites::all_connected;
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
