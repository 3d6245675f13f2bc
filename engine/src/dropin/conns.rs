//! libreswan's connections, as `whack` adds them, turned into the
//! engine's [`CablePlan`]s.
//!
//! One added connection is one subnet pair. Connections to the same remote
//! gateway (same local host, same remote identity once the driver's
//! `@<ip>-<i>-<j>` pair suffix is stripped, same family) form one cable:
//! in bidirectional mode (address identities) they share one IKE SA, as
//! libreswan shares it; with the preferred-server FQDN identities each pair
//! has its own IKE SA, as libreswan negotiates them. The role follows the
//! add template: `--host %any` on the remote end is the server (respond
//! only, from any address), an FQDN local identity the client, address
//! identities bidirectional. Bidirectional and client cables initiate as
//! soon as they are added (the driver routes and initiates every pair it
//! adds in those modes, within the same burst of calls), so the role never
//! changes under a cable, which would rebuild it.
//!
//! A `--delete` removes the pair from its cable (the cable goes with its
//! last pair); the manager then deletes the pair's SAs and policies.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::whack::{ConnSpec, Encaps, Host, RC_DUPNAME};
use crate::cable::{
    CablePlan, ChildPair, Dpd, DpdAction, Encapsulation, Family, IkeId, Role, DPD_DELAY,
};
use crate::crd::EndpointSpec;

/// libreswan's exit code for "no connection by that name".
pub const RC_UNKNOWN_NAME: i32 = 21;

/// A refused request: libreswan's exit code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: i32,
    pub message: String,
}

/// One added connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    pub spec: ConnSpec,
    pub routed: bool,
    pub initiated: bool,
    /// Order of addition (plans keep it).
    pub serial: u64,
}

/// Every connection pluto knows.
#[derive(Debug, Default)]
pub struct Registry {
    pub conns: BTreeMap<String, Conn>,
    pub listening: bool,
    next: u64,
}

fn unknown(name: &str) -> Refusal {
    Refusal {
        code: RC_UNKNOWN_NAME,
        message: format!("no connection named \"{name}\""),
    }
}

/// An identity as whack writes it: `@name` is an FQDN, else an address.
pub fn parse_id(id: &str) -> Option<IkeId> {
    match id.strip_prefix('@') {
        Some(name) if !name.is_empty() => Some(IkeId::Fqdn(name.to_string())),
        Some(_) => None,
        None => id.parse::<IpAddr>().ok().map(IkeId::address),
    }
}

/// The gateway an identity names: the address itself, or the address in
/// the driver's FQDN `@<ip>-<i>-<j>`.
fn gateway_of(id: &str) -> String {
    let s = id.trim_start_matches('@');
    let mut parts: Vec<&str> = s.rsplitn(3, '-').collect();
    if parts.len() == 3 && parts[..2].iter().all(|p| p.parse::<usize>().is_ok()) {
        parts.pop().unwrap_or(s).to_string()
    } else {
        s.to_string()
    }
}

/// The cable name of a connection name: the driver's `-v4-<i>-<j>`,
/// `-v6-<i>-<j>` or `-<i>-<j>` suffix removed, and the pair's indexes.
pub fn split_name(name: &str) -> (String, usize, usize) {
    let parts: Vec<&str> = name.rsplitn(3, '-').collect();
    if let [j, i, rest] = parts.as_slice() {
        if let (Ok(i), Ok(j)) = (i.parse(), j.parse()) {
            let cable = rest
                .strip_suffix("-v4")
                .or_else(|| rest.strip_suffix("-v6"))
                .unwrap_or(rest);
            return (cable.to_string(), i, j);
        }
    }
    (name.to_string(), 0, 0)
}

impl Registry {
    /// `whack` add. A name in use is refused with libreswan's code 20,
    /// unless the connection is the same (the driver kills a call after 5 s
    /// and repeats it: a repeat of an add that went through is a success,
    /// not a failure of the whole ConnectToEndpoint).
    pub fn add(&mut self, spec: ConnSpec) -> Result<(), Refusal> {
        if let Some(c) = self.conns.get(&spec.name) {
            if c.spec == spec {
                return Ok(());
            }
            return Err(Refusal {
                code: RC_DUPNAME,
                message: format!("attempt to redefine connection \"{}\"", spec.name),
            });
        }
        for (what, id) in [("local", &spec.local.id), ("remote", &spec.remote.id)] {
            if id.as_deref().and_then(parse_id).is_none() {
                return Err(Refusal {
                    code: 1,
                    message: format!("\"{}\": bad {what} --id {id:?}", spec.name),
                });
            }
        }
        self.next += 1;
        self.conns.insert(
            spec.name.clone(),
            Conn {
                spec,
                routed: false,
                initiated: false,
                serial: self.next,
            },
        );
        Ok(())
    }

    pub fn delete(&mut self, name: &str) -> Result<(), Refusal> {
        self.conns
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| unknown(name))
    }

    pub fn route(&mut self, name: &str) -> Result<(), Refusal> {
        let c = self.conns.get_mut(name).ok_or_else(|| unknown(name))?;
        if c.spec.remote.host == Some(Host::Any) {
            return Err(Refusal {
                code: 1,
                message: format!("\"{name}\": cannot route a connection to %any"),
            });
        }
        c.routed = true;
        Ok(())
    }

    pub fn initiate(&mut self, name: &str) -> Result<(), Refusal> {
        let c = self.conns.get_mut(name).ok_or_else(|| unknown(name))?;
        if c.spec.remote.host == Some(Host::Any) {
            return Err(Refusal {
                code: 1,
                message: format!("\"{name}\": cannot initiate a connection to %any"),
            });
        }
        c.initiated = true;
        Ok(())
    }

    /// The cables the connections make, keyed by cable name. `natt_port`
    /// is the port our IKE socket is bound to (the local end's port when
    /// it has no `--ikeport`; a connection asking for another port is
    /// planned on this one and reported by [`Registry::port_mismatches`]).
    pub fn plans(&self, natt_port: u16) -> BTreeMap<String, CablePlan> {
        // Group: (local host, remote gateway, family) -> connections.
        let mut groups: BTreeMap<(String, String, bool), Vec<&Conn>> = BTreeMap::new();
        for c in self.conns.values() {
            let (Some(Host::Addr(local)), Some(rid), Some(client)) =
                (c.spec.local.host, &c.spec.remote.id, c.spec.local.client)
            else {
                continue;
            };
            let key = (local.to_string(), gateway_of(rid), client.is_ipv4());
            groups.entry(key).or_default().push(c);
        }
        let mut out = BTreeMap::new();
        for conns in groups.values_mut() {
            conns.sort_by_key(|c| c.serial);
            if let Some(plan) = plan_of(conns, natt_port) {
                out.insert(plan.cable_id.clone(), plan);
            }
        }
        out
    }

    /// Connections whose local `--ikeport` is not the port the daemon
    /// listens on.
    pub fn port_mismatches(&self, natt_port: u16) -> Vec<String> {
        self.conns
            .values()
            .filter(|c| c.spec.local.ikeport.is_some_and(|p| p != natt_port))
            .map(|c| c.spec.name.clone())
            .collect()
    }
}

fn plan_of(conns: &[&Conn], natt_port: u16) -> Option<CablePlan> {
    let first = conns.first()?;
    let spec = &first.spec;
    let Some(Host::Addr(local_address)) = spec.local.host else {
        return None;
    };
    let any = spec.remote.host == Some(Host::Any);
    let v4 = spec.local.client.is_some_and(|c| c.is_ipv4());
    let remote_address = match spec.remote.host {
        Some(Host::Addr(a)) => a,
        _ if v4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let local_id = parse_id(spec.local.id.as_deref()?)?;
    let remote_id = parse_id(spec.remote.id.as_deref()?)?;
    let role = if any {
        Role::Server
    } else if matches!(local_id, IkeId::Fqdn(_)) {
        Role::Client
    } else {
        Role::Bidirectional
    };
    let (cable_name, _, _) = split_name(&spec.name);
    let mut children = Vec::new();
    for c in conns {
        let (_, i, j) = split_name(&c.spec.name);
        let (Some(l), Some(r)) = (c.spec.local.client, c.spec.remote.client) else {
            continue;
        };
        children.push(ChildPair {
            name: c.spec.name.clone(),
            local_index: i,
            remote_index: j,
            local_subnet: l,
            remote_subnet: r,
            local_id: parse_id(c.spec.local.id.as_deref()?)?,
            remote_id: parse_id(c.spec.remote.id.as_deref()?)?,
        });
    }
    let encaps = conns.iter().any(|c| c.spec.encaps == Encaps::Yes);
    let dpd = Dpd {
        delay: spec
            .dpd_delay
            .unwrap_or(DPD_DELAY)
            .max(Duration::from_secs(1)),
        action: DpdAction::Hold,
    };
    Some(CablePlan {
        // `split_name` drops the family from 0.21's names, so the IPv6
        // cable of a remote gets its own key.
        cable_id: if v4 {
            cable_name.clone()
        } else {
            format!("{cable_name}-v6")
        },
        family: if v4 { Family::V4 } else { Family::V6 },
        cable_name: cable_name.clone(),
        remote_cluster_id: cable_name.clone(),
        remote_endpoint: EndpointSpec {
            cable_name: cable_name.clone(),
            private_ip: gateway_of(spec.remote.id.as_deref()?),
            subnets: conns.iter().fold(Vec::new(), |mut v, c| {
                if let Some(n) = c.spec.remote.client.map(|n| n.to_string()) {
                    if !v.contains(&n) {
                        v.push(n);
                    }
                }
                v
            }),
            ..Default::default()
        },
        local_cable_name: String::new(),
        local_address,
        local_port: spec.local.ikeport.unwrap_or(natt_port),
        remote_address,
        remote_port: spec.remote.ikeport.unwrap_or(natt_port),
        using_nat: encaps,
        encapsulation: if encaps {
            Encapsulation::EspInUdp
        } else {
            Encapsulation::RawEsp
        },
        role,
        local_id,
        remote_id,
        children,
        dpd,
        remote_restart_marker: None,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropin::whack::{Action, Whack};

    fn spec(line: &str) -> ConnSpec {
        let args: Vec<&str> = line.split_whitespace().collect();
        match Whack::parse(&args).unwrap().actions.remove(0) {
            Action::Add(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn bidi(i: usize, j: usize, lsub: &str, rsub: &str) -> ConnSpec {
        spec(&format!(
            "--psk --encrypt --encaps=auto --name submariner-cable-c2-172-18-0-7-v4-{i}-{j} --ipv4 \
             --id 172.18.0.5 --host 172.18.0.5 --client {lsub} --ikeport 4500 --to \
             --id 172.18.0.7 --host 172.18.0.7 --client {rsub} --ikeport 4500 \
             --dpdaction=hold --dpddelay 30"
        ))
    }

    #[test]
    fn names_split_into_cable_and_indexes() {
        assert_eq!(
            split_name("submariner-cable-c2-172-18-0-7-v4-1-0"),
            ("submariner-cable-c2-172-18-0-7".into(), 1, 0)
        );
        assert_eq!(
            split_name("submariner-cable-c2-172-18-0-7-0-1"),
            ("submariner-cable-c2-172-18-0-7".into(), 0, 1)
        );
        assert_eq!(split_name("odd"), ("odd".into(), 0, 0));
        assert_eq!(gateway_of("@172.18.0.7-0-1"), "172.18.0.7");
        assert_eq!(gateway_of("172.18.0.7"), "172.18.0.7");
        assert_eq!(gateway_of("@fd00::7-1-0"), "fd00::7");
    }

    /// 2x2 bidirectional pairs to one gateway: one cable, one IKE SA's
    /// identities, four children in the order they were added.
    #[test]
    fn bidirectional_pairs_make_one_cable() {
        let mut r = Registry::default();
        let subs = [
            ("10.1.0.0/16", "10.2.0.0/16"),
            ("10.11.0.0/16", "10.22.0.0/16"),
        ];
        for (i, (l, _)) in subs.iter().enumerate() {
            for (j, (_, rr)) in subs.iter().enumerate() {
                r.add(bidi(i, j, l, rr)).unwrap();
                let name = format!("submariner-cable-c2-172-18-0-7-v4-{i}-{j}");
                r.route(&name).unwrap();
                r.initiate(&name).unwrap();
            }
        }
        let plans = r.plans(4500);
        assert_eq!(plans.len(), 1);
        let p = &plans["submariner-cable-c2-172-18-0-7"];
        assert_eq!(p.role, Role::Bidirectional);
        assert_eq!(p.children.len(), 4);
        assert_eq!(p.children[1].name, "submariner-cable-c2-172-18-0-7-v4-0-1");
        assert_eq!(p.children[1].remote_subnet.to_string(), "10.22.0.0/16");
        assert_eq!(p.local_id, IkeId::address("172.18.0.5".parse().unwrap()));
        assert_eq!(p.remote_address.to_string(), "172.18.0.7");
        assert_eq!((p.local_port, p.remote_port), (4500, 4500));
        assert_eq!(p.encapsulation, Encapsulation::RawEsp);
        assert_eq!(p.dpd.delay, Duration::from_secs(30));
        // Deleting every pair removes the cable.
        for n in r.conns.keys().cloned().collect::<Vec<_>>() {
            r.delete(&n).unwrap();
        }
        assert!(r.plans(4500).is_empty());
    }

    #[test]
    fn server_and_client_roles_and_fqdn_identities() {
        let mut r = Registry::default();
        r.add(spec(
            "--psk --encrypt --encaps=yes --name submariner-cable-c3-172-18-0-9-v4-0-0 --ipv4 \
             --id @172.18.0.5-0-0 --host 172.18.0.5 --client 10.1.0.0/16 --ikeport 4500 --to \
             --id @172.18.0.9-0-0 --host %any --client 10.3.0.0/16 --dpdaction=hold --dpddelay 30",
        ))
        .unwrap();
        r.add(spec(
            "--psk --encrypt --name submariner-cable-c4-172-18-0-4-0-0 \
             --id @172.18.0.5-0-0 --host 172.18.0.5 --client 10.1.0.0/16 --to \
             --id @172.18.0.4-0-0 --host 198.51.100.4 --client 10.4.0.0/16 --ikeport 4501 \
             --dpdaction=hold --dpddelay 30",
        ))
        .unwrap();
        assert!(r.route("submariner-cable-c3-172-18-0-9-v4-0-0").is_err());
        let plans = r.plans(4500);
        let server = &plans["submariner-cable-c3-172-18-0-9"];
        assert_eq!(server.role, Role::Server);
        assert_eq!(server.encapsulation, Encapsulation::EspInUdp);
        assert_eq!(
            server.children[0].remote_id,
            IkeId::Fqdn("172.18.0.9-0-0".into())
        );
        r.initiate("submariner-cable-c4-172-18-0-4-0-0").unwrap();
        let client = &r.plans(4500)["submariner-cable-c4-172-18-0-4"];
        assert_eq!(client.role, Role::Client);
        assert_eq!((client.local_port, client.remote_port), (4500, 4501));
        assert_eq!(client.remote_address.to_string(), "198.51.100.4");
    }

    /// Issue 12: the 0.21 driver's `-v4-` and `-v6-` connections to one
    /// gateway make two cables, each of its own family (before: the same
    /// key, so one replaced the other).
    #[test]
    fn ipv4_and_ipv6_connections_make_one_cable_each() {
        let mut r = Registry::default();
        r.add(bidi(0, 0, "10.1.0.0/16", "10.2.0.0/16")).unwrap();
        r.add(spec(
            "--psk --encrypt --encaps=auto --name submariner-cable-c2-172-18-0-7-v6-0-0 --ipv6 \
             --id fd00:18::5 --host fd00:18::5 --client fd10:1::/64 --ikeport 4500 --to \
             --id fd00:18::7 --host fd00:18::7 --client fd10:2::/64 --ikeport 4500 \
             --dpdaction=hold --dpddelay 30",
        ))
        .unwrap();
        let plans = r.plans(4500);
        assert_eq!(plans.len(), 2, "{:?}", plans.keys());
        let v4 = &plans["submariner-cable-c2-172-18-0-7"];
        let v6 = &plans["submariner-cable-c2-172-18-0-7-v6"];
        assert_eq!((v4.family, v6.family), (Family::V4, Family::V6));
        assert_eq!(v6.remote_address.to_string(), "fd00:18::7");
        assert_eq!(v6.local_id, IkeId::address("fd00:18::5".parse().unwrap()));
        assert_eq!(v6.children[0].name, "submariner-cable-c2-172-18-0-7-v6-0-0");
        assert_eq!(v6.children[0].remote_subnet.to_string(), "fd10:2::/64");
    }

    #[test]
    fn duplicate_and_unknown_names_get_libreswans_codes() {
        let mut r = Registry::default();
        r.add(bidi(0, 0, "10.1.0.0/16", "10.2.0.0/16")).unwrap();
        // The same add again (the driver's retry after a kill): a success.
        r.add(bidi(0, 0, "10.1.0.0/16", "10.2.0.0/16")).unwrap();
        // Another connection under that name: libreswan's 20.
        let e = r.add(bidi(0, 0, "10.1.0.0/16", "10.3.0.0/16")).unwrap_err();
        assert_eq!(e.code, RC_DUPNAME);
        assert_eq!(r.delete("nope").unwrap_err().code, RC_UNKNOWN_NAME);
        assert_eq!(r.route("nope").unwrap_err().code, RC_UNKNOWN_NAME);
        assert_eq!(r.conns.len(), 1);
        assert!(r.port_mismatches(4500).is_empty());
        assert_eq!(r.port_mismatches(4501).len(), 1);
    }
}
