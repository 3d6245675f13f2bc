//! Traffic selector narrowing (RFC 7296 2.9).
//!
//! The responder intersects what the initiator proposed with what its
//! policy allows and answers with the (possibly smaller) result; an empty
//! result is TS_UNACCEPTABLE. The initiator accepts an answer only if it
//! is a subset of what it proposed. Ranges of different address families
//! never intersect; IP protocol 0 and the full port range are wildcards.

use std::net::IpAddr;

use crate::wire::TsRange;

fn key(a: IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(v) => (4, u128::from(u32::from(v))),
        IpAddr::V6(v) => (6, u128::from(v)),
    }
}

/// The intersection of two selectors, `None` if empty.
pub(crate) fn intersect(a: &TsRange, b: &TsRange) -> Option<TsRange> {
    let ip_protocol = match (a.ip_protocol, b.ip_protocol) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let start_port = a.start_port.max(b.start_port);
    let end_port = a.end_port.min(b.end_port);
    if start_port > end_port {
        return None;
    }
    let (fa, sa) = key(a.start);
    let (fae, ea) = key(a.end);
    let (fb, sb) = key(b.start);
    let (fbe, eb) = key(b.end);
    if fa != fb || fa != fae || fb != fbe {
        return None;
    }
    let start = if sa >= sb { a.start } else { b.start };
    let end = if ea <= eb { a.end } else { b.end };
    if sa.max(sb) > ea.min(eb) {
        return None;
    }
    Some(TsRange {
        ip_protocol,
        start_port,
        end_port,
        start,
        end,
    })
}

/// Whether `inner` lies entirely within `outer`.
pub(crate) fn contains(outer: &TsRange, inner: &TsRange) -> bool {
    intersect(outer, inner).as_ref() == Some(inner)
}

/// Every non-empty intersection of an offered selector with an allowed
/// one, in the order of the offer, without duplicates.
pub(crate) fn narrow(offered: &[TsRange], allowed: &[TsRange]) -> Vec<TsRange> {
    let mut out: Vec<TsRange> = Vec::new();
    for o in offered {
        for a in allowed {
            if let Some(x) = intersect(o, a) {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    out
}

/// Whether every selector of `sub` lies within some selector of `sup`
/// (and `sub` is not empty).
pub(crate) fn is_subset(sub: &[TsRange], sup: &[TsRange]) -> bool {
    !sub.is_empty() && sub.iter().all(|s| sup.iter().any(|o| contains(o, s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Cidr;

    fn r(s: &str) -> TsRange {
        TsRange::from_cidr(s.parse::<Cidr>().unwrap())
    }

    #[test]
    fn narrowing() {
        assert_eq!(
            narrow(&[r("10.0.0.0/8")], &[r("10.1.0.0/16")]),
            vec![r("10.1.0.0/16")]
        );
        assert_eq!(
            narrow(&[r("10.1.2.0/24")], &[r("10.1.0.0/16")]),
            vec![r("10.1.2.0/24")]
        );
        assert!(narrow(&[r("10.1.0.0/16")], &[r("10.2.0.0/16")]).is_empty());
        assert!(narrow(&[r("10.1.0.0/16")], &[r("fd00::/8")]).is_empty());
        let mut tcp = r("10.0.0.0/8");
        tcp.ip_protocol = 6;
        tcp.start_port = 80;
        tcp.end_port = 80;
        let x = narrow(&[tcp], &[r("10.9.0.0/16")]);
        assert_eq!(x.len(), 1);
        assert_eq!(x[0].ip_protocol, 6);
        assert_eq!((x[0].start_port, x[0].end_port), (80, 80));
        let mut udp = tcp;
        udp.ip_protocol = 17;
        assert!(intersect(&tcp, &udp).is_none());
    }

    #[test]
    fn subsets() {
        assert!(is_subset(&[r("10.1.0.0/16")], &[r("10.0.0.0/8")]));
        assert!(!is_subset(&[r("10.0.0.0/8")], &[r("10.1.0.0/16")]));
        assert!(!is_subset(&[], &[r("10.0.0.0/8")]));
    }
}
