//! Security associations: configuration, identity, what the kernel reports
//! back (including byte/packet counters), message building, and the
//! add/update/get/delete/list operations of [`XfrmClient`].
//!
//! SAs are ESP in tunnel mode. An SA whose SPI came from
//! [`XfrmClient::allocate_spi`] already exists as a larval entry in the
//! kernel, so it must be installed with [`XfrmClient::update_sa`], not
//! [`XfrmClient::add_sa`] (which would answer "already exists").
//! `update_sa` on a live SA updates it in place: the kernel takes the new
//! NAT-T ports (after a mapping change) and lifetimes, keeps the counters,
//! and ignores the keys and algorithms (rekeying means a new SA).

use std::net::IpAddr;

use netlink_packet_xfrm::{
    state::{DelGetMessage, GetDumpMessage, ModifyMessage},
    Address, EncapTmpl, Id, ReplayEsn, UserSaId, UserSaInfo, XfrmAttrs, XfrmMessage, IPPROTO_ESP,
    UDP_ENCAP_ESPINUDP, XFRM_MODE_TUNNEL, XFRM_STATE_ESN,
};

use crate::algorithms::{AlgorithmInfo, EspTransform};
use crate::client::XfrmClient;
use crate::error::{ErrorContext, RequestKind, XfrmError};
use crate::lifetime::Lifetimes;
use crate::ownership::ReqId;
use crate::selector::{family_of, ip_from, same_family, Mark, TrafficSelector};
use crate::wire::Scrubbed;

/// ESP-in-UDP encapsulation (RFC 3948) for NAT traversal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpEncap {
    /// UDP source port of encapsulated packets (normally 4500).
    pub sport: u16,
    /// UDP destination port (normally 4500, or the peer's NAT-mapped port).
    pub dport: u16,
    /// Original address of the peer before NAT, when known.
    pub original_address: Option<IpAddr>,
}

impl UdpEncap {
    /// Both ports set to `port` (usually 4500).
    pub fn ports(port: u16) -> Self {
        UdpEncap {
            sport: port,
            dport: port,
            original_address: None,
        }
    }
}

/// Everything needed to install an ESP tunnel-mode SA.
#[derive(Debug, Clone)]
pub struct SaConfig {
    /// Outer source (tunnel endpoint of the sender).
    pub src: IpAddr,
    /// Outer destination (tunnel endpoint of the receiver).
    pub dst: IpAddr,
    /// SPI in host byte order.
    pub spi: u32,
    /// Ownership marker and policy binding.
    pub reqid: ReqId,
    pub transform: EspTransform,
    /// Anti-replay window in packets (0 disables it on inbound SAs).
    pub replay_window: u32,
    /// Extended sequence numbers.
    pub esn: bool,
    pub lifetimes: Lifetimes,
    /// Inner traffic the SA may carry; `None` leaves it unrestricted
    /// (AF_UNSPEC selector) and lets the policies decide.
    pub selector: Option<TrafficSelector>,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
    pub encap: Option<UdpEncap>,
}

impl SaConfig {
    /// A tunnel SA with no lifetimes, a 64-packet window, no ESN, no mark,
    /// no if_id and no encapsulation.
    pub fn new(src: IpAddr, dst: IpAddr, spi: u32, reqid: ReqId, transform: EspTransform) -> Self {
        SaConfig {
            src,
            dst,
            spi,
            reqid,
            transform,
            replay_window: 64,
            esn: false,
            lifetimes: Lifetimes::default(),
            selector: None,
            mark: None,
            if_id: None,
            encap: None,
        }
    }

    /// The identity of this SA, for get/delete.
    pub fn id(&self) -> SaId {
        SaId {
            dst: self.dst,
            spi: self.spi,
            mark: self.mark,
        }
    }
}

/// Identity of an SA in the kernel: destination, SPI (and mark, when the SA
/// has one). The protocol is always ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaId {
    pub dst: IpAddr,
    pub spi: u32,
    pub mark: Option<Mark>,
}

/// Byte/packet counters and timestamps of an SA (`xfrm_lifetime_cur`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaCounters {
    pub bytes: u64,
    pub packets: u64,
    /// Unix time the SA was added.
    pub add_time: u64,
    /// Unix time of first use (0 if unused).
    pub use_time: u64,
}

/// Error statistics of an SA (`xfrm_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaStats {
    pub replay_window: u32,
    pub replay: u32,
    pub integrity_failed: u32,
}

/// An SA as the kernel reports it. Key material is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub spi: u32,
    pub proto: u8,
    pub reqid: ReqId,
    pub mode: u8,
    pub selector: Option<TrafficSelector>,
    pub algorithms: Vec<AlgorithmInfo>,
    pub replay_window: u32,
    pub esn: bool,
    pub lifetimes: Lifetimes,
    pub counters: SaCounters,
    pub stats: SaStats,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
    pub encap: Option<UdpEncap>,
}

impl SaInfo {
    /// The identity to get/delete this SA.
    pub fn id(&self) -> SaId {
        SaId {
            dst: self.dst,
            spi: self.spi,
            mark: self.mark,
        }
    }

    /// True when the reqid is in this engine's reserved range.
    pub fn is_owned(&self) -> bool {
        self.reqid.is_owned()
    }

    /// Decode a NEWSA message (reply to GET, dump entry, ALLOCSPI reply).
    pub(crate) fn from_nl(msg: &ModifyMessage) -> Result<Self, String> {
        Self::from_parts(&msg.user_sa_info, &msg.nlas)
    }

    pub(crate) fn from_parts(info: &UserSaInfo, nlas: &[XfrmAttrs]) -> Result<Self, String> {
        let family = info.family;
        let mut sa = SaInfo {
            src: ip_from(family, &info.saddr)?,
            dst: ip_from(family, &info.id.daddr)?,
            spi: info.id.spi,
            proto: info.id.proto,
            reqid: ReqId::from_raw(info.reqid),
            mode: info.mode,
            selector: TrafficSelector::from_nl(&info.selector)?,
            algorithms: Vec::new(),
            replay_window: u32::from(info.replay_window),
            esn: info.flags & XFRM_STATE_ESN != 0,
            lifetimes: Lifetimes::from_nl(&info.lifetime_cfg),
            counters: SaCounters {
                bytes: info.lifetime_cur.bytes,
                packets: info.lifetime_cur.packets,
                add_time: info.lifetime_cur.add_time,
                use_time: info.lifetime_cur.use_time,
            },
            stats: SaStats {
                replay_window: info.stats.replay_window,
                replay: info.stats.replay,
                integrity_failed: info.stats.integrity_failed,
            },
            mark: None,
            if_id: None,
            encap: None,
        };
        for attr in nlas {
            if let Some(alg) = AlgorithmInfo::from_attr(attr) {
                sa.algorithms.push(alg);
                continue;
            }
            match attr {
                XfrmAttrs::ReplayStateEsn(r) => sa.replay_window = r.replay_window,
                XfrmAttrs::Mark(m) => sa.mark = Mark::from_nl(m),
                XfrmAttrs::IfId(id) => sa.if_id = (*id != 0).then_some(*id),
                XfrmAttrs::LifetimeBytes(cur) => {
                    sa.counters.bytes = cur.bytes;
                    sa.counters.packets = cur.packets;
                }
                XfrmAttrs::EncapsulationTemplate(e) => {
                    let oa = ip_from(family, &e.encap_oa)?;
                    sa.encap = Some(UdpEncap {
                        sport: e.encap_sport,
                        dport: e.encap_dport,
                        original_address: (!oa.is_unspecified()).then_some(oa),
                    })
                }
                _ => {}
            }
        }
        Ok(sa)
    }
}

/// Build the NEWSA / UPDSA message for `sa`.
pub(crate) fn build_sa_message(sa: &SaConfig, update: bool) -> Result<Scrubbed, XfrmError> {
    sa.transform.validate()?;
    let family = same_family(&sa.src, &sa.dst, "SA endpoints")?;
    let selector = match &sa.selector {
        Some(s) => s.to_nl()?,
        None => Default::default(),
    };
    let use_esn_attr = sa.esn || sa.replay_window > 32;
    if sa.replay_window > 4096 * 8 {
        return Err(XfrmError::InvalidInput(format!(
            "replay window {} exceeds the kernel maximum of 32768",
            sa.replay_window
        )));
    }
    let info = UserSaInfo {
        selector,
        id: Id {
            daddr: Address::from_ip(&sa.dst),
            spi: sa.spi,
            proto: IPPROTO_ESP,
        },
        saddr: Address::from_ip(&sa.src),
        lifetime_cfg: sa.lifetimes.to_nl(),
        reqid: sa.reqid.raw(),
        family,
        mode: XFRM_MODE_TUNNEL,
        // With XFRMA_REPLAY_ESN_VAL the kernel wants 0 here.
        replay_window: if use_esn_attr {
            0
        } else {
            sa.replay_window as u8
        },
        flags: if sa.esn { XFRM_STATE_ESN } else { 0 },
        ..UserSaInfo::default()
    };
    // Everything that can fail is checked before key copies exist.
    let encap = match &sa.encap {
        Some(encap) => {
            let oa = match encap.original_address {
                Some(a) if family_of(&a) != family => {
                    return Err(XfrmError::InvalidInput(format!(
                        "NAT-T original address {a} is not of the SA's family"
                    )))
                }
                Some(a) => Address::from_ip(&a),
                None => Address::default(),
            };
            Some(EncapTmpl {
                encap_type: UDP_ENCAP_ESPINUDP,
                encap_sport: encap.sport,
                encap_dport: encap.dport,
                encap_oa: oa,
            })
        }
        None => None,
    };
    let mut nlas = sa.transform.to_attrs();
    if use_esn_attr {
        let words = sa.replay_window.div_ceil(32);
        nlas.push(XfrmAttrs::ReplayStateEsn(ReplayEsn {
            bmp_len: words,
            replay_window: sa.replay_window,
            bmp: vec![0; words as usize],
            ..ReplayEsn::default()
        }));
    }
    if let Some(e) = encap {
        nlas.push(XfrmAttrs::EncapsulationTemplate(e));
    }
    if let Some(mark) = sa.mark {
        nlas.push(XfrmAttrs::Mark(mark.to_nl()));
    }
    if let Some(if_id) = sa.if_id {
        nlas.push(XfrmAttrs::IfId(if_id));
    }
    let msg = ModifyMessage {
        user_sa_info: info,
        nlas,
    };
    Ok(Scrubbed(if update {
        XfrmMessage::UpdateSa(msg)
    } else {
        XfrmMessage::AddSa(msg)
    }))
}

/// Build a GETSA / DELSA message for `id`.
pub(crate) fn build_sa_id_message(id: &SaId, delete: bool) -> Scrubbed {
    let mut nlas = Vec::new();
    if let Some(mark) = id.mark {
        nlas.push(XfrmAttrs::Mark(mark.to_nl()));
    }
    let msg = DelGetMessage {
        user_sa_id: UserSaId {
            daddr: Address::from_ip(&id.dst),
            spi: id.spi,
            family: family_of(&id.dst),
            proto: IPPROTO_ESP,
        },
        nlas,
    };
    Scrubbed(if delete {
        XfrmMessage::DeleteSa(msg)
    } else {
        XfrmMessage::GetSa(msg)
    })
}

fn sa_infos(op: &'static str, replies: &[Scrubbed]) -> Result<Vec<SaInfo>, XfrmError> {
    let mut out = Vec::new();
    for r in replies {
        if let XfrmMessage::AddSa(m) | XfrmMessage::UpdateSa(m) = &r.0 {
            out.push(
                SaInfo::from_nl(m).map_err(|reason| XfrmError::MalformedReply { op, reason })?,
            );
        }
    }
    Ok(out)
}

impl XfrmClient {
    /// Install a new SA (XFRM_MSG_NEWSA).
    pub async fn add_sa(&self, sa: &SaConfig) -> Result<(), XfrmError> {
        let msg = build_sa_message(sa, false)?;
        let ctx =
            ErrorContext::install_sa("adding SA", RequestKind::InstallSa, sa.transform.describe());
        self.request(msg, &ctx).await.map(drop)
    }

    /// Replace an existing SA, e.g. the larval SA left by
    /// [`XfrmClient::allocate_spi`] (XFRM_MSG_UPDSA).
    pub async fn update_sa(&self, sa: &SaConfig) -> Result<(), XfrmError> {
        let msg = build_sa_message(sa, true)?;
        let ctx = ErrorContext::install_sa(
            "updating SA",
            RequestKind::UpdateSa,
            sa.transform.describe(),
        );
        self.request(msg, &ctx).await.map(drop)
    }

    /// Read one SA back, with its counters.
    pub async fn get_sa(&self, id: &SaId) -> Result<SaInfo, XfrmError> {
        let op = "getting SA";
        let replies = self
            .request(build_sa_id_message(id, false), &ErrorContext::new(op))
            .await?;
        sa_infos(op, &replies)?
            .into_iter()
            .next()
            .ok_or_else(|| XfrmError::MalformedReply {
                op,
                reason: "no SA in the reply".into(),
            })
    }

    /// Delete one SA.
    pub async fn delete_sa(&self, id: &SaId) -> Result<(), XfrmError> {
        self.request(
            build_sa_id_message(id, true),
            &ErrorContext::new("deleting SA"),
        )
        .await
        .map(drop)
    }

    /// Every SA of the namespace (including foreign ones).
    pub async fn list_sas(&self) -> Result<Vec<SaInfo>, XfrmError> {
        let op = "listing SAs";
        let msg = Scrubbed(XfrmMessage::GetDumpSa(GetDumpMessage::default()));
        let replies = self.dump(msg, &ErrorContext::new(op)).await?;
        sa_infos(op, &replies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::{Integrity, SecretKey};
    use crate::wire::{decode_xfrm, encode_request, split_messages, RequestMode};
    use netlink_packet_xfrm::{XFRMA_ALG_AEAD, XFRMA_ENCAP, XFRMA_REPLAY_ESN_VAL, XFRM_MSG_NEWSA};

    fn gcm_sa() -> SaConfig {
        SaConfig::new(
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            0x1234_5678,
            ReqId::owned(7).unwrap(),
            EspTransform::aes_gcm(SecretKey::new(vec![0x5a; 36])),
        )
    }

    /// Walk the NLAs after the fixed header of an encoded NEWSA frame.
    fn nla_kinds(frame: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let msgs = split_messages(frame).unwrap();
        let mut rest = &msgs[0].payload[224..];
        let mut out = Vec::new();
        while rest.len() >= 4 {
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
            let kind = u16::from_ne_bytes([rest[2], rest[3]]);
            out.push((kind, rest[4..len].to_vec()));
            rest = &rest[((len + 3) & !3).min(rest.len())..];
        }
        out
    }

    #[test]
    fn gcm_sa_bytes() {
        let mut sa = gcm_sa();
        sa.encap = Some(UdpEncap::ports(4500));
        let frame = encode_request(build_sa_message(&sa, false).unwrap(), 9, RequestMode::Ack);
        let msgs = split_messages(&frame).unwrap();
        assert_eq!(msgs[0].msg_type, XFRM_MSG_NEWSA);
        let p = msgs[0].payload;
        // xfrm_id at offset 56: daddr, spi (network order), proto
        assert_eq!(&p[56..60], &[192, 0, 2, 2]);
        assert_eq!(&p[72..76], &[0x12, 0x34, 0x56, 0x78]);
        assert_eq!(p[76], IPPROTO_ESP);
        // saddr at 80
        assert_eq!(&p[80..84], &[192, 0, 2, 1]);
        // reqid at 208, family at 212, mode 214, replay_window 215, flags 216
        assert_eq!(
            u32::from_ne_bytes(p[208..212].try_into().unwrap()),
            0xCE00_0007
        );
        assert_eq!(
            u16::from_ne_bytes(p[212..214].try_into().unwrap()),
            libc::AF_INET as u16
        );
        assert_eq!(p[214], XFRM_MODE_TUNNEL);
        assert_eq!(p[215], 0, "window 64 goes in XFRMA_REPLAY_ESN_VAL");
        // hard byte limit infinite (offset 96 + 8)
        assert_eq!(
            u64::from_ne_bytes(p[104..112].try_into().unwrap()),
            u64::MAX
        );

        let nlas = nla_kinds(&frame);
        let kinds: Vec<u16> = nlas.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![XFRMA_ALG_AEAD, XFRMA_REPLAY_ESN_VAL, XFRMA_ENCAP]
        );
        let aead = &nlas[0].1;
        assert_eq!(&aead[..17], b"rfc4106(gcm(aes))");
        assert_eq!(u32::from_ne_bytes(aead[64..68].try_into().unwrap()), 288);
        assert_eq!(u32::from_ne_bytes(aead[68..72].try_into().unwrap()), 128);
        assert_eq!(&aead[72..], &[0x5a; 36]);
        let esn = &nlas[1].1;
        assert_eq!(
            u32::from_ne_bytes(esn[0..4].try_into().unwrap()),
            2,
            "bmp_len"
        );
        assert_eq!(
            u32::from_ne_bytes(esn[20..24].try_into().unwrap()),
            64,
            "window"
        );
        assert_eq!(esn.len(), 24 + 8);
        let encap = &nlas[2].1;
        assert_eq!(
            u16::from_ne_bytes(encap[0..2].try_into().unwrap()),
            2,
            "UDP_ENCAP_ESPINUDP"
        );
        assert_eq!(
            &encap[2..6],
            &[0x11, 0x94, 0x11, 0x94],
            "ports 4500 big-endian"
        );
    }

    /// Issue 14: AES-CBC with HMAC-SHA2 as the kernel's `xfrm_algo` and
    /// `xfrm_algo_auth` structures (name[64], key length in bits,
    /// truncation in bits, key), never plain XFRMA_ALG_AUTH (96-bit default).
    #[test]
    fn cbc_sa_bytes() {
        use netlink_packet_xfrm::{XFRMA_ALG_AUTH, XFRMA_ALG_AUTH_TRUNC, XFRMA_ALG_CRYPT};
        for (enc_len, integ, name, key_len, trunc) in [
            (16, Integrity::HmacSha256_128, "hmac(sha256)", 32, 128),
            (32, Integrity::HmacSha384_192, "hmac(sha384)", 48, 192),
            (32, Integrity::HmacSha512_256, "hmac(sha512)", 64, 256),
        ] {
            let sa = SaConfig::new(
                "192.0.2.1".parse().unwrap(),
                "192.0.2.2".parse().unwrap(),
                0x1234_5678,
                ReqId::owned(7).unwrap(),
                EspTransform::aes_cbc(
                    SecretKey::new(vec![0xe1; enc_len]),
                    integ,
                    SecretKey::new(vec![0xa7; key_len]),
                ),
            );
            let frame = encode_request(build_sa_message(&sa, false).unwrap(), 3, RequestMode::Ack);
            let nlas = nla_kinds(&frame);
            let kinds: Vec<u16> = nlas.iter().map(|(k, _)| *k).collect();
            assert_eq!(
                kinds,
                vec![XFRMA_ALG_CRYPT, XFRMA_ALG_AUTH_TRUNC, XFRMA_REPLAY_ESN_VAL]
            );
            assert!(!kinds.contains(&XFRMA_ALG_AUTH));
            assert!(!kinds.contains(&XFRMA_ALG_AEAD));
            let crypt = &nlas[0].1;
            assert_eq!(&crypt[..9], b"cbc(aes)\0");
            assert!(crypt[9..64].iter().all(|b| *b == 0));
            assert_eq!(
                u32::from_ne_bytes(crypt[64..68].try_into().unwrap()),
                enc_len as u32 * 8
            );
            assert_eq!(&crypt[68..], &vec![0xe1; enc_len][..]);
            let auth = &nlas[1].1;
            assert_eq!(&auth[..name.len()], name.as_bytes());
            assert!(auth[name.len()..64].iter().all(|b| *b == 0));
            assert_eq!(
                u32::from_ne_bytes(auth[64..68].try_into().unwrap()),
                key_len as u32 * 8
            );
            assert_eq!(u32::from_ne_bytes(auth[68..72].try_into().unwrap()), trunc);
            assert_eq!(&auth[72..], &vec![0xa7; key_len][..]);
        }
    }

    #[test]
    fn small_window_without_esn_stays_in_sa_info() {
        let mut sa = gcm_sa();
        sa.replay_window = 32;
        sa.mark = Some(Mark {
            value: 5,
            mask: 0xff,
        });
        sa.if_id = Some(9);
        let frame = encode_request(build_sa_message(&sa, true).unwrap(), 1, RequestMode::Ack);
        let msgs = split_messages(&frame).unwrap();
        assert_eq!(msgs[0].msg_type, netlink_packet_xfrm::XFRM_MSG_UPDSA);
        assert_eq!(msgs[0].payload[215], 32);
        let kinds: Vec<u16> = nla_kinds(&frame).iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![
                XFRMA_ALG_AEAD,
                netlink_packet_xfrm::XFRMA_MARK,
                netlink_packet_xfrm::XFRMA_IF_ID
            ]
        );
    }

    #[test]
    fn esn_flag_and_attr() {
        let mut sa = gcm_sa();
        sa.esn = true;
        sa.replay_window = 32;
        let frame = encode_request(build_sa_message(&sa, false).unwrap(), 1, RequestMode::Ack);
        let p = split_messages(&frame).unwrap()[0].payload.to_vec();
        assert_eq!(p[215], 0);
        assert_eq!(p[216] & XFRM_STATE_ESN, XFRM_STATE_ESN);
        assert!(nla_kinds(&frame)
            .iter()
            .any(|(k, _)| *k == XFRMA_REPLAY_ESN_VAL));
    }

    #[test]
    fn config_debug_redacts_keys() {
        let printed = format!("{:?}", gcm_sa());
        assert!(printed.contains("<redacted 36 bytes>"), "{printed}");
        assert!(!printed.contains("90, 90"), "{printed}");
    }

    /// Issue 12: an IPv6 tunnel SA with an IPv6 selector and ESP-in-UDP:
    /// the 16-byte addresses fill `xfrm_id.daddr` and `saddr`, the SA and
    /// its selector say AF_INET6, with the selector's prefix lengths.
    #[test]
    fn ipv6_sa_bytes() {
        let mut sa = SaConfig::new(
            "fd00:50::1".parse().unwrap(),
            "fd00:50::2".parse().unwrap(),
            0x1234_5678,
            ReqId::owned(7).unwrap(),
            EspTransform::aes_gcm(SecretKey::new(vec![0x5a; 36])),
        );
        sa.selector = Some(TrafficSelector::new(
            "fd10:1::/64".parse().unwrap(),
            "fd10:2::/64".parse().unwrap(),
        ));
        sa.encap = Some(UdpEncap::ports(4500));
        let frame = encode_request(build_sa_message(&sa, false).unwrap(), 9, RequestMode::Ack);
        let msgs = split_messages(&frame).unwrap();
        let p = msgs[0].payload;
        let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        // selector: daddr 0, saddr 16, family 40, prefixlen_d 42, prefixlen_s 43
        assert_eq!(&p[0..16], &v6("fd10:2::"));
        assert_eq!(&p[16..32], &v6("fd10:1::"));
        assert_eq!(
            u16::from_ne_bytes(p[40..42].try_into().unwrap()),
            libc::AF_INET6 as u16
        );
        assert_eq!((p[42], p[43]), (64, 64));
        // xfrm_id.daddr at 56, spi at 72, saddr at 80, family at 212
        assert_eq!(&p[56..72], &v6("fd00:50::2"));
        assert_eq!(&p[72..76], &[0x12, 0x34, 0x56, 0x78]);
        assert_eq!(&p[80..96], &v6("fd00:50::1"));
        assert_eq!(
            u16::from_ne_bytes(p[212..214].try_into().unwrap()),
            libc::AF_INET6 as u16
        );
        assert_eq!(p[214], XFRM_MODE_TUNNEL);
        let kinds: Vec<u16> = nla_kinds(&frame).iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![XFRMA_ALG_AEAD, XFRMA_REPLAY_ESN_VAL, XFRMA_ENCAP]
        );
    }

    #[test]
    fn mixed_families_are_refused() {
        let mut sa = gcm_sa();
        sa.dst = "2001:db8::1".parse().unwrap();
        assert!(matches!(
            build_sa_message(&sa, false),
            Err(XfrmError::InvalidInput(_))
        ));
    }

    #[test]
    fn canned_reply_parses_with_counters_and_no_keys() {
        // Build a NEWSA as the kernel would send it back, with counters.
        let mut sa = gcm_sa();
        sa.encap = Some(UdpEncap::ports(4500));
        sa.lifetimes.soft.add_seconds = Some(5);
        let mut msg = build_sa_message(&sa, false).unwrap();
        if let XfrmMessage::AddSa(m) = &mut msg.0 {
            m.user_sa_info.lifetime_cur.bytes = 1234;
            m.user_sa_info.lifetime_cur.packets = 12;
        }
        let frame = encode_request(msg, 1, RequestMode::Ack);
        let raw = split_messages(&frame).unwrap()[0];
        let decoded = decode_xfrm(raw.msg_type, raw.payload).unwrap();
        let infos = sa_infos("test", std::slice::from_ref(&decoded)).unwrap();
        let info = &infos[0];
        assert_eq!(info.spi, 0x1234_5678);
        assert_eq!(info.reqid, ReqId::owned(7).unwrap());
        assert!(info.is_owned());
        assert_eq!(info.counters.bytes, 1234);
        assert_eq!(info.counters.packets, 12);
        assert_eq!(info.replay_window, 64);
        assert_eq!(info.encap, Some(UdpEncap::ports(4500)));
        assert_eq!(info.lifetimes.soft.add_seconds, Some(5));
        assert_eq!(info.lifetimes.hard.bytes, None);
        assert_eq!(info.algorithms[0].name, "rfc4106(gcm(aes))");
        assert_eq!(info.algorithms[0].icv_bits, Some(128));
        let printed = format!("{info:?}");
        assert!(!printed.contains("90, 90"), "key bytes leaked: {printed}");
    }

    #[test]
    fn cbc_sha512_sa_builds() {
        let mut sa = gcm_sa();
        sa.transform = EspTransform::aes_cbc(
            SecretKey::new(vec![1; 32]),
            Integrity::HmacSha512_256,
            SecretKey::new(vec![2; 64]),
        );
        let frame = encode_request(build_sa_message(&sa, false).unwrap(), 1, RequestMode::Ack);
        let nlas = nla_kinds(&frame);
        assert_eq!(nlas[0].0, netlink_packet_xfrm::XFRMA_ALG_CRYPT);
        assert_eq!(nlas[1].0, netlink_packet_xfrm::XFRMA_ALG_AUTH_TRUNC);
        assert_eq!(&nlas[1].1[..12], b"hmac(sha512)");
        assert_eq!(
            u32::from_ne_bytes(nlas[1].1[68..72].try_into().unwrap()),
            256
        );
    }
}
