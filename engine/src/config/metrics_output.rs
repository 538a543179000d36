//! METRICS_OUTPUT, parsed once, by clap: where the stats thread sends
//! the merged statistics.

use std::net::{SocketAddr, ToSocketAddrs};

/// Where metrics go (METRICS_OUTPUT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricsOutput {
    /// A compact line on stderr every interval.
    Console,
    /// One JSON object on stderr every interval.
    Json,
    /// Nothing periodic (the end-of-run summary is still printed).
    None,
    /// A Prometheus/OpenMetrics text endpoint at `/metrics` (and `/health`).
    Prometheus(SocketAddr),
}

pub const METRICS_FORM: &str =
    "console, json, none or prometheus:HOST:PORT (e.g. prometheus:127.0.0.1:9100)";

/// METRICS_OUTPUT is none of the accepted forms; shows as the forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{METRICS_FORM}")]
pub struct MetricsFormError;

impl MetricsOutput {
    pub fn parse(s: &str) -> Result<MetricsOutput, MetricsFormError> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "console" => return Ok(MetricsOutput::Console),
            "json" => return Ok(MetricsOutput::Json),
            "none" | "" => return Ok(MetricsOutput::None),
            _ => {}
        }
        let addr = t.strip_prefix("prometheus:").ok_or(MetricsFormError)?;
        // Only literal addresses: resolving a name here could block startup.
        addr.parse::<SocketAddr>()
            .ok()
            .or_else(|| {
                addr.strip_prefix("localhost:")
                    .and_then(|p| ("127.0.0.1", p.parse::<u16>().ok()?).to_socket_addrs().ok())
                    .and_then(|mut a| a.next())
            })
            .map(MetricsOutput::Prometheus)
            .ok_or(MetricsFormError)
    }
}

impl std::fmt::Display for MetricsOutput {
    /// The form it was given in (the startup line shows it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricsOutput::Console => f.write_str("console"),
            MetricsOutput::Json => f.write_str("json"),
            MetricsOutput::None => f.write_str("none"),
            MetricsOutput::Prometheus(addr) => write!(f, "prometheus:{addr}"),
        }
    }
}
