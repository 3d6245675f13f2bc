//! Sans-IO IKEv2 (RFC 7296) protocol core.
//!
//! Bytes and the current time go in; datagrams to send, the next timer
//! deadline and events come out. This crate never opens a socket, never reads
//! a clock and never talks to the kernel.
pub mod crypto;
pub mod wire;
