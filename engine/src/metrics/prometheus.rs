//! The Prometheus endpoint: OpenMetrics text at `/metrics`, the health
//! verdict at `/health`. prometheus-client does the encoding; tiny_http
//! serves it from one thread, so a slow scraper costs nothing on the
//! shards. The numbers come from the stats thread's latest snapshot.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::{health, Snapshot};
use crate::stats::{Counter, Gauge};

/// Renders a snapshot as OpenMetrics text, every metric prefixed `httpcap_`.
pub fn render(snap: &Snapshot) -> String {
    let mut reg = Registry::with_prefix("httpcap");
    reg.register_collector(Box::new(SnapshotCollector(snap.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
    out
}

#[derive(Debug)]
struct SnapshotCollector(Snapshot);

type Labels = Vec<(Cow<'static, str>, Cow<'static, str>)>;

fn shard_label(i: usize) -> Labels {
    vec![(Cow::Borrowed("shard"), Cow::Owned(i.to_string()))]
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        // Counters and gauges per shard: imbalance between shards is itself
        // worth seeing (one hot connection pins one core).
        for c in Counter::ALL {
            let mut m = enc.encode_descriptor(
                c.name(),
                c.help(),
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (i, sh) in s.shards.iter().enumerate() {
                let labels = shard_label(i);
                ConstCounter::new(sh.counters[*c as usize]).encode(m.encode_family(&labels)?)?;
            }
        }
        for g in Gauge::ALL {
            let mut m = enc.encode_descriptor(
                g.name(),
                g.help(),
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (i, sh) in s.shards.iter().enumerate() {
                let labels = shard_label(i);
                ConstGauge::new(sh.gauges[*g as usize] as i64).encode(m.encode_family(&labels)?)?;
            }
        }
        // Latency quantiles from the merged HDR histograms, as gauges with a
        // `quantile` label (prometheus-client has no summary type).
        for (name, help, q) in [
            (
                "latency_us",
                "packet batch received to record written, microseconds",
                &s.latency_us,
            ),
            (
                "transaction_duration_us",
                "request first byte to response last byte, microseconds",
                &s.duration_us,
            ),
        ] {
            let mut m = enc.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (label, v) in [
                ("0.5", q.p50),
                ("0.99", q.p99),
                ("0.999", q.p999),
                ("1", q.max),
            ] {
                let labels: Labels = vec![(Cow::Borrowed("quantile"), Cow::Borrowed(label))];
                ConstGauge::new(v as i64).encode(m.encode_family(&labels)?)?;
            }
        }
        for (name, help, v) in [
            (
                "process_resident_bytes",
                "resident set size of the process",
                s.rss_bytes,
            ),
            (
                "process_resident_peak_bytes",
                "peak resident set size of the process",
                s.rss_peak_bytes,
            ),
            (
                "uptime_seconds",
                "seconds since the process started",
                s.uptime_s as u64,
            ),
            ("shards", "shards running", s.shards.len() as u64),
        ] {
            let m = enc.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            ConstGauge::new(v as i64).encode(m)?;
        }
        Ok(())
    }
}

/// The listener thread.
pub struct Server {
    addr: SocketAddr,
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(
        addr: SocketAddr,
        latest: Arc<Mutex<Option<Snapshot>>>,
    ) -> std::io::Result<Server> {
        let http = tiny_http::Server::http(addr).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, e.to_string())
        })?;
        let addr = http.server_addr().to_ip().unwrap_or(addr);
        let http = Arc::new(http);
        let h = http.clone();
        let thread = std::thread::Builder::new()
            .name("httpcap-metrics".into())
            .spawn(move || serve(&h, &latest))?;
        Ok(Server {
            addr,
            http,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(http: &tiny_http::Server, latest: &Mutex<Option<Snapshot>>) {
    for req in http.incoming_requests() {
        let snap = latest.lock().ok().and_then(|l| l.clone());
        let path = req.url().split('?').next().unwrap_or("").to_string();
        let (status, ctype, body) = match (path.as_str(), snap) {
            ("/metrics", Some(s)) => (
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                render(&s),
            ),
            ("/metrics", None) | ("/health", None) => (503, "text/plain", "starting\n".to_string()),
            ("/health", Some(s)) => {
                let v = health::verdict_of(&s);
                (
                    if v.ok { 200 } else { 503 },
                    "text/plain",
                    format!("{}\n", v.line),
                )
            }
            _ => (404, "text/plain", "try /metrics or /health\n".to_string()),
        };
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes())
            .expect("static header");
        let resp = tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(header);
        let _ = req.respond(resp);
    }
}
