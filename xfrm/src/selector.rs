//! Address, family, selector and mark conversions between this crate's
//! types (`IpAddr`, `ipnetwork` CIDRs) and the kernel's structures.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use netlink_packet_xfrm::{Address, Selector, AF_INET, AF_INET6, AF_UNSPEC};

use crate::error::XfrmError;

/// An XFRM mark (`value`/`mask`), matched against the packet mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark {
    pub value: u32,
    pub mask: u32,
}

impl Mark {
    pub(crate) fn to_nl(self) -> netlink_packet_xfrm::Mark {
        netlink_packet_xfrm::Mark {
            value: self.value,
            mask: self.mask,
        }
    }

    pub(crate) fn from_nl(m: &netlink_packet_xfrm::Mark) -> Option<Mark> {
        (m.value != 0 || m.mask != 0).then_some(Mark {
            value: m.value,
            mask: m.mask,
        })
    }
}

/// Ports matched under a mask, as the kernel's selector has them: a port
/// `p` matches when `p & mask == port & mask` (mask 0xffff: one port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortMatch {
    pub port: u16,
    pub mask: u16,
}

/// Traffic selector: source and destination CIDRs, an optional upper
/// protocol (`None` = any) and optional source and destination ports
/// (`None` = any; only meaningful with a protocol that has ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    pub src: IpNetwork,
    pub dst: IpNetwork,
    pub proto: Option<u8>,
    pub sport: Option<PortMatch>,
    pub dport: Option<PortMatch>,
}

impl TrafficSelector {
    /// Any protocol between two CIDRs.
    pub fn new(src: IpNetwork, dst: IpNetwork) -> Self {
        TrafficSelector {
            src,
            dst,
            proto: None,
            sport: None,
            dport: None,
        }
    }

    /// The kernel selector (addresses masked to their prefix).
    pub(crate) fn to_nl(self) -> Result<Selector, XfrmError> {
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(XfrmError::InvalidInput(format!(
                "selector mixes address families: {} -> {}",
                self.src, self.dst
            )));
        }
        Ok(Selector {
            daddr: Address::from_ip(&self.dst.network()),
            saddr: Address::from_ip(&self.src.network()),
            prefixlen_d: self.dst.prefix(),
            prefixlen_s: self.src.prefix(),
            family: family_of(&self.src.ip()),
            proto: self.proto.unwrap_or(0),
            sport: self.sport.map_or(0, |p| p.port & p.mask),
            sport_mask: self.sport.map_or(0, |p| p.mask),
            dport: self.dport.map_or(0, |p| p.port & p.mask),
            dport_mask: self.dport.map_or(0, |p| p.mask),
            ..Selector::default()
        })
    }

    /// Read a kernel selector back; `None` for an AF_UNSPEC (match-all) one.
    pub(crate) fn from_nl(sel: &Selector) -> Result<Option<Self>, String> {
        if sel.family == AF_UNSPEC {
            return Ok(None);
        }
        let src = net_from(sel.family, &sel.saddr, sel.prefixlen_s)?;
        let dst = net_from(sel.family, &sel.daddr, sel.prefixlen_d)?;
        let ports = |port: u16, mask: u16| {
            (mask != 0).then_some(PortMatch {
                port: port & mask,
                mask,
            })
        };
        Ok(Some(TrafficSelector {
            src,
            dst,
            proto: (sel.proto != 0).then_some(sel.proto),
            sport: ports(sel.sport, sel.sport_mask),
            dport: ports(sel.dport, sel.dport_mask),
        }))
    }
}

/// AF_INET or AF_INET6.
pub(crate) fn family_of(ip: &IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// Refuse endpoint pairs of different families.
pub(crate) fn same_family(a: &IpAddr, b: &IpAddr, what: &str) -> Result<u16, XfrmError> {
    if a.is_ipv4() != b.is_ipv4() {
        return Err(XfrmError::InvalidInput(format!(
            "{what} mixes address families: {a} and {b}"
        )));
    }
    Ok(family_of(a))
}

/// Decode an xfrm_address_t of the given family.
pub(crate) fn ip_from(family: u16, addr: &Address) -> Result<IpAddr, String> {
    match family {
        AF_INET => Ok(IpAddr::V4(addr.to_ipv4())),
        AF_INET6 => Ok(IpAddr::V6(addr.to_ipv6())),
        other => Err(format!("unexpected address family {other}")),
    }
}

fn net_from(family: u16, addr: &Address, prefix: u8) -> Result<IpNetwork, String> {
    let ip = ip_from(family, addr)?;
    IpNetwork::new(ip, prefix).map_err(|e| format!("bad selector prefix {ip}/{prefix}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_round_trip_and_masking() {
        let sel = TrafficSelector::new(
            "10.1.2.3/16".parse().unwrap(),
            "fd00::1/64".parse().unwrap(),
        );
        assert!(sel.to_nl().is_err(), "mixed families must be refused");

        let sel = TrafficSelector::new(
            "10.1.2.3/16".parse().unwrap(),
            "10.2.0.0/24".parse().unwrap(),
        );
        let nl = sel.to_nl().unwrap();
        assert_eq!(nl.family, AF_INET);
        assert_eq!(&nl.saddr.addr[..4], &[10, 1, 0, 0]);
        assert_eq!(nl.prefixlen_s, 16);
        assert_eq!(nl.prefixlen_d, 24);
        let back = TrafficSelector::from_nl(&nl).unwrap().unwrap();
        assert_eq!(back.src, "10.1.0.0/16".parse().unwrap());
        assert_eq!(back.dst, sel.dst);

        let v6 = TrafficSelector::new("fd01::/48".parse().unwrap(), "fd02::/48".parse().unwrap());
        let nl6 = v6.to_nl().unwrap();
        assert_eq!(nl6.family, AF_INET6);
        assert_eq!(TrafficSelector::from_nl(&nl6).unwrap().unwrap(), v6);
    }

    #[test]
    fn ports_round_trip_masked() {
        let mut sel = TrafficSelector::new(
            "10.1.0.0/16".parse().unwrap(),
            "10.2.0.0/16".parse().unwrap(),
        );
        sel.proto = Some(6);
        sel.dport = Some(PortMatch {
            port: 8081,
            mask: 0xfff0,
        });
        let nl = sel.to_nl().unwrap();
        assert_eq!((nl.proto, nl.dport, nl.dport_mask), (6, 8080, 0xfff0));
        assert_eq!((nl.sport, nl.sport_mask), (0, 0));
        let back = TrafficSelector::from_nl(&nl).unwrap().unwrap();
        assert_eq!(
            back.dport,
            Some(PortMatch {
                port: 8080,
                mask: 0xfff0
            })
        );
        assert_eq!(back.sport, None);
    }

    #[test]
    fn bad_kernel_selector_is_an_error() {
        let sel = Selector {
            family: AF_INET,
            prefixlen_s: 99,
            ..Selector::default()
        };
        assert!(TrafficSelector::from_nl(&sel).is_err());
        let unspec = Selector::default();
        assert_eq!(TrafficSelector::from_nl(&unspec).unwrap(), None);
    }
}
