//! The HTTP endpoint on SUBMARINER_METRICSPORT: `/metrics` (Prometheus),
//! `/healthz` (liveness: the manager loop ticked recently) and `/readyz`
//! (readiness: the manager is up and has applied the first set of plans).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::crd::EndpointSpec;
use crate::metrics::{render, MetricsSnapshot};

/// How stale the manager's heartbeat may be before `/healthz` fails.
const LIVENESS: Duration = Duration::from_secs(30);

/// Liveness and readiness, shared by the manager and the HTTP server.
#[derive(Debug, Default)]
pub struct Health {
    heartbeat_unix_ms: AtomicU64,
    ready: AtomicBool,
    /// Set when a kernel operation timed out (netlink stuck), cleared by
    /// the next one that answers.
    kernel_stuck: AtomicBool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Health {
    /// The manager loop is alive.
    pub fn beat(&self) {
        self.heartbeat_unix_ms.store(now_ms(), Ordering::Relaxed);
    }
    /// The manager is serving its plans.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }
    pub fn is_live(&self) -> bool {
        let last = self.heartbeat_unix_ms.load(Ordering::Relaxed);
        last != 0 && now_ms().saturating_sub(last) <= LIVENESS.as_millis() as u64
    }
    /// Whether kernel operations answer (false after one timed out, until
    /// one answers again): readiness depends on it.
    pub fn set_kernel_ok(&self, ok: bool) {
        self.kernel_stuck.store(!ok, Ordering::Relaxed);
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
            && self.is_live()
            && !self.kernel_stuck.load(Ordering::Relaxed)
    }
}

/// What the server reads.
#[derive(Clone)]
pub struct Sources {
    pub health: Arc<Health>,
    pub metrics: watch::Receiver<MetricsSnapshot>,
    pub local: watch::Receiver<EndpointSpec>,
}

fn text(status: StatusCode, body: impl Into<Bytes>, content_type: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Answer one request.
pub fn respond(path: &str, s: &Sources) -> Response<Full<Bytes>> {
    match path {
        "/metrics" => {
            let body = render(&s.local.borrow(), &s.metrics.borrow());
            text(
                StatusCode::OK,
                body,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        }
        "/healthz" if s.health.is_live() => text(StatusCode::OK, "ok\n", "text/plain"),
        "/healthz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "manager loop stalled\n",
            "text/plain",
        ),
        "/readyz" if s.health.is_ready() => text(StatusCode::OK, "ok\n", "text/plain"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n", "text/plain"),
        _ => text(StatusCode::NOT_FOUND, "not found\n", "text/plain"),
    }
}

/// Bind the port (an error names it).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await
}

/// Serve until the task is aborted.
pub async fn serve(listener: TcpListener, sources: Sources) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("metrics server accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let sources = sources.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let resp = respond(req.uri().path(), &sources);
                async move { Ok::<_, Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("metrics connection: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> (Sources, watch::Sender<MetricsSnapshot>) {
        let (mtx, metrics) = watch::channel(MetricsSnapshot::default());
        let (_ltx, local) = watch::channel(EndpointSpec::default());
        (
            Sources {
                health: Arc::new(Health::default()),
                metrics,
                local,
            },
            mtx,
        )
    }

    #[test]
    fn probes_follow_the_manager() {
        let (s, _tx) = sources();
        assert_eq!(
            respond("/healthz", &s).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            respond("/readyz", &s).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        s.health.beat();
        assert_eq!(respond("/healthz", &s).status(), StatusCode::OK);
        assert_eq!(
            respond("/readyz", &s).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        s.health.set_ready();
        assert_eq!(respond("/readyz", &s).status(), StatusCode::OK);
        assert_eq!(respond("/nope", &s).status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn serves_metrics_over_http() {
        let (s, tx) = sources();
        tx.send_modify(|m| m.sync_iterations = 3);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, s));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(
            body.contains("submariner_gateway_sync_iterations 3"),
            "{body}"
        );
        server.abort();
    }
}
