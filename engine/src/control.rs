//! The local control socket: how `cable-engine show` asks the running engine.
//!
//! A Unix stream socket (default [`crate::config::DEFAULT_CONTROL_SOCKET`],
//! mode 0600: only root, like the gateway pod's `kubectl exec`). Protocol: the
//! client writes one request line, the server answers one JSON line and
//! closes.
//!
//! | request | answer |
//! |---|---|
//! | `show connections` | `{"connections": [Connection, ...]}` |
//! | anything else | `{"error": "unknown request ..."}` |
//!
//! The server answers from a [`tokio::sync::watch`] channel of connections
//! that the engine keeps current, so a `show` never waits on the manager.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::crd::Connection;

/// The request `show connections` sends.
pub const SHOW_CONNECTIONS: &str = "show connections";

/// How long either side waits for the other.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request or answer accepted.
const MAX_MESSAGE: u64 = 16 << 20;

/// The server's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlResponse {
    /// The connections, for `show connections`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<Vec<Connection>>,
    /// Why the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A failure talking to the engine.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No engine listening.
    #[error("cannot reach the engine at {path:?} (is `cable-engine run` running?): {reason}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The exchange failed or timed out.
    #[error("talking to the engine at {path:?}: {reason}")]
    Exchange {
        /// The socket path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The engine answered with an error.
    #[error("the engine answered: {0}")]
    Remote(String),
}

/// Binds the control socket: creates the parent directory, replaces a stale
/// socket file left by a previous run (refusing to take over one that a live
/// engine still answers on), and restricts it to its owner.
pub async fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            // Never delete something that is not a socket.
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another engine is answering on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves requests forever (until the task is dropped or aborted).
pub async fn serve(listener: UnixListener, connections: watch::Receiver<Vec<Connection>>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let connections = connections.clone();
                tokio::spawn(async move {
                    if let Err(e) =
                        tokio::time::timeout(IO_TIMEOUT, answer(stream, connections)).await
                    {
                        tracing::debug!("control request timed out: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("control socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(stream: UnixStream, connections: watch::Receiver<Vec<Connection>>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_MESSAGE));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let request = line.trim();
    let response = if request == SHOW_CONNECTIONS {
        ControlResponse {
            connections: Some(connections.borrow().clone()),
            error: None,
        }
    } else {
        ControlResponse {
            connections: None,
            error: Some(format!("unknown request {request:?}")),
        }
    };
    let mut out = serde_json::to_vec(&response).unwrap_or_default();
    out.push(b'\n');
    let _ = write.write_all(&out).await;
    let _ = write.shutdown().await;
}

/// Asks the engine listening on `path` for its connections.
pub async fn query_connections(path: &Path) -> Result<Vec<Connection>, ControlError> {
    let exchange_err = |reason: String| ControlError::Exchange {
        path: path.to_path_buf(),
        reason,
    };
    let mut stream = UnixStream::connect(path)
        .await
        .map_err(|e| ControlError::Connect {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let exchange = async {
        stream
            .write_all(format!("{SHOW_CONNECTIONS}\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        (&mut stream)
            .take(MAX_MESSAGE)
            .read_to_end(&mut buf)
            .await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(IO_TIMEOUT, exchange)
        .await
        .map_err(|_| exchange_err("no answer within 5 s".into()))?
        .map_err(|e| exchange_err(e.to_string()))?;
    let response: ControlResponse =
        serde_json::from_slice(&buf).map_err(|e| exchange_err(format!("bad answer: {e}")))?;
    if let Some(e) = response.error {
        return Err(ControlError::Remote(e));
    }
    Ok(response.connections.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ConnectionStatus;

    #[tokio::test]
    async fn show_connections_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/control.sock");
        let (tx, rx) = watch::channel(Vec::new());
        let listener = bind(&path).await.unwrap();
        let server = tokio::spawn(serve(listener, rx));

        assert_eq!(query_connections(&path).await.unwrap(), vec![]);
        let c = Connection {
            status: ConnectionStatus::Connecting,
            status_message: "waiting".into(),
            using_ip: "172.18.0.7".into(),
            ..Default::default()
        };
        tx.send_replace(vec![c.clone()]);
        assert_eq!(query_connections(&path).await.unwrap(), vec![c]);

        // A second engine cannot take the socket over while this one answers.
        let e = bind(&path).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);

        // Unknown requests get an error answer.
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"frobnicate\n").await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        assert!(
            buf.contains(r#""error":"unknown request \"frobnicate\"""#),
            "{buf}"
        );

        server.abort();
        let _ = server.await;
        // A stale socket file (no one answering) is replaced.
        let listener = bind(&path).await.unwrap();
        drop(listener);

        // Something that is not a socket is never deleted.
        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, b"keep me").unwrap();
        let e = bind(&file).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    }

    #[tokio::test]
    async fn no_engine_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = query_connections(&dir.path().join("absent.sock"))
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with("cannot reach the engine at"),
            "{e}"
        );
    }
}
