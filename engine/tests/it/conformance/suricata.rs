//! suricata-verify: each test directory holds a capture and, beside it,
//! `<capture>.oracle/test.yaml`, whose checks count the eve.json events
//! that match a few fields. We take the checks about HTTP transactions
//! (`event_type: http`) and about bodies (`event_type: fileinfo`), derive
//! the same events from our records, and count the matches.
//!
//! One scoreboard row per check: `expected` is the oracle's count,
//! `matched` how many of those we produce, `missing` and `extra` the
//! difference either way. Fields we have no equivalent for (a file's name
//! or hash) are left out of the match and printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use super::board::*;

const SCOREBOARD: &str = "tests/conformance/suricata.tsv";

/// One check: the event type, the fields to match and the expected count.
struct Check {
    event: String,
    fields: Vec<(String, String)>,
    ignored: Vec<String>,
    count: usize,
}

/// An eve event of ours, as field name → value (in eve's spelling).
type Event = BTreeMap<&'static str, String>;

/// The fields of each event type that our records can answer.
const HTTP_FIELDS: &[&str] = &[
    "http.url",
    "http.status",
    "http.hostname",
    "http.http_method",
    "http.protocol",
];
const FILE_FIELDS: &[&str] = &["fileinfo.size", "fileinfo.gaps", "fileinfo.state"];

/// Every `<capture>.oracle/test.yaml` under `suricata-verify/`.
fn oracles(root: &Path) -> Vec<(PathBuf, PathBuf, String)> {
    let dir = root.join("suricata-verify");
    let Ok(tests) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tests.flatten() {
        let Ok(files) = std::fs::read_dir(t.path()) else {
            continue;
        };
        for f in files.flatten() {
            let oracle = f.path().join("test.yaml");
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(capture) = name.strip_suffix(".oracle") else {
                continue;
            };
            let capture = t.path().join(capture);
            if oracle.is_file() && capture.is_file() {
                let label = format!("suricata-verify/{}", t.file_name().to_string_lossy());
                out.push((capture, oracle, label));
            }
        }
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The http and fileinfo checks of one test.yaml, in file order.
fn read_checks(path: &Path) -> Vec<Check> {
    let text = std::fs::read_to_string(path).expect("read test.yaml");
    let docs = YamlLoader::load_from_str(&text).expect("test.yaml is YAML");
    let mut out = Vec::new();
    let Some(checks) = docs.first().and_then(|d| d["checks"].as_vec()) else {
        return out;
    };
    for c in checks {
        let filter = &c["filter"];
        let (Some(count), Some(matches)) = (filter["count"].as_i64(), filter["match"].as_hash())
        else {
            continue;
        };
        let mut event = String::new();
        let mut fields = Vec::new();
        let mut ignored = Vec::new();
        for (k, v) in matches {
            let (Some(k), Some(v)) = (k.as_str(), scalar(v)) else {
                continue;
            };
            if k == "event_type" {
                event = v;
            } else if HTTP_FIELDS.contains(&k) || FILE_FIELDS.contains(&k) {
                fields.push((k.to_string(), v));
            } else {
                ignored.push(k.to_string());
            }
        }
        if event == "http" || event == "fileinfo" {
            out.push(Check {
                event,
                fields,
                ignored,
                count: count.max(0) as usize,
            });
        }
    }
    out
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Our records as eve events: one `http` event per transaction with a
/// request, one `fileinfo` event per non-empty body. A body is TRUNCATED
/// (Suricata's word) when a gap or the end of the capture cut it.
fn events_of(records: &[Value]) -> Vec<(&'static str, Event)> {
    let mut out = Vec::new();
    for r in records {
        let flags: Vec<&str> = r["flags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let gap = flags.contains(&"gap");
        let req = &r["request"];
        let resp = &r["response"];
        if req.is_object() {
            let mut e = Event::new();
            let put = |e: &mut Event, k: &'static str, v: Option<String>| {
                if let Some(v) = v {
                    e.insert(k, v);
                }
            };
            put(&mut e, "http.url", text(&req["target"]));
            put(&mut e, "http.http_method", text(&req["method"]));
            put(&mut e, "http.protocol", text(&req["version"]));
            let host = text(&req["headers"]["host"]).map(|h| strip_port(&h).to_string());
            put(&mut e, "http.hostname", host);
            put(&mut e, "http.status", text(&resp["status"]));
            out.push(("http", e));
        }
        for (msg, incomplete) in [(req, "request_incomplete"), (resp, "response_incomplete")] {
            let size = msg["body_size"].as_u64().unwrap_or(0);
            if size == 0 {
                continue;
            }
            let cut = gap || flags.contains(&incomplete);
            let mut e = Event::new();
            e.insert("fileinfo.size", size.to_string());
            e.insert("fileinfo.gaps", gap.to_string());
            e.insert(
                "fileinfo.state",
                if cut { "TRUNCATED" } else { "CLOSED" }.to_string(),
            );
            out.push(("fileinfo", e));
        }
    }
    out
}

/// eve's hostname has no port; an IPv6 literal loses its brackets.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(host);
    }
    match host.split_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn matching(events: &[(&'static str, Event)], check: &Check) -> usize {
    events
        .iter()
        .filter(|(kind, e)| {
            *kind == check.event
                && check
                    .fields
                    .iter()
                    .all(|(k, v)| e.get(k.as_str()).is_some_and(|ours| ours == v))
        })
        .count()
}

#[test]
fn suricata_verify_eve_checks_scoreboard() {
    let Some((root, mut board)) = Board::open(SCOREBOARD) else {
        return;
    };
    for (capture, oracle, label) in oracles(&root) {
        let checks = read_checks(&oracle);
        if checks.is_empty() {
            continue;
        }
        let events = match run_engine(&capture) {
            Ok(run) => events_of(&run.values),
            Err(e) => {
                println!("    error: {e}");
                Vec::new()
            }
        };
        for (i, check) in checks.iter().enumerate() {
            let name = format!("{label}#{}", i + 1);
            let got = matching(&events, check);
            let fields: Vec<String> = check
                .fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!(
                "{name:<45} {} {} expected {} got {got}{}",
                check.event,
                fields.join(" "),
                check.count,
                if check.ignored.is_empty() {
                    String::new()
                } else {
                    format!(" (not compared: {})", check.ignored.join(", "))
                }
            );
            board.score(
                name,
                check.count,
                got.min(check.count),
                check.count.saturating_sub(got),
                got.saturating_sub(check.count),
            );
        }
    }
    let now = &board.now;
    let total: usize = now.values().map(|s| s.expected).sum();
    let matched: usize = now.values().map(|s| s.matched).sum();
    let exact = now
        .values()
        .filter(|s| s.missing == 0 && s.extra == 0)
        .count();
    println!(
        "suricata-verify total: {} checks ({exact} exact), {total} events expected, {matched} matched",
        now.len()
    );
    board.settle("Conformance with suricata-verify's eve.json checks (http and fileinfo events), one row per check.");
}
