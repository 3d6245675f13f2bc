//! Restricting the algorithms: `CE_IPSEC_IKEPROPOSALS` and
//! `CE_IPSEC_ESPPROPOSALS` (flags `--ike-proposals`, `--esp-proposals`).
//!
//! Each takes a strongSwan-style proposal list (`ike_proposals` /
//! `esp_proposals`, e.g. `aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048`
//! and `aes256gcm16,aes256-sha256`; the names are those of
//! [`ike::parse_ike_proposals`]). Unset, the engine offers and accepts
//! `ike`'s defaults (AES-GCM-16 and AES-CBC with HMAC-SHA2, PRF HMAC-SHA2,
//! the ECP groups and Curve25519, then MODP 2048/3072/4096). Set, exactly
//! the listed proposals are offered, in the order given, and only they are
//! accepted from peers (IKE_SA_INIT, IKE SA rekeys, Child SAs). A name
//! the engine does not run stops it at start with one line naming the
//! setting and the name.
//!
//! `CE_IPSEC_REQUIREPFS` (`--require-pfs[=BOOL]`, default false) requires
//! PFS in every CREATE_CHILD_SA of Child SAs (new subnet pairs after the
//! first, and rekeys): the engine sends KE (in the peer's PFS group, else
//! the ESP proposals' first group, else the IKE SA's) and refuses a
//! peer's request without one with NO_PROPOSAL_CHOSEN. Unset, PFS follows
//! the ESP proposals' groups and the peer.

use super::{invalid, parse_bool, pick, ConfigError, RunFlags};
use crate::manager::peers::ProposalSettings;

pub(super) fn resolve(
    flags: &RunFlags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProposalSettings, ConfigError> {
    let mut out = ProposalSettings::default();
    if let Some(f) = pick(
        flags.ike_proposals.as_deref(),
        "--ike-proposals",
        "CE_IPSEC_IKEPROPOSALS",
        env,
    ) {
        out.ike = ike::parse_ike_proposals(&f.value).map_err(|e| invalid(&f, &e.to_string()))?;
    }
    if let Some(f) = pick(
        flags.esp_proposals.as_deref(),
        "--esp-proposals",
        "CE_IPSEC_ESPPROPOSALS",
        env,
    ) {
        out.esp = ike::parse_esp_proposals(&f.value).map_err(|e| invalid(&f, &e.to_string()))?;
    }
    out.require_pfs = parse_bool(
        pick(
            flags.require_pfs.as_deref(),
            "--require-pfs",
            "CE_IPSEC_REQUIREPFS",
            env,
        ),
        false,
    )?;
    Ok(out)
}
