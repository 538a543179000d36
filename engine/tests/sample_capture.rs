//! The shipped sample capture against the access log nginx wrote while it
//! was recorded (tools/record-sample.sh): every API request nginx served
//! becomes one record, in order, with the same method, target and status;
//! the two static assets are filtered out.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// (method, target, status, body bytes sent) per access-log line, in the
/// log's format: addr conn conn_requests "request" status bytes ...
fn access_log() -> Vec<(String, String, u64, u64)> {
    let text = std::fs::read_to_string(testdata("sample.access.log")).unwrap();
    text.lines()
        .map(|line| {
            let mut quoted = line.split('"');
            let request = quoted.nth(1).unwrap();
            let mut after = quoted.next().unwrap().split_whitespace();
            let status = after.next().unwrap().parse().unwrap();
            let bytes = after.next().unwrap().parse().unwrap();
            let mut parts = request.split(' ');
            let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
            (method.to_string(), target.to_string(), status, bytes)
        })
        .collect()
}

fn records() -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_httpcap"))
        .args([
            "--input-raw-engine",
            "pcap_file",
            "--output-file",
            "-",
            "--input-raw-bpf-filter",
            "",
        ])
        .arg("--input-raw")
        .arg(testdata("sample.pcap"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut recs: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    recs.sort_by(|a, b| {
        a["request"]["ts"]
            .as_str()
            .cmp(&b["request"]["ts"].as_str())
    });
    recs
}

#[test]
fn records_match_nginx_access_log() {
    let log = access_log();
    assert_eq!(log.len(), 12);
    let api: Vec<_> = log
        .iter()
        .filter(|(_, t, _, _)| !t.starts_with("/static/"))
        .collect();
    let recs = records();
    assert_eq!(
        recs.len(),
        api.len(),
        "one record per API request, static assets dropped"
    );
    for ((method, target, status, sent), r) in api.iter().zip(&recs) {
        let (req, resp) = (&r["request"], &r["response"]);
        assert_eq!(req["method"], method.as_str());
        assert_eq!(req["target"], target.as_str());
        assert_eq!(resp["status"].as_u64(), Some(*status));
        assert_eq!(req["headers"]["x-real-ip"], "203.0.113.7");
        assert_eq!(r["flags"], Value::Array(vec![]), "{target}");
        // nginx counts bytes on the wire: compare plain Content-Length bodies only.
        let headers = &resp["headers"];
        if headers.get("content-length").is_some() && headers.get("content-encoding").is_none() {
            assert_eq!(resp["body_size"].as_u64(), Some(*sent), "{target}");
        }
    }
}
