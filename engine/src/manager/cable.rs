//! One cable's runtime state: its plan, the Child SAs installed for each of
//! its pairs, its pairs' policies, its status and its retry schedules. Its
//! health check (a pinger, I/O) is the driver's; its results come in as a
//! [`HealthReport`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use healthcheck::{HealthStatus, LatencyInfo};
use ike::{ChildId, SaId};

use super::backoff::Backoff;
use super::core::ops::{InstalledSas, PairPolicies};
use crate::cable::CablePlan;
use crate::crd::{Connection, ConnectionStatus, LatencyRtt};
use crate::metrics::CableSample;
use crate::status::{connection_for_plan, merge_health, CableState, HealthReport, HealthState};

/// First delay before re-initiating a peer after a failure.
pub const RETRY_MIN: Duration = Duration::from_secs(1);
/// First delay before asking again for a refused Child SA.
pub const CHILD_RETRY_MIN: Duration = Duration::from_secs(2);

/// A Child SA installed in the kernel.
#[derive(Debug, Clone)]
pub struct ChildRecord {
    pub sa: SaId,
    /// Index in `plan.children` (of the plan it was installed for).
    pub pair: usize,
    /// The pair's (local, remote) subnets.
    pub selectors: super::core::held::PairKey,
    /// The kernel SAs as installed (keys included), to update them when
    /// the peer's NAT mapping moves.
    pub configs: [Box<xfrm::SaConfig>; 2],
    pub sas: InstalledSas,
    /// When it was established (`whack --trafficstatus`'s add_time).
    pub since: std::time::Instant,
}

/// Runtime state of one cable.
pub struct Cable {
    pub plan: CablePlan,
    /// The `ike` peer names of this cable (one, or one per pair).
    pub peers: Vec<String>,
    /// Installed Child SAs of this generation by id.
    pub children: HashMap<ChildId, ChildRecord>,
    /// Installed Child SAs of the IKE SAs this generation replaces: they
    /// carry traffic until this one is whole, and never count towards it.
    pub old_children: HashMap<ChildId, ChildRecord>,
    /// How many times the cable was rebuilt (its `ike` peers' names carry it).
    pub generation: u64,
    /// Policies by pair index.
    pub policies: BTreeMap<usize, PairPolicies>,
    /// IKE SAs that carry (or are building) this cable.
    pub sas: BTreeSet<SaId>,
    /// IKE SAs replaced by newer ones, closed once the cable is whole again.
    pub superseded: BTreeSet<SaId>,
    pub state: CableState,
    /// Pending re-initiations by peer name.
    pub retries: Backoff<String>,
    /// Pending new attempts at Child SAs the peer refused, by IKE SA and
    /// the `ike` peer's pair index.
    pub child_retries: Backoff<(SaId, usize)>,
    /// When the cable last became connected.
    pub connected_since: Option<SystemTime>,
    /// Bytes through the cable's inbound / outbound SAs (kernel counters).
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// The status and message last logged.
    logged: Option<(ConnectionStatus, String)>,
}

impl Cable {
    pub fn new(plan: CablePlan, peers: Vec<String>) -> Self {
        Cable {
            plan,
            peers,
            children: HashMap::new(),
            old_children: HashMap::new(),
            generation: 0,
            policies: BTreeMap::new(),
            sas: BTreeSet::new(),
            superseded: BTreeSet::new(),
            state: CableState::Connecting("establishing the IKE SA".into()),
            retries: Backoff::new(RETRY_MIN),
            child_retries: Backoff::new(CHILD_RETRY_MIN),
            connected_since: None,
            rx_bytes: 0,
            tx_bytes: 0,
            logged: None,
        }
    }

    /// Every installed Child SA: this generation's and the replaced ones'.
    pub fn records(&self) -> impl Iterator<Item = &ChildRecord> {
        self.children.values().chain(self.old_children.values())
    }

    /// The same, to change them.
    pub fn records_mut(&mut self) -> impl Iterator<Item = &mut ChildRecord> {
        self.children
            .values_mut()
            .chain(self.old_children.values_mut())
    }

    /// Whether Child SA `child` is installed (of any generation).
    pub fn has_child(&self, child: &ChildId) -> bool {
        self.children.contains_key(child) || self.old_children.contains_key(child)
    }

    /// Take Child SA `child`'s record out (of any generation).
    pub fn take_child(&mut self, child: &ChildId) -> Option<ChildRecord> {
        self.children
            .remove(child)
            .or_else(|| self.old_children.remove(child))
    }

    /// Whether a Child SA of the pair with these selectors is installed.
    pub fn has_pair(&self, pair: &super::core::held::PairKey) -> bool {
        self.records().any(|r| r.selectors == *pair)
    }

    /// Pair indices with no Child SA installed.
    pub fn missing_pairs(&self) -> Vec<usize> {
        let have: BTreeSet<usize> = self.children.values().map(|c| c.pair).collect();
        (0..self.plan.children.len())
            .filter(|p| !have.contains(p))
            .collect()
    }

    /// Whether every pair has a Child SA.
    pub fn is_whole(&self) -> bool {
        !self.plan.children.is_empty() && self.missing_pairs().is_empty()
    }

    /// Recompute the state after a Child SA came or went. Returns true when
    /// the cable just became connected.
    pub fn refresh_state(&mut self) -> bool {
        if self.is_whole() {
            let was = self.state == CableState::Connected;
            self.state = CableState::Connected;
            if !was {
                self.connected_since = Some(SystemTime::now());
            }
            return !was;
        }
        if self.state == CableState::Connected {
            let missing = self.missing_pairs().len();
            self.state = CableState::Connecting(format!(
                "{missing} of {} Child SAs down, re-establishing",
                self.plan.children.len()
            ));
            self.connected_since = None;
        }
        false
    }

    /// The earliest pending retry.
    pub fn next_retry(&self) -> Option<Instant> {
        [self.retries.next(), self.child_retries.next()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The cable as a Submariner `Connection`, with its health check's
    /// latest results (`None`: no health check).
    pub fn connection(&self, health: Option<&LatencyInfo>) -> Connection {
        cable_connection(
            &self.plan,
            &self.state,
            self.is_whole(),
            health.map(health_report).as_ref(),
        )
    }

    /// Log one line when the reported status or its reason changed.
    pub fn log_transition(&mut self, c: &Connection) {
        let now = (c.status, c.status_message.clone());
        if self.logged.as_ref() == Some(&now) {
            return;
        }
        let from = self.logged.as_ref().map_or("new", |(s, _)| s.as_str());
        let reason = if c.status_message.is_empty() {
            "-"
        } else {
            &c.status_message
        };
        if c.status == ConnectionStatus::Error {
            tracing::warn!(cable = %self.plan.cable_id, "status {from} -> {}: {reason}", c.status.as_str());
        } else {
            tracing::info!(cable = %self.plan.cable_id, "status {from} -> {}: {reason}", c.status.as_str());
        }
        self.logged = Some(now);
    }

    /// The cable's metrics sample.
    pub fn sample(&self, health: Option<&LatencyInfo>) -> CableSample {
        let latency = health
            .filter(|i| i.last_nanos > 0)
            .map(|i| i.last_nanos as f64 / 1e9);
        CableSample {
            remote: self.plan.remote_endpoint.clone(),
            status: self.connection(health).status.as_str().to_string(),
            established_unix: self
                .connected_since
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            latency_seconds: latency,
            rx_bytes: self.rx_bytes,
            tx_bytes: self.tx_bytes,
        }
    }
}

/// A pinger's results as the status layer takes them.
fn health_report(info: &LatencyInfo) -> HealthReport {
    HealthReport {
        ip: info.ip.clone(),
        state: match info.status {
            HealthStatus::Connected => HealthState::Connected,
            HealthStatus::Unknown => HealthState::Unknown,
            HealthStatus::Error => HealthState::Error,
        },
        message: info.message.clone(),
        latency: LatencyRtt {
            last: info.last.clone(),
            min: info.min.clone(),
            average: info.average.clone(),
            max: info.max.clone(),
            std_dev: info.std_dev.clone(),
        },
    }
}

/// A cable's `Connection`: its state, with the health check merged the way
/// Submariner merges it, except that an answered health check does not
/// turn the error of a cable with a pair missing into `connected`. The
/// pings go through the pairs that are up; they say nothing of the one that
/// is not, and reporting the cable connected then lets traffic of that
/// pair be sent into a tunnel that does not exist yet.
fn cable_connection(
    plan: &CablePlan,
    state: &CableState,
    whole: bool,
    health: Option<&HealthReport>,
) -> Connection {
    let mut c = connection_for_plan(plan, state);
    let not_whole_error =
        (!whole && c.status == ConnectionStatus::Error).then(|| c.status_message.clone());
    merge_health(&mut c, health);
    if let Some(message) = not_whole_error {
        c.status = ConnectionStatus::Error;
        c.status_message = message;
    }
    c
}

/// A plan from c1 (10.0.0.1, two subnets) to c2 (10.0.0.2, one subnet),
/// for tests.
#[cfg(test)]
pub(crate) fn test_plan() -> CablePlan {
    use crate::cable::{build_plan, PlanSettings};
    use crate::crd::EndpointSpec;
    use crate::source::Site;
    let local = Site {
        endpoint: EndpointSpec {
            cluster_id: "c1".into(),
            cable_name: "submariner-cable-c1-10-0-0-1".into(),
            private_ip: "10.0.0.1".into(),
            subnets: vec!["10.1.0.0/16".into(), "10.11.0.0/16".into()],
            ..Default::default()
        },
        cluster: None,
    };
    let remote = EndpointSpec {
        cluster_id: "c2".into(),
        cable_name: "submariner-cable-c2-10-0-0-2".into(),
        private_ip: "10.0.0.2".into(),
        subnets: vec!["10.2.0.0/16".into()],
        ..Default::default()
    };
    let settings = PlanSettings {
        default_natt_port: 4500,
        force_encaps: false,
        preferred_server: false,
    };
    build_plan(&local, &remote, &settings).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> CablePlan {
        test_plan()
    }

    fn health(state: HealthState) -> HealthReport {
        HealthReport {
            ip: "10.2.0.1".into(),
            state,
            message: String::new(),
            latency: LatencyRtt::default(),
        }
    }

    /// The lab saw this: libreswan refused the second pair, the engine's
    /// health check answered through the first, and the cable was reported
    /// `connected` while the second pair had no Child SA.
    #[test]
    fn answered_health_check_does_not_hide_a_missing_pair() {
        let plan = plan();
        assert_eq!(plan.children.len(), 2);
        let state = CableState::Error("Child SA failed: no acceptable proposal".into());
        let c = cable_connection(&plan, &state, false, Some(&health(HealthState::Connected)));
        assert_eq!(c.status, ConnectionStatus::Error);
        assert_eq!(c.status_message, "Child SA failed: no acceptable proposal");
        assert!(c.latency_rtt.is_some(), "the RTT is still reported");
        // Whole, an answered health check clears the error (Submariner's rule).
        let c = cable_connection(&plan, &state, true, Some(&health(HealthState::Connected)));
        assert_eq!(c.status, ConnectionStatus::Connected);
        // And a refused pair being asked for again is `connecting`, which
        // health never changes.
        let state = CableState::Connecting("Child SA refused; asking again in 2s".into());
        let c = cable_connection(&plan, &state, false, Some(&health(HealthState::Connected)));
        assert_eq!(c.status, ConnectionStatus::Connecting);
    }
}
