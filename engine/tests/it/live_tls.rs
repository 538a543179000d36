//! HTTPS captured live and decrypted with TLS key logs (issue 14), from
//! real implementations, in network namespaces this test creates: nginx
//! (TLS 1.2 and 1.3, HTTP/1.1 and HTTP/2 by ALPN, a certificate from a
//! throwaway CA) in one namespace, curl on OpenSSL writing its keys to
//! `SSLKEYLOGFILE` in the other, httpcap capturing on the veth between
//! them and reading the key log. Before httpcap is looked at, each test
//! checks that the traffic was what it asked for (nginx's protocol,
//! suite, SNI, ALPN and session reuse; curl's answers; a full set of
//! secrets per connection in the key log). Records are then compared
//! with what curl and nginx logged: method, target, status, SHA-256 of
//! the request body and of the decoded response body, and the record's
//! `tls` object. What a record and the settings are expected to look like
//! is in `common::tls::format`.
//!
//! The same exchanges are also read without any key: uprobes on the
//! libssl that curl and nginx use give httpcap their plaintext
//! (TLS_UPROBE_LIBS), while the captured packets stay ciphertext.
//!
//! Needs root, ip, nginx, openssl and curl built on OpenSSL (tools/setup.sh
//! installs them); prints SKIPPED otherwise. The uprobe tests need
//! tracefs too (mounted if it is not).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use common::h2::format as http;
use common::netns::{wait_for, Finished, Httpcap, Pair};
use common::tls::{self, format, Access, Asked, Certs, CurlLine, CurlRun, Req, Via};

/// httpcap ran and ended cleanly; says so plainly when it refused the
/// key log setting (the engine's side of issue 14 not there).
fn assert_ran(fin: &Finished) {
    let hint = if fin.code == Some(2) && fin.stderr.contains(format::KEYLOG_FLAG) {
        " (it does not know the key log setting: the engine's TLS support is not there)"
    } else {
        ""
    };
    assert_eq!(fin.code, Some(0), "httpcap failed{hint}:\n{}", fin.stderr);
    assert_eq!(fin.counter("connection_panics"), 0);
}

/// Certificates, site and TLS nginx in `a`; the pair and the certs.
fn serve(n: u8) -> (Pair, Certs) {
    let mut pair = Pair::new(n, 1500);
    let certs = Certs::generate(&pair.dir, &pair.ip_a);
    tls::write_site(&pair);
    pair.start_nginx_tls(&certs.cert, &certs.key);
    (pair, certs)
}

/// An empty key log file in the pair's directory.
fn empty_keylog(pair: &Pair, name: &str) -> PathBuf {
    let p = pair.dir.join(name);
    std::fs::write(&p, "").unwrap();
    p
}

/// af_packet capture on the pair's veth in `a` with `shards` shards,
/// `args` and `env` added (the key log setting).
fn start_httpcap(pair: &Pair, shards: usize, args: &[&str], env: &[(&str, &str)]) -> Httpcap {
    let workers = shards.to_string();
    Httpcap::start(pair, &af_packet_args(pair, &workers, args), env, shards)
}

/// af_packet on the pair's veth in `a` with `workers` shards, then `extra`.
fn af_packet_args<'a>(pair: &'a Pair, workers: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "--input-raw-engine",
        "af_packet",
        "--input-raw",
        &pair.va,
        "--processing-workers",
        workers,
    ];
    all.extend_from_slice(extra);
    all
}

/// What the runs of a test saw so far: curl's lines and nginx's, in the
/// same order.
#[derive(Default)]
struct Seen {
    curl: Vec<CurlLine>,
    access: Vec<Access>,
}

impl Seen {
    /// Runs `run`, checks its traffic against `asked` (None: cleartext)
    /// and the key lines it added to `run.keylog`, and keeps what curl
    /// and nginx logged.
    fn run(&mut self, pair: &Pair, certs: &Certs, run: &CurlRun, asked: Option<&Asked>) {
        let from = run.keylog.map_or(0, tls::file_len);
        let lines = tls::curl(pair, certs, run);
        // nginx logs a request once it has sent the answer: maybe just
        // after curl has read it.
        let want = self.access.len() + lines.len();
        wait_for(
            || tls::access_log(pair).len() >= want,
            "nginx's access log lines",
        );
        let access = tls::access_log(pair);
        let new = access[self.access.len()..].to_vec();
        let keys = run
            .keylog
            .map(|k| tls::keylog_since(k, from))
            .unwrap_or_default();
        tls::check_run(&lines, &new, asked, &keys);
        self.curl.extend(lines);
        self.access.extend(new);
    }
}

/// Where the answer was not gzipped, the record's decoded body size is
/// the bytes nginx sent.
fn check_sizes_against_nginx(records: &[Value], access: &[Access]) {
    for r in records {
        if http::response_content_encoding(r).is_some() {
            continue;
        }
        let target = http::target(r).unwrap_or("");
        let a = access
            .iter()
            .find(|a| a.uri == target)
            .unwrap_or_else(|| panic!("no access log line for {r}"));
        assert_eq!(http::response_body_size(r), Some(a.bytes), "{a:?}: {r}");
    }
}

/// No record is cut or guessed.
fn check_whole(records: &[Value]) {
    for r in records {
        for flag in ["gap", "mid_stream", "no_response", "no_request"] {
            assert!(!http::has_flag(r, flag), "{flag}: {r}");
        }
    }
}

/// Waits, at most `bound`, until httpcap has written `n` records (a
/// writer that flushes only at the end leaves this to `stop`).
fn wait_records(h: &mut Httpcap, n: usize, bound: Duration) {
    let start = Instant::now();
    while h.records_written() < n && start.elapsed() < bound && !h.exited() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];
const TLS12_SUITES: [&str; 3] = [
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// TLS 1.3 with `suite`, HTTP/1.1.
fn tls13_opts(suite: &str) -> Vec<&str> {
    vec!["--http1.1", "--tlsv1.3", "--tls13-ciphers", suite]
}

/// TLS 1.2 (only) with `suite`, HTTP/1.1.
fn tls12_opts(suite: &str) -> Vec<&str> {
    vec![
        "--http1.1",
        "--tlsv1.2",
        "--tls-max",
        "1.2",
        "--ciphers",
        suite,
    ]
}

/// Each of the three TLS 1.3 and three TLS 1.2 AEAD suites, one curl
/// connection each with SNI `api.test`: five keep-alive requests (a page,
/// a 100,000-byte binary, gzipped JSON, a POST, a 404). Besides, one TLS
/// 1.3 connection to the address (no SNI: `tls.sni` null) and one
/// cleartext connection (`tls` null) in the same capture.
#[test]
fn tls_six_version_cipher_combinations() {
    if tls::skip(false) {
        return;
    }
    let (pair, certs) = serve(81);
    let keys = empty_keylog(&pair, "keys.log");
    let keys_s = keys.display().to_string();
    let h = start_httpcap(&pair, 2, &[format::KEYLOG_FLAG, &keys_s], &[]);

    let mut seen = Seen::default();
    for (protocol, suites) in [("TLSv1.3", TLS13_SUITES), ("TLSv1.2", TLS12_SUITES)] {
        for suite in suites {
            let opts = if protocol == "TLSv1.3" {
                tls13_opts(suite)
            } else {
                tls12_opts(suite)
            };
            let name = suite.to_lowercase();
            let run = CurlRun {
                name: &name,
                opts: &opts,
                via: Via::Name,
                keylog: Some(&keys),
                reqs: tls::usual_requests(&name),
            };
            let asked = Asked {
                protocol,
                cipher: Some(suite),
                sni: true,
                alpn: "http/1.1",
            };
            seen.run(&pair, &certs, &run, Some(&asked));
        }
    }
    let no_sni = CurlRun {
        name: "no-sni",
        opts: &["--http1.1", "--tlsv1.3"],
        via: Via::Address,
        keylog: Some(&keys),
        reqs: tls::usual_requests("no-sni"),
    };
    let asked = Asked {
        protocol: "TLSv1.3",
        cipher: None,
        sni: false,
        alpn: "http/1.1",
    };
    seen.run(&pair, &certs, &no_sni, Some(&asked));
    let plain = CurlRun {
        name: "plain",
        opts: &["--http1.1"],
        via: Via::Plain,
        keylog: Some(&keys),
        reqs: tls::usual_requests("plain"),
    };
    seen.run(&pair, &certs, &plain, None);
    let fin = h.stop();

    fin.note("tls_six_version_cipher_combinations");
    assert_ran(&fin);
    assert_eq!(fin.counter("kernel_drops"), 0);
    tls::assert_same_exchanges(&fin.records, &seen.curl, &seen.access);
    check_sizes_against_nginx(&fin.records, &seen.access);
    check_whole(&fin.records);
    for r in &fin.records {
        assert_eq!(http::request_version(r), Some("HTTP/1.1"), "{r}");
        assert_eq!(http::response_version(r), Some("HTTP/1.1"), "{r}");
    }
    assert_eq!(fin.counter(format::TLS_CONNECTIONS), 7);
    assert_eq!(fin.counter(format::TLS_NO_KEY), 0);
    assert!(fin.counter(format::TLS_DECRYPTED_RECORDS) > 0);
}

/// Two TLS 1.2 connections of one curl, the first closed by its request's
/// `Connection: close`: the second resumes the first's session (nginx
/// says "r"; the key log has the same master secret for both client
/// randoms). Both connections' exchanges are recorded.
#[test]
fn tls12_resumed_session() {
    if tls::skip(false) {
        return;
    }
    resumed_session(82, "TLSv1.2", &tls12_opts(TLS12_SUITES[0]), |by_client| {
        let masters: Vec<&String> = by_client.values().map(|s| &s["CLIENT_RANDOM"]).collect();
        assert_eq!(masters[0], masters[1], "resumed: one master secret");
    });
}

/// The same in TLS 1.3: the second connection resumes by a PSK from the
/// first's NewSessionTicket (nginx says "r"); each connection has its
/// own traffic secrets in the key log.
#[test]
fn tls13_resumed_session() {
    if tls::skip(false) {
        return;
    }
    resumed_session(86, "TLSv1.3", &tls13_opts(TLS13_SUITES[2]), |by_client| {
        let secrets: Vec<&String> = by_client
            .values()
            .map(|s| &s["CLIENT_TRAFFIC_SECRET_0"])
            .collect();
        assert_ne!(secrets[0], secrets[1], "a PSK handshake's own secrets");
    });
}

/// One curl, `protocol` with `opts`, two connections: the first closed
/// after one request, the second resuming its session for two more. The
/// traffic is checked (`check_keys` with the key log's lines of the two
/// connections), then the records.
fn resumed_session(n: u8, protocol: &str, opts: &[&str], check_keys: fn(&KeyLines)) {
    let (pair, certs) = serve(n);
    let keys = empty_keylog(&pair, "keys.log");
    let keys_s = keys.display().to_string();
    let h = start_httpcap(&pair, 1, &[format::KEYLOG_FLAG, &keys_s], &[]);

    let run = CurlRun {
        name: "resumed",
        opts,
        via: Via::Name,
        keylog: Some(&keys),
        reqs: vec![
            Req::get("/index.html?conn=first").close(),
            Req::get("/data.json?conn=second").compressed(),
            Req::post("/echo?conn=second", "resumed=yes"),
        ],
    };
    let asked = Asked {
        protocol,
        cipher: None,
        sni: true,
        alpn: "http/1.1",
    };
    let mut seen = Seen::default();
    seen.run(&pair, &certs, &run, Some(&asked));
    let fin = h.stop();

    // The traffic: a full handshake, then an abbreviated one, same suite.
    let reused: Vec<bool> = seen.access.iter().map(|a| a.reused).collect();
    assert_eq!(reused, [false, true, true], "{:?}", seen.access);
    let connects: Vec<u64> = seen.curl.iter().map(|c| c.num_connects).collect();
    assert_eq!(connects, [1, 1, 0], "{:?}", seen.curl);
    assert!(seen
        .access
        .iter()
        .all(|a| a.ssl_cipher == seen.access[0].ssl_cipher));
    let by_client = tls::keylog_by_client(&std::fs::read_to_string(&keys).unwrap());
    assert_eq!(by_client.len(), 2, "{by_client:?}");
    check_keys(&by_client);

    fin.note(&format!("resumed_session {protocol}"));
    assert_ran(&fin);
    tls::assert_same_exchanges(&fin.records, &seen.curl, &seen.access);
    check_whole(&fin.records);
    assert_eq!(fin.counter(format::TLS_CONNECTIONS), 2);
    assert_eq!(fin.counter(format::TLS_NO_KEY), 0);
}

/// A key log's labels and secrets by client random.
type KeyLines = BTreeMap<String, BTreeMap<String, String>>;

/// httpcap reads a key log file that is empty while the traffic passes:
/// curl writes its keys to another file, which is appended to httpcap's
/// right after curl ends (one TLS 1.3 and one TLS 1.2 connection). The
/// engine holds the encrypted bytes until the keys arrive: every
/// exchange is still recorded.
#[test]
fn tls_keys_arrive_late() {
    if tls::skip(false) {
        return;
    }
    let (pair, certs) = serve(83);
    let watched = empty_keylog(&pair, "watched.log");
    let curls = empty_keylog(&pair, "curl-keys.log");
    let watched_s = watched.display().to_string();
    let mut h = start_httpcap(&pair, 1, &[format::KEYLOG_FLAG, &watched_s], &[]);

    let mut seen = Seen::default();
    let o13 = tls13_opts(TLS13_SUITES[0]);
    let o12 = tls12_opts(TLS12_SUITES[2]);
    for (name, opts, protocol) in [("late13", &o13, "TLSv1.3"), ("late12", &o12, "TLSv1.2")] {
        let run = CurlRun {
            name,
            opts,
            via: Via::Name,
            keylog: Some(&curls),
            reqs: tls::usual_requests(name),
        };
        let asked = Asked {
            protocol,
            cipher: None,
            sni: true,
            alpn: "http/1.1",
        };
        seen.run(&pair, &certs, &run, Some(&asked));
    }
    assert_eq!(tls::file_len(&watched), 0);
    append(&watched, &std::fs::read(&curls).unwrap());
    wait_records(&mut h, seen.curl.len(), Duration::from_secs(5));
    let fin = h.stop();

    fin.note("tls_keys_arrive_late");
    assert_ran(&fin);
    tls::assert_same_exchanges(&fin.records, &seen.curl, &seen.access);
    check_whole(&fin.records);
    assert_eq!(fin.counter(format::TLS_CONNECTIONS), 2);
    assert_eq!(fin.counter(format::TLS_NO_KEY), 0);
}

/// Appends `bytes` to the file at `p` in one write.
fn append(p: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(bytes).unwrap();
}

/// A TLS connection whose keys httpcap never gets (curl logs them to a
/// file httpcap does not read): no record, and the connection is counted
/// as one without a key.
#[test]
fn tls_without_keys_gives_no_records() {
    if tls::skip(false) {
        return;
    }
    let (pair, certs) = serve(84);
    let watched = empty_keylog(&pair, "watched.log");
    let curls = empty_keylog(&pair, "curl-keys.log");
    let watched_s = watched.display().to_string();
    let h = start_httpcap(&pair, 1, &[format::KEYLOG_FLAG, &watched_s], &[]);

    let opts = tls13_opts(TLS13_SUITES[1]);
    let run = CurlRun {
        name: "nokeys",
        opts: &opts,
        via: Via::Name,
        keylog: Some(&curls),
        reqs: tls::usual_requests("nokeys"),
    };
    let asked = Asked {
        protocol: "TLSv1.3",
        cipher: Some(TLS13_SUITES[1]),
        sni: true,
        alpn: "http/1.1",
    };
    Seen::default().run(&pair, &certs, &run, Some(&asked));
    let fin = h.stop();

    fin.note("tls_without_keys_gives_no_records");
    assert_ran(&fin);
    assert_eq!(tls::file_len(&watched), 0);
    assert!(fin.records.is_empty(), "{:#?}", fin.records);
    assert!(fin.counter(format::TLS_NO_KEY) >= 1);
    assert!(fin.counter(format::TLS_CONNECTIONS) >= 1);
}

/// One curl `--http2` connection over TLS 1.3 with `suite` (ALPN h2):
/// the usual requests, keys written to `keylog`; checked to be HTTP/2 in
/// nginx's log.
fn run_h2(pair: &Pair, certs: &Certs, name: &str, suite: &str, keylog: &Path) -> Seen {
    let opts = ["--http2", "--tlsv1.3", "--tls13-ciphers", suite];
    let run = CurlRun {
        name,
        opts: &opts,
        via: Via::Name,
        keylog: Some(keylog),
        reqs: tls::usual_requests(name),
    };
    let asked = Asked {
        protocol: "TLSv1.3",
        cipher: Some(suite),
        sni: true,
        alpn: "h2",
    };
    let mut seen = Seen::default();
    seen.run(pair, certs, &run, Some(&asked));
    assert!(seen.access.iter().all(|a| a.server_protocol == "HTTP/2.0"));
    seen
}

/// curl `--http2` over TLS 1.3 (ALPN h2) to nginx's TLS port, keys given
/// by the environment as the second of two files: each stream is a
/// record with version "HTTP/2", a stream id and `tls.alpn` "h2".
#[test]
fn h2_over_tls() {
    if tls::skip(true) {
        return;
    }
    let (pair, certs) = serve(85);
    let other = empty_keylog(&pair, "other.log");
    let keys = empty_keylog(&pair, "keys.log");
    let list = format!("{},{}", other.display(), keys.display());
    let h = start_httpcap(&pair, 1, &[], &[(format::KEYLOG_ENV, &list)]);

    let seen = run_h2(&pair, &certs, "h2", TLS13_SUITES[0], &keys);
    let fin = h.stop();

    fin.note("h2_over_tls");
    assert_ran(&fin);
    assert_eq!(
        fin.counter(format::TLS_CONNECTIONS),
        1,
        "no TLS connection counted: does httpcap read {}?",
        format::KEYLOG_ENV
    );
    tls::assert_same_exchanges(&fin.records, &seen.curl, &seen.access);
    check_sizes_against_nginx(&fin.records, &seen.access);
    check_whole(&fin.records);
    for r in &fin.records {
        assert_eq!(http::request_version(r), Some(http::H2_VERSION), "{r}");
        assert_eq!(http::response_version(r), Some(http::H2_VERSION), "{r}");
        assert!(http::stream_id(r).is_some_and(|id| id % 2 == 1), "{r}");
        let t = format::tls(r).unwrap();
        assert_eq!(format::alpn(t), Some("h2"), "{r}");
    }
}

// ---- TLS plaintext from uprobes (TLS_UPROBE_LIBS) ------------------------

/// af_packet capture on the pair's veth with `shards` shards, uprobes on
/// `libssl`, no key log; returns once the probes are attached.
fn start_httpcap_uprobes(pair: &Pair, shards: usize, libssl: &Path) -> Httpcap {
    let workers = shards.to_string();
    let lib = libssl.display().to_string();
    // Other tests' TLS runs at the same time: only nginx's namespace.
    let extra = [format::UPROBE_FLAG, &lib, "--tls-uprobe-netns", "own"];
    let args = af_packet_args(pair, &workers, &extra);
    let h = Httpcap::start_logged(pair, &pair.a, &args, &[], "TLS uprobes attached");
    // The packet sockets join their fanout group just after.
    std::thread::sleep(Duration::from_millis(300));
    h
}

/// nginx in pair `n` and httpcap reading its libssl with `shards` shards;
/// curl's key log (written, never given to httpcap). None (SKIPPED
/// printed) without curl on OpenSSL (with HTTP/2 when `h2`), nginx on a
/// libssl, or syscall tracepoints.
fn uprobe_setup(n: u8, h2: bool, shards: usize) -> Option<(Pair, Certs, PathBuf, Httpcap)> {
    if tls::skip(h2) {
        return None;
    }
    let libssl = tls::uprobe_libssl()?;
    let (pair, certs) = serve(n);
    let curls = empty_keylog(&pair, "curl-keys.log");
    let h = start_httpcap_uprobes(&pair, shards, &libssl);
    Some((pair, certs, curls, h))
}

/// What every uprobe run must show: each exchange curl and nginx logged
/// is a whole record whose `tls` says where its plaintext came from, and
/// nothing was lost on the way.
fn check_uprobe_run(fin: &Finished, seen: &Seen, connections: u64) {
    assert_ran(fin);
    tls::assert_same_http_exchanges(&fin.records, &seen.curl, &seen.access);
    check_sizes_against_nginx(&fin.records, &seen.access);
    check_whole(&fin.records);
    for r in &fin.records {
        let t = format::tls(r).unwrap_or_else(|| panic!("no tls object: {r}"));
        assert_eq!(format::source(t), Some("uprobe"), "{r}");
    }
    assert_eq!(fin.counter("tls_uprobe_connections"), connections);
    // curl's calls (its namespace is not httpcap's) are left out in the
    // kernel: only nginx's end is read.
    assert!(fin.counter("tls_uprobe_other_netns") > 0);
    assert_eq!(fin.counter("tls_uprobe_duplicate"), 0);
    for lost in [
        "tls_uprobe_lost",
        "tls_uprobe_no_socket",
        "tls_uprobe_calls_lost",
        "tls_uprobe_invalid",
        format::TLS_NO_KEY,
        "tls_midstream",
        "kernel_drops",
    ] {
        assert_eq!(fin.counter(lost), 0, "{lost}");
    }
}

/// HTTPS without keys: uprobes on libssl give the plaintext of a TLS 1.3
/// and a TLS 1.2 connection (five keep-alive requests each, bodies of up
/// to 100,000 bytes) and of a connection without SNI, over two shards;
/// the records' `tls` has what the captured handshake showed, if anything.
/// curl writes its keys to a file httpcap does not read, so that the
/// test can check the traffic was the TLS it asked for.
#[test]
fn uprobe_plaintext_without_keys() {
    let Some((pair, certs, curls, h)) = uprobe_setup(86, false, 2) else {
        return;
    };

    let mut seen = Seen::default();
    let runs = [
        (
            "TLSv1.3",
            tls13_opts(TLS13_SUITES[0]),
            Some(TLS13_SUITES[0]),
            Via::Name,
        ),
        (
            "TLSv1.2",
            tls12_opts(TLS12_SUITES[1]),
            Some(TLS12_SUITES[1]),
            Via::Name,
        ),
        (
            "TLSv1.3",
            vec!["--http1.1", "--tlsv1.3"],
            None,
            Via::Address,
        ),
    ];
    for (i, (protocol, opts, cipher, via)) in runs.into_iter().enumerate() {
        let name = format!("uprobe{i}");
        let sni = matches!(via, Via::Name);
        let run = CurlRun {
            name: &name,
            opts: &opts,
            via,
            keylog: Some(&curls),
            reqs: tls::usual_requests(&name),
        };
        let asked = Asked {
            protocol,
            cipher,
            sni,
            alpn: "http/1.1",
        };
        seen.run(&pair, &certs, &run, Some(&asked));
    }
    let fin = h.stop();

    fin.note("uprobe_plaintext_without_keys");
    check_uprobe_run(&fin, &seen, 3);
    assert_eq!(fin.records.len(), 15);
    for r in &fin.records {
        assert_eq!(http::request_version(r), Some("HTTP/1.1"), "{r}");
        // What the captured handshake showed, when its packets were read
        // before the plaintext (the two rings are read independently): never
        // anything else.
        let t = format::tls(r).unwrap();
        let target = http::target(r).unwrap_or("");
        let (sni, version) = if target.contains("run=uprobe0") {
            (Some("api.test"), format::TLS13)
        } else if target.contains("run=uprobe1") {
            (Some("api.test"), format::TLS12)
        } else {
            (None, format::TLS13)
        };
        if format::sni(t).is_some() || sni.is_none() {
            assert_eq!(format::sni(t), sni, "{r}");
        }
        if let Some(v) = format::version(t) {
            assert_eq!(v, version, "{r}");
            assert!(format::cipher(t).is_some(), "{r}");
        }
    }
    assert!(fin.counter("tls_uprobe_packets_skipped") > 0);
}

/// HTTP/2 (ALPN h2) over TLS 1.3, without keys: each stream is a record
/// with version "HTTP/2" and a stream id, from the uprobes' plaintext
/// (nginx may send its SETTINGS before it reads curl's preface).
#[test]
fn uprobe_h2_without_keys() {
    let Some((pair, certs, curls, h)) = uprobe_setup(87, true, 1) else {
        return;
    };

    let seen = run_h2(&pair, &certs, "uprobe-h2", TLS13_SUITES[2], &curls);
    let fin = h.stop();

    fin.note("uprobe_h2_without_keys");
    check_uprobe_run(&fin, &seen, 1);
    for r in &fin.records {
        assert_eq!(http::request_version(r), Some(http::H2_VERSION), "{r}");
        assert!(http::stream_id(r).is_some_and(|id| id % 2 == 1), "{r}");
    }
}

/// The comparison's own check, without root or traffic: a record in the
/// expected shape, built from a curl line and an access log line, is
/// seen as the exchange they describe; suites and versions map to the
/// record's names; a key log is read per client random; a cleartext
/// record (`tls` null or absent) has no TLS facts.
#[test]
fn tls_helpers_agree_on_a_made_up_record() {
    let pairs = [
        ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
    ];
    for (openssl, iana) in pairs {
        assert_eq!(format::cipher_from_openssl(openssl), iana);
    }
    assert_eq!(format::version_from_openssl("TLSv1.2"), Some(format::TLS12));
    assert_eq!(format::version_from_openssl("TLSv1.3"), Some(format::TLS13));

    let keys = "# comment\n\
        CLIENT_RANDOM AA01 0011\n\
        CLIENT_HANDSHAKE_TRAFFIC_SECRET bb02 22\n\
        CLIENT_TRAFFIC_SECRET_0 bb02 33\n";
    let by = tls::keylog_by_client(keys);
    assert_eq!(by.len(), 2);
    assert_eq!(by["aa01"]["CLIENT_RANDOM"], "0011");
    assert_eq!(by["bb02"].len(), 2);

    let curl = CurlLine {
        method: "POST".into(),
        target: "/echo?run=x".into(),
        status: 201,
        size_download: 7,
        ssl_verify_result: 0,
        num_connects: 1,
        local_port: 40000,
        http_version: "1.1".into(),
        request_sha256: common::h2::sha256(b"a=1"),
        response_sha256: common::h2::sha256(b"created"),
    };
    let access = Access {
        method: "POST".into(),
        uri: "/echo?run=x".into(),
        status: 201,
        bytes: 7,
        server_protocol: "HTTP/1.1".into(),
        ssl_protocol: Some("TLSv1.2".into()),
        ssl_cipher: Some("ECDHE-RSA-CHACHA20-POLY1305".into()),
        sni: Some(tls::SERVER_NAME.into()),
        reused: false,
        alpn: Some("http/1.1".into()),
    };
    let record = serde_json::json!({
        "request": {"method": "POST", "target": "/echo?run=x", "version": "HTTP/1.1",
                    "body": "a=1", "body_encoding": "utf8"},
        "response": {"status": 201, "version": "HTTP/1.1",
                     "body": "Y3JlYXRlZA==", "body_encoding": "base64"},
        "tls": {"version": "TLS 1.2", "cipher": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "sni": "api.test", "alpn": "http/1.1"},
    });
    assert!(!format::is_plaintext(&record));
    tls::assert_same_exchanges(
        std::slice::from_ref(&record),
        std::slice::from_ref(&curl),
        std::slice::from_ref(&access),
    );

    let mut plain = record.clone();
    plain["tls"] = Value::Null;
    assert!(format::is_plaintext(&plain));
    assert_eq!(tls::seen(&plain).tls, None);
    plain.as_object_mut().unwrap().remove("tls");
    assert!(format::is_plaintext(&plain));
    let cleartext = Access {
        ssl_protocol: None,
        ssl_cipher: None,
        sni: None,
        alpn: None,
        ..access
    };
    assert_eq!(tls::seen(&plain), tls::expected(&curl, &cleartext));
}

/// curl's usual requests (tagged `name`) on one TLS 1.3 connection with
/// `suite`, SNI and HTTP/1.1, checked; what curl and nginx logged.
fn run_tls13(pair: &Pair, certs: &Certs, name: &str, suite: &str, keylog: &Path) -> Seen {
    let mut seen = Seen::default();
    let run = CurlRun {
        name,
        opts: &tls13_opts(suite),
        via: Via::Name,
        keylog: Some(keylog),
        reqs: tls::usual_requests(name),
    };
    let asked = Asked {
        protocol: "TLSv1.3",
        cipher: Some(suite),
        sni: true,
        alpn: "http/1.1",
    };
    seen.run(pair, certs, &run, Some(&asked));
    seen
}

/// Effective capabilities (CapEff) the uprobe thread keeps with `auto`:
/// CAP_SYS_PTRACE (19) and CAP_SYS_ADMIN (21).
const UPROBE_THREAD_CAPS: u64 = 1 << 19 | 1 << 21;

/// TLS_UPROBE_LIBS=auto: httpcap, started before the server, finds the
/// libssl nginx maps once it starts (a copy of the system's loaded
/// through LD_LIBRARY_PATH: another file, as a container's own libssl
/// is), probes it, keeps it probed when the file is deleted from disk
/// under the running nginx (as a package upgrade replaces it), reads the
/// plaintext of its HTTPS, and lets go of the file once nginx has exited. Only the thread that scans keeps any
/// capability, and only the three it needs.
#[test]
fn uprobe_auto_finds_a_servers_own_libssl() {
    if tls::skip(false) {
        return;
    }
    let Some(system) = tls::uprobe_libssl() else {
        return;
    };
    let mut pair = Pair::new(88, 1500);
    let certs = Certs::generate(&pair.dir, &pair.ip_a);
    tls::write_site(&pair);
    let own = pair.dir.join("lib");
    std::fs::create_dir_all(&own).unwrap();
    let copy = own.join(system.file_name().unwrap());
    std::fs::copy(&system, &copy).unwrap();
    let extra = [
        format::UPROBE_FLAG,
        "auto",
        "--tls-uprobe-scan-interval",
        "200ms",
        "--tls-uprobe-netns",
        "own",
    ];
    let args = af_packet_args(&pair, "1", &extra);
    let h = Httpcap::start_logged(&pair, &pair.a, &args, &[], "TLS uprobes attached");
    std::thread::sleep(Duration::from_millis(300));

    pair.nginx_env = vec![("LD_LIBRARY_PATH".into(), own.display().to_string())];
    pair.start_nginx_tls(&certs.cert, &certs.key);
    let probing = format!("probing {}", copy.display());
    wait_for(|| h.log_has(&probing), "nginx's own libssl probed");
    // Replaced on disk, as a package upgrade does: nginx still maps the
    // old file (" (deleted)" in its map), which stays probed.
    std::fs::remove_file(&copy).unwrap();
    let gone = format!("no process maps {} any more", copy.display());
    std::thread::sleep(Duration::from_millis(1500)); // 7 scans
    assert!(!h.log_has(&gone), "a deleted file nginx maps was let go");
    let curls = empty_keylog(&pair, "curl-keys.log");
    let seen = run_tls13(&pair, &certs, "auto", TLS13_SUITES[0], &curls);

    // The scanning thread keeps what it needs, the shards nothing.
    let caps = h.thread_caps();
    let scanner: Vec<u64> = caps
        .iter()
        .filter(|(name, _)| name == "httpcap-uprobes")
        .map(|(_, eff)| u64::from_str_radix(eff, 16).unwrap())
        .collect();
    assert_eq!(scanner, [UPROBE_THREAD_CAPS], "{caps:?}");
    h.assert_shards_hold_no_capability(1);

    pair.stop_nginx();
    wait_for(|| h.log_has(&gone), "nginx's libssl let go");
    let fin = h.stop();

    fin.note("uprobe_auto_finds_a_servers_own_libssl");
    check_uprobe_run(&fin, &seen, 1);
    assert_eq!(fin.records.len(), 5);
    // nginx's copy, and the system's file that httpcap itself maps.
    assert!(fin.counter("tls_uprobe_libraries") >= 1);
    assert!(fin.counter("tls_uprobe_libraries_released") >= 1);
    assert_eq!(fin.counter("tls_uprobe_libraries_failed"), 0);
}

/// httpcap's own TLS (to Kafka) is never read, also from a pid namespace
/// of its own, where its process id is not the one the kernel's probes
/// see (as in a container without the host's pids): httpcap runs under
/// `unshare --pid`, sends its records over TLS to a listener standing in
/// for a broker in the other namespace (`openssl s_server`: the
/// handshake completes and the first Kafka request is written through
/// the probed libssl), and reads nginx's plaintext as usual. Only nginx's
/// connection is read.
#[test]
fn uprobe_never_reads_its_own_tls_from_a_pid_namespace() {
    if tls::skip(false) || common::netns::skip_without(&["unshare"]) {
        return;
    }
    let Some(libssl) = tls::uprobe_libssl() else {
        return;
    };
    let (pair, certs) = serve(89);
    let curls = empty_keylog(&pair, "curl-keys.log");
    // The stand-in broker, in the other namespace (its own libssl calls
    // are not httpcap's to read), prints what it is sent.
    let broker_dir = pair.dir.join("broker");
    std::fs::create_dir_all(&broker_dir).unwrap();
    let broker_certs = Certs::generate(&broker_dir, &pair.ip_b);
    let broker = format!("{}:9093", pair.ip_b);
    let received = pair.dir.join("broker.out");
    let mut stand_in = std::process::Command::new("ip")
        .args(["netns", "exec", &pair.b, "openssl", "s_server", "-accept"])
        .arg(&broker)
        .arg("-cert")
        .arg(&broker_certs.cert)
        .arg("-key")
        .arg(&broker_certs.key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::fs::File::create(&received).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    wait_for(
        || {
            !common::netns::sh(&format!(
                "ip netns exec {} ss -Htln 'sport = :9093'",
                pair.b
            ))
            .stdout
            .is_empty()
        },
        "the stand-in broker listening",
    );

    let lib = libssl.display().to_string();
    let ca = broker_certs.ca.display().to_string();
    let extra = [
        format::UPROBE_FLAG,
        &lib,
        "--tls-uprobe-netns",
        "own",
        "--output-kafka-host",
        &broker,
        "--output-kafka-tls",
        "true",
        "--output-kafka-tls-ca",
        &ca,
        "--output-kafka-shutdown-timeout",
        "1s",
    ];
    let args = af_packet_args(&pair, "1", &extra);
    let h = Httpcap::start_logged_under(
        &pair,
        &pair.a,
        "unshare --pid --fork --mount-proc",
        &args,
        &[],
        "TLS uprobes attached",
    );
    std::thread::sleep(Duration::from_millis(300));
    // librdkafka's first request (with httpcap's client id) went out over TLS.
    let client_id = b"httpcap-shard-0";
    wait_for(
        || {
            std::fs::read(&received)
                .is_ok_and(|b| b.windows(client_id.len()).any(|w| w == client_id))
        },
        "httpcap's TLS to the stand-in broker",
    );

    let seen = run_tls13(&pair, &certs, "pidns", TLS13_SUITES[1], &curls);
    let fin = h.stop();
    let _ = stand_in.kill();
    let _ = stand_in.wait();

    fin.note("uprobe_never_reads_its_own_tls_from_a_pid_namespace");
    assert!(
        fin.stderr.contains("TLS uprobes attached") && fin.counter("connection_panics") == 0,
        "{}",
        fin.stderr
    );
    tls::assert_same_http_exchanges(&fin.records, &seen.curl, &seen.access);
    assert_eq!(fin.records.len(), 5);
    // nginx's connection only: httpcap's own was left out in the kernel.
    assert_eq!(fin.counter("tls_uprobe_connections"), 1);
    for r in &fin.records {
        let t = format::tls(r).unwrap_or_else(|| panic!("no tls object: {r}"));
        assert_eq!(format::source(t), Some("uprobe"), "{r}");
    }
    for lost in ["tls_uprobe_lost", "tls_uprobe_invalid", "http_parse_errors"] {
        assert_eq!(fin.counter(lost), 0, "{lost}");
    }
}
