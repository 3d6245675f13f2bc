//! ICMP and ICMPv6 echo messages: building requests, recognising replies.
//!
//! Requests carry an identifier (one per pinger), a sequence number and a
//! fixed 8-byte tag so that stray echo replies on the shared raw socket are
//! not mistaken for ours. IPv4 raw sockets hand us the IP header too; IPv6 raw
//! sockets do not, and the kernel fills the ICMPv6 checksum itself.

/// Tag carried in every request payload.
const TAG: &[u8; 8] = b"subm-hc\0";

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request for IPv4 (`v6 == false`, checksum filled) or IPv6
/// (checksum left to the kernel).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(16);
    p.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(TAG);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// If `packet` (as read from the raw socket) is an echo reply of ours with
/// identifier `id`, its sequence number.
pub fn parse_echo_reply(v6: bool, packet: &[u8], id: u16) -> Option<u16> {
    let icmp = if v6 {
        packet
    } else {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        if ihl < 20 {
            return None;
        }
        packet.get(ihl..)?
    };
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp.len() < 16 || icmp[0] != want || icmp[1] != 0 {
        return None;
    }
    if u16::from_be_bytes([icmp[4], icmp[5]]) != id || &icmp[8..16] != TAG {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3 example words: 0001 f203 f4f5 f6f7 -> sum ddf2, checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn request_checksum_verifies() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    fn as_v4_reply(req: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x45u8; 1];
        ip.extend_from_slice(&[0; 19]);
        let mut icmp = req.to_vec();
        icmp[0] = 0;
        ip.extend(icmp);
        ip
    }

    #[test]
    fn replies_are_recognised_only_when_ours() {
        let req = echo_request(false, 42, 9);
        let reply = as_v4_reply(&req);
        assert_eq!(parse_echo_reply(false, &reply, 42), Some(9));
        assert_eq!(
            parse_echo_reply(false, &reply, 43),
            None,
            "other identifier"
        );
        assert_eq!(
            parse_echo_reply(false, &as_v4_reply(&req)[..30], 42),
            None,
            "truncated"
        );
        let mut request_seen = as_v4_reply(&req);
        request_seen[20] = 8;
        assert_eq!(
            parse_echo_reply(false, &request_seen, 42),
            None,
            "a request, not a reply"
        );
        let mut v6 = echo_request(true, 42, 3);
        v6[0] = 129;
        assert_eq!(parse_echo_reply(true, &v6, 42), Some(3));
        for n in 0..reply.len() {
            assert_eq!(parse_echo_reply(false, &reply[..n], 42), None);
        }
    }
}
