//! Netlink framing for XFRM: encoding requests, splitting and decoding
//! replies, reading error/ack messages with their extended-ack text, and
//! scrubbing key copies out of messages.
//!
//! Decoding never panics on kernel data: every message type handed to
//! `netlink-packet-xfrm` is first checked against the size of its fixed
//! header (the library slices without checking), and types this crate does
//! not use are kept as raw bytes.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_core::{NlasIterator, Parseable, ParseableParametrized};
use netlink_packet_xfrm::{
    XfrmAttrs, XfrmMessage, XFRM_MSG_ACQUIRE, XFRM_MSG_EXPIRE, XFRM_MSG_MAPPING,
    XFRM_MSG_NEWPOLICY, XFRM_MSG_NEWSA, XFRM_MSG_UPDPOLICY, XFRM_MSG_UPDSA, XFRM_USER_ACQUIRE_LEN,
    XFRM_USER_EXPIRE_LEN, XFRM_USER_MAPPING_LEN, XFRM_USER_POLICY_INFO_LEN, XFRM_USER_SA_INFO_LEN,
};
use zeroize::{Zeroize, Zeroizing};

/// Netlink message header length.
pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_OVERRUN: u16 = 4;
/// Error message carries only the request header (NETLINK_CAP_ACK).
const NLM_F_CAPPED: u16 = 0x100;
/// Error message carries extended-ack TLVs.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// A dump was interrupted by a concurrent change.
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
/// Extended ack TLV: human readable message.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Erase key copies held in NLAs.
pub(crate) fn scrub_attrs(attrs: &mut [XfrmAttrs]) {
    for attr in attrs {
        match attr {
            XfrmAttrs::EncryptionAlgAead(a) => a.alg_key.zeroize(),
            XfrmAttrs::EncryptionAlg(a) => a.alg_key.zeroize(),
            XfrmAttrs::AuthenticationAlg(a) => a.alg_key.zeroize(),
            XfrmAttrs::AuthenticationAlgTrunc(a) => a.alg_key.zeroize(),
            XfrmAttrs::CompressionAlg(a) => a.alg_key.zeroize(),
            _ => {}
        }
    }
}

/// Erase key copies held anywhere in a message.
pub(crate) fn scrub_message(msg: &mut XfrmMessage) {
    match msg {
        XfrmMessage::AddSa(m) | XfrmMessage::UpdateSa(m) => scrub_attrs(&mut m.nlas),
        XfrmMessage::Other((_, bytes)) => bytes.zeroize(),
        _ => {}
    }
}

/// An XFRM message whose key copies are erased when it is dropped. It has
/// no `Debug` impl on purpose.
pub(crate) struct Scrubbed(pub(crate) XfrmMessage);

impl Drop for Scrubbed {
    fn drop(&mut self) {
        scrub_message(&mut self.0);
    }
}

/// Kind of request, deciding the netlink flags and the end condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestMode {
    /// A single request answered by an ack or error (and maybe data first).
    Ack,
    /// A dump, answered by multi-part data and NLMSG_DONE.
    Dump,
}

/// Encode `msg` as a netlink request with sequence number `seq` into a
/// buffer that is zeroised on drop. The message's key copies are scrubbed
/// once encoded.
pub(crate) fn encode_request(msg: Scrubbed, seq: u32, mode: RequestMode) -> Zeroizing<Vec<u8>> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST
        | match mode {
            RequestMode::Ack => NLM_F_ACK,
            RequestMode::Dump => NLM_F_DUMP,
        };
    header.sequence_number = seq;
    header.port_number = 0;
    // Move the message out of the scrubbing wrapper into a NetlinkMessage,
    // and scrub it again when done.
    let mut inner = msg;
    let payload = std::mem::replace(&mut inner.0, XfrmMessage::Other((0, Vec::new())));
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
    nl.finalize();
    let mut buf = Zeroizing::new(vec![0u8; nl.buffer_len()]);
    nl.serialize(&mut buf[..]);
    if let NetlinkPayload::InnerMessage(m) = &mut nl.payload {
        scrub_message(m);
    }
    buf
}

/// One netlink message inside a received datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawMessage<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Split a datagram into netlink messages. Stops with an error on a length
/// field that does not fit.
pub(crate) fn split_messages(mut data: &[u8]) -> Result<Vec<RawMessage<'_>>, String> {
    let mut out = Vec::new();
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(format!(
                "netlink message length {len} does not fit in {} remaining bytes",
                data.len()
            ));
        }
        out.push(RawMessage {
            msg_type: u16::from_ne_bytes([data[4], data[5]]),
            flags: u16::from_ne_bytes([data[6], data[7]]),
            seq: u32::from_ne_bytes([data[8], data[9], data[10], data[11]]),
            payload: &data[NLMSG_HDRLEN..len],
        });
        let aligned = (len + 3) & !3;
        data = data.get(aligned..).unwrap_or(&[]);
    }
    Ok(out)
}

/// Content of an NLMSG_ERROR (or NLMSG_DONE) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    /// 0 for an ack, otherwise a negative errno.
    pub code: i32,
    /// Extended-ack message.
    pub message: Option<String>,
}

/// Parse the payload of NLMSG_ERROR. `flags` are the flags of the error
/// message itself (they tell whether the original request was capped and
/// whether TLVs follow).
pub(crate) fn parse_error(payload: &[u8], flags: u16) -> Result<Ack, String> {
    let code_bytes: [u8; 4] = payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("NLMSG_ERROR payload of {} bytes", payload.len()))?;
    let code = i32::from_ne_bytes(code_bytes);
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        // Skip the echoed request: its header always, its payload unless capped.
        let echoed = payload
            .get(4..4 + NLMSG_HDRLEN)
            .ok_or("truncated echoed header")?;
        let echoed_len = u32::from_ne_bytes([echoed[0], echoed[1], echoed[2], echoed[3]]) as usize;
        let skip = if flags & NLM_F_CAPPED != 0 || code == 0 {
            NLMSG_HDRLEN
        } else {
            echoed_len
        };
        let tlvs = payload.get(4 + ((skip + 3) & !3)..).unwrap_or(&[]);
        message = extack_message(tlvs);
    }
    Ok(Ack { code, message })
}

/// Parse the payload of NLMSG_DONE (an int, then optional TLVs).
pub(crate) fn parse_done(payload: &[u8], flags: u16) -> Ack {
    let code = payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(0);
    let message = if flags & NLM_F_ACK_TLVS != 0 {
        extack_message(payload.get(4..).unwrap_or(&[]))
    } else {
        None
    };
    Ack { code, message }
}

fn extack_message(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &tlvs[4..len];
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            return Some(String::from_utf8_lossy(&text[..end]).into_owned());
        }
        tlvs = tlvs.get((len + 3) & !3..).unwrap_or(&[]);
    }
    None
}

/// Parse the NLAs that follow a fixed header of `offset` bytes (used for
/// messages whose library type drops them, e.g. EXPIRE's mark and if_id).
pub(crate) fn trailing_nlas(payload: &[u8], offset: usize) -> Result<Vec<XfrmAttrs>, String> {
    let rest = payload.get(offset..).unwrap_or(&[]);
    let mut out = Vec::new();
    for nla in NlasIterator::new(rest) {
        let nla = nla.map_err(|e| format!("bad attribute: {e}"))?;
        out.push(XfrmAttrs::parse(&nla).map_err(|e| format!("bad attribute: {e}"))?);
    }
    Ok(out)
}

/// Decode the payload of an XFRM message of a type this crate consumes.
/// Other types come back as `XfrmMessage::Other` without being parsed.
pub(crate) fn decode_xfrm(msg_type: u16, payload: &[u8]) -> Result<Scrubbed, String> {
    let min = match msg_type {
        XFRM_MSG_NEWSA | XFRM_MSG_UPDSA => XFRM_USER_SA_INFO_LEN,
        XFRM_MSG_NEWPOLICY | XFRM_MSG_UPDPOLICY => XFRM_USER_POLICY_INFO_LEN,
        XFRM_MSG_EXPIRE => XFRM_USER_EXPIRE_LEN,
        XFRM_MSG_ACQUIRE => XFRM_USER_ACQUIRE_LEN,
        XFRM_MSG_MAPPING => XFRM_USER_MAPPING_LEN,
        other => return Ok(Scrubbed(XfrmMessage::Other((other, payload.to_vec())))),
    };
    if payload.len() < min {
        return Err(format!(
            "message type {msg_type} has {} payload bytes, at least {min} expected",
            payload.len()
        ));
    }
    XfrmMessage::parse_with_param(payload, msg_type)
        .map(Scrubbed)
        .map_err(|e| format!("cannot decode message type {msg_type}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_datagram(code: i32, capped: bool, tlv_msg: Option<&str>) -> Vec<u8> {
        let mut payload = code.to_ne_bytes().to_vec();
        // echoed request header (length 40: header + 24 bytes payload)
        let mut echoed = vec![0u8; NLMSG_HDRLEN];
        echoed[..4].copy_from_slice(&40u32.to_ne_bytes());
        payload.extend_from_slice(&echoed);
        if !capped {
            payload.extend_from_slice(&[0u8; 24]);
        }
        let mut flags = 0u16;
        if capped {
            flags |= NLM_F_CAPPED;
        }
        if let Some(m) = tlv_msg {
            flags |= NLM_F_ACK_TLVS;
            let mut v = m.as_bytes().to_vec();
            v.push(0);
            let len = 4 + v.len();
            payload.extend_from_slice(&(len as u16).to_ne_bytes());
            payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            payload.extend_from_slice(&v);
            while !payload.len().is_multiple_of(4) {
                payload.push(0);
            }
        }
        let total = NLMSG_HDRLEN + payload.len();
        let mut d = Vec::new();
        d.extend_from_slice(&(total as u32).to_ne_bytes());
        d.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        d.extend_from_slice(&flags.to_ne_bytes());
        d.extend_from_slice(&7u32.to_ne_bytes());
        d.extend_from_slice(&0u32.to_ne_bytes());
        d.extend_from_slice(&payload);
        d
    }

    #[test]
    fn parses_error_with_extack_capped_and_uncapped() {
        for capped in [true, false] {
            let d = error_datagram(
                -libc::EPROTONOSUPPORT,
                capped,
                Some("Requested type not found"),
            );
            let msgs = split_messages(&d).unwrap();
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].msg_type, NLMSG_ERROR);
            assert_eq!(msgs[0].seq, 7);
            let ack = parse_error(msgs[0].payload, msgs[0].flags).unwrap();
            assert_eq!(ack.code, -libc::EPROTONOSUPPORT);
            assert_eq!(ack.message.as_deref(), Some("Requested type not found"));
        }
    }

    #[test]
    fn parses_plain_ack() {
        let d = error_datagram(0, true, None);
        let msgs = split_messages(&d).unwrap();
        let ack = parse_error(msgs[0].payload, msgs[0].flags).unwrap();
        assert_eq!(
            ack,
            Ack {
                code: 0,
                message: None
            }
        );
    }

    #[test]
    fn bad_lengths_do_not_panic() {
        let mut d = error_datagram(-1, true, None);
        d[0] = 200; // length beyond the datagram
        assert!(split_messages(&d).is_err());
        assert!(parse_error(&[1, 2], 0).is_err());
        // truncated fixed headers are refused instead of panicking in the library
        for t in [
            XFRM_MSG_NEWSA,
            XFRM_MSG_NEWPOLICY,
            XFRM_MSG_EXPIRE,
            XFRM_MSG_ACQUIRE,
            XFRM_MSG_MAPPING,
        ] {
            assert!(decode_xfrm(t, &[0u8; 10]).is_err(), "type {t}");
        }
        // garbage NLAs after a valid-length header are an error, not a panic
        let mut junk = vec![0u8; XFRM_USER_SA_INFO_LEN];
        junk.extend_from_slice(&[0xff, 0xff, 0x01, 0x00, 0x00]);
        let _ = decode_xfrm(XFRM_MSG_NEWSA, &junk);
    }

    /// Random kernel "replies" of every decoded type: decoding and the
    /// conversions into this crate's types return errors, never panic.
    #[test]
    fn random_replies_never_panic() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let types = [
            XFRM_MSG_NEWSA,
            XFRM_MSG_UPDSA,
            XFRM_MSG_NEWPOLICY,
            XFRM_MSG_EXPIRE,
            XFRM_MSG_ACQUIRE,
            XFRM_MSG_MAPPING,
        ];
        let (mut decoded, mut converted_ok) = (0, 0);
        for round in 0..3000 {
            let t = types[round % types.len()];
            let len = (next() % 700) as usize;
            let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Make some NLA areas plausible so the attribute parsers run.
            if round % 2 == 0 && len > 300 {
                let start = match t {
                    XFRM_MSG_NEWSA | XFRM_MSG_UPDSA => XFRM_USER_SA_INFO_LEN,
                    XFRM_MSG_NEWPOLICY => XFRM_USER_POLICY_INFO_LEN,
                    _ => XFRM_USER_ACQUIRE_LEN,
                };
                if start + 4 <= len {
                    // One attribute spanning the rest of the message.
                    let nla_len = (len - start) as u16;
                    let kind = (next() % 34) as u16;
                    payload[start..start + 2].copy_from_slice(&nla_len.to_ne_bytes());
                    payload[start + 2..start + 4].copy_from_slice(&kind.to_ne_bytes());
                }
            }
            // Plausible families and prefixes half of the time, so the
            // conversions go deep: (offset of an address family, offset of
            // a selector whose family is cleared, offset of prefix lengths).
            let (family_at, unspec_sel_at, prefixes_at) = match t {
                XFRM_MSG_NEWSA | XFRM_MSG_UPDSA | XFRM_MSG_EXPIRE => (212, Some(40), None),
                XFRM_MSG_NEWPOLICY => (40, None, Some(42)),
                XFRM_MSG_ACQUIRE => (136, Some(80), Some(138)),
                _ => (20, None, None),
            };
            if round % 4 < 2 && len >= XFRM_USER_EXPIRE_LEN {
                let f = if round % 4 == 0 {
                    libc::AF_INET
                } else {
                    libc::AF_INET6
                } as u16;
                payload[family_at..family_at + 2].copy_from_slice(&f.to_ne_bytes());
                if let Some(at) = unspec_sel_at {
                    payload[at..at + 2].copy_from_slice(&[0, 0]);
                }
                if let Some(at) = prefixes_at {
                    payload[at] %= 33;
                    payload[at + 1] %= 33;
                }
            }
            if let Ok(msg) = decode_xfrm(t, &payload) {
                decoded += 1;
                let converted = match &msg.0 {
                    XfrmMessage::AddSa(m) | XfrmMessage::UpdateSa(m) => {
                        crate::sa::SaInfo::from_nl(m).is_ok()
                    }
                    XfrmMessage::AddPolicy(m) => crate::policy::PolicyInfo::from_nl(m).is_ok(),
                    other => {
                        let extra =
                            trailing_nlas(&payload, XFRM_USER_EXPIRE_LEN).unwrap_or_default();
                        crate::events::to_event(other, &extra).is_ok()
                    }
                };
                if converted {
                    converted_ok += 1;
                }
            }
            // The framing layer too.
            let _ = split_messages(&payload);
            let _ = parse_error(&payload, NLM_F_ACK_TLVS);
            let _ = parse_done(&payload, NLM_F_ACK_TLVS);
        }
        // The run must have reached the conversions, not only the
        // length checks.
        assert!(
            decoded > 300 && converted_ok > 100,
            "{decoded} decoded, {converted_ok} converted"
        );
    }
}
