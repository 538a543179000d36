//! Kafka tests that need the sqlite-backed Tansu built from crates.io
//! (tools/kafka/scram-broker.sh): SASL/SCRAM, and a broker that keeps its
//! data when it is killed and restarted. Skipped, with the reason printed,
//! when that broker has not been built; .ci/run builds it.

use std::time::Duration;

use crate::common::kafka::*;

/// The sqlite Tansu stores batches as sent and cannot read snappy batches
/// back (fetch fails with UnexpectedType("Snappy")); codecs are covered by
/// kafka_e2e against the memory broker.
const CODEC: &str = "none";

fn scram_env(
    broker: &Broker,
    jsonl: &str,
    topic: &str,
    user: usize,
    password: &str,
) -> Vec<(String, String)> {
    let (name, _, mech) = SCRAM_USERS[user];
    let mut env = base_env(&sample_pcap(), jsonl, &broker.addr(), topic);
    set(&mut env, "OUTPUT_KAFKA_USE_SASL", "true");
    set(&mut env, "OUTPUT_KAFKA_SASL_MECH", mech);
    set(&mut env, "OUTPUT_KAFKA_USERNAME", name);
    set(&mut env, "OUTPUT_KAFKA_PASSWORD", password);
    set(&mut env, "OUTPUT_KAFKA_COMPRESSION", CODEC);
    env
}

#[test]
fn scram_right_password_delivers_with_sha256_and_sha512() {
    let Some(broker) = Broker::sqlite("scram_right_password", true, &["scram-256", "scram-512"])
    else {
        return;
    };
    let dir = Scratch::new("kafka-scram-ok");
    for (user, topic) in [(0, "scram-256"), (1, "scram-512")] {
        let jsonl = dir.path(&format!("{topic}.jsonl"));
        let env = scram_env(&broker, &jsonl, topic, user, SCRAM_USERS[user].1);
        let done = run(&env, RUN_BOUND);
        let lines = delivered_lines(&done, &jsonl, topic);
        assert_eq!(done.counter("kafka_auth_errors"), 0, "{topic}");
        assert!(!done.stderr_has("alice-secret") && !done.stderr_has("bob-secret"));
        assert_same_records(&broker.read_expecting(topic, lines.len()), &lines, topic);
    }
}

#[test]
fn scram_wrong_password_fails_clearly_and_is_counted() {
    let Some(broker) = Broker::sqlite("scram_wrong_password", true, &["scram-denied"]) else {
        return;
    };
    let dir = Scratch::new("kafka-scram-denied");
    let jsonl = dir.path("out.jsonl");
    let mut env = scram_env(&broker, &jsonl, "scram-denied", 0, "not-the-password");
    set(&mut env, "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", "3s");
    let running = spawn(&env);
    // The refusal is reported while records wait (before the shutdown bound).
    assert!(
        running.wait_for_line(
            "broker refused user 'alice' (SCRAM-SHA-256)",
            Duration::from_secs(60)
        ),
        "no refusal line"
    );
    let done = running.wait(RUN_BOUND);
    // No crash; exit code 3: records did not reach Kafka.
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    let records = read_lines(&jsonl).len() as u64;
    assert!(done.counter("kafka_auth_errors") >= 1);
    assert_eq!(done.counter("kafka_delivered"), 0);
    // Still queued at the shutdown bound: undelivered, not failed (the
    // default message.timeout.ms is far longer).
    assert_eq!(done.counter("kafka_undelivered_at_exit"), records);
    assert_eq!(done.counter("kafka_failed"), 0);
    let refusals = done
        .stderr
        .lines()
        .filter(|l| l.contains("broker refused"))
        .count();
    assert!(refusals <= 2, "one refusal line per shard, got {refusals}");
    assert!(done.stderr_has("SASL authentication"), "{}", done.stderr);
    assert!(
        !done.stderr_has("not-the-password"),
        "password leaked to the log"
    );
}

#[test]
fn broker_killed_mid_run_and_restarted_loses_nothing() {
    let Some(broker) = Broker::sqlite("broker_killed_mid_run", false, &["restart"]) else {
        return;
    };
    let dir = Scratch::new("kafka-restart");
    // The run goes on reading its FIFO while the broker is killed and
    // restarted.
    let mut run = half_fed(
        &dir,
        &broker.addr(),
        "restart",
        &[("OUTPUT_KAFKA_COMPRESSION", CODEC)],
    );
    let before = broker.settled("restart", Duration::from_secs(60)).len();
    assert!(before > 0, "nothing delivered before the kill");
    broker.kill();
    run.feed_rest_into_outage();
    broker.restart();
    let (done, lines) = run.finish();
    assert!(lines.len() > before, "records were produced after the kill");
    assert_eq!(done.counter("kafka_undelivered_at_exit"), 0);
    assert_eq!(done.counter("kafka_failed"), 0);
    assert_eq!(done.counter("kafka_delivered"), lines.len() as u64);
    assert_eq!(done.counter("kafka_enqueued"), lines.len() as u64);
    assert!(done.stderr_has("deliveries resumed"));
    assert_same_records(
        &broker.read_expecting("restart", lines.len()),
        &lines,
        "killed broker",
    );
}
