//! Structured logs on stderr at the VERBOSE level:
//! - 0: errors and warnings only, i.e. what an operator must act on (a
//!   loss, once per interval per cause; a broker gone; a bug);
//! - 1 (default): adds INFO: lifecycle (startup line, shards starting and
//!   stopping, end of run) and the periodic metrics line;
//! - 2 and 3: add DEBUG (intentional drops per interval, Kafka client detail);
//! - 4: adds per-connection traces; 5: adds per-transaction traces.
//!
//! LOG_FORMAT=json writes one JSON object per line (timestamp, level,
//! target, message, fields) for log shippers; the startup line, the metrics
//! and the summary follow it too.

use tracing_subscriber::filter::LevelFilter;

use crate::config::LogFormat;

/// Events about single transactions use this target; they appear only at 5.
pub const TRANSACTION: &str = "transaction";
/// Events about single connections (opened, closed, evicted) use this target.
pub const CONNECTION: &str = "connection";

pub fn level(verbose: u8) -> LevelFilter {
    match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 | 3 => LevelFilter::DEBUG,
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

/// The startup line (every effective setting). As text it stays a bare
/// `httpcap --...` line, easy to copy back into a shell; as JSON it is an
/// INFO event like any other. Shown from VERBOSE=1.
pub fn startup(line: &str, verbose: u8, format: LogFormat) {
    match format {
        LogFormat::Text if verbose >= 1 => eprintln!("{line}"),
        LogFormat::Text => {}
        LogFormat::Json => tracing::info!(target: "lifecycle", "{line}"),
    }
}

/// Now, as the JSON log lines write it (RFC 3339, UTC, microseconds), for
/// the objects written outside `tracing` (metrics, summary).
pub fn timestamp() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_levels() {
        assert_eq!(level(0), LevelFilter::WARN);
        assert_eq!(level(1), LevelFilter::INFO);
        assert_eq!(level(2), LevelFilter::DEBUG);
        assert_eq!(level(5), LevelFilter::TRACE);
    }
}
