//! One shard's librdkafka producer and its callbacks.
//!
//! `send` never blocks live capture (a full queue drops the newest record
//! and counts it; file input waits for the broker, within a bound)
//! and `poll` serves delivery reports without waiting; both are called from
//! the owning shard's thread only.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};

use crate::config::{Config, ConfigError};
use crate::stats::{Counter, ShardStats};

use super::health::{Health, Notice};
use super::stats::FailClass;
use super::{options, settings};

/// What happened to one record handed to `send`.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The producer queue (OUTPUT_KAFKA_CHANNEL_BUF) was full: dropped, counted.
    DroppedQueueFull,
    /// Refused at enqueue for another reason (counted, logged at debug).
    Refused(RDKafkaErrorCode),
}

/// What became of the records this producer accepted, counted per record
/// by this producer itself. librdkafka's own queue length
/// (`rd_kafka_outq_len`) also counts events not yet served, such as
/// delivery reports waiting for a poll, so it over-reports (13 or 14 for
/// 10 records was seen). Invariant: enqueued = delivered + failed +
/// purged + in flight. Written on the shard's thread only (sends, and the
/// delivery callbacks that `poll` runs); atomics because the context must
/// be Sync.
#[derive(Default)]
struct Tally {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    /// Removed unacknowledged at shutdown: `kafka_undelivered_at_exit`.
    purged: AtomicU64,
}

impl Tally {
    fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn in_flight(&self) -> u64 {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        get(&self.enqueued)
            .saturating_sub(get(&self.delivered) + get(&self.failed) + get(&self.purged))
    }
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
    tally: Tally,
    /// How long a record may wait before it fails (message.timeout.ms),
    /// for the outage lines.
    wait_limit: String,
    /// Set once `close` has accounted for every record: a report arriving
    /// after that (none should) must not count a record twice.
    settled: AtomicBool,
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
                    "kafka: brokers unreachable, records wait in the queue until they return (each at most {}, message.timeout.ms): {reason}",
                    self.wait_limit
                );
            }
            Some(Notice::Refused { reason }) => tracing::error!(
                shard = self.shard,
                "kafka: broker refused {}: {reason}; records wait in the queue and fail after {} (message.timeout.ms)",
                self.identity,
                self.wait_limit
            ),
            Some(Notice::Recovered { .. }) | None => {
                tracing::debug!(shard = self.shard, "kafka: {reason}")
            }
        }
    }

    fn delivered(&self) {
        Tally::bump(&self.tally.delivered, 1);
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
        if self.settled.load(Ordering::Relaxed) {
            return;
        }
        match result {
            Ok(_) => self.delivered(),
            Err((err, _)) => {
                let code = err.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
                let class = match FailClass::of(code) {
                    FailClass::Timeout if self.refused.load(Ordering::Relaxed) => FailClass::Auth,
                    c => c,
                };
                if class == FailClass::Purged {
                    // Only `close` purges: the record was still waiting
                    // when the shutdown bound passed. It is undelivered,
                    // not failed, so the two never count one record twice.
                    Tally::bump(&self.tally.purged, 1);
                    self.stats.add_shared(Counter::KafkaUndelivered, 1);
                    self.stats.add_shared(Counter::KafkaFailedPurged, 1);
                    return;
                }
                Tally::bump(&self.tally.failed, 1);
                self.stats.add_shared(Counter::KafkaFailed, 1);
                self.stats.add_shared(class.counter(), 1);
                tracing::debug!(shard = self.shard, "kafka: delivery failed: {err}");
            }
        }
    }
}

/// The state of the link to the brokers, as this producer last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Up,
    Unreachable,
    /// The brokers refuse our credentials (or TLS).
    Refused,
}

/// How long `close` serves the delivery reports of purged records.
const PURGE_REPORTS_WAIT: Duration = Duration::from_secs(5);

pub struct KafkaOutput {
    producer: BaseProducer<ShardContext>,
    topic: String,
    /// Routing headers every message carries (copied per message).
    headers: OwnedHeaders,
    stats: Arc<ShardStats>,
    /// A wait for room timed out: drop at once until the queue takes a
    /// record again, so a stalled broker cannot slow every record.
    stalled: bool,
}

impl KafkaOutput {
    /// Builds shard `shard`'s producer. Does not contact the brokers: an
    /// unreachable cluster at startup is an outage, not an error.
    /// OUTPUT_KAFKA_OPTIONS are applied last, so they override ours.
    pub fn new(cfg: &Config, shard: usize, stats: Arc<ShardStats>) -> Result<Self, ConfigError> {
        let mut cc = ClientConfig::new();
        for (k, v) in settings::producer_properties(cfg, shard) {
            cc.set(k, v);
        }
        let passthrough = options::parse(&cfg.output_kafka_options)?;
        for (k, v) in &passthrough {
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
            tally: Tally::default(),
            wait_limit: wait_limit(&passthrough),
            settled: AtomicBool::new(false),
        };
        let producer = cc.create_with_context(ctx).map_err(|e| {
            if passthrough.is_empty() {
                ConfigError::value("OUTPUT_KAFKA_*", "cannot create producer").caused_by(e)
            } else {
                // Conflicts between properties (acks=1 with idempotence)
                // only show when the producer is built.
                ConfigError::value(
                    "OUTPUT_KAFKA_OPTIONS",
                    format!(
                        "cannot create producer with '{}'",
                        options::redacted(&cfg.output_kafka_options)
                    ),
                )
                .caused_by(e)
                .expected("librdkafka producer properties that fit together")
            }
        })?;
        Ok(KafkaOutput {
            producer,
            topic: cfg.output_kafka_topic.clone(),
            headers: routing_headers(&cfg.output_kafka_collection_id),
            stats,
            stalled: false,
        })
    }

    /// Enqueues one record. With `wait` None it never blocks: a full queue
    /// drops the record (live capture must not stall). With `wait` it serves
    /// delivery reports and retries for up to that long first (file input,
    /// which has no wire to fall behind, waits for the broker instead of
    /// losing records); only then is the record dropped. Drops are counted.
    /// `timestamp_ms` is the message's timestamp (ms since the epoch);
    /// None lets librdkafka stamp the send time.
    pub fn send(
        &mut self,
        key: &[u8],
        payload: &[u8],
        timestamp_ms: Option<i64>,
        wait: Option<Duration>,
    ) -> Sent {
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            match self.try_send(key, payload, timestamp_ms) {
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

    fn try_send(&mut self, key: &[u8], payload: &[u8], timestamp_ms: Option<i64>) -> Sent {
        let mut rec = BaseRecord::to(&self.topic)
            .key(key)
            .payload(payload)
            .headers(self.headers.clone());
        if let Some(ts) = timestamp_ms {
            rec = rec.timestamp(ts);
        }
        match self.producer.send(rec) {
            Ok(()) => {
                Tally::bump(&self.tally().enqueued, 1);
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

    /// Records accepted and not yet reported delivered, failed or purged:
    /// waiting in the queue or in a request to a broker. Counted here per
    /// record, not read from librdkafka (see `Tally`).
    pub fn queue_depth(&self) -> u64 {
        self.tally().in_flight()
    }

    fn tally(&self) -> &Tally {
        &self.producer.context().tally
    }

    /// The link to the brokers as the last client error or delivery showed it.
    pub fn link_state(&self) -> LinkState {
        let ctx = self.producer.context();
        if ctx.refused.load(Ordering::Relaxed) {
            LinkState::Refused
        } else if ctx.impaired.load(Ordering::Relaxed) {
            LinkState::Unreachable
        } else {
            LinkState::Up
        }
    }

    pub fn stats(&self) -> &Arc<ShardStats> {
        &self.stats
    }

    /// Flushes for at most `bound`, then purges what is left; each purged
    /// record's report counts it in `kafka_undelivered_at_exit`. Returns
    /// the number of records purged. Afterwards every record this producer
    /// accepted is counted exactly once: delivered, failed or undelivered.
    /// Idempotent: a second call finds nothing in flight.
    pub fn close(&mut self, bound: Duration) -> u64 {
        let purged_before = self.tally().purged.load(Ordering::Relaxed);
        // Serves delivery reports while it waits.
        let _ = self.producer.flush(bound);
        if self.tally().in_flight() > 0 {
            self.producer
                .purge(PurgeConfig::default().queue().inflight().non_blocking());
            // Purged records report through the event queue: serve it
            // until each one has been counted.
            let deadline = Instant::now() + PURGE_REPORTS_WAIT;
            while self.tally().in_flight() > 0 && Instant::now() < deadline {
                self.producer.poll(Duration::from_millis(20));
            }
        }
        // A report that never came (librdkafka promises one per record):
        // count the record as undelivered and ignore any late report.
        let missing = self.tally().in_flight();
        if missing > 0 {
            Tally::bump(&self.tally().purged, missing);
            self.stats.add_shared(Counter::KafkaUndelivered, missing);
            self.stats.add_shared(Counter::KafkaFailedPurged, missing);
        }
        self.producer
            .context()
            .settled
            .store(true, Ordering::Relaxed);
        self.tally().purged.load(Ordering::Relaxed) - purged_before
    }
}

/// librdkafka's message.timeout.ms (alias delivery.timeout.ms): ours
/// leaves its default of 5 minutes; OUTPUT_KAFKA_OPTIONS may set it, 0
/// meaning no limit.
fn wait_limit(passthrough: &[(String, String)]) -> String {
    let ms = passthrough
        .iter()
        .rev()
        .find(|(k, _)| k == "message.timeout.ms" || k == "delivery.timeout.ms")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(300_000);
    if ms == 0 {
        "without limit".into()
    } else {
        humantime::format_duration(Duration::from_millis(ms)).to_string()
    }
}

/// Headers for routing without parsing the JSON. `content-type` is the
/// name the CloudEvents Kafka binding and most Kafka tooling read.
fn routing_headers(collection_id: &str) -> OwnedHeaders {
    let version = crate::record::SCHEMA_VERSION.to_string();
    OwnedHeaders::new_with_capacity(3)
        .insert(Header {
            key: "collection_id",
            value: Some(collection_id),
        })
        .insert(Header {
            key: "schema_version",
            value: Some(version.as_str()),
        })
        .insert(Header {
            key: "content-type",
            value: Some("application/json"),
        })
}

fn log_level(verbose: u8) -> RDKafkaLogLevel {
    match verbose {
        0 => RDKafkaLogLevel::Error,
        1 | 2 => RDKafkaLogLevel::Warning,
        3 | 4 => RDKafkaLogLevel::Info,
        _ => RDKafkaLogLevel::Debug,
    }
}
