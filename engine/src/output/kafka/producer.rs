//! One shard's librdkafka producer and its callbacks.
//!
//! `send` never blocks live capture (a full queue drops the newest record
//! and counts it; file input waits for the broker, within a bound)
//! and `poll` serves delivery reports without waiting; both are called from
//! the owning shard's thread only.

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
use crate::stats::{Counter, ShardStats};

use super::health::{Health, Notice};
use super::settings;
use super::stats::FailClass;

/// What happened to one record handed to `send`.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The producer queue (OUTPUT_KAFKA_CHANNEL_BUF) was full: dropped, counted.
    DroppedQueueFull,
    /// Refused at enqueue for another reason (counted, logged at debug).
    Refused(RDKafkaErrorCode),
}

/// Callbacks from librdkafka. Delivery reports and client errors arrive on
/// the thread that calls `poll` (the shard); log lines may arrive on
/// librdkafka's own threads, which is why the state sits behind a mutex.
struct ShardContext {
    shard: usize,
    stats: Arc<ShardStats>,
    /// Fast path: delivered records skip the mutex unless we are impaired.
    impaired: AtomicBool,
    /// The brokers refuse our credentials: records that time out meanwhile
    /// failed for that reason, and are counted as such.
    refused: AtomicBool,
    health: Mutex<Health>,
    /// For the refusal message: which identity was refused.
    identity: String,
}

impl ShardContext {
    fn note(&self, class: FailClass, reason: &str) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if class == FailClass::Auth {
            self.stats.add_shared(Counter::KafkaAuthErrors, 1);
        }
        let notice = h.on_error(class, reason, Instant::now());
        self.impaired.store(h.is_impaired(), Ordering::Relaxed);
        self.refused.store(h.is_refused(), Ordering::Relaxed);
        drop(h);
        match notice {
            Some(Notice::Unreachable { reason }) => {
                self.stats.add_shared(Counter::KafkaOutages, 1);
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
        self.stats.add_shared(Counter::KafkaDelivered, 1);
        if !self.impaired.load(Ordering::Relaxed) {
            return;
        }
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let notice = h.on_delivered(Instant::now());
        self.impaired.store(false, Ordering::Relaxed);
        self.refused.store(false, Ordering::Relaxed);
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
                let class = match FailClass::of(code) {
                    FailClass::Timeout if self.refused.load(Ordering::Relaxed) => FailClass::Auth,
                    c => c,
                };
                self.stats.add_shared(Counter::KafkaFailed, 1);
                self.stats.add_shared(class.counter(), 1);
                tracing::debug!(shard = self.shard, "kafka: delivery failed: {err}");
            }
        }
    }
}

pub struct KafkaOutput {
    producer: BaseProducer<ShardContext>,
    topic: String,
    stats: Arc<ShardStats>,
    /// A wait for room timed out: drop at once until the queue takes a
    /// record again, so a stalled broker cannot slow every record.
    stalled: bool,
}

impl KafkaOutput {
    /// Builds shard `shard`'s producer. Does not contact the brokers: an
    /// unreachable cluster at startup is an outage, not an error.
    pub fn new(cfg: &Config, shard: usize, stats: Arc<ShardStats>) -> Result<Self, KafkaError> {
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
            refused: AtomicBool::new(false),
            health: Mutex::new(Health::default()),
            identity,
        };
        let producer = cc.create_with_context(ctx)?;
        Ok(KafkaOutput {
            producer,
            topic: cfg.output_kafka_topic.clone(),
            stats,
            stalled: false,
        })
    }

    /// Enqueues one record. With `wait` None it never blocks: a full queue
    /// drops the record (live capture must not stall). With `wait` it serves
    /// delivery reports and retries for up to that long first (file input,
    /// which has no wire to fall behind, waits for the broker instead of
    /// losing records); only then is the record dropped. Drops are counted.
    pub fn send(&mut self, key: &[u8], payload: &[u8], wait: Option<Duration>) -> Sent {
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            match self.try_send(key, payload) {
                Sent::DroppedQueueFull => {
                    // Waiting makes sense only while the brokers answer.
                    let answering = !self.producer.context().impaired.load(Ordering::Relaxed);
                    match deadline {
                        Some(d) if Instant::now() < d && answering && !self.stalled => {
                            self.producer.poll(Duration::from_millis(20));
                        }
                        _ => {
                            self.stalled |= deadline.is_some();
                            self.stats.add_shared(Counter::KafkaQueueFull, 1);
                            return Sent::DroppedQueueFull;
                        }
                    }
                }
                Sent::Queued => {
                    self.stalled = false;
                    return Sent::Queued;
                }
                other => return other,
            }
        }
    }

    fn try_send(&mut self, key: &[u8], payload: &[u8]) -> Sent {
        let rec = BaseRecord::to(&self.topic).key(key).payload(payload);
        match self.producer.send(rec) {
            Ok(()) => {
                self.stats.add_shared(Counter::KafkaEnqueued, 1);
                Sent::Queued
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Sent::DroppedQueueFull
            }
            Err((e, _)) => {
                self.stats.add_shared(Counter::KafkaRefused, 1);
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

    pub fn stats(&self) -> &Arc<ShardStats> {
        &self.stats
    }

    /// Flushes for at most `bound`, then purges what is left so that its
    /// delivery reports are counted (class `purged`). Returns the number of
    /// records that were not delivered in time (also counted). Idempotent:
    /// a second call finds an empty queue.
    pub fn close(&mut self, bound: Duration) -> u64 {
        let _ = self.producer.flush(bound);
        let left = self.queue_depth();
        if left > 0 {
            self.producer
                .purge(PurgeConfig::default().queue().inflight().non_blocking());
            // Purged records report through the event queue: drain it.
            let _ = self.producer.flush(Duration::from_millis(500));
            self.poll();
            self.stats.add_shared(Counter::KafkaUndelivered, left);
        }
        left
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
