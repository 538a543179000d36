//! HTTP/0.9 through the whole binary, on captures the tests write: a
//! request line without a version answered by raw bytes until the server
//! closes, a 0.9 request answered by nothing, one answered with a status
//! line, a raw answer cut at MAX_BODY_BYTES or by a hole, and real
//! HTTP/1.1 request lines cut across segments, which must never be taken
//! for 0.9.

use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::gen::{Gen, ACK, FIN_ACK, PSH_ACK, SYN};
use crate::common::{Run, Scratch};

const C: &str = "10.9.9.1";
const S: &str = "10.9.9.2";

/// One connection written segment by segment: each step is a client or
/// server segment, a server-side hole of some bytes, or a FIN.
enum Step<'a> {
    Client(&'a [u8]),
    Server(&'a [u8]),
    ServerHole(u32),
    ClientFin,
    ServerFin,
}

fn connection(g: &mut Gen, port: u16, steps: &[Step<'_>]) {
    let c: Ipv4Addr = C.parse().unwrap();
    let s: Ipv4Addr = S.parse().unwrap();
    let (mut cs, mut ss) = (1000u32, 5000u32);
    g.tcp(c, port, s, 80, cs, SYN, b"");
    g.tcp(s, 80, c, port, ss, SYN | ACK, b"");
    cs += 1;
    ss += 1;
    g.tcp(c, port, s, 80, cs, ACK, b"");
    for step in steps {
        match step {
            Step::Client(b) => {
                for chunk in b.chunks(1400) {
                    g.tcp(c, port, s, 80, cs, PSH_ACK, chunk);
                    cs += chunk.len() as u32;
                }
            }
            Step::Server(b) => {
                for chunk in b.chunks(1400) {
                    g.tcp(s, 80, c, port, ss, PSH_ACK, chunk);
                    ss += chunk.len() as u32;
                }
            }
            Step::ServerHole(n) => ss += n,
            Step::ClientFin => {
                g.tcp(c, port, s, 80, cs, FIN_ACK, b"");
                cs += 1;
            }
            Step::ServerFin => {
                g.tcp(s, 80, c, port, ss, FIN_ACK, b"");
                ss += 1;
            }
        }
    }
}

/// httpcap on `capture` (filters off), its records sorted by client port.
fn records(capture: &Path, env: &[(&str, &str)]) -> Vec<Value> {
    let done = Run::file(capture)
        .args(["--input-raw-bpf-filter", ""])
        .no_metrics()
        .envs(env.iter().copied())
        .output();
    assert!(done.status.success(), "httpcap failed: {}", done.stderr);
    let mut r = done.records;
    r.sort_by_key(|v| (v["conn"]["client_port"].as_u64(), v["id"].to_string()));
    r
}

fn flags(r: &Value) -> Vec<&str> {
    r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

#[test]
fn http09_exchanges_end_to_end() {
    let dir = Scratch::new("http09-e2e");
    let path = dir.0.join("http09.pcap");
    let mut g = Gen::new(&path);
    let page = b"<html>\r\n  a page from 1991\r\n</html>\r\n";
    // 1. Answered by raw bytes until the server's FIN (the server closes
    //    first, as an HTTP/0.9 server does).
    connection(
        &mut g,
        40001,
        &[
            Step::Client(b"GET /path\r\n"),
            Step::Server(&page[..10]),
            Step::Server(&page[10..]),
            Step::ServerFin,
            Step::ClientFin,
        ],
    );
    // 2. A 0.9 request answered by nothing.
    connection(
        &mut g,
        40002,
        &[
            Step::Client(b"GET /nothing\r\n"),
            Step::ClientFin,
            Step::ServerFin,
        ],
    );
    // 3. A server that answers a 0.9 line with a status line: read as the
    //    HTTP/1.0 response it is.
    connection(
        &mut g,
        40003,
        &[
            Step::Client(b"GET /old\n"),
            Step::Server(b"HTTP/1.0 404 Not Found\r\nContent-Length: 4\r\n\r\ngone"),
            Step::ServerFin,
            Step::ClientFin,
        ],
    );
    // 4. A real HTTP/1.1 request line cut across segments, the server
    //    answering only once the head is whole.
    connection(
        &mut g,
        40004,
        &[
            Step::Client(b"GET /spl"),
            Step::Client(b"it HTTP/1"),
            Step::Client(b".1\r\n"),
            Step::Client(b"Host: h\r\n\r\n"),
            Step::Server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            Step::ClientFin,
            Step::ServerFin,
        ],
    );
    // 5. A line that is no request (no known method): no record.
    connection(
        &mut g,
        40005,
        &[
            Step::Client(b"T /zeek.html\r\n"),
            Step::Server(b"bad method\n"),
            Step::ServerFin,
            Step::ClientFin,
        ],
    );
    drop(g);
    let r = records(&path, &[]);
    let ports: Vec<u64> = r
        .iter()
        .map(|v| v["conn"]["client_port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [40001, 40002, 40003, 40004], "{r:#?}");

    let raw = &r[0];
    assert_eq!(raw["request"]["method"], "GET");
    assert_eq!(raw["request"]["target"], "/path");
    assert_eq!(raw["request"]["version"], "HTTP/0.9");
    assert_eq!(raw["request"]["headers"], json!({}));
    assert_eq!(raw["request"]["host"], Value::Null);
    assert_eq!(raw["response"]["status"], Value::Null);
    assert_eq!(raw["response"]["reason"], Value::Null);
    assert_eq!(raw["response"]["version"], "HTTP/0.9");
    assert_eq!(raw["response"]["headers"], json!({}));
    assert_eq!(raw["response"]["body"], std::str::from_utf8(page).unwrap());
    assert_eq!(raw["response"]["body_size"], page.len());
    assert_eq!(raw["response"]["body_truncated"], false);
    assert_eq!(flags(raw), ["no_status_line"]);

    let nothing = &r[1];
    assert_eq!(nothing["request"]["target"], "/nothing");
    assert_eq!(nothing["request"]["version"], "HTTP/0.9");
    assert_eq!(nothing["response"], Value::Null);
    assert_eq!(flags(nothing), ["no_response"]);

    let status = &r[2];
    assert_eq!(status["request"]["version"], "HTTP/0.9");
    assert_eq!(status["response"]["status"], 404);
    assert_eq!(status["response"]["version"], "HTTP/1.0");
    assert_eq!(status["response"]["body"], "gone");
    assert!(flags(status).is_empty(), "{status}");

    let split = &r[3];
    assert_eq!(split["request"]["target"], "/split");
    assert_eq!(split["request"]["version"], "HTTP/1.1");
    assert_eq!(split["request"]["host"], "h");
    assert_eq!(split["response"]["status"], 200);
    assert!(flags(split).is_empty(), "{split}");
}

#[test]
fn http09_answer_is_bounded_and_marks_holes() {
    let dir = Scratch::new("http09-bounds");
    let path = dir.0.join("http09-bounds.pcap");
    let mut g = Gen::new(&path);
    let big: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    // Longer than MAX_BODY_BYTES: cut, its full size still counted.
    connection(
        &mut g,
        41001,
        &[
            Step::Client(b"GET /big\r\n"),
            Step::Server(&big),
            Step::ServerFin,
            Step::ClientFin,
        ],
    );
    // A hole in the answer: the bytes around it are kept, `gap` set.
    connection(
        &mut g,
        41002,
        &[
            Step::Client(b"GET /holed\r\n"),
            Step::Server(b"before-"),
            Step::ServerHole(500),
            Step::Server(b"-after"),
            Step::ServerFin,
            Step::ClientFin,
        ],
    );
    drop(g);
    let r = records(
        &path,
        &[("MAX_BODY_BYTES", "64KiB"), ("BUFFER_CAP", "16KiB")],
    );
    assert_eq!(r.len(), 2, "{r:#?}");

    let cut = &r[0];
    assert_eq!(cut["response"]["status"], Value::Null);
    assert_eq!(cut["response"]["body_truncated"], true);
    assert_eq!(cut["response"]["body_size"], big.len());
    assert_eq!(
        cut["response"]["body"].as_str().unwrap().as_bytes(),
        &big[..64 * 1024]
    );
    assert_eq!(flags(cut), ["no_status_line"]);

    let holed = &r[1];
    assert_eq!(holed["response"]["status"], Value::Null);
    assert_eq!(holed["response"]["body_size"], 7 + 500 + 6);
    let body = holed["response"]["body"].as_str().unwrap();
    assert!(body.starts_with("before-"), "{body:?}");
    let f = flags(holed);
    assert!(f.contains(&"gap") && f.contains(&"no_status_line"), "{f:?}");
}
