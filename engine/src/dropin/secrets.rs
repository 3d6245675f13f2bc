//! libreswan's secrets files, as far as Submariner writes them.
//!
//! The driver writes `/etc/ipsec.d/submariner.secrets` with the single line
//! `%any %any : PSK "<secret>"`, and the stock `/etc/ipsec.secrets` is
//! `include /etc/ipsec.d/*.secrets`. The key is the ASCII text between the
//! quotes, used as is (never base64-decoded). Read here: `include` lines
//! (glob patterns, relative to the including file's directory, followed
//! at most [`MAX_DEPTH`] deep), comments (`#`), and PSK entries whose
//! selectors are `%any %any` (or absent). Other entries (RSA keys, XAUTH)
//! are skipped. Errors never quote a secret.

use std::path::{Path, PathBuf};

use crate::psk::Psk;

/// How deep `include`s may nest.
pub const MAX_DEPTH: usize = 8;

/// Why no PSK was found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    #[error("cannot read secrets file {0:?}: {1}")]
    Read(PathBuf, String),
    #[error("{0:?} line {1}: {2}")]
    Syntax(PathBuf, usize, String),
    #[error("includes nest deeper than {MAX_DEPTH} levels at {0:?}")]
    TooDeep(PathBuf),
    #[error("no `%any %any : PSK \"...\"` entry in {0:?} or the files it includes")]
    NoPsk(PathBuf),
}

/// The PSK of the first `%any %any : PSK "..."` entry, reading `path` and
/// the files it includes in order.
pub fn load_psk(path: &Path) -> Result<Psk, SecretsError> {
    match find(path, 0)? {
        Some(p) => Ok(p),
        None => Err(SecretsError::NoPsk(path.to_path_buf())),
    }
}

fn find(path: &Path, depth: usize) -> Result<Option<Psk>, SecretsError> {
    if depth > MAX_DEPTH {
        return Err(SecretsError::TooDeep(path.to_path_buf()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| SecretsError::Read(path.to_path_buf(), e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(pattern) = line.strip_prefix("include") {
            let pattern = pattern.trim();
            if pattern.is_empty() || !line.starts_with("include ") && !line.starts_with("include\t")
            {
                return Err(syntax(path, n, "include needs a file pattern"));
            }
            let full = if Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                dir.join(pattern)
            };
            let entries = glob::glob(&full.to_string_lossy())
                .map_err(|e| syntax(path, n, &format!("bad include pattern: {e}")))?;
            let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).collect();
            files.sort();
            for f in files {
                if let Some(p) = find(&f, depth + 1)? {
                    return Ok(Some(p));
                }
            }
            continue;
        }
        if let Some(p) = psk_entry(line).map_err(|e| syntax(path, n, e))? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

fn syntax(path: &Path, n: usize, what: &str) -> SecretsError {
    SecretsError::Syntax(path.to_path_buf(), n + 1, what.to_string())
}

/// A `[selectors] : PSK "text"` line: the PSK when its selectors are
/// `%any %any` (or none), `None` for other entries.
fn psk_entry(line: &str) -> Result<Option<Psk>, &'static str> {
    let Some((selectors, secret)) = line.split_once(':') else {
        return Err("expected `selectors : TYPE secret`");
    };
    let sel: Vec<&str> = selectors.split_whitespace().collect();
    let secret = secret.trim_start();
    let Some(rest) = secret.strip_prefix("PSK") else {
        return Ok(None);
    };
    let rest = rest.trim_start();
    let quoted = rest
        .strip_prefix('"')
        .and_then(|r| r.rfind('"').map(|end| &r[..end]))
        .ok_or("the PSK must be in double quotes")?;
    if quoted.is_empty() {
        return Err("empty PSK");
    }
    let any = sel.is_empty() || sel.iter().all(|s| *s == "%any" || *s == "%any6");
    Ok(any.then(|| Psk::from_text(quoted.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ce-secrets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("ipsec.d")).unwrap();
        d
    }

    /// The files as Submariner's image and driver leave them.
    #[test]
    fn stock_layout_with_the_driver_file() {
        let d = dir("stock");
        std::fs::write(d.join("ipsec.secrets"), "include ipsec.d/*.secrets\n").unwrap();
        std::fs::write(
            d.join("ipsec.d/submariner.secrets"),
            "%any %any : PSK \"a2V5+/x==\"\n",
        )
        .unwrap();
        let psk = load_psk(&d.join("ipsec.secrets")).unwrap();
        assert_eq!(psk.as_bytes(), b"a2V5+/x==");
    }

    #[test]
    fn other_entries_and_comments_are_skipped() {
        let d = dir("other");
        std::fs::write(
            d.join("ipsec.secrets"),
            "# comment\n\n10.0.0.1 10.0.0.2 : PSK \"not this\"\n: RSA {\n%any %any : PSK \"this one\"\n",
        )
        .unwrap();
        let psk = load_psk(&d.join("ipsec.secrets")).unwrap();
        assert_eq!(psk.as_bytes(), b"this one");
    }

    #[test]
    fn missing_or_malformed_is_a_clear_error_without_the_secret() {
        let d = dir("bad");
        assert!(matches!(
            load_psk(&d.join("nope")),
            Err(SecretsError::Read(..))
        ));
        std::fs::write(d.join("a"), "%any %any : PSK unquoted-secret\n").unwrap();
        let e = load_psk(&d.join("a")).unwrap_err();
        assert!(matches!(e, SecretsError::Syntax(_, 1, _)), "{e}");
        assert!(!e.to_string().contains("unquoted-secret"), "{e}");
        std::fs::write(d.join("b"), "include ipsec.d/*.none\n").unwrap();
        assert!(matches!(
            load_psk(&d.join("b")),
            Err(SecretsError::NoPsk(_))
        ));
        std::fs::write(
            d.join("loop"),
            format!("include {}\n", d.join("loop").display()),
        )
        .unwrap();
        assert!(matches!(
            load_psk(&d.join("loop")),
            Err(SecretsError::TooDeep(_))
        ));
    }
}
