//! Traffic Selector payloads TSi/TSr (RFC 7296 section 3.13), and the
//! conversion between an address range and a CIDR prefix.
//!
//! ```text
//! TS payload: Number of TSs (1) | RESERVED (3) | Traffic Selectors...
//! Selector:   TS Type (1) | IP Protocol ID (1) | Selector Length (2)
//!             Start Port (2) | End Port (2) | Starting Address | Ending Address
//! ```
//! IPv4 selectors are 16 bytes long, IPv6 ones 40. Other TS types are kept
//! raw so a message carrying them still decodes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::constants::TsType;
use super::error::{Result, WireError};
use super::reader::{len_u16, len_u8, patch_u16, Reader};

const TS_HEADER_LEN: usize = 4;
const IPV4_TS_LEN: usize = 16;
const IPV6_TS_LEN: usize = 40;

/// An IPv4 or IPv6 prefix such as `10.0.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// Network address (host bits are zero when built by this crate).
    pub addr: IpAddr,
    /// Prefix length (0..=32 or 0..=128).
    pub prefix_len: u8,
}

impl Cidr {
    /// A prefix; fails when the length is too long for the family. Host
    /// bits of `addr` are cleared.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(WireError::syntax(
                "prefix length too long for the address family",
            ));
        }
        let (start, _) = bounds(addr, prefix_len);
        Ok(Cidr {
            addr: start,
            prefix_len,
        })
    }

    /// First and last address of the prefix.
    pub fn range(&self) -> (IpAddr, IpAddr) {
        bounds(self.addr, self.prefix_len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Cidr> {
        let (a, l) = s
            .split_once('/')
            .ok_or(WireError::syntax("CIDR without '/'"))?;
        let addr: IpAddr = a.parse().map_err(|_| WireError::syntax("CIDR address"))?;
        let len: u8 = l
            .parse()
            .map_err(|_| WireError::syntax("CIDR prefix length"))?;
        Cidr::new(addr, len)
    }
}

fn bounds(addr: IpAddr, prefix_len: u8) -> (IpAddr, IpAddr) {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len.min(32)))
                .unwrap_or(0);
            (
                IpAddr::V4(Ipv4Addr::from(bits & mask)),
                IpAddr::V4(Ipv4Addr::from(bits | !mask)),
            )
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len.min(128)))
                .unwrap_or(0);
            (
                IpAddr::V6(Ipv6Addr::from(bits & mask)),
                IpAddr::V6(Ipv6Addr::from(bits | !mask)),
            )
        }
    }
}

/// An address-range selector (TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TsRange {
    /// IP protocol (0 = any).
    pub ip_protocol: u8,
    /// First port (0 with `end_port` 65535 = any).
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start: IpAddr,
    /// Last address (same family as `start`).
    pub end: IpAddr,
}

impl TsRange {
    /// All protocols and ports of a prefix (what libreswan and Submariner use).
    pub fn from_cidr(cidr: Cidr) -> TsRange {
        let (start, end) = cidr.range();
        TsRange {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        }
    }

    /// The prefix this range covers exactly, ignoring protocol and ports;
    /// `None` when the range is not a single prefix.
    pub fn to_cidr(&self) -> Option<Cidr> {
        let (s, e, width): (u128, u128, u32) = match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => (u32::from(s).into(), u32::from(e).into(), 32),
            (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128),
            _ => return None,
        };
        if s > e {
            return None;
        }
        let host = s ^ e;
        // host bits must be a run of low ones: host + 1 is a power of two
        // (or host covers the whole address space).
        if host.checked_add(1).is_some_and(|h| !h.is_power_of_two()) {
            return None;
        }
        if s & host != 0 {
            return None;
        }
        let host_bits = 128 - host.leading_zeros();
        let prefix = width.checked_sub(host_bits)?;
        Cidr::new(self.start, u8::try_from(prefix).ok()?).ok()
    }

    /// Whether protocol and ports are "any".
    pub fn is_any_protocol_and_port(&self) -> bool {
        self.ip_protocol == 0 && self.start_port == 0 && self.end_port == u16::MAX
    }

    /// The TS type of this range's family.
    pub fn ts_type(&self) -> TsType {
        if self.start.is_ipv4() {
            TsType::IPV4_ADDR_RANGE
        } else {
            TsType::IPV6_ADDR_RANGE
        }
    }
}

/// One traffic selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrafficSelector {
    /// An IPv4 or IPv6 address range.
    Range(TsRange),
    /// Another TS type (e.g. security label), kept raw: the bytes after the
    /// 4-byte selector header.
    Other {
        /// TS type.
        ts_type: TsType,
        /// IP protocol ID byte.
        ip_protocol: u8,
        /// The rest of the selector.
        data: Vec<u8>,
    },
}

/// TSi or TSr payload body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TsPayload {
    /// The selectors, in order.
    pub selectors: Vec<TrafficSelector>,
}

impl TsPayload {
    /// A payload of address ranges.
    pub fn from_ranges(ranges: impl IntoIterator<Item = TsRange>) -> Self {
        TsPayload {
            selectors: ranges.into_iter().map(TrafficSelector::Range).collect(),
        }
    }

    /// The address-range selectors (other types skipped).
    pub fn ranges(&self) -> impl Iterator<Item = &TsRange> + '_ {
        self.selectors.iter().filter_map(|s| match s {
            TrafficSelector::Range(r) => Some(r),
            TrafficSelector::Other { .. } => None,
        })
    }

    /// Decodes the body after the generic payload header.
    pub fn decode(body: &[u8]) -> Result<TsPayload> {
        let mut r = Reader::new(body);
        let count = r.u8("TS payload")?;
        let _reserved = r.take(3, "TS payload")?;
        let mut selectors = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let ts_type = TsType(r.u8("traffic selector")?);
            let ip_protocol = r.u8("traffic selector")?;
            let len = r.u16("traffic selector")? as usize;
            if len < TS_HEADER_LEN {
                return Err(WireError::bad_length(
                    "traffic selector",
                    len,
                    "below the 4-byte header",
                ));
            }
            if len > r.remaining().saturating_add(TS_HEADER_LEN) {
                return Err(WireError::bad_length(
                    "traffic selector",
                    len,
                    "exceeds the TS payload",
                ));
            }
            let rest = r.take(len - TS_HEADER_LEN, "traffic selector")?;
            selectors.push(decode_selector(ts_type, ip_protocol, len, rest)?);
        }
        if !r.is_empty() {
            return Err(WireError::bad_length(
                "TS payload",
                body.len() + 4,
                "bytes after the last traffic selector",
            ));
        }
        Ok(TsPayload { selectors })
    }

    /// Appends the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        out.push(len_u8("TS payload selectors", self.selectors.len())?);
        out.extend_from_slice(&[0, 0, 0]);
        for s in &self.selectors {
            let start = out.len();
            match s {
                TrafficSelector::Range(t) => {
                    out.push(t.ts_type().0);
                    out.push(t.ip_protocol);
                    out.extend_from_slice(&[0, 0]);
                    out.extend_from_slice(&t.start_port.to_be_bytes());
                    out.extend_from_slice(&t.end_port.to_be_bytes());
                    match (t.start, t.end) {
                        (IpAddr::V4(a), IpAddr::V4(b)) => {
                            out.extend_from_slice(&a.octets());
                            out.extend_from_slice(&b.octets());
                        }
                        (IpAddr::V6(a), IpAddr::V6(b)) => {
                            out.extend_from_slice(&a.octets());
                            out.extend_from_slice(&b.octets());
                        }
                        _ => return Err(WireError::syntax("traffic selector mixes IPv4 and IPv6")),
                    }
                }
                TrafficSelector::Other {
                    ts_type,
                    ip_protocol,
                    data,
                } => {
                    if matches!(*ts_type, TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE) {
                        return Err(WireError::syntax(
                            "raw traffic selector with an address-range type",
                        ));
                    }
                    out.push(ts_type.0);
                    out.push(*ip_protocol);
                    out.extend_from_slice(&[0, 0]);
                    out.extend_from_slice(data);
                }
            }
            let len = len_u16("traffic selector", out.len() - start)?;
            patch_u16(out, start + 2, len);
        }
        Ok(())
    }
}

fn decode_selector(
    ts_type: TsType,
    ip_protocol: u8,
    len: usize,
    rest: &[u8],
) -> Result<TrafficSelector> {
    let mut r = Reader::new(rest);
    match ts_type {
        TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE => {
            let want = if ts_type == TsType::IPV4_ADDR_RANGE {
                IPV4_TS_LEN
            } else {
                IPV6_TS_LEN
            };
            if len != want {
                return Err(WireError::bad_length(
                    "traffic selector",
                    len,
                    "must be 16 (IPv4) or 40 (IPv6) bytes",
                ));
            }
            let start_port = r.u16("traffic selector")?;
            let end_port = r.u16("traffic selector")?;
            let (start, end) = if ts_type == TsType::IPV4_ADDR_RANGE {
                (
                    IpAddr::V4(Ipv4Addr::from(r.array::<4>("traffic selector")?)),
                    IpAddr::V4(Ipv4Addr::from(r.array::<4>("traffic selector")?)),
                )
            } else {
                (
                    IpAddr::V6(Ipv6Addr::from(r.array::<16>("traffic selector")?)),
                    IpAddr::V6(Ipv6Addr::from(r.array::<16>("traffic selector")?)),
                )
            };
            Ok(TrafficSelector::Range(TsRange {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            }))
        }
        _ => Ok(TrafficSelector::Other {
            ts_type,
            ip_protocol,
            data: r.rest().to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_conversions() {
        for s in [
            "10.0.0.0/16",
            "0.0.0.0/0",
            "192.168.1.7/32",
            "fd00::/64",
            "::/0",
            "fd00::1/128",
        ] {
            let c: Cidr = s.parse().unwrap();
            assert_eq!(c.to_string(), s);
            let r = TsRange::from_cidr(c);
            assert!(r.is_any_protocol_and_port());
            assert_eq!(r.to_cidr(), Some(c), "{s}");
        }
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("fd00::/129".parse::<Cidr>().is_err());
        let r = TsRange {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: "10.0.0.1".parse().unwrap(),
            end: "10.0.0.6".parse().unwrap(),
        };
        assert_eq!(r.to_cidr(), None);
        let r = TsRange {
            end: "10.0.0.3".parse().unwrap(),
            start: "10.0.0.2".parse().unwrap(),
            ..r
        };
        assert_eq!(r.to_cidr(), Some("10.0.0.2/31".parse().unwrap()));
        let r = TsRange {
            end: "fd00::3".parse().unwrap(),
            ..r
        };
        assert_eq!(r.to_cidr(), None);
    }

    #[test]
    fn layout_ipv4() {
        let body = [
            1, 0, 0, 0, // one selector
            7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0xff, 0xff,
        ];
        let ts = TsPayload::decode(&body).unwrap();
        let r = ts.ranges().next().unwrap();
        assert_eq!(r.to_cidr(), Some("10.0.0.0/16".parse().unwrap()));
        let mut out = Vec::new();
        ts.encode_into(&mut out).unwrap();
        assert_eq!(out, body);
    }

    #[test]
    fn round_trip_mixed() {
        let ts = TsPayload {
            selectors: vec![
                TrafficSelector::Range(TsRange::from_cidr("fd00:1::/48".parse().unwrap())),
                TrafficSelector::Range(TsRange {
                    ip_protocol: 17,
                    start_port: 4500,
                    end_port: 4500,
                    start: "1.2.3.4".parse().unwrap(),
                    end: "1.2.3.4".parse().unwrap(),
                }),
                TrafficSelector::Other {
                    ts_type: TsType::SECLABEL,
                    ip_protocol: 0,
                    data: b"label".to_vec(),
                },
            ],
        };
        let mut out = Vec::new();
        ts.encode_into(&mut out).unwrap();
        assert_eq!(TsPayload::decode(&out).unwrap(), ts);
    }

    #[test]
    fn malformed() {
        let good = [
            1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0xff, 0xff,
        ];
        for n in 0..good.len() {
            assert!(TsPayload::decode(&good[..n]).is_err(), "prefix {n}");
        }
        let mut b = good;
        b[7] = 17;
        assert!(TsPayload::decode(&b).is_err());
        let mut b = good;
        b[7] = 3;
        assert!(TsPayload::decode(&b).is_err());
        let mut b = good;
        b[0] = 2;
        assert!(TsPayload::decode(&b).is_err());
        let mut b = good.to_vec();
        b.push(0);
        assert!(TsPayload::decode(&b).is_err());
        let mut b = good;
        b[4] = 8; // IPv6 type with IPv4 length
        assert!(TsPayload::decode(&b).is_err());
    }
}
