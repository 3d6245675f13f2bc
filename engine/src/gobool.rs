//! Go's `strconv.ParseBool`, which Submariner uses for every boolean it reads
//! (environment through envconfig, `backend_config` values through
//! `GetBackendBool`). Accepted: `1 t T TRUE true True` and
//! `0 f F FALSE false False`; anything else (including `yes`, `on`, ` true`)
//! is an error, exactly as in Go.

/// Parses `s` as Go's `strconv.ParseBool` does.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_go_bool;

    #[test]
    fn accepts_exactly_go_spellings() {
        for s in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(s), Some(true), "{s}");
        }
        for s in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(s), Some(false), "{s}");
        }
        for s in [
            "", "yes", "no", "on", "off", "tRUE", "FaLsE", " true", "true ", "2",
        ] {
            assert_eq!(parse_go_bool(s), None, "{s:?}");
        }
    }
}
