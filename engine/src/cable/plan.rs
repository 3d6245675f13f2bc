//! [`CablePlan`]: everything the connection manager needs to build one cable.
//!
//! Built by [`build_plan`] from the local [`Site`] (Endpoint + Cluster), one
//! remote Endpoint and the IPsec settings, following the libreswan driver:
//!
//! - **Remote address** (legacy NAT rule; NAT discovery is not implemented
//!   yet): remote `using-loadbalancer: "true"` or `nat_enabled` -> its public
//!   IP, with NAT; otherwise its private IP, without NAT. (A remote with NAT
//!   but no public IP falls back to the private IP, with a warning.)
//! - **Ports**: the local IKE port is `CE_IPSEC_NATTPORT`, the port the
//!   socket is bound to (a local Endpoint advertising another `udp-port` is
//!   a warning); the peer's is the remote Endpoint's `udp-port`, else
//!   `CE_IPSEC_NATTPORT` (a bad value is a warning and the default is used,
//!   as the driver does). IKE runs on that port from the first message.
//! - **Encapsulation**: raw ESP without NAT; ESP-in-UDP with NAT or
//!   `CE_IPSEC_FORCEENCAPS`.
//! - **IP families** (issue 12): one cable per IP family the two Endpoints
//!   have in common, as Submariner 0.21+ builds one per family. An Endpoint
//!   has a family when it has a private IP and a subnet of it. Each family's
//!   cable uses that family's private IPs (and IDs), public IP and subnets.
//! - **Children**: one per (local subnet `i` x remote subnet `j`) of the
//!   cable's family, the indices being positions in that family's part of
//!   the lists of [`super::subnets`]. Names: when either Endpoint has any
//!   IPv6 address or subnet (so it comes from a dual-stack release, 0.21+),
//!   the family names of 0.21+, `<cable_name>-v4-<i>-<j>` and
//!   `<cable_name>-v6-<i>-<j>`, and the cables are keyed
//!   `<cable_name>-v4`/`-v6` (Submariner's `GetFamilyCableName`); otherwise
//!   (IPv4 only on both sides) `<cable_name>-<i>-<j>` keyed `<cable_name>`,
//!   what the IPv4-only releases 0.16-0.20 show in `whack --trafficstatus`.
//!   The names never go on the wire, so either form interoperates.
//! - **Identities** ([`super::identity`]) and **role** ([`super::role`]).
//! - **DPD**: `dpdaction=hold`, `dpddelay=30s`.
//!
//! Each [`ChildPair`] carries the identities of the IKE SA it lives under:
//! children with equal identities share one IKE SA (always the case in
//! bidirectional mode); in preferred-server mode every pair has its own
//! FQDN identities, so libreswan builds one IKE SA per pair.

use std::net::IpAddr;
use std::time::Duration;

use ipnetwork::IpNetwork;

use super::identity::IkeId;
use super::role::{decide_role, Role};
use super::subnets::{local_subnets, remote_subnets};
use crate::config::IpsecConfig;
use crate::crd::{
    EndpointSpec, PREFERRED_SERVER_CONFIG, PREFERRED_SERVER_TIMESTAMP_CONFIG, UDP_PORT_CONFIG,
    USING_LOAD_BALANCER_CONFIG,
};
use crate::source::{DesiredState, Site};

/// libreswan's `dpddelay` as the driver sets it.
pub const DPD_DELAY: Duration = Duration::from_secs(30);

/// The settings a plan depends on besides the Endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSettings {
    /// `CE_IPSEC_NATTPORT`.
    pub default_natt_port: u16,
    /// `CE_IPSEC_FORCEENCAPS`.
    pub force_encaps: bool,
    /// `CE_IPSEC_PREFERREDSERVER` (used when the local Endpoint has no
    /// `preferred-server` in `backend_config`).
    pub preferred_server: bool,
}

impl From<&IpsecConfig> for PlanSettings {
    fn from(c: &IpsecConfig) -> Self {
        PlanSettings {
            default_natt_port: c.natt_port,
            force_encaps: c.force_encaps,
            preferred_server: c.preferred_server,
        }
    }
}

/// How ESP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// IP protocol 50.
    RawEsp,
    /// ESP-in-UDP (RFC 3948) on the IKE port.
    EspInUdp,
}

/// What to do when the peer stops answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DpdAction {
    /// Keep the policies (traffic is held, not leaked) and keep trying.
    Hold,
}

/// Dead-peer detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dpd {
    /// Interval of liveness checks.
    pub delay: Duration,
    /// What to do on a dead peer.
    pub action: DpdAction,
}

/// One Child SA to build: a (local subnet x remote subnet) pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChildPair {
    /// libreswan's connection name, `<cable_name>-<i>-<j>`.
    pub name: String,
    /// `i`: index in the local subnet list.
    pub local_index: usize,
    /// `j`: index in the remote subnet list.
    pub remote_index: usize,
    /// Local traffic selector.
    pub local_subnet: IpNetwork,
    /// Remote traffic selector.
    pub remote_subnet: IpNetwork,
    /// Our identity on the IKE SA carrying this child.
    pub local_id: IkeId,
    /// The identity the peer must present.
    pub remote_id: IkeId,
}

/// An IP family: each has its own cable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Both, in the order cables are built.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// `v4` or `v6`, as in connection names.
    pub fn tag(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }

    /// Whether this is IPv4.
    pub fn is_v4(self) -> bool {
        self == Family::V4
    }

    fn has_net(self, net: &IpNetwork) -> bool {
        net.is_ipv4() == self.is_v4()
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// Everything needed to build (and report) the cable to one remote Endpoint
/// in one IP family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CablePlan {
    /// The cable's key: the remote `cable_name`, with `-v4`/`-v6` when the
    /// cables are per family (see the module docs).
    pub cable_id: String,
    /// The IP family of every address, subnet and SA of this cable.
    pub family: Family,
    /// The remote Endpoint's `cable_name` (names the children).
    pub cable_name: String,
    /// The remote cluster id.
    pub remote_cluster_id: String,
    /// The remote Endpoint as received (for `Connection.endpoint`).
    pub remote_endpoint: EndpointSpec,
    /// The local Endpoint's `cable_name` (for logs and the tie-break).
    pub local_cable_name: String,
    /// Local address to bind/send from: the local private IP.
    pub local_address: IpAddr,
    /// Local IKE / NAT-T UDP port.
    pub local_port: u16,
    /// The peer's address (`Connection.usingIP`). In [`Role::Server`] the
    /// peer may come from any address; this is still what status reports.
    pub remote_address: IpAddr,
    /// The peer's IKE / NAT-T UDP port.
    pub remote_port: u16,
    /// Whether NAT is assumed between the gateways (`Connection.usingNAT`).
    pub using_nat: bool,
    /// Raw ESP or ESP-in-UDP.
    pub encapsulation: Encapsulation,
    /// Who initiates.
    pub role: Role,
    /// IP-address identities of the two private IPs (the IKE SA's IDs in
    /// bidirectional mode).
    pub local_id: IkeId,
    /// See `local_id`.
    pub remote_id: IkeId,
    /// The Child SAs, local-major order (`0-0, 0-1, 1-0, ...`).
    pub children: Vec<ChildPair>,
    /// Dead-peer detection.
    pub dpd: Dpd,
    /// The remote's `preferred-server-timestamp`, which a preferred server
    /// bumps when it restarts so that its clients reconnect (`None` behind a
    /// load balancer, where Submariner ignores it). See [`super::PlanDiff`].
    pub remote_restart_marker: Option<String>,
    /// Non-fatal oddities found while planning (already logged by callers).
    pub warnings: Vec<String>,
}

/// Why no plan could be built for a remote Endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An Endpoint lacks a usable private IP.
    #[error("{side} Endpoint {cable_name:?} has no valid private IP")]
    NoPrivateIp {
        /// `local` or `remote`.
        side: &'static str,
        /// Its cable name.
        cable_name: String,
    },
    /// A subnet that is not a CIDR.
    #[error("{side} subnet {subnet:?} of {cable_name:?} is not a CIDR")]
    BadSubnet {
        /// `local` or `remote`.
        side: &'static str,
        /// Its cable name.
        cable_name: String,
        /// The value.
        subnet: String,
    },
    /// The remote Endpoint is the local one.
    #[error("remote Endpoint {cable_name:?} has the local cluster id")]
    SelfConnection {
        /// Its cable name.
        cable_name: String,
    },
}

/// libreswan's connection name of child `(i, j)` of a cable: with the
/// family tag (`<cable>-v4-<i>-<j>`) when cables are per family.
pub fn child_name(
    cable_name: &str,
    family: Option<Family>,
    local_index: usize,
    remote_index: usize,
) -> String {
    match family {
        Some(f) => format!("{cable_name}-{}-{local_index}-{remote_index}", f.tag()),
        None => format!("{cable_name}-{local_index}-{remote_index}"),
    }
}

fn parse_subnets(
    side: &'static str,
    cable_name: &str,
    subnets: Vec<String>,
) -> Result<Vec<IpNetwork>, PlanError> {
    subnets
        .into_iter()
        .map(|s| {
            s.parse::<IpNetwork>().map_err(|_| PlanError::BadSubnet {
                side,
                cable_name: cable_name.to_string(),
                subnet: s.clone(),
            })
        })
        .collect()
}

/// The remote address and whether NAT is assumed (legacy rule), in the
/// family of `private`.
fn remote_address(
    remote: &EndpointSpec,
    private: IpAddr,
    warnings: &mut Vec<String>,
) -> (IpAddr, bool) {
    let load_balancer = match remote.backend_bool(USING_LOAD_BALANCER_CONFIG) {
        Ok(v) => v.unwrap_or(false),
        Err(e) => {
            warnings.push(format!("remote {e}; assuming no load balancer"));
            false
        }
    };
    if !(load_balancer || remote.nat_enabled) {
        return (private, false);
    }
    match remote.public_addr_of(private.is_ipv4()) {
        Some(public) => (public, true),
        None => {
            warnings.push(format!(
                "remote Endpoint {:?} needs NAT but has no valid {} public IP; using its private IP",
                remote.cable_name,
                Family::of(private)
            ));
            (private, false)
        }
    }
}

/// Builds the plan of the first cable from `local` to `remote` (the IPv4
/// one of a dual-stack pair). See [`build_plans`].
pub fn build_plan(
    local: &Site,
    remote: &EndpointSpec,
    settings: &PlanSettings,
) -> Result<CablePlan, PlanError> {
    let mut plans = build_plans(local, remote, settings)?;
    Ok(plans.remove(0))
}

/// Whether an Endpoint has an IPv6 address or subnet (in `subnets`).
fn has_v6(ep: &EndpointSpec, nets: &[IpNetwork]) -> bool {
    ep.private_addr_of(false).is_some() || nets.iter().any(|n| n.is_ipv6())
}

/// The families an Endpoint can carry: a private IP and a subnet of each.
fn families(ep: &EndpointSpec, nets: &[IpNetwork]) -> Vec<Family> {
    Family::ALL
        .into_iter()
        .filter(|f| ep.private_addr_of(f.is_v4()).is_some() && nets.iter().any(|n| f.has_net(n)))
        .collect()
}

/// Builds the plans of the cables from `local` to `remote`: one per IP
/// family both have, IPv4 first; never empty. With no family in common,
/// one plan without Child SAs (and a warning), on the first private IPs.
pub fn build_plans(
    local: &Site,
    remote: &EndpointSpec,
    settings: &PlanSettings,
) -> Result<Vec<CablePlan>, PlanError> {
    let local_ep = &local.endpoint;
    if remote.cluster_id == local_ep.cluster_id {
        return Err(PlanError::SelfConnection {
            cable_name: remote.cable_name.clone(),
        });
    }
    let local_first = local_ep
        .private_addr()
        .ok_or_else(|| PlanError::NoPrivateIp {
            side: "local",
            cable_name: local_ep.cable_name.clone(),
        })?;
    let remote_first = remote
        .private_addr()
        .ok_or_else(|| PlanError::NoPrivateIp {
            side: "remote",
            cable_name: remote.cable_name.clone(),
        })?;
    let local_nets = parse_subnets(
        "local",
        &local_ep.cable_name,
        local_subnets(local_ep, local.cluster.as_ref()),
    )?;
    let remote_nets = parse_subnets("remote", &remote.cable_name, remote_subnets(remote))?;
    let per_family = has_v6(local_ep, &local_nets) || has_v6(remote, &remote_nets);
    let remote_families = families(remote, &remote_nets);
    let common: Vec<Family> = families(local_ep, &local_nets)
        .into_iter()
        .filter(|f| remote_families.contains(f))
        .collect();
    let nets = &Nets {
        local: &local_nets,
        remote: &remote_nets,
    };
    if common.is_empty() {
        let family = Family::of(local_first);
        let mut plan = build_family_plan(
            local,
            remote,
            settings,
            (family, per_family),
            (local_first, remote_first),
            nets,
        );
        if !plan.children.is_empty() {
            plan.children.clear();
            plan.warnings.push(format!(
                "no IP family in common (a private IP and a subnet of it on both sides): local {:?}, remote {:?}",
                families(local_ep, &local_nets),
                remote_families
            ));
        }
        return Ok(vec![plan]);
    }
    Ok(common
        .into_iter()
        .map(|f| {
            let ips = (
                local_ep.private_addr_of(f.is_v4()).unwrap_or(local_first),
                remote.private_addr_of(f.is_v4()).unwrap_or(remote_first),
            );
            build_family_plan(local, remote, settings, (f, per_family), ips, nets)
        })
        .collect())
}

/// Both sides' parsed subnets, every family.
struct Nets<'a> {
    local: &'a [IpNetwork],
    remote: &'a [IpNetwork],
}

/// The plan of one family's cable; `(local_ip, remote_private)` are that
/// family's private IPs.
fn build_family_plan(
    local: &Site,
    remote: &EndpointSpec,
    settings: &PlanSettings,
    (family, per_family): (Family, bool),
    (local_ip, remote_private): (IpAddr, IpAddr),
    nets: &Nets<'_>,
) -> CablePlan {
    let local_ep = &local.endpoint;
    let mut warnings = Vec::new();

    // The local IKE port is the one the socket is bound to
    // (CE_IPSEC_NATTPORT), whatever the local Endpoint says: one source of
    // truth. An Endpoint that advertises another port is reported.
    let local_port = settings.default_natt_port;
    match local_ep.backend_port(UDP_PORT_CONFIG, local_port) {
        Ok(p) if p == local_port => {}
        Ok(p) => warnings.push(format!(
            "the local Endpoint advertises udp-port {p} but the engine listens on {local_port} (CE_IPSEC_NATTPORT): peers that follow the Endpoint will not reach it"
        )),
        Err(e) => warnings.push(format!("local {e}; the engine listens on {local_port}")),
    }
    let remote_port = remote
        .backend_port(UDP_PORT_CONFIG, settings.default_natt_port)
        .unwrap_or_else(|e| {
            warnings.push(format!(
                "remote {e}; using port {}",
                settings.default_natt_port
            ));
            settings.default_natt_port
        });

    let local_preferred = local_ep
        .backend_bool(PREFERRED_SERVER_CONFIG)
        .unwrap_or_else(|e| {
            warnings.push(format!("local {e}; using CE_IPSEC_PREFERREDSERVER"));
            None
        })
        .unwrap_or(settings.preferred_server);
    let remote_preferred = remote
        .backend_bool(PREFERRED_SERVER_CONFIG)
        .unwrap_or_else(|e| {
            warnings.push(format!("remote {e}; treating it as absent"));
            None
        });
    let role = decide_role(
        local_preferred,
        remote_preferred,
        &local_ep.cable_name,
        &remote.cable_name,
    );

    let (remote_addr, using_nat) = remote_address(remote, remote_private, &mut warnings);
    let behind_load_balancer = remote
        .backend_bool(USING_LOAD_BALANCER_CONFIG)
        .ok()
        .flatten()
        .unwrap_or(false);
    let remote_restart_marker = if behind_load_balancer {
        None
    } else {
        remote
            .backend_config
            .get(PREFERRED_SERVER_TIMESTAMP_CONFIG)
            .cloned()
    };
    let encapsulation = if using_nat || settings.force_encaps {
        Encapsulation::EspInUdp
    } else {
        Encapsulation::RawEsp
    };

    let local_nets: Vec<IpNetwork> = nets
        .local
        .iter()
        .filter(|n| family.has_net(n))
        .copied()
        .collect();
    let remote_nets: Vec<IpNetwork> = nets
        .remote
        .iter()
        .filter(|n| family.has_net(n))
        .copied()
        .collect();

    let local_id = IkeId::address(local_ip);
    let remote_id = IkeId::address(remote_private);
    let name_family = per_family.then_some(family);
    let mut children = Vec::new();
    for (i, l) in local_nets.iter().enumerate() {
        for (j, r) in remote_nets.iter().enumerate() {
            let (cl, cr) = if role.uses_fqdn_ids() {
                (
                    IkeId::pair_fqdn(local_ip, i, j),
                    IkeId::pair_fqdn(remote_private, j, i),
                )
            } else {
                (local_id.clone(), remote_id.clone())
            };
            children.push(ChildPair {
                name: child_name(&remote.cable_name, name_family, i, j),
                local_index: i,
                remote_index: j,
                local_subnet: *l,
                remote_subnet: *r,
                local_id: cl,
                remote_id: cr,
            });
        }
    }
    if children.is_empty() {
        warnings.push(format!(
            "no subnet pairs to connect ({} local, {} remote subnets)",
            local_nets.len(),
            remote_nets.len()
        ));
    }

    CablePlan {
        cable_id: match name_family {
            Some(f) => format!("{}-{}", remote.cable_name, f.tag()),
            None => remote.cable_name.clone(),
        },
        family,
        cable_name: remote.cable_name.clone(),
        remote_cluster_id: remote.cluster_id.clone(),
        remote_endpoint: remote.clone(),
        local_cable_name: local_ep.cable_name.clone(),
        local_address: local_ip,
        local_port,
        remote_address: remote_addr,
        remote_port,
        using_nat,
        encapsulation,
        role,
        local_id,
        remote_id,
        children,
        dpd: Dpd {
            delay: DPD_DELAY,
            action: DpdAction::Hold,
        },
        remote_restart_marker,
        warnings,
    }
}

/// Plans for every remote of a desired state (one per IP family), with the
/// remote cluster id. Empty when the local Endpoint is not known.
pub fn plans_for_state(
    state: &DesiredState,
    settings: &PlanSettings,
) -> Vec<(String, Result<Vec<CablePlan>, PlanError>)> {
    let Some(local) = &state.local else {
        return Vec::new();
    };
    state
        .remotes
        .iter()
        .map(|(id, site)| (id.clone(), build_plans(local, &site.endpoint, settings)))
        .collect()
}

impl CablePlan {
    /// One log line describing the plan.
    pub fn summary(&self) -> String {
        let enc = match self.encapsulation {
            Encapsulation::RawEsp => "raw ESP",
            Encapsulation::EspInUdp => "ESP-in-UDP",
        };
        format!(
            "cable {} to cluster {}: {}:{} -> {}:{} ({}, {}NAT, {enc}), {} child SA(s): {}",
            self.cable_name,
            self.remote_cluster_id,
            self.local_address,
            self.local_port,
            self.remote_address,
            self.remote_port,
            self.role,
            if self.using_nat { "" } else { "no " },
            self.children.len(),
            self.children
                .iter()
                .map(|c| format!("{} {}<->{}", c.name, c.local_subnet, c.remote_subnet))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
mod tests;
