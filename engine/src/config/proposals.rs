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

use super::{invalid, pick, ConfigError, RunFlags};
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
    Ok(out)
}
