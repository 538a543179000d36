//! The configuration contract, over the real binary: every environment
//! variable accepts its documented forms and rejects others with exactly
//! one line (variable, value, accepted form) and exit code 2; defaults
//! are the product description's; the startup line names every parameter
//! and never shows the password.

use std::collections::BTreeSet;

use clap::CommandFactory;
use httpcap::config::cli::{Cli, EMPTY_TURNS_OFF};
use httpcap::config::Config;

use crate::common::{Finished, Run};

/// One variable: a value it must accept (with how the startup line shows
/// it) and a value it must reject (`None`: any string is valid).
struct Case {
    env: &'static str,
    valid: &'static str,
    shown: &'static str,
    invalid: Option<&'static str>,
}

const fn case(
    env: &'static str,
    valid: &'static str,
    shown: &'static str,
    invalid: Option<&'static str>,
) -> Case {
    Case {
        env,
        valid,
        shown,
        invalid,
    }
}

const CASES: &[Case] = &[
    case(
        "INPUT_RAW",
        "eth0:80,eth1:443",
        "eth0:80,eth1:443",
        Some(" "),
    ),
    case("INPUT_RAW_ENGINE", "pcap", "pcap", Some("netmap")),
    case("IPIP", "1", "true", Some("yes")),
    case(
        "REAL_IP_HEADER",
        "x-forwarded-for",
        "x-forwarded-for",
        Some("x real ip"),
    ),
    case(
        "INPUT_RAW_BPF_FILTER",
        "not (host 10.0.0.1 or net 192.168.0.0/24)",
        "'not (host 10.0.0.1 or net 192.168.0.0/24)'",
        None,
    ),
    case("PROCESSING_WORKERS", "20", "20", Some("0")),
    case("ASSEMBLER_WORKERS", "15", "15", Some("many")),
    case(
        "ASSEMBLER_WORKER_PKT_BUF",
        "50000",
        "50000",
        Some("4294967295"),
    ),
    case("ASSEMBLER_OUT_BUF", "10000", "10000", Some("0")),
    case("ASSEMBLER_FLUSH_INTERVAL", "250ms", "250ms", Some("2days")),
    case("ASSEMBLER_FLUSH_AGE", "1m", "1m", Some("1000000h")),
    case("ASSEMBLER_MAX_STREAM_BUFFER", "5mb", "5242880", Some("5xb")),
    case("BUFFER_CAP", "128KiB", "131072", Some("KiB")),
    case("HEAP_LIMIT", "8GiB", "8589934592", Some("0")),
    case("MAX_BODY_BYTES", "3MiB", "3145728", Some("3.5MiB")),
    case("MAX_HEADER_BYTES", "64KiB", "65536", Some("12")),
    case(
        "TLS_KEYLOG_FILE",
        "/run/keys/a.log,/run/keys/b.log",
        "/run/keys/a.log,/run/keys/b.log",
        Some("a.log,,b.log"),
    ),
    case("TLS_KEY_WAIT", "2s", "2s", Some("400d")),
    case("TLS_KEY_WAIT_BYTES", "1MiB", "1048576", Some("lots")),
    case("TLS_MAX_KEYS", "5000", "5000", Some("0")),
    case(
        "TLS_UPROBE_LIBS",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        Some("a.so,,b.so"),
    ),
    case("TLS_UPROBE_NETNS", "own", "own", Some("host")),
    case("TLS_UPROBE_RING_BYTES", "16MiB", "16777216", Some("3MiB")),
    case("TLS_UPROBE_SCAN_INTERVAL", "10s", "10s", Some("10ms")),
    case("OUTPUT_FILE", "/tmp/out.jsonl", "/tmp/out.jsonl", None),
    case(
        "OUTPUT_KAFKA_HOST",
        "broker-a:9092,broker-b:9092",
        "broker-a:9092,broker-b:9092",
        None,
    ),
    case(
        "OUTPUT_KAFKA_TOPIC",
        "team.http_logs",
        "team.http_logs",
        Some("bad topic!"),
    ),
    case("OUTPUT_KAFKA_USERNAME", "svc", "svc", None),
    case("OUTPUT_KAFKA_PASSWORD", "hunter2-secret", "***", None),
    case("OUTPUT_KAFKA_USE_SASL", "true", "true", Some("on")),
    case(
        "OUTPUT_KAFKA_SASL_MECH",
        "SCRAM-SHA-512",
        "SCRAM-SHA-512",
        Some("GSSAPI"),
    ),
    case("OUTPUT_KAFKA_TLS", "0", "false", Some("maybe")),
    case("OUTPUT_KAFKA_TLS_CA", "/etc/ca.pem", "/etc/ca.pem", None),
    case("OUTPUT_KAFKA_TLS_CERT", "/etc/c.pem", "/etc/c.pem", None),
    case("OUTPUT_KAFKA_TLS_KEY", "/etc/k.pem", "/etc/k.pem", None),
    case(
        "OUTPUT_KAFKA_COLLECTION_ID",
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
        None,
    ),
    case(
        "OUTPUT_KAFKA_MAX_MESSAGE_BYTES",
        "5mb",
        "5242880",
        Some("five"),
    ),
    case("OUTPUT_KAFKA_FLUSH_FREQUENCY", "50ms", "50ms", Some("1h")),
    case("OUTPUT_KAFKA_FLUSH_BYTES", "2mb", "2097152", Some("2zb")),
    case("OUTPUT_KAFKA_FLUSH_MESSAGES", "500", "500", Some("0")),
    case("OUTPUT_KAFKA_CHANNEL_BUF", "30000", "30000", Some("lots")),
    case("OUTPUT_KAFKA_PRODUCERS", "3", "3", Some("0")),
    case("OUTPUT_KAFKA_COMPRESSION", "zstd", "zstd", Some("brotli")),
    case(
        "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT",
        "30s",
        "30s",
        Some("1000000h"),
    ),
    case(
        "OUTPUT_KAFKA_OPTIONS",
        "linger.ms=5;client.id=edge-7",
        "'linger.ms=5;client.id=edge-7'",
        Some("no.such.property=1"),
    ),
    case(
        "METRICS_OUTPUT",
        "prometheus:127.0.0.1:9100",
        "prometheus:127.0.0.1:9100",
        Some("graphite"),
    ),
    case("METRICS_INTERVAL", "5s", "5s", Some("1ns")),
    case("VERBOSE", "5", "5", Some("6")),
    case("LOG_FORMAT", "json", "json", Some("xml")),
    case(
        "HEALTH_FILE",
        "/run/httpcap.json",
        "/run/httpcap.json",
        None,
    ),
    case(
        "FILTER_BLOCK_EXTS",
        "jpg,png,css,js",
        "jpg,png,css,js",
        Some("tar.gz"),
    ),
    case(
        "FILTER_BLOCK_CTYPES",
        "image/jpeg,image/png",
        "image/jpeg,image/png",
        Some("image/png;q=1"),
    ),
    case("FILTER_BLOCK_ACCEPT", "", "''", Some("png")),
    case(
        "FILTER_BLOCK_MULTIPART",
        "multipart/form-data",
        "multipart/form-data",
        Some("form-data"),
    ),
    case(
        "REDACT_HEADERS",
        "authorization,cookie,set-cookie,x-api-key",
        "authorization,cookie,set-cookie,x-api-key",
        Some("x api key"),
    ),
    case(
        "REDACT_JSON_FIELDS",
        "password,card_number",
        "password,card_number",
        Some("password,,pin"),
    ),
    case("REDACT_MODE", "mask", "mask", Some("encrypt")),
    case(
        "REDACT_HASH_KEY_FILE",
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/redact-hash.key"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/redact-hash.key"),
        Some("/nonexistent/httpcap-redact.key"),
    ),
];

/// Runs the binary with a clean environment plus `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> Finished {
    Run::new()
        .env_clear()
        .args(args)
        .envs(env.iter().copied())
        .output()
}

fn flag_of(env: &str) -> String {
    format!("--{}", env.to_ascii_lowercase().replace('_', "-"))
}

#[test]
fn table_covers_every_variable() {
    let table: BTreeSet<&str> = CASES.iter().map(|c| c.env).collect();
    let binary: BTreeSet<String> = Config::env_names().into_iter().collect();
    let binary: BTreeSet<&str> = binary.iter().map(|s| s.as_str()).collect();
    assert_eq!(table, binary, "the test table and the binary disagree");
}

#[test]
fn every_variable_accepts_its_forms() {
    for c in CASES {
        let out = run(&["check-config"], &[(c.env, c.valid)]);
        let stdout = out.stdout.as_str();
        assert!(
            out.status.success(),
            "{}={:?} rejected: {}",
            c.env,
            c.valid,
            out.stderr.as_str()
        );
        let want = format!(" {}={}", flag_of(c.env), c.shown);
        assert!(
            stdout.contains(&want),
            "{}: startup line lacks {want:?}: {stdout}",
            c.env
        );
    }
}

/// The flag form is the same contract as the variable.
#[test]
fn every_flag_accepts_its_forms() {
    for c in CASES {
        let arg = format!("{}={}", flag_of(c.env), c.valid);
        let out = run(&["check-config", &arg], &[]);
        assert!(
            out.status.success(),
            "{arg} rejected: {}",
            out.stderr.as_str()
        );
    }
}

/// A boolean flag alone means true, as before; with a value it takes the
/// variable's forms.
#[test]
fn boolean_flags_work_bare_and_with_a_value() {
    let on = run(&["check-config", "--ipip", "--output-kafka-tls"], &[]);
    let line = on.stdout.as_str();
    assert!(
        line.contains(" --ipip=true ") && line.contains(" --output-kafka-tls=true "),
        "{line}"
    );
    let off = run(&["check-config", "--ipip=0"], &[("IPIP", "true")]);
    assert!(off.stdout.as_str().contains(" --ipip=false "));
}

fn assert_one_line_rejection(out: &Finished, env: &str, value: &str) {
    let stderr = out.stderr.as_str();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{env}={value:?}: exit {:?}, stderr {stderr}",
        out.status
    );
    assert!(out.stdout.is_empty(), "{env}: nothing on stdout");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{env}={value:?}: not one line: {stderr}");
    let line = lines[0];
    assert!(line.contains(env), "{env}: line does not name it: {line}");
    assert!(
        line.contains(value.trim()),
        "{env}: line does not show the value {value:?}: {line}"
    );
    assert!(
        line.contains("expected"),
        "{env}: line does not give the accepted form: {line}"
    );
}

#[test]
fn every_variable_rejects_bad_values_in_one_line() {
    for c in CASES {
        let Some(bad) = c.invalid else { continue };
        let out = run(&["check-config"], &[(c.env, bad)]);
        assert_one_line_rejection(&out, c.env, bad);
    }
}

/// A real run (not check-config) rejects the same way, before doing anything.
#[test]
fn a_real_run_rejects_bad_values_the_same_way() {
    for (env, bad) in [
        ("HEAP_LIMIT", "16 GiB please"),
        ("PROCESSING_WORKERS", "0"),
        ("METRICS_OUTPUT", "statsd"),
    ] {
        let out = run(&[], &[(env, bad)]);
        assert_one_line_rejection(&out, env, bad);
    }
}

/// Sizes and durations have bounds: below and above them a value is
/// refused in one line that gives the range, and the bounds themselves
/// are accepted.
#[test]
fn sizes_and_durations_are_bounded() {
    for (env, bad) in [
        ("HEAP_LIMIT", "15MiB"),
        ("HEAP_LIMIT", "17TiB"),
        ("ASSEMBLER_WORKER_PKT_BUF", "1000001"),
        ("ASSEMBLER_FLUSH_INTERVAL", "0s"),
        ("ASSEMBLER_FLUSH_AGE", "25h"),
        ("METRICS_INTERVAL", "99ms"),
        ("METRICS_INTERVAL", "2d"),
        ("TLS_KEY_WAIT", "1000000h"),
    ] {
        let out = run(&["check-config"], &[(env, bad)]);
        assert_one_line_rejection(&out, env, bad);
    }
    for (env, good) in [
        ("ASSEMBLER_WORKER_PKT_BUF", "1000000"),
        ("ASSEMBLER_FLUSH_AGE", "1d"),
        ("METRICS_INTERVAL", "100ms"),
        ("OUTPUT_KAFKA_FLUSH_FREQUENCY", "0s"),
    ] {
        let out = run(&["check-config"], &[(env, good)]);
        assert!(
            out.status.success(),
            "{env}={good} rejected: {}",
            out.stderr.as_str()
        );
    }
    // The smallest HEAP_LIMIT, with a shard and bodies it can hold.
    let out = run(
        &["check-config"],
        &[
            ("HEAP_LIMIT", "16MiB"),
            ("PROCESSING_WORKERS", "1"),
            ("MAX_BODY_BYTES", "256KiB"),
        ],
    );
    assert!(out.status.success(), "{}", out.stderr.as_str());
}

/// A HEAP_LIMIT too small for the largest transaction MAX_BODY_BYTES
/// allows (its decoded bodies and record, README Memory) is refused in
/// one line that names MAX_BODY_BYTES and the smallest HEAP_LIMIT that
/// fits; that limit is then accepted.
#[test]
fn heap_limit_must_hold_the_largest_transaction() {
    let out = run(&["check-config"], &[("HEAP_LIMIT", "16MiB")]);
    assert_one_line_rejection(&out, "MAX_BODY_BYTES", "3145728");
    let line = out.stderr.as_str();
    let least = line
        .split("HEAP_LIMIT of at least ")
        .nth(1)
        .and_then(|rest| rest.split("MiB").next())
        .unwrap_or_else(|| panic!("no least HEAP_LIMIT in: {line}"));
    let least: u64 = least.parse().expect("a number of MiB");
    let fits = run(&["check-config"], &[("HEAP_LIMIT", &format!("{least}MiB"))]);
    assert!(fits.status.success(), "{}", fits.stderr.as_str());
    let short = run(
        &["check-config"],
        &[("HEAP_LIMIT", &format!("{}MiB", least - 1))],
    );
    assert_eq!(short.status.code(), Some(2), "{least} MiB is the least");
}

/// MAX_BODY_BYTES and BUFFER_CAP must fit in one shard's share of
/// HEAP_LIMIT (see config/memory.rs): refused at check-config and at a
/// real run, in one line naming both variables.
#[test]
fn body_sizes_must_fit_a_shards_share_of_the_heap_limit() {
    for (env, value) in [("MAX_BODY_BYTES", "8388608"), ("BUFFER_CAP", "8388608")] {
        // Small bodies and heads, so that the shards' transactions fit
        // (see heap_limit_must_hold_the_largest_transaction).
        let small = [("MAX_BODY_BYTES", "64KiB"), ("MAX_HEADER_BYTES", "4KiB")];
        let mut vars = vec![("HEAP_LIMIT", "16MiB"), ("PROCESSING_WORKERS", "4")];
        vars.extend(small.iter().filter(|(k, _)| *k != env));
        vars.push((env, value));
        for args in [&["check-config"][..], &[][..]] {
            let out = run(args, &vars);
            assert_one_line_rejection(&out, env, value);
            assert!(
                out.stderr.as_str().contains("HEAP_LIMIT"),
                "{}",
                out.stderr.as_str()
            );
        }
        // Fewer shards: each share is larger, and the value fits.
        let out = run(
            &["check-config"],
            &[
                ("HEAP_LIMIT", "1GiB"),
                ("PROCESSING_WORKERS", "1"),
                (env, value),
            ],
        );
        assert!(out.status.success(), "{env}: {}", out.stderr.as_str());
    }
}

/// Defaults, as the startup line shows them with nothing set. The
/// customer-specific values (broker, SASL user and switch, collection id)
/// are deliberately empty: the binary alone never contacts anything.
#[test]
fn defaults_are_the_contract() {
    let out = run(&["check-config"], &[]);
    assert!(out.status.success());
    let line = out.stdout.as_str();
    for (env, shown) in [
        ("INPUT_RAW", "eth0"),
        ("INPUT_RAW_ENGINE", "af_packet"),
        ("IPIP", "false"),
        ("REAL_IP_HEADER", "x-real-ip"),
        ("PROCESSING_WORKERS", "3"),
        ("ASSEMBLER_WORKERS", "5"),
        ("ASSEMBLER_WORKER_PKT_BUF", "30000"),
        ("ASSEMBLER_OUT_BUF", "30000"),
        ("ASSEMBLER_FLUSH_INTERVAL", "500ms"),
        ("ASSEMBLER_FLUSH_AGE", "5s"),
        ("ASSEMBLER_MAX_STREAM_BUFFER", "5242880"),
        ("BUFFER_CAP", "131072"),
        ("HEAP_LIMIT", "17179869184"),
        ("MAX_BODY_BYTES", "3145728"),
        ("MAX_HEADER_BYTES", "65536"),
        ("OUTPUT_KAFKA_HOST", "''"),
        ("OUTPUT_KAFKA_TOPIC", "apifort.httpcap_logs"),
        ("OUTPUT_KAFKA_USERNAME", "''"),
        ("OUTPUT_KAFKA_PASSWORD", "''"),
        ("OUTPUT_KAFKA_USE_SASL", "false"),
        ("OUTPUT_KAFKA_SASL_MECH", "SASL/PLAIN"),
        ("OUTPUT_KAFKA_COLLECTION_ID", "''"),
        ("OUTPUT_KAFKA_MAX_MESSAGE_BYTES", "5242880"),
        ("OUTPUT_KAFKA_FLUSH_FREQUENCY", "50ms"),
        ("OUTPUT_KAFKA_FLUSH_BYTES", "2097152"),
        ("OUTPUT_KAFKA_FLUSH_MESSAGES", "500"),
        ("OUTPUT_KAFKA_CHANNEL_BUF", "30000"),
        ("OUTPUT_KAFKA_PRODUCERS", "3"),
        ("OUTPUT_KAFKA_COMPRESSION", "snappy"),
        ("OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", "10s"),
        ("METRICS_OUTPUT", "console"),
        ("VERBOSE", "1"),
    ] {
        let want = format!(" {}={} ", flag_of(env), shown);
        assert!(
            line.contains(&want),
            "default of {env}: want {want:?} in {line}"
        );
    }
    assert!(line.contains("host 10.95.91.34"), "default BPF filter");
    assert!(line.contains("woff2"), "default extension filter");
}

/// The startup line of a real run names every parameter and never the password.
#[test]
fn startup_line_names_everything_and_hides_the_password() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample.pcap");
    let out = run(
        &[],
        &[
            ("INPUT_RAW_ENGINE", "pcap_file"),
            ("INPUT_RAW", sample),
            ("OUTPUT_KAFKA_PASSWORD", "hunter2-secret"),
            ("OUTPUT_KAFKA_USERNAME", "svc-user"),
            ("HEALTH_FILE", ""),
            ("METRICS_OUTPUT", "none"),
        ],
    );
    let stderr = out.stderr.as_str();
    let stdout = out.stdout.as_str();
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
    let line = stderr
        .lines()
        .find(|l| l.starts_with("httpcap --"))
        .expect("startup line");
    for env in Config::env_names() {
        assert!(
            line.contains(&format!(" {}=", flag_of(&env))),
            "startup line lacks {env}: {line}"
        );
    }
    assert!(line.contains("--output-kafka-password=***"));
    assert!(line.contains("--output-kafka-username=svc-user"));
}

/// `NAME=` is `NAME` unset: the default applies, for every variable but
/// those whose empty value turns something off (filters, health file).
#[test]
fn an_empty_variable_is_an_unset_one() {
    let unset = run(&["check-config"], &[]);
    assert!(unset.status.success());
    let unset = unset.stdout.clone();
    for name in Config::env_names() {
        let out = run(&["check-config"], &[(&name, "")]);
        let line = out.stdout.as_str();
        assert!(
            out.status.success(),
            "{name}= rejected: {}",
            out.stderr.as_str()
        );
        if EMPTY_TURNS_OFF.contains(&name.as_str()) {
            let off = format!(" {}='' ", flag_of(&name));
            assert!(
                format!("{} ", line.trim_end()).contains(&off),
                "{name}= must stay empty: {line}"
            );
        } else {
            assert_eq!(line, unset, "{name}= differs from {name} unset");
        }
    }
}

/// `OUTPUT_KAFKA_HOST=` leaves Kafka off: the records go to stdout and no
/// producer is created.
#[test]
fn an_empty_kafka_host_leaves_kafka_off() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample.pcap");
    let out = run(
        &[],
        &[
            ("INPUT_RAW_ENGINE", "pcap_file"),
            ("INPUT_RAW", sample),
            ("OUTPUT_KAFKA_HOST", ""),
            ("OUTPUT_FILE", ""),
            ("HEALTH_FILE", ""),
            ("METRICS_OUTPUT", "none"),
        ],
    );
    let stderr = out.stderr.as_str();
    assert!(out.status.success(), "{stderr}");
    let stdout = out.stdout.as_str();
    assert!(
        !crate::common::record_check::parse_lines(stdout).is_empty(),
        "records on stdout: {stderr}"
    );
    assert!(!stderr.contains("kafka output"), "{stderr}");
    // A blank value given some other way is an error, not Kafka without brokers.
    for (args, env) in [
        (&["check-config", "--output-kafka-host="][..], &[][..]),
        (&["check-config"][..], &[("OUTPUT_KAFKA_HOST", " ")][..]),
    ] {
        let out = run(args, env);
        assert_one_line_rejection(&out, "OUTPUT_KAFKA_HOST", "");
    }
}

/// Every option has help text and a section heading.
#[test]
fn every_option_has_help_and_a_heading() {
    for arg in Config::command().get_arguments() {
        let id = arg.get_id();
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        assert!(!help.trim().is_empty(), "{id} has no help");
        assert!(
            arg.get_help_heading().is_some_and(|h| !h.is_empty()),
            "{id} has no heading"
        );
    }
}

/// The subcommands are in `--help`, and `help SUBCOMMAND` describes each.
#[test]
fn subcommands_are_in_the_help() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let help = out.stdout.as_str();
    for sub in Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} is not in --help: {help}"
        );
        let out = run(&["help", name], &[]);
        assert!(out.status.success(), "httpcap help {name}");
        let text = out.stdout.as_str();
        assert!(
            text.contains(&format!("Usage: httpcap {name}")),
            "httpcap help {name}: {text}"
        );
    }
    for heading in [
        "Input:",
        "Performance:",
        "HTTP:",
        "Output:",
        "Kafka:",
        "Monitoring:",
        "Filters:",
        "Redaction:",
    ] {
        assert!(help.contains(heading), "{heading} missing: {help}");
    }
    // Options may come before or after the subcommand.
    let before = run(&["--processing-workers=9", "check-config"], &[]);
    let after = run(&["check-config", "--processing-workers=9"], &[]);
    assert!(before.status.success() && after.status.success());
    assert_eq!(before.stdout, after.stdout);
    assert!(after.stdout.as_str().contains(" --processing-workers=9 "));
}
