//! Kernel policies from the traffic selectors a Child SA actually
//! negotiated. A responder may narrow what was proposed (RFC 7296 2.9), so
//! the pair's planned subnets can be wider than what the peer accepts:
//! policies for the planned subnets would send traffic the peer drops.
//!
//! IKE selectors are address and port *ranges*; the kernel's are prefixes
//! and masked ports. Each range is cut into the fewest prefixes (or port
//! masks) that cover it exactly, and every combination becomes one
//! out/in/fwd triple. A Child SA whose selectors need more than
//! [`MAX_POLICIES`] kernel policies is refused rather than installed in
//! part.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ike::wire::TsRange;
use ipnetwork::IpNetwork;
use xfrm::{Direction, PolicyConfig, PortMatch, ReqId, TrafficSelector, TunnelTemplate};

use super::ops::priority;

/// The most kernel policies (out, in and fwd counted) one Child SA may
/// need. Submariner's selectors (whole CIDRs, any protocol and port) need
/// three.
pub const MAX_POLICIES: usize = 96;

/// The blocks `(first, prefix length)` that cover `first..=last` exactly in
/// a `bits`-wide space, fewest first to last.
fn blocks(first: u128, last: u128, bits: u32) -> Vec<(u128, u32)> {
    let ones = |k: u32| {
        if k >= 128 {
            u128::MAX
        } else {
            (1u128 << k) - 1
        }
    };
    let mut out = Vec::new();
    let mut cur = first;
    loop {
        // The largest block aligned at `cur` that ends at or before `last`.
        let mut k = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while k > 0 && (cur | ones(k)) > last {
            k -= 1;
        }
        let end = cur | ones(k);
        out.push((cur, bits - k));
        if end >= last {
            return out;
        }
        cur = end + 1;
    }
}

/// The prefixes covering a selector's address range exactly.
fn prefixes(r: &TsRange) -> Result<Vec<IpNetwork>, String> {
    let bad = || format!("bad traffic selector {}-{}", r.start, r.end);
    let (first, last, bits, v4) = match (r.start, r.end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a).into(), u32::from(b).into(), 32, true),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128, false),
        _ => return Err(bad()),
    };
    if first > last {
        return Err(bad());
    }
    blocks(first, last, bits)
        .into_iter()
        .map(|(start, len)| {
            let ip = if v4 {
                IpAddr::V4(Ipv4Addr::from(start as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(start))
            };
            IpNetwork::new(ip, len as u8).map_err(|_| bad())
        })
        .collect()
}

/// The port matches covering a selector's port range exactly (`None`:
/// every port).
fn ports(r: &TsRange) -> Result<Vec<Option<PortMatch>>, String> {
    if r.start_port > r.end_port {
        return Err(format!(
            "bad traffic selector ports {}-{}",
            r.start_port, r.end_port
        ));
    }
    if (r.start_port, r.end_port) == (0, u16::MAX) {
        return Ok(vec![None]);
    }
    Ok(blocks(r.start_port.into(), r.end_port.into(), 16)
        .into_iter()
        .map(|(port, len)| {
            Some(PortMatch {
                port: port as u16,
                mask: (u32::from(u16::MAX) << (16 - len)) as u16,
            })
        })
        .collect())
}

/// The out/in/fwd policies for the negotiated selectors `local` (ours) and
/// `remote` (the peer's), tunnelling between `local_addr` and
/// `remote_addr`. An error (the selectors are malformed, of different
/// families, or need more than [`MAX_POLICIES`] policies) says why.
pub fn negotiated_policies(
    local: &[TsRange],
    remote: &[TsRange],
    local_addr: IpAddr,
    remote_addr: IpAddr,
    reqid: ReqId,
) -> Result<Vec<PolicyConfig>, String> {
    let mut out = Vec::new();
    for l in local {
        for r in remote {
            if l.start.is_ipv4() != r.start.is_ipv4() {
                continue;
            }
            let proto = match (l.ip_protocol, r.ip_protocol) {
                (0, p) | (p, 0) => p,
                (p, q) if p == q => p,
                _ => continue,
            };
            let (lnets, rnets) = (prefixes(l)?, prefixes(r)?);
            let (lports, rports) = (ports(l)?, ports(r)?);
            let n = lnets.len() * rnets.len() * lports.len() * rports.len() * 3;
            if out.len() + n > MAX_POLICIES {
                return Err(format!(
                    "the negotiated traffic selectors need more than {MAX_POLICIES} kernel policies"
                ));
            }
            for ln in &lnets {
                for rn in &rnets {
                    let prio = priority(ln, rn);
                    for lp in &lports {
                        for rp in &rports {
                            let sel = |src, dst, sport, dport| TrafficSelector {
                                src,
                                dst,
                                proto: (proto != 0).then_some(proto),
                                sport,
                                dport,
                            };
                            let tmpl = |src, dst| TunnelTemplate { src, dst, reqid };
                            out.push(PolicyConfig::new(
                                sel(*ln, *rn, *lp, *rp),
                                Direction::Out,
                                prio,
                                tmpl(local_addr, remote_addr),
                            ));
                            for dir in [Direction::In, Direction::Fwd] {
                                out.push(PolicyConfig::new(
                                    sel(*rn, *ln, *rp, *lp),
                                    dir,
                                    prio,
                                    tmpl(remote_addr, local_addr),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err("the negotiated traffic selectors have no usable pair".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(a: &str, b: &str) -> TsRange {
        TsRange {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: a.parse().unwrap(),
            end: b.parse().unwrap(),
        }
    }

    fn nets(v: &[IpNetwork]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_cidr_range_is_one_prefix() {
        let r = range("10.2.0.0", "10.2.255.255");
        assert_eq!(nets(&prefixes(&r).unwrap()), ["10.2.0.0/16"]);
        let all = range("0.0.0.0", "255.255.255.255");
        assert_eq!(nets(&prefixes(&all).unwrap()), ["0.0.0.0/0"]);
        let v6 = range("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        assert_eq!(nets(&prefixes(&v6).unwrap()), ["::/0"]);
        let host = range("fd00::5", "fd00::5");
        assert_eq!(nets(&prefixes(&host).unwrap()), ["fd00::5/128"]);
    }

    #[test]
    fn an_odd_range_is_cut_into_exact_prefixes() {
        let r = range("10.0.0.1", "10.0.0.6");
        assert_eq!(
            nets(&prefixes(&r).unwrap()),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert!(prefixes(&range("10.0.0.6", "10.0.0.1")).is_err());
        assert!(prefixes(&range("10.0.0.1", "fd00::1")).is_err());
    }

    #[test]
    fn port_ranges_become_masks() {
        let mut r = range("10.0.0.0", "10.0.0.255");
        assert_eq!(ports(&r).unwrap(), [None]);
        r.start_port = 8080;
        r.end_port = 8087;
        assert_eq!(
            ports(&r).unwrap(),
            [Some(PortMatch {
                port: 8080,
                mask: 0xfff8
            })]
        );
        r.end_port = 8080;
        assert_eq!(
            ports(&r).unwrap(),
            [Some(PortMatch {
                port: 8080,
                mask: 0xffff
            })]
        );
        r.start_port = 1;
        r.end_port = u16::MAX;
        assert_eq!(ports(&r).unwrap().len(), 16);
    }

    #[test]
    fn narrowed_selectors_give_narrow_policies() {
        let local = [range("10.1.0.0", "10.1.255.255")];
        let remote = [range("10.2.1.0", "10.2.1.255")];
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let p = negotiated_policies(&local, &remote, a, b, ReqId::from_raw(7)).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].direction, Direction::Out);
        assert_eq!(p[0].selector.dst.to_string(), "10.2.1.0/24");
        assert_eq!(p[0].selector.src.to_string(), "10.1.0.0/16");
        assert_eq!(p[1].selector.src.to_string(), "10.2.1.0/24");
        assert_eq!(p[1].template.src, b);
    }

    #[test]
    fn too_many_policies_are_refused() {
        let local = [range("10.1.0.1", "10.1.255.254")];
        let remote = [range("10.2.0.1", "10.2.255.254")];
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let e = negotiated_policies(&local, &remote, a, a, ReqId::from_raw(1)).unwrap_err();
        assert!(e.contains("kernel policies"), "{e}");
        let v6 = [range("fd00::", "fd00::ff")];
        let e = negotiated_policies(&local, &v6, a, a, ReqId::from_raw(1)).unwrap_err();
        assert!(e.contains("no usable pair"), "{e}");
    }
}
