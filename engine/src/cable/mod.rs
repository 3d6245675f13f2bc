//! The libreswan cable driver's rules, as data.
//!
//! For each remote Endpoint the engine builds one [`CablePlan`]: where the
//! peer is (address, IKE port, NAT), who initiates ([`Role`]), the identities
//! ([`IkeId`]), the encapsulation, and one [`ChildPair`] per (local subnet x
//! remote subnet) with libreswan's connection names. The connection manager
//! turns a plan into IKE SAs, Child SAs and kernel state; [`PlanDiff`] tells
//! it what to replace when an Endpoint changes, so only what changed is
//! touched.
//!
//! Rules (Submariner's `pkg/cable/libreswan`, restated in
//! `shared/docs/submariner-contract.md`):
//! - [`subnets`]: local = global CIDR with globalnet, else service then
//!   cluster CIDRs (IPv4); remote = the remote Endpoint's `subnets`; on both
//!   sides any subnet starting with `<private_ip>/` is dropped.
//! - [`role`]: bidirectional / server / client from `preferred-server`, ties
//!   broken by `cable_name` order.
//! - [`identity`]: IPv4-address IDs of the private IPs, or per-pair FQDN IDs
//!   in preferred-server mode.
//! - [`plan`]: addresses (legacy NAT rule), ports (`udp-port`), encapsulation,
//!   names, DPD.

pub mod diff;
pub mod identity;
pub mod plan;
pub mod role;
pub mod subnets;

pub use diff::PlanDiff;
pub use identity::IkeId;
pub use plan::{
    build_plan, build_plans, child_name, plans_for_state, CablePlan, ChildPair, Dpd, DpdAction,
    Encapsulation, Family, PlanError, PlanSettings, DPD_DELAY,
};
pub use role::{decide_role, Role};
