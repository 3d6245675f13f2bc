//! [`XfrmClient`]: the handle the engine holds.
//!
//! `connect` opens a `NETLINK_XFRM` socket **in the network namespace of the
//! calling thread** (sockets keep the namespace they were created in, so a
//! client made on a thread that entered another namespace keeps working in
//! that namespace from any thread afterwards). Requests are serialised over
//! that one socket; the client is `Send + Sync` and can be shared in an
//! `Arc`. The operations live next to their types: `sa.rs`, `spi.rs`,
//! `policy.rs`, `ownership.rs`.

use tokio::sync::Mutex;

use crate::error::{ErrorContext, XfrmError};
use crate::transport::Transport;
use crate::wire::Scrubbed;

/// How many times a dump flagged "interrupted" (the table changed while it
/// was read) is retried before the partial result is returned.
const DUMP_RETRIES: usize = 3;

/// Async client of the kernel's XFRM interface.
pub struct XfrmClient {
    transport: Mutex<Transport>,
}

impl std::fmt::Debug for XfrmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XfrmClient")
    }
}

impl XfrmClient {
    /// Open the client in the calling thread's network namespace. Must be
    /// called from within a tokio runtime (the socket registers with it).
    pub fn connect() -> Result<Self, XfrmError> {
        Ok(XfrmClient {
            transport: Mutex::new(Transport::open()?),
        })
    }

    pub(crate) async fn request(
        &self,
        msg: Scrubbed,
        ctx: &ErrorContext,
    ) -> Result<Vec<Scrubbed>, XfrmError> {
        self.transport.lock().await.request(msg, ctx).await
    }

    /// Dump, retrying when the kernel flags the dump as interrupted.
    pub(crate) async fn dump(
        &self,
        msg: Scrubbed,
        ctx: &ErrorContext,
    ) -> Result<Vec<Scrubbed>, XfrmError> {
        let mut transport = self.transport.lock().await;
        let mut msg = msg;
        for _ in 0..DUMP_RETRIES {
            let again = Scrubbed(msg.0.clone());
            let r = transport.dump(msg, ctx).await?;
            if !r.interrupted {
                return Ok(r.messages);
            }
            tracing::debug!(op = ctx.op, "dump interrupted, retrying");
            msg = again;
        }
        Ok(transport.dump(msg, ctx).await?.messages)
    }
}
