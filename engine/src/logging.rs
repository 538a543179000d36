//! Structured logs on stderr at the VERBOSE level: 0 errors only,
//! 1 warnings, lifecycle and metrics, 2 info, 3 debug, 4 per-connection
//! trace, 5 per-transaction trace. LOG_FORMAT=json writes one JSON object
//! per event (timestamp, level, target, fields) for log shippers.

use tracing_subscriber::filter::LevelFilter;

use crate::config::LogFormat;

/// Events about single transactions use this target; they appear only at 5.
pub const TRANSACTION: &str = "transaction";
/// Events about single connections (opened, closed, evicted) use this target.
pub const CONNECTION: &str = "connection";

pub fn level(verbose: u8) -> LevelFilter {
    match verbose {
        0 => LevelFilter::ERROR,
        1 => LevelFilter::WARN,
        2 => LevelFilter::INFO,
        3 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// VERBOSE as a filter: a level, and at 4 everything but per-transaction events.
pub fn filter(verbose: u8) -> tracing_subscriber::EnvFilter {
    let mut directives = level(verbose).to_string().to_ascii_lowercase();
    if verbose == 4 {
        directives.push_str(&format!(",{TRANSACTION}=off"));
    }
    tracing_subscriber::EnvFilter::new(directives)
}

pub fn init(verbose: u8, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter(verbose))
        .with_target(true)
        // Colour only for a person at a terminal, never into `docker logs`.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
