//! Conformance against Zeek: for every capture in the shared pcap corpus
//! that has a Zeek `http.log` oracle, run the real binary and compare each
//! transaction's method, host, uri, status code and body lengths.
//!
//! The committed scoreboard (`tests/conformance/scoreboard.tsv`) records,
//! per oracle, how many transactions we match and why the rest differ. The
//! test fails when any oracle scores below it (fewer matches, more extras).
//! `HTTPCAP_UPDATE_SCOREBOARD=1` rewrites the numbers, keeping the reasons.
//!
//! The corpus is third-party data and lives outside the repository:
//! `HTTPCAP_PCAPS`, else `../shared/pcaps` beside the checkout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The fields compared, in Zeek's spelling: method, host, uri,
/// status_code, request_body_len, response_body_len ("-" when unset).
type Key = [String; 6];

const SCOREBOARD: &str = "tests/conformance/scoreboard.tsv";

fn corpus() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HTTPCAP_PCAPS").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps")),
        Some(PathBuf::from("/work/shared/pcaps")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

/// Every `http.log` under a `<capture>.oracle/<test>/` directory.
fn oracles(root: &Path) -> Vec<(PathBuf, PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "http.log") {
                let test_dir = p.parent().expect("log has a parent");
                let oracle_dir = test_dir.parent().expect("test dir has a parent");
                let Some(capture) = oracle_dir
                    .to_str()
                    .and_then(|s| s.strip_suffix(".oracle"))
                    .map(PathBuf::from)
                else {
                    continue;
                };
                if !capture.is_file() {
                    continue;
                }
                let rel = capture
                    .strip_prefix(root)
                    .unwrap_or(&capture)
                    .display()
                    .to_string();
                let test = test_dir.file_name().unwrap().to_string_lossy();
                out.push((capture, p.clone(), format!("{rel}#{test}")));
            }
        }
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

/// Reads a Zeek ASCII log into one key per transaction.
fn read_zeek(path: &Path) -> Vec<Key> {
    let text = std::fs::read_to_string(path).expect("read oracle");
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(String::from).collect();
            continue;
        }
        if line.starts_with("ts\tuid\t") {
            // Some baselines carry the field names without the '#fields' tag.
            fields = line.split('\t').map(String::from).collect();
            continue;
        }
        if line.starts_with('#') || line.is_empty() || fields.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let get = |name: &str| -> String {
            fields
                .iter()
                .position(|f| f == name)
                .and_then(|i| cols.get(i))
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into())
        };
        let len = |name: &str| -> String {
            let v = get(name);
            if v == "-" {
                "0".into()
            } else {
                v
            }
        };
        let uri = get("uri");
        rows.push([
            get("method"),
            get("host"),
            if uri == "(empty)" { String::new() } else { uri },
            get("status_code"),
            len("request_body_len"),
            len("response_body_len"),
        ]);
    }
    rows
}

/// Our record, in the oracle's terms.
fn key_of(rec: &serde_json::Value) -> Key {
    let req = &rec["request"];
    let resp = &rec["response"];
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => "-".into(),
    };
    let size = |m: &serde_json::Value| match &m["body_size"] {
        serde_json::Value::Number(n) => n.to_string(),
        _ => "0".into(),
    };
    [
        s(&req["method"]),
        s(&req["headers"]["host"]),
        unescape(&s(&req["target"])),
        s(&resp["status"]),
        size(req),
        size(resp),
    ]
}

/// Zeek logs the URI with %XX escapes decoded.
fn unescape(uri: &str) -> String {
    let b = uri.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Run {
    records: Vec<Key>,
    stderr: String,
}

fn run_engine(capture: &Path) -> Result<Run, String> {
    let bin = env!("CARGO_BIN_EXE_httpcap");
    let ipip = capture.components().any(|c| c.as_os_str() == "tunnels");
    let mut child = Command::new(bin)
        .args(["--input-raw-engine", "pcap_file", "--input-raw"])
        .arg(capture)
        .args(["--input-raw-bpf-filter", "", "--processing-workers", "2"])
        .args(["--metrics-output", "none"])
        .env("IPIP", if ipip { "true" } else { "false" })
        .env("FILTER_BLOCK_EXTS", "")
        .env("FILTER_BLOCK_CTYPES", "")
        .env("FILTER_BLOCK_ACCEPT", "")
        .env("FILTER_BLOCK_MULTIPART", "")
        .env_remove("OUTPUT_KAFKA_HOST")
        .env_remove("OUTPUT_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn httpcap");
    // A hang guard, not a timing assertion: a stalled engine must not
    // stall CI.
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_t = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{}: httpcap did not finish", capture.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_t.join().unwrap();
    let stderr = err_t.join().unwrap();
    if !status.success() {
        let last = stderr.lines().last().unwrap_or("").to_string();
        return Err(format!("httpcap failed ({status}): {last}"));
    }
    let mut records = Vec::new();
    for l in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(l).map_err(|e| format!("record is not JSON: {e}: {l}"))?;
        records.push(key_of(&v));
    }
    Ok(Run { records, stderr })
}

#[derive(Clone, Debug, Default)]
struct Score {
    expected: usize,
    matched: usize,
    missing: usize,
    extra: usize,
    reason: String,
}

/// Multiset comparison: each oracle row may be matched by one record.
fn compare(expected: &[Key], got: &[Key]) -> (usize, Vec<Key>, Vec<Key>) {
    let mut left: Vec<Option<&Key>> = got.iter().map(Some).collect();
    let mut missing = Vec::new();
    let mut matched = 0;
    for e in expected {
        match left.iter_mut().find(|g| g.is_some_and(|g| g == e)) {
            Some(slot) => {
                *slot = None;
                matched += 1;
            }
            None => missing.push(e.clone()),
        }
    }
    let extra = left.into_iter().flatten().cloned().collect();
    (matched, missing, extra)
}

fn read_scoreboard(path: &Path) -> BTreeMap<String, Score> {
    let mut m = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return m;
    };
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let c: Vec<&str> = line.splitn(6, '\t').collect();
        if c.len() < 5 {
            continue;
        }
        let n = |i: usize| c[i].trim().parse().unwrap_or(0);
        m.insert(
            c[0].to_string(),
            Score {
                expected: n(1),
                matched: n(2),
                missing: n(3),
                extra: n(4),
                reason: c.get(5).unwrap_or(&"").to_string(),
            },
        );
    }
    m
}

fn write_scoreboard(path: &Path, rows: &BTreeMap<String, Score>) {
    let mut s = String::from(
        "# Conformance with Zeek's http.log (method, host, uri, status_code,\n\
         # request_body_len, response_body_len). Written by tests/conformance.rs\n\
         # with HTTPCAP_UPDATE_SCOREBOARD=1; the reason column is kept by hand.\n\
         # oracle\texpected\tmatched\tmissing\textra\treason\n",
    );
    for (name, r) in rows {
        s.push_str(&format!(
            "{name}\t{}\t{}\t{}\t{}\t{}\n",
            r.expected, r.matched, r.missing, r.extra, r.reason
        ));
    }
    std::fs::write(path, s).expect("write scoreboard");
}

fn fmt_key(k: &Key) -> String {
    k.join(" | ")
}

#[test]
fn zeek_http_log_scoreboard() {
    let Some(root) = corpus() else {
        println!("SKIPPED: shared pcap corpus absent (set HTTPCAP_PCAPS)");
        return;
    };
    let board_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCOREBOARD);
    let committed = read_scoreboard(&board_path);
    let mut now: BTreeMap<String, Score> = BTreeMap::new();
    let mut failures = Vec::new();
    println!(
        "{:<90} {:>8} {:>7} {:>7} {:>5}",
        "oracle", "expected", "matched", "missing", "extra"
    );
    for (capture, log, name) in oracles(&root) {
        let expected = read_zeek(&log);
        let run = match run_engine(&capture) {
            Ok(r) => r,
            Err(e) => {
                println!("    error: {e}");
                Run {
                    records: Vec::new(),
                    stderr: e,
                }
            }
        };
        let (matched, missing, extra) = compare(&expected, &run.records);
        let reason = committed
            .get(&name)
            .map(|s| s.reason.clone())
            .unwrap_or_default();
        let score = Score {
            expected: expected.len(),
            matched,
            missing: missing.len(),
            extra: extra.len(),
            reason,
        };
        println!(
            "{:<90} {:>8} {:>7} {:>7} {:>5}",
            name, score.expected, score.matched, score.missing, score.extra
        );
        for k in &missing {
            println!("    missing: {}", fmt_key(k));
        }
        for k in &extra {
            println!("    extra:   {}", fmt_key(k));
        }
        if std::env::var_os("HTTPCAP_CONFORMANCE_STDERR").is_some() {
            println!("{}", run.stderr);
        }
        match committed.get(&name) {
            Some(c) if score.matched < c.matched || score.extra > c.extra => {
                failures.push(format!(
                    "{name}: matched {} (was {}), extra {} (was {})",
                    score.matched, c.matched, score.extra, c.extra
                ))
            }
            Some(_) => {}
            None => failures.push(format!("{name}: not in the scoreboard")),
        }
        now.insert(name, score);
    }
    let total: usize = now.values().map(|s| s.expected).sum();
    let matched: usize = now.values().map(|s| s.matched).sum();
    let extra: usize = now.values().map(|s| s.extra).sum();
    println!(
        "total: {} oracles, {total} expected, {matched} matched, {extra} extra",
        now.len()
    );
    if std::env::var_os("HTTPCAP_UPDATE_SCOREBOARD").is_some() {
        write_scoreboard(&board_path, &now);
        return;
    }
    assert!(
        failures.is_empty(),
        "below the committed scoreboard:\n{}",
        failures.join("\n")
    );
}
