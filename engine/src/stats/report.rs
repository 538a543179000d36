//! Human-readable forms of the merged statistics: the periodic console
//! line, the per-interval loss events and the end-of-run summary (as text,
//! or as one JSON object with LOG_FORMAT=json).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::{Counter, Gauge, Kind, Quantiles, Registry, Totals};
use crate::config::LogFormat;

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
    s
}

/// The periodic metrics event (INFO, target `metrics`). As text, the
/// console line then ` | ` and the counters; as JSON, the same numbers as
/// fields, so a log shipper needs no parsing.
pub fn log_metrics(now: &Totals, before: &Totals, secs: f64, reg: &Registry, format: LogFormat) {
    let all = counters_line(now);
    match format {
        LogFormat::Text => {
            let line = console_line(now, before, secs, reg);
            tracing::info!(target: "metrics", "{line} | {all}");
        }
        LogFormat::Json => {
            let rate =
                |c: Counter| now.get(c).saturating_sub(before.get(c)) as f64 / secs.max(1e-9);
            tracing::info!(
                target: "metrics",
                packets_per_s = rate(Counter::Packets).round(),
                mbit_per_s = rate(Counter::Bytes) * 8.0 / 1e6,
                transactions_per_s = rate(Counter::Transactions).round(),
                kernel_drops = now.get(Counter::KernelDrops),
                active_streams = now.gauge(Gauge::ActiveStreams),
                records = now.get(Counter::RecordsOut),
                kafka_queue = now.gauge(Gauge::KafkaQueueDepth),
                kafka_failed = now.get(Counter::KafkaFailed),
                latency_us_p50 = reg.latency_us.value_at_quantile(0.5),
                latency_us_p99 = reg.latency_us.value_at_quantile(0.99),
                latency_us_p999 = reg.latency_us.value_at_quantile(0.999),
                counters = %all,
                "metrics"
            );
        }
    }
}

/// Every non-zero counter and every gauge as `name=value`, in catalogue
/// order: the tail of the console line, so nothing needs the summary to be
/// seen (a counter not listed is zero).
pub fn counters_line(t: &Totals) -> String {
    let mut s = String::new();
    for c in Counter::ALL.iter().filter(|c| t.get(**c) > 0) {
        let _ = write!(s, "{}={} ", c.name(), t.get(*c));
    }
    for g in Gauge::ALL {
        let _ = write!(s, "{}={} ", g.name(), t.gauge(*g));
    }
    s.pop();
    s
}

/// Logs each loss and each intentional drop that grew since `before`, once,
/// with the count since then: losses at WARN (an operator should look),
/// intentional drops at DEBUG (the operator asked for them). The stats
/// thread calls this once per interval, so shards pay nothing and a flood
/// of drops is one line per cause per interval.
pub fn log_drops(now: &Totals, before: &Totals) {
    for c in Counter::ALL.iter().filter(|c| c.is_drop()) {
        let count = now.get(*c).saturating_sub(before.get(*c));
        if count == 0 {
            continue;
        }
        let total = now.get(*c);
        let reason = c.name();
        match c.kind() {
            Kind::Loss => tracing::warn!(
                target: "loss",
                reason,
                count,
                total,
                intentional = false,
                "{}",
                c.help()
            ),
            _ => tracing::debug!(
                target: "loss",
                reason,
                count,
                total,
                intentional = true,
                "{}",
                c.help()
            ),
        }
    }
}

/// Losses of records already made: the output could not take or deliver
/// them. The headline calls these "undelivered", apart from the losses
/// before a record exists ("dropped").
fn is_undelivered(c: Counter) -> bool {
    matches!(
        c,
        Counter::OutputErrors
            | Counter::KafkaQueueFull
            | Counter::KafkaRefused
            | Counter::KafkaFailed
    )
}

/// Which summary section a counter belongs to; each counter is in one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Filtered,
    Dropped,
    Undelivered,
    Counters,
}

fn section(c: Counter) -> Section {
    match c.kind() {
        Kind::Intentional => Section::Filtered,
        Kind::Loss if is_undelivered(c) => Section::Undelivered,
        Kind::Loss => Section::Dropped,
        Kind::Activity => Section::Counters,
    }
}

/// The end-of-run summary: a headline (records written, filtered, dropped
/// by cause, undelivered), then every non-zero counter once, the gauges
/// and the histograms' quantiles once. Text ends with a newline; the JSON
/// form is one object on one line.
pub fn summary(t: &Totals, reg: &Registry, format: LogFormat) -> String {
    // In catalogue order, which groups related counters.
    let nonzero = |sec: Section| -> Vec<(&'static str, u64)> {
        Counter::ALL
            .iter()
            .filter(|c| section(**c) == sec && t.get(**c) > 0)
            .map(|c| (c.name(), t.get(*c)))
            .collect()
    };
    let filtered = nonzero(Section::Filtered);
    let dropped = nonzero(Section::Dropped);
    let undelivered = nonzero(Section::Undelivered);
    let counters = nonzero(Section::Counters);
    let sum = |m: &[(&str, u64)]| m.iter().map(|(_, v)| v).sum::<u64>();
    let map = |m: &[(&'static str, u64)]| m.iter().copied().collect::<BTreeMap<_, _>>();
    let latency = Quantiles::of(&reg.latency_us);
    let duration = Quantiles::of(&reg.duration_us);
    // Handed to the JSON-lines writer, less those it could not write.
    let json_lines = t
        .get(Counter::RecordsOut)
        .saturating_sub(t.get(Counter::OutputErrors));
    // Kafka's deliveries, when records went that way.
    let kafka = (t.get(Counter::KafkaEnqueued)
        + t.get(Counter::KafkaQueueFull)
        + t.get(Counter::KafkaRefused)
        > 0)
    .then(|| t.get(Counter::KafkaDelivered));
    match format {
        LogFormat::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                timestamp: String,
                level: &'static str,
                target: &'static str,
                message: String,
                records_written_json_lines: u64,
                records_delivered_kafka: Option<u64>,
                filtered_total: u64,
                dropped_total: u64,
                undelivered_total: u64,
                filtered: BTreeMap<&'static str, u64>,
                dropped: BTreeMap<&'static str, u64>,
                undelivered: BTreeMap<&'static str, u64>,
                counters: BTreeMap<&'static str, u64>,
                gauges: BTreeMap<&'static str, u64>,
                per_shard_packets: &'a [u64],
                latency_us: &'a Quantiles,
                duration_us: &'a Quantiles,
            }
            let out = Out {
                timestamp: crate::logging::timestamp(),
                level: "INFO",
                target: "summary",
                message: headline(json_lines, kafka, &filtered, &dropped, &undelivered),
                records_written_json_lines: json_lines,
                records_delivered_kafka: kafka,
                filtered_total: sum(&filtered),
                dropped_total: sum(&dropped),
                undelivered_total: sum(&undelivered),
                filtered: map(&filtered),
                dropped: map(&dropped),
                undelivered: map(&undelivered),
                counters: map(&counters),
                gauges: Gauge::ALL.iter().map(|g| (g.name(), t.gauge(*g))).collect(),
                per_shard_packets: &t.per_shard_packets,
                latency_us: &latency,
                duration_us: &duration,
            };
            simd_json::to_string(&out).unwrap_or_default() + "\n"
        }
        LogFormat::Text => {
            let mut s = headline(json_lines, kafka, &filtered, &dropped, &undelivered);
            s.push('\n');
            for (title, m) in [
                ("filtered, by cause:", &filtered),
                ("dropped, by cause:", &dropped),
                ("undelivered, by cause:", &undelivered),
                ("counters (zero ones omitted):", &counters),
            ] {
                if m.is_empty() {
                    continue;
                }
                let _ = writeln!(s, "{title}");
                for (name, v) in m.iter() {
                    let _ = writeln!(s, "  {name}={v}");
                }
            }
            let _ = writeln!(s, "gauges:");
            for g in Gauge::ALL {
                let _ = writeln!(s, "  {}={}", g.name(), t.gauge(*g));
            }
            let _ = writeln!(s, "  per_shard_packets={:?}", t.per_shard_packets);
            for (name, q) in [("latency_us", &latency), ("duration_us", &duration)] {
                let _ = writeln!(
                    s,
                    "{name}: count {} p50 {} p99 {} p999 {} max {}",
                    q.count, q.p50, q.p99, q.p999, q.max
                );
            }
            s
        }
    }
}

/// `httpcap summary: 7 records written (json lines), 3 filtered, 1 dropped,
/// 0 undelivered`, with `N records delivered to Kafka` when Kafka was used
/// (and the JSON-lines count only when it wrote any or Kafka was not used).
fn headline(
    json_lines: u64,
    kafka: Option<u64>,
    filtered: &[(&str, u64)],
    dropped: &[(&str, u64)],
    undelivered: &[(&str, u64)],
) -> String {
    let sum = |m: &[(&str, u64)]| m.iter().map(|(_, v)| v).sum::<u64>();
    let mut written = Vec::new();
    if json_lines > 0 || kafka.is_none() {
        written.push(format!("{json_lines} records written (json lines)"));
    }
    if let Some(kafka) = kafka {
        written.push(format!("{kafka} records delivered to Kafka"));
    }
    let mut s = format!("httpcap summary: {}", written.join(", "));
    let _ = write!(
        s,
        ", {} filtered, {} dropped, {} undelivered",
        sum(filtered),
        sum(dropped),
        sum(undelivered)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_in_exactly_one_section_and_drops_are_not_activity() {
        for c in Counter::ALL {
            let s = section(*c);
            assert_eq!(s == Section::Counters, !c.is_drop(), "{}", c.name());
        }
        assert_eq!(Counter::ConnectionPanics.kind(), Kind::Loss);
        assert_eq!(Counter::FilterExt.kind(), Kind::Intentional);
        assert_eq!(Counter::BpfFiltered.kind(), Kind::Intentional);
        // Breakdowns of another counter are activity, so sums stay honest.
        assert_eq!(Counter::XdpRxRingFull.kind(), Kind::Activity);
        assert_eq!(Counter::KafkaFailedPurged.kind(), Kind::Activity);
    }

    #[test]
    fn breakdowns_by_cause_are_activity_in_a_listed_family() {
        use crate::stats::CAUSE_FAMILIES;
        for c in Counter::ALL {
            if let Some((family, _)) = c.cause() {
                assert_eq!(c.kind(), Kind::Activity, "{}", c.name());
                assert!(CAUSE_FAMILIES.iter().any(|(f, _)| *f == family));
            }
        }
        for (family, _) in CAUSE_FAMILIES {
            assert!(Counter::ALL
                .iter()
                .any(|c| c.cause().is_some_and(|(f, _)| f == *family)));
        }
    }

    /// Collects what `log_drops` writes at `level` as text lines.
    fn drop_lines(now: &Totals, before: &Totals, level: tracing::Level) -> Vec<String> {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(sub, || log_drops(now, before));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    fn totals(values: &[(Counter, u64)]) -> Totals {
        let mut t = Totals {
            counters: [0; Counter::COUNT],
            gauges: [0; crate::stats::Gauge::COUNT],
            per_shard_packets: Vec::new(),
        };
        for (c, v) in values {
            t.counters[*c as usize] = *v;
        }
        t
    }

    #[test]
    fn each_grown_loss_is_one_warning_with_the_count_since_last_time() {
        let before = totals(&[(Counter::KernelDrops, 10), (Counter::TcpGaps, 3)]);
        let now = totals(&[
            (Counter::KernelDrops, 25),
            (Counter::TcpGaps, 3),
            (Counter::FilterExt, 7),
            (Counter::Packets, 1000),
        ]);
        let lines = drop_lines(&now, &before, tracing::Level::INFO);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(" WARN loss: "), "{}", lines[0]);
        assert!(lines[0].contains("reason=\"kernel_drops\" count=15 total=25 intentional=false"));
        // The filter is there at DEBUG only, never as a warning.
        let lines = drop_lines(&now, &before, tracing::Level::DEBUG);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[1].contains(" DEBUG loss: ")
                && lines[1].contains("reason=\"filter_ext\" count=7")
        );
        // Nothing grew: nothing logged.
        assert!(drop_lines(&now, &now, tracing::Level::TRACE).is_empty());
    }

    #[test]
    fn headline_names_the_outputs_used() {
        let filtered = [("filter_ext", 2)];
        let dropped = [("tcp_gaps", 1), ("kernel_drops", 4)];
        let undelivered = [("kafka_failed", 3)];
        assert_eq!(
            headline(7, None, &filtered, &dropped, &[]),
            "httpcap summary: 7 records written (json lines), 2 filtered, 5 dropped, 0 undelivered"
        );
        assert_eq!(
            headline(0, Some(6), &filtered, &[], &undelivered),
            "httpcap summary: 6 records delivered to Kafka, 2 filtered, 0 dropped, 3 undelivered"
        );
        assert_eq!(
            headline(9, Some(9), &[], &[], &[]),
            "httpcap summary: 9 records written (json lines), 9 records delivered to Kafka, 0 filtered, 0 dropped, 0 undelivered"
        );
    }
}
