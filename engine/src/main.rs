use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use httpcap::config::{config_exit, Config};
use httpcap::runtime::{self, RunError};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Words that select something other than a capture run. They come first
/// and are stripped before the usual flags and environment are parsed.
enum Mode {
    Run,
    /// Parse and validate the configuration, print the startup line, exit 0.
    CheckConfig,
    /// Judge the running process from its status file (compose health check).
    Health,
}

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mode = match args.get(1).and_then(|a| a.to_str()) {
        Some("check-config") => Mode::CheckConfig,
        Some("health") => Mode::Health,
        _ => Mode::Run,
    };
    if !matches!(mode, Mode::Run) {
        args.remove(1);
    }
    let cfg = Config::from_args_or_exit(args);
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
        Ok(report) => {
            eprint!("{}", report.summary);
            if let Some(reason) = httpcap::output::kafka::undelivered_reason(&report.totals) {
                eprintln!("httpcap: {reason}");
                std::process::exit(runtime::EXIT_UNDELIVERED);
            }
        }
        Err(RunError::Config(line)) => config_exit(&line),
        Err(RunError::Failed(msg)) => {
            eprintln!("httpcap: error: {msg}");
            std::process::exit(1);
        }
    }
}
