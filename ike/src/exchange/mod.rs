//! The four IKEv2 exchanges (RFC 7296 1.2-1.4), one file per exchange and
//! role: what we send and how we handle what comes back.
//!
//! * `ike_sa_init`: initiator side of IKE_SA_INIT (offer, INVALID_KE and
//!   COOKIE retries, key derivation, NAT detection).
//! * `ike_sa_init_responder`: stateless checks (cookie, proposal, KE group)
//!   and creation of a responder SA.
//! * `ike_auth`: PSK AUTH both ways and the first Child SA.
//! * `create_child`: further Child SAs, both roles.
//! * `rekey_child`: Child SA rekey bookkeeping, collisions, old SA deletion.
//! * `rekey_ike`: IKE SA rekey, both roles; Child SAs move to the new SA.
//! * `informational`: Delete, liveness and error notifications.
//! * `errors`: mapping of error notifies to typed failure reasons.

pub(crate) mod create_child;
pub(crate) mod errors;
pub(crate) mod ike_auth;
pub(crate) mod ike_sa_init;
pub(crate) mod ike_sa_init_responder;
pub(crate) mod informational;
pub(crate) mod rekey_child;
pub(crate) mod rekey_ike;
