//! OUTPUT_KAFKA_* parameters -> librdkafka producer properties.
//!
//! A pure function of the configuration, so the mapping (SASL spellings, TLS
//! combinations, codec, batching) is unit-tested without a broker.

use crate::config::Config;

/// librdkafka's idempotent producer allows at most this many requests in
/// flight per broker connection while still guaranteeing order.
pub const MAX_IN_FLIGHT_IDEMPOTENT: u16 = 5;

/// Bytes reserved for Kafka's per-record framing (headers, varints, CRC
/// batch overhead) when fitting a record under MAX_MESSAGE_BYTES.
pub const RECORD_OVERHEAD: usize = 512;

/// Ordered list of librdkafka properties for one shard's producer.
pub fn producer_properties(cfg: &Config, shard: usize) -> Vec<(&'static str, String)> {
    let mut p: Vec<(&'static str, String)> = Vec::with_capacity(24);
    let hosts = cfg.output_kafka_host.as_deref().unwrap_or_default();
    p.push(("bootstrap.servers", normalize_hosts(hosts)));
    p.push(("client.id", format!("httpcap-shard-{shard}")));

    // Exactly-once per partition from this producer: retries cannot
    // duplicate or reorder a connection's records.
    p.push(("enable.idempotence", "true".into()));
    p.push(("acks", "all".into()));
    p.push((
        "max.in.flight.requests.per.connection",
        in_flight(cfg).to_string(),
    ));

    p.push((
        "compression.type",
        cfg.output_kafka_compression.as_str().into(),
    ));
    p.push(("linger.ms", linger_ms(cfg)));
    p.push((
        "batch.size",
        clamp_i32(cfg.output_kafka_flush_bytes).to_string(),
    ));
    p.push((
        "batch.num.messages",
        cfg.output_kafka_flush_messages.min(1_000_000).to_string(),
    ));
    p.push((
        "queue.buffering.max.messages",
        cfg.output_kafka_channel_buf.to_string(),
    ));
    // Both bounds count drops the same way (a full queue): the record count
    // is OUTPUT_KAFKA_CHANNEL_BUF, the bytes are this shard's slice of
    // HEAP_LIMIT (config::memory), so the queue stays inside the budget.
    let queue_kib = crate::config::memory::ShardMemory::of(cfg).output / 1024;
    p.push((
        "queue.buffering.max.kbytes",
        queue_kib.clamp(1, i32::MAX as u64).to_string(),
    ));
    p.push((
        "message.max.bytes",
        clamp_i32(cfg.output_kafka_max_message_bytes.max(1000)).to_string(),
    ));

    p.push(("security.protocol", security_protocol(cfg).into()));
    if cfg.output_kafka_use_sasl {
        // validate() rejects unknown mechanisms before we get here.
        let mech = cfg.sasl_mechanism().unwrap_or("PLAIN");
        p.push(("sasl.mechanism", mech.into()));
        p.push(("sasl.username", cfg.output_kafka_username.clone()));
        p.push(("sasl.password", cfg.output_kafka_password.clone()));
    }
    if cfg.output_kafka_tls {
        if let Some(ca) = non_empty(&cfg.output_kafka_tls_ca) {
            p.push(("ssl.ca.location", ca.into()));
        }
        if let Some(cert) = non_empty(&cfg.output_kafka_tls_cert) {
            p.push(("ssl.certificate.location", cert.into()));
        }
        if let Some(key) = non_empty(&cfg.output_kafka_tls_key) {
            p.push(("ssl.key.location", key.into()));
        }
    }
    // Connection churn during an outage is reported by our own state
    // machine; librdkafka's per-disconnect lines would repeat it.
    p.push(("log.connection.close", "false".into()));
    p
}

/// OUTPUT_KAFKA_PRODUCERS under thread-per-core: every shard owns exactly one
/// producer, so the parameter becomes the number of produce requests each
/// producer keeps in flight per broker (the parallelism several producers
/// sharing a channel used to give), capped by the idempotence limit.
pub fn in_flight(cfg: &Config) -> u16 {
    cfg.output_kafka_producers
        .clamp(1, MAX_IN_FLIGHT_IDEMPOTENT)
}

/// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
pub fn security_protocol(cfg: &Config) -> &'static str {
    match (cfg.output_kafka_use_sasl, cfg.output_kafka_tls) {
        (false, false) => "PLAINTEXT",
        (false, true) => "SSL",
        (true, false) => "SASL_PLAINTEXT",
        (true, true) => "SASL_SSL",
    }
}

/// Accepts `a:9092, b:9092` and `a:9092;b:9092` alike.
fn normalize_hosts(hosts: &str) -> String {
    hosts
        .split([',', ';', ' '])
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

fn linger_ms(cfg: &Config) -> String {
    let ms = cfg.output_kafka_flush_frequency.as_secs_f64() * 1000.0;
    // librdkafka accepts a fractional linger up to 900 s.
    let ms = ms.min(900_000.0);
    if ms.fract() == 0.0 {
        format!("{}", ms as u64)
    } else {
        format!("{ms:.3}")
    }
}

fn clamp_i32(v: u64) -> u64 {
    v.clamp(1, i32::MAX as u64)
}

fn non_empty(o: &Option<String>) -> Option<&str> {
    o.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Boolean parameters are flags on the command line (`--output-kafka-tls`).
    fn cfg(args: &[&str]) -> Config {
        let mut v = vec!["httpcap"];
        v.extend_from_slice(args);
        if !args.iter().any(|a| a.starts_with("--output-kafka-host")) {
            v.push("--output-kafka-host=127.0.0.1:19092");
        }
        let c = Config::try_parse_from(v).expect("parse");
        c.validate().expect("valid");
        c
    }

    fn get<'a>(p: &'a [(&'static str, String)], k: &str) -> Option<&'a str> {
        p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn plain_with_the_product_spelling() {
        let c = cfg(&[
            "--output-kafka-use-sasl",
            "--output-kafka-sasl-mech=SASL/PLAIN",
            "--output-kafka-username=app",
            "--output-kafka-password=pw",
        ]);
        let p = producer_properties(&c, 0);
        assert_eq!(get(&p, "security.protocol"), Some("SASL_PLAINTEXT"));
        assert_eq!(get(&p, "sasl.mechanism"), Some("PLAIN"));
        assert_eq!(get(&p, "sasl.username"), Some("app"));
        assert_eq!(get(&p, "sasl.password"), Some("pw"));
    }

    #[test]
    fn plain_bare_and_scram_spellings() {
        for (given, want) in [
            ("PLAIN", "PLAIN"),
            ("plain", "PLAIN"),
            ("SCRAM-SHA-256", "SCRAM-SHA-256"),
            ("scram-sha-512", "SCRAM-SHA-512"),
        ] {
            let mech = format!("--output-kafka-sasl-mech={given}");
            let c = cfg(&["--output-kafka-use-sasl", &mech]);
            assert_eq!(
                get(&producer_properties(&c, 0), "sasl.mechanism"),
                Some(want)
            );
        }
    }

    #[test]
    fn unknown_mechanism_is_a_config_error() {
        let c = Config::try_parse_from([
            "httpcap",
            "--output-kafka-host=h:1",
            "--output-kafka-sasl-mech=GSSAPI",
        ])
        .unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("OUTPUT_KAFKA_SASL_MECH"));
    }

    #[test]
    fn no_sasl_means_no_credentials_sent() {
        let c = cfg(&["--output-kafka-password=pw"]);
        let p = producer_properties(&c, 0);
        assert_eq!(get(&p, "security.protocol"), Some("PLAINTEXT"));
        assert_eq!(get(&p, "sasl.mechanism"), None);
        assert_eq!(get(&p, "sasl.password"), None);
    }

    #[test]
    fn tls_combinations() {
        let c = cfg(&[
            "--output-kafka-tls",
            "--output-kafka-tls-ca=/ca.pem",
            "--output-kafka-tls-cert=/c.pem",
            "--output-kafka-tls-key=/k.pem",
        ]);
        let p = producer_properties(&c, 0);
        assert_eq!(get(&p, "security.protocol"), Some("SSL"));
        assert_eq!(get(&p, "ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(get(&p, "ssl.certificate.location"), Some("/c.pem"));
        assert_eq!(get(&p, "ssl.key.location"), Some("/k.pem"));
        let c = cfg(&[
            "--output-kafka-tls",
            "--output-kafka-use-sasl",
            "--output-kafka-sasl-mech=SCRAM-SHA-512",
        ]);
        assert_eq!(
            get(&producer_properties(&c, 0), "security.protocol"),
            Some("SASL_SSL")
        );
    }

    #[test]
    fn batching_queue_and_codec() {
        let c = cfg(&[
            "--output-kafka-flush-frequency=50ms",
            "--output-kafka-flush-bytes=2mb",
            "--output-kafka-flush-messages=500",
            "--output-kafka-channel-buf=30000",
            "--output-kafka-compression=zstd",
            "--output-kafka-max-message-bytes=5mb",
            "--heap-limit=8GiB",
            "--processing-workers=4",
        ]);
        let p = producer_properties(&c, 3);
        // A quarter of the shard's 2 GiB share of HEAP_LIMIT.
        assert_eq!(get(&p, "queue.buffering.max.kbytes"), Some("524288"));
        assert_eq!(get(&p, "linger.ms"), Some("50"));
        assert_eq!(get(&p, "batch.num.messages"), Some("500"));
        assert_eq!(get(&p, "queue.buffering.max.messages"), Some("30000"));
        assert_eq!(get(&p, "compression.type"), Some("zstd"));
        assert_eq!(get(&p, "client.id"), Some("httpcap-shard-3"));
        assert_eq!(get(&p, "enable.idempotence"), Some("true"));
        let mb = c.output_kafka_max_message_bytes.to_string();
        assert_eq!(get(&p, "message.max.bytes"), Some(mb.as_str()));
        let fb = c.output_kafka_flush_bytes.to_string();
        assert_eq!(get(&p, "batch.size"), Some(fb.as_str()));
    }

    #[test]
    fn fractional_linger_and_host_lists() {
        let c = cfg(&[
            "--output-kafka-flush-frequency=1500us",
            "--output-kafka-host=a:1; b:2 ,c:3",
        ]);
        let p = producer_properties(&c, 0);
        assert_eq!(get(&p, "linger.ms"), Some("1.500"));
        assert_eq!(get(&p, "bootstrap.servers"), Some("a:1,b:2,c:3"));
    }

    #[test]
    fn producers_become_in_flight_requests() {
        assert_eq!(in_flight(&cfg(&["--output-kafka-producers=3"])), 3);
        assert_eq!(in_flight(&cfg(&["--output-kafka-producers=1"])), 1);
        assert_eq!(in_flight(&cfg(&["--output-kafka-producers=64"])), 5);
    }
}
