//! HTTP/2 captured live (issue 13), from real implementations, in network
//! namespaces this test creates: nginx with `listen ... http2` (prior
//! knowledge) and hyper-h2 / grpcio programs (`tools/h2/`) in one
//! namespace, clients in the other, httpcap capturing on the veth between
//! them. Records are compared with what the clients and servers logged:
//! stream ids, methods, paths, statuses and SHA-256 of the decoded bodies
//! and of each gRPC message. What a record is expected to hold is in
//! `common::h2::format`.
//!
//! Needs root, ip, nginx, curl and Debian's python3-h2 and python3-grpcio
//! (tools/setup.sh installs them); prints SKIPPED otherwise.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common;
use common::h2::{self, format, PYTHON};
use common::netns::{must, wait_for, Httpcap, Pair};
use common::KillOnDrop;

const NGINX_PORT: &str = "8080";
const H2C_PORT: &str = "8081";
const GRPC_PORT: &str = "50051";

/// Live tests' preconditions plus Debian's Python `modules`.
fn skip(modules: &[&str], package: &str) -> bool {
    common::netns::skip_without(&["nginx", "curl"]) || h2::missing_python(modules, package)
}

/// Files nginx serves: small ones, a compressible text (gzipped when
/// asked), and a 200,000-byte binary that needs many WINDOW_UPDATEs
/// through the client's 16 KiB window.
fn write_site(pair: &Pair) {
    let www = pair.dir.join("www");
    std::fs::write(
        www.join("index.html"),
        "<html><body>h2 index</body></html>\n",
    )
    .unwrap();
    std::fs::write(www.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(www.join("data.json"), "{\"k\":\"v\"}\n").unwrap();
    std::fs::write(
        www.join("gz.txt"),
        "compressible line of text for gzip\n".repeat(500),
    )
    .unwrap();
    let mut big = Vec::with_capacity(200_000);
    let mut x: u32 = 0x1234_5678;
    while big.len() < 200_000 {
        // xorshift: incompressible, deterministic bytes.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(www.join("big.bin"), big).unwrap();
}

/// af_packet capture on the pair's veth in `a`, `shards` shards.
fn start_httpcap(pair: &Pair, shards: usize) -> Httpcap {
    start_httpcap_with(pair, shards, &[])
}

/// The same with more settings in the environment.
fn start_httpcap_with(pair: &Pair, shards: usize, env: &[(&str, &str)]) -> Httpcap {
    let workers = shards.to_string();
    Httpcap::start(
        pair,
        &[
            "--input-raw-engine",
            "af_packet",
            "--input-raw",
            &pair.va,
            "--processing-workers",
            &workers,
        ],
        env,
        shards,
    )
}

/// h2_client.py in `b` against `a`'s nginx, one phase; its log.
fn run_h2_client(pair: &Pair, log: &Path) -> Vec<Value> {
    must(&format!(
        "ip netns exec {} {PYTHON} {} --host {} --port {NGINX_PORT} --log {}",
        pair.b,
        h2::tool("h2_client.py"),
        pair.ip_a,
        log.display()
    ));
    h2::read_log(log)
}

/// The client's view of phase-1 traffic is what nginx answered: this
/// checks the traffic program, not httpcap.
fn check_client_log(log: &[Value], phase: u64, access: &[(String, String, u16, u64)]) {
    let lines: Vec<&Value> = log.iter().filter(|l| l["phase"] == phase).collect();
    for l in &lines {
        assert_eq!(l["reset"], false, "{l}");
        let (m, p, st) = (
            l["method"].as_str().unwrap(),
            l["path"].as_str().unwrap(),
            l["status"].as_u64().unwrap(),
        );
        let want = match (m, p) {
            ("POST", _) => 201,
            (_, p) if p.starts_with("/missing") => 404,
            _ => 200,
        };
        assert_eq!(st, want, "{l}");
        assert!(
            access
                .iter()
                .any(|(am, ap, ast, _)| (am.as_str(), ap.as_str(), u64::from(*ast)) == (m, p, st)),
            "{l} not in nginx's access log {access:?}"
        );
        if p == "/gz.txt" {
            assert_eq!(l["content_encoding"], "gzip", "{l}");
        }
        if p == "/big.bin" {
            assert_eq!(l["response_size"], 200_000, "{l}");
        }
    }
    // All on one connection: stream ids 1, 3, 5, ...
    let mut ids: Vec<u64> = log
        .iter()
        .map(|l| l["stream_id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert!(
        ids.iter()
            .enumerate()
            .all(|(i, id)| *id == 2 * i as u64 + 1),
        "{ids:?}"
    );
}

/// Every record is HTTP/2 in both directions, with `:authority` kept.
fn check_h2_versions_and_authority(records: &[Value], authority: &str) {
    for r in records {
        assert_eq!(format::request_version(r), Some(format::H2_VERSION), "{r}");
        assert_eq!(format::response_version(r), Some(format::H2_VERSION), "{r}");
        assert_eq!(format::authority_header(r), Some(authority), "{r}");
        assert_eq!(format::host(r), Some(authority), "{r}");
    }
}

/// nginx (HTTP/2, gzip) and a hyper-h2 client multiplexing seven streams
/// on one connection, one of them read through a 16 KiB window.
#[test]
fn h2_nginx_multiplexed() {
    if skip(&["h2"], "python3-h2") {
        return;
    }
    let mut pair = Pair::new(41, 1500);
    write_site(&pair);
    pair.start_nginx_h2(&format!("{}:{NGINX_PORT}", pair.ip_a));
    let h = start_httpcap(&pair, 2);
    let log = run_h2_client(&pair, &pair.dir.join("client.log"));
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);

    let access = pair.access_log();
    assert_eq!(log.len(), 7, "{log:?}");
    assert_eq!(access.len(), 7, "{access:?}");
    check_client_log(&log, 1, &access);

    fin.note("h2_nginx_multiplexed");
    assert_eq!(fin.counter("connection_panics"), 0);
    assert_eq!(fin.counter("kernel_drops"), 0);
    h2::assert_same_exchanges(&fin.records, &log, "nginx h2");
    h2::assert_match_access_log(&fin.records, &access);
    check_h2_versions_and_authority(&fin.records, &format!("{}:{NGINX_PORT}", pair.ip_a));
    for r in &fin.records {
        for flag in ["mid_stream", "hpack_incomplete", "no_response", "gap"] {
            assert!(!format::has_flag(r, flag), "{flag}: {r}");
        }
    }
}

/// curl's h2c upgrade (`--http2` on http://) to a hyper-h2 server: the
/// upgraded request is HTTP/1.1, its answer (stream 1) HTTP/2 after a
/// 101; further URLs of the same curl are streams 3, 5 of the connection.
#[test]
fn h2c_upgrade_with_curl() {
    if skip(&["h2"], "python3-h2") {
        return;
    }
    let mut pair = Pair::new(42, 1500);
    let server_log = pair.dir.join("h2c-server.log");
    let port_arg = H2C_PORT.to_string();
    let (ip_a, server_log_s) = (pair.ip_a.clone(), server_log.display().to_string());
    pair.spawn_in_a(
        "h2c-server",
        &[
            PYTHON,
            &h2::tool("h2c_server.py"),
            "--host",
            &ip_a,
            "--port",
            &port_arg,
            "--log",
            &server_log_s,
        ],
    );
    pair.wait_listening(H2C_PORT, "h2c_server.py listening");
    let h = start_httpcap(&pair, 1);
    let u = |p: &str| format!("-o /dev/null http://{ip_a}:{H2C_PORT}{p}");
    let runs = [
        format!("{} {} {}", u("/hello"), u("/data/100000"), u("/missing")),
        format!("-d 'name=value&x=1' {}", u("/echo")),
        u("/data/70000"),
    ];
    let mut versions = String::new();
    for args in &runs {
        versions += &must(&format!(
            "ip netns exec {} curl -sS --http2 -w '%{{http_version}}\\n' {args}",
            pair.b
        ));
    }
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);

    // curl upgraded each time (HTTP/2 answers) and the server saw three
    // upgrades, two more streams on the first connection.
    assert_eq!(versions.lines().collect::<Vec<_>>(), ["2"; 5], "{versions}");
    let log = h2::read_log(&server_log);
    assert_eq!(log.len(), 5, "{log:?}");
    let upgraded: Vec<&Value> = log.iter().filter(|l| l["upgraded"] == true).collect();
    assert_eq!(upgraded.len(), 3, "{log:?}");
    assert!(upgraded.iter().all(|l| l["stream_id"] == 1), "{log:?}");

    fin.note("h2c_upgrade_with_curl");
    assert_eq!(fin.counter("connection_panics"), 0);
    h2::assert_same_exchanges(&fin.records, &log, "h2c");
    for r in &fin.records {
        if format::stream_id(r) == Some(1) {
            // The Upgrade request, answered over HTTP/2 after the 101.
            assert_eq!(format::request_version(r), Some(format::H1_VERSION), "{r}");
            assert_eq!(format::response_version(r), Some(format::H2_VERSION), "{r}");
            assert_eq!(format::interim_status(r), Some(101), "{r}");
        } else {
            assert_eq!(format::request_version(r), Some(format::H2_VERSION), "{r}");
            assert_eq!(format::response_version(r), Some(format::H2_VERSION), "{r}");
        }
    }
}

/// A namespace pair with grpc_server.py listening in `a`.
fn grpc_server(n: u8) -> Pair {
    let mut pair = Pair::new(n, 1500);
    let ip_a = pair.ip_a.clone();
    let port_arg = GRPC_PORT.to_string();
    pair.spawn_in_a(
        "grpc-server",
        &[
            PYTHON,
            &h2::tool("grpc_server.py"),
            "--host",
            &ip_a,
            "--port",
            &port_arg,
        ],
    );
    pair.wait_listening(GRPC_PORT, "grpc_server.py listening");
    pair
}

/// grpc_client.py in `b` against `a`'s server (extra `args`), then
/// httpcap stopped: what it gave and the client's log.
fn run_grpc_client(pair: &Pair, h: Httpcap, args: &[&str]) -> (common::run::Finished, Vec<Value>) {
    let log_path = pair.dir.join("grpc-client.log");
    must(&format!(
        "ip netns exec {} {PYTHON} {} {} --host {} --port {GRPC_PORT} --log {}",
        pair.b,
        h2::tool("grpc_client.py"),
        args.join(" "),
        pair.ip_a,
        log_path.display()
    ));
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    (fin, h2::read_log(&log_path))
}

/// gRPC with JSON messages (grpcio, raw-bytes serializers) under
/// REDACT_JSON_FIELDS: every message in the record has its password
/// masked, the raw bodies (the same text in frames) are dropped, and the
/// secret appears nowhere in the output or the log.
#[test]
fn grpc_json_messages_are_redacted() {
    if skip(&["grpc"], "python3-grpcio") {
        return;
    }
    let pair = grpc_server(45);
    let h = start_httpcap_with(
        &pair,
        1,
        &[("REDACT_JSON_FIELDS", "password"), ("VERBOSE", "5")],
    );
    let (fin, log) = run_grpc_client(&pair, h, &["--json"]);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|l| l["status"] == 0), "{log:?}");
    fin.note("grpc_json_messages_are_redacted");
    assert_eq!(fin.records.len(), 2, "one record per call");
    let mut seen = Vec::new();
    for r in &fin.records {
        let g = format::grpc(r).unwrap_or_else(|| panic!("no grpc object: {r}"));
        let (rq, rs) = (
            format::grpc_request_messages(g),
            format::grpc_response_messages(g),
        );
        assert_eq!((rq.len(), rs.len()), (1, 1), "{r}");
        assert_eq!(rq, rs, "the server echoes: both redacted alike: {r}");
        for side in ["request", "response"] {
            assert_eq!(r[side]["body"], "", "{r}");
            assert_eq!(r[side]["body_truncated"], true, "{r}");
        }
        seen.push(String::from_utf8(rq[0].clone()).unwrap());
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            r#"{"items":[{"id":1,"password":"[redacted]"}],"n":1}"#,
            r#"{"user":"bob","password":"[redacted]"}"#
        ]
    );
    for text in [&fin.stdout, &fin.stderr] {
        assert!(!text.contains("grpc-s3cret"), "secret in the output or log");
    }
    assert_eq!(fin.counter("redacted_json_fields"), 4);
    assert_eq!(fin.counter("redacted_bodies_dropped"), 4);
}

/// grpcio client and server (no generated code): unary calls, a
/// server-streaming call of five messages, and a call failing with
/// NOT_FOUND, all on one connection.
#[test]
fn grpc_unary_streaming_and_error() {
    if skip(&["grpc"], "python3-grpcio") {
        return;
    }
    let pair = grpc_server(43);
    let ip_a = pair.ip_a.clone();
    let h = start_httpcap(&pair, 1);
    let (fin, log) = run_grpc_client(&pair, h, &[]);
    let statuses: Vec<u64> = log.iter().map(|l| l["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [0, 0, 0, 5, 0], "{log:?}");
    assert_eq!(log[2]["response_count"], 5, "{log:?}");
    assert_eq!(log[3]["message"], "no such item: item-42", "{log:?}");

    fin.note("grpc_unary_streaming_and_error");
    assert_eq!(fin.counter("connection_panics"), 0);
    assert_eq!(fin.records.len(), log.len(), "one record per call");
    let mut got: Vec<h2::Call> = fin
        .records
        .iter()
        .map(|r| h2::seen_call(r).unwrap_or_else(|| panic!("no grpc object: {r}")))
        .collect();
    let mut want: Vec<h2::Call> = log.iter().map(h2::expected_call).collect();
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "gRPC calls: records (left) vs client log (right)"
    );
    check_h2_versions_and_authority(&fin.records, &format!("{ip_a}:{GRPC_PORT}"));
    for r in &fin.records {
        let g = format::grpc(r).unwrap();
        let method = format::grpc_method(g).unwrap();
        assert_eq!(format::method(r), Some("POST"), "{r}");
        assert_eq!(
            format::target(r),
            Some(format!("/test.Echo/{method}").as_str()),
            "{r}"
        );
        assert_eq!(format::status(r), Some(200), "{r}");
        let status = format::grpc_status(g).unwrap().to_string();
        assert_eq!(
            format::response_header_or_trailer(r, "grpc-status"),
            Some(status.as_str()),
            "{r}"
        );
    }
}

/// `:status` values HPACK's static table holds: decodable on a connection
/// picked up mid-stream, whatever the dynamic table held.
const STATIC_STATUSES: [u64; 7] = [200, 204, 206, 304, 400, 404, 500];

/// httpcap started while a long-lived HTTP/2 connection is open: the
/// client's first requests were not captured, nor the connection preface
/// and SETTINGS, nor the HPACK dynamic table's insertions. The later
/// requests on the same connection are recorded as `mid_stream`, what the
/// static table gives (`:method`, common `:status`) decodes, the rest may
/// be missing under `hpack_incomplete`, and nothing panics.
#[test]
fn h2_mid_connection() {
    if skip(&["h2"], "python3-h2") {
        return;
    }
    let mut pair = Pair::new(44, 1500);
    write_site(&pair);
    pair.start_nginx_h2(&format!("{}:{NGINX_PORT}", pair.ip_a));
    let (ready, go, log_path) = (
        pair.dir.join("phase1-done"),
        pair.dir.join("phase2-go"),
        pair.dir.join("client.log"),
    );
    let mut client = KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", &pair.b, PYTHON, &h2::tool("h2_client.py")])
            .args(["--host", &pair.ip_a, "--port", NGINX_PORT, "--log"])
            .arg(&log_path)
            .arg("--ready-file")
            .arg(&ready)
            .arg("--wait-file")
            .arg(&go)
            .stdin(Stdio::null())
            .spawn()
            .expect("start h2_client.py"),
    );
    wait_for(
        || ready.exists() || matches!(client.0.try_wait(), Ok(Some(_))),
        "h2_client.py phase 1",
    );
    assert!(ready.exists(), "h2_client.py ended before phase 2");
    let h = start_httpcap(&pair, 1);
    std::fs::write(&go, "").unwrap();
    let mut status = None;
    wait_for(
        || {
            status = client.0.try_wait().unwrap();
            status.is_some()
        },
        "h2_client.py phase 2",
    );
    assert!(status.unwrap().success(), "h2_client.py failed");
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);

    let log = h2::read_log(&log_path);
    let access = pair.access_log();
    check_client_log(&log, 1, &access);
    check_client_log(&log, 2, &access);
    let phase2: Vec<&Value> = log.iter().filter(|l| l["phase"] == 2).collect();
    assert_eq!(phase2.len(), 5, "{log:?}");

    fin.note("h2_mid_connection");
    assert_eq!(fin.counter("connection_panics"), 0);
    // Only the streams of phase 2 were on the wire while capturing.
    let ids: Vec<u64> = phase2
        .iter()
        .map(|l| l["stream_id"].as_u64().unwrap())
        .collect();
    for r in &fin.records {
        assert!(
            format::stream_id(r).is_some_and(|id| ids.contains(&id)),
            "record of a stream not sent while capturing: {r}"
        );
    }
    for l in &phase2 {
        let id = l["stream_id"].as_u64().unwrap();
        let r = fin
            .records
            .iter()
            .find(|r| format::stream_id(r) == Some(id))
            .unwrap_or_else(|| panic!("no record for stream {id} ({l})"));
        assert!(format::has_flag(r, "mid_stream"), "{r}");
        assert_eq!(format::method(r), l["method"].as_str(), "{r}");
        let want_status = l["status"].as_u64().unwrap();
        if STATIC_STATUSES.contains(&want_status) {
            assert_eq!(format::status(r), Some(want_status), "{r}");
        } else if let Some(st) = format::status(r) {
            assert_eq!(st, want_status, "{r}");
        }
        if format::has_flag(r, "hpack_incomplete") {
            // What was decoded is right, even if not everything was.
            if let Some(t) = format::target(r) {
                assert_eq!(Some(t), l["path"].as_str(), "{r}");
            }
        } else {
            assert_eq!(h2::seen(r), h2::expected(l), "{r}");
        }
    }
}
