//! Go's `time.Duration.String()`, byte for byte.
//!
//! Submariner writes RTTs into the Gateway status with Go's formatting:
//! `0s`, `850ns`, `388.079µs`, `1.5ms`, `2.000001s`, `1m30s`, `1h0m0.5s`.
//! Under a second the unit is the largest of ns/µs/ms that keeps the integer
//! part non-zero and the fraction has its trailing zeros trimmed; from a
//! second up it is `[Nh][Nm]S[.fff]s`.

/// Format `nanos` nanoseconds as Go's `time.Duration(nanos).String()`.
pub fn go_duration(nanos: u64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fixed(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fixed(nanos, 6));
    }
    let secs_total = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let hours = secs_total / 3600;
    let mins = (secs_total / 60) % 60;
    let secs = secs_total % 60;
    let mut out = String::new();
    if hours > 0 {
        out += &format!("{hours}h");
    }
    if hours > 0 || mins > 0 {
        out += &format!("{mins}m");
    }
    out += &fixed(secs * 1_000_000_000 + frac, 9);
    out.push('s');
    out
}

/// `v / 10^digits` printed with the fraction's trailing zeros (and a bare
/// point) removed, as Go's `fmtFrac` + `fmtInt` do.
fn fixed(v: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let int = v / scale;
    let frac = v % scale;
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::go_duration;

    /// Expected strings are what Go 1.22 prints for `time.Duration(n).String()`.
    #[test]
    fn matches_go_formatting() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_100, "1.1µs"),
            (388_079, "388.079µs"),
            (1_000_000, "1ms"),
            (1_500_000, "1.5ms"),
            (12_345_678, "12.345678ms"),
            (999_999_999, "999.999999ms"),
            (1_000_000_000, "1s"),
            (2_000_001_000, "2.000001s"),
            (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_600_500_000_000, "1h0m0.5s"),
            (i64::MAX as u64, "2562047h47m16.854775807s"),
        ];
        for (n, want) in cases {
            assert_eq!(go_duration(*n), *want, "for {n} ns");
        }
    }
}
