//! Request/response transport over a `netlink-sys` tokio socket.
//!
//! Requests are serialised one at a time (the client holds this behind an
//! async mutex): send, then read until the ack/error (single requests) or
//! `NLMSG_DONE` (dumps) carrying our sequence number. Send and receive
//! buffers are zeroised after use because SA messages carry keys both ways
//! (the kernel echoes keys in `XFRM_MSG_NEWSA` replies). This is why the
//! request path does not go through `netlink-proto`, whose internal buffers
//! cannot be wiped; the event stream (no key material) does use it.

use netlink_sys::{protocols::NETLINK_XFRM, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{from_kernel, ErrorContext, XfrmError};
use crate::wire::{
    decode_xfrm, encode_request, parse_done, parse_error, split_messages, RequestMode, Scrubbed,
    NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_DUMP_INTR,
};

/// Receive buffer size; XFRM dump datagrams stay well below this.
const RECV_BUF: usize = 256 * 1024;

/// The outcome of a dump that the kernel flagged as interrupted.
pub(crate) struct DumpResult {
    pub messages: Vec<Scrubbed>,
    pub interrupted: bool,
}

pub(crate) struct Transport {
    socket: TokioSocket,
    seq: u32,
    buf: Zeroizing<Vec<u8>>,
}

impl Transport {
    /// Open an XFRM netlink socket in the calling thread's network namespace.
    /// Must be called inside a tokio runtime.
    pub(crate) fn open() -> Result<Self, XfrmError> {
        let mut socket = TokioSocket::new(NETLINK_XFRM).map_err(XfrmError::Socket)?;
        let s = socket.socket_mut();
        s.bind_auto().map_err(XfrmError::Socket)?;
        s.connect(&SocketAddr::new(0, 0))
            .map_err(XfrmError::Socket)?;
        // Extended acks give the kernel's reason text; capped acks keep
        // error replies from echoing our (keyed) request back.
        s.set_ext_ack(true).map_err(XfrmError::Socket)?;
        s.set_cap_ack(true).map_err(XfrmError::Socket)?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        Ok(Transport {
            socket,
            seq: seed | 1,
            buf: Zeroizing::new(Vec::with_capacity(RECV_BUF)),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    /// Send one request and wait for its ack or error; returns the data
    /// messages the kernel sent before the ack (e.g. the NEWSA of a GETSA).
    pub(crate) async fn request(
        &mut self,
        msg: Scrubbed,
        ctx: &ErrorContext,
    ) -> Result<Vec<Scrubbed>, XfrmError> {
        let r = self.exchange(msg, ctx, RequestMode::Ack).await?;
        Ok(r.messages)
    }

    /// Send a dump request and collect every message until NLMSG_DONE.
    pub(crate) async fn dump(
        &mut self,
        msg: Scrubbed,
        ctx: &ErrorContext,
    ) -> Result<DumpResult, XfrmError> {
        self.exchange(msg, ctx, RequestMode::Dump).await
    }

    async fn exchange(
        &mut self,
        msg: Scrubbed,
        ctx: &ErrorContext,
        mode: RequestMode,
    ) -> Result<DumpResult, XfrmError> {
        let seq = self.next_seq();
        let frame = encode_request(msg, seq, mode);
        let io_err = |source| XfrmError::Io { op: ctx.op, source };
        self.socket.send(&frame).await.map_err(io_err)?;
        drop(frame);

        let mut out = DumpResult {
            messages: Vec::new(),
            interrupted: false,
        };
        loop {
            self.buf.zeroize();
            self.buf.reserve(RECV_BUF);
            let from = self
                .socket
                .recv_from(&mut *self.buf)
                .await
                .map_err(io_err)?;
            if from.port_number() != 0 {
                // Not from the kernel: ignore.
                continue;
            }
            let malformed = |reason: String| XfrmError::MalformedReply { op: ctx.op, reason };
            let msgs = split_messages(&self.buf).map_err(malformed)?;
            for m in msgs {
                if m.seq != seq {
                    // A late reply to an earlier (abandoned) request.
                    continue;
                }
                if m.flags & NLM_F_DUMP_INTR != 0 {
                    out.interrupted = true;
                }
                match m.msg_type {
                    NLMSG_ERROR => {
                        let ack = parse_error(m.payload, m.flags).map_err(malformed)?;
                        if ack.code == 0 {
                            return Ok(out);
                        }
                        return Err(from_kernel(ctx, ack.code.saturating_neg(), ack.message));
                    }
                    NLMSG_DONE => {
                        let done = parse_done(m.payload, m.flags);
                        if done.code < 0 {
                            return Err(from_kernel(ctx, done.code.saturating_neg(), done.message));
                        }
                        return Ok(out);
                    }
                    NLMSG_OVERRUN => {
                        return Err(malformed("netlink overrun".into()));
                    }
                    t if t < 16 => continue, // NOOP and other control types
                    t => out
                        .messages
                        .push(decode_xfrm(t, m.payload).map_err(malformed)?),
                }
            }
        }
    }
}
