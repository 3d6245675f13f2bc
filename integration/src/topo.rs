//! Network topology for tests: namespaces joined by veth pairs.
//!
//! Everything is made with `ip` (iproute2) and torn down when the owning value
//! is dropped, including when a test panics (drop runs during unwinding).
//! Namespace names carry the process id and a counter, so concurrent tests and
//! leftovers of a crashed run never collide.
//!
//! ```no_run
//! use integration::topo::TwoSites;
//! let t = TwoSites::new().unwrap();
//! t.left.sh("ping -c1 -I 10.1.0.1 10.2.0.1").unwrap();
//! ```

use anyhow::{bail, Context, Result};
use std::os::fd::AsFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn check(out: Output, what: &str) -> Result<String> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run a shell script in the current (root) namespace.
pub fn host_sh(script: &str) -> Result<String> {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .context("spawning sh")?;
    check(out, &format!("`{script}`"))
}

/// A named network namespace, deleted (with every process still in it) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create a namespace named `<prefix>-<pid>-<n>` with its loopback up.
    pub fn new(prefix: &str) -> Result<Self> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        host_sh(&format!("ip netns add {name}"))?;
        let ns = Netns { name };
        ns.sh("ip link set lo up")?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the namespace's handle (for `setns`).
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Run `sh -c script` inside the namespace; error (with stderr) unless it
    /// exits 0. Returns stdout.
    pub fn sh(&self, script: &str) -> Result<String> {
        let out = self.command("sh").args(["-c", script]).output()?;
        check(out, &format!("`{script}` in {}", self.name))
    }

    /// A command that will run inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Start a long-running process inside the namespace, output inherited.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Result<Child> {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {program} in {}", self.name))
    }

    /// Run `f` on a fresh thread that has joined this namespace, and return
    /// its value. Sockets created by `f` stay in this namespace for their
    /// whole life, wherever they are used afterwards.
    pub fn enter<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        let file =
            std::fs::File::open(self.path()).with_context(|| format!("opening {}", self.path()))?;
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .context("setns")?;
                Ok(f())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("thread in namespace {} panicked", self.name))?
        })
    }

    /// Add an address standing for a pod CIDR, on a dummy interface `pods`
    /// (made on first use), e.g. `10.1.0.1/16`.
    pub fn add_pod_addr(&self, addr_cidr: &str) -> Result<()> {
        self.sh(&format!(
            "ip link show pods >/dev/null 2>&1 || {{ ip link add pods type dummy && ip link set pods up; }}; \
             ip addr add {addr_cidr} dev pods"
        ))?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let n = &self.name;
        let _ = host_sh(&format!(
            "for p in $(ip netns pids {n} 2>/dev/null); do kill -9 $p 2>/dev/null; done; ip netns del {n}"
        ));
    }
}

/// Join two namespaces with a veth pair: `a_if` in `a` with `a_addr`,
/// `b_if` in `b` with `b_addr` (addresses in CIDR form), both up.
pub fn veth(
    a: &Netns,
    a_if: &str,
    a_addr: &str,
    b: &Netns,
    b_if: &str,
    b_addr: &str,
) -> Result<()> {
    // Made in the root namespace, where other test processes make theirs:
    // the process id keeps the names apart (at most 15 bytes with the suffix).
    let tmp = format!(
        "v{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    host_sh(&format!(
        "ip link add {tmp}a type veth peer name {tmp}b && \
         ip link set {tmp}a netns {an} name {a_if} && ip link set {tmp}b netns {bn} name {b_if}",
        an = a.name(),
        bn = b.name()
    ))?;
    a.sh(&format!(
        "ip addr add {a_addr} dev {a_if} && ip link set {a_if} up"
    ))?;
    b.sh(&format!(
        "ip addr add {b_addr} dev {b_if} && ip link set {b_if} up"
    ))?;
    Ok(())
}

/// Two gateway namespaces joined directly by one veth link, each with an
/// address for its "pod CIDR" and a route to the other's pod CIDR over the
/// link (so that traffic between pod CIDRs meets the XFRM policies).
///
/// | site  | gateway IP     | pod CIDR     | pod address |
/// |-------|----------------|--------------|-------------|
/// | left  | 192.168.50.1   | 10.1.0.0/16  | 10.1.0.1    |
/// | right | 192.168.50.2   | 10.2.0.0/16  | 10.2.0.1    |
///
/// [`TwoSites::dual_stack`] (or [`TwoSites::add_ipv6`]) adds the IPv6
/// half on the same link and dummies:
///
/// | site  | gateway IP     | pod CIDR     | pod address |
/// |-------|----------------|--------------|-------------|
/// | left  | fd00:50::1     | fd10:1::/64  | fd10:1::1   |
/// | right | fd00:50::2     | fd10:2::/64  | fd10:2::1   |
#[derive(Debug)]
pub struct TwoSites {
    pub left: Netns,
    pub right: Netns,
}

impl TwoSites {
    pub const LEFT_IP: &'static str = "192.168.50.1";
    pub const RIGHT_IP: &'static str = "192.168.50.2";
    pub const LEFT_PODS: &'static str = "10.1.0.0/16";
    pub const RIGHT_PODS: &'static str = "10.2.0.0/16";
    pub const LEFT_POD_IP: &'static str = "10.1.0.1";
    pub const RIGHT_POD_IP: &'static str = "10.2.0.1";
    /// The IPv6 underlay (added by [`TwoSites::add_ipv6`]).
    pub const LEFT_IP6: &'static str = "fd00:50::1";
    pub const RIGHT_IP6: &'static str = "fd00:50::2";
    /// The IPv6 pod CIDRs and pod addresses (on the same `pods` dummies).
    pub const LEFT_PODS6: &'static str = "fd10:1::/64";
    pub const RIGHT_PODS6: &'static str = "fd10:2::/64";
    pub const LEFT_POD_IP6: &'static str = "fd10:1::1";
    pub const RIGHT_POD_IP6: &'static str = "fd10:2::1";

    /// The IPv4-only topology (the table above).
    pub fn new() -> Result<Self> {
        let left = Netns::new("left")?;
        let right = Netns::new("right")?;
        veth(
            &left,
            "wan",
            &format!("{}/24", Self::LEFT_IP),
            &right,
            "wan",
            &format!("{}/24", Self::RIGHT_IP),
        )?;
        left.add_pod_addr(&format!("{}/16", Self::LEFT_POD_IP))?;
        right.add_pod_addr(&format!("{}/16", Self::RIGHT_POD_IP))?;
        left.sh(&format!(
            "ip route add {} via {} src {}",
            Self::RIGHT_PODS,
            Self::RIGHT_IP,
            Self::LEFT_POD_IP
        ))?;
        right.sh(&format!(
            "ip route add {} via {} src {}",
            Self::LEFT_PODS,
            Self::LEFT_IP,
            Self::RIGHT_POD_IP
        ))?;
        Ok(TwoSites { left, right })
    }

    /// Both families: [`TwoSites::new`], then [`TwoSites::add_ipv6`]. An
    /// IPv6-only test uses this too: what makes a site IPv6-only is its
    /// Endpoint, and the IPv4 addresses left on the link carry nothing of
    /// it.
    pub fn dual_stack() -> Result<Self> {
        let t = Self::new()?;
        t.add_ipv6()?;
        Ok(t)
    }

    /// Add the IPv6 half: IPv6 enabled in both namespaces (`disable_ipv6=0`
    /// for all, default and both interfaces), the underlay addresses on
    /// `wan` and the pod addresses on `pods` (all `nodad`: usable at once),
    /// and a route to the other's IPv6 pod CIDR over the link with the pod
    /// address as source (as the IPv4 routes). No forwarding is needed:
    /// the pod addresses are the gateways' own. Returns once neither
    /// namespace has a tentative address left (the link-local addresses'
    /// DAD): until then the kernel sends no neighbour solicitation for
    /// traffic sourced from the `pods` dummy.
    pub fn add_ipv6(&self) -> Result<()> {
        for (ns, ip, pod_ip, other_pods, other_ip) in [
            (
                &self.left,
                Self::LEFT_IP6,
                Self::LEFT_POD_IP6,
                Self::RIGHT_PODS6,
                Self::RIGHT_IP6,
            ),
            (
                &self.right,
                Self::RIGHT_IP6,
                Self::RIGHT_POD_IP6,
                Self::LEFT_PODS6,
                Self::LEFT_IP6,
            ),
        ] {
            ns.sh(&format!(
                "sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
                   net.ipv6.conf.wan.disable_ipv6=0 net.ipv6.conf.pods.disable_ipv6=0 && \
                 ip -6 addr add {ip}/64 dev wan nodad && \
                 ip -6 addr add {pod_ip}/64 dev pods nodad && \
                 ip -6 route add {other_pods} via {other_ip} src {pod_ip}"
            ))?;
        }
        for ns in [&self.left, &self.right] {
            ns.sh(
                "for i in $(seq 100); do \
                   [ -z \"$(ip -6 addr show tentative)\" ] && exit 0; sleep 0.1; \
                 done; echo 'IPv6 addresses still tentative after 10 s' >&2; ip -6 addr >&2; exit 1",
            )?;
        }
        Ok(())
    }
}

/// Address translation done by the router of [`RoutedSites`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Plain routing: each side sees the other's own address.
    None,
    /// The left site sits behind NAT: its traffic leaves from
    /// [`RoutedSites::LEFT_PUBLIC_IP`] (source ports kept when free), and UDP
    /// 4500 to that address is forwarded to it (a cloud's 1:1 NAT).
    Left,
    /// Both sites sit behind NAT with port translation: the left leaves from
    /// [`RoutedSites::LEFT_PUBLIC_IP`] with source ports in 20000-29999, the
    /// right from [`RoutedSites::RIGHT_PUBLIC_IP`] with ports in 30000-39999;
    /// UDP 4500 to either public address is forwarded to its site.
    Both,
    /// The left site sits behind a NAT that translates source ports at
    /// random (20000-29999) and forwards nothing: the other side reaches it
    /// only through the mapping its own traffic created, which lasts as long
    /// as the router's UDP conntrack timeout after the last packet (see
    /// [`RoutedSites::set_udp_timeouts`]).
    LeftMappingOnly,
}

/// Three namespaces: two gateway sites joined through a router namespace
/// that forwards between them and, per [`Nat`], translates addresses. Pod
/// CIDRs are the same as [`TwoSites`]'; the router knows no route to them,
/// so pod traffic only passes through a tunnel.
///
/// | site   | gateway (private) IP | public IP                      | pod CIDR    | pod address |
/// |--------|----------------------|--------------------------------|-------------|-------------|
/// | left   | 192.168.60.1         | 203.0.113.1 with NAT, else private | 10.1.0.0/16 | 10.1.0.1 |
/// | right  | 192.168.70.1         | 203.0.113.2 with `Nat::Both`, else private | 10.2.0.0/16 | 10.2.0.1 |
/// | router | 192.168.60.254, 192.168.70.254 | holds 203.0.113.1-2  | -           | -           |
#[derive(Debug)]
pub struct RoutedSites {
    pub left: Netns,
    pub router: Netns,
    pub right: Netns,
    pub nat: Nat,
}

impl RoutedSites {
    pub const LEFT_IP: &'static str = "192.168.60.1";
    pub const RIGHT_IP: &'static str = "192.168.70.1";
    pub const ROUTER_LEFT_IP: &'static str = "192.168.60.254";
    pub const ROUTER_RIGHT_IP: &'static str = "192.168.70.254";
    pub const LEFT_PUBLIC_IP: &'static str = "203.0.113.1";
    pub const RIGHT_PUBLIC_IP: &'static str = "203.0.113.2";
    pub const PUBLIC_NET: &'static str = "203.0.113.0/24";
    pub const LEFT_PODS: &'static str = TwoSites::LEFT_PODS;
    pub const RIGHT_PODS: &'static str = TwoSites::RIGHT_PODS;
    pub const LEFT_POD_IP: &'static str = TwoSites::LEFT_POD_IP;
    pub const RIGHT_POD_IP: &'static str = TwoSites::RIGHT_POD_IP;

    pub fn new(nat: Nat) -> Result<Self> {
        let left = Netns::new("left")?;
        let router = Netns::new("router")?;
        let right = Netns::new("right")?;
        veth(
            &left,
            "wan",
            &format!("{}/24", Self::LEFT_IP),
            &router,
            "to-left",
            &format!("{}/24", Self::ROUTER_LEFT_IP),
        )?;
        veth(
            &right,
            "wan",
            &format!("{}/24", Self::RIGHT_IP),
            &router,
            "to-right",
            &format!("{}/24", Self::ROUTER_RIGHT_IP),
        )?;
        left.add_pod_addr(&format!("{}/16", Self::LEFT_POD_IP))?;
        right.add_pod_addr(&format!("{}/16", Self::RIGHT_POD_IP))?;
        for (ns, gw, pods, src) in [
            (
                &left,
                Self::ROUTER_LEFT_IP,
                Self::RIGHT_PODS,
                Self::LEFT_POD_IP,
            ),
            (
                &right,
                Self::ROUTER_RIGHT_IP,
                Self::LEFT_PODS,
                Self::RIGHT_POD_IP,
            ),
        ] {
            ns.sh(&format!(
                "ip route add default via {gw} && ip route add {pods} via {gw} src {src}"
            ))?;
        }
        router.sh(&format!(
            "sysctl -qw net.ipv4.ip_forward=1 && ip addr add {}/32 dev lo && ip addr add {}/32 dev lo",
            Self::LEFT_PUBLIC_IP,
            Self::RIGHT_PUBLIC_IP
        ))?;
        let t = RoutedSites {
            left,
            router,
            right,
            nat,
        };
        let (l, r) = (Self::LEFT_IP, Self::RIGHT_IP);
        let (lp, rp) = (Self::LEFT_PUBLIC_IP, Self::RIGHT_PUBLIC_IP);
        // Behind NAT, a private address is unreachable from outside: new
        // flows into a NATed side pass only through the port forward.
        let hide_left = "iptables -A FORWARD -i to-right -o to-left -m conntrack --ctstate NEW \
                         -m conntrack ! --ctstate DNAT -j DROP";
        let hide_right = "iptables -A FORWARD -i to-left -o to-right -m conntrack --ctstate NEW \
                          -m conntrack ! --ctstate DNAT -j DROP";
        let rules = match nat {
            Nat::None => String::new(),
            Nat::Left => format!(
                "iptables -t nat -A POSTROUTING -s {l} -o to-right -j SNAT --to-source {lp} && \
                 iptables -t nat -A PREROUTING -d {lp} -p udp --dport 4500 -j DNAT --to-destination {l} && \
                 {hide_left}"
            ),
            Nat::LeftMappingOnly => format!(
                "iptables -t nat -A POSTROUTING -s {l} -o to-right -p udp -j SNAT --to-source {lp}:20000-29999 --random && \
                 iptables -t nat -A POSTROUTING -s {l} -o to-right -j SNAT --to-source {lp} && \
                 {hide_left}"
            ),
            Nat::Both => format!(
                "iptables -t nat -A POSTROUTING -s {l} -o to-right -p udp -j SNAT --to-source {lp}:20000-29999 && \
                 iptables -t nat -A POSTROUTING -s {l} -o to-right -j SNAT --to-source {lp} && \
                 iptables -t nat -A POSTROUTING -s {r} -o to-left -p udp -j SNAT --to-source {rp}:30000-39999 && \
                 iptables -t nat -A POSTROUTING -s {r} -o to-left -j SNAT --to-source {rp} && \
                 iptables -t nat -A PREROUTING -d {lp} -p udp --dport 4500 -j DNAT --to-destination {l} && \
                 iptables -t nat -A PREROUTING -d {rp} -p udp --dport 4500 -j DNAT --to-destination {r} && \
                 {hide_left} && {hide_right}"
            ),
        };
        if !rules.is_empty() {
            t.router.sh(&rules)?;
        }
        Ok(t)
    }

    /// The address the right site reaches the left gateway on.
    pub fn left_public_ip(&self) -> &'static str {
        match self.nat {
            Nat::None => Self::LEFT_IP,
            Nat::Left | Nat::Both | Nat::LeftMappingOnly => Self::LEFT_PUBLIC_IP,
        }
    }

    /// The address the left site reaches the right gateway on.
    pub fn right_public_ip(&self) -> &'static str {
        match self.nat {
            Nat::None | Nat::Left | Nat::LeftMappingOnly => Self::RIGHT_IP,
            Nat::Both => Self::RIGHT_PUBLIC_IP,
        }
    }

    /// Set the router's UDP conntrack timeouts (seconds): `unreplied` for
    /// flows seen in one direction only, `stream` for flows with replies
    /// (Linux defaults: 30 and 120). A NAT mapping dies this long after the
    /// last packet in either direction.
    pub fn set_udp_timeouts(&self, unreplied: u32, stream: u32) -> Result<()> {
        self.router.sh(&format!(
            "sysctl -qw net.netfilter.nf_conntrack_udp_timeout={unreplied} \
             net.netfilter.nf_conntrack_udp_timeout_stream={stream}"
        ))?;
        Ok(())
    }

    /// The router's UDP conntrack entries (`/proc/net/nf_conntrack`).
    pub fn udp_conntrack(&self) -> Result<String> {
        self.router
            .sh("grep -E '^ipv4 +2 +udp' /proc/net/nf_conntrack || true")
    }

    /// The router's NAT connection-tracking table (`conntrack`-less: read
    /// from /proc), for diagnostics.
    pub fn nat_table(&self) -> String {
        self.router
            .sh("iptables -t nat -L -n -v 2>&1; cat /proc/net/nf_conntrack 2>/dev/null | grep -E 'udp' || true")
            .unwrap_or_default()
    }
}
