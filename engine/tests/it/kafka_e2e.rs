//! httpcap end to end into a real broker (Tansu, tools/kafka/broker.sh),
//! read back by an independent consumer (confluent-kafka,
//! tools/kafka/consume.py) and compared with the JSON-lines output of the
//! same run.

use std::time::Duration;

use crate::common::kafka::*;
use crate::common::KillOnDrop;

#[test]
fn topic_equals_json_lines_for_every_codec() {
    let Some(broker) = Broker::start("topic_equals_json_lines_for_every_codec") else {
        return;
    };
    let dir = Scratch::new("kafka-codecs");
    let gen = dir.path("api.pcap");
    gen_pcap(
        &gen,
        &["--transactions=1500", "--concurrency=32", "--seed=7"],
    );
    let inputs = [("sample", sample_pcap()), ("api", gen)];
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for (name, pcap) in &inputs {
            let topic = format!("records-{codec}-{name}");
            broker.create_topic(&topic, 3);
            let jsonl = dir.path(&format!("{topic}.jsonl"));
            let mut env = base_env(pcap, &jsonl, &broker.addr(), &topic);
            set(&mut env, "OUTPUT_KAFKA_COMPRESSION", codec);
            set(&mut env, "OUTPUT_KAFKA_COLLECTION_ID", "test-collection");
            let done = run(&env, RUN_BOUND);
            let what = format!("{codec}/{name}");
            let lines = delivered_lines(&done, &jsonl, &what);
            assert_eq!(done.counter("kafka_failed"), 0, "{what}");
            assert_eq!(done.counter("kafka_undelivered_at_exit"), 0, "{what}");
            assert!(lines[0].contains("\"collection_id\":\"test-collection\""));
            let keyed = broker.read_expecting(&topic, lines.len());
            assert_same_records(&keyed, &lines, &what);
        }
    }
}

#[test]
fn broker_down_at_start_then_started_delivers_everything() {
    let Some(broker) = Broker::not_started("broker_down_at_start") else {
        return;
    };
    let dir = Scratch::new("kafka-late-broker");
    let jsonl = dir.path("out.jsonl");
    let mut env = base_env(&sample_pcap(), &jsonl, &broker.addr(), "late");
    set(&mut env, "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", "120s");
    let running = spawn(&env);
    assert!(
        running.wait_for_line("brokers unreachable", Duration::from_secs(60)),
        "no outage line"
    );
    broker.restart();
    broker.create_topic("late", 3);
    let done = running.wait(RUN_BOUND);
    let lines = delivered_lines(&done, &jsonl, "late broker");
    assert_eq!(done.counter("kafka_undelivered_at_exit"), 0);
    assert!(done.counter("kafka_outages") >= 1);
    // One line per outage, not one per record or per retry.
    let outage_lines = done
        .stderr
        .lines()
        .filter(|l| l.contains("brokers unreachable"))
        .count();
    assert!(outage_lines <= 2, "{outage_lines} outage lines (2 shards)");
    assert_same_records(
        &broker.read_expecting("late", lines.len()),
        &lines,
        "late broker",
    );
}

#[test]
fn full_queue_drops_newest_and_counts_exactly() {
    let Some(broker) = Broker::not_started("full_queue_drops") else {
        return;
    };
    // The broker never starts: the queue fills and stays full.
    let dir = Scratch::new("kafka-queue-full");
    let pcap = dir.path("api.pcap");
    gen_pcap(
        &pcap,
        &["--transactions=300", "--static-share=0", "--seed=3"],
    );
    let jsonl = dir.path("out.jsonl");
    let mut env = base_env(&pcap, &jsonl, &broker.addr(), "never");
    set(&mut env, "PROCESSING_WORKERS", "1");
    set(&mut env, "OUTPUT_KAFKA_CHANNEL_BUF", "7");
    set(&mut env, "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", "1s");
    let done = run(&env, RUN_BOUND);
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    let records = read_lines(&jsonl).len() as u64;
    assert!(records > 7);
    assert_eq!(reason_lines(&done).len(), 1);
    assert_eq!(done.counter("kafka_enqueued"), 7);
    assert_eq!(done.counter("drop_kafka_queue"), records - 7);
    assert_eq!(done.counter("kafka_undelivered_at_exit"), 7);
    assert_eq!(done.counter("kafka_failed_purged"), 7);
    assert_eq!(done.counter("kafka_delivered"), 0);
    assert!(done.stderr_has("7 records not delivered"));
}

/// One transaction whose response body is at least `size` bytes of JSON text.
fn big_body_run(
    broker: &Broker,
    dir: &Scratch,
    size: u64,
    topic: &str,
) -> (Finished, String, String) {
    let pcap = dir.path(&format!("{topic}.pcap"));
    let body = format!("--response-body={size}");
    gen_pcap(
        &pcap,
        &[
            // Seed 3 makes that transaction a POST answered with a body.
            "--seed=3",
            "--transactions=1",
            "--connections=1",
            &body,
            "--static-share=0",
            "--gzip-share=0",
            "--chunked-share=0",
            "--error-share=0",
            "--pipeline-share=0",
        ],
    );
    broker.create_topic(topic, 1);
    let jsonl = dir.path(&format!("{topic}.jsonl"));
    let mut env = base_env(&pcap, &jsonl, &broker.addr(), topic);
    set(&mut env, "MAX_BODY_BYTES", "64MiB");
    set(&mut env, "ASSEMBLER_MAX_STREAM_BUFFER", "64MiB");
    set(&mut env, "OUTPUT_KAFKA_MAX_MESSAGE_BYTES", "5mb");
    let done = run(&env, RUN_BOUND);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let mut lines = read_lines(&jsonl);
    assert_eq!(lines.len(), 1, "one record expected");
    let mut got = broker.read(topic);
    assert_eq!(got.len(), 1, "one message expected");
    (done, lines.remove(0), got.remove(0))
}

#[test]
fn a_4mb_body_arrives_whole_and_a_20mb_body_trimmed_and_flagged() {
    let Some(broker) = Broker::start("big_bodies") else {
        return;
    };
    let dir = Scratch::new("kafka-big");

    let (done, line, msg) = big_body_run(&broker, &dir, 4_000_000, "body-4mb");
    assert_eq!(done.counter("kafka_trimmed"), 0);
    let rec: serde_json::Value = serde_json::from_str(&line).unwrap();
    let body_len = rec["response"]["body"].as_str().unwrap().len() as u64;
    assert!(body_len >= 4_000_000, "body of {body_len} bytes");
    assert_eq!(rec["response"]["body_size"].as_u64(), Some(body_len));
    assert!(
        msg == line,
        "4 MB record differs between Kafka and the file"
    );

    let (done, line, msg) = big_body_run(&broker, &dir, 20_000_000, "body-20mb");
    assert_eq!(done.counter("kafka_trimmed"), 1);
    assert_eq!(done.counter("kafka_delivered"), 1);
    assert!(
        msg.len() <= 5 * 1024 * 1024,
        "message is {} bytes",
        msg.len()
    );
    let full: serde_json::Value = serde_json::from_str(&line).unwrap();
    let cut: serde_json::Value = serde_json::from_str(&msg).unwrap();
    let full_body = full["response"]["body"].as_str().unwrap();
    let cut_body = cut["response"]["body"].as_str().unwrap();
    assert!(full_body.len() >= 20_000_000);
    assert!(
        cut_body.len() > 4_000_000,
        "trimmed to {} only",
        cut_body.len()
    );
    assert!(full_body.starts_with(cut_body), "trimmed body is a prefix");
    assert_eq!(cut["response"]["body_size"], full["response"]["body_size"]);
    assert_eq!(cut["response"]["body_truncated"], true);
    let flags: Vec<&str> = cut["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(flags.contains(&"body_trimmed_for_kafka"), "flags {flags:?}");
    assert_eq!(cut["id"], full["id"]);
}

#[test]
fn sasl_plain_in_the_product_spelling_sends_the_credentials() {
    // No PLAIN-capable broker installs here: a minimal protocol peer takes
    // the PLAIN exchange, records the credentials and refuses them.
    let dir = Scratch::new("kafka-plain");
    let capture = dir.path("plain.txt");
    let port = free_port();
    let Ok(child) = std::process::Command::new("python3")
        .arg(repo_root().join("tools/kafka/plain_peer.py"))
        .args([port.to_string(), capture.clone()])
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        skip("sasl_plain", "python3 not available");
        return;
    };
    let mut peer = KillOnDrop(child);
    // Its first line says it listens.
    let mut first = String::new();
    let out = peer.0.stdout.take().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut first).unwrap();
    assert!(first.contains("listening"), "{first}");

    let jsonl = dir.path("out.jsonl");
    let addr = format!("127.0.0.1:{port}");
    let mut env = base_env(&sample_pcap(), &jsonl, &addr, "plain");
    set(&mut env, "OUTPUT_KAFKA_USE_SASL", "true");
    set(&mut env, "OUTPUT_KAFKA_SASL_MECH", "SASL/PLAIN");
    set(&mut env, "OUTPUT_KAFKA_USERNAME", "app");
    set(&mut env, "OUTPUT_KAFKA_PASSWORD", "plain-secret");
    set(&mut env, "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", "2s");
    let done = run(&env, RUN_BOUND);
    // Nothing was delivered: the run says so in its exit code.
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    let seen = std::fs::read_to_string(&capture).expect("the peer saw no credentials");
    assert!(
        seen.lines().any(|l| l == "PLAIN\tapp\tplain-secret"),
        "captured: {seen:?}"
    );
    assert!(done.stderr_has("broker refused user 'app' (PLAIN)"));
    assert!(done.counter("kafka_auth_errors") >= 1);
    assert!(
        !done.stderr_has("plain-secret"),
        "password leaked to the log"
    );
    drop(peer);
}

#[test]
fn sigterm_flushes_what_is_queued_before_exit() {
    let Some(broker) = Broker::start("sigterm_flush") else {
        return;
    };
    broker.create_topic("sigterm", 3);
    let dir = Scratch::new("kafka-sigterm");
    let pcap = dir.path("api.pcap");
    gen_pcap(&pcap, &["--transactions=2000", "--seed=5"]);
    let bytes = std::fs::read(&pcap).unwrap();
    let (first, _) = split_pcap(&bytes, 0.5);
    // A FIFO keeps the run going until the signal, like a live link.
    let fifo = dir.fifo("input.pcap");
    let jsonl = dir.path("out.jsonl");
    let mut env = base_env(&fifo, &jsonl, &broker.addr(), "sigterm");
    // A long linger: records are still queued when the signal comes.
    set(&mut env, "OUTPUT_KAFKA_FLUSH_FREQUENCY", "2s");
    let mut running = spawn(&env);
    let mut input = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::io::Write::write_all(&mut input, first).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    running.signal(libc::SIGTERM);
    // The file reader is blocked on the FIFO; closing it lets it see the end.
    drop(input);
    let done = running.wait(RUN_BOUND);
    let lines = delivered_lines(&done, &jsonl, "sigterm");
    assert!(!lines.is_empty());
    assert_eq!(done.counter("kafka_undelivered_at_exit"), 0);
    assert_same_records(
        &broker.read_expecting("sigterm", lines.len()),
        &lines,
        "sigterm",
    );
}

// ---- Delivery truth: exact counts, exit status, metadata, passthrough ----

/// The one line a run that could not deliver everything ends with.
fn reason_lines(done: &Finished) -> Vec<&str> {
    done.stderr
        .lines()
        .filter(|l| l.contains("did not reach Kafka"))
        .collect()
}

/// Checks the accounting of a finished run against its JSON lines:
/// every record was offered once, and enqueued = delivered + failed +
/// undelivered at exit, exactly.
fn assert_exact_counts(done: &Finished, records: u64, what: &str) {
    let enqueued = done.counter("kafka_enqueued");
    let dropped = done.counter("drop_kafka_queue") + done.counter("drop_kafka_refused");
    assert_eq!(enqueued + dropped, records, "{what}: records offered");
    assert_eq!(
        enqueued,
        done.counter("kafka_delivered")
            + done.counter("kafka_failed")
            + done.counter("kafka_undelivered_at_exit"),
        "{what}: enqueued = delivered + failed + undelivered_at_exit\n{}",
        done.stderr
    );
}

#[test]
fn unreachable_broker_exits_3_with_exact_counts_for_1_2_3_shards() {
    // A closed loopback port: nothing listens there for the whole run.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = Scratch::new("kafka-unreachable");
    let pcap = dir.path("api.pcap");
    gen_pcap(
        &pcap,
        &["--transactions=400", "--static-share=0", "--seed=9"],
    );
    for shards in ["1", "2", "3"] {
        // Records expire while the run flushes (message.timeout.ms, through
        // OUTPUT_KAFKA_OPTIONS) or are still queued at the shutdown bound.
        for (options, shutdown) in [("message.timeout.ms=1000", "10s"), ("", "1s")] {
            let what = format!("{shards} shards, options '{options}'");
            let jsonl = dir.path(&format!("{shards}-{shutdown}.jsonl"));
            let mut env = base_env(&pcap, &jsonl, &addr, "unreachable");
            set(&mut env, "PROCESSING_WORKERS", shards);
            set(&mut env, "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", shutdown);
            set(&mut env, "OUTPUT_KAFKA_OPTIONS", options);
            let done = run(&env, RUN_BOUND);
            assert_eq!(done.code, Some(3), "{what}: {}", done.stderr);
            let records = read_lines(&jsonl).len() as u64;
            assert!(records > 100, "{what}: {records} records");
            assert_exact_counts(&done, records, &what);
            assert_eq!(done.counter("kafka_delivered"), 0, "{what}");
            assert_eq!(
                done.counter("kafka_failed") + done.counter("kafka_undelivered_at_exit"),
                records,
                "{what}"
            );
            if options.is_empty() {
                assert_eq!(done.counter("kafka_undelivered_at_exit"), records, "{what}");
            } else {
                // The passthrough property took effect: they timed out.
                assert_eq!(done.counter("kafka_failed_timeout"), records, "{what}");
            }
            let reasons = reason_lines(&done);
            assert_eq!(reasons.len(), 1, "{what}: {reasons:?}");
            let want = format!("{records} of {records} records did not reach Kafka");
            assert!(reasons[0].contains(&want), "{what}: {}", reasons[0]);
        }
    }
}

#[test]
fn kafka_options_override_ours_and_bad_ones_exit_2_in_one_line() {
    let dir = Scratch::new("kafka-options");
    let pcap = dir.path("api.pcap");
    gen_pcap(
        &pcap,
        &["--transactions=50", "--static-share=0", "--seed=4"],
    );
    let addr = format!("127.0.0.1:{}", free_port());
    for (bad, property) in [
        ("linger.ms=5;no.such.property=1", "no.such.property"),
        ("linger.ms=soon", "linger.ms"),
        ("client.id", "client.id"),
    ] {
        let jsonl = dir.path("bad.jsonl");
        let mut env = base_env(&pcap, &jsonl, &addr, "options");
        set(&mut env, "OUTPUT_KAFKA_OPTIONS", bad);
        let done = run(&env, RUN_BOUND);
        assert_eq!(done.code, Some(2), "{bad}: {}", done.stderr);
        assert_eq!(done.stderr.lines().count(), 1, "{bad}: {:?}", done.stderr);
        let line = done.stderr.lines().next().unwrap_or_default();
        assert!(line.contains("OUTPUT_KAFKA_OPTIONS"), "{line}");
        assert!(line.contains(property), "{line}");
    }
    // Properties valid alone but not together show when the producer is
    // built: still exit 2 and a line naming the variable.
    let jsonl = dir.path("conflict.jsonl");
    let mut env = base_env(&pcap, &jsonl, &addr, "options");
    set(&mut env, "OUTPUT_KAFKA_OPTIONS", "acks=1");
    let done = run(&env, RUN_BOUND);
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    let line = done.stderr.lines().last().unwrap();
    assert!(
        line.contains("OUTPUT_KAFKA_OPTIONS") && line.contains("acks"),
        "{line}"
    );
    // queue.buffering.max.messages overrides OUTPUT_KAFKA_CHANNEL_BUF: with
    // the broker away, one shard's queue holds exactly 5 records.
    let jsonl = dir.path("good.jsonl");
    let mut env = base_env(&pcap, &jsonl, &addr, "options");
    set(&mut env, "PROCESSING_WORKERS", "1");
    set(&mut env, "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", "1s");
    set(
        &mut env,
        "OUTPUT_KAFKA_OPTIONS",
        "queue.buffering.max.messages=5; client.id=options-test",
    );
    let done = run(&env, RUN_BOUND);
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    let records = read_lines(&jsonl).len() as u64;
    assert_eq!(done.counter("kafka_enqueued"), 5);
    assert_eq!(done.counter("drop_kafka_queue"), records - 5);
    assert_exact_counts(&done, records, "overridden queue");
    assert!(done.stderr_has(
        "--output-kafka-options='queue.buffering.max.messages=5; client.id=options-test'"
    ));
}

/// Milliseconds since the epoch of a record's `ts` (RFC 3339, µs).
fn ts_ms(ts: &serde_json::Value) -> i64 {
    let t = humantime::parse_rfc3339(ts.as_str().expect("ts")).expect("RFC 3339");
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn messages_carry_capture_time_and_routing_headers() {
    let Some(broker) = Broker::start("messages_carry_capture_time") else {
        return;
    };
    broker.create_topic("meta", 3);
    let dir = Scratch::new("kafka-meta");
    let jsonl = dir.path("out.jsonl");
    let mut env = base_env(&sample_pcap(), &jsonl, &broker.addr(), "meta");
    set(&mut env, "OUTPUT_KAFKA_COLLECTION_ID", "catalog-7");
    let done = run(&env, RUN_BOUND);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let lines = read_lines(&jsonl);
    let messages = broker.read_meta("meta", lines.len());
    assert_eq!(messages.len(), lines.len());
    let version = httpcap::record::SCHEMA_VERSION.to_string();
    for m in &messages {
        let h = &m["headers"];
        assert_eq!(h["collection_id"], "catalog-7", "{m}");
        assert_eq!(h["schema_version"], version.as_str(), "{m}");
        assert_eq!(h["content-type"], "application/json", "{m}");
        let rec: serde_json::Value =
            serde_json::from_str(m["value"].as_str().unwrap()).expect("record JSON");
        // The request's first byte; the response's when there is no request.
        let first = if rec["request"].is_null() {
            &rec["response"]["ts"]
        } else {
            &rec["request"]["ts"]
        };
        assert_eq!(m["timestamp_type"], "create", "{m}");
        assert_eq!(m["timestamp_ms"].as_i64(), Some(ts_ms(first)), "{m}");
    }
}

#[test]
fn broker_gone_mid_run_and_back_loses_nothing_and_counts_exactly() {
    // The broker's port goes away mid-run (connections cut, then refused,
    // as when a broker stops) and comes back. A proxy does the stopping:
    // this broker keeps topics and producer ids in memory, so restarting
    // its process would bring back an empty cluster that has forgotten the
    // topic and our idempotent producer id (it then answers
    // UNKNOWN_PRODUCER_ID forever), which a real broker does not.
    // kafka_scram.rs restarts a broker process that keeps its data.
    let Some((broker, mut proxy)) = Broker::behind_proxy("broker_gone_mid_run") else {
        return;
    };
    broker.create_topic("restart", 3);
    let dir = Scratch::new("kafka-gone-and-back");
    let via_proxy = format!("127.0.0.1:{}", proxy.port);
    let mut run = half_fed(&dir, &via_proxy, "restart", &[("PROCESSING_WORKERS", "3")]);
    let before = broker.settled("restart", Duration::from_secs(60));
    assert!(!before.is_empty(), "nothing delivered before the outage");
    proxy.cut();
    run.feed_rest_into_outage();
    proxy.resume();
    let (done, lines) = run.finish();
    assert!(
        lines.len() > before.len(),
        "records were produced during the outage"
    );
    assert_exact_counts(&done, lines.len() as u64, "gone and back");
    assert_eq!(done.counter("kafka_failed"), 0);
    assert_eq!(done.counter("kafka_undelivered_at_exit"), 0);
    assert_eq!(done.counter("kafka_delivered"), lines.len() as u64);
    assert!(done.stderr_has("deliveries resumed"));
    // Delivered is exactly what a consumer reads: each record once, in
    // order per connection.
    assert_same_records(
        &broker.read_expecting("restart", lines.len()),
        &lines,
        "broker gone and back",
    );
}

#[test]
fn unreachable_broker_is_reminded_once_per_interval_and_unhealthy() {
    let addr = format!("127.0.0.1:{}", free_port());
    let dir = Scratch::new("kafka-reminders");
    let pcap = dir.path("api.pcap");
    gen_pcap(
        &pcap,
        &["--transactions=600", "--concurrency=8", "--seed=13"],
    );
    let bytes = std::fs::read(&pcap).unwrap();
    let records = pcap_records(&bytes);
    let fifo = dir.fifo("input.pcap");
    let jsonl = dir.path("out.jsonl");
    let health = dir.path("health.json");
    let mut env = base_env(&fifo, &jsonl, &addr, "reminders");
    set(&mut env, "PROCESSING_WORKERS", "2");
    set(&mut env, "METRICS_INTERVAL", "1s");
    set(&mut env, "METRICS_OUTPUT", "none");
    set(&mut env, "HEALTH_FILE", &health);
    set(&mut env, "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", "1s");
    let started = std::time::Instant::now();
    let running = spawn(&env);
    let mut input = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::io::Write::write_all(&mut input, &bytes[..24]).unwrap();
    // A slowly fed input, like a live link: every step a slice of the
    // capture, its time moved a step later, so the shards keep ticking.
    let health_check = |cfg_health: &str| {
        crate::common::Run::new()
            .arg("health")
            .env("HEALTH_FILE", cfg_health)
            .env("METRICS_INTERVAL", "1s")
            .output()
    };
    let chunk = records.len().div_ceil(40);
    let mut unhealthy = None;
    for step in 0..400u32 {
        let i = step as usize % 40;
        for r in &records[i * chunk..((i + 1) * chunk).min(records.len())] {
            // Loop over the capture with a fresh time base each round;
            // repeated connections are new ones after the flush age.
            std::io::Write::write_all(&mut input, &shifted_record(r, step * 2)).unwrap();
        }
        std::io::Write::flush(&mut input).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        let out = health_check(&health);
        if out.code == Some(1) && out.stdout.contains("kafka_unreachable") {
            unhealthy = Some(out.stdout);
            break;
        }
    }
    drop(input);
    let done = running.wait(RUN_BOUND);
    let elapsed = started.elapsed();
    let unhealthy = unhealthy.expect("health never said kafka_unreachable");
    assert!(unhealthy.contains("records queued"), "{unhealthy}");
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    let outages = done
        .stderr
        .lines()
        .filter(|l| l.contains("brokers unreachable"))
        .count();
    assert!(
        (1..=2).contains(&outages),
        "{outages} outage lines (2 shards)"
    );
    let reminders: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("brokers still unreachable"))
        .collect();
    assert!(!reminders.is_empty(), "no reminder during a long outage");
    // At most one per METRICS_INTERVAL for the whole process (an upper
    // bound: a slow machine only makes fewer).
    assert!(
        reminders.len() as u64 <= elapsed.as_secs() + 1,
        "{} reminders in {elapsed:?}",
        reminders.len()
    );
    assert!(reminders[0].contains("records waiting"), "{}", reminders[0]);
    let lines = read_lines(&jsonl).len() as u64;
    assert!(
        lines > reminders.len() as u64 * 4,
        "not one line per record"
    );
    assert_exact_counts(&done, lines, "reminders");
}
