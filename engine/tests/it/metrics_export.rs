//! What an operator sees: every way metrics leave the process carries
//! every counter and agrees with the end-of-run summary (the Prometheus
//! endpoint scraped over loopback after an in-process run, the console
//! line and the JSON line from the binary); logs at the right levels and,
//! with LOG_FORMAT=json, one JSON object per line; the summary's headline;
//! health after exit; and a real Prometheus scraping a live capture and
//! answering every panel query of the shipped Grafana dashboard.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use httpcap::config::Config;
use httpcap::metrics::Telemetry;
use httpcap::stats::{Counter, Gauge};

use crate::common::{KillOnDrop, Run, Scratch};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample.pcap");
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../grafana/httpcap.json");

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

/// `name=value` lines of the summary (it omits zero counters).
fn summary_values(summary: &str) -> BTreeMap<String, u64> {
    summary
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// One OpenMetrics sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn samples(body: &str) -> Vec<Sample> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample line");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("label");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            (name.to_string(), labels, value.parse().expect("value"))
        })
        .collect()
}

/// Sum of a metric's samples whose labels include `with`.
fn sum(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && with
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
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
    let redact = httpcap::http::redact::Redactor::from_config(&cfg).expect("redaction settings");
    let report = httpcap::runtime::run_with(
        &cfg,
        redact,
        Arc::new(AtomicBool::new(false)),
        &mut telemetry,
    )
    .unwrap_or_else(|_| panic!("run failed"));
    let transactions = report.totals.get(Counter::Transactions);
    assert!(transactions > 0, "the sample has transactions");

    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(body.trim_end().ends_with("# EOF"));
    let got = samples(&body);
    let summary = summary_values(&report.summary);
    for c in Counter::ALL {
        // Activity counters are metrics of their own, per shard; losses and
        // filters are reasons of one metric.
        let (metric, value) = if c.is_drop() {
            let kind = c.kind().label();
            let v = sum(
                &got,
                "httpcap_dropped_total",
                &[("reason", c.name()), ("kind", kind)],
            );
            (format!("httpcap_dropped_total{{reason={}}}", c.name()), v)
        } else if let Some((family, reason)) = c.cause() {
            let m = format!("httpcap_{family}_total");
            let v = sum(&got, &m, &[("reason", reason)]);
            (format!("{m}{{reason={reason}}}"), v)
        } else {
            let m = format!("httpcap_{}_total", c.name());
            let v = sum(&got, &m, &[]);
            assert!(
                got.iter()
                    .any(|(n, l, _)| n == &m && l.contains_key("shard")),
                "{m} has no shard label"
            );
            (m, v)
        };
        let value = value.unwrap_or_else(|| panic!("{metric} missing from /metrics")) as u64;
        assert_eq!(value, report.totals.get(*c), "{metric} vs totals");
        assert_eq!(
            value,
            summary.get(c.name()).copied().unwrap_or(0),
            "{metric} vs summary"
        );
    }
    for g in Gauge::ALL {
        let metric = format!("httpcap_{}", g.name());
        assert!(sum(&got, &metric, &[]).is_some(), "{metric} missing");
    }
    // Real histograms, in seconds: buckets up to +Inf holding every value.
    for (name, count) in [
        ("httpcap_latency_seconds", transactions),
        ("httpcap_transaction_duration_seconds", transactions),
    ] {
        let buckets: Vec<&Sample> = got
            .iter()
            .filter(|(n, _, _)| n == &format!("{name}_bucket"))
            .collect();
        assert!(buckets.len() > 5, "{name} has buckets");
        let inf = sum(&got, &format!("{name}_bucket"), &[("le", "+Inf")]).unwrap();
        assert_eq!(inf as u64, count, "{name} +Inf bucket");
        assert_eq!(sum(&got, &format!("{name}_count"), &[]), Some(count as f64));
        assert!(sum(&got, &format!("{name}_sum"), &[]).unwrap() > 0.0);
        // Cumulative: never decreasing along `le`.
        let values: Vec<f64> = buckets.iter().map(|(_, _, v)| *v).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sum(&got, "httpcap_build_info", &[("version", version)]),
        Some(1.0)
    );
    for m in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(sum(&got, m, &[]).is_some(), "{m} missing");
    }
    // Conventions: counters end in _total, no microseconds anywhere.
    for line in body.lines().filter(|l| l.starts_with("# TYPE ")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[3] == "counter" {
            assert!(
                got.iter().any(|(n, _, _)| n == &format!("{}_total", f[2])),
                "{line}"
            );
        }
        assert!(!f[2].ends_with("_us"), "{line}");
    }

    // Every metric the shipped Grafana dashboard queries exists.
    let dashboard = std::fs::read_to_string(DASHBOARD).expect("grafana/httpcap.json");
    let exported: BTreeSet<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
    for expr in panel_queries(&dashboard) {
        for name in metric_names(&expr) {
            assert!(
                exported.contains(name.as_str()),
                "dashboard queries unknown {name}"
            );
        }
    }

    // The run is over: health says so, and that is not healthy.
    let (status, health) = http_get(addr, "/health");
    assert_eq!(status, 503, "{health}");
    assert!(health.starts_with("unhealthy: done"), "{health}");
}

/// Every target query of every panel (rows included).
fn panel_queries(dashboard: &str) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        if let Some(panels) = v["panels"].as_array() {
            for p in panels {
                for t in p["targets"].as_array().into_iter().flatten() {
                    out.push(t["expr"].as_str().expect("expr").to_string());
                }
                walk(p, out);
            }
        }
    }
    let v: serde_json::Value = serde_json::from_str(dashboard).expect("dashboard is JSON");
    let mut out = Vec::new();
    walk(&v, &mut out);
    assert!(out.len() >= 10, "{out:?}");
    out
}

/// Metric names in a PromQL expression (ours and the process metrics).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find(|c: char| c.is_ascii_alphabetic()) {
        rest = &rest[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if word.starts_with("httpcap_") || word.starts_with("process_") {
            names.push(word.to_string());
        }
        rest = &rest[end..];
    }
    names
}

/// The binary with only `env` set; (exit status, stderr).
fn run_binary_with(env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let done = Run::new()
        .env_clear()
        .envs(env.iter().copied())
        .records_elsewhere()
        .output();
    (done.status, done.stderr)
}

fn run_binary(metrics: &str) -> (String, String) {
    let mut env = ENV.to_vec();
    env.push(("METRICS_OUTPUT", metrics));
    let (status, stderr) = run_binary_with(&env);
    assert!(status.success(), "{stderr}");
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
    assert!(line.contains(" INFO "), "metrics are INFO: {line}");
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
    // Both list the non-zero counters only.
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
    assert_eq!(v["target"], "metrics");
    let summary = summary_values(&summary);
    for c in Counter::ALL {
        assert_eq!(
            v["counters"][c.name()].as_u64(),
            Some(summary.get(c.name()).copied().unwrap_or(0)),
            "{}",
            c.name()
        );
    }
    assert_eq!(v["per_shard"].as_array().map(|a| a.len()), Some(2));
    assert!(v["latency_us"]["p99"].is_u64());
}

/// The sample with the shipped default filters (two transactions are
/// filtered by extension) and the given extra settings.
fn sample_env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![
        ("INPUT_RAW_ENGINE", "pcap_file"),
        ("INPUT_RAW", SAMPLE),
        ("PROCESSING_WORKERS", "2"),
        ("HEALTH_FILE", ""),
    ];
    env.extend_from_slice(extra);
    env
}

#[test]
fn json_log_format_makes_every_stderr_line_one_object() {
    for metrics in ["console", "json"] {
        let (status, stderr) = run_binary_with(&sample_env(&[
            ("LOG_FORMAT", "json"),
            ("METRICS_OUTPUT", metrics),
            ("METRICS_INTERVAL", "100ms"),
            // A loss, so a WARN event is among the lines.
            ("MAX_HEADER_BYTES", "64"),
        ]));
        assert!(status.success(), "{stderr}");
        let mut targets = BTreeSet::new();
        for line in stderr.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\nin:\n{stderr}"));
            assert!(v.is_object(), "{line}");
            assert!(
                v["timestamp"].is_string() && v["level"].is_string(),
                "{line}"
            );
            targets.insert(v["target"].as_str().unwrap_or_default().to_string());
        }
        for t in ["lifecycle", "metrics", "loss", "summary"] {
            assert!(
                targets.contains(t),
                "METRICS_OUTPUT={metrics}: no {t} line in:\n{stderr}"
            );
        }
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("\"message\":\"httpcap --input-raw")),
            "startup line as JSON:\n{stderr}"
        );
        let summary: serde_json::Value = serde_json::from_str(
            stderr
                .lines()
                .find(|l| l.contains("\"target\":\"summary\""))
                .unwrap(),
        )
        .unwrap();
        assert!(summary["records_written_json_lines"].is_u64(), "{summary}");
        if metrics == "console" {
            // The periodic numbers are fields, not text to parse.
            let m: serde_json::Value = serde_json::from_str(
                stderr
                    .lines()
                    .rfind(|l| l.contains("\"target\":\"metrics\""))
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(m["level"], "INFO");
            assert!(
                m["packets_per_s"].is_number() && m["latency_us_p99"].is_u64(),
                "{m}"
            );
            assert!(m["counters"].as_str().unwrap().contains("packets="), "{m}");
        }
        assert!(summary["dropped"]["http_header_too_large"].as_u64() > Some(0));
    }
}

#[test]
fn clean_capture_at_default_verbosity_logs_no_warning_or_error() {
    let (status, stderr) = run_binary_with(&sample_env(&[]));
    assert!(status.success(), "{stderr}");
    for line in stderr.lines() {
        assert!(
            !line.contains(" WARN ") && !line.contains(" ERROR "),
            "a clean run logged: {line}\nin:\n{stderr}"
        );
    }
    // Lifecycle and metrics are there, at INFO.
    assert!(stderr
        .lines()
        .any(|l| l.contains(" INFO lifecycle: shard started")));
    assert!(stderr.lines().any(|l| l.contains(" INFO metrics: ")));
    assert!(stderr.lines().any(|l| l.starts_with("httpcap --")));
    // The filtered transactions are counted, not warned about.
    assert!(summary_values(&stderr)["filter_ext"] > 0);

    // VERBOSE=0: warnings and errors only, so nothing but the summary.
    let (status, quiet) = run_binary_with(&sample_env(&[("VERBOSE", "0")]));
    assert!(status.success(), "{quiet}");
    assert!(quiet.starts_with("httpcap summary: "), "{quiet}");
}

#[test]
fn each_loss_is_one_warning_with_its_count() {
    // Heads over 64 bytes are skipped: a loss the operator should see.
    let (status, stderr) = run_binary_with(&sample_env(&[("MAX_HEADER_BYTES", "64")]));
    assert!(status.success(), "{stderr}");
    let lost = summary_values(&stderr)["http_header_too_large"];
    assert!(lost > 0);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(" WARN ")).collect();
    // One interval (the final one), so one line for this cause.
    assert_eq!(warnings.len(), 1, "{stderr}");
    let w = warnings[0];
    assert!(w.contains("reason=\"http_header_too_large\""), "{w}");
    assert!(w.contains(&format!("count={lost}")), "{w}");
    assert!(w.contains("intentional=false"), "{w}");
}

#[test]
fn summary_has_a_headline_and_no_counter_twice() {
    let (status, stderr) = run_binary_with(&sample_env(&[]));
    assert!(status.success(), "{stderr}");
    let summary = &stderr[stderr.find("httpcap summary").expect("summary")..];
    let values = summary_values(summary);
    let headline = summary.lines().next().unwrap();
    let records = values["records_out"];
    let filtered = values["filter_ext"];
    assert_eq!(
        headline,
        format!(
            "httpcap summary: {records} records written (json lines), {filtered} filtered, 0 dropped, 0 undelivered"
        )
    );
    let mut seen = BTreeSet::new();
    for line in summary.lines().skip(1) {
        let key = line.trim().split(['=', ':']).next().unwrap().to_string();
        assert!(seen.insert(key.clone()), "{key} printed twice:\n{summary}");
    }
    for c in Counter::ALL {
        // Listed exactly when non-zero.
        assert_eq!(
            values.contains_key(c.name()),
            values.get(c.name()).is_some_and(|v| *v > 0),
            "{}",
            c.name()
        );
    }
    assert!(values["packets"] > 0 && values["transactions"] > 0);
    assert!(seen.contains("latency_us") && seen.contains("duration_us"));
}

#[test]
fn health_after_exit_is_unhealthy() {
    let dir = Scratch::new("health");
    let file = dir.0.join("status.json");
    let file_s = file.to_str().unwrap();
    let mut env = sample_env(&[]);
    env.retain(|(k, _)| *k != "HEALTH_FILE");
    env.push(("HEALTH_FILE", file_s));
    let (status, stderr) = run_binary_with(&env);
    assert!(status.success(), "{stderr}");
    let health = |path: &str| {
        let out = Run::new()
            .arg("health")
            .env_clear()
            .env("HEALTH_FILE", path)
            .output();
        (out.code, out.stdout)
    };
    let (code, line) = health(file_s);
    assert_eq!(code, Some(1), "{line}");
    assert!(
        line.starts_with("unhealthy: done: the run has ended") && line.contains("exit status 0"),
        "{line}"
    );

    // A fresh "ok" status whose writer is gone is not healthy either.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    v["state"] = "ok".into();
    v["reason"] = "".into();
    v["exit_code"] = serde_json::Value::Null;
    v["pid"] = 4_194_305.into(); // above Linux's largest pid
    let orphan = dir.0.join("orphan.json");
    std::fs::write(&orphan, v.to_string()).unwrap();
    let (code, line) = health(orphan.to_str().unwrap());
    assert_eq!(code, Some(1), "{line}");
    assert!(line.starts_with("unhealthy: gone"), "{line}");
}

/// A real Prometheus scrapes a live af_packet capture of nginx traffic on
/// a veth in namespaces this test creates (everything on the namespace's
/// own loopback and veth), then every panel query of the dashboard is
/// evaluated through Prometheus's HTTP API and must return a series.
#[test]
fn real_prometheus_scrapes_live_capture_and_every_panel_has_data() {
    use crate::common::netns::{skip_without, Httpcap, Pair};
    if skip_without(&["prometheus"]) {
        return;
    }
    let mut pair = Pair::new(61, 1500);
    pair.start_nginx(&format!("{}:80", pair.ip_a));
    let metrics = "127.0.0.1:9464";
    let h = Httpcap::start(
        &pair,
        &[
            "--input-raw-engine",
            "af_packet",
            "--input-raw",
            &pair.va,
            "--processing-workers",
            "2",
            "--metrics-interval",
            "1s",
            "--metrics-output",
            &format!("prometheus:{metrics}"),
        ],
        &[("HEALTH_FILE", "")],
        2,
    );

    let prom_dir = pair.dir.join("prometheus");
    std::fs::create_dir_all(prom_dir.join("data")).unwrap();
    let config = prom_dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: httpcap\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let _prometheus = KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", &pair.a, "prometheus"])
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:9490")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(prom_dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus"),
    );
    let query = |expr: &str| -> serde_json::Value {
        let o = pair.exec_a(&format!(
            "curl -sf --data-urlencode 'query={}' http://127.0.0.1:9490/api/v1/query",
            expr.replace('\'', "'\\''")
        ));
        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
    };
    let traffic = || {
        pair.exec_b(&format!(
            "sh -c 'for i in 1 2 3 4 5; do curl -s -o /dev/null http://{}/api/item/$i; done'",
            pair.ip_a
        ));
    };
    // Grafana's variables, as Grafana would fill them.
    let dashboard = std::fs::read_to_string(DASHBOARD).expect("grafana/httpcap.json");
    let queries: Vec<String> = panel_queries(&dashboard)
        .into_iter()
        .map(|q| {
            q.replace("$__rate_interval", "1m")
                .replace("$instance", ".*")
        })
        .collect();
    // Traffic flows while Prometheus scrapes, until every query has data
    // (the bound only stops a hang; it measures nothing).
    let mut empty: Vec<String> = queries.clone();
    let started = std::time::Instant::now();
    while !empty.is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "queries without a series: {empty:#?}\nprometheus log:\n{}",
            std::fs::read_to_string(prom_dir.join("prometheus.log")).unwrap_or_default()
        );
        traffic();
        empty.retain(|q| {
            let r = query(q);
            r["status"] != "success" || r["data"]["result"].as_array().is_none_or(|a| a.is_empty())
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for q in &queries {
        let r = query(q);
        assert_eq!(r["status"], "success", "{q}: {r}");
        let series = r["data"]["result"].as_array().expect("vector");
        assert!(!series.is_empty(), "{q}: no series");
    }
    // The histograms arrive as buckets.
    let buckets = query("httpcap_latency_seconds_bucket");
    let les: BTreeSet<String> = buckets["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["metric"]["le"].as_str().map(str::to_string))
        .collect();
    assert!(les.contains("+Inf") && les.len() > 5, "{les:?}");
    let seen = query("sum(httpcap_latency_seconds_count)");
    let seen: f64 = seen["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seen > 0.0, "latency observations reached Prometheus");
    assert_eq!(
        query("httpcap_build_info")["data"]["result"][0]["metric"]["version"],
        env!("CARGO_PKG_VERSION")
    );

    // Capturing, packets flowing: healthy.
    let health = pair.exec_a(&format!("curl -s http://{metrics}/health"));
    let health = String::from_utf8_lossy(&health.stdout);
    assert!(health.starts_with("healthy"), "{health}");

    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    assert!(fin.counter("transactions") > 0);
}
