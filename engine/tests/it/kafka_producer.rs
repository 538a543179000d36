//! The per-shard producer against a real broker, without the capture
//! pipeline: queue bound, outage at start, large messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::kafka::{free_port, Broker};
use clap::Parser;
use httpcap::config::Config;
use httpcap::output::kafka::{KafkaOutput, Sent};
use httpcap::stats::{Counter, ShardStats};

fn config(addr: &str, extra: &[&str]) -> Config {
    let host = format!("--output-kafka-host={addr}");
    let mut args = vec!["httpcap", host.as_str(), "--output-kafka-topic=t"];
    args.extend_from_slice(extra);
    Config::try_parse_from(args).expect("config")
}

/// Polls until `done` holds or `bound` passes (the bound only protects CI
/// from a hang; no assertion depends on timing).
fn poll_until(out: &KafkaOutput, bound: Duration, done: impl Fn(&KafkaOutput) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < bound {
        out.poll();
        if done(out) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn queue_overflow_drops_newest_and_counts_exactly_then_delivers_the_rest() {
    let Some(broker) = Broker::not_started("queue_overflow") else {
        return;
    };
    // Nothing listens yet: every record stays in the local queue.
    let cfg = config(&broker.addr(), &["--output-kafka-channel-buf=100"]);
    let stats = Arc::new(ShardStats::default());
    let mut out = KafkaOutput::new(&cfg, 0, stats.clone()).expect("producer");
    let mut outcomes = (0, 0);
    for i in 0..250u32 {
        let payload = format!("{{\"n\":{i}}}");
        match out.send(i.to_string().as_bytes(), payload.as_bytes(), None, None) {
            Sent::Queued => outcomes.0 += 1,
            Sent::DroppedQueueFull => outcomes.1 += 1,
            other => panic!("unexpected {other:?}"),
        }
        out.poll();
    }
    assert_eq!(outcomes, (100, 150));
    assert_eq!(stats.get(Counter::KafkaEnqueued), 100);
    assert_eq!(stats.get(Counter::KafkaQueueFull), 150);
    // Records, not librdkafka's events (connection errors wait there too).
    assert_eq!(out.queue_depth(), 100);

    broker.restart();
    broker.create_topic("t", 3);
    let delivered = poll_until(&out, Duration::from_secs(60), |o| {
        o.stats().get(Counter::KafkaDelivered) == 100
    });
    assert!(
        delivered,
        "delivered {}",
        stats.get(Counter::KafkaDelivered)
    );
    assert_eq!(out.close(Duration::from_secs(10)), 0);
    assert_eq!(stats.get(Counter::KafkaFailed), 0);
    assert_eq!(out.queue_depth(), 0);

    let mut got: Vec<String> = broker.read("t");
    got.sort();
    let mut want: Vec<String> = (0..100).map(|i| format!("{{\"n\":{i}}}")).collect();
    want.sort();
    assert_eq!(
        got, want,
        "the first 100 arrive once each; the newest 150 were dropped"
    );
    assert!(
        stats.get(Counter::KafkaOutages) >= 1,
        "the outage at start was noticed"
    );
}

#[test]
fn large_message_under_the_limit_arrives_whole_with_every_codec() {
    let Some(broker) = Broker::start("large_message") else {
        return;
    };
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("big-{codec}");
        broker.create_topic(&topic, 1);
        let comp = format!("--output-kafka-compression={codec}");
        let t = format!("--output-kafka-topic={topic}");
        let host = format!("--output-kafka-host={}", broker.addr());
        let cfg = Config::try_parse_from(["httpcap", &host, &t, &comp]).unwrap();
        let stats = Arc::new(ShardStats::default());
        let mut out = KafkaOutput::new(&cfg, 0, stats.clone()).unwrap();
        // 4 MiB of varied text: compressible but not trivially.
        let body: String = (0..4 * 1024 * 1024 / 8)
            .map(|i: u32| format!("{:08x}", i.wrapping_mul(2654435761)))
            .collect();
        assert_eq!(out.send(b"k", body.as_bytes(), None, None), Sent::Queued);
        assert_eq!(out.close(Duration::from_secs(30)), 0, "{codec}");
        assert_eq!(stats.get(Counter::KafkaDelivered), 1, "{codec}");
        let got = broker.read(&topic);
        assert_eq!(got.len(), 1, "{codec}");
        assert!(
            got[0] == body,
            "{codec}: body differs ({} bytes)",
            got[0].len()
        );
    }
}

#[test]
fn records_left_at_close_are_counted_once_each_as_undelivered() {
    // A closed port: connection errors pile up as librdkafka events beside
    // the records, which made the old count (its queue length) read 13 or
    // 14 for 10 records.
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = config(&addr, &[]);
    let stats = Arc::new(ShardStats::default());
    let mut out = KafkaOutput::new(&cfg, 0, stats.clone()).expect("producer");
    for i in 0..10u32 {
        let sent = out.send(
            i.to_string().as_bytes(),
            b"{}",
            Some(1_700_000_000_000),
            None,
        );
        assert_eq!(sent, Sent::Queued);
    }
    // Let connection errors arrive and be served.
    poll_until(&out, Duration::from_secs(30), |o| {
        o.link_state() != httpcap::output::kafka::LinkState::Up
    });
    assert_eq!(out.queue_depth(), 10);
    assert_eq!(out.close(Duration::from_millis(200)), 10);
    assert_eq!(out.queue_depth(), 0);
    assert_eq!(stats.get(Counter::KafkaEnqueued), 10);
    assert_eq!(stats.get(Counter::KafkaUndelivered), 10);
    assert_eq!(stats.get(Counter::KafkaFailedPurged), 10);
    assert_eq!(stats.get(Counter::KafkaFailed), 0);
    assert_eq!(stats.get(Counter::KafkaDelivered), 0);
    // A second close finds nothing left and counts nothing again.
    assert_eq!(out.close(Duration::from_millis(200)), 0);
    assert_eq!(stats.get(Counter::KafkaUndelivered), 10);
}
