//! Every way metrics leave the process carries every counter, and the
//! numbers agree with the end-of-run summary: the Prometheus endpoint
//! (scraped over loopback after an in-process run), the console line and
//! the JSON line (from the binary).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use httpcap::config::Config;
use httpcap::metrics::Telemetry;
use httpcap::stats::{Counter, Gauge};

const BIN: &str = env!("CARGO_BIN_EXE_httpcap");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample.pcap");

/// Filters off, so every sample transaction becomes a record.
const ENV: &[(&str, &str)] = &[
    ("INPUT_RAW_ENGINE", "pcap_file"),
    ("INPUT_RAW", SAMPLE),
    ("PROCESSING_WORKERS", "2"),
    ("HEALTH_FILE", ""),
    ("METRICS_INTERVAL", "1h"),
    ("FILTER_BLOCK_EXTS", ""),
    ("FILTER_BLOCK_CTYPES", ""),
    ("FILTER_BLOCK_ACCEPT", ""),
    ("FILTER_BLOCK_MULTIPART", ""),
];

fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics listener");
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// `name=value` pairs from the summary's lines.
fn summary_values(summary: &str) -> BTreeMap<String, u64> {
    summary
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn prometheus_endpoint_has_every_counter_and_agrees_with_the_summary() {
    let mut args = vec!["httpcap".to_string()];
    for (k, v) in ENV {
        args.push(format!(
            "--{}={v}",
            k.to_ascii_lowercase().replace('_', "-")
        ));
    }
    args.push("--metrics-output=prometheus:127.0.0.1:0".into());
    args.push("--output-file=/dev/null".into());
    let cfg = Config::try_parse_from(&args).expect("config");
    cfg.validate().expect("valid");
    let mut telemetry = Telemetry::start(&cfg).expect("listener");
    let addr = telemetry.local_addr().expect("bound");
    let report = httpcap::runtime::run_with(&cfg, Arc::new(AtomicBool::new(false)), &mut telemetry)
        .unwrap_or_else(|_| panic!("run failed"));
    assert!(
        report.totals.get(Counter::Transactions) > 0,
        "the sample has transactions"
    );

    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    // Sum each metric over its shard labels.
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap();
        if series.contains("shard=") {
            *sums.entry(name.to_string()).or_default() += value.parse::<u64>().unwrap();
        }
    }
    let summary = summary_values(&report.summary);
    for c in Counter::ALL {
        let metric = format!("httpcap_{}_total", c.name());
        let got = sums
            .get(&metric)
            .unwrap_or_else(|| panic!("{metric} missing from /metrics"));
        assert_eq!(*got, report.totals.get(*c), "{metric} vs totals");
        assert_eq!(Some(got), summary.get(c.name()), "{metric} vs summary");
    }
    for g in Gauge::ALL {
        let metric = format!("httpcap_{}", g.name());
        assert!(sums.contains_key(&metric), "{metric} missing from /metrics");
    }
    for q in ["0.5", "0.99", "0.999"] {
        assert!(body.contains(&format!("httpcap_latency_us{{quantile=\"{q}\"}}")));
    }
    assert!(body.contains("httpcap_process_resident_bytes"));
    assert!(body.trim_end().ends_with("# EOF"));

    // Every metric the shipped Grafana dashboard queries exists.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../grafana/httpcap.json"
    ))
    .expect("grafana/httpcap.json");
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    let exported: std::collections::BTreeSet<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut rest = dashboard.as_str();
    while let Some(at) = rest.find("httpcap_") {
        rest = &rest[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if !name.ends_with('_') {
            assert!(exported.contains(name), "dashboard queries unknown {name}");
        }
        rest = &rest[end..];
    }

    // The run is over, so health says "done", which is healthy.
    let (status, health) = http_get(addr, "/health");
    assert_eq!(status, 200, "{health}");
    assert!(health.starts_with("healthy"));
}

fn run_binary(metrics: &str) -> (String, String) {
    let out = Command::new(BIN)
        .env_clear()
        .envs(ENV.iter().copied())
        .env("METRICS_OUTPUT", metrics)
        .output()
        .expect("run httpcap");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let summary = stderr[stderr.find("httpcap summary").expect("summary")..].to_string();
    (stderr, summary)
}

#[test]
fn console_line_has_every_counter_and_agrees_with_the_summary() {
    let (stderr, summary) = run_binary("console");
    let line = stderr
        .lines()
        .rfind(|l| l.contains(" metrics: "))
        .expect("a console metrics line at the end of the run");
    for part in [
        "pkts/s=",
        "Mbit/s=",
        "kernel_drops=",
        "streams=",
        "tx/s=",
        "kafka_queue=",
        "p50=",
        "p99=",
        "p999=",
    ] {
        assert!(line.contains(part), "console line lacks {part}: {line}");
    }
    let all = line.split_once(" | ").expect("counters after ' | '").1;
    let console: BTreeMap<&str, u64> = all
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k, v.parse().ok()?))
        })
        .collect();
    let summary = summary_values(&summary);
    for c in Counter::ALL {
        assert_eq!(
            console.get(c.name()),
            summary.get(c.name()),
            "{} differs between console and summary",
            c.name()
        );
    }
    for g in Gauge::ALL {
        assert!(console.contains_key(g.name()), "console lacks {}", g.name());
    }
}

#[test]
fn json_line_has_every_counter_and_agrees_with_the_summary() {
    let (stderr, summary) = run_binary("json");
    let line = stderr
        .lines()
        .rfind(|l| l.starts_with('{'))
        .expect("a JSON metrics line at the end of the run");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(v["done"], true);
    let summary = summary_values(&summary);
    for c in Counter::ALL {
        assert_eq!(
            v["counters"][c.name()].as_u64(),
            summary.get(c.name()).copied(),
            "{}",
            c.name()
        );
    }
    assert_eq!(v["per_shard"].as_array().map(|a| a.len()), Some(2));
    assert!(v["latency_us"]["p99"].is_u64());
}
