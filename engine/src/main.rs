use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use httpcap::config::cli::{Cli, Mode};
use httpcap::config::config_exit;
use httpcap::http::redact::Redactor;
use httpcap::runtime::{self, RunError};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    httpcap::allocator::return_freed_memory_promptly();
    let cli = Cli::parse_or_exit(std::env::args_os());
    let mode = cli.mode();
    let cfg = cli.config;
    if mode != Mode::Health {
        if let Err(e) = runtime::check_outputs(&cfg) {
            config_exit(&e.to_string());
        }
    }
    if mode == Mode::Health {
        std::process::exit(httpcap::metrics::health::check(&cfg));
    }
    // Reads REDACT_HASH_KEY_FILE, once, before logging starts: a bad key
    // file is one line on stderr.
    let redact = match Redactor::from_config(&cfg) {
        Ok(r) => r,
        Err(e) => config_exit(&e.to_string()),
    };
    if mode == Mode::CheckConfig {
        println!("{}", cfg.startup_line());
        return;
    }
    httpcap::logging::init(cfg.verbose, cfg.log_format);
    // The full effective command line, so an operator can see every setting.
    httpcap::logging::startup(&cfg.startup_line(), cfg.verbose, cfg.log_format);

    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, shutdown.clone()) {
            tracing::error!(target: "lifecycle", "httpcap: cannot install signal handler: {e}");
            std::process::exit(1);
        }
    }
    match runtime::run(&cfg, redact, shutdown) {
        Ok(report) => {
            eprint!("{}", report.summary);
            if let Some(failure) = report.input_failure.or(report.output_failure) {
                // What was read is out (or counted as lost); the input or
                // the output itself failed.
                tracing::error!(target: "lifecycle", "httpcap: error: {failure}");
                httpcap::metrics::health::record_exit(&cfg.health_file, 1);
                std::process::exit(1);
            }
            if let Some(reason) = httpcap::output::kafka::undelivered_reason(&report.totals) {
                tracing::error!(target: "lifecycle", "httpcap: {reason}");
                httpcap::metrics::health::record_exit(&cfg.health_file, runtime::EXIT_UNDELIVERED);
                std::process::exit(runtime::EXIT_UNDELIVERED);
            }
            httpcap::metrics::health::record_exit(&cfg.health_file, 0);
        }
        Err(RunError::Config(e)) => config_exit(&e.to_string()),
        Err(RunError::Privileges(e)) => config_exit(&e.to_string()),
        Err(RunError::Failed(msg)) => {
            tracing::error!(target: "lifecycle", "httpcap: error: {msg}");
            httpcap::metrics::health::record_exit(&cfg.health_file, 1);
            std::process::exit(1);
        }
    }
}
