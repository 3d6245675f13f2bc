//! `cable-engine`: the gateway daemon. Not built yet (see the engine issue).

fn main() {
    eprintln!("cable-engine: the daemon is not implemented yet");
    std::process::exit(2);
}
