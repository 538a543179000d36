//! Kafka output: one librdkafka producer per shard, no queue or lock shared
//! between cores. `settings` maps OUTPUT_KAFKA_* to producer properties,
//! `producer` owns the client and its callbacks, `health` turns connection
//! errors into one log line per outage, `fit` trims oversized records and
//! `sink` plugs it all into a shard as a `RecordSink`.

mod fit;
mod health;
pub mod producer;
pub mod settings;
pub mod sink;
pub mod stats;

pub use producer::{KafkaOutput, Sent};
pub use sink::KafkaSink;

use crate::config::Config;

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
