//! The Prometheus endpoint: OpenMetrics text at `/metrics`, the health
//! verdict at `/health`. prometheus-client does the encoding; tiny_http
//! serves it from one thread, so a slow scraper costs nothing on the
//! shards. The numbers come from the stats thread's latest snapshot.
//!
//! Names follow the Prometheus conventions: counters end in `_total`,
//! units are in the name and are base units (seconds, bytes). Every loss
//! and intentional drop is one `reason` of `httpcap_dropped_total`, so a
//! dashboard shows each cause with one query. Latency and transaction
//! duration are real histograms (`_bucket{le=...}`), so
//! `histogram_quantile` over a `rate` window sees today's spike.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::process::ProcessMetrics;
use super::{health, Buckets, Snapshot};
use crate::stats::{Counter, Gauge, CAUSE_FAMILIES};

/// Renders a snapshot as OpenMetrics text: the engine's metrics prefixed
/// `httpcap_`, the standard `process_` metrics as they are.
pub fn render(snap: &Snapshot) -> String {
    let mut reg = Registry::default();
    reg.register_collector(Box::new(ProcessCollector));
    reg.sub_registry_with_prefix("httpcap")
        .register_collector(Box::new(SnapshotCollector(snap.clone())));
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

/// A histogram already counted (prometheus-client's `Histogram` observes
/// values one by one; ours come from the merged HDR histograms).
#[derive(Debug)]
struct ConstHistogram<'a>(&'a Buckets);

impl EncodeMetric for ConstHistogram<'_> {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.0.sum_s, self.0.count, &self.0.per_bucket, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        // Activity counters per shard: imbalance between shards is itself
        // worth seeing (one hot connection pins one core).
        for c in Counter::ALL
            .iter()
            .filter(|c| !c.is_drop() && c.cause().is_none())
        {
            let mut m = enc.encode_descriptor(c.name(), c.help(), None, MetricType::Counter)?;
            for (i, sh) in s.shards.iter().enumerate() {
                ConstCounter::new(sh.counters[*c as usize])
                    .encode(m.encode_family(&shard_label(i))?)?;
            }
        }
        // Every loss and intentional drop, one series per reason and shard.
        {
            let mut m = enc.encode_descriptor(
                "dropped",
                "packets, segments, messages or records lost (kind=loss) or filtered on purpose (kind=intentional), by reason; the reasons are the counter names in engine/src/stats/counters.rs",
                None,
                MetricType::Counter,
            )?;
            for c in Counter::ALL.iter().filter(|c| c.is_drop()) {
                for (i, sh) in s.shards.iter().enumerate() {
                    let labels: Labels = vec![
                        (Cow::Borrowed("reason"), Cow::Borrowed(c.name())),
                        (Cow::Borrowed("kind"), Cow::Borrowed(c.kind().label())),
                        (Cow::Borrowed("shard"), Cow::Owned(i.to_string())),
                    ];
                    ConstCounter::new(sh.counters[*c as usize])
                        .encode(m.encode_family(&labels)?)?;
                }
            }
        }
        // Breakdowns of one counter by cause, one metric each.
        for (family, help) in CAUSE_FAMILIES {
            let mut m = enc.encode_descriptor(family, help, None, MetricType::Counter)?;
            for c in Counter::ALL {
                let Some((_, reason)) = c.cause().filter(|(f, _)| f == family) else {
                    continue;
                };
                for (i, sh) in s.shards.iter().enumerate() {
                    let labels: Labels = vec![
                        (Cow::Borrowed("reason"), Cow::Borrowed(reason)),
                        (Cow::Borrowed("shard"), Cow::Owned(i.to_string())),
                    ];
                    ConstCounter::new(sh.counters[*c as usize])
                        .encode(m.encode_family(&labels)?)?;
                }
            }
        }
        for g in Gauge::ALL {
            let mut m = enc.encode_descriptor(g.name(), g.help(), None, MetricType::Gauge)?;
            for (i, sh) in s.shards.iter().enumerate() {
                ConstGauge::new(sh.gauges[*g as usize] as i64)
                    .encode(m.encode_family(&shard_label(i))?)?;
            }
        }
        for (name, help, b) in [
            (
                "latency_seconds",
                "packet to record: the packet completing a transaction to its record reaching the outputs",
                &s.latency_buckets,
            ),
            (
                "transaction_duration_seconds",
                "request first byte to response last byte",
                &s.duration_buckets,
            ),
        ] {
            let m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
            ConstHistogram(b).encode(m)?;
        }
        {
            let m = enc.encode_descriptor(
                "build",
                "the running build: version label, value 1",
                None,
                MetricType::Info,
            )?;
            let labels: Labels = vec![(
                Cow::Borrowed("version"),
                Cow::Borrowed(env!("CARGO_PKG_VERSION")),
            )];
            prometheus_client::metrics::info::Info::new(labels).encode(m)?;
        }
        for (name, help, v) in [
            (
                "resident_memory_peak_bytes",
                "peak resident set size of the process",
                s.rss_peak_bytes as f64,
            ),
            (
                "uptime_seconds",
                "seconds since the run started",
                s.uptime_s,
            ),
            ("shards", "shards running", s.shards.len() as f64),
        ] {
            let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(v).encode(m)?;
        }
        Ok(())
    }
}

/// `process_*`, read when scraped.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let p = ProcessMetrics::read();
        if let Some(v) = p.cpu_seconds {
            let m = enc.encode_descriptor(
                "process_cpu_seconds",
                "total user and system CPU time spent, in seconds",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(v).encode(m)?;
        }
        for (name, help, v) in [
            (
                "process_resident_memory_bytes",
                "resident memory size in bytes",
                p.resident_memory_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "virtual memory size in bytes",
                p.virtual_memory_bytes.map(|v| v as f64),
            ),
            (
                "process_open_fds",
                "number of open file descriptors",
                p.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "maximum number of open file descriptors",
                p.max_fds.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "start time of the process since the Unix epoch, in seconds",
                p.start_time_seconds,
            ),
        ] {
            if let Some(v) = v {
                let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(v).encode(m)?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Registry as Stats;

    #[test]
    fn latency_is_a_cumulative_histogram_in_seconds() {
        let (mut stats, mut handles) = Stats::new(1);
        // 3 values of 80 µs, 1 of 3 ms, 1 of 20 s (above the last bound).
        for v in [80, 80, 80, 3_000, 20_000_000] {
            handles[0].1.latency_us.record(v).unwrap();
        }
        drop(handles);
        stats.refresh_histograms(std::time::Duration::from_secs(1));
        let snap = Snapshot::take(&stats, std::time::Instant::now(), false);
        let text = render(&snap);
        let bucket = |le: &str| -> u64 {
            let key = format!("httpcap_latency_seconds_bucket{{le=\"{le}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&key))
                .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"))
                .parse()
                .unwrap()
        };
        assert_eq!(bucket("0.00005"), 0);
        assert_eq!(bucket("0.0001"), 3);
        assert_eq!(bucket("0.0025"), 3);
        assert_eq!(bucket("0.005"), 4);
        assert_eq!(bucket("10.0"), 4);
        assert_eq!(bucket("+Inf"), 5);
        assert!(text.contains("httpcap_latency_seconds_count 5\n"), "{text}");
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("httpcap_latency_seconds_sum "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 20.003_24).abs() < 0.05, "{sum}");
        assert!(text.contains(&format!(
            "httpcap_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
    }
}
