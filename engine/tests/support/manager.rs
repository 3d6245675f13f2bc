//! Two manager cores on one fake clock, joined by an in-memory network that
//! the test steers (which datagram moves next), each with a fake kernel
//! that applies its kernel operations: host tests of the connection
//! manager's decisions, in the manner of `ike`'s interleaving harness.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cable_engine::cable::{build_plan, CablePlan, PlanSettings};
use cable_engine::crd::EndpointSpec;
use cable_engine::manager::core::{Core, CoreSettings, KernelOp};
use cable_engine::source::Site;
use ike::{Endpoint, EndpointConfig, Transmit};
use xfrm::{Direction, PolicyConfig, PolicyId, SaConfig, SaId};

pub const PSK: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";

/// A kernel's XFRM tables, changed only by the core's operations.
#[derive(Default)]
pub struct FakeKernel {
    /// SAs, with when each was added (the kernel sends on the newest SA
    /// of a policy's template).
    pub sas: HashMap<SaId, (SaConfig, u64)>,
    pub policies: HashMap<PolicyId, PolicyConfig>,
    /// Fail this many Child SA installs from now on.
    pub fail_installs: usize,
    pub ops: usize,
    added: u64,
    /// Policy updates (creations or replacements) so far.
    pub policy_updates: usize,
    /// SAs an earlier engine left (what the daemon's `Leftovers` holds).
    pub leftovers: std::collections::HashSet<SaId>,
    /// SPIs the other side sends on (its traffic never stops), so a read
    /// of one of our inbound SAs with such an SPI finds packets.
    pub peer_sending: std::collections::HashSet<u32>,
    /// Packets counted on inbound SAs so far (by SPI).
    pub packets: HashMap<u32, u64>,
    /// Reserved SPIs' larval SAs (destination, SPI), and the last SPI.
    pub larval: std::collections::HashSet<(IpAddr, u32)>,
    next_spi: u32,
    just_reserved: Vec<u32>,
    /// Child SAs installed over a reserved SPI.
    pub reserved_installs: usize,
}

impl FakeKernel {
    /// Apply one operation as the kernel would; `Err` as netlink would.
    pub fn apply(&mut self, op: &KernelOp) -> Result<(), String> {
        self.ops += 1;
        match op {
            KernelOp::InstallChild {
                inbound,
                reserved,
                outbound,
                policies,
                ..
            } => {
                if self.fail_installs > 0 {
                    self.fail_installs -= 1;
                    return Err("No buffer space available (os error 105)".into());
                }
                // UPDSA over the larval SA, or ADDSA.
                let larval = self.larval.remove(&(inbound.dst, inbound.spi));
                if *reserved {
                    self.reserved_installs += 1;
                    assert!(
                        larval,
                        "inbound SPI {:#x} said reserved, but no larval SA",
                        inbound.spi
                    );
                } else {
                    assert!(!larval, "ADDSA over a larval SA {:#x}", inbound.spi);
                }
                self.add_sa(inbound);
                if let Some(o) = outbound {
                    self.add_sa(o);
                }
                for p in policies {
                    self.policy_updates += 1;
                    self.policies.insert(p.id(), p.clone());
                }
            }
            KernelOp::InstallOutbound { sa, .. } => self.add_sa(sa),
            KernelOp::HoldPolicies { policies, .. } => {
                for p in policies {
                    self.policy_updates += 1;
                    self.policies.insert(p.id(), p.clone());
                }
            }
            KernelOp::UpdateSas { sas, .. } => {
                for sa in sas {
                    self.add_sa(sa);
                }
            }
            KernelOp::RemoveSas { ids, .. } => {
                for id in ids {
                    self.sas.remove(id);
                }
            }
            KernelOp::RemovePolicies { ids, .. } => {
                for id in ids {
                    self.policies.remove(id);
                }
            }
            KernelOp::RemoveLeftoversBetween { local, remote, .. } => {
                let between = |s: &SaConfig| {
                    (s.src == *local && s.dst == *remote) || (s.src == *remote && s.dst == *local)
                };
                let gone: Vec<SaId> = self
                    .sas
                    .iter()
                    .filter(|(id, (s, _))| self.leftovers.contains(id) && between(s))
                    .map(|(id, _)| *id)
                    .collect();
                for id in gone {
                    self.sas.remove(&id);
                    self.leftovers.remove(&id);
                }
            }
            KernelOp::RemoveUnplanned { .. }
            | KernelOp::ReadCounters { .. }
            | KernelOp::ProbeInbound { .. } => {}
            KernelOp::ReserveSpis { local, count } => {
                // Each kernel its own SPIs: 0xc0XX0001... with XX the
                // address's last byte.
                let last = match local {
                    IpAddr::V4(a) => a.octets()[3],
                    IpAddr::V6(a) => a.octets()[15],
                };
                for _ in 0..*count {
                    self.next_spi += 1;
                    let spi = 0xc000_0000 | u32::from(last) << 16 | self.next_spi;
                    self.larval.insert((*local, spi));
                    self.just_reserved.push(spi);
                }
            }
        }
        Ok(())
    }

    /// The packet counter of inbound SA `spi`: the peer's traffic on it
    /// adds one packet between reads.
    pub fn read_packets(&mut self, spi: u32) -> u64 {
        let sending = self.peer_sending.contains(&spi);
        let n = self.packets.entry(spi).or_default();
        if sending {
            *n += 1;
        }
        *n
    }

    /// Add or update an SA (an update keeps its age).
    fn add_sa(&mut self, sa: &SaConfig) {
        self.added += 1;
        let at = self.sas.get(&sa.id()).map_or(self.added, |(_, t)| *t);
        self.sas.insert(sa.id(), (sa.clone(), at));
    }

    /// The SPIs this kernel sends on: for every out policy, the newest SA
    /// of its template.
    pub fn sending_spis(&self) -> std::collections::HashSet<u32> {
        self.policies
            .values()
            .filter(|p| p.direction() == Direction::Out)
            .filter_map(|p| {
                let (reqid, dst) = p.template_reqid_dst();
                self.sas
                    .values()
                    .filter(|(s, _)| s.reqid == reqid && s.dst == dst)
                    .max_by_key(|(_, at)| *at)
                    .map(|(s, _)| s.spi)
            })
            .collect()
    }

    /// The SPI traffic from `local` to `remote` (subnets as written in the
    /// plan) is sent with: the out policy's template, then the newest SA
    /// with that reqid and destination, as Linux picks it.
    pub fn outbound_spi(&self, local: &str, remote: &str) -> Option<u32> {
        let p = self.policies.values().find(|p| {
            p.direction() == Direction::Out
                && p.selector_text() == (local.to_string(), remote.to_string())
        })?;
        let (reqid, dst) = p.template_reqid_dst();
        self.sas
            .values()
            .filter(|(s, _)| s.reqid == reqid && s.dst == dst)
            .max_by_key(|(_, at)| *at)
            .map(|(s, _)| s.spi)
    }

    /// The kernel's EXPIRE for one of its SAs (as the event socket gives
    /// it); `hard` also removes the SA, as the kernel does.
    pub fn expire(&mut self, spi: u32, hard: bool) -> xfrm::XfrmEvent {
        let (cfg, _) = self
            .sas
            .values()
            .find(|(s, _)| s.spi == spi)
            .cloned()
            .expect("SA to expire");
        if hard {
            self.sas.remove(&cfg.id());
        }
        xfrm::XfrmEvent::Expire(xfrm::ExpireEvent {
            sa: xfrm::SaInfo {
                src: cfg.src,
                dst: cfg.dst,
                spi,
                proto: 50,
                reqid: cfg.reqid,
                mode: 1,
                selector: None,
                algorithms: Vec::new(),
                replay_window: cfg.replay_window,
                esn: cfg.esn,
                lifetimes: cfg.lifetimes,
                counters: Default::default(),
                stats: Default::default(),
                mark: None,
                if_id: None,
                encap: None,
            },
            hard,
        })
    }

    /// Inbound SPIs: SAs whose destination is `local_addr`.
    pub fn inbound_spis(&self, local_addr: IpAddr) -> Vec<u32> {
        self.sas
            .values()
            .filter(|(s, _)| s.dst == local_addr)
            .map(|(s, _)| s.spi)
            .collect()
    }
}

/// Helpers on xfrm's policy config for the checks above.
pub trait PolicyView {
    fn direction(&self) -> Direction;
    fn selector_text(&self) -> (String, String);
    fn template_reqid_dst(&self) -> (xfrm::ReqId, IpAddr);
}

impl PolicyView for PolicyConfig {
    fn direction(&self) -> Direction {
        self.id().direction
    }
    fn selector_text(&self) -> (String, String) {
        let s = self.id().selector;
        (s.src.to_string(), s.dst.to_string())
    }
    fn template_reqid_dst(&self) -> (xfrm::ReqId, IpAddr) {
        (self.template.reqid, self.template.dst)
    }
}

/// One gateway: its core, kernel, address and current Endpoint.
pub struct Side {
    pub core: Core,
    pub kernel: FakeKernel,
    pub addr: SocketAddr,
    pub endpoint: EndpointSpec,
    pub failures: Vec<String>,
}

pub fn endpoint(cluster: &str, ip: &str, subnets: &[&str]) -> EndpointSpec {
    EndpointSpec {
        cluster_id: cluster.into(),
        cable_name: format!("submariner-cable-{cluster}-{}", ip.replace('.', "-")),
        private_ip: ip.into(),
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        health_check_ip: String::new(),
        ..Default::default()
    }
}

pub fn plan(local: &EndpointSpec, remote: &EndpointSpec) -> CablePlan {
    let site = Site {
        endpoint: local.clone(),
        cluster: None,
    };
    let settings = PlanSettings {
        default_natt_port: 4500,
        force_encaps: false,
        preferred_server: false,
    };
    build_plan(&site, remote, &settings).expect("plan")
}

impl Side {
    pub fn new(endpoint: EndpointSpec) -> Side {
        let addr = SocketAddr::new(endpoint.private_ip.parse().unwrap(), 4500);
        let ike = EndpointConfig::default();
        let core = Core::new(
            CoreSettings {
                psk: ike::crypto::SecretBytes::from_slice(PSK.as_bytes()),
                natt_port: 4500,
                lifetimes: ike::Lifetimes::default(),
                sa_limits: Default::default(),
                proposals: Default::default(),
            },
            Endpoint::new(ike).unwrap(),
        );
        Side {
            core,
            kernel: FakeKernel::default(),
            addr,
            endpoint,
            failures: Vec::new(),
        }
    }

    /// Run the core's kernel operations; failures go back to the core.
    fn carry_out(&mut self, now: Instant) {
        while let Some(op) = self.core.poll_kernel_op() {
            let r = self.kernel.apply(&op);
            if let Err(e) = &r {
                self.failures.push(e.clone());
            }
            self.core.kernel_result(now, &op, r);
            if let KernelOp::ReserveSpis { local, count } = &op {
                let spis = std::mem::take(&mut self.kernel.just_reserved);
                assert_eq!(spis.len(), *count);
                self.core.spis_reserved(now, *local, &spis);
            }
            if let KernelOp::ProbeInbound { child, sa } = &op {
                let n = self.kernel.read_packets(sa.spi);
                self.core.inbound_packets(*child, *sa, n);
            }
        }
        while self.core.poll_health_target().is_some() {}
    }
}

/// Two gateways A and B and the datagrams between them.
pub struct World {
    pub t0: Instant,
    pub now: Instant,
    pub a: Side,
    pub b: Side,
    /// Datagrams in flight A->B and B->A.
    pub ab: VecDeque<Transmit>,
    pub ba: VecDeque<Transmit>,
    /// Called after every step (gap checks).
    pub steps: usize,
    /// Where B sees A's datagrams come from (a NAT in front of A).
    pub a_seen_as: Option<SocketAddr>,
    /// A's Endpoint as B knows it, when not A's own (a node with several
    /// addresses), and the local address A's socket then observes.
    pub a_for_b: Option<EndpointSpec>,
    pub a_local_seen: Option<IpAddr>,
}

impl World {
    pub fn new(a: EndpointSpec, b: EndpointSpec) -> World {
        let t0 = Instant::now();
        World {
            t0,
            now: t0,
            a: Side::new(a),
            b: Side::new(b),
            ab: VecDeque::new(),
            ba: VecDeque::new(),
            steps: 0,
            a_seen_as: None,
            a_for_b: None,
            a_local_seen: None,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// A's daemon dies and a new one starts: a fresh core, the kernel as
    /// it was (its SAs are the new core's leftovers), then A's plan.
    pub fn restart_a(&mut self) {
        let endpoint = self.a.endpoint.clone();
        let kernel = std::mem::take(&mut self.a.kernel);
        self.a = Side::new(endpoint);
        self.a.kernel = kernel;
        self.a.kernel.leftovers = self.a.kernel.sas.keys().copied().collect();
        self.ab.clear();
        self.apply_plan_a();
    }

    /// Both sides get plans for each other from their current Endpoints.
    pub fn apply_plans(&mut self) {
        self.apply_plan_a();
        self.apply_plan_b();
    }

    /// A gets its plan for B from the current Endpoints.
    pub fn apply_plan_a(&mut self) {
        let pa = plan(&self.a.endpoint, &self.b.endpoint);
        self.a
            .core
            .apply_plans(self.now, BTreeMap::from([(pa.cable_name.clone(), pa)]));
        self.drain();
    }

    /// B gets its plan for A from the current Endpoints.
    pub fn apply_plan_b(&mut self) {
        let a = self.a_for_b.as_ref().unwrap_or(&self.a.endpoint);
        let pb = plan(&self.b.endpoint, a);
        self.b
            .core
            .apply_plans(self.now, BTreeMap::from([(pb.cable_name.clone(), pb)]));
        self.drain();
    }

    /// Kernel operations, then datagrams into the network.
    pub fn drain(&mut self) {
        self.a.kernel.peer_sending = self.b.kernel.sending_spis();
        self.b.kernel.peer_sending = self.a.kernel.sending_spis();
        self.a.carry_out(self.now);
        self.b.carry_out(self.now);
        while let Some(t) = self.a.core.poll_transmit() {
            self.ab.push_back(t);
        }
        while let Some(t) = self.b.core.poll_transmit() {
            self.ba.push_back(t);
        }
    }

    /// Deliver one datagram (`pick_b`: from B when both have one).
    pub fn step(&mut self, pick_b: bool) -> bool {
        self.drain();
        let from_b = match (self.ab.is_empty(), self.ba.is_empty()) {
            (true, true) => return false,
            (true, false) => true,
            (false, true) => false,
            (false, false) => pick_b,
        };
        let now = self.now;
        if from_b {
            let t = self.ba.pop_front().unwrap();
            if t.payload != [0xff] {
                let local = self.a_local_seen;
                self.a
                    .core
                    .handle_datagram(now, local, self.b.addr, &t.payload);
            }
        } else {
            let t = self.ab.pop_front().unwrap();
            if t.payload != [0xff] {
                let from = self.a_seen_as.unwrap_or(self.a.addr);
                self.b.core.handle_datagram(now, None, from, &t.payload);
            }
        }
        self.drain();
        self.steps += 1;
        true
    }

    /// Deliver everything in the order `pick` chooses, firing timers
    /// when the network is quiet, until `until` after t0; `check` runs
    /// after every step. A deadline that stays in the past fails.
    pub fn run(
        &mut self,
        until: Duration,
        mut pick: impl FnMut() -> bool,
        mut check: impl FnMut(&World),
    ) {
        let mut same_instant = 0;
        loop {
            while self.step(pick()) {
                check(self);
            }
            let next = [self.a.core.poll_timeout(), self.b.core.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next else { return };
            if t > self.t0 + until {
                return;
            }
            if t <= self.now {
                same_instant += 1;
                assert!(
                    same_instant < 1000,
                    "a deadline stays at or before now ({:?}): the loop would spin",
                    self.elapsed()
                );
            } else {
                same_instant = 0;
                self.now = t;
            }
            let now = self.now;
            self.a.core.handle_timeout(now);
            self.b.core.handle_timeout(now);
            self.a.core.tick(now);
            self.b.core.tick(now);
            self.drain();
            check(self);
        }
    }

    /// Whether traffic between an A subnet and a B subnet passes both ways:
    /// the SA A sends on is inbound at B, and back.
    pub fn usable(&self, a_subnet: &str, b_subnet: &str) -> bool {
        let ab = self.a.kernel.outbound_spi(a_subnet, b_subnet);
        let b_in = self.b.kernel.inbound_spis(self.b.addr.ip());
        let ba = self.b.kernel.outbound_spi(b_subnet, a_subnet);
        let a_in = self.a.kernel.inbound_spis(self.a.addr.ip());
        ab.is_some_and(|s| b_in.contains(&s)) && ba.is_some_and(|s| a_in.contains(&s))
    }
}

/// xorshift coin flips, so interleavings are reproducible.
pub fn coin(seed: u64) -> impl FnMut() -> bool {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x & 1 == 1
    }
}
