//! The health-check pinger against a real kernel: RTTs are measured, losses
//! turn the status to error with Submariner's message, and a reply recovers it.

use healthcheck::{HealthStatus, Pinger, PingerConfig};
use integration::lab::require_lab;
use integration::topo::TwoSites;
use std::time::{Duration, Instant};

async fn wait_for(p: &Pinger, want: HealthStatus, limit: Duration) -> healthcheck::LatencyInfo {
    let start = Instant::now();
    loop {
        let info = p.latency_info();
        if info.status == want {
            return info;
        }
        assert!(
            start.elapsed() < limit,
            "status stayed {:?} (wanted {want:?}) for {limit:?}: {info:?}",
            info.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn pinger_reports_rtt_loss_and_recovery() {
    require_lab();
    let t = TwoSites::new().expect("topology");
    let left = &t.left;
    let right = &t.right;
    left.enter(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let p = Pinger::start(PingerConfig {
                source: Some(TwoSites::LEFT_POD_IP.parse().unwrap()),
                target: TwoSites::RIGHT_POD_IP.parse().unwrap(),
                interval: Duration::from_millis(100),
                max_loss: 3,
            });
            let info = wait_for(&p, HealthStatus::Connected, Duration::from_secs(10)).await;
            assert_eq!(info.message, "");
            assert!(info.average_nanos > 0, "{info:?}");
            assert!(info.last.ends_with('s'), "Go duration: {info:?}");

            // Replies stop: the far side drops echo requests.
            right
                .sh("ip route add blackhole 10.1.0.0/16 table 100 && ip rule add from 10.1.0.0/16 lookup 100 prio 10 && ip route flush cache")
                .expect("drop");
            right.sh("ip route del 10.1.0.0/16").expect("route del");
            let info = wait_for(&p, HealthStatus::Error, Duration::from_secs(10)).await;
            assert_eq!(
                info.message,
                format!("Failed to successfully ping the remote endpoint IP \"{}\"", TwoSites::RIGHT_POD_IP)
            );

            // One reply brings it back.
            right
                .sh(&format!(
                    "ip rule del prio 10 && ip route add 10.1.0.0/16 via {} src {}",
                    TwoSites::LEFT_IP,
                    TwoSites::RIGHT_POD_IP
                ))
                .expect("restore");
            let info = wait_for(&p, HealthStatus::Connected, Duration::from_secs(10)).await;
            assert_eq!(info.message, "");
        });
    })
    .expect("enter namespace");
}
