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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Gauge;

    fn totals(set: &[(Counter, u64)]) -> Totals {
        let mut t = Totals {
            counters: [0; Counter::COUNT],
            gauges: [0; Gauge::COUNT],
            per_shard_packets: Vec::new(),
        };
        for (c, n) in set {
            t.counters[*c as usize] = *n;
        }
        t
    }

    #[test]
    fn every_record_delivered_or_kafka_off_is_no_reason() {
        assert_eq!(undelivered_reason(&totals(&[])), None);
        let all = totals(&[(Counter::KafkaEnqueued, 9), (Counter::KafkaDelivered, 9)]);
        assert_eq!(undelivered_reason(&all), None);
    }

    #[test]
    fn the_reason_line_adds_up_every_way_of_not_arriving() {
        let t = totals(&[
            (Counter::KafkaEnqueued, 10),
            (Counter::KafkaDelivered, 4),
            (Counter::KafkaFailed, 1),
            (Counter::KafkaUndelivered, 5),
            (Counter::KafkaQueueFull, 2),
            (Counter::KafkaRefused, 1),
        ]);
        assert_eq!(
            undelivered_reason(&t).unwrap(),
            "9 of 13 records did not reach Kafka: 1 failed, 5 undelivered at exit, 2 dropped for a full queue, 1 refused by the producer"
        );
    }
}
