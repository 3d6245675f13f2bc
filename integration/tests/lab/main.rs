//! Lab tests: they run only inside the kernel lab VM (`cargo xtask test`),
//! and refuse to run anywhere else.

mod algorithms;
mod common;
mod dropin;
mod engine;
mod fragmentation;
mod harness;
mod healthcheck;
mod hostile;
mod interop;
mod ipv6;
mod lossy;
mod nat_keepalive;
mod nat_remap;
mod rebuild;
mod rekey;
mod restart;
mod solo;
mod subnets;
mod trixie;
mod xfrm;
