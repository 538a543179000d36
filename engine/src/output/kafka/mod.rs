//! Kafka output: one librdkafka producer per shard, no queue or lock shared
//! between cores. `settings` maps OUTPUT_KAFKA_* to producer properties,
//! `producer` owns the client and its callbacks, `health` turns connection
//! errors into one log line per outage, `fit` trims oversized records and
//! `sink` plugs it all into a shard as a `RecordSink`.

mod fit;
mod health;
pub mod options;
pub mod producer;
pub mod reminder;
pub mod settings;
pub mod sink;
pub mod stats;

pub use producer::{KafkaOutput, LinkState, Sent};
pub use reminder::Reminders;
pub use sink::KafkaSink;

use crate::config::Config;
use crate::stats::{Counter, Totals};

/// Why a finished run did not get every record to Kafka: the one line
/// for stderr before exiting with `runtime::EXIT_UNDELIVERED`, or None
/// when every record handed to the Kafka output was acknowledged.
pub fn undelivered_reason(totals: &Totals) -> Option<String> {
    let failed = totals.get(Counter::KafkaFailed);
    let at_exit = totals.get(Counter::KafkaUndelivered);
    let queue_full = totals.get(Counter::KafkaQueueFull);
    let refused = totals.get(Counter::KafkaRefused);
    let lost = failed + at_exit + queue_full + refused;
    if lost == 0 {
        return None;
    }
    let offered = totals.get(Counter::KafkaEnqueued) + queue_full + refused;
    Some(format!(
        "{lost} of {offered} records did not reach Kafka: {failed} failed, {at_exit} undelivered at exit, {queue_full} dropped for a full queue, {refused} refused by the producer"
    ))
}

/// One line for the startup log: where records go and what
/// OUTPUT_KAFKA_PRODUCERS became under thread-per-core.
pub fn startup_summary(cfg: &Config) -> String {
    format!(
        "kafka output: brokers={} topic={} {} producers (one per shard); OUTPUT_KAFKA_PRODUCERS={} -> {} in-flight requests per broker connection; compression={} security={} queue={} records per shard",
        cfg.output_kafka_host.as_deref().unwrap_or_default(),
        cfg.output_kafka_topic,
        cfg.shards(),
        cfg.output_kafka_producers,
        settings::in_flight(cfg),
        cfg.output_kafka_compression.as_str(),
        settings::security_protocol(cfg),
        cfg.output_kafka_channel_buf,
    )
}
