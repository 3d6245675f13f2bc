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
///
/// The socket never appears at `path` with looser permissions: it is bound
/// in a fresh directory only its owner may enter (mode 0700, whatever the
/// umask), made 0600 there, and then renamed into place.
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
    let private = private_dir_for(path)?;
    let staged = private.join("s");
    let bound = (|| {
        let listener = UnixListener::bind(&staged)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        // Never over a socket another engine bound meanwhile.
        rename_noreplace(&staged, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    bound
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let from = std::ffi::CString::new(from.as_os_str().as_bytes())?;
    let to = std::ffi::CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: two NUL-terminated paths that outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A new directory next to `path`, mode 0700 from its creation.
fn private_dir_for(path: &Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let dir = parent.join(format!(".{name}.{}.bind", std::process::id()));
    // A leftover of a crashed start with the same pid: only ever ours.
    let _ = std::fs::remove_file(dir.join("s"));
    let _ = std::fs::remove_dir(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    // The umask may have taken bits away, never added any; make sure.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
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

    /// Issue 13, item 11: before, the socket was bound at its path with
    /// the umask's mode and only then made 0600; under umask 0, anyone
    /// could connect in between. A watcher that stats the path while the
    /// socket is bound 300 times must never see another mode.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn control_socket_is_never_visible_with_a_looser_mode() {
        use std::os::unix::fs::PermissionsExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (done, path) = (done.clone(), path.clone());
            std::thread::spawn(move || {
                let mut loose = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    if let Ok(m) = std::fs::symlink_metadata(&path) {
                        let mode = m.permissions().mode() & 0o777;
                        if mode != 0o600 {
                            loose.push(mode);
                        }
                    }
                }
                loose
            })
        };
        for _ in 0..300 {
            let listener = bind(&path).await.unwrap();
            drop(listener);
        }
        done.store(true, Ordering::Relaxed);
        let loose = watcher.join().unwrap();
        nix::sys::stat::umask(old);
        let mut modes: Vec<String> = loose.iter().map(|m| format!("{m:o}")).collect();
        modes.dedup();
        assert!(
            loose.is_empty(),
            "{} looks at the path saw modes {modes:?}",
            loose.len()
        );
        // Nothing is left next to the socket.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("control.sock")]);
    }

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
