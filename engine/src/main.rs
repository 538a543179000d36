use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use httpcap::config::{config_exit, Config};
use httpcap::runtime::{self, RunError};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cfg = Config::from_env_or_exit();
    httpcap::logging::init(cfg.verbose);
    // The full effective command line, so an operator can see every setting.
    eprintln!("{}", cfg.startup_line());

    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, shutdown.clone()) {
            eprintln!("httpcap: cannot install signal handler: {e}");
            std::process::exit(1);
        }
    }
    match runtime::run(&cfg, shutdown) {
        Ok(report) => eprint!("{}", report.summary),
        Err(RunError::Config(line)) => config_exit(&line),
        Err(RunError::Failed(msg)) => {
            eprintln!("httpcap: error: {msg}");
            std::process::exit(1);
        }
    }
}
