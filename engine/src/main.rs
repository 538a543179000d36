use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use httpcap::config::cli::{Cli, Mode};
use httpcap::config::config_exit;
use httpcap::runtime::{self, RunError};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse_or_exit(std::env::args_os());
    let mode = cli.mode();
    let cfg = cli.config;
    match mode {
        Mode::Run => {}
        Mode::CheckConfig => {
            println!("{}", cfg.startup_line());
            return;
        }
        Mode::Health => std::process::exit(httpcap::metrics::health::check(&cfg)),
    }
    httpcap::logging::init(cfg.verbose, cfg.log_format);
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
