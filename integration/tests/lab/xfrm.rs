//! Lab tests of the `xfrm` crate: ESP tunnels programmed only through the
//! crate carry real traffic between two namespaces of the lab kernel.
//!
//! Each test builds its own topology and tokio runtime. XFRM clients and
//! event streams are opened on a thread that entered the namespace (their
//! sockets stay there), then driven from the test thread.

use std::collections::HashSet;
use std::net::{IpAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use futures::StreamExt;
use integration::lab::require_lab;
use integration::topo::{Netns, TwoSites};
use ipnetwork::IpNetwork;
use tokio::runtime::Runtime;
use xfrm::{
    AlgorithmRole, Direction, EspTransform, Integrity, Lifetimes, Mark, PolicyConfig, ReqId,
    SaConfig, SaId, SecretKey, SpiRequest, TrafficSelector, TunnelTemplate, UdpEncap, XfrmClient,
    XfrmError, XfrmEvent, XfrmEvents,
};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("IP address")
}

fn net(s: &str) -> IpNetwork {
    s.parse().expect("CIDR")
}

/// An XFRM client whose socket lives in `ns`.
fn client_in(ns: &Netns, rt: &Runtime) -> XfrmClient {
    let handle = rt.handle().clone();
    ns.enter(move || {
        let _guard = handle.enter();
        XfrmClient::connect()
    })
    .expect("enter namespace")
    .expect("connect XFRM client")
}

/// An XFRM event stream whose socket lives in `ns`.
fn events_in(ns: &Netns, rt: &Runtime) -> XfrmEvents {
    let handle = rt.handle().clone();
    ns.enter(move || {
        let _guard = handle.enter();
        XfrmEvents::subscribe()
    })
    .expect("enter namespace")
    .expect("subscribe to XFRM events")
}

/// One gateway: its client, outer address and pod CIDR.
struct Site<'a> {
    client: XfrmClient,
    ip: IpAddr,
    pods: IpNetwork,
    _ns: &'a Netns,
}

/// SPIs of a tunnel: left-to-right and right-to-left.
#[derive(Debug, Clone, Copy)]
struct Spis {
    l2r: u32,
    r2l: u32,
}

/// The GCM-256 SA of a test tunnel (the key is `key` repeated).
fn tunnel_sa(src: IpAddr, dst: IpAddr, spi: u32, key: u8, encap: Option<UdpEncap>) -> SaConfig {
    let mut c = SaConfig::new(
        src,
        dst,
        spi,
        ReqId::owned(1).unwrap(),
        EspTransform::aes_gcm(SecretKey::new(vec![key; 36])),
    );
    c.encap = encap;
    c.replay_window = 128;
    c
}

/// Program a GCM-256 tunnel between the sites through the crate only: each
/// side allocates the SPI of its inbound SA (ALLOCSPI), the peer installs
/// the outbound SA with it (NEWSA), the owner replaces its larval SA
/// (UPDSA); then out/in/fwd policies on both sides.
async fn program_tunnel(left: &Site<'_>, right: &Site<'_>, encap: Option<UdpEncap>) -> Spis {
    let reqid = ReqId::owned(1).unwrap();
    let l2r = right
        .client
        .allocate_spi(&SpiRequest::new(left.ip, right.ip, reqid))
        .await
        .expect("allocate SPI on right");
    let r2l = left
        .client
        .allocate_spi(&SpiRequest::new(right.ip, left.ip, reqid))
        .await
        .expect("allocate SPI on left");
    let sa = |src, dst, spi, key| tunnel_sa(src, dst, spi, key, encap);
    left.client
        .add_sa(&sa(left.ip, right.ip, l2r, 0x11))
        .await
        .expect("left outbound SA");
    right
        .client
        .update_sa(&sa(left.ip, right.ip, l2r, 0x11))
        .await
        .expect("right inbound SA");
    right
        .client
        .add_sa(&sa(right.ip, left.ip, r2l, 0x22))
        .await
        .expect("right outbound SA");
    left.client
        .update_sa(&sa(right.ip, left.ip, r2l, 0x22))
        .await
        .expect("left inbound SA");
    for (site, peer) in [(left, right), (right, left)] {
        let out = PolicyConfig::new(
            TrafficSelector::new(site.pods, peer.pods),
            Direction::Out,
            1000,
            TunnelTemplate {
                src: site.ip,
                dst: peer.ip,
                reqid,
            },
        );
        site.client.add_policy(&out).await.expect("out policy");
        for dir in [Direction::In, Direction::Fwd] {
            let p = PolicyConfig::new(
                TrafficSelector::new(peer.pods, site.pods),
                dir,
                1000,
                TunnelTemplate {
                    src: peer.ip,
                    dst: site.ip,
                    reqid,
                },
            );
            site.client.add_policy(&p).await.expect("in/fwd policy");
        }
    }
    Spis { l2r, r2l }
}

fn sites<'a>(t: &'a TwoSites, rt: &Runtime) -> (Site<'a>, Site<'a>) {
    (
        Site {
            client: client_in(&t.left, rt),
            ip: ip(TwoSites::LEFT_IP),
            pods: net(TwoSites::LEFT_PODS),
            _ns: &t.left,
        },
        Site {
            client: client_in(&t.right, rt),
            ip: ip(TwoSites::RIGHT_IP),
            pods: net(TwoSites::RIGHT_PODS),
            _ns: &t.right,
        },
    )
}

fn ping_pods(t: &TwoSites, count: u32) -> String {
    t.left
        .sh(&format!(
            "ping -c {count} -i 0.3 -W 3 -I {} {}",
            TwoSites::LEFT_POD_IP,
            TwoSites::RIGHT_POD_IP
        ))
        .expect("ping between pod addresses through the tunnel")
}

/// What an AF_PACKET socket on an interface saw: outer protocols of the
/// packets sent and received on the wire.
#[derive(Debug, Default)]
struct WireCounts {
    esp_in: u32,
    esp_out: u32,
    udp4500_in: u32,
    udp4500_out: u32,
    icmp_out: u32,
    /// SPIs seen in ESP (proto 50) packets.
    esp_spis: HashSet<u32>,
    /// SPIs seen at the start of UDP/4500 payloads (ESP-in-UDP).
    udp_spis: HashSet<u32>,
}

/// A packet socket bound to one interface of a namespace, counting IPv4
/// packets by protocol, in both directions (outgoing packets are seen after
/// XFRM encapsulation, incoming ones before decapsulation; the kernel also
/// shows the decapsulated inner packets as incoming, so only outgoing ICMP
/// is meaningful).
struct WireCounter {
    fd: OwnedFd,
}

impl WireCounter {
    fn open(ns: &Netns, ifname: &str) -> WireCounter {
        let ifname = std::ffi::CString::new(ifname).unwrap();
        ns.enter(move || {
            // SAFETY: plain socket/bind calls on values we own.
            unsafe {
                // ETH_P_ALL: sockets bound to one protocol do not see
                // outgoing packets.
                let proto = (libc::ETH_P_ALL as u16).to_be();
                let fd = libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    i32::from(proto),
                );
                assert!(
                    fd >= 0,
                    "packet socket: {}",
                    std::io::Error::last_os_error()
                );
                let fd = OwnedFd::from_raw_fd(fd);
                let ifindex = libc::if_nametoindex(ifname.as_ptr());
                assert!(ifindex > 0, "no interface {ifname:?}");
                let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                sll.sll_family = libc::AF_PACKET as u16;
                sll.sll_protocol = proto;
                sll.sll_ifindex = ifindex as i32;
                let rc = libc::bind(
                    fd.as_raw_fd(),
                    &sll as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                assert_eq!(
                    rc,
                    0,
                    "bind packet socket: {}",
                    std::io::Error::last_os_error()
                );
                WireCounter { fd }
            }
        })
        .expect("enter namespace")
    }

    /// Read every queued packet and count it.
    fn drain(&self) -> WireCounts {
        let mut c = WireCounts::default();
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: recvfrom into buffers we own, with their sizes.
            let (n, sll) = unsafe {
                let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
                let n = libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                    &mut sll as *mut _ as *mut libc::sockaddr,
                    &mut len,
                );
                (n, sll)
            };
            if n < 0 {
                break;
            }
            let pkt = &buf[..n as usize];
            if sll.sll_protocol != (libc::ETH_P_IP as u16).to_be()
                || pkt.len() < 20
                || pkt[0] >> 4 != 4
            {
                continue;
            }
            let outgoing = sll.sll_pkttype == libc::PACKET_OUTGOING;
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let l4 = &pkt[ihl.min(pkt.len())..];
            let word = |b: &[u8]| {
                b.get(..4)
                    .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            };
            match pkt[9] {
                50 => {
                    if outgoing {
                        c.esp_out += 1
                    } else {
                        c.esp_in += 1
                    }
                    if let Some(spi) = word(l4) {
                        c.esp_spis.insert(spi);
                    }
                }
                17 if l4.len() >= 8 => {
                    let sport = u16::from_be_bytes([l4[0], l4[1]]);
                    let dport = u16::from_be_bytes([l4[2], l4[3]]);
                    if sport == 4500 || dport == 4500 {
                        if outgoing {
                            c.udp4500_out += 1
                        } else {
                            c.udp4500_in += 1
                        }
                        if let Some(spi) = word(&l4[8..]) {
                            c.udp_spis.insert(spi);
                        }
                    }
                }
                1 if outgoing => c.icmp_out += 1,
                _ => {}
            }
        }
        c
    }
}

/// A UDP socket bound to port 4500 with UDP_ENCAP_ESPINUDP, in `ns`: the
/// kernel needs it to receive ESP-in-UDP.
fn nat_t_socket(ns: &Netns) -> UdpSocket {
    ns.enter(|| {
        let s = UdpSocket::bind("0.0.0.0:4500").expect("bind UDP 4500");
        let encap: libc::c_int = 2; // UDP_ENCAP_ESPINUDP
                                    // SAFETY: setsockopt(SOL_UDP, UDP_ENCAP) with an int.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_UDP,
                100, // UDP_ENCAP
                &encap as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        assert_eq!(rc, 0, "UDP_ENCAP: {}", std::io::Error::last_os_error());
        // The IKE socket is exempt from policies, as the engine will do.
        xfrm::bypass_socket(s.as_fd()).expect("bypass policy on the NAT-T socket");
        s
    })
    .expect("enter namespace")
}

/// Ping through a tunnel and check counters and wire protocols.
fn run_tunnel_test(encap: Option<UdpEncap>) {
    let t = TwoSites::new().expect("topology");
    let rt = runtime();
    let _nat_t = encap.map(|_| (nat_t_socket(&t.left), nat_t_socket(&t.right)));
    let (left, right) = sites(&t, &rt);
    let spis = rt.block_on(program_tunnel(&left, &right, encap));
    let out_id = SaId {
        dst: right.ip,
        spi: spis.l2r,
        mark: None,
    };
    let in_id = SaId {
        dst: left.ip,
        spi: spis.r2l,
        mark: None,
    };
    let (out_before, in_before) = rt.block_on(async {
        (
            left.client.get_sa(&out_id).await.expect("get outbound SA"),
            left.client.get_sa(&in_id).await.expect("get inbound SA"),
        )
    });
    assert_eq!(out_before.encap, encap);
    assert!(out_before.is_owned());

    let wire = WireCounter::open(&t.right, "wan");
    let out = ping_pods(&t, 4);
    assert!(out.contains("4 received"), "{out}");
    let seen = wire.drain();

    let (out_after, in_after) = rt.block_on(async {
        (
            left.client.get_sa(&out_id).await.expect("get outbound SA"),
            left.client.get_sa(&in_id).await.expect("get inbound SA"),
        )
    });
    assert!(
        out_after.counters.packets >= out_before.counters.packets + 4,
        "outbound packets {:?} -> {:?}",
        out_before.counters,
        out_after.counters
    );
    assert!(out_after.counters.bytes >= out_before.counters.bytes + 4 * 84);
    assert!(
        in_after.counters.packets >= in_before.counters.packets + 4,
        "inbound packets {:?} -> {:?}",
        in_before.counters,
        in_after.counters
    );
    assert!(in_after.counters.bytes > in_before.counters.bytes);

    // Right sent its echo replies only through the tunnel.
    assert_eq!(
        seen.icmp_out, 0,
        "plain ICMP left the right gateway: {seen:?}"
    );
    let both: HashSet<u32> = [spis.l2r, spis.r2l].into();
    if encap.is_some() {
        assert_eq!(
            seen.esp_in + seen.esp_out,
            0,
            "bare ESP on the wire: {seen:?}"
        );
        assert!(seen.udp4500_in >= 4 && seen.udp4500_out >= 4, "{seen:?}");
        assert_eq!(seen.udp_spis, both, "{seen:?}");
    } else {
        assert_eq!(seen.udp4500_in + seen.udp4500_out, 0, "{seen:?}");
        assert!(seen.esp_in >= 4 && seen.esp_out >= 4, "{seen:?}");
        assert_eq!(seen.esp_spis, both, "{seen:?}");
    }
    rt.block_on(async {
        for s in [&left, &right] {
            let r = s.client.cleanup_owned().await.expect("cleanup");
            assert_eq!((r.sas_removed, r.policies_removed), (2, 3));
        }
    });
}

#[test]
fn esp_tunnel_carries_traffic() {
    require_lab();
    run_tunnel_test(None);
}

#[test]
fn esp_in_udp_tunnel_carries_traffic() {
    require_lab();
    run_tunnel_test(Some(UdpEncap::ports(4500)));
}

/// Extra (beyond the four required): when ESP-in-UDP arrives from a port
/// other than the one the inbound SA expects, the kernel reports the new
/// NAT mapping; the left outbound SA is moved to source port 4501 with an
/// UPDSA on the live SA.
#[test]
fn nat_mapping_event_arrives() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let rt = runtime();
    let _nat_t = (nat_t_socket(&t.left), nat_t_socket(&t.right));
    let (left, right) = sites(&t, &rt);
    let mut events = events_in(&t.right, &rt);
    let spis = rt.block_on(program_tunnel(&left, &right, Some(UdpEncap::ports(4500))));
    let moved = UdpEncap {
        sport: 4501,
        dport: 4500,
        original_address: None,
    };
    rt.block_on(async {
        let sa = tunnel_sa(left.ip, right.ip, spis.l2r, 0x11, Some(moved));
        left.client.update_sa(&sa).await.expect("update live SA");
        let info = left.client.get_sa(&sa.id()).await.expect("get SA");
        assert_eq!(info.encap, Some(moved));
    });
    let out = ping_pods(&t, 2);
    assert!(out.contains("2 received"), "{out}");
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ev = tokio::time::timeout_at(deadline, events.next())
                .await
                .expect("no MAPPING event in time")
                .expect("event stream ended");
            if let XfrmEvent::Mapping(m) = ev {
                assert_eq!(m.sa.spi, spis.l2r);
                assert_eq!(m.sa.dst, right.ip);
                assert_eq!(m.reqid, ReqId::owned(1).unwrap());
                assert_eq!(m.old, std::net::SocketAddr::new(left.ip, 4500));
                assert_eq!(m.new, std::net::SocketAddr::new(left.ip, 4501));
                break;
            }
        }
    });
}

#[test]
fn soft_expire_event_arrives() {
    require_lab();
    let ns = Netns::new("xsoft").expect("namespace");
    let rt = runtime();
    let client = client_in(&ns, &rt);
    let mut events = events_in(&ns, &rt);
    let mut sa = SaConfig::new(
        ip("192.0.2.1"),
        ip("192.0.2.2"),
        0xC000_0A01,
        ReqId::owned(0x77).unwrap(),
        EspTransform::aes_gcm(SecretKey::new(vec![0x33; 20])),
    );
    sa.lifetimes = Lifetimes::default();
    sa.lifetimes.soft.add_seconds = Some(2);
    sa.lifetimes.hard.add_seconds = Some(5);
    sa.mark = Some(Mark {
        value: 0x42,
        mask: 0xffff,
    });
    sa.if_id = Some(3);
    rt.block_on(async {
        client.add_sa(&sa).await.expect("add SA");
        let mut soft = None;
        let mut hard = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while hard.is_none() {
            let ev = tokio::time::timeout_at(deadline, events.next())
                .await
                .unwrap_or_else(|_| panic!("no expire events in time (soft: {soft:?})"))
                .expect("event stream ended");
            if let XfrmEvent::Expire(e) = ev {
                if e.sa.spi != sa.spi {
                    continue;
                }
                assert_eq!(e.sa.reqid, sa.reqid);
                assert_eq!(e.sa.dst, sa.dst);
                assert_eq!((e.sa.mark, e.sa.if_id), (sa.mark, sa.if_id));
                if e.hard {
                    assert!(soft.is_some(), "hard expire before soft");
                    hard = Some(e);
                } else if soft.is_none() {
                    soft = Some(e);
                }
            }
        }
        let e = client.get_sa(&sa.id()).await.unwrap_err();
        assert!(e.is_not_found(), "SA still there after hard expire: {e}");
    });
}

#[test]
fn cleanup_removes_only_owned_entries() {
    require_lab();
    let ns = Netns::new("xclean").expect("namespace");
    ns.sh(
        "ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x500 reqid 5 mode tunnel \
           aead 'rfc4106(gcm(aes))' 0x000102030405060708090a0b0c0d0e0f10111213 128 && \
         ip xfrm policy add src 10.7.0.0/16 dst 10.8.0.0/16 dir out \
           tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 5 mode tunnel",
    )
    .expect("foreign SA and policy");
    let rt = runtime();
    let a = ip("192.0.2.1");
    let b = ip("192.0.2.2");
    let reqid = ReqId::owned(2).unwrap();
    let mut sas = vec![
        SaConfig::new(
            a,
            b,
            0xC000_0101,
            reqid,
            EspTransform::aes_gcm(SecretKey::new(vec![1; 20])),
        ),
        SaConfig::new(
            a,
            b,
            0xC000_0102,
            reqid,
            EspTransform::aes_cbc(
                SecretKey::new(vec![2; 16]),
                Integrity::HmacSha256_128,
                SecretKey::new(vec![3; 32]),
            ),
        ),
        SaConfig::new(
            b,
            a,
            0xC000_0103,
            reqid,
            EspTransform::aes_cbc(
                SecretKey::new(vec![4; 32]),
                Integrity::HmacSha512_256,
                SecretKey::new(vec![5; 64]),
            ),
        ),
    ];
    sas.push(SaConfig::new(
        ip("2001:db8::1"),
        ip("2001:db8::2"),
        0xC000_0105,
        reqid,
        EspTransform::aes_gcm(SecretKey::new(vec![7; 36])),
    ));
    let mut esn = SaConfig::new(
        b,
        a,
        0xC000_0104,
        reqid,
        EspTransform::aes_gcm(SecretKey::new(vec![6; 36])),
    );
    esn.esn = true;
    esn.replay_window = 256;
    esn.mark = Some(Mark {
        value: 0x10,
        mask: 0xff,
    });
    esn.if_id = Some(7);
    esn.encap = Some(UdpEncap {
        sport: 4500,
        dport: 31000,
        original_address: Some(ip("198.51.100.9")),
    });
    esn.lifetimes.soft.bytes = Some(1 << 30);
    esn.lifetimes.hard.packets = Some(1 << 20);
    sas.push(esn);
    let tmpl = TunnelTemplate {
        src: a,
        dst: b,
        reqid,
    };
    let policies = vec![
        PolicyConfig::new(
            TrafficSelector::new(net("10.1.0.0/16"), net("10.2.0.0/16")),
            Direction::Out,
            100,
            tmpl,
        ),
        PolicyConfig::new(
            TrafficSelector::new(net("10.2.0.0/16"), net("10.1.0.0/16")),
            Direction::In,
            100,
            TunnelTemplate {
                src: b,
                dst: a,
                reqid,
            },
        ),
        PolicyConfig::new(
            TrafficSelector::new(net("10.2.0.0/16"), net("10.1.0.0/16")),
            Direction::Fwd,
            100,
            TunnelTemplate {
                src: b,
                dst: a,
                reqid,
            },
        ),
        PolicyConfig::new(
            TrafficSelector::new(net("fd01::/64"), net("fd02::/64")),
            Direction::Out,
            100,
            TunnelTemplate {
                src: ip("2001:db8::1"),
                dst: ip("2001:db8::2"),
                reqid,
            },
        ),
    ];
    {
        let client = client_in(&ns, &rt);
        rt.block_on(async {
            for sa in &sas {
                client.add_sa(sa).await.expect("add owned SA");
            }
            for p in &policies {
                client.add_policy(p).await.expect("add owned policy");
            }
            // What the kernel reports back matches what was asked.
            let gcm = client.get_sa(&sas[0].id()).await.unwrap();
            assert_eq!(gcm.algorithms.len(), 1);
            assert_eq!(gcm.algorithms[0].name, "rfc4106(gcm(aes))");
            assert_eq!(gcm.algorithms[0].key_bits, 160);
            assert_eq!(gcm.algorithms[0].icv_bits, Some(128));
            for (sa, trunc, name) in [
                (&sas[1], 128, "hmac(sha256)"),
                (&sas[2], 256, "hmac(sha512)"),
            ] {
                let info = client.get_sa(&sa.id()).await.unwrap();
                let integ = info
                    .algorithms
                    .iter()
                    .find(|a| a.role == AlgorithmRole::Integrity)
                    .expect("integrity algorithm");
                assert_eq!(integ.name, name);
                assert_eq!(integ.icv_bits, Some(trunc));
                assert!(info
                    .algorithms
                    .iter()
                    .any(|a| a.role == AlgorithmRole::Encryption && a.name == "cbc(aes)"));
            }
            let v6 = client.get_sa(&sas[3].id()).await.unwrap();
            assert_eq!((v6.src, v6.dst), (sas[3].src, sas[3].dst));
            let e = client.get_sa(&sas[4].id()).await.unwrap();
            assert!(e.esn);
            assert_eq!(e.replay_window, 256);
            assert_eq!(e.mark, sas[4].mark);
            assert_eq!(e.if_id, Some(7));
            assert_eq!(e.encap, sas[4].encap);
            assert_eq!(e.lifetimes, sas[4].lifetimes);
            // Adding the same SA again is a typed "exists" error.
            let dup = client.add_sa(&sas[0]).await.unwrap_err();
            assert!(matches!(dup, XfrmError::AlreadyExists { .. }), "{dup}");
        });
    }
    let text = ns.sh("ip xfrm state").unwrap();
    assert!(text.contains("auth-trunc hmac(sha256)"), "{text}");
    assert!(text.contains("auth-trunc hmac(sha512)"), "{text}");

    // A restarted engine: a fresh client finds its own entries and removes
    // exactly those.
    let client = client_in(&ns, &rt);
    rt.block_on(async {
        assert_eq!(client.list_owned_sas().await.unwrap().len(), 5);
        assert_eq!(client.list_owned_policies().await.unwrap().len(), 4);
        assert_eq!(client.list_sas().await.unwrap().len(), 6);
        assert_eq!(client.list_policies().await.unwrap().len(), 5);
        let report = client.cleanup_owned().await.expect("cleanup");
        assert_eq!((report.sas_removed, report.policies_removed), (5, 4));
        let left_sas = client.list_sas().await.unwrap();
        assert_eq!(left_sas.len(), 1, "{left_sas:#?}");
        assert_eq!(left_sas[0].spi, 0x500);
        assert_eq!(left_sas[0].reqid, ReqId::from_raw(5));
        let left_pols = client.list_policies().await.unwrap();
        assert_eq!(left_pols.len(), 1, "{left_pols:#?}");
        assert!(!left_pols[0].is_owned());
        // A second cleanup finds nothing of ours.
        assert_eq!(client.cleanup_owned().await.unwrap(), Default::default());
    });
    let state = ns.sh("ip xfrm state").unwrap();
    assert!(
        state.contains("spi 0x00000500 reqid 5 mode tunnel"),
        "{state}"
    );
    assert_eq!(state.matches("proto esp").count(), 1, "{state}");
    let pol = ns.sh("ip xfrm policy").unwrap();
    assert!(pol.contains("src 10.7.0.0/16 dst 10.8.0.0/16"), "{pol}");
    assert!(
        !pol.contains("10.1.0.0/16") && !pol.contains("fd01::"),
        "{pol}"
    );
}

/// Issue 13, item 11: an inbound SA whose SPI is already in the kernel
/// (kept from an earlier run, or another program's) must not be taken
/// over. Before, the engine's install fell back from NEWSA to UPDSA on
/// "exists": the kernel applied our lifetimes and encapsulation to the
/// kept SA but kept its keys, the install "succeeded", inbound packets on
/// the new Child SA met the old keys, and deleting the Child SA later
/// would have removed the kept SA. Now the install fails (the core asks
/// for the Child SA again, with another SPI) and the kept SA is untouched.
#[test]
fn inbound_spi_collision_keeps_the_existing_sa() {
    use cable_engine::manager::core::KernelOp;
    use cable_engine::manager::kernel::Kernel;
    require_lab();
    let ns = Netns::new("xspi").expect("namespace");
    let kept_key = "11".repeat(36);
    ns.sh(&format!(
        "ip xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0xc0000123 reqid 9 mode tunnel \
           aead 'rfc4106(gcm(aes))' 0x{kept_key} 128"
    ))
    .expect("the kept SA");
    let rt = runtime();
    let mut kernel = Kernel {
        x: client_in(&ns, &rt),
        leftovers: Default::default(),
    };
    let op = KernelOp::InstallChild {
        cable: "cable".into(),
        child: ike::ChildId(1),
        name: "cable-0-0".into(),
        inbound: Box::new(tunnel_sa(
            ip("192.0.2.2"),
            ip("192.0.2.1"),
            0xc000_0123,
            0x22,
            None,
        )),
        reserved: false,
        outbound: None,
        policies: Vec::new(),
        encapsulation: ike::Encapsulation::None,
    };
    let result = rt.block_on(kernel.execute(&op));
    let states = ns.sh("ip xfrm state").expect("ip xfrm state");
    assert!(
        states.contains(&kept_key),
        "the kept SA's key was overwritten:\n{states}"
    );
    let err = result
        .err()
        .expect("installing over a taken inbound SPI succeeded");
    assert!(err.is_already_exists(), "{err}");
}

/// Issue 13, item 11: the engine's SPI reservation (XFRM_MSG_ALLOCSPI)
/// makes larval SAs with distinct SPIs from the engine's range, owned
/// (removed by the owned-entries cleanup); a Child SA installed over a
/// reserved SPI replaces its larval SA in place, and one whose larval SA
/// the kernel already dropped is added.
#[test]
fn reserved_spis_are_replaced_by_the_child_sa() {
    use cable_engine::manager::core::KernelOp;
    use cable_engine::manager::kernel::{Done, Kernel};
    require_lab();
    let ns = Netns::new("xalloc").expect("namespace");
    let rt = runtime();
    let mut kernel = Kernel {
        x: client_in(&ns, &rt),
        leftovers: Default::default(),
    };
    let local = ip("192.0.2.1");
    let spis = match rt.block_on(kernel.execute(&KernelOp::ReserveSpis { local, count: 3 })) {
        Ok(Done::Spis(s)) => s,
        other => panic!("reserving SPIs: {:?}", other.map(|_| ())),
    };
    assert_eq!(spis.len(), 3);
    let distinct: std::collections::BTreeSet<u32> = spis.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "{spis:x?}");
    assert!(
        spis.iter().all(|s| xfrm::DEFAULT_SPI_RANGE.contains(s)),
        "{spis:x?}"
    );
    let states = ns.sh("ip xfrm state").expect("ip xfrm state");
    for spi in &spis {
        assert!(
            states.contains(&format!("spi {spi:#010x}")),
            "{spi:#x}:\n{states}"
        );
    }
    let install = |spi: u32, key: u8| KernelOp::InstallChild {
        cable: "cable".into(),
        child: ike::ChildId(spi),
        name: "cable-0-0".into(),
        inbound: Box::new(tunnel_sa(ip("192.0.2.2"), local, spi, key, None)),
        reserved: true,
        outbound: None,
        policies: Vec::new(),
        encapsulation: ike::Encapsulation::None,
    };
    rt.block_on(kernel.execute(&install(spis[0], 0x31)))
        .expect("install over a reserved SPI");
    // The kernel dropped this one's larval SA (as after 30 s unused).
    ns.sh(&format!(
        "ip xfrm state delete src 0.0.0.0 dst {local} proto esp spi {:#x}",
        spis[1]
    ))
    .expect("drop the larval SA");
    rt.block_on(kernel.execute(&install(spis[1], 0x32)))
        .expect("install after the larval SA expired");
    let states = ns.sh("ip xfrm state").expect("ip xfrm state");
    let blocks: Vec<&str> = states.split("src ").filter(|b| !b.is_empty()).collect();
    let with = |spi: u32| -> Vec<&str> {
        blocks
            .iter()
            .copied()
            .filter(|b| b.contains(&format!("spi {spi:#010x}")))
            .collect()
    };
    for (spi, key) in [(spis[0], "31"), (spis[1], "32")] {
        let b = with(spi);
        assert_eq!(b.len(), 1, "one SA under {spi:#x}:\n{states}");
        assert!(b[0].starts_with("192.0.2.2 "), "{}", b[0]);
        assert!(b[0].contains(&format!("0x{}", key.repeat(36))), "{}", b[0]);
    }
    assert_eq!(
        with(spis[2]).len(),
        1,
        "the unused reservation stays:\n{states}"
    );
    let report = rt
        .block_on(kernel.x.cleanup_owned())
        .expect("cleanup of owned entries");
    let left = ns.sh("ip xfrm state").expect("ip xfrm state");
    assert!(left.trim().is_empty(), "{report:?}:\n{left}");
}
