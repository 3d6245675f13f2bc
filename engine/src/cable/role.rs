//! Who initiates: the preferred-server rules.
//!
//! | local `preferred-server` | remote `preferred-server` | role |
//! |---|---|---|
//! | false | absent, or false | [`Role::Bidirectional`]: both sides initiate (IKE SAs cross) |
//! | true | absent | [`Role::Bidirectional`] (an old peer that cannot be a client) |
//! | true | false | [`Role::Server`]: wait, accept the peer from any address |
//! | false | true | [`Role::Client`]: initiate |
//! | true | true | the side whose `cable_name` sorts greater (bytewise) is the server |

use std::fmt;

/// This side's part in building the IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Initiate and also accept the peer's initiation.
    Bidirectional,
    /// Only respond; the peer may come from any address.
    Server,
    /// Initiate (the peer is a server).
    Client,
}

impl Role {
    /// Whether this side sends IKE_SA_INIT.
    pub fn initiates(self) -> bool {
        !matches!(self, Role::Server)
    }

    /// Whether the peer may come from any address (server mode, `%any`).
    pub fn accepts_any_peer_address(self) -> bool {
        matches!(self, Role::Server)
    }

    /// Whether identities are per-pair FQDNs (preferred-server mode).
    pub fn uses_fqdn_ids(self) -> bool {
        !matches!(self, Role::Bidirectional)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The driver's own words, as its logs print them.
        f.write_str(match self {
            Role::Bidirectional => "bi-directional",
            Role::Server => "server",
            Role::Client => "client",
        })
    }
}

/// Decides the role from both sides' `preferred-server` and cable names.
pub fn decide_role(
    local_preferred: bool,
    remote_preferred: Option<bool>,
    local_cable_name: &str,
    remote_cable_name: &str,
) -> Role {
    match (local_preferred, remote_preferred) {
        (_, None) | (false, Some(false)) => Role::Bidirectional,
        (true, Some(false)) => Role::Server,
        (false, Some(true)) => Role::Client,
        (true, Some(true)) => {
            if local_cable_name.as_bytes() > remote_cable_name.as_bytes() {
                Role::Server
            } else {
                Role::Client
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "submariner-cable-cluster1-172-18-0-5";
    const B: &str = "submariner-cable-cluster2-172-18-0-7";

    #[test]
    fn all_combinations() {
        assert_eq!(decide_role(false, None, A, B), Role::Bidirectional);
        assert_eq!(decide_role(true, None, A, B), Role::Bidirectional);
        assert_eq!(decide_role(false, Some(false), A, B), Role::Bidirectional);
        assert_eq!(decide_role(true, Some(false), A, B), Role::Server);
        assert_eq!(decide_role(false, Some(true), A, B), Role::Client);
    }

    #[test]
    fn both_preferred_tie_break_by_cable_name() {
        // B > A: the B side is the server, the A side the client.
        assert_eq!(decide_role(true, Some(true), B, A), Role::Server);
        assert_eq!(decide_role(true, Some(true), A, B), Role::Client);
        // Bytewise, like Go's string comparison: "-9" < "-a", "Z" < "a".
        assert_eq!(
            decide_role(true, Some(true), "cable-a", "cable-9"),
            Role::Server
        );
        assert_eq!(
            decide_role(true, Some(true), "cable-Z", "cable-a"),
            Role::Client
        );
        // Equal names (misconfiguration): neither is greater, both clients.
        assert_eq!(decide_role(true, Some(true), A, A), Role::Client);
    }

    #[test]
    fn role_properties() {
        assert!(Role::Bidirectional.initiates() && Role::Client.initiates());
        assert!(!Role::Server.initiates());
        assert!(Role::Server.accepts_any_peer_address());
        assert!(!Role::Client.accepts_any_peer_address());
        assert!(!Role::Bidirectional.uses_fqdn_ids() && Role::Server.uses_fqdn_ids());
        assert_eq!(Role::Bidirectional.to_string(), "bi-directional");
    }
}
