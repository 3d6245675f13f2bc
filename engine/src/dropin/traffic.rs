//! `whack --trafficstatus` in libreswan 4.x's format: one line per
//! established Child SA, which Submariner's driver parses for its status
//! (a listed connection name makes the endpoint `Connected`) and its
//! `submariner_gateway_rx_bytes`/`tx_bytes` metrics:
//!
//! `006 #<serial>: "<name>"[<inst>] <peer>, type=ESP, add_time=<secs>, inBytes=<n>, outBytes=<n>, id='<peer id>'`
//!
//! (`[<inst>] <peer>` only for connections that accept their peer from any
//! address, i.e. server mode.)

use crate::manager::core::ChildStatus;

/// One line for `s`, with the kernel SAs' byte counters.
pub fn line(s: &ChildStatus, add_time: u64, in_bytes: u64, out_bytes: u64) -> String {
    let instance = if s.any_peer {
        format!("[1] {}", s.remote)
    } else {
        String::new()
    };
    format!(
        "006 #{}: \"{}\"{instance}, type=ESP, add_time={add_time}, inBytes={in_bytes}, outBytes={out_bytes}, id='{}'",
        s.serial, s.name, s.remote_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The driver's regexes, as `../shared/docs/submariner-dropin.md`
    /// quotes them (Go's syntax, which these need no change for).
    const REGEX_0_16: &str = r#".* "([^"]+)"[^,]*, .*inBytes=(\d+), outBytes=(\d+).*"#;
    const REGEX_0_21: &str =
        r#".* "([^"]+-v[46]-[0-1]-[0-1])"[^,]*, .*inBytes=(\d+), outBytes=(\d+).*"#;

    fn status(name: &str, any_peer: bool, remote_id: &str) -> ChildStatus {
        ChildStatus {
            cable: "c".into(),
            name: name.into(),
            serial: 3,
            inbound: xfrm::SaId {
                dst: "172.17.0.5".parse().unwrap(),
                spi: 1,
                mark: None,
            },
            outbound: xfrm::SaId {
                dst: "172.17.0.8".parse().unwrap(),
                spi: 2,
                mark: None,
            },
            remote: "3.139.75.179".parse().unwrap(),
            remote_id: remote_id.into(),
            any_peer,
            since: Instant::now(),
        }
    }

    fn captures(re: &str, line: &str) -> Option<(String, u64, u64)> {
        let re = regex::Regex::new(&format!("^{re}$")).unwrap();
        let c = re.captures(line)?;
        Some((c[1].to_string(), c[2].parse().ok()?, c[3].parse().ok()?))
    }

    #[test]
    fn both_driver_regexes_read_our_lines() {
        let bidi = line(
            &status(
                "submariner-cable-cluster3-172-17-0-8-v4-0-1",
                false,
                "172.17.0.8",
            ),
            1590508783,
            1234,
            5678,
        );
        assert_eq!(
            bidi,
            "006 #3: \"submariner-cable-cluster3-172-17-0-8-v4-0-1\", type=ESP, add_time=1590508783, inBytes=1234, outBytes=5678, id='172.17.0.8'"
        );
        let server = line(
            &status(
                "submariner-cable-cluster3-172-17-0-8-v4-1-0",
                true,
                "@10.0.63.203-0-1",
            ),
            1590508783,
            0,
            9,
        );
        assert!(server.contains("\"[1] 3.139.75.179, type=ESP"), "{server}");
        for l in [&bidi, &server] {
            for re in [REGEX_0_16, REGEX_0_21] {
                let (name, i, o) = captures(re, l).unwrap_or_else(|| panic!("{re} vs {l}"));
                assert!(name.starts_with("submariner-cable-cluster3-172-17-0-8-v4-"));
                assert_eq!((i, o), if l == &bidi { (1234, 5678) } else { (0, 9) });
            }
        }
        // The 0.16-0.20 names have no family part: only the old regex
        // counts them, as with libreswan.
        let old = line(
            &status(
                "submariner-cable-cluster3-172-17-0-8-0-0",
                false,
                "172.17.0.8",
            ),
            1,
            2,
            3,
        );
        assert!(captures(REGEX_0_16, &old).is_some());
        assert!(captures(REGEX_0_21, &old).is_none());
    }
}
