//! XFRM kernel events as a `futures::Stream`.
//!
//! [`XfrmEvents::subscribe`] opens a separate `NETLINK_XFRM` socket (through
//! `netlink-proto`) in the calling thread's network namespace and joins the
//! `XFRMNLGRP_EXPIRE`, `XFRMNLGRP_ACQUIRE` and `XFRMNLGRP_MAPPING` multicast
//! groups. The stream yields:
//! - [`XfrmEvent::Expire`]: an SA reached a soft (`hard == false`: rekey
//!   now) or hard (`hard == true`: the kernel deleted it) lifetime limit;
//! - [`XfrmEvent::Acquire`]: a packet matched a policy with no SA yet;
//! - [`XfrmEvent::Mapping`]: the NAT mapping of an ESP-in-UDP SA changed;
//! - [`XfrmEvent::Overrun`]: the socket buffer overflowed and events were
//!   lost: list the SAs to resynchronise.
//!
//! None of these messages carries key material.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt};
use netlink_packet_core::{
    DecodeError, NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NetlinkSerializable,
};
use netlink_packet_xfrm::{
    AcquireMessage, MappingMessage, XfrmAttrs, XfrmMessage, XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE,
    XFRMNLGRP_MAPPING, XFRM_MSG_EXPIRE, XFRM_USER_EXPIRE_LEN,
};
use netlink_sys::{protocols::NETLINK_XFRM, AsyncSocket};

use crate::error::XfrmError;
use crate::ownership::ReqId;
use crate::policy::Direction;
use crate::sa::{SaId, SaInfo};
use crate::selector::{ip_from, Mark, TrafficSelector};
use crate::wire::{decode_xfrm, trailing_nlas, Scrubbed};

/// An SA reached a lifetime limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireEvent {
    /// The SA as the kernel describes it (counters included).
    pub sa: SaInfo,
    /// `false`: soft limit (rekey); `true`: hard limit (SA deleted).
    pub hard: bool,
}

/// A packet needs an SA that does not exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireEvent {
    /// Tunnel source of the template.
    pub src: IpAddr,
    /// Tunnel destination of the template.
    pub dst: IpAddr,
    /// Selector of the triggering packet's flow.
    pub selector: Option<TrafficSelector>,
    /// The policy that triggered it.
    pub policy_selector: Option<TrafficSelector>,
    pub policy_direction: Option<Direction>,
    pub policy_index: u32,
    /// Reqid of the policy's first template, if the kernel sent it.
    pub reqid: Option<ReqId>,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
    pub seq: u32,
}

/// The peer's NAT mapping of an ESP-in-UDP SA changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingEvent {
    pub sa: SaId,
    pub reqid: ReqId,
    pub old: SocketAddr,
    pub new: SocketAddr,
}

/// An XFRM event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrmEvent {
    Expire(ExpireEvent),
    Acquire(AcquireEvent),
    Mapping(MappingEvent),
    /// Events were lost (receive buffer overflow).
    Overrun,
}

/// The netlink message type of the event socket: an XFRM message decoded
/// with this crate's length checks (so a short kernel message is an error,
/// never a panic), plus the attributes after an EXPIRE's fixed part (mark,
/// if_id), which the library type drops. Its `Debug` only names the type.
pub(crate) struct EventMessage(Scrubbed, Vec<XfrmAttrs>);

impl std::fmt::Debug for EventMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "XfrmEvent(type {})", self.0 .0.message_type())
    }
}

impl NetlinkSerializable for EventMessage {
    fn message_type(&self) -> u16 {
        self.0 .0.message_type()
    }
    fn buffer_len(&self) -> usize {
        // Nothing is ever sent on the event socket.
        0
    }
    fn serialize(&self, _buffer: &mut [u8]) {}
}

impl NetlinkDeserializable for EventMessage {
    type Error = DecodeError;
    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, Self::Error> {
        let msg = decode_xfrm(header.message_type, payload).map_err(DecodeError::from)?;
        let extra = if header.message_type == XFRM_MSG_EXPIRE {
            trailing_nlas(payload, XFRM_USER_EXPIRE_LEN).map_err(DecodeError::from)?
        } else {
            Vec::new()
        };
        Ok(EventMessage(msg, extra))
    }
}

/// Stream of XFRM events. Dropping it closes the socket.
pub struct XfrmEvents {
    rx: UnboundedReceiver<(NetlinkMessage<EventMessage>, netlink_sys::SocketAddr)>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for XfrmEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XfrmEvents")
    }
}

impl XfrmEvents {
    /// Subscribe to EXPIRE, ACQUIRE and MAPPING events of the calling
    /// thread's network namespace. Must be called within a tokio runtime.
    pub fn subscribe() -> Result<Self, XfrmError> {
        let (mut conn, handle, rx) = netlink_proto::new_connection::<EventMessage>(NETLINK_XFRM)
            .map_err(XfrmError::Socket)?;
        let socket = conn.socket_mut().socket_mut();
        socket.bind_auto().map_err(XfrmError::Socket)?;
        for group in [XFRMNLGRP_EXPIRE, XFRMNLGRP_ACQUIRE, XFRMNLGRP_MAPPING] {
            socket.add_membership(group).map_err(XfrmError::Socket)?;
        }
        // Nothing is sent on this socket.
        drop(handle);
        let task = tokio::spawn(conn);
        Ok(XfrmEvents { rx, task })
    }
}

impl Drop for XfrmEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for XfrmEvents {
    type Item = XfrmEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<XfrmEvent>> {
        loop {
            let (msg, from) = match self.rx.poll_next_unpin(cx) {
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            if from.port_number() != 0 {
                continue;
            }
            match msg.payload {
                NetlinkPayload::InnerMessage(EventMessage(m, extra)) => {
                    match to_event(&m.0, &extra) {
                        Ok(Some(ev)) => return Poll::Ready(Some(ev)),
                        Ok(None) => continue,
                        Err(reason) => {
                            tracing::warn!(%reason, "ignoring malformed XFRM event");
                            continue;
                        }
                    }
                }
                NetlinkPayload::Overrun(_) => return Poll::Ready(Some(XfrmEvent::Overrun)),
                _ => continue,
            }
        }
    }
}

/// Convert a decoded multicast message into an event. `extra` holds the
/// attributes after an EXPIRE's fixed part.
pub(crate) fn to_event(
    msg: &XfrmMessage,
    extra: &[XfrmAttrs],
) -> Result<Option<XfrmEvent>, String> {
    Ok(Some(match msg {
        XfrmMessage::Expire(e) => XfrmEvent::Expire(ExpireEvent {
            sa: SaInfo::from_parts(&e.expire.state, extra)?,
            hard: e.expire.hard != 0,
        }),
        XfrmMessage::Acquire(a) => XfrmEvent::Acquire(acquire_event(a)?),
        XfrmMessage::Mapping(m) => XfrmEvent::Mapping(mapping_event(m)?),
        _ => return Ok(None),
    }))
}

fn acquire_event(a: &AcquireMessage) -> Result<AcquireEvent, String> {
    let ua = &a.acquire;
    let mut reqid = None;
    let mut tmpl_family = None;
    let mut mark = None;
    let mut if_id = None;
    for attr in &a.nlas {
        match attr {
            XfrmAttrs::Template(ts) => {
                if let Some(t) = ts.first() {
                    reqid = Some(ReqId::from_raw(t.reqid));
                    tmpl_family = Some(t.family);
                }
            }
            XfrmAttrs::Mark(m) => mark = Mark::from_nl(m),
            XfrmAttrs::IfId(id) => if_id = (*id != 0).then_some(*id),
            _ => {}
        }
    }
    let family = tmpl_family.unwrap_or(ua.policy.selector.family);
    Ok(AcquireEvent {
        src: ip_from(family, &ua.saddr)?,
        dst: ip_from(family, &ua.id.daddr)?,
        selector: TrafficSelector::from_nl(&ua.selector)?,
        policy_selector: TrafficSelector::from_nl(&ua.policy.selector)?,
        policy_direction: Direction::from_nl(ua.policy.direction),
        policy_index: ua.policy.index,
        reqid,
        mark,
        if_id,
        seq: ua.seq,
    })
}

fn mapping_event(m: &MappingMessage) -> Result<MappingEvent, String> {
    let map = &m.map;
    let family = map.id.family;
    Ok(MappingEvent {
        sa: SaId {
            dst: ip_from(family, &map.id.daddr)?,
            spi: map.id.spi,
            mark: None,
        },
        reqid: ReqId::from_raw(map.reqid),
        old: SocketAddr::new(ip_from(family, &map.old_saddr)?, map.old_sport),
        new: SocketAddr::new(ip_from(family, &map.new_saddr)?, map.new_sport),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;
    use netlink_packet_xfrm::{
        Address, ExpireMessage, UserExpire, UserMapping, UserSaId, UserSaInfo, AF_INET,
        IPPROTO_ESP, XFRM_MSG_MAPPING,
    };

    #[test]
    fn canned_soft_expire() {
        let mut state = UserSaInfo::default();
        state.source(&"10.0.0.1".parse().unwrap());
        state.destination(&"10.0.0.2".parse().unwrap());
        state.id.spi = 0xC000_0001;
        state.id.proto = IPPROTO_ESP;
        state.reqid = 0xCE00_0009;
        state.lifetime_cur.bytes = 99;
        let msg = ExpireMessage {
            expire: UserExpire { state, hard: 0 },
        };
        let mut bytes = vec![0u8; msg.buffer_len()];
        msg.emit(&mut bytes);
        // The kernel appends the mark and if_id.
        let nlas = [
            XfrmAttrs::Mark(netlink_packet_xfrm::Mark {
                value: 0x10,
                mask: 0xff,
            }),
            XfrmAttrs::IfId(7),
        ];
        let mut tail = vec![0u8; nlas.as_slice().buffer_len()];
        nlas.as_slice().emit(&mut tail);
        bytes.extend_from_slice(&tail);
        let decoded = decode_xfrm(XFRM_MSG_EXPIRE, &bytes).unwrap();
        let extra = trailing_nlas(&bytes, XFRM_USER_EXPIRE_LEN).unwrap();
        let Some(XfrmEvent::Expire(ev)) = to_event(&decoded.0, &extra).unwrap() else {
            panic!("not an expire event")
        };
        assert!(!ev.hard);
        assert_eq!(ev.sa.spi, 0xC000_0001);
        assert_eq!(ev.sa.reqid, ReqId::owned(9).unwrap());
        assert_eq!(ev.sa.counters.bytes, 99);
        assert_eq!(ev.sa.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            ev.sa.mark,
            Some(Mark {
                value: 0x10,
                mask: 0xff
            })
        );
        assert_eq!(ev.sa.if_id, Some(7));

        // short message: error, not panic
        assert!(decode_xfrm(XFRM_MSG_EXPIRE, &bytes[..100]).is_err());
    }

    #[test]
    fn canned_mapping() {
        let msg = MappingMessage {
            map: UserMapping {
                id: UserSaId {
                    daddr: Address::from_ip(&"10.0.0.2".parse().unwrap()),
                    spi: 7,
                    family: AF_INET,
                    proto: IPPROTO_ESP,
                },
                reqid: 0xCE00_0001,
                old_saddr: Address::from_ip(&"203.0.113.1".parse().unwrap()),
                new_saddr: Address::from_ip(&"203.0.113.9".parse().unwrap()),
                old_sport: 4500,
                new_sport: 31000,
            },
        };
        let mut bytes = vec![0u8; msg.buffer_len()];
        msg.emit(&mut bytes);
        let decoded = decode_xfrm(XFRM_MSG_MAPPING, &bytes).unwrap();
        let Some(XfrmEvent::Mapping(ev)) = to_event(&decoded.0, &[]).unwrap() else {
            panic!("not a mapping event")
        };
        assert_eq!(ev.new, "203.0.113.9:31000".parse().unwrap());
        assert_eq!(ev.old, "203.0.113.1:4500".parse().unwrap());
        assert_eq!(ev.sa.spi, 7);
    }
}
