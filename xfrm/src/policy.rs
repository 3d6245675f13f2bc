//! Security policies: tunnel-mode policies in the out, in and fwd
//! directions, their identity, what the kernel reports back, message
//! building, and the add/update/delete/list operations of [`XfrmClient`].
//!
//! Every policy installed here has exactly one ESP tunnel template carrying
//! the tunnel endpoints and the (owned) reqid that binds it to its SAs.

use std::net::IpAddr;

use netlink_packet_xfrm::{
    policy::{DelGetMessage, ModifyMessage},
    Address, Id, LifetimeConfig, UserPolicyId, UserPolicyInfo, UserTemplate, XfrmAttrs,
    XfrmMessage, IPPROTO_ESP, XFRM_INF, XFRM_MODE_TUNNEL, XFRM_MSG_GETPOLICY, XFRM_POLICY_ALLOW,
    XFRM_POLICY_BLOCK, XFRM_POLICY_FWD, XFRM_POLICY_IN, XFRM_POLICY_OUT,
};

use crate::client::XfrmClient;
use crate::error::{ErrorContext, XfrmError};
use crate::ownership::{policy_is_owned, ReqId};
use crate::selector::{ip_from, same_family, Mark, TrafficSelector};
use crate::wire::Scrubbed;

/// Policy direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
    Fwd,
}

impl Direction {
    pub(crate) fn to_nl(self) -> u8 {
        match self {
            Direction::In => XFRM_POLICY_IN,
            Direction::Out => XFRM_POLICY_OUT,
            Direction::Fwd => XFRM_POLICY_FWD,
        }
    }

    pub(crate) fn from_nl(v: u8) -> Option<Self> {
        match v {
            XFRM_POLICY_IN => Some(Direction::In),
            XFRM_POLICY_OUT => Some(Direction::Out),
            XFRM_POLICY_FWD => Some(Direction::Fwd),
            _ => None,
        }
    }
}

/// The ESP tunnel template of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelTemplate {
    /// Outer source of the tunnel (for `In`/`Fwd`: the peer).
    pub src: IpAddr,
    /// Outer destination of the tunnel (for `In`/`Fwd`: us).
    pub dst: IpAddr,
    pub reqid: ReqId,
}

/// A tunnel policy to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    pub selector: TrafficSelector,
    pub direction: Direction,
    /// Lower values win. strongSwan and libreswan use values around
    /// 1000..400000; pick accordingly when coexisting.
    pub priority: u32,
    pub template: TunnelTemplate,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
}

impl PolicyConfig {
    /// A policy with no mark and no if_id.
    pub fn new(
        selector: TrafficSelector,
        direction: Direction,
        priority: u32,
        template: TunnelTemplate,
    ) -> Self {
        PolicyConfig {
            selector,
            direction,
            priority,
            template,
            mark: None,
            if_id: None,
        }
    }

    /// Identity of this policy, for deletion.
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            direction: self.direction,
            mark: self.mark,
            if_id: self.if_id,
        }
    }
}

/// Identity of a policy: selector, direction, mark and if_id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyId {
    pub selector: TrafficSelector,
    pub direction: Direction,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
}

/// Action of a policy read back from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyAction {
    Allow,
    Block,
    Other(u8),
}

/// A template of a policy read back from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub spi: u32,
    pub reqid: ReqId,
    pub mode: u8,
}

/// A policy as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// `None` for an AF_UNSPEC selector.
    pub selector: Option<TrafficSelector>,
    pub direction: Option<Direction>,
    pub priority: u32,
    pub index: u32,
    pub action: PolicyAction,
    pub templates: Vec<TemplateInfo>,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
}

impl PolicyInfo {
    /// True when every template carries an owned reqid.
    pub fn is_owned(&self) -> bool {
        let reqids: Vec<u32> = self.templates.iter().map(|t| t.reqid.raw()).collect();
        policy_is_owned(&reqids)
    }

    /// Identity for deletion, when the policy has a selector and direction.
    pub fn id(&self) -> Option<PolicyId> {
        Some(PolicyId {
            selector: self.selector?,
            direction: self.direction?,
            mark: self.mark,
            if_id: self.if_id,
        })
    }

    pub(crate) fn from_nl(msg: &ModifyMessage) -> Result<Self, String> {
        let info = &msg.user_policy_info;
        let mut p = PolicyInfo {
            selector: TrafficSelector::from_nl(&info.selector)?,
            direction: Direction::from_nl(info.direction),
            priority: info.priority,
            index: info.index,
            action: match info.action {
                XFRM_POLICY_ALLOW => PolicyAction::Allow,
                XFRM_POLICY_BLOCK => PolicyAction::Block,
                other => PolicyAction::Other(other),
            },
            templates: Vec::new(),
            mark: None,
            if_id: None,
        };
        for attr in &msg.nlas {
            match attr {
                XfrmAttrs::Template(ts) => {
                    for t in ts {
                        p.templates.push(TemplateInfo {
                            src: ip_from(t.family, &t.saddr)?,
                            dst: ip_from(t.family, &t.id.daddr)?,
                            proto: t.id.proto,
                            spi: t.id.spi,
                            reqid: ReqId::from_raw(t.reqid),
                            mode: t.mode,
                        });
                    }
                }
                XfrmAttrs::Mark(m) => p.mark = Mark::from_nl(m),
                XfrmAttrs::IfId(id) => p.if_id = (*id != 0).then_some(*id),
                _ => {}
            }
        }
        Ok(p)
    }
}

fn infinite_lifetime() -> LifetimeConfig {
    LifetimeConfig {
        soft_byte_limit: XFRM_INF,
        hard_byte_limit: XFRM_INF,
        soft_packet_limit: XFRM_INF,
        hard_packet_limit: XFRM_INF,
        ..LifetimeConfig::default()
    }
}

fn mark_and_if_id(mark: Option<Mark>, if_id: Option<u32>) -> Vec<XfrmAttrs> {
    let mut nlas = Vec::new();
    if let Some(mark) = mark {
        nlas.push(XfrmAttrs::Mark(mark.to_nl()));
    }
    if let Some(if_id) = if_id {
        nlas.push(XfrmAttrs::IfId(if_id));
    }
    nlas
}

/// Build NEWPOLICY / UPDPOLICY.
pub(crate) fn build_policy_message(p: &PolicyConfig, update: bool) -> Result<Scrubbed, XfrmError> {
    let selector = p.selector.to_nl()?;
    let t = &p.template;
    let tfamily = same_family(&t.src, &t.dst, "policy template endpoints")?;
    let template = UserTemplate {
        id: Id {
            daddr: Address::from_ip(&t.dst),
            spi: 0,
            proto: IPPROTO_ESP,
        },
        family: tfamily,
        saddr: Address::from_ip(&t.src),
        reqid: t.reqid.raw(),
        mode: XFRM_MODE_TUNNEL,
        share: 0,
        optional: 0,
        // All algorithms allowed: the SA decides.
        aalgos: u32::MAX,
        ealgos: u32::MAX,
        calgos: u32::MAX,
    };
    let mut nlas = vec![XfrmAttrs::Template(vec![template])];
    nlas.extend(mark_and_if_id(p.mark, p.if_id));
    let msg = ModifyMessage {
        user_policy_info: UserPolicyInfo {
            selector,
            lifetime_cfg: infinite_lifetime(),
            priority: p.priority,
            index: 0,
            direction: p.direction.to_nl(),
            action: XFRM_POLICY_ALLOW,
            flags: 0,
            share: 0,
            ..UserPolicyInfo::default()
        },
        nlas,
    };
    Ok(Scrubbed(if update {
        XfrmMessage::UpdatePolicy(msg)
    } else {
        XfrmMessage::AddPolicy(msg)
    }))
}

/// Build DELPOLICY for `id` (looked up by selector, direction, mark, if_id).
pub(crate) fn build_delete_policy(id: &PolicyId) -> Result<Scrubbed, XfrmError> {
    Ok(Scrubbed(XfrmMessage::DeletePolicy(DelGetMessage {
        user_policy_id: UserPolicyId {
            selector: id.selector.to_nl()?,
            index: 0,
            direction: id.direction.to_nl(),
        },
        nlas: mark_and_if_id(id.mark, id.if_id),
    })))
}

impl XfrmClient {
    /// Install a new policy (fails with `AlreadyExists` if one with the same
    /// selector, direction, mark and if_id exists).
    pub async fn add_policy(&self, p: &PolicyConfig) -> Result<(), XfrmError> {
        self.request(
            build_policy_message(p, false)?,
            &ErrorContext::new("adding policy"),
        )
        .await
        .map(drop)
    }

    /// Install or replace a policy.
    pub async fn update_policy(&self, p: &PolicyConfig) -> Result<(), XfrmError> {
        self.request(
            build_policy_message(p, true)?,
            &ErrorContext::new("updating policy"),
        )
        .await
        .map(drop)
    }

    /// Delete a policy.
    pub async fn delete_policy(&self, id: &PolicyId) -> Result<(), XfrmError> {
        self.request(
            build_delete_policy(id)?,
            &ErrorContext::new("deleting policy"),
        )
        .await
        .map(drop)
    }

    /// Every policy of the namespace's SPD (socket policies are not listed
    /// by the kernel).
    pub async fn list_policies(&self) -> Result<Vec<PolicyInfo>, XfrmError> {
        let op = "listing policies";
        // A policy dump takes no payload.
        let msg = Scrubbed(XfrmMessage::Other((XFRM_MSG_GETPOLICY, Vec::new())));
        let replies = self.dump(msg, &ErrorContext::new(op)).await?;
        let mut out = Vec::new();
        for r in &replies {
            if let XfrmMessage::AddPolicy(m) | XfrmMessage::UpdatePolicy(m) = &r.0 {
                out.push(
                    PolicyInfo::from_nl(m)
                        .map_err(|reason| XfrmError::MalformedReply { op, reason })?,
                );
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_xfrm, encode_request, split_messages, RequestMode};
    use netlink_packet_xfrm::{XFRMA_IF_ID, XFRMA_MARK, XFRMA_TMPL, XFRM_MSG_NEWPOLICY};

    fn out_policy() -> PolicyConfig {
        PolicyConfig::new(
            TrafficSelector::new(
                "10.1.0.0/16".parse().unwrap(),
                "10.2.0.0/16".parse().unwrap(),
            ),
            Direction::Out,
            1500,
            TunnelTemplate {
                src: "192.0.2.1".parse().unwrap(),
                dst: "192.0.2.2".parse().unwrap(),
                reqid: ReqId::owned(1).unwrap(),
            },
        )
    }

    #[test]
    fn policy_bytes() {
        let mut p = out_policy();
        p.mark = Some(Mark {
            value: 1,
            mask: 0xff,
        });
        p.if_id = Some(4);
        let frame = encode_request(
            build_policy_message(&p, false).unwrap(),
            3,
            RequestMode::Ack,
        );
        let m = split_messages(&frame).unwrap()[0];
        assert_eq!(m.msg_type, XFRM_MSG_NEWPOLICY);
        let b = m.payload;
        // selector: daddr 0..16, saddr 16..32, ... family 40, plen_d 42, plen_s 43
        assert_eq!(&b[0..4], &[10, 2, 0, 0]);
        assert_eq!(&b[16..20], &[10, 1, 0, 0]);
        assert_eq!(u16::from_ne_bytes([b[40], b[41]]), libc::AF_INET as u16);
        assert_eq!((b[42], b[43]), (16, 16));
        // priority at 152, dir at 160, action 161
        assert_eq!(u32::from_ne_bytes(b[152..156].try_into().unwrap()), 1500);
        assert_eq!(b[160], XFRM_POLICY_OUT);
        assert_eq!(b[161], XFRM_POLICY_ALLOW);
        // NLAs
        let mut rest = &b[168..];
        let mut kinds = Vec::new();
        while rest.len() >= 4 {
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
            let kind = u16::from_ne_bytes([rest[2], rest[3]]);
            if kind == XFRMA_TMPL {
                let t = &rest[4..len];
                assert_eq!(t.len(), 64);
                assert_eq!(&t[0..4], &[192, 0, 2, 2], "template daddr");
                assert_eq!(t[20], IPPROTO_ESP);
                assert_eq!(&t[28..32], &[192, 0, 2, 1], "template saddr");
                assert_eq!(
                    u32::from_ne_bytes(t[44..48].try_into().unwrap()),
                    0xCE00_0001
                );
                assert_eq!(t[48], XFRM_MODE_TUNNEL);
                assert_eq!(&t[52..64], &[0xff; 12], "all algorithms");
            }
            kinds.push(kind);
            rest = &rest[((len + 3) & !3).min(rest.len())..];
        }
        assert_eq!(kinds, vec![XFRMA_TMPL, XFRMA_MARK, XFRMA_IF_ID]);
    }

    #[test]
    fn canned_policy_reply_round_trips() {
        let p = out_policy();
        let frame = encode_request(
            build_policy_message(&p, false).unwrap(),
            3,
            RequestMode::Ack,
        );
        let raw = split_messages(&frame).unwrap()[0];
        let decoded = decode_xfrm(raw.msg_type, raw.payload).unwrap();
        let XfrmMessage::AddPolicy(m) = &decoded.0 else {
            panic!("not a policy message")
        };
        let info = PolicyInfo::from_nl(m).unwrap();
        assert!(info.is_owned());
        assert_eq!(info.id(), Some(p.id()));
        assert_eq!(info.priority, 1500);
        assert_eq!(info.action, PolicyAction::Allow);
        assert_eq!(info.templates[0].dst, p.template.dst);
    }

    #[test]
    fn ipv6_policy_and_delete() {
        let p = PolicyConfig::new(
            TrafficSelector::new("fd01::/64".parse().unwrap(), "fd02::/64".parse().unwrap()),
            Direction::Fwd,
            10,
            TunnelTemplate {
                src: "2001:db8::1".parse().unwrap(),
                dst: "2001:db8::2".parse().unwrap(),
                reqid: ReqId::owned(2).unwrap(),
            },
        );
        let frame = encode_request(build_policy_message(&p, true).unwrap(), 1, RequestMode::Ack);
        let m = split_messages(&frame).unwrap()[0];
        assert_eq!(m.msg_type, netlink_packet_xfrm::XFRM_MSG_UPDPOLICY);
        assert_eq!(
            u16::from_ne_bytes([m.payload[40], m.payload[41]]),
            libc::AF_INET6 as u16
        );
        let del = encode_request(build_delete_policy(&p.id()).unwrap(), 2, RequestMode::Ack);
        let d = split_messages(&del).unwrap()[0];
        assert_eq!(d.msg_type, netlink_packet_xfrm::XFRM_MSG_DELPOLICY);
        assert_eq!(d.payload.len(), 64);
        assert_eq!(d.payload[60], XFRM_POLICY_FWD);
    }
}
