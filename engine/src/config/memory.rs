//! How HEAP_LIMIT is split: evenly across shards, and within a shard
//! between its connections (stream table, buffers, pending transactions)
//! and, when Kafka output is on, its producer's queue.
//!
//! The producer's queue is bounded in bytes by librdkafka
//! (`queue.buffering.max.kbytes`), so giving it a fixed slice of the
//! shard's share keeps both within HEAP_LIMIT: a full queue is a counted
//! drop (live) or back-pressure (file input), never growth.

use super::Config;

/// A quarter of each shard's share, when Kafka is on...
const KAFKA_QUEUE_SHARE_DIVISOR: u64 = 4;
/// ...raised to hold two records of the largest size (a queue smaller
/// than one record could never take it), but never above half the share.
const KAFKA_QUEUE_MIN_RECORDS: u64 = 2;

/// One shard's share of HEAP_LIMIT, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardMemory {
    /// What the shard's connections may hold (its memory budget).
    pub streams: u64,
    /// The shard's Kafka producer queue (0 without Kafka).
    pub kafka_queue: u64,
}

impl ShardMemory {
    pub fn of(cfg: &Config) -> ShardMemory {
        let share = cfg.heap_limit / cfg.processing_workers.max(1) as u64;
        if cfg.output_kafka_host.is_none() {
            return ShardMemory {
                streams: share,
                kafka_queue: 0,
            };
        }
        let floor = cfg.output_kafka_max_message_bytes * KAFKA_QUEUE_MIN_RECORDS;
        let kafka_queue = (share / KAFKA_QUEUE_SHARE_DIVISOR)
            .max(floor)
            .min(share / 2);
        ShardMemory {
            streams: share.saturating_sub(kafka_queue),
            kafka_queue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cfg(args: &[&str]) -> Config {
        let mut v = vec!["httpcap"];
        v.extend_from_slice(args);
        Config::try_parse_from(v).unwrap()
    }

    #[test]
    fn without_kafka_the_connections_get_the_whole_share() {
        let c = cfg(&["--heap-limit", "1GiB", "--processing-workers", "2"]);
        let m = ShardMemory::of(&c);
        assert_eq!(m.streams, 512 << 20);
        assert_eq!(m.kafka_queue, 0);
    }

    #[test]
    fn kafka_takes_a_quarter_raised_to_two_records_capped_at_half() {
        let c = cfg(&[
            "--heap-limit",
            "1GiB",
            "--processing-workers",
            "2",
            "--output-kafka-host",
            "127.0.0.1:9092",
        ]);
        let m = ShardMemory::of(&c);
        assert_eq!(m.kafka_queue, 128 << 20);
        assert_eq!(m.streams + m.kafka_queue, 512 << 20);

        let small = cfg(&[
            "--heap-limit",
            "16MiB",
            "--processing-workers",
            "2",
            "--output-kafka-host",
            "127.0.0.1:9092",
        ]);
        let m = ShardMemory::of(&small);
        assert_eq!(m.kafka_queue, 4 << 20, "capped at half the share");
        assert_eq!(m.streams, 4 << 20);

        let mid = cfg(&[
            "--heap-limit",
            "64MiB",
            "--processing-workers",
            "2",
            "--output-kafka-host",
            "127.0.0.1:9092",
        ]);
        let m = ShardMemory::of(&mid);
        assert_eq!(m.kafka_queue, 2 * mid.output_kafka_max_message_bytes);
    }
}
