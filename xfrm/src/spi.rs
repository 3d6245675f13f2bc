//! SPI allocation (XFRM_MSG_ALLOCSPI).
//!
//! The kernel picks a free SPI in the requested range and creates a larval
//! SA with it (it expires after `net.core.xfrm_acq_expires`, 30 s by
//! default, unless replaced with [`XfrmClient::update_sa`]).

use std::net::IpAddr;
use std::ops::RangeInclusive;

use netlink_packet_xfrm::{
    state::AllocSpiMessage, Address, Id, UserSaInfo, UserSpiInfo, XfrmAttrs, XfrmMessage,
    IPPROTO_ESP, XFRM_MODE_TUNNEL,
};

use crate::client::XfrmClient;
use crate::error::{ErrorContext, XfrmError};
use crate::ownership::ReqId;
use crate::sa::SaInfo;
use crate::selector::{same_family, Mark};
use crate::wire::Scrubbed;

/// Default SPI range: away from the low values other daemons tend to use.
pub const DEFAULT_SPI_RANGE: RangeInclusive<u32> = 0xC000_0000..=0xCFFF_FFFF;

/// Parameters of an SPI allocation for an inbound SA (`src` is the peer,
/// `dst` is us).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiRequest {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub reqid: ReqId,
    pub range: RangeInclusive<u32>,
    pub mark: Option<Mark>,
    pub if_id: Option<u32>,
}

impl SpiRequest {
    /// An ESP SPI from [`DEFAULT_SPI_RANGE`].
    pub fn new(src: IpAddr, dst: IpAddr, reqid: ReqId) -> Self {
        SpiRequest {
            src,
            dst,
            reqid,
            range: DEFAULT_SPI_RANGE,
            mark: None,
            if_id: None,
        }
    }
}

pub(crate) fn build_allocspi(req: &SpiRequest) -> Result<Scrubbed, XfrmError> {
    let family = same_family(&req.src, &req.dst, "SPI allocation endpoints")?;
    if req.range.is_empty() || *req.range.start() < 256 {
        return Err(XfrmError::InvalidInput(format!(
            "SPI range {:#x}..={:#x} is empty or includes reserved values below 256",
            req.range.start(),
            req.range.end()
        )));
    }
    let mut nlas = Vec::new();
    if let Some(mark) = req.mark {
        nlas.push(XfrmAttrs::Mark(mark.to_nl()));
    }
    if let Some(if_id) = req.if_id {
        nlas.push(XfrmAttrs::IfId(if_id));
    }
    Ok(Scrubbed(XfrmMessage::AllocSpi(AllocSpiMessage {
        spi_info: UserSpiInfo {
            info: UserSaInfo {
                id: Id {
                    daddr: Address::from_ip(&req.dst),
                    spi: 0,
                    proto: IPPROTO_ESP,
                },
                saddr: Address::from_ip(&req.src),
                reqid: req.reqid.raw(),
                family,
                mode: XFRM_MODE_TUNNEL,
                ..UserSaInfo::default()
            },
            min: *req.range.start(),
            max: *req.range.end(),
        },
        nlas,
    })))
}

impl XfrmClient {
    /// Ask the kernel for a free ESP SPI (host byte order).
    pub async fn allocate_spi(&self, req: &SpiRequest) -> Result<u32, XfrmError> {
        let op = "allocating SPI";
        let replies = self
            .request(build_allocspi(req)?, &ErrorContext::new(op))
            .await?;
        for r in &replies {
            if let XfrmMessage::AddSa(m) = &r.0 {
                let sa = SaInfo::from_nl(m)
                    .map_err(|reason| XfrmError::MalformedReply { op, reason })?;
                return Ok(sa.spi);
            }
        }
        Err(XfrmError::MalformedReply {
            op,
            reason: "no SA in the ALLOCSPI reply".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode_request, split_messages, RequestMode};

    #[test]
    fn allocspi_bytes() {
        let req = SpiRequest::new(
            "198.51.100.1".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
            ReqId::owned(3).unwrap(),
        );
        let frame = encode_request(build_allocspi(&req).unwrap(), 4, RequestMode::Ack);
        let m = split_messages(&frame).unwrap()[0];
        assert_eq!(m.msg_type, netlink_packet_xfrm::XFRM_MSG_ALLOCSPI);
        assert_eq!(m.payload.len(), 232);
        assert_eq!(&m.payload[56..60], &[198, 51, 100, 2]);
        assert_eq!(m.payload[76], IPPROTO_ESP);
        assert_eq!(
            u32::from_ne_bytes(m.payload[208..212].try_into().unwrap()),
            0xCE00_0003
        );
        assert_eq!(
            u32::from_ne_bytes(m.payload[224..228].try_into().unwrap()),
            0xC000_0000
        );
        assert_eq!(
            u32::from_ne_bytes(m.payload[228..232].try_into().unwrap()),
            0xCFFF_FFFF
        );
    }

    #[test]
    fn reserved_range_refused() {
        let mut req = SpiRequest::new(
            "198.51.100.1".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
            ReqId::owned(3).unwrap(),
        );
        req.range = 1..=100;
        assert!(build_allocspi(&req).is_err());
    }
}
