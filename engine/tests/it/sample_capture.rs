//! The shipped sample capture against the access log nginx wrote while it
//! was recorded (tools/record-sample.sh): every API request nginx served
//! becomes one record, in order, with the same method, target and status;
//! the two static assets are filtered out. Also where the schema check
//! every test reads records through is shown to refuse broken records.

use serde_json::Value;

use crate::common::pcaps::testdata;
use crate::common::{record_check, Run};

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

/// The sample's records, content filters at their defaults.
fn records() -> Vec<Value> {
    let done = Run::file(testdata("sample.pcap"))
        .default_filters()
        .args(["--output-file", "-", "--input-raw-bpf-filter", ""])
        .output();
    done.assert_success();
    let mut recs = done.records;
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
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (Value::from(p), Value::from(q)),
            None => (Value::from(target.as_str()), Value::Null),
        };
        assert_eq!((&req["path"], &req["query"]), (&path, &query), "{target}");
        assert_eq!(req["host"], req["headers"]["host"], "{target}");
        assert_eq!(r["schema_version"], 3);
        assert_eq!(r["observer"]["interface"], "sample.pcap");
        assert_eq!(r["observer"]["version"], env!("CARGO_PKG_VERSION"));
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

/// A way of breaking a record.
type Breakage = fn(&mut Value);

/// The check every test's records go through bites: each way of breaking
/// the contract in a real record is refused, the record itself is not.
#[test]
fn schema_check_refuses_records_that_break_the_contract() {
    let good = records().remove(0);
    assert!(record_check::violations(&good).is_empty());
    let breakages: [(&str, Breakage); 9] = [
        ("set-cookie as a joined string", |r| {
            r["response"]["headers"]["set-cookie"] =
                "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT, b=2".into()
        }),
        ("no observer", |r| {
            r.as_object_mut().unwrap().remove("observer");
        }),
        ("another schema version", |r| r["schema_version"] = 1.into()),
        ("an undocumented field", |r| r["extra"] = true.into()),
        ("an undocumented request field", |r| {
            r["request"]["url"] = "/".into()
        }),
        ("a path that is a number", |r| {
            r["request"]["path"] = 3.into()
        }),
        ("no query member", |r| {
            r["request"].as_object_mut().unwrap().remove("query");
        }),
        ("an address that is not one", |r| {
            r["conn"]["client_ip"] = "10.77.0".into()
        }),
        ("a time that is not RFC 3339", |r| {
            r["request"]["ts"] = "yesterday".into()
        }),
    ];
    for (what, breakage) in breakages {
        let mut bad = good.clone();
        breakage(&mut bad);
        assert!(
            !record_check::violations(&bad).is_empty(),
            "the schema accepted a record with {what}"
        );
    }
    // A record whose first key is not "id" is refused when parsed.
    let mut line = serde_json::to_string(&good).unwrap();
    assert!(!line.starts_with("{\"id\""), "serde_json sorts keys");
    assert!(std::panic::catch_unwind(|| record_check::parse(&line)).is_err());
    line = format!("{{\"id\":{},{}", good["id"], &line[1..]);
    let reparsed: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(record_check::parse(&line), reparsed);
}

/// The record README.md shows consumers follows the schema too.
#[test]
fn readme_example_record_follows_the_schema() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = &readme[readme.find("## The record").expect("record section")..];
    let example = section
        .split("```json")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a JSON example");
    let record: Value = serde_json::from_str(example).expect("the example is JSON");
    record_check::validate(&record);
    assert!(example.trim_start().starts_with("{\n  \"id\""));
}
