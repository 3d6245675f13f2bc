//! The IKE/NAT-T UDP socket.
//!
//! One socket per local IKE port (Submariner runs IKE on the NAT-T port, 4500
//! by default, from the first message). It is marked `UDP_ENCAP_ESPINUDP`, so
//! the kernel decapsulates ESP-in-UDP arriving on it and only IKE (behind the
//! 4-byte non-ESP marker) and NAT keepalives reach us, and it carries
//! per-socket bypass policies so IKE itself is never caught by the tunnels'
//! XFRM policies.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;

use ike::wire::{classify_natt, with_non_esp_marker, NattDatagram};
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
        Ok(IkeSocket {
            port,
            socket: UdpSocket::from_std(std)?,
        })
    }

    /// The local port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Receive one datagram.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf).await
    }

    /// Send an IKE message, with the non-ESP marker when asked.
    pub async fn send(
        &self,
        to: SocketAddr,
        message: &[u8],
        non_esp_marker: bool,
    ) -> io::Result<()> {
        if non_esp_marker {
            self.socket
                .send_to(&with_non_esp_marker(message), to)
                .await?;
        } else {
            self.socket.send_to(message, to).await?;
        }
        Ok(())
    }

    /// Send a NAT keepalive (one 0xFF byte).
    pub async fn send_keepalive(&self, to: SocketAddr) -> io::Result<()> {
        self.socket.send_to(&[0xff], to).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
