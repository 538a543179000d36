//! Structured logs on stderr at the VERBOSE level: 0 errors only,
//! 1 warnings, lifecycle and metrics, 2 info, 3 debug, 4 per-connection
//! trace, 5 per-transaction trace.

use tracing_subscriber::filter::LevelFilter;

pub fn init(verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::ERROR,
        1 => LevelFilter::WARN,
        2 => LevelFilter::INFO,
        3 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(true)
        .try_init();
}
