//! Test harness shared by the `session_*` tests (included with `#[path]`):
//! two [`Endpoint`]s joined by an in-memory network, a fake clock made of
//! one base `Instant` plus `Duration`s, and a drop filter for packets.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ike::wire::{Cidr, Identity, TsRange};
use ike::{
    ChildSaInfo, Endpoint, EndpointConfig, Event, FailureReason, IkeSaInfo, PeerConfig, Transmit,
    TsPair,
};

pub const PSK: &[u8] = b"c3VibWFyaW5lci1wc2stdGV4dC1hcy1zZW50LWJ5LWJyb2tlci1pbmZvLXN1Ym0=";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ts(s: &str) -> TsRange {
    TsRange::from_cidr(s.parse::<Cidr>().unwrap())
}

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    AtoB,
    BtoA,
}

pub type Filter = Box<dyn FnMut(Dir, &Transmit) -> bool>;

/// Two endpoints, A (usually the initiator) and B.
pub struct Net {
    pub t0: Instant,
    pub now: Instant,
    pub a: Endpoint,
    pub b: Endpoint,
    pub a_addr: SocketAddr,
    pub b_addr: SocketAddr,
    pub ev_a: Vec<Event>,
    pub ev_b: Vec<Event>,
    /// Every datagram sent, in order, with the time it was sent.
    pub wire: Vec<(Duration, Dir, Vec<u8>)>,
    /// Return false to lose the packet.
    pub deliver: Filter,
}

/// Peer configs of both sides with `n` Child SA pairs:
/// A's 10.1.i.0/24 <-> B's 10.2.i.0/24.
pub fn peers(n: usize) -> (PeerConfig, PeerConfig) {
    let a_addr = addr("192.0.2.1:4500");
    let b_addr = addr("198.51.100.2:4500");
    let a_id = Identity::Ipv4("10.0.0.1".parse().unwrap());
    let b_id = Identity::Ipv4("10.0.0.2".parse().unwrap());
    let mut a = PeerConfig::new("to-b", a_addr, b_addr, a_id.clone(), b_id.clone(), PSK);
    let mut b = PeerConfig::new("to-a", b_addr, a_addr, b_id, a_id, PSK);
    for i in 0..n {
        let la = ts(&format!("10.1.{i}.0/24"));
        let lb = ts(&format!("10.2.{i}.0/24"));
        a.children.push(TsPair {
            local: vec![la],
            remote: vec![lb],
        });
        b.children.push(TsPair {
            local: vec![lb],
            remote: vec![la],
        });
    }
    (a, b)
}

impl Net {
    pub fn new(cfg_a: EndpointConfig, cfg_b: EndpointConfig) -> Net {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            a: Endpoint::new(cfg_a).unwrap(),
            b: Endpoint::new(cfg_b).unwrap(),
            a_addr: addr("192.0.2.1:4500"),
            b_addr: addr("198.51.100.2:4500"),
            ev_a: Vec::new(),
            ev_b: Vec::new(),
            wire: Vec::new(),
            deliver: Box::new(|_, _| true),
        }
    }

    pub fn default_pair() -> Net {
        Net::new(EndpointConfig::default(), EndpointConfig::default())
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Delivers queued datagrams both ways until none is left.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                moved = true;
                assert_eq!(t.remote, self.b_addr);
                self.wire
                    .push((self.elapsed(), Dir::AtoB, t.payload.clone()));
                // NAT keepalives are consumed by the socket layer.
                if t.payload != [0xff] && (self.deliver)(Dir::AtoB, &t) {
                    self.b
                        .handle_datagram(self.now, t.remote, t.local, &t.payload);
                }
            }
            while let Some(t) = self.b.poll_transmit() {
                moved = true;
                assert_eq!(t.remote, self.a_addr);
                self.wire
                    .push((self.elapsed(), Dir::BtoA, t.payload.clone()));
                if t.payload != [0xff] && (self.deliver)(Dir::BtoA, &t) {
                    self.a
                        .handle_datagram(self.now, t.remote, t.local, &t.payload);
                }
            }
            self.collect();
            if !moved {
                return;
            }
        }
        panic!("endless ping-pong");
    }

    pub fn collect(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.ev_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.ev_b.push(e);
        }
    }

    /// Pumps, then jumps the clock from timer to timer until no timer is
    /// left or `limit` after t0 is reached.
    pub fn run(&mut self, limit: Duration) {
        self.pump();
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next else { return };
            if t > self.t0 + limit {
                return;
            }
            assert!(t >= self.now, "timer in the past");
            self.now = t;
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.pump();
        }
    }

    pub fn children(events: &[Event]) -> Vec<&ChildSaInfo> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaEstablished(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    pub fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
        events.iter().filter(|e| f(e)).count()
    }
}

/// Asserts that two Child SA reports describe the same SA pair seen from
/// both ends.
pub fn assert_mirrored(x: &ChildSaInfo, y: &ChildSaInfo) {
    assert_eq!(x.spi_out, y.spi_in);
    assert_eq!(x.spi_in, y.spi_out);
    assert_eq!(x.key_out.expose(), y.key_in.expose());
    assert_eq!(x.key_in.expose(), y.key_out.expose());
    assert_ne!(x.key_in.expose(), x.key_out.expose());
    assert_eq!(x.key_out.len(), x.encr.keymat_len());
    assert_eq!(x.encr, y.encr);
    assert_eq!(x.integ, y.integ);
    assert_eq!(x.auth_key_out.expose(), y.auth_key_in.expose());
    assert_eq!(x.auth_key_in.expose(), y.auth_key_out.expose());
    let auth_len = x.integ.map_or(0, ike::crypto::Integ::key_len);
    assert_eq!(x.auth_key_out.len(), auth_len);
    if auth_len > 0 {
        assert_ne!(x.auth_key_in.expose(), x.auth_key_out.expose());
    }
    assert_eq!(x.esn, y.esn);
    assert_eq!(x.ts_local, y.ts_remote);
    assert_eq!(x.ts_remote, y.ts_local);
    assert_eq!(x.local_addr, y.remote_addr);
    assert_eq!(x.remote_addr, y.local_addr);
    assert!(x.tunnel_mode && y.tunnel_mode);
}

/// SPIs a kernel would have installed, per side, following the events the
/// way a daemon does: by [`ike::ChildId`], removing on `ChildSaDeleted`
/// exactly the pair that id was installed with.
#[derive(Default, Debug)]
pub struct Kernel {
    pub inbound: HashSet<u32>,
    pub outbound: HashSet<u32>,
    pub by_child: std::collections::HashMap<ike::ChildId, (u32, u32)>,
}

impl Kernel {
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::ChildSaEstablished(c) => {
                assert!(self.inbound.insert(c.spi_in));
                assert!(self.outbound.insert(c.spi_out));
                let prev = self.by_child.insert(c.child, (c.spi_in, c.spi_out));
                assert!(prev.is_none(), "ChildId {:?} reused", c.child);
            }
            Event::ChildSaDeleted {
                child,
                spi_in,
                spi_out,
                ..
            } => {
                assert_eq!(self.by_child.remove(child), Some((*spi_in, *spi_out)));
                assert!(self.inbound.remove(spi_in));
                assert!(self.outbound.remove(spi_out));
            }
            _ => {}
        }
    }
}

/// A network where the test decides which queued datagram moves next.
pub struct Stepper {
    pub net: Net,
    pub ab: VecDeque<Transmit>,
    pub ba: VecDeque<Transmit>,
    pub ka: Kernel,
    pub kb: Kernel,
    /// Check after every step that traffic can flow both ways.
    pub check_gapless: bool,
}

impl Stepper {
    pub fn new(net: Net) -> Self {
        Stepper {
            net,
            ab: VecDeque::new(),
            ba: VecDeque::new(),
            ka: Kernel::default(),
            kb: Kernel::default(),
            check_gapless: false,
        }
    }

    /// Moves what the endpoints sent to the queues (and to `net.wire`)
    /// and their events to the kernels.
    pub fn drain(&mut self) {
        let at = self.net.elapsed();
        while let Some(t) = self.net.a.poll_transmit() {
            self.net.wire.push((at, Dir::AtoB, t.payload.clone()));
            self.ab.push_back(t);
        }
        while let Some(t) = self.net.b.poll_transmit() {
            self.net.wire.push((at, Dir::BtoA, t.payload.clone()));
            self.ba.push_back(t);
        }
        while let Some(e) = self.net.a.poll_event() {
            self.ka.apply(&e);
            self.net.ev_a.push(e);
        }
        while let Some(e) = self.net.b.poll_event() {
            self.kb.apply(&e);
            self.net.ev_b.push(e);
        }
        if self.check_gapless {
            assert!(
                self.ka.outbound.intersection(&self.kb.inbound).count() >= 1,
                "no A->B SA pair at {:?}",
                self.net.elapsed()
            );
            assert!(
                self.kb.outbound.intersection(&self.ka.inbound).count() >= 1,
                "no B->A SA pair at {:?}",
                self.net.elapsed()
            );
        }
    }

    /// Delivers one datagram; `pick_b` chooses the B->A queue when both
    /// have something.
    pub fn step(&mut self, pick_b: bool) -> bool {
        self.step_at(pick_b, 0)
    }

    /// Like [`step`](Self::step) but delivers the datagram at `index`
    /// (modulo the queue's length) of the chosen queue: datagrams of one
    /// direction overtake each other, as UDP allows.
    pub fn step_at(&mut self, pick_b: bool, index: usize) -> bool {
        self.drain();
        let from_b = match (self.ab.is_empty(), self.ba.is_empty()) {
            (true, true) => return false,
            (true, false) => true,
            (false, true) => false,
            (false, false) => pick_b,
        };
        let now = self.net.now;
        let q = if from_b { &mut self.ba } else { &mut self.ab };
        let t = q.remove(index % q.len()).unwrap();
        if from_b {
            self.net
                .a
                .handle_datagram(now, t.remote, t.local, &t.payload);
        } else {
            self.net
                .b
                .handle_datagram(now, t.remote, t.local, &t.payload);
        }
        self.drain();
        true
    }

    /// Delivers everything (alternating), then fires the next timer.
    pub fn run_until(&mut self, limit: Duration, mut pick: impl FnMut() -> bool) {
        loop {
            while self.step(pick()) {}
            let next = [self.net.a.poll_timeout(), self.net.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next else { return };
            if t > self.net.t0 + limit {
                return;
            }
            self.net.now = t;
            self.net.a.handle_timeout(t);
            self.net.b.handle_timeout(t);
        }
    }

    pub fn installed_pairs(&self) -> usize {
        self.ka.outbound.intersection(&self.kb.inbound).count()
    }
}

/// xorshift, so interleavings are reproducible: a stream of coin flips.
pub fn coin(seed: u64) -> impl FnMut() -> bool {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x & 1 == 1
    }
}

/// A network where every datagram takes `delay` one way (in order), for
/// tests that measure set-up time in round trips on the fake clock: the
/// clock jumps from arrival to arrival and timer to timer. Events drive a
/// [`Kernel`] per side, as the daemon installs them.
pub struct Delayed {
    pub net: Net,
    pub delay: Duration,
    in_flight: VecDeque<(Instant, Dir, Transmit)>,
    pub ka: Kernel,
    pub kb: Kernel,
    /// When each side's events came out, per side: (elapsed, event).
    pub timeline_a: Vec<(Duration, Event)>,
    pub timeline_b: Vec<(Duration, Event)>,
}

impl Delayed {
    pub fn new(net: Net, delay: Duration) -> Self {
        Delayed {
            net,
            delay,
            in_flight: VecDeque::new(),
            ka: Kernel::default(),
            kb: Kernel::default(),
            timeline_a: Vec::new(),
            timeline_b: Vec::new(),
        }
    }

    fn drain(&mut self) {
        let arrive = self.net.now + self.delay;
        let at = self.net.elapsed();
        while let Some(t) = self.net.a.poll_transmit() {
            self.net.wire.push((at, Dir::AtoB, t.payload.clone()));
            self.in_flight.push_back((arrive, Dir::AtoB, t));
        }
        while let Some(t) = self.net.b.poll_transmit() {
            self.net.wire.push((at, Dir::BtoA, t.payload.clone()));
            self.in_flight.push_back((arrive, Dir::BtoA, t));
        }
        while let Some(e) = self.net.a.poll_event() {
            self.ka.apply(&e);
            self.timeline_a.push((at, e.clone()));
            self.net.ev_a.push(e);
        }
        while let Some(e) = self.net.b.poll_event() {
            self.kb.apply(&e);
            self.timeline_b.push((at, e.clone()));
            self.net.ev_b.push(e);
        }
    }

    /// Whether both directions have an SA pair installed on both ends.
    pub fn usable(&self) -> bool {
        self.ka.outbound.intersection(&self.kb.inbound).count() >= 1
            && self.kb.outbound.intersection(&self.ka.inbound).count() >= 1
    }

    /// Runs until nothing is in flight and no timer is due before `limit`
    /// after t0; calls `watch` after every instant the clock stops at.
    pub fn run(&mut self, limit: Duration, mut watch: impl FnMut(&Self)) {
        self.drain();
        watch(self);
        loop {
            let arrival = self.in_flight.front().map(|(t, _, _)| *t);
            let next = [
                arrival,
                self.net.a.poll_timeout(),
                self.net.b.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(t) = next else { return };
            if t > self.net.t0 + limit {
                return;
            }
            assert!(t >= self.net.now, "timer in the past");
            self.net.now = t;
            while self.in_flight.front().is_some_and(|(at, _, _)| *at <= t) {
                let (_, dir, d) = self.in_flight.pop_front().unwrap();
                if d.payload == [0xff] || !(self.net.deliver)(dir, &d) {
                    continue;
                }
                match dir {
                    Dir::AtoB => self.net.b.handle_datagram(t, d.remote, d.local, &d.payload),
                    Dir::BtoA => self.net.a.handle_datagram(t, d.remote, d.local, &d.payload),
                }
                self.drain();
            }
            if self.net.a.poll_timeout().is_some_and(|x| x <= t) {
                self.net.a.handle_timeout(t);
            }
            if self.net.b.poll_timeout().is_some_and(|x| x <= t) {
                self.net.b.handle_timeout(t);
            }
            self.drain();
            watch(self);
        }
    }
}

/// The first IKE SA established.
pub fn ike_up(evs: &[Event]) -> IkeSaInfo {
    evs.iter()
        .find_map(|e| match e {
            Event::IkeSaEstablished(i) => Some(i.clone()),
            _ => None,
        })
        .expect("IKE SA established")
}

/// The reasons of the IKE SA failures.
pub fn ike_failures(evs: &[Event]) -> Vec<FailureReason> {
    evs.iter()
        .filter_map(|e| match e {
            Event::IkeSaFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// The reasons of the Child SA failures.
pub fn child_failures(evs: &[Event]) -> Vec<FailureReason> {
    evs.iter()
        .filter_map(|e| match e {
            Event::ChildSaFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}
