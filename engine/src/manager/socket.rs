//! The IKE/NAT-T UDP socket.
//!
//! One socket per local IKE port (Submariner runs IKE on the NAT-T port, 4500
//! by default, from the first message). It is marked `UDP_ENCAP_ESPINUDP`, so
//! the kernel decapsulates ESP-in-UDP arriving on it and only IKE (behind the
//! 4-byte non-ESP marker) and NAT keepalives reach us, and it carries
//! per-socket bypass policies so IKE itself is never caught by the tunnels'
//! XFRM policies.
//!
//! There is one socket per IP family (the IPv6 one `IPV6_V6ONLY`), each
//! bound to every address of its family; the packet info (`IP_PKTINFO`,
//! `IPV6_RECVPKTINFO`) tells which local address each datagram came to, and
//! sets the source address of each one sent, so on a node with several
//! addresses IKE (and the SAs it makes) use the address the peer actually
//! talks to, not one guessed from the plans.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;

use ike::wire::{classify_natt, with_non_esp_marker, NattDatagram};
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrStorage,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// `UDP_ENCAP` socket option (linux/udp.h).
const UDP_ENCAP: libc::c_int = 100;
/// `UDP_ENCAP_ESPINUDP` (RFC 3948 framing with the non-ESP marker).
const UDP_ENCAP_ESPINUDP: libc::c_int = 2;

/// What arrived on the socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// An IKE message, the non-ESP marker already stripped.
    Ike(&'a [u8]),
    /// A NAT keepalive (one 0xFF byte).
    Keepalive,
    /// Something that is not IKE (ESP the kernel did not take, or garbage).
    Other(&'static str),
}

/// Classify a datagram read from the NAT-T socket.
pub fn classify(datagram: &[u8]) -> Received<'_> {
    match classify_natt(datagram) {
        Ok(NattDatagram::Ike(m)) => Received::Ike(m),
        Ok(NattDatagram::Keepalive) => Received::Keepalive,
        Ok(NattDatagram::Esp(_)) => Received::Other("ESP-in-UDP not taken by the kernel"),
        Err(_) => Received::Other("too short for IKE or ESP"),
    }
}

/// The IKE sockets of one UDP port: IPv4 on every address, and IPv6 on
/// every address when the host has IPv6.
#[derive(Debug)]
pub struct IkeSocket {
    port: u16,
    v4: UdpSocket,
    /// The IPv6 socket, or why there is none (IPv6 cables then fail with
    /// that reason; IPv4 ones are not affected).
    v6: Result<UdpSocket, String>,
}

impl IkeSocket {
    /// Bind `0.0.0.0:port` and `[::]:port` (IPv6 only), enable ESP-in-UDP
    /// decapsulation and bypass the IPsec policies on each. Needs
    /// CAP_NET_ADMIN (and CAP_NET_BIND_SERVICE below 1024). The IPv4 socket
    /// must work; an IPv6 one that cannot be made (IPv6 disabled, a kernel
    /// without ESP-in-UDP over IPv6) is logged and left out.
    pub fn bind(port: u16) -> io::Result<Self> {
        let v4 = UdpSocket::from_std(bind_one(port, false)?)?;
        let v6 = match bind_one(port, true).and_then(UdpSocket::from_std) {
            Ok(s) => Ok(s),
            Err(e) => {
                tracing::warn!("no IPv6 IKE socket on port {port}, IPv6 cables cannot work: {e}");
                Err(e.to_string())
            }
        };
        Ok(IkeSocket { port, v4, v6 })
    }

    /// The local port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether IPv6 IKE is available.
    pub fn has_v6(&self) -> bool {
        self.v6.is_ok()
    }

    /// The socket of `to`'s family.
    fn for_peer(&self, to: &SocketAddr) -> io::Result<&UdpSocket> {
        match (to, &self.v6) {
            (SocketAddr::V4(_), _) => Ok(&self.v4),
            (SocketAddr::V6(_), Ok(s)) => Ok(s),
            (SocketAddr::V6(_), Err(why)) => Err(io::Error::other(format!(
                "{to}: no IPv6 IKE socket ({why})"
            ))),
        }
    }

    /// Receive one datagram from either family: its length, sender, and
    /// the local address it came to (`None` if the kernel did not say).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
        let Ok(v6) = &self.v6 else {
            return self
                .v4
                .async_io(Interest::READABLE, || recv_with_local(&self.v4, buf))
                .await;
        };
        loop {
            let socket = tokio::select! {
                r = self.v4.readable() => { r?; &self.v4 }
                r = v6.readable() => { r?; v6 }
            };
            match socket.try_io(Interest::READABLE, || recv_with_local(socket, buf)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    /// Send an IKE message from `local` (unless unspecified), with the
    /// non-ESP marker when asked.
    pub async fn send(
        &self,
        to: SocketAddr,
        local: Option<IpAddr>,
        message: &[u8],
        non_esp_marker: bool,
    ) -> io::Result<()> {
        let framed;
        let bytes = if non_esp_marker {
            framed = with_non_esp_marker(message);
            &framed[..]
        } else {
            message
        };
        let socket = self.for_peer(&to)?;
        socket
            .async_io(Interest::WRITABLE, || send_from(socket, to, local, bytes))
            .await
    }

    /// Send a NAT keepalive (one 0xFF byte).
    pub async fn send_keepalive(&self, to: SocketAddr) -> io::Result<()> {
        self.for_peer(&to)?.send_to(&[0xff], to).await.map(|_| ())
    }
}

/// One non-blocking UDP socket on `port` of every address of one family
/// (IPv6 only for `v6`), with ESP-in-UDP decapsulation, the bypass
/// policies and the local-address option.
fn bind_one(port: u16, v6: bool) -> io::Result<std::net::UdpSocket> {
    let (domain, any) = if v6 {
        (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    } else {
        (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    };
    let family = if v6 { "IPv6" } else { "IPv4" };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if v6 {
        socket.set_only_v6(true)?;
    }
    socket.bind(&SocketAddr::new(any, port).into())?;
    socket.set_nonblocking(true)?;
    let std: std::net::UdpSocket = socket.into();
    let value: libc::c_int = UDP_ENCAP_ESPINUDP;
    // SAFETY: a valid socket descriptor and a c_int option value of the
    // size passed.
    let rc = unsafe {
        libc::setsockopt(
            std.as_raw_fd(),
            libc::SOL_UDP,
            UDP_ENCAP,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "setting UDP_ENCAP_ESPINUDP on {family} port {port}: {e} (kernel without ESP-in-UDP?)"
            ),
        ));
    }
    xfrm::bypass_socket(std.as_fd())
        .map_err(|e| io::Error::other(format!("{family} IKE socket bypass policy: {e}")))?;
    enable_pktinfo(&std, v6)?;
    Ok(std)
}

/// Ask the kernel for each datagram's local address (`IP_PKTINFO`, or
/// `IPV6_RECVPKTINFO` on an IPv6 socket).
fn enable_pktinfo(socket: &impl AsFd, v6: bool) -> io::Result<()> {
    if v6 {
        setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(|e| io::Error::other(format!("IPV6_RECVPKTINFO: {e}")))
    } else {
        setsockopt(socket, sockopt::Ipv4PacketInfo, &true)
            .map_err(|e| io::Error::other(format!("IP_PKTINFO: {e}")))
    }
}

/// One `recvmsg`: length, sender and the local address from the packet
/// info of either family.
fn recv_with_local(
    socket: &impl AsRawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let from = msg
        .address
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|a| SocketAddr::V4(SocketAddrV4::new(a.ip(), a.port())))
                .or_else(|| {
                    a.as_sockaddr_in6()
                        .map(|a| SocketAddr::V6(SocketAddrV6::new(a.ip(), a.port(), 0, 0)))
                })
        })
        .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
    let mut local = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                local = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    info.ipi_addr.s_addr,
                ))));
            }
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                local = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            }
            _ => {}
        }
    }
    Ok((msg.bytes, from, local))
}

/// One `sendmsg` to `to`, from `local` when it is a specific address of
/// `to`'s family.
fn send_from(
    socket: &impl AsRawFd,
    to: SocketAddr,
    local: Option<IpAddr>,
    bytes: &[u8],
) -> io::Result<()> {
    let iov = [IoSlice::new(bytes)];
    let send = |cmsgs: &[ControlMessage], dest: &SockaddrStorage| {
        sendmsg(
            socket.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::empty(),
            Some(dest),
        )
        .map(|_| ())
        .map_err(io::Error::from)
    };
    let dest = SockaddrStorage::from(to);
    match (to, local) {
        (SocketAddr::V4(_), Some(IpAddr::V4(a))) if !a.is_unspecified() => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(a).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            send(&[ControlMessage::Ipv4PacketInfo(&info)], &dest)
        }
        (SocketAddr::V6(_), Some(IpAddr::V6(a))) if !a.is_unspecified() => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                ipi6_ifindex: 0,
            };
            send(&[ControlMessage::Ipv6PacketInfo(&info)], &dest)
        }
        _ => send(&[], &dest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10, fault 6: the local address was guessed from the plans.
    /// The socket (bound to every address) now reports the address each
    /// datagram came to and sends from the one asked for: on loopback,
    /// 127.0.0.2 and 127.0.0.3 are both ours.
    #[test]
    fn local_address_is_observed_on_receive_and_chosen_on_send() {
        let any = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        enable_pktinfo(&any, false).unwrap();
        let port = any.local_addr().unwrap().port();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for local in ["127.0.0.2", "127.0.0.3"] {
            peer.send_to(b"hello", (local, port)).unwrap();
            let mut buf = [0u8; 64];
            let (n, from, seen) = recv_with_local(&any, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"hello");
            assert_eq!(from, peer.local_addr().unwrap());
            assert_eq!(seen, Some(local.parse().unwrap()));
            // The answer leaves from the address the request came to.
            send_from(&any, from, seen, b"answer").unwrap();
            let (n, src) = peer.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"answer");
            assert_eq!(src, SocketAddr::new(local.parse().unwrap(), port));
        }
    }

    /// Issue 12: the same on an IPv6-only socket (`IPV6_RECVPKTINFO`):
    /// the sender and the local address are IPv6, and the answer leaves
    /// from the address asked for.
    #[test]
    fn ipv6_local_address_is_observed_on_receive_and_chosen_on_send() {
        let any = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        any.set_only_v6(true).unwrap();
        any.bind(&SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).into())
            .unwrap();
        let any: std::net::UdpSocket = any.into();
        enable_pktinfo(&any, true).unwrap();
        let port = any.local_addr().unwrap().port();
        let peer = std::net::UdpSocket::bind("[::1]:0").unwrap();
        peer.send_to(b"hello", ("::1", port)).unwrap();
        let mut buf = [0u8; 64];
        let (n, from, seen) = recv_with_local(&any, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, peer.local_addr().unwrap());
        assert_eq!(seen, Some("::1".parse().unwrap()));
        send_from(&any, from, seen, b"answer").unwrap();
        let (n, src) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"answer");
        assert_eq!(src, SocketAddr::new("::1".parse().unwrap(), port));
    }

    #[test]
    fn classifies_natt_datagrams() {
        assert_eq!(classify(&[0xff]), Received::Keepalive);
        let mut ike = vec![0, 0, 0, 0];
        ike.extend_from_slice(&[1; 28]);
        assert_eq!(classify(&ike), Received::Ike(&[1; 28]));
        assert!(matches!(classify(&[0, 0]), Received::Other(_)));
        assert!(matches!(
            classify(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Received::Other(_)
        ));
    }
}
