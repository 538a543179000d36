//! The Kafka output as a shard's `RecordSink`: key, size limit, polling
//! cadence and the bounded flush at shutdown.

use std::time::{Duration, Instant};

use super::fit::{fit, Fit};
use super::producer::{KafkaOutput, Sent};
use super::reminder::{Reminders, ShardView};
use super::settings;
use crate::config::{Config, ConfigError};
use crate::output::RecordSink;
use crate::record::RecordView;
use crate::stats::{Counter, Gauge, ShardStats};
use std::sync::Arc;

/// Delivery reports are served every this many records (and on every
/// tick), so the report queue stays short without a poll per record.
const POLL_EVERY: u32 = 32;

pub struct KafkaSink {
    out: KafkaOutput,
    shard: usize,
    max_message: usize,
    close_bound: Duration,
    stats: Arc<ShardStats>,
    scratch: Vec<u8>,
    since_poll: u32,
    closed: bool,
    /// File input waits this long for room in a full queue; live input
    /// never waits.
    full_queue_wait: Option<Duration>,
    /// Shared by the shards' Kafka sinks: one reminder line per interval
    /// while the brokers stay away.
    reminders: Arc<Reminders>,
}

/// How long file input waits for the broker to make room before a record
/// is dropped (and counted): long enough for a slow broker, short enough
/// that a dead one cannot hang the run.
const FILE_INPUT_FULL_QUEUE_WAIT: Duration = Duration::from_secs(30);

impl KafkaSink {
    pub fn new(
        cfg: &Config,
        shard: usize,
        stats: Arc<ShardStats>,
        reminders: Arc<Reminders>,
    ) -> Result<KafkaSink, ConfigError> {
        let out = KafkaOutput::new(cfg, shard, stats.clone())?;
        Ok(KafkaSink {
            out,
            shard,
            max_message: cfg.output_kafka_max_message_bytes as usize,
            close_bound: cfg.output_kafka_shutdown_timeout,
            stats,
            scratch: Vec::new(),
            since_poll: 0,
            closed: false,
            full_queue_wait: (cfg.input_raw_engine == crate::config::Engine::PcapFile)
                .then_some(FILE_INPUT_FULL_QUEUE_WAIT),
            reminders,
        })
    }

    fn send(&mut self, key: &[u8], payload: &[u8], timestamp_ms: Option<i64>) {
        if let Sent::DroppedQueueFull =
            self.out
                .send(key, payload, timestamp_ms, self.full_queue_wait)
        {
            // Counted by the producer; the log line comes from the
            // periodic metrics (drop_kafka_queue), not once per record.
        }
    }
}

impl RecordSink for KafkaSink {
    fn write(&mut self, view: &RecordView<'_>, line: &[u8]) {
        let key = view.key();
        let payload = line.strip_suffix(b"\n").unwrap_or(line);
        // The message's time is the transaction's capture time (the
        // request's first byte, else the response's), not the send time.
        let timestamp_ms = match view.txn.start_ns() {
            0 => None,
            ns => Some((ns / 1_000_000) as i64),
        };
        let limit = self
            .max_message
            .saturating_sub(key.as_bytes().len() + settings::RECORD_OVERHEAD);
        if payload.len() <= limit {
            self.send(key.as_bytes(), payload, timestamp_ms);
        } else {
            let mut buf = std::mem::take(&mut self.scratch);
            let result = fit(
                limit,
                view.body_lens(),
                payload.len(),
                &mut buf,
                |caps, out| {
                    view.write_capped(out, caps);
                },
            );
            self.stats.inc(Counter::KafkaTrimmed);
            if result == Fit::Impossible {
                tracing::warn!(
                    shard = self.shard,
                    "kafka: record {} exceeds OUTPUT_KAFKA_MAX_MESSAGE_BYTES even without bodies",
                    view.id()
                );
            }
            self.send(key.as_bytes(), &buf, timestamp_ms);
            buf.clear();
            self.scratch = buf;
        }
        self.since_poll += 1;
        if self.since_poll >= POLL_EVERY {
            self.since_poll = 0;
            self.out.poll();
        }
    }

    fn tick(&mut self) {
        self.out.poll();
        let waiting = self.out.queue_depth();
        self.stats.set_gauge(Gauge::KafkaQueueDepth, waiting);
        let view = ShardView {
            link: self.out.link_state(),
            waiting,
            failed: self.stats.get(Counter::KafkaFailed),
            dropped: self.stats.get(Counter::KafkaQueueFull),
        };
        if let Some(line) = self.reminders.report(self.shard, view, Instant::now()) {
            tracing::warn!("{line}");
        }
    }

    fn flush(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let left = self.out.close(self.close_bound);
        self.stats.set_gauge(Gauge::KafkaQueueDepth, 0);
        if left > 0 {
            tracing::warn!(
                shard = self.shard,
                "kafka: {left} records not delivered within OUTPUT_KAFKA_SHUTDOWN_TIMEOUT ({})",
                humantime::format_duration(self.close_bound)
            );
        }
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        self.flush();
    }
}
