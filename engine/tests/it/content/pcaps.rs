//! Third-party captures with compressed bodies (read from the shared set,
//! never copied here). Where Zeek's log is in the set, its
//! `response_body_len` (the decoded size) is the oracle.

use std::path::Path;

use serde_json::Value;

use super::common::{body_bytes, run};
use crate::common::pcaps::shared_pcap;

/// `response_body_len` of every transaction in a Zeek http.log, in order.
fn zeek_response_lens(log: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(log).expect("zeek log");
    let fields: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .expect("#fields")
        .split('\t')
        .collect();
    let col = fields
        .iter()
        .position(|f| *f == "response_body_len")
        .expect("response_body_len");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            l.split('\t')
                .nth(col)
                .expect("column")
                .parse()
                .expect("number")
        })
        .collect()
}

fn responses(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter_map(|r| r.get("response").filter(|v| !v.is_null()))
        .collect()
}

/// Every response with a Content-Encoding was decoded, and its size
/// matches Zeek's.
fn check_against_zeek(pcap: &str, log: &str, want_coding: &str) {
    let Some(p) = shared_pcap(pcap) else { return };
    let log = p.parent().expect("dir").join(log);
    let run = run(&p, &[]);
    let want = zeek_response_lens(&log);
    let got = responses(&run.records);
    assert_eq!(got.len(), want.len(), "{pcap}: responses");
    let mut decoded = 0;
    for (r, len) in got.iter().zip(&want) {
        assert_eq!(r["body_size"], *len, "{pcap}: {r}");
        assert_eq!(body_bytes(r).len() as u64, *len, "{pcap}");
        assert_eq!(r["body_truncated"], false);
        if r["headers"]["content-encoding"].is_string() {
            assert_eq!(r["content_encoding"], want_coding, "{pcap}");
            decoded += 1;
        } else {
            assert!(r["content_encoding"].is_null());
        }
    }
    assert!(decoded > 0, "{pcap}: nothing was encoded");
    for r in &run.records {
        assert!(!flags(r).contains(&"body_decode_failed"), "{pcap}: {r}");
    }
    assert_eq!(run.counter("http_decoded"), decoded);
    assert_eq!(run.counter("http_decode_failed"), 0);
}

fn flags(r: &Value) -> Vec<&str> {
    r["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f.as_str())
        .collect()
}

#[test]
fn zeek_x_gzip() {
    check_against_zeek(
        "zeek/http/x-gzip.pcap",
        "x-gzip.pcap.oracle/scripts.base.protocols.http.x-gzip/http.log",
        "gzip",
    );
    if let Some(p) = shared_pcap("zeek/http/x-gzip.pcap") {
        let run = run(&p, &[]);
        assert_eq!(run.records[0]["response"]["body"], "Encoded gzip header");
    }
}

#[test]
fn zeek_deflate_without_zlib_header() {
    check_against_zeek(
        "zeek/http/missing-zlib-header.pcap",
        "missing-zlib-header.pcap.oracle/scripts.base.protocols.http.missing-zlib-header/http.log",
        "deflate",
    );
}

#[test]
fn zeek_pipelined_gzip() {
    check_against_zeek(
        "zeek/http/pipelined-requests.pcap",
        "pipelined-requests.pcap.oracle/scripts.base.protocols.http.http-pipelining/http.log",
        "gzip",
    );
}

/// A response's decoded body from a one-capture run.
fn only_decoded(pcap: &str, coding: &str, env: &[(&str, &str)]) -> Option<Vec<Vec<u8>>> {
    let p = shared_pcap(pcap)?;
    let run = run(&p, env);
    let bodies: Vec<Vec<u8>> = responses(&run.records)
        .into_iter()
        .filter(|r| r["content_encoding"] == coding)
        .map(body_bytes)
        .collect();
    assert!(!bodies.is_empty(), "{pcap}: no {coding} body decoded");
    assert_eq!(run.counter("http_decode_failed"), 0, "{pcap}");
    Some(bodies)
}

#[test]
fn gzip_json() {
    let Some(b) = only_decoded("zeek/http/get-gzip.pcap", "gzip", &[]) else {
        return;
    };
    let v: Value = serde_json::from_slice(&b[0]).expect("decoded body is JSON");
    assert_eq!(v["gzipped"], true);
}

#[test]
fn gzip_chunked_and_others() {
    if let Some(b) = only_decoded("arkime/http-syn-ack.pcap", "gzip", &[]) {
        assert!(b[0].starts_with(b"if (!Function.prototype.bind) {"));
        assert_eq!(b[0].len(), 37437);
    }
    if let Some(b) = only_decoded("arkime/http-content-gzip.pcap", "gzip", &[]) {
        assert!(b[0].starts_with(b"<?xml version=\"1.0\"?>"));
        assert!(b[0].trim_ascii_end().ends_with(b"</cross-domain-policy>"));
    }
    if let Some(b) = only_decoded("scapy/http_compressed.pcap", "gzip", &[]) {
        assert!(b[0].starts_with(b"<!DOCTYPE html"));
    }
    if let Some(b) = only_decoded("scapy/http_content_length.pcap", "gzip", &[]) {
        assert!(b[0].starts_with(b"<!doctype html>"));
        assert!(b[0].ends_with(b"</script>"));
        assert_eq!(b[0].len(), 11784);
    }
}

#[test]
fn brotli() {
    if let Some(b) = only_decoded("scapy/http_compressed-brotli.pcap", "br", &[]) {
        assert!(b[0].starts_with(b"This is a test file for testing brotli decompression in Wire"));
    }
    if let Some(b) = only_decoded("suricata-verify/http-brotli-ce/input.pcap", "br", &[]) {
        assert_eq!(b.len(), 2);
        let json = b[1].strip_prefix(b")]}'\n").expect("XSSI prefix");
        let v: Value = serde_json::from_slice(json).expect("JSON");
        assert!(v["update"]["promos"].is_object());
    }
}

#[test]
fn zstd() {
    if let Some(b) = only_decoded("scapy/http_compressed-zstd.pcap", "zstd", &[]) {
        assert!(b[0].starts_with(b"GET /tmp_echo_zstd_request_for_testing HTTP/1.1\r\n"));
    }
}

#[test]
fn real_ip_from_x_forwarded_for() {
    let Some(p) = shared_pcap("arkime/http-xff.pcap") else {
        return;
    };
    let r = run(&p, &[("REAL_IP_HEADER", "X-Forwarded-For")]);
    // Sent as "10.000.000.03"; Arkime reads it as 10.0.0.3 too.
    assert_eq!(r.records[0]["real_ip"], "10.0.0.3");
    assert_eq!(r.records[0]["conn"]["client_ip"], "10.0.0.1");
    let r = run(&p, &[]);
    assert!(r.records[0]["real_ip"].is_null());
}
