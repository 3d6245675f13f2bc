//! Per-socket bypass policies for IKE sockets.
//!
//! An IKE socket must never have its packets caught by an IPsec policy (a
//! policy covering the gateways' own addresses would otherwise swallow the
//! IKE traffic that is meant to set it up). The kernel lets a socket carry
//! its own policies via `setsockopt(IP_XFRM_POLICY)` /
//! `setsockopt(IPV6_XFRM_POLICY)` with a `struct xfrm_userpolicy_info`;
//! an ALLOW policy without templates for both the in and the out direction
//! takes precedence over the SPD for that socket.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::Emitable;
use netlink_packet_xfrm::{
    LifetimeConfig, Selector, UserPolicyInfo, AF_INET, AF_INET6, XFRM_INF, XFRM_POLICY_ALLOW,
    XFRM_POLICY_IN, XFRM_POLICY_OUT, XFRM_USER_POLICY_INFO_LEN,
};

use crate::error::XfrmError;

/// `IP_XFRM_POLICY` from `<linux/in.h>`.
const IP_XFRM_POLICY: libc::c_int = 17;
/// `IPV6_XFRM_POLICY` from `<linux/in6.h>`.
const IPV6_XFRM_POLICY: libc::c_int = 35;

/// The `xfrm_userpolicy_info` bytes of an ALLOW bypass for one direction.
pub(crate) fn bypass_policy_bytes(family: u16, direction: u8) -> [u8; XFRM_USER_POLICY_INFO_LEN] {
    let info = UserPolicyInfo {
        selector: Selector {
            family,
            ..Selector::default()
        },
        lifetime_cfg: LifetimeConfig {
            soft_byte_limit: XFRM_INF,
            hard_byte_limit: XFRM_INF,
            soft_packet_limit: XFRM_INF,
            hard_packet_limit: XFRM_INF,
            ..LifetimeConfig::default()
        },
        direction,
        action: XFRM_POLICY_ALLOW,
        ..UserPolicyInfo::default()
    };
    let mut buf = [0u8; XFRM_USER_POLICY_INFO_LEN];
    info.emit(&mut buf);
    buf
}

/// The socket's address family (from `getsockname`).
fn socket_family(fd: BorrowedFd<'_>) -> Result<u16, XfrmError> {
    // SAFETY: sockaddr_storage is plain data; getsockname writes at most
    // `len` bytes into it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            &mut storage as *mut _ as *mut libc::sockaddr,
            &mut len,
        )
    };
    if rc != 0 {
        return Err(XfrmError::SocketPolicy {
            direction: "getsockname",
            source: std::io::Error::last_os_error(),
        });
    }
    match storage.ss_family as libc::c_int {
        libc::AF_INET => Ok(AF_INET),
        libc::AF_INET6 => Ok(AF_INET6),
        other => Err(XfrmError::InvalidInput(format!(
            "socket family {other} is neither AF_INET nor AF_INET6"
        ))),
    }
}

/// Make sure the kernel has an XFRM key manager registered.
///
/// `IP_XFRM_POLICY` is compiled by a registered key manager; `xfrm_user`
/// registers one, and the kernel loads that module on demand only when a
/// `NETLINK_XFRM` socket is opened. On a node that never ran IPsec (fresh
/// boot, no modprobe init container), setting a socket policy before any
/// XFRM netlink socket exists fails with EINVAL. Opening (and closing) one
/// here loads the module; it stays loaded.
pub fn ensure_key_manager() -> Result<(), XfrmError> {
    // SAFETY: plain socket(2) call; the descriptor is closed below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_XFRM,
        )
    };
    if fd < 0 {
        return Err(XfrmError::SocketPolicy {
            direction: "NETLINK_XFRM socket (xfrm_user key manager)",
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: `fd` was returned by socket(2) above and is owned here.
    unsafe { libc::close(fd) };
    Ok(())
}

/// Exempt a UDP (IKE) socket from all IPsec policies, in both directions.
pub fn bypass_socket(fd: BorrowedFd<'_>) -> Result<(), XfrmError> {
    let family = socket_family(fd)?;
    ensure_key_manager()?;
    let (level, opt) = if family == AF_INET6 {
        (libc::IPPROTO_IPV6, IPV6_XFRM_POLICY)
    } else {
        (libc::IPPROTO_IP, IP_XFRM_POLICY)
    };
    for (dir, name) in [(XFRM_POLICY_IN, "in"), (XFRM_POLICY_OUT, "out")] {
        let bytes = bypass_policy_bytes(family, dir);
        // SAFETY: `bytes` is a valid xfrm_userpolicy_info of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                opt,
                bytes.as_ptr() as *const libc::c_void,
                bytes.len() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(XfrmError::SocketPolicy {
                direction: name,
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bypass_bytes() {
        let b = bypass_policy_bytes(AF_INET, XFRM_POLICY_OUT);
        assert_eq!(u16::from_ne_bytes([b[40], b[41]]), AF_INET);
        assert_eq!(b[160], XFRM_POLICY_OUT);
        assert_eq!(b[161], XFRM_POLICY_ALLOW);
        assert_eq!(&b[56..64], &[0xff; 8], "soft byte limit infinite");
        assert_eq!(&b[0..40], &[0u8; 40], "selector addresses are wildcards");
    }
}
