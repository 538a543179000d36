//! Human-readable forms of the merged statistics: the periodic console line
//! and the end-of-run summary.

use std::fmt::Write;

use super::{Counter, Gauge, Registry, Totals};

/// Rates over one interval, from two snapshots.
pub fn console_line(now: &Totals, before: &Totals, secs: f64, reg: &Registry) -> String {
    let rate = |c: Counter| (now.get(c) - before.get(c).min(now.get(c))) as f64 / secs.max(1e-9);
    let mut s = String::new();
    let _ = write!(
        s,
        "pkts/s={:.0} Mbit/s={:.1} kernel_drops={} streams={} tx/s={:.0} records={} kafka_queue={} kafka_failed={}",
        rate(Counter::Packets),
        rate(Counter::Bytes) * 8.0 / 1e6,
        now.get(Counter::KernelDrops),
        now.gauge(Gauge::ActiveStreams),
        rate(Counter::Transactions),
        now.get(Counter::RecordsOut),
        now.gauge(Gauge::KafkaQueueDepth),
        now.get(Counter::KafkaFailed),
    );
    let _ = write!(
        s,
        " latency_us p50={} p99={} p999={}",
        reg.latency_us.value_at_quantile(0.5),
        reg.latency_us.value_at_quantile(0.99),
        reg.latency_us.value_at_quantile(0.999),
    );
    // Every drop cause, so nothing is lost silently.
    for c in Counter::ALL.iter().filter(|c| is_drop(**c)) {
        let v = now.get(*c);
        if v > 0 {
            let _ = write!(s, " {}={}", c.name(), v);
        }
    }
    s
}

/// Every counter and gauge as `name=value`, in catalogue order: the tail of
/// the console line, so nothing needs the summary to be seen.
pub fn counters_line(t: &Totals) -> String {
    let mut s = String::new();
    for c in Counter::ALL {
        let _ = write!(s, "{}={} ", c.name(), t.get(*c));
    }
    for g in Gauge::ALL {
        let _ = write!(s, "{}={} ", g.name(), t.gauge(*g));
    }
    s.pop();
    s
}

/// Counters that measure something lost or rejected.
pub fn is_drop(c: Counter) -> bool {
    let n = c.name();
    n.starts_with("drop_")
        || n.starts_with("decode_")
        || n.starts_with("filter_")
        || matches!(
            c,
            Counter::KernelDrops
                | Counter::SteerQueueFull
                | Counter::TcpGaps
                | Counter::HttpParseErrors
                | Counter::HttpHeaderTooLarge
                | Counter::OutputErrors
                | Counter::KafkaFailed
                | Counter::KafkaUndelivered
                | Counter::StreamsEvicted
        )
}

/// The end-of-run summary: every counter, grouped, plus histogram quantiles.
pub fn summary(t: &Totals, reg: &Registry) -> String {
    let mut s = String::from("httpcap summary\n");
    let _ = writeln!(
        s,
        "  packets={} bytes={} streams={} transactions={} records={}",
        t.get(Counter::Packets),
        t.get(Counter::Bytes),
        t.get(Counter::StreamsOpened),
        t.get(Counter::Transactions),
        t.get(Counter::RecordsOut),
    );
    let _ = writeln!(s, "  per_shard_packets={:?}", t.per_shard_packets);
    for c in Counter::ALL {
        let _ = writeln!(s, "  {}={}", c.name(), t.get(*c));
    }
    for g in Gauge::ALL {
        let _ = writeln!(s, "  {}={}", g.name(), t.gauge(*g));
    }
    let _ = writeln!(
        s,
        "  latency_us p50={} p99={} p999={} max={}",
        reg.latency_us.value_at_quantile(0.5),
        reg.latency_us.value_at_quantile(0.99),
        reg.latency_us.value_at_quantile(0.999),
        reg.latency_us.max(),
    );
    let _ = writeln!(
        s,
        "  duration_us p50={} p99={} max={}",
        reg.duration_us.value_at_quantile(0.5),
        reg.duration_us.value_at_quantile(0.99),
        reg.duration_us.max(),
    );
    s
}
