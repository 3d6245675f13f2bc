//! SA lifetimes, rekey margin and NAT keepalive interval.
//!
//! Submariner's libreswan driver leaves these at libreswan's defaults
//! (`ikelifetime=8h`, `salifetime=8h`, `rekeymargin=9m`, `keep-alive=20`),
//! which are this engine's defaults too. They can be changed with
//! `CE_IPSEC_IKELIFETIME`, `CE_IPSEC_SALIFETIME`, `CE_IPSEC_REKEYMARGIN`
//! and `CE_IPSEC_NATKEEPALIVE` (or the flags of the same names), e.g. to
//! make rekeying observable in tests or to follow a site policy.
//!
//! Values are Go durations (`8h`, `9m`, `1h30m`, `20s`) or whole seconds.
//! As in libreswan, a Child SA is rekeyed `rekeymargin` plus a random part
//! of up to one more `rekeymargin` before its `salifetime` ends, and the
//! IKE SA likewise before `ikelifetime`.

use super::{invalid, pick, ConfigError, Found, RunFlags};
use std::time::Duration;

/// libreswan's `ikelifetime` default.
pub const DEFAULT_IKE_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// libreswan's `salifetime` default.
pub const DEFAULT_SA_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// libreswan's `rekeymargin` default.
pub const DEFAULT_REKEY_MARGIN: Duration = Duration::from_secs(9 * 60);
/// libreswan's and strongSwan's NAT keepalive interval.
pub const DEFAULT_NAT_KEEPALIVE: Duration = Duration::from_secs(20);
/// The longest `ikelifetime` and `salifetime` (libreswan's maximum for
/// both). Far larger values would overflow the timers' clock arithmetic.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The longest NAT keepalive interval (NAT mappings last minutes).
pub const MAX_NAT_KEEPALIVE: Duration = Duration::from_secs(3600);
/// The largest `CE_IPSEC_REKEYPACKETS` (the hard limit is twice it).
pub const MAX_REKEY_PACKETS: u64 = 1 << 62;

/// The resolved timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimersConfig {
    /// `CE_IPSEC_IKELIFETIME`.
    pub ike_lifetime: Duration,
    /// `CE_IPSEC_SALIFETIME`: hard lifetime of Child SAs.
    pub sa_lifetime: Duration,
    /// `CE_IPSEC_REKEYMARGIN`.
    pub rekey_margin: Duration,
    /// `CE_IPSEC_NATKEEPALIVE`: `None` (value 0) sends none.
    pub nat_keepalive: Option<Duration>,
    /// `CE_IPSEC_REKEYPACKETS`: the kernel's soft packet limit of Child
    /// SAs (a rekey); `None`: only the ESN-less default.
    pub rekey_packets: Option<u64>,
}

impl Default for TimersConfig {
    fn default() -> Self {
        TimersConfig {
            ike_lifetime: DEFAULT_IKE_LIFETIME,
            sa_lifetime: DEFAULT_SA_LIFETIME,
            rekey_margin: DEFAULT_REKEY_MARGIN,
            nat_keepalive: Some(DEFAULT_NAT_KEEPALIVE),
            rekey_packets: None,
        }
    }
}

impl TimersConfig {
    /// The `ike` core's lifetimes: rekey in `[lifetime - 2 margin,
    /// lifetime - margin]`, kernel hard limit at `salifetime`.
    pub fn lifetimes(&self) -> ike::Lifetimes {
        ike::Lifetimes {
            child_soft: self.sa_lifetime.saturating_sub(self.rekey_margin),
            child_hard: self.sa_lifetime,
            child_rekey_fuzz: self.rekey_margin,
            ike: self.ike_lifetime.saturating_sub(self.rekey_margin),
        }
    }

    pub(super) fn resolve(
        flags: &RunFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TimersConfig, ConfigError> {
        let d = TimersConfig::default();
        let margin = pick(
            flags.rekey_margin.as_deref(),
            "--rekey-margin",
            "CE_IPSEC_REKEYMARGIN",
            env,
        );
        let rekey_margin = match &margin {
            None => d.rekey_margin,
            Some(f) => match parse_duration(&f.value) {
                Some(m) if !m.is_zero() && m < MAX_LIFETIME => m,
                _ => {
                    return Err(invalid(
                        f,
                        "expected a duration above zero and below 24h (e.g. 9m or 540)",
                    ))
                }
            },
        };
        let lifetime = |flag: Option<&str>, flag_name, env_name, default| {
            let Some(f) = pick(flag, flag_name, env_name, env) else {
                return check_lifetime(None, default, rekey_margin);
            };
            match parse_duration(&f.value) {
                Some(v) if v <= MAX_LIFETIME => check_lifetime(Some(&f), v, rekey_margin),
                _ => Err(invalid(
                    &f,
                    "expected a duration of at most 24h (e.g. 8h, 1h30m, 20s or 3600)",
                )),
            }
        };
        let ike_lifetime = lifetime(
            flags.ike_lifetime.as_deref(),
            "--ike-lifetime",
            "CE_IPSEC_IKELIFETIME",
            d.ike_lifetime,
        )?;
        let sa_lifetime = lifetime(
            flags.sa_lifetime.as_deref(),
            "--sa-lifetime",
            "CE_IPSEC_SALIFETIME",
            d.sa_lifetime,
        )?;
        let nat_keepalive = match pick(
            flags.nat_keepalive.as_deref(),
            "--nat-keepalive",
            "CE_IPSEC_NATKEEPALIVE",
            env,
        ) {
            None => d.nat_keepalive,
            Some(f) => match parse_duration(&f.value) {
                Some(v) if v.is_zero() => None,
                Some(v) if v <= MAX_NAT_KEEPALIVE => Some(v),
                _ => {
                    return Err(invalid(
                        &f,
                        "expected a duration of at most 1h (e.g. 20s), 0 for none",
                    ))
                }
            },
        };
        let rekey_packets = match pick(
            flags.rekey_packets.as_deref(),
            "--rekey-packets",
            "CE_IPSEC_REKEYPACKETS",
            env,
        ) {
            None => None,
            Some(f) => match f.value.trim().parse::<u64>() {
                Ok(n) if n > 0 && n <= MAX_REKEY_PACKETS => Some(n),
                _ => {
                    return Err(invalid(
                        &f,
                        "expected a number of packets above zero, at most 2^62",
                    ))
                }
            },
        };
        Ok(TimersConfig {
            ike_lifetime,
            sa_lifetime,
            rekey_margin,
            nat_keepalive,
            rekey_packets,
        })
    }
}

/// A lifetime must leave room for the rekey window (two margins).
fn check_lifetime(
    found: Option<&Found>,
    value: Duration,
    margin: Duration,
) -> Result<Duration, ConfigError> {
    if value > margin * 2 {
        return Ok(value);
    }
    let expected = format!(
        "expected more than twice the rekey margin ({}s): rekeying starts up to two margins before the end",
        margin.as_secs()
    );
    Err(match found {
        Some(f) => invalid(f, &expected),
        None => ConfigError::Invalid {
            setting: "--rekey-margin/CE_IPSEC_REKEYMARGIN".into(),
            value: format!("{}s", margin.as_secs()),
            expected: format!(
                "expected less than half the default lifetime ({}s)",
                value.as_secs()
            ),
        },
    })
}

/// A Go duration made of whole `h`, `m` and `s` parts (`1h30m`, `20s`), or
/// a bare number of seconds. Anything else (fractions, `ms`, signs) is
/// `None`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_rank = 0u8;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let (unit, rank) = match c {
            'h' => (3600, 3),
            'm' => (60, 2),
            's' => (1, 1),
            _ => return None,
        };
        // Units in decreasing order, each once: "1h30m", not "30m1h".
        if digits.is_empty() || (last_rank != 0 && rank >= last_rank) {
            return None;
        }
        last_rank = rank;
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(env: &[(&str, &str)], flags: RunFlags) -> Result<TimersConfig, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TimersConfig::resolve(&flags, &|k| env.get(k).cloned())
    }

    /// Issue 13, fault 8: a huge lifetime was accepted and later made the
    /// timers' clock arithmetic overflow (a panic in the manager). Every
    /// timer setting now has a range, refused at start with the one-line
    /// error the other settings have.
    #[test]
    fn out_of_range_timers_are_refused_at_start() {
        let huge = u64::MAX.to_string();
        for (k, v) in [
            ("CE_IPSEC_IKELIFETIME", huge.as_str()),
            ("CE_IPSEC_SALIFETIME", "100000h"),
            ("CE_IPSEC_SALIFETIME", "24h1s"),
            ("CE_IPSEC_REKEYMARGIN", "24h"),
            ("CE_IPSEC_NATKEEPALIVE", "2h"),
            ("CE_IPSEC_NATKEEPALIVE", huge.as_str()),
            ("CE_IPSEC_REKEYPACKETS", huge.as_str()),
        ] {
            let e = resolve(&[(k, v)], RunFlags::default()).expect_err(k);
            let text = e.to_string();
            assert!(text.contains(k) && !text.contains('\n'), "{k}={v}: {text}");
        }
        let ok = resolve(
            &[
                ("CE_IPSEC_IKELIFETIME", "24h"),
                ("CE_IPSEC_SALIFETIME", "86400"),
                ("CE_IPSEC_NATKEEPALIVE", "1h"),
            ],
            RunFlags::default(),
        )
        .unwrap();
        assert_eq!(ok.ike_lifetime, MAX_LIFETIME);
    }

    #[test]
    fn durations_parse_like_go_or_as_seconds() {
        assert_eq!(parse_duration("20"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration("20s"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration("9m"), Some(Duration::from_secs(540)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("8h0m0s"), Some(Duration::from_secs(28800)));
        for bad in ["", "h", "1.5h", "30m1h", "1m1m", "-5s", "10ms", "5 s", "1d"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn defaults_are_libreswans() {
        let t = resolve(&[], RunFlags::default()).unwrap();
        assert_eq!(t, TimersConfig::default());
        let l = t.lifetimes();
        assert_eq!(l.child_soft, Duration::from_secs(8 * 3600 - 540));
        assert_eq!(l.child_hard, Duration::from_secs(8 * 3600));
        assert_eq!(l.child_rekey_fuzz, Duration::from_secs(540));
        assert_eq!(l.ike, Duration::from_secs(8 * 3600 - 540));
        assert_eq!(t.nat_keepalive, Some(Duration::from_secs(20)));
    }

    #[test]
    fn env_and_flags_set_short_timers() {
        let t = resolve(
            &[
                ("CE_IPSEC_IKELIFETIME", "60s"),
                ("CE_IPSEC_SALIFETIME", "30"),
                ("CE_IPSEC_REKEYMARGIN", "5s"),
                ("CE_IPSEC_NATKEEPALIVE", "0"),
            ],
            RunFlags {
                sa_lifetime: Some("40s".into()),
                ..RunFlags::default()
            },
        )
        .unwrap();
        assert_eq!(t.ike_lifetime, Duration::from_secs(60));
        assert_eq!(t.sa_lifetime, Duration::from_secs(40), "the flag wins");
        assert_eq!(t.rekey_margin, Duration::from_secs(5));
        assert_eq!(t.nat_keepalive, None, "0 turns keepalives off");
        assert_eq!(t.lifetimes().child_soft, Duration::from_secs(35));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = resolve(&[("CE_IPSEC_SALIFETIME", "soon")], RunFlags::default()).unwrap_err();
        assert!(e.to_string().contains("CE_IPSEC_SALIFETIME"), "{e}");
        let e = resolve(
            &[
                ("CE_IPSEC_SALIFETIME", "15s"),
                ("CE_IPSEC_REKEYMARGIN", "9s"),
            ],
            RunFlags::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice the rekey margin"), "{e}");
        let e = resolve(&[("CE_IPSEC_REKEYMARGIN", "0")], RunFlags::default()).unwrap_err();
        assert!(e.to_string().contains("CE_IPSEC_REKEYMARGIN"), "{e}");
        // A margin too large for the default lifetimes is reported too.
        let e = resolve(&[("CE_IPSEC_REKEYMARGIN", "5h")], RunFlags::default()).unwrap_err();
        assert!(e.to_string().contains("CE_IPSEC_REKEYMARGIN"), "{e}");
        let e = resolve(&[("CE_IPSEC_NATKEEPALIVE", "x")], RunFlags::default()).unwrap_err();
        assert!(e.to_string().contains("CE_IPSEC_NATKEEPALIVE"), "{e}");
    }
}
