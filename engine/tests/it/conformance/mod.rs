//! Conformance against the oracles stored beside the shared public
//! captures: Zeek's `http.log`, Arkime's session baselines and
//! suricata-verify's eve.json checks. For every capture with an oracle we
//! run the real binary and compare what both saw.
//!
//! The committed scoreboards (`tests/conformance/*.tsv`) record, per
//! oracle, how many expectations we match and why the rest differ. A test
//! fails when any oracle scores below its board (fewer matches, more
//! extras). `HTTPCAP_UPDATE_SCOREBOARD=1` rewrites the numbers, keeping
//! the reasons.
//!
//! The corpus is third-party data and lives outside the repository:
//! `HTTPCAP_PCAPS`, else `../shared/pcaps` beside the checkout. Without it
//! every test here prints SKIPPED and passes.

mod board;
mod raw_bodies;
mod suricata;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use board::*;

/// The fields compared, in Zeek's spelling: method, host, uri,
/// status_code, request_body_len, response_body_len ("-" when unset).
type Key = [String; 6];

const SCOREBOARD: &str = "tests/conformance/scoreboard.tsv";

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
    // A response without a status line (HTTP/0.9's answer, status null)
    // is status 0 in Zeek's log; "-" is for no response at all.
    let status = match &resp["status"] {
        serde_json::Value::Null if resp.is_object() => "0".into(),
        v => s(v),
    };
    [
        s(&req["method"]),
        s(&req["headers"]["host"]),
        unescape(&s(&req["target"])),
        status,
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

fn fmt_key(k: &Key) -> String {
    k.join(" | ")
}

#[test]
fn zeek_http_log_scoreboard() {
    let Some((root, mut board)) = Board::open(SCOREBOARD) else {
        return;
    };
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
                    values: Vec::new(),
                    stderr: e,
                }
            }
        };
        let records: Vec<Key> = run.values.iter().map(key_of).collect();
        let (matched, missing, extra) = compare(&expected, &records);
        println!(
            "{:<90} {:>8} {:>7} {:>7} {:>5}",
            name,
            expected.len(),
            matched,
            missing.len(),
            extra.len()
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
        board.score(name, expected.len(), matched, missing.len(), extra.len());
    }
    let now = &board.now;
    let total: usize = now.values().map(|s| s.expected).sum();
    let matched: usize = now.values().map(|s| s.matched).sum();
    let extra: usize = now.values().map(|s| s.extra).sum();
    println!(
        "total: {} oracles, {total} expected, {matched} matched, {extra} extra",
        now.len()
    );
    board.settle("Conformance with Zeek's http.log: transactions matching on method, host, uri, status_code, request_body_len, response_body_len.");
}

// ---- Arkime ----------------------------------------------------------
//
// Arkime's test baselines describe each session (connection) by sets of
// facts: methods, hosts, host+target URIs, status codes and the MD5 of
// each body. We derive the same facts from our records, per capture, and
// score the overlap. The MD5s check bodies byte for byte after
// de-chunking. Arkime hashes a body as captured, before its
// Content-Encoding is undone (a gzip body's `bodyMagic` is
// `application/x-gzip`), while records hold decoded bodies: a body the
// record shows decoded (`content_encoding` set) is hashed as captured
// instead, from `raw_bodies`.

const ARKIME_SCOREBOARD: &str = "tests/conformance/arkime.tsv";

fn arkime_oracles(root: &Path) -> Vec<(PathBuf, PathBuf, String)> {
    let dir = root.join("arkime");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".pcap") else {
            continue;
        };
        let test = dir.join(format!("{name}.oracle/{stem}.test"));
        if test.is_file() {
            out.push((p.clone(), test, format!("arkime/{name}")));
        }
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

fn arkime_facts(test: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(test).expect("read oracle");
    let json = &text[text.find('{').unwrap_or(0)..];
    let v: serde_json::Value = serde_json::from_str(json).expect("oracle is JSON");
    let mut facts = BTreeSet::new();
    let empty = Vec::new();
    for s in v["sessions3"].as_array().unwrap_or(&empty) {
        let http = &s["body"]["http"];
        for (field, tag) in [
            ("method", "method"),
            ("host", "host"),
            ("uri", "uri"),
            ("statuscode", "status"),
            ("md5", "md5"),
        ] {
            for x in http[field].as_array().unwrap_or(&empty) {
                let val = match x {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let val = if tag == "host" {
                    val.to_ascii_lowercase()
                } else {
                    val
                };
                facts.insert(format!("{tag}:{val}"));
            }
        }
    }
    facts
}

fn record_facts(rec: &serde_json::Value, facts: &mut BTreeSet<String>) {
    use base64::Engine as _;
    let req = &rec["request"];
    let resp = &rec["response"];
    if let Some(m) = req["method"].as_str() {
        facts.insert(format!("method:{m}"));
    }
    // HTTP/2 requests name their host in `:authority`.
    let headers = &req["headers"];
    let host = headers["host"]
        .as_str()
        .or(headers[":authority"].as_str())
        .unwrap_or("");
    if !host.is_empty() {
        let h = host.to_ascii_lowercase();
        // Arkime records the host with and without its port.
        if let Some((name, _)) = h.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()) {
            facts.insert(format!("host:{name}"));
        }
        facts.insert(format!("host:{h}"));
    }
    if let Some(t) = req["target"].as_str() {
        facts.insert(format!("uri:{host}{t}"));
    }
    if let Some(s) = resp["status"].as_u64() {
        facts.insert(format!("status:{s}"));
    }
    for m in [req, resp] {
        let Some(body) = m["body"].as_str() else {
            continue;
        };
        if body.is_empty() || m["body_truncated"].as_bool() == Some(true) {
            continue;
        }
        if !m["content_encoding"].is_null() {
            // Hashed as captured (`raw_bodies::encoded_bodies`).
            continue;
        }
        let bytes = if m["body_encoding"] == "base64" {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap_or_default()
        } else {
            body.as_bytes().to_vec()
        };
        facts.insert(format!("md5:{}", md5_hex(&bytes)));
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    let digest = md5::Md5::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a record holds a body it decoded (a Content-Encoding undone).
fn decoded_body(rec: &serde_json::Value) -> bool {
    ["request", "response"]
        .iter()
        .any(|side| !rec[side]["content_encoding"].is_null() && rec[side].is_object())
}

#[test]
fn arkime_session_facts_scoreboard() {
    let Some((root, mut board)) = Board::open(ARKIME_SCOREBOARD) else {
        return;
    };
    for (capture, test, name) in arkime_oracles(&root) {
        let expected = arkime_facts(&test);
        let mut got = BTreeSet::new();
        match run_engine(&capture) {
            Ok(run) => {
                for v in &run.values {
                    record_facts(v, &mut got);
                }
                if run.values.iter().any(decoded_body) {
                    for body in raw_bodies::encoded_bodies(&capture) {
                        got.insert(format!("md5:{}", md5_hex(&body)));
                    }
                }
            }
            Err(e) => println!("    error: {e}"),
        }
        let matched = expected.intersection(&got).count();
        let missing: Vec<_> = expected.difference(&got).collect();
        let extra: Vec<_> = got.difference(&expected).collect();
        println!(
            "{:<50} {:>8} {:>7} {:>7} {:>5}",
            name,
            expected.len(),
            matched,
            missing.len(),
            extra.len()
        );
        for f in &missing {
            println!("    missing: {}", truncate(f));
        }
        for f in &extra {
            println!("    extra:   {}", truncate(f));
        }
        board.score(name, expected.len(), matched, missing.len(), extra.len());
    }
    let now = &board.now;
    let total: usize = now.values().map(|s| s.expected).sum();
    let matched: usize = now.values().map(|s| s.matched).sum();
    println!(
        "arkime total: {} captures, {total} facts, {matched} matched",
        now.len()
    );
    board.settle("Conformance with Arkime's session baselines: facts (method, host, uri, status, body MD5) per capture.");
}

/// Zeek's pending-state test: a client pipelines 1,000 requests and the
/// head of the first response is missing from the capture. Zeek logs
/// 1,000 transactions. httpcap must not shift the other 999 answers onto
/// the wrong requests silently: the first request goes without its
/// answer (`gap`), the rest pair in order and say the pairing rests on
/// the fewest lost responses (`pairing_uncertain`).
#[test]
fn a_response_lost_in_a_pipeline_is_not_paired_silently() {
    let Some(capture) =
        crate::common::pcaps::shared_pcap("zeek/http/1000-requests-one-dropped-response.pcap")
    else {
        return;
    };
    let run = run_engine(&capture).expect("httpcap runs");
    let flags = |r: &serde_json::Value| -> Vec<String> {
        r["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(String::from))
            .collect()
    };
    assert_eq!(run.values.len(), 1000, "Zeek logs 1,000 transactions");
    let lost: Vec<_> = run
        .values
        .iter()
        .filter(|r| r["response"].is_null())
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(flags(lost[0]), ["gap", "no_response"]);
    let paired = run.values.iter().filter(|r| !r["response"].is_null());
    for r in paired {
        assert_eq!(flags(r), ["pairing_uncertain"], "{r}");
        assert!(!r["request"].is_null());
    }
}
