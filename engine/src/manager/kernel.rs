//! Executes the core's [`KernelOp`]s through the `xfrm` crate (netlink),
//! in the order they come (see [`super::core::ops`] for why the order
//! matters), and holds what an earlier engine left ([`Leftovers`]).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use xfrm::{SaConfig, XfrmClient, XfrmError};

use super::core::KernelOp;
use super::reconcile::Leftovers;

/// A Child SA install (SAs and policies) slower than this is reported: the
/// loop handles no IKE message meanwhile. The first ESP SA after boot makes
/// the kernel load esp4/esp6 and the AES-GCM modules (and self-test the
/// algorithms): in a lab run (emulated VM) both engines of a pair sat
/// 2.47 s in that install at once, their crossed IKE_AUTH answers unread
/// in the socket, and the bench's first set-up of a boot is ~1.9 s slower
/// than the next ones; a warm kernel installs in milliseconds.
const SLOW_INSTALL: Duration = Duration::from_secs(1);

/// What executing an op gave back besides success.
pub enum Done {
    Nothing,
    /// SPIs reserved ([`KernelOp::ReserveSpis`]).
    Spis(Vec<u32>),
    /// Packets through one SA ([`KernelOp::ProbeInbound`]).
    Packets(u64),
    /// Bytes through the inbound and outbound SAs ([`KernelOp::ReadCounters`]).
    Bytes {
        rx: u64,
        tx: u64,
    },
}

/// The kernel side of the driver.
pub struct Kernel {
    pub x: XfrmClient,
    pub leftovers: Leftovers,
}

async fn add_or_update_sa(x: &XfrmClient, sa: &SaConfig) -> Result<(), XfrmError> {
    match x.add_sa(sa).await {
        Err(e) if e.is_already_exists() => x.update_sa(sa).await,
        other => other,
    }
}

/// Run `f` over every item; not-found is fine; the first other error is
/// returned after trying them all.
fn first_error(results: Vec<Result<(), XfrmError>>) -> Result<(), XfrmError> {
    results
        .into_iter()
        .filter(|r| !matches!(r, Err(e) if e.is_not_found()))
        .find(Result::is_err)
        .unwrap_or(Ok(()))
}

impl Kernel {
    /// Execute one op.
    pub async fn execute(&mut self, op: &KernelOp) -> Result<Done, XfrmError> {
        let x = &self.x;
        match op {
            KernelOp::InstallChild {
                cable,
                name,
                inbound,
                reserved,
                outbound,
                policies,
                encapsulation,
                ..
            } => {
                let started = Instant::now();
                // A reserved SPI's larval SA is replaced (UPDSA); if the
                // kernel dropped it meanwhile, the SA is added. Otherwise
                // never UPDSA an inbound SA: an SA already there under a
                // random SPI (kept from an earlier run, or another
                // program's) must not be overwritten. The Child SA fails
                // instead and is asked for again with another SPI.
                let installed = if *reserved {
                    match x.update_sa(inbound).await {
                        Err(e) if e.is_not_found() => x.add_sa(inbound).await,
                        other => other,
                    }
                } else {
                    x.add_sa(inbound).await
                };
                if let Err(e) = installed {
                    if e.is_already_exists() {
                        tracing::warn!(
                            cable = %cable, child = %name,
                            spi_in = format_args!("{:#010x}", inbound.spi),
                            "an SA with this inbound SPI is already in the kernel; not overwritten, the Child SA will be set up again"
                        );
                    }
                    return Err(e);
                }
                if let Some(out) = outbound {
                    if let Err(e) = add_or_update_sa(x, out).await {
                        let _ = x.delete_sa(&inbound.id()).await;
                        return Err(e);
                    }
                }
                for p in policies {
                    if let Err(e) = x.update_policy(p).await {
                        tracing::error!(cable = %cable, child = %name, "installing policies failed: {e}");
                        // The core forgets this Child SA: nothing of it stays.
                        let _ = x.delete_sa(&inbound.id()).await;
                        if let Some(out) = outbound {
                            let _ = x.delete_sa(&out.id()).await;
                        }
                        return Err(e);
                    }
                }
                let took = started.elapsed();
                tracing::info!(
                    cable = %cable, child = %name, spi_in = format_args!("{:#010x}", inbound.spi),
                    spi_out = format_args!("{:#010x}", outbound.as_ref().map_or(0, |o| o.spi)),
                    encap = ?encapsulation, install_ms = took.as_millis(), "Child SA installed"
                );
                if took >= SLOW_INSTALL {
                    tracing::warn!(
                        cable = %cable,
                        "the kernel took {took:.1?} to install a Child SA (IKE messages waited meanwhile); \
                         the first ESP SA after boot loads the esp4/esp6 and AES-GCM modules"
                    );
                }
                Ok(Done::Nothing)
            }
            KernelOp::HoldPolicies { cable, policies } => {
                let mut results = Vec::new();
                for p in policies {
                    results.push(x.update_policy(p).await);
                }
                first_error(results)?;
                tracing::debug!(cable = %cable, policies = policies.len(), "policies hold the pairs' traffic until their Child SAs are up");
                Ok(Done::Nothing)
            }
            KernelOp::InstallOutbound { cable, sa, .. } => {
                add_or_update_sa(x, sa).await?;
                tracing::debug!(cable = %cable, spi_out = format_args!("{:#010x}", sa.spi), "outbound SA of the peer's rekey installed");
                Ok(Done::Nothing)
            }
            KernelOp::UpdateSas { cable, sas } => {
                for sa in sas {
                    add_or_update_sa(x, sa).await?;
                }
                tracing::info!(cable = %cable, "SAs follow the peer's new NAT mapping");
                Ok(Done::Nothing)
            }
            KernelOp::RemoveSas { ids, .. } => {
                let mut results = Vec::with_capacity(ids.len());
                for id in ids {
                    results.push(x.delete_sa(id).await);
                }
                first_error(results).map(|()| Done::Nothing)
            }
            KernelOp::RemovePolicies { ids, .. } => {
                let mut results = Vec::with_capacity(ids.len());
                for id in ids {
                    results.push(x.delete_policy(id).await);
                }
                first_error(results).map(|()| Done::Nothing)
            }
            KernelOp::RemoveLeftoversBetween {
                cable,
                local,
                remote,
            } => {
                let n = self.leftovers.remove_sas_between(x, *local, *remote).await;
                if n > 0 {
                    tracing::info!(cable = %cable, "removed {n} SAs left by an earlier run");
                }
                Ok(Done::Nothing)
            }
            KernelOp::RemoveUnplanned { pairs, planned } => {
                if self.leftovers.sas.is_empty() && self.leftovers.policies.is_empty() {
                    return Ok(Done::Nothing);
                }
                let (s, p) = self.leftovers.remove_unplanned(x, pairs, planned).await;
                if s + p > 0 {
                    tracing::info!(
                        "removed {s} SAs and {p} policies of an earlier run that no cable uses"
                    );
                }
                Ok(Done::Nothing)
            }
            KernelOp::ReserveSpis { local, count } => {
                let any = if local.is_ipv4() {
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                };
                let reqid = xfrm::ReqId::owned(xfrm::MAX_OWNED_INDEX)?;
                let req = xfrm::SpiRequest::new(any, *local, reqid);
                let mut spis = Vec::with_capacity(*count);
                for _ in 0..*count {
                    match x.allocate_spi(&req).await {
                        Ok(spi) => spis.push(spi),
                        Err(e) if spis.is_empty() => return Err(e),
                        Err(_) => break,
                    }
                }
                Ok(Done::Spis(spis))
            }
            KernelOp::ProbeInbound { sa, .. } => {
                let sa = x.get_sa(sa).await?;
                Ok(Done::Packets(sa.counters.packets))
            }
            KernelOp::ReadCounters {
                inbound, outbound, ..
            } => {
                let (mut rx, mut tx) = (0u64, 0u64);
                for id in inbound {
                    if let Ok(sa) = x.get_sa(id).await {
                        rx = rx.saturating_add(sa.counters.bytes);
                    }
                }
                for id in outbound {
                    if let Ok(sa) = x.get_sa(id).await {
                        tx = tx.saturating_add(sa.counters.bytes);
                    }
                }
                Ok(Done::Bytes { rx, tx })
            }
        }
    }
}
