//! The `whack` command line Submariner's libreswan driver runs, parsed.
//!
//! Only the options the driver (0.16 to 0.22 and devel) uses are accepted
//! (`../shared/docs/submariner-dropin.md`); anything else is an error and
//! changes nothing. Options follow getopt_long: an option with a required
//! value takes the next argument or `=value`; `--dpdaction`, `--encaps` and
//! `--encapsulation` take their value only after `=`. End options
//! (`--id`, `--host`, `--client`, `--ikeport`) describe the local end until
//! `--to`, the remote end after it.
//!
//! One call can ask for several things (`--delete` with an add, `--route`
//! and `--name`); [`Whack::actions`] lists them in the order pluto handles
//! them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnetwork::IpNetwork;

/// libreswan's exit code for "a connection with that name exists".
pub const RC_DUPNAME: i32 = 20;
/// libreswan's exit code for "cannot talk to pluto" (also what whack's
/// own usage errors exit with).
pub const RC_WHACK_PROBLEM: i32 = 33;

/// The address family of a connection (`--ipv4`, `--ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// `--host`: an address, or `%any` (accept the peer from any address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Addr(IpAddr),
    Any,
}

/// One end of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct End {
    /// `--id`: an address, or `@name` (FQDN).
    pub id: Option<String>,
    pub host: Option<Host>,
    /// `--client`: the end's subnet (tunnel mode).
    pub client: Option<IpNetwork>,
    /// `--ikeport`: IKE on this port, with the non-ESP marker from the
    /// first message.
    pub ikeport: Option<u16>,
}

/// Encapsulation as the driver asks for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encaps {
    /// Only when NAT is detected (`--encaps=auto`, or nothing).
    #[default]
    Auto,
    /// Always ESP-in-UDP (`--forceencaps`, `--encapsulation=yes`,
    /// `--encaps=yes`).
    Yes,
    /// Never (`--encaps=no`, `--encapsulation=no`).
    No,
}

/// A connection to add (`whack --psk --encrypt --name N ... --to ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSpec {
    pub name: String,
    pub family: Option<Family>,
    pub encaps: Encaps,
    pub local: End,
    pub remote: End,
    /// `--dpddelay`: liveness interval.
    pub dpd_delay: Option<Duration>,
    /// `--dpdaction=` as given (only `hold` is meaningful here).
    pub dpd_action: Option<String>,
}

/// One thing a `whack` call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `--delete --name N`.
    Delete(String),
    /// An add.
    Add(ConnSpec),
    /// `--listen`.
    Listen,
    /// `--route --name N`.
    Route(String),
    /// `--initiate [--asynchronous] --name N`.
    Initiate { name: String, asynchronous: bool },
    /// `--debug X`.
    Debug(String),
    /// `--trafficstatus`.
    TrafficStatus,
    /// `--status`.
    Status,
}

/// A parsed `whack` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Whack {
    /// `--ctlsocket PATH`: the daemon's control socket.
    pub ctlsocket: Option<PathBuf>,
    /// `--rundir DIR`: the control socket is `DIR/pluto.ctl`.
    pub rundir: Option<PathBuf>,
    pub actions: Vec<Action>,
}

/// Options that need a value.
const WITH_VALUE: &[&str] = &[
    "ctlsocket",
    "rundir",
    "name",
    "id",
    "host",
    "client",
    "ikeport",
    "dpddelay",
    "debug",
];
/// Options whose value may only follow `=`.
const EQUALS_ONLY: &[&str] = &["dpdaction", "encaps", "encapsulation"];
/// Options without a value.
const FLAGS: &[&str] = &[
    "psk",
    "encrypt",
    "forceencaps",
    "ipv4",
    "ipv6",
    "to",
    "listen",
    "route",
    "initiate",
    "asynchronous",
    "delete",
    "trafficstatus",
    "status",
];

fn bad(msg: impl Into<String>) -> String {
    format!("whack error: {}", msg.into())
}

fn port(v: &str) -> Result<u16, String> {
    v.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad(format!("bad port {v:?}")))
}

impl Whack {
    /// Parse the arguments after the program name (and after `whack` for
    /// `ipsec whack`).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Whack, String> {
        let mut w = Whack::default();
        let mut spec_name: Option<String> = None;
        let (mut local, mut remote) = (End::default(), End::default());
        let mut to_seen = false;
        let mut family = None;
        let mut encaps = Encaps::Auto;
        let (mut dpd_delay, mut dpd_action) = (None, None);
        let (mut psk, mut add_seen) = (false, false);
        let mut flags: Vec<&str> = Vec::new();
        let mut debug = None;
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_ref();
            i += 1;
            let Some(opt) = arg.strip_prefix("--") else {
                return Err(bad(format!("unexpected argument {arg:?}")));
            };
            let (key, inline) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (opt, None),
            };
            let value = if WITH_VALUE.contains(&key) {
                match inline {
                    Some(v) => v.to_string(),
                    None => {
                        let Some(v) = args.get(i) else {
                            return Err(bad(format!("--{key} needs a value")));
                        };
                        i += 1;
                        v.as_ref().to_string()
                    }
                }
            } else if EQUALS_ONLY.contains(&key) {
                inline
                    .ok_or_else(|| bad(format!("--{key} needs =value")))?
                    .to_string()
            } else if let Some(&flag) = FLAGS.iter().find(|f| **f == key) {
                if inline.is_some() {
                    return Err(bad(format!("--{key} takes no value")));
                }
                flags.push(flag);
                String::new()
            } else {
                return Err(bad(format!("unknown option --{key}")));
            };
            let end = if to_seen { &mut remote } else { &mut local };
            match key {
                "ctlsocket" => w.ctlsocket = Some(PathBuf::from(value)),
                "rundir" => w.rundir = Some(PathBuf::from(value)),
                "name" => spec_name = Some(value),
                "id" => {
                    add_seen = true;
                    end.id = Some(value)
                }
                "host" => {
                    add_seen = true;
                    end.host = Some(if value == "%any" {
                        Host::Any
                    } else {
                        Host::Addr(
                            value
                                .parse()
                                .map_err(|_| bad(format!("bad --host {value:?}")))?,
                        )
                    })
                }
                "client" => {
                    add_seen = true;
                    let net: IpNetwork = value
                        .parse()
                        .map_err(|_| bad(format!("bad --client {value:?}")))?;
                    end.client = Some(net)
                }
                "ikeport" => {
                    add_seen = true;
                    end.ikeport = Some(port(&value)?)
                }
                "dpddelay" => {
                    let s: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=86_400).contains(s))
                        .ok_or_else(|| bad(format!("bad --dpddelay {value:?}")))?;
                    dpd_delay = Some(Duration::from_secs(s))
                }
                "dpdaction" => dpd_action = Some(value),
                "encaps" | "encapsulation" => {
                    encaps = match value.as_str() {
                        "yes" => Encaps::Yes,
                        "no" => Encaps::No,
                        "auto" => Encaps::Auto,
                        other => return Err(bad(format!("bad --{key}={other}"))),
                    }
                }
                "debug" => debug = Some(value),
                "forceencaps" => encaps = Encaps::Yes,
                "ipv4" => family = Some(Family::V4),
                "ipv6" => family = Some(Family::V6),
                "to" => {
                    if to_seen {
                        return Err(bad("--to given twice"));
                    }
                    to_seen = true
                }
                "psk" | "encrypt" => {
                    psk |= key == "psk";
                    add_seen = true
                }
                _ => {}
            }
        }
        let has = |f: &str| flags.contains(&f);
        let name = || {
            spec_name
                .clone()
                .ok_or_else(|| bad("this needs --name".to_string()))
        };
        if has("delete") {
            w.actions.push(Action::Delete(name()?));
        }
        if add_seen {
            if !psk {
                return Err(bad("only --psk connections are supported"));
            }
            if !to_seen {
                return Err(bad("an added connection needs --to"));
            }
            for (which, e) in [("local", &local), ("remote", &remote)] {
                if e.host.is_none() || e.client.is_none() || e.id.is_none() {
                    return Err(bad(format!(
                        "the {which} end needs --id, --host and --client"
                    )));
                }
            }
            if local.host == Some(Host::Any) {
                return Err(bad("the local end cannot be %any"));
            }
            let fam = |n: &IpNetwork| {
                if n.is_ipv4() {
                    Family::V4
                } else {
                    Family::V6
                }
            };
            let (lf, rf) = (
                local.client.as_ref().map(fam),
                remote.client.as_ref().map(fam),
            );
            if lf != rf || (family.is_some() && family != lf) {
                return Err(bad("the subnets' families differ"));
            }
            w.actions.push(Action::Add(ConnSpec {
                name: name()?,
                family,
                encaps,
                local,
                remote,
                dpd_delay,
                dpd_action,
            }));
        }
        if has("listen") {
            w.actions.push(Action::Listen);
        }
        if has("route") {
            w.actions.push(Action::Route(name()?));
        }
        if has("initiate") {
            w.actions.push(Action::Initiate {
                name: name()?,
                asynchronous: has("asynchronous"),
            });
        }
        if let Some(d) = debug {
            w.actions.push(Action::Debug(d));
        }
        if has("trafficstatus") {
            w.actions.push(Action::TrafficStatus);
        }
        if has("status") {
            w.actions.push(Action::Status);
        }
        if w.actions.is_empty() {
            return Err(bad("nothing to do"));
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn add(s: &str) -> ConnSpec {
        let w = Whack::parse(&args(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
        match w.actions.as_slice() {
            [Action::Add(c)] => c.clone(),
            other => panic!("{s}: {other:?}"),
        }
    }

    /// The encapsulation tokens of every release, in the template of each
    /// mode (`../shared/docs/submariner-dropin.md`, "The add command").
    const ENCS: &[(&str, Encaps)] = &[
        ("--forceencaps", Encaps::Yes),
        ("", Encaps::Auto),
        ("--encapsulation=yes", Encaps::Yes),
        ("--encaps=yes", Encaps::Yes),
        ("--encaps=auto", Encaps::Auto),
    ];
    const FAMS: &[(&str, Option<Family>)] = &[("", None), ("--ipv4", Some(Family::V4))];

    #[test]
    fn bidirectional_template_of_every_release() {
        for (enc, want_enc) in ENCS {
            for (fam, want_fam) in FAMS {
                let c = add(&format!(
                    "--psk --encrypt {enc} --name submariner-cable-c2-172-18-0-7-v4-0-1 {fam} \
                     --id 172.18.0.5 --host 172.18.0.5 --client 10.1.0.0/16 --ikeport 4500 \
                     --to --id 172.18.0.7 --host 198.51.100.7 --client 10.22.0.0/16 \
                     --ikeport 4501 --dpdaction=hold --dpddelay 30"
                ));
                assert_eq!(c.name, "submariner-cable-c2-172-18-0-7-v4-0-1");
                assert_eq!(c.encaps, *want_enc, "{enc}");
                assert_eq!(c.family, *want_fam);
                assert_eq!(c.local.id.as_deref(), Some("172.18.0.5"));
                assert_eq!(
                    c.local.host,
                    Some(Host::Addr("172.18.0.5".parse().unwrap()))
                );
                assert_eq!(c.local.client, Some("10.1.0.0/16".parse().unwrap()));
                assert_eq!(c.local.ikeport, Some(4500));
                assert_eq!(c.remote.id.as_deref(), Some("172.18.0.7"));
                assert_eq!(
                    c.remote.host,
                    Some(Host::Addr("198.51.100.7".parse().unwrap()))
                );
                assert_eq!(c.remote.client, Some("10.22.0.0/16".parse().unwrap()));
                assert_eq!(c.remote.ikeport, Some(4501));
                assert_eq!(c.dpd_delay, Some(Duration::from_secs(30)));
                assert_eq!(c.dpd_action.as_deref(), Some("hold"));
            }
        }
    }

    #[test]
    fn server_and_client_templates() {
        for (enc, want_enc) in ENCS {
            let s = add(&format!(
                "--psk --encrypt {enc} --name c-v4-1-0 --ipv4 --id @172.18.0.5-1-0 \
                 --host 172.18.0.5 --client 10.1.0.0/16 --ikeport 4500 --to \
                 --id @172.18.0.7-0-1 --host %any --client 10.2.0.0/16 \
                 --dpdaction=hold --dpddelay 30"
            ));
            assert_eq!(s.encaps, *want_enc);
            assert_eq!(s.local.id.as_deref(), Some("@172.18.0.5-1-0"));
            assert_eq!(s.remote.host, Some(Host::Any));
            assert_eq!(s.remote.ikeport, None);
            let c = add(&format!(
                "--psk --encrypt {enc} --name c-0-0 --id @172.18.0.7-0-0 \
                 --host 172.18.0.7 --client 10.2.0.0/16 --to --id @172.18.0.5-0-0 \
                 --host 172.18.0.5 --client 10.1.0.0/16 --ikeport 4500 \
                 --dpdaction=hold --dpddelay 30"
            ));
            assert_eq!(c.local.ikeport, None);
            assert_eq!(c.remote.ikeport, Some(4500));
            assert_eq!(c.remote.id.as_deref(), Some("@172.18.0.5-0-0"));
        }
    }

    #[test]
    fn ipv6_connection() {
        let c = add(
            "--psk --encrypt --encaps=auto --name c-v6-0-0 --ipv6 --id fd00::5 --host fd00::5 \
             --client fd01::/64 --ikeport 4500 --to --id fd00::7 --host fd00::7 \
             --client fd02::/64 --ikeport 4500 --dpdaction=hold --dpddelay 30",
        );
        assert_eq!(c.family, Some(Family::V6));
        assert_eq!(c.remote.client, Some("fd02::/64".parse().unwrap()));
        assert!(Whack::parse(&args(
            "--psk --encrypt --name x --ipv6 --id a --host 10.0.0.1 --client 10.1.0.0/16 \
             --to --id b --host 10.0.0.2 --client 10.2.0.0/16"
        ))
        .is_err());
    }

    #[test]
    fn control_calls() {
        let w = Whack::parse(&args("--ctlsocket /run/pluto/pluto.ctl --listen")).unwrap();
        assert_eq!(w.ctlsocket, Some(PathBuf::from("/run/pluto/pluto.ctl")));
        assert_eq!(w.actions, [Action::Listen]);
        let w = Whack::parse(&args("--route --name c-0-0")).unwrap();
        assert_eq!(w.actions, [Action::Route("c-0-0".into())]);
        let w = Whack::parse(&args("--initiate --asynchronous --name c-0-0")).unwrap();
        assert_eq!(
            w.actions,
            [Action::Initiate {
                name: "c-0-0".into(),
                asynchronous: true
            }]
        );
        let w = Whack::parse(&args("--delete --name=c-0-0")).unwrap();
        assert_eq!(w.actions, [Action::Delete("c-0-0".into())]);
        let w = Whack::parse(&args("--debug base")).unwrap();
        assert_eq!(w.actions, [Action::Debug("base".into())]);
        let w = Whack::parse(&args("--trafficstatus")).unwrap();
        assert_eq!(w.actions, [Action::TrafficStatus]);
        let w = Whack::parse(&args("--rundir /tmp/x --status")).unwrap();
        assert_eq!(w.rundir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(w.actions, [Action::Status]);
    }

    #[test]
    fn bad_calls_are_refused_with_a_message() {
        for bad in [
            "",
            "--frobnicate",
            "--listen extra",
            "--route",
            "--name",
            "--dpdaction hold --listen",
            "--encaps=maybe --listen",
            "--listen=yes",
            "--psk --name x --id a --host 10.0.0.1 --client 10.1.0.0/16",
            "--psk --name x --id a --host 10.0.0.1 --client 10.1.0.0/16 --to --id b --host %any",
            "--psk --name x --id a --host %any --client 10.1.0.0/16 --to --id b --host 10.0.0.2 --client 10.2.0.0/16",
            "--psk --name x --id a --host 10.0.0.1 --client 10.1.0.0/33 --to --id b --host 10.0.0.2 --client 10.2.0.0/16",
            "--psk --name x --id a --host 10.0.0.1 --client 10.1.0.0/16 --ikeport 0 --to --id b --host 10.0.0.2 --client 10.2.0.0/16",
            "--encrypt --name x --id a --host 10.0.0.1 --client 10.1.0.0/16 --to --id b --host 10.0.0.2 --client 10.2.0.0/16",
        ] {
            let e = Whack::parse(&args(bad)).expect_err(bad);
            assert!(e.starts_with("whack error: "), "{bad}: {e}");
        }
    }
}
