//! `cable-engine`: the gateway daemon binary. See [`cable_engine::cli`].
//!
//! Installed as `pluto`, `whack` or `ipsec` (a link or a copy), it takes
//! that personality instead (the drop-in mode, [`cable_engine::dropin`]);
//! `cable-engine pluto|whack|ipsec ARGS` does the same.

use std::process::ExitCode;

use clap::Parser;

/// The personality a program name (argv\[0\]) selects.
fn personality(argv0: &str) -> Option<&'static str> {
    let base = std::path::Path::new(argv0).file_name()?.to_str()?;
    ["pluto", "whack", "ipsec"].into_iter().find(|p| *p == base)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cable-engine: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (who, rest) = match args.first().and_then(|a| personality(a)) {
        Some(p) => (Some(p), args.get(1..).unwrap_or_default().to_vec()),
        None => match args.get(1).map(String::as_str) {
            Some(p @ ("pluto" | "whack" | "ipsec")) => {
                (personality(p), args.get(2..).unwrap_or_default().to_vec())
            }
            _ => (None, Vec::new()),
        },
    };
    use cable_engine::dropin::{client, pluto};
    match who {
        Some("pluto") => runtime.block_on(pluto::pluto_main(&rest)),
        Some("whack") => runtime.block_on(client::whack_main(&rest)),
        Some("ipsec") => runtime.block_on(client::ipsec_main(&rest)),
        _ => runtime.block_on(cable_engine::cli::dispatch(cable_engine::cli::Cli::parse())),
    }
}
