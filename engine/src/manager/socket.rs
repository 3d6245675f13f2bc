//! The IKE/NAT-T UDP socket.
//!
//! One socket per local IKE port (Submariner runs IKE on the NAT-T port, 4500
//! by default, from the first message). It is marked `UDP_ENCAP_ESPINUDP`, so
//! the kernel decapsulates ESP-in-UDP arriving on it and only IKE (behind the
//! 4-byte non-ESP marker) and NAT keepalives reach us, and it carries
//! per-socket bypass policies so IKE itself is never caught by the tunnels'
//! XFRM policies.
//!
//! The socket is bound to every address; `IP_PKTINFO` tells which local
//! address each datagram came to, and sets the source address of each one
//! sent, so on a node with several addresses IKE (and the SAs it makes)
//! use the address the peer actually talks to, not one guessed from the
//! plans.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;

use ike::wire::{classify_natt, with_non_esp_marker, NattDatagram};
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrIn,
};
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

/// The IKE socket bound to one UDP port on all IPv4 addresses.
#[derive(Debug)]
pub struct IkeSocket {
    port: u16,
    socket: UdpSocket,
}

impl IkeSocket {
    /// Bind `0.0.0.0:port`, enable ESP-in-UDP decapsulation and bypass the
    /// IPsec policies. Needs CAP_NET_ADMIN (and CAP_NET_BIND_SERVICE below 1024).
    pub fn bind(port: u16) -> io::Result<Self> {
        let std = std::net::UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
        std.set_nonblocking(true)?;
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
                    "setting UDP_ENCAP_ESPINUDP on port {port}: {e} (kernel without ESP-in-UDP?)"
                ),
            ));
        }
        xfrm::bypass_socket(std.as_fd())
            .map_err(|e| io::Error::other(format!("IKE socket bypass policy: {e}")))?;
        enable_pktinfo(&std)?;
        Ok(IkeSocket {
            port,
            socket: UdpSocket::from_std(std)?,
        })
    }

    /// The local port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Receive one datagram: its length, sender, and the local address it
    /// came to (`None` if the kernel did not say).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
        self.socket
            .async_io(Interest::READABLE, || recv_with_local(&self.socket, buf))
            .await
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
        self.socket
            .async_io(Interest::WRITABLE, || {
                send_from(&self.socket, to, local, bytes)
            })
            .await
    }

    /// Send a NAT keepalive (one 0xFF byte).
    pub async fn send_keepalive(&self, to: SocketAddr) -> io::Result<()> {
        self.socket.send_to(&[0xff], to).await.map(|_| ())
    }
}

/// Ask the kernel for each datagram's local address (`IP_PKTINFO`).
fn enable_pktinfo(socket: &impl AsFd) -> io::Result<()> {
    setsockopt(socket, sockopt::Ipv4PacketInfo, &true)
        .map_err(|e| io::Error::other(format!("IP_PKTINFO: {e}")))
}

/// One `recvmsg`: length, sender and the local address from `IP_PKTINFO`.
fn recv_with_local(
    socket: &impl AsRawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let from = msg
        .address
        .map(|a| SocketAddr::V4(SocketAddrV4::new(a.ip(), a.port())))
        .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
    let mut local = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::Ipv4PacketInfo(info) = c {
            local = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                info.ipi_addr.s_addr,
            ))));
        }
    }
    Ok((msg.bytes, from, local))
}

/// One `sendmsg` to `to`, from `local` when it is a specific IPv4 address.
fn send_from(
    socket: &impl AsRawFd,
    to: SocketAddr,
    local: Option<IpAddr>,
    bytes: &[u8],
) -> io::Result<()> {
    let SocketAddr::V4(to4) = to else {
        return Err(io::Error::other(format!("{to}: the IKE socket is IPv4")));
    };
    let dest = SockaddrIn::from(to4);
    let iov = [IoSlice::new(bytes)];
    let info = match local {
        Some(IpAddr::V4(a)) if !a.is_unspecified() => Some(libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(a).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        }),
        _ => None,
    };
    let cmsgs: Vec<ControlMessage> = info.iter().map(ControlMessage::Ipv4PacketInfo).collect();
    sendmsg(
        socket.as_raw_fd(),
        &iov,
        &cmsgs,
        MsgFlags::empty(),
        Some(&dest),
    )
    .map(|_| ())
    .map_err(io::Error::from)
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
        enable_pktinfo(&any).unwrap();
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
