//! Typed errors of the XFRM client.
//!
//! Kernel refusals are mapped from the netlink error code (and the kernel's
//! extended-ack message when it sends one) into variants that say *what* was
//! refused and *why*: a missing ESP implementation, a missing algorithm, an
//! entry that does not exist or already exists, a permission problem, and so
//! on. Every variant that comes from the kernel carries a [`KernelDetail`]
//! with the raw errno and the extended-ack text, so nothing is lost.

use std::fmt;

/// What the kernel said when it refused a request: the (positive) errno and
/// the extended-ack message, if the kernel attached one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelDetail {
    /// Positive errno value (e.g. `libc::ENOENT`).
    pub errno: i32,
    /// The kernel's extended-ack message, e.g. "Requested type not found".
    pub message: Option<String>,
}

impl fmt::Display for KernelDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = std::io::Error::from_raw_os_error(self.errno).to_string();
        let desc = os.split(" (os error").next().unwrap_or(&os);
        write!(f, "errno {} ({desc})", self.errno)?;
        if let Some(msg) = &self.message {
            write!(f, ": kernel says \"{msg}\"")?;
        }
        Ok(())
    }
}

/// Errors returned by this crate.
#[derive(Debug, thiserror::Error)]
pub enum XfrmError {
    /// The netlink socket could not be created, bound or configured.
    #[error("cannot open the XFRM netlink socket: {0}")]
    Socket(#[source] std::io::Error),

    /// Sending to or receiving from the netlink socket failed.
    #[error("netlink I/O failed while {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The kernel has no implementation of the ESP protocol (module `esp4` /
    /// `esp6` missing or `CONFIG_INET_ESP` off): it answered
    /// `EPROTONOSUPPORT` / "Requested type not found".
    #[error("kernel has no ESP support (esp4/esp6 not available) while {op}: {detail}")]
    EspNotSupported {
        op: &'static str,
        detail: KernelDetail,
    },

    /// The kernel does not know (or cannot instantiate) an algorithm of the
    /// request, e.g. `rfc4106(gcm(aes))` without the `gcm` module.
    #[error("kernel does not support algorithm {algorithm} while {op}: {detail}")]
    AlgorithmNotSupported {
        algorithm: String,
        op: &'static str,
        detail: KernelDetail,
    },

    /// The SA or policy named by the request does not exist.
    #[error("not found while {op}: {detail}")]
    NotFound {
        op: &'static str,
        detail: KernelDetail,
    },

    /// An SA or policy with the same identity already exists.
    #[error("already exists while {op}: {detail}")]
    AlreadyExists {
        op: &'static str,
        detail: KernelDetail,
    },

    /// The caller lacks CAP_NET_ADMIN in the socket's network namespace.
    #[error("permission denied (CAP_NET_ADMIN needed) while {op}: {detail}")]
    PermissionDenied {
        op: &'static str,
        detail: KernelDetail,
    },

    /// The kernel rejected the request as malformed or inconsistent.
    #[error("kernel rejected the request as invalid while {op}: {detail}")]
    InvalidRequest {
        op: &'static str,
        detail: KernelDetail,
    },

    /// Any other kernel refusal.
    #[error("kernel refused while {op}: {detail}")]
    Kernel {
        op: &'static str,
        detail: KernelDetail,
    },

    /// The caller passed parameters this crate refuses before asking the
    /// kernel (wrong key length, mixed address families, ...).
    #[error("invalid parameter: {0}")]
    InvalidInput(String),

    /// A kernel reply could not be decoded.
    #[error("malformed kernel reply while {op}: {reason}")]
    MalformedReply { op: &'static str, reason: String },

    /// Setting a per-socket bypass policy failed.
    #[error("setting the per-socket XFRM bypass policy ({direction}) failed: {source}")]
    SocketPolicy {
        direction: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl XfrmError {
    /// True for [`XfrmError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, XfrmError::NotFound { .. })
    }

    /// True for [`XfrmError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, XfrmError::AlreadyExists { .. })
    }

    /// The errno the kernel answered with, if this error came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            XfrmError::EspNotSupported { detail, .. }
            | XfrmError::AlgorithmNotSupported { detail, .. }
            | XfrmError::NotFound { detail, .. }
            | XfrmError::AlreadyExists { detail, .. }
            | XfrmError::PermissionDenied { detail, .. }
            | XfrmError::InvalidRequest { detail, .. }
            | XfrmError::Kernel { detail, .. } => Some(detail.errno),
            XfrmError::Io { source, .. } | XfrmError::Socket(source) => source.raw_os_error(),
            _ => None,
        }
    }
}

/// What a request was doing, used to map an errno to the right variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// NEWSA / UPDSA: algorithms and the ESP type are looked up.
    InstallSa,
    /// UPDSA specifically (ESRCH/ENOENT may mean "no such SA").
    UpdateSa,
    /// Everything else.
    Other,
}

/// Context needed to map a kernel error: the operation, its kind and the
/// algorithm names it carried (for [`XfrmError::AlgorithmNotSupported`]).
#[derive(Debug, Clone)]
pub(crate) struct ErrorContext {
    pub op: &'static str,
    pub kind: RequestKind,
    pub algorithms: Option<String>,
}

impl ErrorContext {
    pub(crate) fn new(op: &'static str) -> Self {
        ErrorContext {
            op,
            kind: RequestKind::Other,
            algorithms: None,
        }
    }

    pub(crate) fn install_sa(op: &'static str, kind: RequestKind, algorithms: String) -> Self {
        ErrorContext {
            op,
            kind,
            algorithms: Some(algorithms),
        }
    }
}

/// Map a kernel errno (positive) plus extended-ack text to a typed error.
pub(crate) fn from_kernel(ctx: &ErrorContext, errno: i32, message: Option<String>) -> XfrmError {
    let op = ctx.op;
    let msg_lower = message.as_deref().unwrap_or("").to_ascii_lowercase();
    let detail = KernelDetail { errno, message };
    let installs_sa = matches!(ctx.kind, RequestKind::InstallSa | RequestKind::UpdateSa);
    let algorithm = || ctx.algorithms.clone().unwrap_or_else(|| "<unknown>".into());

    if errno == libc::EPROTONOSUPPORT || msg_lower.contains("requested type not found") {
        return XfrmError::EspNotSupported { op, detail };
    }
    if installs_sa {
        let mentions_alg = msg_lower.contains("algorithm");
        let no_such_sa = ctx.kind == RequestKind::UpdateSa && errno == libc::ESRCH;
        if !no_such_sa
            && (errno == libc::ENOSYS
                || (errno == libc::ENOENT && ctx.kind == RequestKind::InstallSa)
                || mentions_alg)
        {
            return XfrmError::AlgorithmNotSupported {
                algorithm: algorithm(),
                op,
                detail,
            };
        }
    }
    match errno {
        libc::ENOENT | libc::ESRCH => XfrmError::NotFound { op, detail },
        libc::EEXIST => XfrmError::AlreadyExists { op, detail },
        libc::EPERM | libc::EACCES => XfrmError::PermissionDenied { op, detail },
        libc::EINVAL => XfrmError::InvalidRequest { op, detail },
        _ => XfrmError::Kernel { op, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa_ctx() -> ErrorContext {
        ErrorContext::install_sa(
            "adding SA",
            RequestKind::InstallSa,
            "rfc4106(gcm(aes))".into(),
        )
    }

    #[test]
    fn missing_esp_is_named() {
        let e = from_kernel(
            &sa_ctx(),
            libc::EPROTONOSUPPORT,
            Some("Requested type not found".into()),
        );
        assert!(matches!(e, XfrmError::EspNotSupported { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("ESP"), "{text}");
        assert!(text.contains("Requested type not found"), "{text}");
        assert!(text.contains("errno 93 (Protocol not supported)"), "{text}");
    }

    #[test]
    fn missing_algorithm_is_named() {
        for errno in [libc::ENOSYS, libc::ENOENT] {
            let e = from_kernel(&sa_ctx(), errno, None);
            match &e {
                XfrmError::AlgorithmNotSupported { algorithm, .. } => {
                    assert_eq!(algorithm, "rfc4106(gcm(aes))")
                }
                other => panic!("errno {errno}: {other:?}"),
            }
            assert!(e.to_string().contains("rfc4106(gcm(aes))"));
        }
    }

    #[test]
    fn update_of_missing_sa_is_not_found() {
        let ctx = ErrorContext::install_sa("updating SA", RequestKind::UpdateSa, "cbc(aes)".into());
        assert!(from_kernel(&ctx, libc::ESRCH, None).is_not_found());
    }

    #[test]
    fn generic_errnos_map() {
        let ctx = ErrorContext::new("deleting policy");
        assert!(from_kernel(&ctx, libc::ENOENT, None).is_not_found());
        assert!(from_kernel(&ctx, libc::ESRCH, None).is_not_found());
        assert!(from_kernel(&ctx, libc::EEXIST, None).is_already_exists());
        assert!(matches!(
            from_kernel(&ctx, libc::EPERM, None),
            XfrmError::PermissionDenied { .. }
        ));
        assert!(matches!(
            from_kernel(&ctx, libc::EINVAL, None),
            XfrmError::InvalidRequest { .. }
        ));
        let e = from_kernel(&ctx, libc::ENOMEM, None);
        assert!(matches!(e, XfrmError::Kernel { .. }));
        assert_eq!(e.errno(), Some(libc::ENOMEM));
    }
}
