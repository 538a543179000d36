//! How HEAP_LIMIT is split: evenly across shards, and within a shard
//! between its connections (stream table, buffers, pending transactions),
//! its output queue (the Kafka producer's, or its part of the JSON-lines
//! writer's), and the working set of the one transaction it is finishing
//! (decoded bodies and the record's line).
//!
//! Output queues are bounded in bytes (librdkafka's
//! `queue.buffering.max.kbytes`; the JSON-lines writer's own count), so a
//! fixed slice of the share keeps them within HEAP_LIMIT: a full queue is
//! a counted drop (Kafka, live) or back-pressure, never growth. The
//! working set is reserved at its worst case, computed from MAX_BODY_BYTES
//! and MAX_HEADER_BYTES, so that no body or record can take RSS past the
//! limit however it is shaped.

use super::Config;

/// A quarter of each shard's share goes to its output queue...
const OUTPUT_SHARE_DIVISOR: u64 = 4;
/// ...raised to hold two Kafka messages of the largest size (a queue
/// smaller than one record could never take it), or one JSON line of the
/// largest size and a writer buffer, but never above half the share.
const KAFKA_QUEUE_MIN_RECORDS: u64 = 2;
/// The JSON-lines writer's buffer size (output/json_lines.rs).
pub const JSON_LINES_BUF_BYTES: u64 = 256 * 1024;

/// The longest record a transaction can make, from the limits on what it
/// holds: two bodies, each at most twice its size once escaped (a text
/// body that would grow more goes out as base64, see
/// `record::TEXT_BODY_MAX_GROWTH`), gRPC messages in base64 (at most
/// MAX_BODY_BYTES per direction, under 1.5 times that once encoded and
/// listed), heads and trailers of at most MAX_HEADER_BYTES each that
/// escape to at most six times their size (the target is written three
/// times: target, path and query), and a fixed part.
pub fn record_bound(cfg: &Config) -> u64 {
    let body = cfg.max_body_bytes;
    let head = cfg.max_header_bytes;
    (4 * body + 3 * body + 48 * head).saturating_add(64 * 1024)
}

/// The working set of the one transaction a shard is finishing: its two
/// decoded bodies, one coding layer's input and output, its gRPC
/// messages, and its record being written.
pub fn emit_bound(cfg: &Config) -> u64 {
    let kafka_copy = if cfg.output_kafka_host.is_some() {
        // The copy of a record trimmed to fit a Kafka message.
        cfg.output_kafka_max_message_bytes
    } else {
        JSON_LINES_BUF_BYTES
    };
    // With Kafka and a JSON-lines file both on, the writer's share of
    // the lines in flight comes from here (the output slice is Kafka's).
    let both = if cfg.output_kafka_host.is_some() && cfg.json_lines_path().is_some() {
        json_lines_floor(cfg)
    } else {
        0
    };
    (5 * cfg.max_body_bytes)
        .saturating_add(record_bound(cfg))
        .saturating_add(kafka_copy)
        .saturating_add(both)
}

/// The least the JSON-lines writer must be able to hold per shard: one
/// record of the largest size and one buffer.
fn json_lines_floor(cfg: &Config) -> u64 {
    record_bound(cfg).saturating_add(JSON_LINES_BUF_BYTES)
}

/// Bytes the JSON-lines writer may hold in flight, for all shards.
pub fn json_lines_in_flight(cfg: &Config) -> u64 {
    let per_shard = if cfg.output_kafka_host.is_some() {
        json_lines_floor(cfg)
    } else {
        ShardMemory::of(cfg).output
    };
    per_shard.saturating_mul(cfg.processing_workers.max(1) as u64)
}

/// One shard's share of HEAP_LIMIT, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardMemory {
    /// What the shard's connections may hold (its memory budget).
    pub streams: u64,
    /// The shard's output queue: its Kafka producer's, or its part of the
    /// JSON-lines writer's.
    pub output: u64,
    /// Reserved for the transaction being finished (`emit_bound`).
    pub emit: u64,
    /// The shard's uprobe ring (TLS_UPROBE_RING_BYTES), when TLS_UPROBE_LIBS
    /// is set, twice: the ring the kernel writes and the shard maps, and
    /// the copy of one poll's events the shard reads from (at most a ring
    /// and one event: `ShardRing::poll`).
    pub uprobe_ring: u64,
}

impl ShardMemory {
    pub fn of(cfg: &Config) -> ShardMemory {
        let share = cfg.heap_limit / cfg.processing_workers.max(1) as u64;
        let floor = if cfg.output_kafka_host.is_some() {
            cfg.output_kafka_max_message_bytes * KAFKA_QUEUE_MIN_RECORDS
        } else {
            json_lines_floor(cfg)
        };
        let output = (share / OUTPUT_SHARE_DIVISOR).max(floor).min(share / 2);
        let emit = emit_bound(cfg);
        let uprobe_ring = if cfg.tls_uprobe_libs.is_some() {
            cfg.tls_uprobe_ring_bytes * 2
        } else {
            0
        };
        ShardMemory {
            streams: share
                .saturating_sub(output)
                .saturating_sub(emit)
                .saturating_sub(uprobe_ring),
            output,
            emit,
            uprobe_ring,
        }
    }

    /// Whether the share holds what a shard needs besides its connections
    /// with at least a quarter of it left for them.
    pub fn fits(&self) -> bool {
        self.streams >= (self.streams + self.output + self.emit + self.uprobe_ring) / 4
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
    fn without_kafka_output_holds_a_record_and_the_rest_is_the_connections() {
        let c = cfg(&["--heap-limit", "1GiB", "--processing-workers", "2"]);
        let m = ShardMemory::of(&c);
        assert_eq!(m.output, 128 << 20, "a quarter of the share");
        assert_eq!(m.emit, emit_bound(&c));
        assert_eq!(m.streams + m.output + m.emit, 512 << 20);
        assert!(m.fits());
        // Defaults: 3 MiB bodies, 64 KiB heads.
        assert_eq!(
            record_bound(&c),
            7 * (3 << 20) + 48 * (64 << 10) + (64 << 10)
        );
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
        assert_eq!(m.output, 128 << 20);
        assert_eq!(m.streams + m.output + m.emit, 512 << 20);

        let mid = cfg(&[
            "--heap-limit",
            "32MiB",
            "--processing-workers",
            "1",
            "--max-body-bytes",
            "256KiB",
            "--output-kafka-host",
            "127.0.0.1:9092",
        ]);
        let m = ShardMemory::of(&mid);
        assert_eq!(m.output, 2 * mid.output_kafka_max_message_bytes);
        assert!(m.fits());
    }

    #[test]
    fn a_share_too_small_for_the_largest_record_does_not_fit() {
        let c = cfg(&["--heap-limit", "16MiB", "--processing-workers", "1"]);
        let m = ShardMemory::of(&c);
        assert!(!m.fits(), "{m:?}");
        let c = cfg(&[
            "--heap-limit",
            "16MiB",
            "--processing-workers",
            "1",
            "--max-body-bytes",
            "256KiB",
        ]);
        assert!(ShardMemory::of(&c).fits());
    }

    #[test]
    fn uprobe_rings_come_out_of_the_connections_share() {
        let off = ShardMemory::of(&cfg(&["--heap-limit", "1GiB", "--processing-workers", "2"]));
        let on = ShardMemory::of(&cfg(&[
            "--heap-limit",
            "1GiB",
            "--processing-workers",
            "2",
            "--tls-uprobe-libs",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "--tls-uprobe-ring-bytes",
            "16MiB",
        ]));
        assert_eq!(off.uprobe_ring, 0);
        assert_eq!(on.uprobe_ring, 32 << 20, "the ring and one poll's copy");
        assert_eq!(on.streams, off.streams - (32 << 20));
    }
}
