//! httpcap end to end into a real broker (Tansu, tools/kafka/broker.sh),
//! read back by an independent consumer (confluent-kafka,
//! tools/kafka/consume.py) and compared with the JSON-lines output of the
//! same run.

mod kafka_support;

use std::time::Duration;

use kafka_support::*;

const RUN_BOUND: Duration = Duration::from_secs(180);

fn sample_pcap() -> String {
    repo_root()
        .join("engine/testdata/sample.pcap")
        .to_string_lossy()
        .into_owned()
}

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
            assert_eq!(done.code, Some(0), "{what}: {}", done.stderr.join("\n"));
            let lines = read_lines(&jsonl);
            assert_eq!(done.get("kafka_delivered"), lines.len() as u64, "{what}");
            assert_eq!(done.get("kafka_failed"), 0, "{what}");
            assert_eq!(done.get("kafka_undelivered_at_exit"), 0, "{what}");
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
    assert_eq!(done.code, Some(0), "{}", done.stderr.join("\n"));
    let lines = read_lines(&jsonl);
    assert_eq!(done.get("kafka_undelivered_at_exit"), 0);
    assert_eq!(done.get("kafka_delivered"), lines.len() as u64);
    assert!(done.get("kafka_outages") >= 1);
    // One line per outage, not one per record or per retry.
    let outage_lines = done
        .stderr
        .iter()
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
    assert_eq!(done.code, Some(0), "{}", done.stderr.join("\n"));
    let records = read_lines(&jsonl).len() as u64;
    assert!(records > 7);
    assert_eq!(done.get("kafka_enqueued"), 7);
    assert_eq!(done.get("drop_kafka_queue"), records - 7);
    assert_eq!(done.get("kafka_undelivered_at_exit"), 7);
    assert_eq!(done.get("kafka_failed_purged"), 7);
    assert_eq!(done.get("kafka_delivered"), 0);
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
    assert_eq!(done.code, Some(0), "{}", done.stderr.join("\n"));
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
    assert_eq!(done.get("kafka_trimmed"), 0);
    let rec: serde_json::Value = serde_json::from_str(&line).unwrap();
    let body_len = rec["response"]["body"].as_str().unwrap().len() as u64;
    assert!(body_len >= 4_000_000, "body of {body_len} bytes");
    assert_eq!(rec["response"]["body_size"].as_u64(), Some(body_len));
    assert!(
        msg == line,
        "4 MB record differs between Kafka and the file"
    );

    let (done, line, msg) = big_body_run(&broker, &dir, 20_000_000, "body-20mb");
    assert_eq!(done.get("kafka_trimmed"), 1);
    assert_eq!(done.get("kafka_delivered"), 1);
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

/// tools/kafka/plain_peer.py, killed on drop.
struct PlainPeer(std::process::Child);

impl Drop for PlainPeer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let mut peer = PlainPeer(child);
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
    assert_eq!(done.code, Some(0), "{}", done.stderr.join("\n"));
    let seen = std::fs::read_to_string(&capture).expect("the peer saw no credentials");
    assert!(
        seen.lines().any(|l| l == "PLAIN\tapp\tplain-secret"),
        "captured: {seen:?}"
    );
    assert!(done.stderr_has("broker refused user 'app' (PLAIN)"));
    assert!(done.get("kafka_auth_errors") >= 1);
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
    let running = spawn(&env);
    let mut input = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::io::Write::write_all(&mut input, first).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    running.signal(libc::SIGTERM);
    // The file reader is blocked on the FIFO; closing it lets it see the end.
    drop(input);
    let done = running.wait(RUN_BOUND);
    assert_eq!(done.code, Some(0), "{}", done.stderr.join("\n"));
    let lines = read_lines(&jsonl);
    assert!(!lines.is_empty());
    assert_eq!(done.get("kafka_delivered"), lines.len() as u64);
    assert_eq!(done.get("kafka_undelivered_at_exit"), 0);
    assert_same_records(
        &broker.read_expecting("sigterm", lines.len()),
        &lines,
        "sigterm",
    );
}
