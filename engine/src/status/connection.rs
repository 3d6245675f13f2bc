//! The manager's view of a cable, as a Submariner `Connection`.
//!
//! `Connection.endpoint` is the remote Endpoint spec, `usingIP`/`usingNAT`
//! come from the plan, `status`/`statusMessage` from [`CableState`]. A
//! connected cable has an empty message; the others say why, in one line,
//! for `subctl show connections` and `kubectl get gateway -o yaml` readers.
//! Health-check results are merged afterwards ([`super::health`]).

use crate::cable::CablePlan;
use crate::crd::{Connection, ConnectionStatus, EndpointSpec};

/// The connection manager's state of one cable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CableState {
    /// Not (yet) being built, with why (e.g. the manager is not running).
    NotStarted(String),
    /// Being established or re-established, with what it is waiting for or
    /// why the last attempt failed (retried with backoff).
    Connecting(String),
    /// The IKE SA and its Child SAs are up.
    Connected,
    /// Given up until something changes (e.g. authentication failed), why.
    Error(String),
}

impl CableState {
    /// The Connection status value.
    pub fn status(&self) -> ConnectionStatus {
        match self {
            CableState::NotStarted(_) => ConnectionStatus::None,
            CableState::Connecting(_) => ConnectionStatus::Connecting,
            CableState::Connected => ConnectionStatus::Connected,
            CableState::Error(_) => ConnectionStatus::Error,
        }
    }

    /// The status message ("" when connected).
    pub fn message(&self) -> &str {
        match self {
            CableState::NotStarted(m) | CableState::Connecting(m) | CableState::Error(m) => m,
            CableState::Connected => "",
        }
    }
}

/// The `Connection` for a plan in a given state (without health results).
pub fn connection_for_plan(plan: &CablePlan, state: &CableState) -> Connection {
    Connection {
        status: state.status(),
        status_message: state.message().to_string(),
        endpoint: plan.remote_endpoint.clone(),
        using_ip: plan.remote_address.to_string(),
        using_nat: plan.using_nat,
        latency_rtt: None,
    }
}

/// The `Connection` for a remote Endpoint no cable could be planned for
/// (a [`crate::cable::PlanError`]): `error`, saying why, with the
/// remote's private IP as the one it would have used.
pub fn connection_for_unplanned(remote: &EndpointSpec, why: &str) -> Connection {
    Connection {
        status: ConnectionStatus::Error,
        status_message: why.to_string(),
        endpoint: remote.clone(),
        using_ip: remote.private_ip.clone(),
        using_nat: false,
        latency_rtt: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cable::{build_plan, PlanSettings};
    use crate::crd::EndpointSpec;
    use crate::source::Site;

    const SETTINGS: PlanSettings = PlanSettings {
        default_natt_port: 4500,
        force_encaps: false,
        preferred_server: false,
    };

    /// The local site and a remote Endpoint (IPv4), NAT or not.
    fn sites(nat: bool) -> (Site, EndpointSpec) {
        let local = Site {
            endpoint: EndpointSpec {
                cluster_id: "c1".into(),
                cable_name: "submariner-cable-c1-10-0-0-1".into(),
                private_ip: "10.0.0.1".into(),
                subnets: vec!["10.1.0.0/16".into()],
                ..Default::default()
            },
            cluster: None,
        };
        let remote = EndpointSpec {
            cluster_id: "c2".into(),
            cable_name: "submariner-cable-c2-10-0-0-2".into(),
            private_ip: "10.0.0.2".into(),
            public_ip: "198.51.100.2".into(),
            nat_enabled: nat,
            subnets: vec!["10.2.0.0/16".into()],
            ..Default::default()
        };
        (local, remote)
    }

    fn plan(nat: bool) -> CablePlan {
        let (local, remote) = sites(nat);
        build_plan(&local, &remote, &SETTINGS).unwrap()
    }

    #[test]
    fn connection_fields_from_plan_and_state() {
        let c = connection_for_plan(&plan(false), &CableState::Connected);
        assert_eq!(c.status, ConnectionStatus::Connected);
        assert_eq!(c.status_message, "");
        assert_eq!(c.using_ip, "10.0.0.2");
        assert!(!c.using_nat);
        assert_eq!(c.endpoint.cluster_id, "c2");

        let c = connection_for_plan(
            &plan(true),
            &CableState::Connecting("no response from 198.51.100.2:4500".into()),
        );
        assert_eq!(c.status, ConnectionStatus::Connecting);
        assert_eq!(c.status_message, "no response from 198.51.100.2:4500");
        assert_eq!((c.using_ip.as_str(), c.using_nat), ("198.51.100.2", true));

        let c = connection_for_plan(
            &plan(false),
            &CableState::Error("authentication failed".into()),
        );
        assert_eq!(c.status, ConnectionStatus::Error);
        let unplanned = EndpointSpec {
            cluster_id: "c3".into(),
            private_ip: "10.0.0.3".into(),
            ..Default::default()
        };
        let c = connection_for_unplanned(&unplanned, "remote subnet \"x\" is not a CIDR");
        assert_eq!(c.status, ConnectionStatus::Error);
        assert_eq!(c.status_message, "remote subnet \"x\" is not a CIDR");
        assert_eq!(c.using_ip, "10.0.0.3");
        let c = connection_for_plan(&plan(false), &CableState::NotStarted("later".into()));
        assert_eq!(c.status, ConnectionStatus::None);
        assert_eq!(c.status_message, "later");
    }

    /// Issue 12: a dual-stack remote gives one Connection per family, as
    /// Submariner's status has it (the family is the one of `usingIP`, the
    /// remote's public IP of that family with NAT), each with its own
    /// state.
    #[test]
    fn dual_stack_remote_gives_one_connection_per_family() {
        let (mut local, mut remote) = sites(true);
        local.endpoint.private_ips = vec!["10.0.0.1".into(), "fd00::1".into()];
        local.endpoint.subnets.push("fd10:1::/64".into());
        remote.private_ips = vec!["10.0.0.2".into(), "fd00::2".into()];
        remote.public_ips = vec!["198.51.100.2".into(), "2001:db8::2".into()];
        remote.subnets.push("fd10:2::/64".into());
        let plans = crate::cable::build_plans(&local, &remote, &SETTINGS).unwrap();
        let states = [
            CableState::Connected,
            CableState::Connecting("no response".into()),
        ];
        let c: Vec<Connection> = plans
            .iter()
            .zip(&states)
            .map(|(p, s)| connection_for_plan(p, s))
            .collect();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].using_ip.as_str(), c[0].status),
            ("198.51.100.2", ConnectionStatus::Connected)
        );
        assert_eq!(
            (c[1].using_ip.as_str(), c[1].status),
            ("2001:db8::2", ConnectionStatus::Connecting)
        );
        assert!(c
            .iter()
            .all(|x| x.using_nat && x.endpoint.cluster_id == "c2"));
    }
}
