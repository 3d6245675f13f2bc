//! Lab tests: they run only inside the kernel lab VM (`cargo xtask test`),
//! and refuse to run anywhere else.

mod common;
mod engine;
mod harness;
mod healthcheck;
mod interop;
mod xfrm;
