//! Redaction (REDACT_*), over the real binary on crafted captures: listed
//! header values and JSON keys' values never reach a record or a log line,
//! in HTTP/1 and HTTP/2 records, in mask and hash mode; the key file's
//! contents are never shown; a bad key file is one line and exit code 2.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::gen::Gen;
use crate::common::{Finished, Run, Scratch};

const SECRETS: &[&str] = &["s3cret", "Zm9vOmJhcg", "sid=4242", "tok-77", "4111"];
const KEY_A: &str = "key-file-contents-A-0123456789";
const KEY_B: &str = "key-file-contents-B-0123456789";
const LISTS: &[(&str, &str)] = &[
    (
        "REDACT_HEADERS",
        "authorization,cookie,set-cookie,x-api-key",
    ),
    ("REDACT_JSON_FIELDS", "password,card_number"),
];

fn http1(body: &str) -> Vec<(bool, Vec<u8>)> {
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: shop.test\r\nAuthorization: Basic Zm9vOmJhcg==\r\nCookie: sid=4242\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let resp_body = r#"{"ok":true,"card_number":"4111 1111 1111 1111","token":"x"}"#;
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: sid=4242; Path=/\r\nSet-Cookie: theme=dark\r\nX-API-Key: tok-77\r\nContent-Length: {}\r\n\r\n{resp_body}",
        resp_body.len()
    );
    vec![(true, req.into_bytes()), (false, resp.into_bytes())]
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK literal field without indexing, new name, no Huffman.
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0);
    block.push(name.len() as u8);
    block.extend_from_slice(name.as_bytes());
    block.push(value.len() as u8);
    block.extend_from_slice(value.as_bytes());
}

/// An h2c (prior knowledge) exchange on stream 1, with response trailers.
fn http2() -> Vec<(bool, Vec<u8>)> {
    const HEADERS: u8 = 1;
    const END_STREAM: u8 = 1;
    const END_HEADERS: u8 = 4;
    let mut client = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    client.extend(frame(4, 0, 0, b""));
    // :method POST, :scheme http, :path /api, :authority shop.test
    let mut block = vec![0x83, 0x86, 0x04, 4];
    block.extend_from_slice(b"/api");
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"shop.test");
    literal(&mut block, "authorization", "Bearer s3cret-h2");
    literal(&mut block, "content-type", "application/json");
    client.extend(frame(HEADERS, END_HEADERS, 1, &block));
    client.extend(frame(0, END_STREAM, 1, br#"{"a":[{"password":"s3cret"}]}"#));
    let mut server = frame(4, 0, 0, b"");
    let mut block = vec![0x88]; // :status 200
    literal(&mut block, "set-cookie", "sid=4242");
    literal(&mut block, "set-cookie", "theme=dark");
    literal(&mut block, "content-type", "application/json");
    server.extend(frame(HEADERS, END_HEADERS, 1, &block));
    server.extend(frame(0, 0, 1, br#"{"card_number":4111}"#));
    let mut trailers = Vec::new();
    literal(&mut trailers, "x-api-key", "tok-77");
    literal(&mut trailers, "x-other", "kept");
    server.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &trailers));
    vec![(true, client), (false, server)]
}

/// The capture every test reads: two HTTP/1 transactions with the same
/// secrets (one on its own connection), and one HTTP/2 stream.
fn capture(dir: &Scratch) -> String {
    let path = dir.path("redact.pcap");
    let mut g = Gen::new(Path::new(&path));
    g.conversation(
        40001,
        &http1(r#"{"user":"bob","a":[{"password":"s3cret"}]}"#),
    );
    g.conversation(
        40002,
        &http1(r#"{"user":"eve","a":[{"password":"s3cret"}]}"#),
    );
    g.conversation(40003, &http2());
    drop(g);
    path
}

fn run(pcap: &str, env: &[(&str, &str)]) -> Finished {
    let out = Run::file(pcap)
        .no_metrics()
        .env("VERBOSE", "5")
        .env("HEALTH_FILE", "")
        .envs(env.iter().copied())
        .output();
    out.assert_success();
    out
}

fn assert_nothing_leaks(out: &Finished, also: &[&str]) {
    for s in SECRETS.iter().chain(also) {
        assert!(
            !out.stdout.contains(s),
            "{s} in the records: {}",
            out.stdout
        );
        assert!(!out.stderr.contains(s), "{s} in the logs: {}", out.stderr);
    }
}

fn by_version<'a>(out: &'a Finished, version: &str) -> Vec<&'a Value> {
    out.records
        .iter()
        .filter(|r| r["request"]["version"] == version)
        .collect()
}

fn body(msg: &Value) -> Value {
    serde_json::from_str(msg["body"].as_str().unwrap()).unwrap()
}

#[test]
fn off_by_default_the_values_are_there() {
    let dir = Scratch::new("redact-off");
    let out = run(&capture(&dir), &[]);
    assert_eq!(out.records.len(), 3);
    assert!(out.stdout.contains("s3cret") && out.stdout.contains("tok-77"));
    assert_eq!(out.counter("redacted_headers"), 0);
}

#[test]
fn mask_mode_replaces_headers_trailers_and_nested_json() {
    let dir = Scratch::new("redact-mask");
    let out = run(&capture(&dir), LISTS);
    assert_eq!(out.records.len(), 3, "{}", out.stderr);
    assert_nothing_leaks(&out, &[]);
    let masked = Value::from("[redacted]");
    for r in by_version(&out, "HTTP/1.1") {
        let (rq, rs) = (&r["request"], &r["response"]);
        assert_eq!(rq["headers"]["authorization"], masked);
        assert_eq!(rq["headers"]["cookie"], masked);
        assert_eq!(rq["headers"]["host"], "shop.test");
        assert_eq!(
            rs["headers"]["set-cookie"],
            serde_json::json!(["[redacted]", "[redacted]"])
        );
        assert_eq!(rs["headers"]["x-api-key"], masked);
        assert_eq!(body(rq)["a"][0]["password"], masked);
        assert_eq!(body(rs)["card_number"], masked);
        assert_eq!(body(rs)["token"], "x");
    }
    let h2 = by_version(&out, "HTTP/2");
    assert_eq!(h2.len(), 1);
    let (rq, rs) = (&h2[0]["request"], &h2[0]["response"]);
    assert_eq!(rq["headers"]["authorization"], masked);
    assert_eq!(rq["headers"][":authority"], "shop.test");
    assert_eq!(
        rs["headers"]["set-cookie"],
        serde_json::json!(["[redacted]", "[redacted]"])
    );
    assert_eq!(rs["trailers"]["x-api-key"], masked);
    assert_eq!(rs["trailers"]["x-other"], "kept");
    assert_eq!(body(rq)["a"][0]["password"], masked);
    assert_eq!(body(rs)["card_number"], masked);
    // 2 × (authorization, cookie, 2 set-cookie, x-api-key) + h2's 4.
    assert_eq!(out.counter("redacted_headers"), 14);
    assert_eq!(out.counter("redacted_json_fields"), 6);
    // Whole bodies: none was read as a prefix, none dropped.
    assert_eq!(out.counter("redacted_json_cut"), 0);
    assert_eq!(out.counter("redacted_bodies_dropped"), 0);
}

/// HMAC-SHA256 from SHA-256 (RFC 2104), independent of the engine's.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn hash_mode_is_keyed_hmac_sha256() {
    // RFC 4231 test case 2, for the reference itself.
    assert_eq!(
        hmac_sha256(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let dir = Scratch::new("redact-hash");
    let pcap = capture(&dir);
    let (file_a, file_b) = (dir.path("a.key"), dir.path("b.key"));
    // One trailing newline is not part of the key.
    std::fs::write(&file_a, format!("{KEY_A}\n")).unwrap();
    std::fs::write(&file_b, KEY_B).unwrap();
    let hashed = |file: &str| {
        let mut env = LISTS.to_vec();
        env.extend([("REDACT_MODE", "hash"), ("REDACT_HASH_KEY_FILE", file)]);
        run(&pcap, &env)
    };
    let a = hashed(&file_a);
    let b = hashed(&file_b);
    for out in [&a, &b] {
        assert_nothing_leaks(out, &[KEY_A, KEY_B]);
    }
    let want =
        |key: &str, v: &str| format!("hmac-sha256:{}", hmac_sha256(key.as_bytes(), v.as_bytes()));
    let auth = |out: &Finished, i: usize| {
        by_version(out, "HTTP/1.1")[i]["request"]["headers"]["authorization"].clone()
    };
    assert_eq!(auth(&a, 0), want(KEY_A, "Basic Zm9vOmJhcg=="));
    // Equal values, equal hashes (across connections); another key, another hash.
    assert_eq!(auth(&a, 0), auth(&a, 1));
    assert_ne!(auth(&a, 0), auth(&b, 0));
    let h1 = by_version(&a, "HTTP/1.1");
    let password = body(&h1[0]["request"])["a"][0]["password"].clone();
    assert_eq!(password, want(KEY_A, "s3cret"));
    assert_eq!(password, body(&h1[1]["request"])["a"][0]["password"]);
    // Non-string values hash as their JSON text.
    let h2 = by_version(&a, "HTTP/2");
    assert_eq!(body(&h2[0]["response"])["card_number"], want(KEY_A, "4111"));
    assert_eq!(body(&h2[0]["request"])["a"][0]["password"], password);
    assert_eq!(
        h2[0]["response"]["trailers"]["x-api-key"],
        want(KEY_A, "tok-77")
    );
    // The startup line shows the key file's path, never its contents.
    let line = a
        .stderr
        .lines()
        .find(|l| l.starts_with("httpcap --"))
        .expect("startup line");
    assert!(
        line.contains(&format!("--redact-hash-key-file={file_a}")),
        "{line}"
    );
}

#[test]
fn a_json_body_cut_at_max_body_bytes_does_not_leak() {
    let dir = Scratch::new("redact-cut");
    let path = dir.path("cut.pcap");
    let mut g = Gen::new(Path::new(&path));
    let long = format!(r#"{{"user":"bob","password":"s3cret{}"}}"#, "x".repeat(200));
    g.conversation(40010, &http1(&long));
    drop(g);
    // The cut falls inside the password's value.
    let out = run(&path, &[LISTS[0], LISTS[1], ("MAX_BODY_BYTES", "40")]);
    assert_nothing_leaks(&out, &["xxxx"]);
    let rq = &out.records[0]["request"];
    assert_eq!(rq["body_truncated"], true);
    assert_eq!(rq["body"], r#"{"user":"bob","password":"[redacted]""#);
    assert!(out.counter("redacted_json_cut") >= 1);
}

#[test]
fn a_bad_key_file_is_one_line_and_exit_2() {
    let dir = Scratch::new("redact-badkey");
    let short = dir.path("short.key");
    std::fs::write(&short, "tooshort").unwrap();
    let empty = dir.path("empty.key");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.path("missing.key");
    for (file, mode) in [
        (&short, "hash"),
        (&empty, "hash"),
        (&missing, "hash"),
        (&missing, "mask"),
    ] {
        for args in [&["check-config"][..], &[][..]] {
            let out = Run::new()
                .args(args)
                .envs([
                    ("REDACT_MODE", mode),
                    ("REDACT_HASH_KEY_FILE", file.as_str()),
                ])
                .output();
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert_eq!(out.code, Some(2), "{file}: {}", out.stderr);
            assert_eq!(lines.len(), 1, "{file}: {}", out.stderr);
            assert!(lines[0].contains("REDACT_HASH_KEY_FILE") && lines[0].contains(file.as_str()));
            assert!(!lines[0].contains("tooshort"), "{}", lines[0]);
        }
    }
    let out = Run::new()
        .args(["check-config"])
        .env("REDACT_MODE", "hash")
        .output();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("REDACT_HASH_KEY_FILE"),
        "{}",
        out.stderr
    );
}
