//! HTTPS live tests' shared side (issue 14): a throwaway CA and server
//! certificate made with `openssl`, curl runs over TLS that write their
//! keys in the NSS key log format (`SSLKEYLOGFILE`) and log what they saw
//! per request, nginx's TLS access log, the key log's lines per
//! connection, what a TLS record is expected to hold (`format`, the one
//! place that knows the record's and the CLI's TLS names), and the
//! comparison of records with what curl and nginx logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::h2::{self, sha256};
use super::netns::{must, Pair};

/// The name the server certificate is for, sent as SNI (`--resolve`
/// points it at the namespace address: no DNS).
pub const SERVER_NAME: &str = "api.test";
pub const TLS_PORT: u16 = 443;
pub const PLAIN_PORT: u16 = 80;

/// What the engine's TLS support looks like from outside: its settings,
/// the record's `tls` object and its counters (the design of issue 14).
/// A change of any of these names is made here.
pub mod format {
    use serde_json::Value;

    /// The setting naming the key log files (comma-separated).
    pub const KEYLOG_FLAG: &str = "--tls-keylog-file";
    pub const KEYLOG_ENV: &str = "TLS_KEYLOG_FILE";
    /// The setting naming the libssl files to trace with uprobes.
    pub const UPROBE_FLAG: &str = "--tls-uprobe-libs";

    /// Counters of the run summary.
    pub const TLS_CONNECTIONS: &str = "tls_connections";
    pub const TLS_NO_KEY: &str = "tls_no_key";
    pub const TLS_DECRYPTED_RECORDS: &str = "tls_records_decrypted";

    pub const TLS12: &str = "TLS 1.2";
    pub const TLS13: &str = "TLS 1.3";

    /// The record's `tls` object; None on a plaintext record, where it is
    /// `null` (or, for now, absent).
    pub fn tls(r: &Value) -> Option<&Value> {
        r.get("tls").filter(|t| t.is_object())
    }

    /// A plaintext record: `"tls": null` (preferred) or no `tls` key.
    pub fn is_plaintext(r: &Value) -> bool {
        matches!(r.get("tls"), None | Some(Value::Null))
    }

    /// `tls.version`: "TLS 1.2" or "TLS 1.3".
    pub fn version(t: &Value) -> Option<&str> {
        t["version"].as_str()
    }

    /// `tls.cipher`: the suite's IANA name.
    pub fn cipher(t: &Value) -> Option<&str> {
        t["cipher"].as_str()
    }

    /// `tls.sni`: the ClientHello's server name; None when null.
    pub fn sni(t: &Value) -> Option<&str> {
        t["sni"].as_str()
    }

    /// `tls.alpn`: the protocol the server chose; None when null.
    /// Where the plaintext came from: "keylog" or "uprobe".
    pub fn source(t: &Value) -> Option<&str> {
        t["source"].as_str()
    }

    pub fn alpn(t: &Value) -> Option<&str> {
        t["alpn"].as_str()
    }

    /// nginx's `$ssl_protocol` ("TLSv1.2") as the record's version.
    pub fn version_from_openssl(p: &str) -> Option<&'static str> {
        match p {
            "TLSv1.2" => Some(TLS12),
            "TLSv1.3" => Some(TLS13),
            _ => None,
        }
    }

    /// OpenSSL's name of a suite (nginx's `$ssl_cipher`, curl's
    /// `--ciphers`) as its IANA name, which the record uses. TLS 1.3
    /// suites have one name for both.
    pub fn cipher_from_openssl(name: &str) -> String {
        match name {
            "ECDHE-RSA-AES128-GCM-SHA256" => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
            "ECDHE-RSA-AES256-GCM-SHA384" => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
            "ECDHE-RSA-CHACHA20-POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".into(),
            other => other.into(),
        }
    }
}

/// True, after printing SKIPPED, when the HTTPS tests cannot run: the
/// live tests' preconditions, openssl, a curl built on OpenSSL (its
/// `--tls13-ciphers` and `SSLKEYLOGFILE`), and HTTP/2 in curl if `h2`.
/// The libssl curl and nginx use, for TLS_UPROBE_LIBS; prints SKIPPED and
/// gives None when it is not found or uprobes cannot work here (tracefs
/// is mounted when it is not).
pub fn uprobe_libssl() -> Option<PathBuf> {
    let ldd = Command::new("ldd")
        .arg("/usr/sbin/nginx")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let Some(lib) = ldd
        .lines()
        .find(|l| l.contains("libssl.so"))
        .and_then(|l| l.split("=>").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| std::fs::canonicalize(p).ok())
    else {
        eprintln!("SKIPPED: nginx is not linked with a libssl (ldd /usr/sbin/nginx: {ldd})");
        return None;
    };
    let tracing = Path::new("/sys/kernel/tracing");
    if !tracing.join("events").exists() {
        let _ = Command::new("mount")
            .args(["-t", "tracefs", "tracefs"])
            .arg(tracing)
            .status();
    }
    if !tracing.join("events/syscalls").exists() {
        eprintln!("SKIPPED: no syscall tracepoints in /sys/kernel/tracing (tracefs not mountable, or a kernel without CONFIG_FTRACE_SYSCALLS)");
        return None;
    }
    Some(lib)
}

pub fn skip(h2: bool) -> bool {
    if super::netns::skip_without(&["nginx", "curl", "openssl"]) {
        return true;
    }
    let v = Command::new("curl")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !v.contains("OpenSSL/") {
        eprintln!(
            "SKIPPED: curl is not built on OpenSSL (needs SSLKEYLOGFILE, --tls13-ciphers): {v}"
        );
        return true;
    }
    if h2
        && !v
            .lines()
            .any(|l| l.starts_with("Features:") && l.contains("HTTP2"))
    {
        eprintln!("SKIPPED: curl has no HTTP/2: {v}");
        return true;
    }
    false
}

/// A throwaway CA and a server certificate it signed, for `SERVER_NAME`
/// and the namespace address (subjectAltName), RSA (the TLS 1.2 suites
/// are ECDHE-RSA), valid two days.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    /// Made in `dir` with the openssl command.
    pub fn generate(dir: &Path, ip: &str) -> Certs {
        let p = |f: &str| dir.join(f).display().to_string();
        std::fs::write(
            dir.join("server.ext"),
            format!(
                "subjectAltName=DNS:{SERVER_NAME},IP:{ip}\n\
                 basicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature,keyEncipherment\n\
                 extendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        must(&format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=httpcap test CA' \
               -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
               -keyout {cak} -out {ca} && \
             openssl req -newkey rsa:2048 -nodes -subj '/CN={SERVER_NAME}' -keyout {key} -out {csr} && \
             openssl x509 -req -days 2 -in {csr} -CA {ca} -CAkey {cak} -CAcreateserial \
               -extfile {ext} -out {cert} && \
             openssl verify -CAfile {ca} {cert}",
            cak = p("ca.key"),
            ca = p("ca.pem"),
            key = p("server.key"),
            csr = p("server.csr"),
            ext = p("server.ext"),
            cert = p("server.pem"),
        ));
        Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// Files nginx serves: a small page, a JSON document (gzipped when
/// asked), a 100,000-byte incompressible binary (more than 64 KiB: many
/// TLS records, each at most 16 KiB of plaintext) and a gzip-able text.
pub fn write_site(pair: &Pair) {
    let www = pair.dir.join("www");
    std::fs::write(
        www.join("index.html"),
        "<html><body>tls index</body></html>\n",
    )
    .unwrap();
    let items: Vec<String> = (0..200)
        .map(|i| format!("{{\"id\":{i},\"name\":\"item {i}\"}}"))
        .collect();
    std::fs::write(
        www.join("data.json"),
        format!("{{\"items\":[{}]}}\n", items.join(",")),
    )
    .unwrap();
    std::fs::write(
        www.join("gz.txt"),
        "compressible line of text for gzip\n".repeat(500),
    )
    .unwrap();
    let mut big = Vec::with_capacity(100_000);
    let mut x: u32 = 0x9e37_79b9;
    while big.len() < 100_000 {
        // xorshift: incompressible, deterministic bytes.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(www.join("big.bin"), big).unwrap();
}

/// One request of a curl run.
#[derive(Clone, Debug)]
pub struct Req {
    /// Path and query.
    pub target: String,
    /// `--compressed`: asks for gzip; curl saves the decoded body.
    pub compressed: bool,
    /// A POST with this body (`--data-binary`), else a GET.
    pub post: Option<String>,
    /// `Connection: close`: the next request needs a new connection.
    pub close: bool,
}

impl Req {
    pub fn get(target: &str) -> Req {
        Req {
            target: target.into(),
            compressed: false,
            post: None,
            close: false,
        }
    }

    pub fn compressed(mut self) -> Req {
        self.compressed = true;
        self
    }

    pub fn post(target: &str, body: &str) -> Req {
        Req {
            post: Some(body.into()),
            ..Req::get(target)
        }
    }

    pub fn close(mut self) -> Req {
        self.close = true;
        self
    }
}

/// The usual requests of one connection, `tag` in each query so that
/// the runs' records can be told apart: a page, the >64 KiB binary, the
/// JSON gzipped, a POST, a 404.
pub fn usual_requests(tag: &str) -> Vec<Req> {
    vec![
        Req::get(&format!("/index.html?run={tag}")),
        Req::get(&format!("/big.bin?run={tag}")),
        Req::get(&format!("/data.json?run={tag}")).compressed(),
        Req::post(
            &format!("/echo?run={tag}"),
            &format!("name=value&run={tag}"),
        ),
        Req::get(&format!("/missing?run={tag}")),
    ]
}

/// How curl reaches nginx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// https://api.test/, `--resolve` to the namespace address: SNI sent.
    Name,
    /// https://<ip>/: no SNI (none is sent for an address).
    Address,
    /// http://<ip>/: cleartext.
    Plain,
}

/// One curl command: all its requests in order, on one connection
/// unless a request says `close`.
pub struct CurlRun<'a> {
    /// A name for its files.
    pub name: &'a str,
    /// Protocol options: `--http1.1`, `--tlsv1.3 --tls13-ciphers X`, ...
    pub opts: &'a [&'a str],
    pub via: Via,
    /// Where curl writes its keys (`SSLKEYLOGFILE`); none: it writes none
    /// (and `check_run` finds no keys for a TLS run).
    pub keylog: Option<&'a Path>,
    pub reqs: Vec<Req>,
}

/// What curl saw of one request, with the SHA-256 of the body it sent
/// and of the (decoded) body it saved.
#[derive(Clone, Debug)]
pub struct CurlLine {
    pub method: String,
    pub target: String,
    pub status: u64,
    /// Bytes received (coded, when gzipped).
    pub size_download: u64,
    pub ssl_verify_result: u64,
    /// New connections this request made: 1 or 0 (reused).
    pub num_connects: u64,
    pub local_port: u64,
    /// "1.1", "2".
    pub http_version: String,
    pub request_sha256: String,
    pub response_sha256: String,
}

/// curl's `--write-out` line per request (JSON).
const WRITE_OUT: &str = "{\"method\":\"%{method}\",\"url\":\"%{url}\",\"status\":%{http_code},\
\"size_download\":%{size_download},\"ssl_verify_result\":%{ssl_verify_result},\
\"num_connects\":%{num_connects},\"local_port\":%{local_port},\"http_version\":\"%{http_version}\",\
\"file\":\"%{filename_effective}\"}\\n";

/// Runs `run` in namespace `b`; what curl saw per request. Requests are
/// `--next` groups of one curl, so they share its connection cache (and
/// TLS session cache); each group repeats the protocol options.
pub fn curl(pair: &Pair, certs: &Certs, run: &CurlRun) -> Vec<CurlLine> {
    let origin = match run.via {
        Via::Name => format!("https://{SERVER_NAME}"),
        Via::Address => format!("https://{}", pair.ip_a),
        Via::Plain => format!("http://{}", pair.ip_a),
    };
    let dir = pair.dir.join(format!("curl-{}", run.name));
    std::fs::create_dir_all(&dir).unwrap();
    let mut args: Vec<String> = Vec::new();
    for (i, req) in run.reqs.iter().enumerate() {
        if i > 0 {
            args.push("--next".into());
        }
        args.extend(["-sS", "--cacert"].map(String::from));
        args.push(certs.ca.display().to_string());
        args.push("--resolve".into());
        args.push(format!("{SERVER_NAME}:{TLS_PORT}:{}", pair.ip_a));
        args.extend(run.opts.iter().map(|o| o.to_string()));
        args.push("-w".into());
        args.push(WRITE_OUT.into());
        if req.compressed {
            args.push("--compressed".into());
        }
        if let Some(body) = &req.post {
            args.push("--data-binary".into());
            args.push(body.clone());
        }
        if req.close {
            args.push("-H".into());
            args.push("Connection: close".into());
        }
        args.push("-o".into());
        args.push(dir.join(format!("body-{i}")).display().to_string());
        args.push(format!("{origin}{}", req.target));
    }
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &pair.b, "curl"]).args(&args);
    match run.keylog {
        Some(k) => cmd.env("SSLKEYLOGFILE", k),
        None => cmd.env_remove("SSLKEYLOGFILE"),
    };
    let out = cmd.output().expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(dir.join("curl.log"), &stdout).unwrap();
    assert!(
        out.status.success(),
        "curl {}: {}\n{stdout}\n{}",
        run.name,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("curl -w line {l}: {e}")))
        .collect();
    assert_eq!(lines.len(), run.reqs.len(), "curl {}: {stdout}", run.name);
    lines
        .iter()
        .zip(&run.reqs)
        .enumerate()
        .map(|(i, (l, req))| {
            let url = l["url"].as_str().unwrap();
            assert_eq!(url, format!("{origin}{}", req.target), "{l}");
            let body = std::fs::read(dir.join(format!("body-{i}"))).unwrap_or_default();
            CurlLine {
                method: l["method"].as_str().unwrap().into(),
                target: req.target.clone(),
                status: l["status"].as_u64().unwrap(),
                size_download: l["size_download"].as_u64().unwrap(),
                ssl_verify_result: l["ssl_verify_result"].as_u64().unwrap(),
                num_connects: l["num_connects"].as_u64().unwrap(),
                local_port: l["local_port"].as_u64().unwrap(),
                http_version: l["http_version"].as_str().unwrap().into(),
                request_sha256: sha256(req.post.as_deref().unwrap_or("").as_bytes()),
                response_sha256: sha256(&body),
            }
        })
        .collect()
}

/// A line of the TLS nginx's access log (`Pair::start_nginx_tls`);
/// TLS fields None on cleartext.
#[derive(Clone, Debug)]
pub struct Access {
    pub method: String,
    pub uri: String,
    pub status: u64,
    pub bytes: u64,
    /// "HTTP/1.1", "HTTP/2.0".
    pub server_protocol: String,
    /// "TLSv1.2", "TLSv1.3".
    pub ssl_protocol: Option<String>,
    /// OpenSSL's name.
    pub ssl_cipher: Option<String>,
    pub sni: Option<String>,
    /// "r" when the session was resumed.
    pub reused: bool,
    pub alpn: Option<String>,
}

/// Every line of the TLS nginx's access log.
pub fn access_log(pair: &Pair) -> Vec<Access> {
    let text = std::fs::read_to_string(pair.dir.join("access.log")).unwrap_or_default();
    let opt = |s: &str| (s != "-" && !s.is_empty()).then(|| s.to_string());
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 10, "access log line {l}");
            Access {
                method: f[0].into(),
                uri: f[1].into(),
                status: f[2].parse().unwrap(),
                bytes: f[3].parse().unwrap(),
                server_protocol: f[4].into(),
                ssl_protocol: opt(f[5]),
                ssl_cipher: opt(f[6]),
                sni: opt(f[7]),
                reused: f[8] == "r",
                alpn: opt(f[9]),
            }
        })
        .collect()
}

/// Lines of an NSS key log, by client random (hex): the labels each
/// connection has and their secrets.
pub fn keylog_by_client(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut by = BTreeMap::<String, BTreeMap<String, String>>::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 || l.starts_with('#') {
            continue;
        }
        by.entry(f[1].to_lowercase())
            .or_default()
            .insert(f[0].into(), f[2].to_lowercase());
    }
    by
}

/// What a key log holds for one connection of each version.
pub const TLS12_LABELS: &[&str] = &["CLIENT_RANDOM"];
pub const TLS13_LABELS: &[&str] = &[
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
];

/// Length of a file (0 if absent): where a run's key log lines start.
pub fn file_len(p: &Path) -> usize {
    std::fs::metadata(p).map_or(0, |m| m.len() as usize)
}

/// The key log lines written to `p` since it was `from` bytes long.
pub fn keylog_since(p: &Path, from: usize) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    t.get(from..).unwrap_or("").to_string()
}

/// What the test asked of one TLS run, to check that it happened so:
/// the version and suite nginx reports, SNI or not, ALPN.
pub struct Asked<'a> {
    pub protocol: &'a str,
    /// OpenSSL's name; None: whatever was negotiated.
    pub cipher: Option<&'a str>,
    pub sni: bool,
    pub alpn: &'a str,
}

/// The traffic happened as the test asked, before httpcap is looked at:
/// curl verified the certificate, each request got the answer nginx
/// logged (same order), all on one connection unless a request closed
/// it, nginx reports the asked protocol, suite, SNI and ALPN, and the key
/// log (`keys`, this run's lines) has a full set of secrets for each
/// connection curl opened.
pub fn check_run(lines: &[CurlLine], access: &[Access], asked: Option<&Asked>, keys: &str) {
    assert_eq!(lines.len(), access.len(), "{lines:?}\n{access:?}");
    let mut connections = 0;
    for (i, (c, a)) in lines.iter().zip(access).enumerate() {
        let want = if c.method == "POST" {
            201
        } else if c.target.starts_with("/missing") {
            404
        } else {
            200
        };
        assert_eq!(c.status, want, "{c:?}");
        assert_eq!(
            (&c.method, &c.target, c.status),
            (&a.method, &a.uri, a.status),
            "curl (left) vs nginx (right): {c:?} {a:?}"
        );
        assert_eq!(c.ssl_verify_result, 0, "{c:?}");
        connections += c.num_connects;
        if i > 0 && c.num_connects == 0 {
            assert_eq!(c.local_port, lines[i - 1].local_port, "{lines:?}");
        }
        match asked {
            None => {
                assert_eq!(a.ssl_protocol, None, "{a:?}");
                assert_eq!(a.server_protocol, "HTTP/1.1", "{a:?}");
            }
            Some(asked) => {
                assert_eq!(a.ssl_protocol.as_deref(), Some(asked.protocol), "{a:?}");
                if let Some(cipher) = asked.cipher {
                    assert_eq!(a.ssl_cipher.as_deref(), Some(cipher), "{a:?}");
                }
                let sni = asked.sni.then_some(SERVER_NAME);
                assert_eq!(a.sni.as_deref(), sni, "{a:?}");
                assert_eq!(a.alpn.as_deref(), Some(asked.alpn), "{a:?}");
                let http = if asked.alpn == "h2" { "2" } else { "1.1" };
                assert_eq!(c.http_version, http, "{c:?}");
            }
        }
    }
    assert_eq!(lines[0].num_connects, 1, "{lines:?}");
    let by_client = keylog_by_client(keys);
    match asked {
        None => assert!(by_client.is_empty(), "key log lines for cleartext: {keys}"),
        Some(asked) => {
            assert_eq!(
                by_client.len() as u64,
                connections,
                "one client random per connection in the key log:\n{keys}"
            );
            let labels = if asked.protocol == "TLSv1.3" {
                TLS13_LABELS
            } else {
                TLS12_LABELS
            };
            for (random, secrets) in &by_client {
                for l in labels {
                    assert!(secrets.contains_key(*l), "{random}: no {l} in\n{keys}");
                }
            }
        }
    }
}

/// The TLS facts of one connection as the record gives them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TlsFacts {
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub sni: Option<String>,
    pub alpn: Option<String>,
}

/// One exchange as both sides can tell it: from curl's and nginx's logs
/// (`expected`) or from a record (`seen`). `tls` None: cleartext.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Exchange {
    pub method: Option<String>,
    pub target: Option<String>,
    pub status: Option<u64>,
    pub request_sha256: String,
    pub response_sha256: String,
    pub tls: Option<TlsFacts>,
}

/// A record as an `Exchange` (HTTP fields through `h2::format`, which
/// reads HTTP/1 and HTTP/2 records alike).
pub fn seen(r: &Value) -> Exchange {
    Exchange {
        method: h2::format::method(r).map(str::to_string),
        target: h2::format::target(r).map(str::to_string),
        status: h2::format::status(r),
        request_sha256: sha256(&h2::format::request_body(r)),
        response_sha256: sha256(&h2::format::response_body(r)),
        tls: format::tls(r).map(|t| TlsFacts {
            version: format::version(t).map(str::to_string),
            cipher: format::cipher(t).map(str::to_string),
            sni: format::sni(t).map(str::to_string),
            alpn: format::alpn(t).map(str::to_string),
        }),
    }
}

/// What curl saw of a request and nginx logged of it, as an `Exchange`.
pub fn expected(c: &CurlLine, a: &Access) -> Exchange {
    Exchange {
        method: Some(c.method.clone()),
        target: Some(c.target.clone()),
        status: Some(c.status),
        request_sha256: c.request_sha256.clone(),
        response_sha256: c.response_sha256.clone(),
        tls: a.ssl_protocol.as_ref().map(|p| TlsFacts {
            version: format::version_from_openssl(p).map(str::to_string),
            cipher: a.ssl_cipher.as_deref().map(format::cipher_from_openssl),
            sni: a.sni.clone(),
            alpn: a.alpn.clone(),
        }),
    }
}

/// Records hold the exchanges curl and nginx logged (`lines` and
/// `access` in the same order), no more, no fewer, whatever their order.
pub fn assert_same_exchanges(records: &[Value], lines: &[CurlLine], access: &[Access]) {
    compare_exchanges(records, lines, access, true);
}

/// The same, without the `tls` objects (for plaintext from uprobes, whose
/// records do not describe the handshake).
pub fn assert_same_http_exchanges(records: &[Value], lines: &[CurlLine], access: &[Access]) {
    compare_exchanges(records, lines, access, false);
}

fn compare_exchanges(records: &[Value], lines: &[CurlLine], access: &[Access], tls: bool) {
    let keep_tls = |mut e: Exchange| {
        if !tls {
            e.tls = None;
        }
        e
    };
    let mut got: Vec<Exchange> = records.iter().map(seen).map(keep_tls).collect();
    let mut want: Vec<Exchange> = lines
        .iter()
        .zip(access)
        .map(|(c, a)| expected(c, a))
        .map(keep_tls)
        .collect();
    got.sort();
    want.sort();
    if got != want {
        let list = |xs: &[Exchange], ys: &[Exchange]| -> String {
            xs.iter()
                .filter(|x| !ys.contains(x))
                .map(|x| format!("\n  {x:?}"))
                .collect()
        };
        panic!(
            "records vs curl and nginx: {} records, {} exchanges\n\
             logged but not recorded:{}\nrecorded but not logged:{}",
            got.len(),
            want.len(),
            list(&want, &got),
            list(&got, &want),
        );
    }
}
