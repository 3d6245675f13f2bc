//! The `whack` and `ipsec` personalities: check the arguments, hand them
//! to the daemon over its control socket, print its answer and exit with
//! its code. Every call answers within about a second or fails with
//! libreswan's code 33; a call is safe to repeat (the driver kills a call
//! after 5 s and tries again up to three times).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{Request, Response, CTL_NAME, DEFAULT_RUNDIR, MAX_LINE};
use super::whack::{Whack, RC_WHACK_PROBLEM};

/// How long whack waits to connect and for the answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(4);

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The control socket a call talks to.
pub fn socket_path(w: &Whack) -> PathBuf {
    if let Some(p) = &w.ctlsocket {
        return p.clone();
    }
    w.rundir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNDIR))
        .join(CTL_NAME)
}

/// Send `args` to the daemon at `path`; its answer.
pub async fn call(path: &Path, args: &[String]) -> Result<Response, String> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path))
        .await
        .map_err(|_| format!("connect() for \"{}\" timed out", path.display()))?
        .map_err(|e| format!("connect() for \"{}\" failed ({e})", path.display()))?;
    let exchange = async {
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_string(&Request {
            args: args.to_vec(),
        })
        .map_err(|e| e.to_string())?;
        line.push('\n');
        write
            .write_all(line.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        BufReader::new(read.take(MAX_LINE))
            .read_line(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_str::<Response>(&answer).map_err(|e| format!("bad answer: {e}"))
    };
    tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer from pluto in time".to_string())?
}

/// `whack ARGS` (also `ipsec whack ARGS`).
pub async fn whack_main(args: &[String]) -> ExitCode {
    let w = match Whack::parse(args) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return exit(RC_WHACK_PROBLEM);
        }
    };
    match call(&socket_path(&w), args).await {
        Ok(r) => {
            if !r.output.is_empty() {
                let out = if r.output.ends_with('\n') {
                    r.output
                } else {
                    format!("{}\n", r.output)
                };
                if r.code == 0 {
                    print!("{out}");
                } else {
                    eprint!("{out}");
                }
            }
            exit(r.code)
        }
        Err(e) => {
            eprintln!("whack: {e}");
            exit(RC_WHACK_PROBLEM)
        }
    }
}

/// `ipsec ...`: `whack ARGS`, `status` (`whack --status`),
/// `trafficstatus`/`--trafficstatus` (what `subctl gather` runs).
pub async fn ipsec_main(args: &[String]) -> ExitCode {
    let rest = |a: &[String]| a.to_vec();
    match args.first().map(String::as_str) {
        Some("whack") => whack_main(&rest(&args[1..])).await,
        Some("status") | Some("--status") => {
            let mut a = vec!["--status".to_string()];
            a.extend(rest(&args[1..]));
            whack_main(&a).await
        }
        Some("trafficstatus") | Some("--trafficstatus") => {
            let mut a = vec!["--trafficstatus".to_string()];
            a.extend(rest(&args[1..]));
            whack_main(&a).await
        }
        Some("--version") | Some("version") => {
            println!(
                "cable-engine {} (drop-in for libreswan's ipsec)",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        other => {
            eprintln!(
                "ipsec: {} is not supported by cable-engine's drop-in (whack, status, trafficstatus are)",
                other.map_or("nothing".to_string(), |o| format!("{o:?}"))
            );
            ExitCode::from(1)
        }
    }
}
