//! Getting the merged statistics out of the process while it runs:
//! the console line, a JSON line, a Prometheus endpoint, and the status
//! file `httpcap health` reads.
//!
//! The stats thread owns a `Telemetry`: every METRICS_INTERVAL it takes a
//! `Snapshot` of every shard's counters, gauges and the merged histograms,
//! prints it in the configured form, hands it to the Prometheus listener
//! and refreshes the health file. Shards never see any of this.

pub mod health;
pub mod process;
pub mod prometheus;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Config, ConfigError, Engine, LogFormat};
use crate::stats::{report, Counter, Gauge, Quantiles, Registry, Totals};

pub use crate::config::metrics_output::{MetricsFormError, MetricsOutput, METRICS_FORM};

/// A merged HDR histogram as Prometheus histogram buckets: cumulative
/// counts since the start (as Prometheus expects; `rate()` over them gives
/// any window), so a spike on day ten moves the quantiles of that window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Buckets {
    /// Sum of the values, in seconds (from the HDR mean: exact to 3 digits).
    pub sum_s: f64,
    pub count: u64,
    /// (upper bound in seconds, values in this bucket alone); the last
    /// bound is +Inf.
    pub per_bucket: Vec<(f64, u64)>,
}

/// Bucket bounds, in seconds, for packet-to-record latency.
pub const LATENCY_BOUNDS_S: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];
/// Bucket bounds, in seconds, for transaction durations (request first
/// byte to response last byte: network and server time).
pub const DURATION_BOUNDS_S: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

impl Buckets {
    /// Reads bucket counts out of a histogram of microseconds, on the
    /// stats thread, so shards only ever record. Each of HDR's recorded
    /// sub-buckets goes to the first bound at or above its values, so the
    /// counts add up to the histogram's exactly (range counts at the bounds
    /// would count an HDR sub-bucket that straddles a bound twice).
    pub fn of(h: &hdrhistogram::Histogram<u64>, bounds_s: &[f64]) -> Buckets {
        let bounds_us: Vec<u64> = bounds_s.iter().map(|b| (b * 1e6).round() as u64).collect();
        let mut counts = vec![0u64; bounds_s.len() + 1];
        for v in h.iter_recorded() {
            let value = h.median_equivalent(v.value_iterated_to());
            let slot = bounds_us.partition_point(|b| *b < value);
            counts[slot] += v.count_at_value();
        }
        let per_bucket = bounds_s
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(counts)
            .collect();
        Buckets {
            sum_s: h.mean() * h.len() as f64 / 1e6,
            count: h.len(),
            per_bucket,
        }
    }
}

/// One shard's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct ShardSnapshot {
    pub counters: Vec<u64>,
    pub gauges: Vec<u64>,
}

/// Every number at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub unix_s: f64,
    pub uptime_s: f64,
    /// Whether the run has ended (the values are final).
    pub done: bool,
    pub shards: Vec<ShardSnapshot>,
    pub latency_us: Quantiles,
    pub duration_us: Quantiles,
    /// The same histograms as Prometheus buckets.
    pub latency_buckets: Buckets,
    pub duration_buckets: Buckets,
    /// Resident set size of the process, and its peak.
    pub rss_bytes: u64,
    pub rss_peak_bytes: u64,
    /// The health verdict made from this snapshot.
    pub health: Option<health::Status>,
}

impl Snapshot {
    pub fn take(reg: &Registry, started: Instant, done: bool) -> Snapshot {
        let shards = reg
            .shards
            .iter()
            .map(|s| ShardSnapshot {
                counters: Counter::ALL.iter().map(|c| s.get(*c)).collect(),
                gauges: Gauge::ALL.iter().map(|g| s.gauge(*g)).collect(),
            })
            .collect();
        let (rss, peak) = process_rss();
        Snapshot {
            unix_s: unix_now(),
            uptime_s: started.elapsed().as_secs_f64(),
            done,
            shards,
            latency_us: Quantiles::of(&reg.latency_us),
            duration_us: Quantiles::of(&reg.duration_us),
            latency_buckets: Buckets::of(&reg.latency_us, LATENCY_BOUNDS_S),
            duration_buckets: Buckets::of(&reg.duration_us, DURATION_BOUNDS_S),
            rss_bytes: rss,
            rss_peak_bytes: peak,
            health: None,
        }
    }

    pub fn counter(&self, c: Counter) -> u64 {
        self.shards.iter().map(|s| s.counters[c as usize]).sum()
    }

    pub fn gauge(&self, g: Gauge) -> u64 {
        self.shards.iter().map(|s| s.gauges[g as usize]).sum()
    }

    /// The JSON form: totals by name, per-shard arrays, quantiles and RSS.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            timestamp: String,
            level: &'static str,
            target: &'static str,
            unix_s: f64,
            uptime_s: f64,
            done: bool,
            counters: std::collections::BTreeMap<&'static str, u64>,
            gauges: std::collections::BTreeMap<&'static str, u64>,
            per_shard: Vec<std::collections::BTreeMap<&'static str, u64>>,
            latency_us: &'a Quantiles,
            duration_us: &'a Quantiles,
            rss_bytes: u64,
            rss_peak_bytes: u64,
        }
        let out = Out {
            timestamp: crate::logging::timestamp(),
            level: "INFO",
            target: "metrics",
            unix_s: self.unix_s,
            uptime_s: self.uptime_s,
            done: self.done,
            counters: Counter::ALL
                .iter()
                .map(|c| (c.name(), self.counter(*c)))
                .collect(),
            gauges: Gauge::ALL
                .iter()
                .map(|g| (g.name(), self.gauge(*g)))
                .collect(),
            per_shard: self
                .shards
                .iter()
                .map(|s| {
                    Counter::ALL
                        .iter()
                        .map(|c| (c.name(), s.counters[*c as usize]))
                        .chain(Gauge::ALL.iter().map(|g| (g.name(), s.gauges[*g as usize])))
                        .collect()
                })
                .collect(),
            latency_us: &self.latency_us,
            duration_us: &self.duration_us,
            rss_bytes: self.rss_bytes,
            rss_peak_bytes: self.rss_peak_bytes,
        };
        simd_json::to_string(&out).unwrap_or_default()
    }
}

/// The stats thread's side of metrics export.
pub struct Telemetry {
    output: MetricsOutput,
    interval: Duration,
    started: Instant,
    /// Last published snapshot, shared with the Prometheus listener.
    latest: Arc<Mutex<Option<Snapshot>>>,
    server: Option<prometheus::Server>,
    health: health::Tracker,
    last_totals: Option<(Totals, Instant)>,
    last_publish: Instant,
    /// Whether a snapshot has been served yet.
    served: bool,
    log_format: LogFormat,
}

impl Telemetry {
    /// Starts the Prometheus listener when configured. Fails (as a
    /// configuration error) when its address cannot be bound.
    pub fn start(cfg: &Config) -> Result<Telemetry, ConfigError> {
        let output = cfg.metrics_output.clone();
        let latest = Arc::new(Mutex::new(None));
        let server = match &output {
            MetricsOutput::Prometheus(addr) => Some(
                prometheus::Server::start(*addr, latest.clone()).map_err(|e| {
                    ConfigError::value("METRICS_OUTPUT", format!("cannot listen on {addr}"))
                        .caused_by(e)
                })?,
            ),
            _ => None,
        };
        let live = cfg.input_raw_engine != Engine::PcapFile;
        Ok(Telemetry {
            output,
            interval: cfg.metrics_interval,
            started: Instant::now(),
            latest,
            server,
            health: health::Tracker::new(cfg, live),
            last_totals: None,
            last_publish: Instant::now(),
            served: false,
            log_format: cfg.log_format,
        })
    }

    /// Address the Prometheus listener is bound to (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(|s| s.addr())
    }

    /// Called often by the stats thread; publishes once per interval.
    pub fn tick(&mut self, reg: &mut Registry) {
        if self.last_publish.elapsed() >= self.interval {
            self.publish(reg, false);
        } else if !self.served {
            // Right away, so /metrics, /health and the status file answer
            // from the start instead of after the first interval.
            self.serve(reg, false);
        }
    }

    /// Publishes the final numbers at the end of a run.
    pub fn finish(&mut self, reg: &mut Registry) {
        self.publish(reg, true);
    }

    /// Takes a snapshot, judges health from it and hands it to the
    /// Prometheus listener and the status file.
    fn serve(&mut self, reg: &mut Registry, done: bool) -> Snapshot {
        reg.refresh_histograms(Duration::from_millis(if done { 100 } else { 10 }));
        let mut snap = Snapshot::take(reg, self.started, done);
        snap.health = Some(self.health.update(&snap));
        if let Ok(mut l) = self.latest.lock() {
            *l = Some(snap.clone());
        }
        self.served = true;
        snap
    }

    /// Serves a snapshot, prints it in the configured form and logs the
    /// losses of the interval.
    fn publish(&mut self, reg: &mut Registry, done: bool) {
        let snap = self.serve(reg, done);
        let totals = reg.totals();
        let now = Instant::now();
        let zero = Totals {
            counters: [0; Counter::COUNT],
            gauges: [0; Gauge::COUNT],
            per_shard_packets: Vec::new(),
        };
        let (before, secs) = match &self.last_totals {
            Some((t, at)) => (t, now.duration_since(*at).as_secs_f64()),
            None => (&zero, now.duration_since(self.started).as_secs_f64()),
        };
        match &self.output {
            MetricsOutput::Console => {
                report::log_metrics(&totals, before, secs, reg, self.log_format)
            }
            // Asked for explicitly, so printed whatever VERBOSE says; one
            // JSON object per line whatever LOG_FORMAT says.
            MetricsOutput::Json => eprintln!("{}", snap.to_json()),
            MetricsOutput::None | MetricsOutput::Prometheus(_) => {}
        }
        report::log_drops(&totals, before);
        self.last_totals = Some((totals, now));
        self.last_publish = now;
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Current and peak resident set size, from /proc/self/status.
pub fn process_rss() -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
