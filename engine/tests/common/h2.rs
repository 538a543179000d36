//! HTTP/2 live tests' shared side: the traffic programs in `tools/h2/`
//! (Python on Debian's python3-h2 and python3-grpcio), their JSON-lines
//! logs, what an HTTP/2 record is expected to hold (`format`, one small
//! function per field, so a change of the record's shape is made here
//! only), and the comparison of records with the programs' logs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Debian's interpreter, where python3-h2 and python3-grpcio are: not
/// whatever `python3` comes first on PATH (a pyenv shim, a venv).
pub const PYTHON: &str = "/usr/bin/python3";

/// A program of `tools/h2/`.
pub fn tool(name: &str) -> String {
    format!("{}/../tools/h2/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// True, after printing SKIPPED, when Debian's Python lacks one of
/// `modules` (from `package`, which tools/setup.sh installs).
pub fn missing_python(modules: &[&str], package: &str) -> bool {
    let ok = Command::new(PYTHON)
        .arg("-c")
        .arg(format!("import {}", modules.join(", ")))
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: {PYTHON} cannot import {modules:?} ({package}; tools/setup.sh)");
    }
    !ok
}

/// Every line of a JSON-lines log.
pub fn read_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Hex SHA-256, as the traffic programs log it.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the engine's HTTP/2 records hold, field by field (the design of
/// issue 13). A change of the record's shape is made here.
pub mod format {
    use base64::Engine as _;
    use serde_json::Value;

    /// `request.version` / `response.version` of HTTP/2 messages.
    pub const H2_VERSION: &str = "HTTP/2";
    /// The upgrade request of h2c (stream 1's request).
    pub const H1_VERSION: &str = "HTTP/1.1";

    /// Top-level `stream_id`, only on HTTP/2 records (also on the h2c
    /// upgrade's stream 1, whose response is HTTP/2).
    pub fn stream_id(r: &Value) -> Option<u64> {
        r["stream_id"].as_u64()
    }

    /// `request.method` (`:method`).
    pub fn method(r: &Value) -> Option<&str> {
        r["request"]["method"].as_str()
    }

    /// `request.target` (`:path`).
    /// `request.target`; empty when HPACK could not decode `:path`
    /// (flag `hpack_incomplete`), which counts as absent.
    pub fn target(r: &Value) -> Option<&str> {
        r["request"]["target"].as_str().filter(|t| !t.is_empty())
    }

    /// `request.host`: `:authority` when there is no host header.
    pub fn host(r: &Value) -> Option<&str> {
        r["request"]["host"].as_str()
    }

    /// `:authority`, kept in `request.headers`.
    pub fn authority_header(r: &Value) -> Option<&str> {
        r["request"]["headers"][":authority"].as_str()
    }

    /// `response.status` (`:status`).
    pub fn status(r: &Value) -> Option<u64> {
        r["response"]["status"].as_u64()
    }

    /// `response.interim_status`: 101 on the h2c upgrade's stream 1.
    pub fn interim_status(r: &Value) -> Option<u64> {
        r["response"]["interim_status"].as_u64()
    }

    pub fn request_version(r: &Value) -> Option<&str> {
        r["request"]["version"].as_str()
    }

    pub fn response_version(r: &Value) -> Option<&str> {
        r["response"]["version"].as_str()
    }

    /// `response.content_encoding`: the codings removed, e.g. "gzip".
    pub fn response_content_encoding(r: &Value) -> Option<&str> {
        r["response"]["content_encoding"].as_str()
    }

    /// `response.body_size`: the decoded size.
    pub fn response_body_size(r: &Value) -> Option<u64> {
        r["response"]["body_size"].as_u64()
    }

    /// A message's decoded body as the record gives it (base64 when
    /// `body_encoding` says so, else the string's UTF-8 bytes; none = empty).
    pub fn body(msg: &Value) -> Vec<u8> {
        let body = msg["body"].as_str().unwrap_or("");
        match msg["body_encoding"].as_str() {
            Some("base64") => base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("base64 body"),
            _ => body.as_bytes().to_vec(),
        }
    }

    pub fn request_body(r: &Value) -> Vec<u8> {
        body(&r["request"])
    }

    pub fn response_body(r: &Value) -> Vec<u8> {
        body(&r["response"])
    }

    pub fn has_flag(r: &Value, flag: &str) -> bool {
        r["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == flag))
    }

    /// A field in the response's headers or, for gRPC, its trailers
    /// (a Trailers-Only answer has `grpc-status` in its headers).
    pub fn response_header_or_trailer<'a>(r: &'a Value, name: &str) -> Option<&'a str> {
        r["response"]["trailers"][name]
            .as_str()
            .or_else(|| r["response"]["headers"][name].as_str())
    }

    /// The top-level `grpc` object, on records of application/grpc*.
    pub fn grpc(r: &Value) -> Option<&Value> {
        r.get("grpc").filter(|g| g.is_object())
    }

    pub fn grpc_service(g: &Value) -> Option<&str> {
        g["service"].as_str()
    }

    pub fn grpc_method(g: &Value) -> Option<&str> {
        g["method"].as_str()
    }

    /// Numeric status (0 = OK).
    pub fn grpc_status(g: &Value) -> Option<u64> {
        g["status"].as_u64()
    }

    /// The status message; None when null.
    pub fn grpc_message(g: &Value) -> Option<&str> {
        g["message"].as_str()
    }

    /// Each message of one direction, base64-decoded.
    fn grpc_messages(g: &Value, key: &str) -> Vec<Vec<u8>> {
        g[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        base64::engine::general_purpose::STANDARD
                            .decode(m.as_str().expect("gRPC message is a string"))
                            .expect("gRPC message is base64")
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn grpc_request_messages(g: &Value) -> Vec<Vec<u8>> {
        grpc_messages(g, "request_messages")
    }

    pub fn grpc_response_messages(g: &Value) -> Vec<Vec<u8>> {
        grpc_messages(g, "response_messages")
    }
}

/// One HTTP/2 exchange as both sides can tell it: from a traffic
/// program's log (`expected_*`) or from a record (`seen`). Compared as
/// sorted lists, so a mismatch shows both in full.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Exchange {
    pub stream_id: Option<u64>,
    pub method: Option<String>,
    pub target: Option<String>,
    pub status: Option<u64>,
    /// The coding removed from the response ("gzip"), if any.
    pub content_encoding: Option<String>,
    pub request_sha256: String,
    pub response_sha256: String,
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// A record as an `Exchange`.
pub fn seen(r: &Value) -> Exchange {
    Exchange {
        stream_id: format::stream_id(r),
        method: format::method(r).map(str::to_string),
        target: format::target(r).map(str::to_string),
        status: format::status(r),
        content_encoding: format::response_content_encoding(r).map(str::to_string),
        request_sha256: sha256(&format::request_body(r)),
        response_sha256: sha256(&format::response_body(r)),
    }
}

/// A line of h2_client.py's log (or h2c_server.py's, which has no
/// content coding) as an `Exchange`.
pub fn expected(line: &Value) -> Exchange {
    Exchange {
        stream_id: line["stream_id"].as_u64(),
        method: s(&line["method"]),
        target: s(&line["path"]),
        status: line["status"].as_u64(),
        content_encoding: s(&line["content_encoding"]),
        request_sha256: s(&line["request_sha256"]).expect("request_sha256"),
        response_sha256: s(&line["response_sha256"]).expect("response_sha256"),
    }
}

/// Records and log lines hold the same exchanges (each record's bodies
/// hashed as decoded), whatever their order.
pub fn assert_same_exchanges(records: &[Value], log: &[Value], what: &str) {
    let mut got: Vec<Exchange> = records.iter().map(seen).collect();
    let mut want: Vec<Exchange> = log.iter().map(expected).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{what}: records (left) vs log (right)");
}

/// (method, target, status) of records and of nginx's access log lines
/// are the same multiset; and where the answer was not content-coded,
/// the decoded body size is the bytes nginx sent.
pub fn assert_match_access_log(records: &[Value], access: &[(String, String, u16, u64)]) {
    let mut got: Vec<(String, String, u64)> = records
        .iter()
        .map(|r| {
            (
                format::method(r).unwrap_or("").to_string(),
                format::target(r).unwrap_or("").to_string(),
                format::status(r).unwrap_or(0),
            )
        })
        .collect();
    let mut want: Vec<(String, String, u64)> = access
        .iter()
        .map(|(m, u, st, _)| (m.clone(), u.clone(), u64::from(*st)))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "records (left) vs nginx access log (right)");
    for r in records {
        if format::response_content_encoding(r).is_some() {
            continue;
        }
        let key = (
            format::method(r).unwrap_or(""),
            format::target(r).unwrap_or(""),
        );
        let sent: Vec<u64> = access
            .iter()
            .filter(|(m, u, _, _)| (m.as_str(), u.as_str()) == key)
            .map(|a| a.3)
            .collect();
        assert!(
            sent.contains(&format::response_body_size(r).unwrap_or(u64::MAX)),
            "{key:?}: body_size {:?}, nginx sent {sent:?}",
            format::response_body_size(r)
        );
    }
}

/// One gRPC call as both sides can tell it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub service: Option<String>,
    pub method: Option<String>,
    pub status: Option<u64>,
    pub message: Option<String>,
    pub request_sha256: Vec<String>,
    pub response_sha256: Vec<String>,
}

/// A record's `grpc` object as a `Call`; None when it has none.
pub fn seen_call(r: &Value) -> Option<Call> {
    let g = format::grpc(r)?;
    Some(Call {
        service: format::grpc_service(g).map(str::to_string),
        method: format::grpc_method(g).map(str::to_string),
        status: format::grpc_status(g),
        message: format::grpc_message(g).map(str::to_string),
        request_sha256: format::grpc_request_messages(g)
            .iter()
            .map(|m| sha256(m))
            .collect(),
        response_sha256: format::grpc_response_messages(g)
            .iter()
            .map(|m| sha256(m))
            .collect(),
    })
}

/// A line of grpc_client.py's log as a `Call`.
pub fn expected_call(line: &Value) -> Call {
    let hashes = |k: &str| -> Vec<String> {
        line[k]
            .as_array()
            .expect(k)
            .iter()
            .map(|h| h.as_str().expect("hex").to_string())
            .collect()
    };
    Call {
        service: s(&line["service"]),
        method: s(&line["method"]),
        status: line["status"].as_u64(),
        message: s(&line["message"]),
        request_sha256: hashes("request_sha256"),
        response_sha256: hashes("response_sha256"),
    }
}
