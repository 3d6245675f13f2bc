//! Tests that change state the whole guest shares (kernel modules). The lab
//! runner (`xtask guest-run`) runs every test under `solo::` first, alone,
//! with no other test running.

use crate::engine::{connect_pair, sites, tempdir};
use integration::lab::require_lab;
use integration::topo::{host_sh, TwoSites};
use std::time::Duration;

/// Whether a module is loaded (a line of /proc/modules starts with its name).
fn loaded(module: &str) -> bool {
    std::fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(module))
}

/// A node that never ran IPsec has no XFRM key manager: `xfrm_user` is
/// loaded on demand only when an XFRM netlink socket is opened, and the IKE
/// socket's per-socket bypass policy fails with EINVAL without one. The
/// engine must start there all the same and connect.
#[test]
fn engine_starts_without_xfrm_user() {
    require_lab();
    // af_key is a key manager too; neither may be there. Both are unused
    // here (the solo phase runs nothing else), so they can be removed.
    for _ in 0..10 {
        let _ = host_sh("modprobe -r xfrm_user af_key 2>&1");
        if !loaded("xfrm_user") && !loaded("af_key") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !loaded("xfrm_user") && !loaded("af_key"),
        "cannot unload xfrm_user/af_key (still in use?):\n{}",
        std::fs::read_to_string("/proc/modules").unwrap_or_default()
    );

    let t = TwoSites::new().expect("topology");
    let work = tempdir("no-xfrm-user");
    let (a, b) = sites();
    let (dir_a, dir_b) = (work.join("endpoints-a"), work.join("endpoints-b"));
    for dir in [&dir_a, &dir_b] {
        a.write_into(dir).unwrap();
        b.write_into(dir).unwrap();
    }
    let env = [("SUBMARINER_HEALTHCHECKINTERVAL", "1")];
    let limit = Duration::from_secs(90);
    let (_ea, _eb) = connect_pair(&t, (&a, &dir_a), (&b, &dir_b), &work, &env, limit);
    let ping = t
        .left
        .sh(&format!(
            "ping -c2 -i0.3 -W2 -I {} {}",
            TwoSites::LEFT_POD_IP,
            TwoSites::RIGHT_POD_IP
        ))
        .expect("ping through the tunnel");
    assert!(ping.contains("2 received"), "{ping}");
    assert!(loaded("xfrm_user"), "the engine ran without xfrm_user?");
}
