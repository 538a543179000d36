//! Kafka output: one librdkafka producer per shard.
//!
//! Each shard owns a `KafkaOutput` and drives it from its own loop: `send`
//! never blocks (a full queue drops the newest record and counts it), and
//! `poll` serves delivery reports without waiting. Nothing here is shared
//! with other shards except the relaxed counters the metrics thread reads.

mod health;
pub mod settings;
pub mod stats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};

use crate::config::Config;

use health::{Health, Notice};
pub use stats::{FailClass, KafkaCounts, KafkaStats};

/// What happened to one record handed to `send`.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The producer queue (OUTPUT_KAFKA_CHANNEL_BUF) was full: dropped, counted.
    DroppedQueueFull,
    /// Refused at enqueue for another reason (counted, logged at debug).
    Refused(RDKafkaErrorCode),
}

/// Outcome of the bounded flush at shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed {
    pub counts: KafkaCounts,
    /// Records that were still queued or in flight when the bound passed.
    pub undelivered: u64,
}

/// Callbacks from librdkafka. Delivery reports and client errors arrive on
/// the thread that calls `poll` (the shard); log lines may arrive on
/// librdkafka's own threads, which is why the state sits behind a mutex.
struct ShardContext {
    shard: usize,
    stats: Arc<KafkaStats>,
    /// Fast path: delivered records skip the mutex unless we are impaired.
    impaired: AtomicBool,
    health: Mutex<Health>,
    /// For the refusal message: which identity was refused.
    identity: String,
}

impl ShardContext {
    fn note(&self, class: FailClass, reason: &str) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if class == FailClass::Auth {
            KafkaStats::bump(&self.stats.auth_errors);
        }
        let notice = h.on_error(class, reason, Instant::now());
        self.impaired.store(h.is_impaired(), Ordering::Relaxed);
        drop(h);
        match notice {
            Some(Notice::Unreachable { reason }) => {
                KafkaStats::bump(&self.stats.outages);
                tracing::warn!(
                    shard = self.shard,
                    "kafka: brokers unreachable, records wait in the queue until they return: {reason}"
                );
            }
            Some(Notice::Refused { reason }) => tracing::error!(
                shard = self.shard,
                "kafka: broker refused {}: {reason}; records wait in the queue and fail after message.timeout.ms",
                self.identity
            ),
            Some(Notice::Recovered { .. }) | None => {
                tracing::debug!(shard = self.shard, "kafka: {reason}")
            }
        }
    }

    fn delivered(&self) {
        KafkaStats::bump(&self.stats.delivered);
        if !self.impaired.load(Ordering::Relaxed) {
            return;
        }
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let notice = h.on_delivered(Instant::now());
        self.impaired.store(false, Ordering::Relaxed);
        drop(h);
        if let Some(Notice::Recovered { after, errors }) = notice {
            tracing::warn!(
                shard = self.shard,
                "kafka: deliveries resumed after {} ({errors} connection errors folded)",
                humantime::format_duration(Duration::from_millis(after.as_millis() as u64))
            );
        }
    }
}

impl ClientContext for ShardContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        // Outages and refusals are summarised by `note`; librdkafka's own
        // lines are detail for VERBOSE >= 3.
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(shard = self.shard, "librdkafka {fac}: {line}")
            }
            _ => tracing::debug!(shard = self.shard, "librdkafka {fac}: {line}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        let class = match FailClass::of(code) {
            // A client error of any connection kind means unreachable.
            FailClass::Timeout | FailClass::Transport | FailClass::Other => FailClass::Transport,
            other => other,
        };
        if code == RDKafkaErrorCode::Fatal {
            tracing::error!(shard = self.shard, "kafka: fatal producer error: {reason}");
        }
        self.note(class, reason);
    }
}

impl ProducerContext for ShardContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered(),
            Err((err, _)) => {
                let code = err.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
                let class = FailClass::of(code);
                self.stats.fail(class);
                tracing::debug!(shard = self.shard, "kafka: delivery failed: {err}");
            }
        }
    }
}

pub struct KafkaOutput {
    producer: BaseProducer<ShardContext>,
    topic: String,
    stats: Arc<KafkaStats>,
}

impl KafkaOutput {
    /// Builds shard `shard`'s producer. Does not contact the brokers: an
    /// unreachable cluster at startup is an outage, not an error.
    pub fn new(cfg: &Config, shard: usize, stats: Arc<KafkaStats>) -> Result<Self, KafkaError> {
        let mut cc = ClientConfig::new();
        for (k, v) in settings::producer_properties(cfg, shard) {
            cc.set(k, v);
        }
        cc.set_log_level(log_level(cfg.verbose));
        let identity = if cfg.output_kafka_use_sasl {
            format!(
                "user '{}' ({})",
                cfg.output_kafka_username,
                cfg.sasl_mechanism().unwrap_or("PLAIN")
            )
        } else {
            "this client".into()
        };
        let ctx = ShardContext {
            shard,
            stats: stats.clone(),
            impaired: AtomicBool::new(false),
            health: Mutex::new(Health::default()),
            identity,
        };
        let producer = cc.create_with_context(ctx)?;
        Ok(KafkaOutput {
            producer,
            topic: cfg.output_kafka_topic.clone(),
            stats,
        })
    }

    /// Enqueues one record. Never blocks; never retries into a full queue.
    pub fn send(&mut self, key: &[u8], payload: &[u8]) -> Sent {
        let rec = BaseRecord::to(&self.topic).key(key).payload(payload);
        match self.producer.send(rec) {
            Ok(()) => {
                KafkaStats::bump(&self.stats.queued);
                Sent::Queued
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                KafkaStats::bump(&self.stats.dropped_queue_full);
                Sent::DroppedQueueFull
            }
            Err((e, _)) => {
                KafkaStats::bump(&self.stats.dropped_other);
                let code = e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
                tracing::debug!("kafka: record refused at enqueue: {e}");
                Sent::Refused(code)
            }
        }
    }

    /// Serves pending delivery reports and client errors; returns at once.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Records queued or in flight in this producer.
    pub fn queue_depth(&self) -> u64 {
        self.producer.in_flight_count().max(0) as u64
    }

    pub fn stats(&self) -> &Arc<KafkaStats> {
        &self.stats
    }

    /// Flushes for at most `bound`, then purges what is left so its delivery
    /// reports are counted (class `purged`), and reports the remainder.
    pub fn close(self, bound: Duration) -> Closed {
        let _ = self.producer.flush(bound);
        let left = self.queue_depth();
        if left > 0 {
            self.producer
                .purge(PurgeConfig::default().queue().inflight().non_blocking());
            // Purged records report through the queue: drain it briefly.
            let _ = self.producer.flush(Duration::from_millis(500));
            self.poll();
        }
        self.stats
            .undelivered_at_shutdown
            .fetch_add(left, Ordering::Relaxed);
        Closed {
            counts: self.stats.snapshot(),
            undelivered: left,
        }
    }
}

fn log_level(verbose: u8) -> RDKafkaLogLevel {
    match verbose {
        0 => RDKafkaLogLevel::Error,
        1 | 2 => RDKafkaLogLevel::Warning,
        3 | 4 => RDKafkaLogLevel::Info,
        _ => RDKafkaLogLevel::Debug,
    }
}
