//! IKE identities, as the libreswan driver configures them.
//!
//! - Default (bidirectional) mode: both IDs are IP-address IDs
//!   (`ID_IPV4_ADDR`) of the **private** IPs, even when the peer is reached on
//!   its public IP.
//! - Preferred-server mode (server or client): FQDN IDs per subnet pair,
//!   `@<localPrivateIP>-<i>-<j>` for the local side and
//!   `@<remotePrivateIP>-<j>-<i>` for the remote side. The `@` is libreswan's
//!   syntax for "this is an FQDN"; it is **not** part of the ID payload, which
//!   carries `10.0.0.1-0-1`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IKEv2 identity (RFC 7296 3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IkeId {
    /// `ID_IPV4_ADDR` (type 1).
    Ipv4(Ipv4Addr),
    /// `ID_IPV6_ADDR` (type 5).
    Ipv6(Ipv6Addr),
    /// `ID_FQDN` (type 2), without libreswan's leading `@`.
    Fqdn(String),
}

impl IkeId {
    /// `ID_IPV4_ADDR`.
    pub const TYPE_IPV4_ADDR: u8 = 1;
    /// `ID_FQDN`.
    pub const TYPE_FQDN: u8 = 2;
    /// `ID_IPV6_ADDR`.
    pub const TYPE_IPV6_ADDR: u8 = 5;

    /// The IP-address ID of `ip`.
    pub fn address(ip: IpAddr) -> IkeId {
        match ip {
            IpAddr::V4(a) => IkeId::Ipv4(a),
            IpAddr::V6(a) => IkeId::Ipv6(a),
        }
    }

    /// The preferred-server FQDN ID `<ip>-<a>-<b>`.
    pub fn pair_fqdn(ip: IpAddr, a: usize, b: usize) -> IkeId {
        IkeId::Fqdn(format!("{ip}-{a}-{b}"))
    }

    /// The ID payload's "ID Type".
    pub fn payload_type(&self) -> u8 {
        match self {
            IkeId::Ipv4(_) => Self::TYPE_IPV4_ADDR,
            IkeId::Ipv6(_) => Self::TYPE_IPV6_ADDR,
            IkeId::Fqdn(_) => Self::TYPE_FQDN,
        }
    }

    /// The ID payload's "Identification Data".
    pub fn payload_data(&self) -> Vec<u8> {
        match self {
            IkeId::Ipv4(a) => a.octets().to_vec(),
            IkeId::Ipv6(a) => a.octets().to_vec(),
            IkeId::Fqdn(s) => s.as_bytes().to_vec(),
        }
    }
}

impl fmt::Display for IkeId {
    /// libreswan's notation: `10.0.0.1`, `@10.0.0.1-0-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IkeId::Ipv4(a) => write!(f, "{a}"),
            IkeId::Ipv6(a) => write!(f, "{a}"),
            IkeId::Fqdn(s) => write!(f, "@{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_ids() {
        let id = IkeId::address("172.18.0.5".parse().unwrap());
        assert_eq!(id, IkeId::Ipv4(Ipv4Addr::new(172, 18, 0, 5)));
        assert_eq!(id.payload_type(), 1);
        assert_eq!(id.payload_data(), [172, 18, 0, 5]);
        assert_eq!(id.to_string(), "172.18.0.5");
        let v6 = IkeId::address("fd00::5".parse().unwrap());
        assert_eq!(v6.payload_type(), 5);
        assert_eq!(v6.payload_data().len(), 16);
    }

    #[test]
    fn fqdn_ids_have_no_at_sign_on_the_wire() {
        let id = IkeId::pair_fqdn("172.18.0.5".parse().unwrap(), 1, 0);
        assert_eq!(id.to_string(), "@172.18.0.5-1-0");
        assert_eq!(id.payload_type(), 2);
        assert_eq!(id.payload_data(), b"172.18.0.5-1-0");
    }
}
