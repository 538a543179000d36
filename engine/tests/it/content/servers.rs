//! Captures recorded here from real servers: nginx with `gzip on`, and a
//! small Python server that sends br, zstd, deflate and chains. Both run in
//! a network namespace, curl in another, joined by a veth pair whose
//! addresses exist only inside them; tcpdump records the veth. The decoded
//! bodies must equal, byte for byte, the files the servers sent.
//!
//! Needs root, ip, nginx, tcpdump, curl and Debian's python3-brotli and
//! python3-zstandard (tools/setup.sh installs them); prints SKIPPED otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::common::{body_bytes, run};
use crate::common::load::{self, Kind, Pass};
use crate::common::Finished;

const SRV_IP: &str = "10.78.0.1";
const CLI_IP: &str = "10.78.0.2";
const PYTHON: &str = "/usr/bin/python3";

const SERVER_PY: &str = r#"
import sys, zlib, gzip, brotli, zstandard
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

root = sys.argv[1]

def raw_deflate(b):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()

CODERS = {
    "br": ("br", brotli.compress),
    "zstd": ("zstd", lambda b: zstandard.ZstdCompressor(level=3).compress(b)),
    "zstd-stream": ("zstd", lambda b: zstandard.ZstdCompressor(write_content_size=False).compress(b)),
    "deflate": ("deflate", zlib.compress),
    "rawdeflate": ("deflate", raw_deflate),
    "gzip-br": ("gzip, br", lambda b: brotli.compress(gzip.compress(b))),
    "br-zstd": ("br, zstd", lambda b: zstandard.ZstdCompressor().compress(brotli.compress(b))),
    "xgzip": ("x-gzip", gzip.compress),
    # Already gzip on disk (the decompression bomb): sent as is.
    "raw-gzip": ("gzip", lambda b: b),
}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        _, coder, name = self.path.split("/", 2)
        ce, fn = CODERS[coder]
        body = fn(open(f"{root}/{name}", "rb").read())
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream" if name.startswith("bin") else "application/json")
        self.send_header("Content-Encoding", ce)
        if coder == "zstd-stream":
            # Chunked, in pieces, so framing and decoding both get exercised.
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                piece = body[i:i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        out = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

ThreadingHTTPServer((sys.argv[2], 8080), H).serve_forever()
"#;

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(st.success(), "{args:?} failed");
}

/// Namespaces, servers and tcpdump, torn down on drop (also on panic).
struct Lab {
    srv: String,
    cli: String,
    dir: PathBuf,
    children: Vec<Child>,
    /// Real traffic captured by tcpdump: no CPU-heavy file runs meanwhile.
    _live: Pass,
}

impl Lab {
    fn in_srv(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.srv]).args(args);
        c
    }

    fn curl(&self, args: &[&str]) {
        let st = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.cli,
                "curl",
                "-sS",
                "--http1.1",
                "-o",
                "/dev/null",
            ])
            .args(["--retry", "0", "--max-time", "20"])
            .args(args)
            .status()
            .expect("curl");
        assert!(st.success(), "curl {args:?}");
    }

    /// Waits (bounded by a count, not a clock assertion) until `ok` holds.
    fn wait_for(&self, what: &str, mut ok: impl FnMut() -> bool) {
        for _ in 0..600 {
            if ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what} did not come up");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.srv])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.cli])
            .status();
        if std::env::var_os("HTTPCAP_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Deterministic payloads: JSON-like text of a given size, and binary.
fn payloads(dir: &Path) -> HashMap<&'static str, Vec<u8>> {
    let mut json = String::from("{\"items\":[");
    let mut i = 0u64;
    while json.len() < 180_000 {
        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 44;
        json.push_str(&format!(
            "{{\"id\":{i},\"sku\":\"SKU-{x:06}\",\"name\":\"Product {i}\",\"price\":{}.{:02}}},",
            x % 500,
            x % 100
        ));
        i += 1;
    }
    json.push_str("{}]}");
    let mut x = 0x2545_f491_u32;
    let bin: Vec<u8> = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Skewed so that it compresses somewhat, yet is not UTF-8.
            (x % 97) as u8 | 0x80
        })
        .collect();
    let files = HashMap::from([
        ("api", json.into_bytes()),
        ("small", b"{\"id\":42,\"name\":\"Ines\"}\n".to_vec()),
        ("bin", bin),
        ("page", b"<html><body>home</body></html>\n".to_vec()),
    ]);
    for (name, data) in &files {
        std::fs::write(dir.join("files").join(name), data).expect("write payload");
    }
    files
}

fn setup() -> Option<(Lab, HashMap<&'static str, Vec<u8>>)> {
    let missing: Vec<&str> = [
        ("root", unsafe_free_is_root()),
        ("ip", have("ip", &["-V"])),
        ("nginx", have("nginx", &["-v"])),
        ("tcpdump", have("tcpdump", &["--version"])),
        ("curl", have("curl", &["--version"])),
        (
            "python3-brotli/python3-zstandard",
            have(PYTHON, &["-c", "import brotli, zstandard"]),
        ),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(n, _)| n)
    .collect();
    if !missing.is_empty() {
        println!(
            "SKIPPED: real-server captures: {} absent",
            missing.join(", ")
        );
        return None;
    }
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("httpcap-content-{id}"));
    std::fs::create_dir_all(dir.join("files")).expect("tmp");
    std::fs::create_dir_all(dir.join("static")).expect("tmp");
    let lab = Lab {
        srv: format!("hc-content-srv-{id}"),
        cli: format!("hc-content-cli-{id}"),
        dir: dir.clone(),
        children: Vec::new(),
        _live: load::enter(Kind::Live),
    };
    let (vs, vc) = (format!("hcs{id}"), format!("hcc{id}"));
    sh(&["ip", "netns", "add", &lab.srv]);
    sh(&["ip", "netns", "add", &lab.cli]);
    sh(&[
        "ip", "link", "add", &vs, "type", "veth", "peer", "name", &vc,
    ]);
    sh(&["ip", "link", "set", &vs, "netns", &lab.srv]);
    sh(&["ip", "link", "set", &vc, "netns", &lab.cli]);
    for (ns, dev, ip) in [(&lab.srv, &vs, SRV_IP), (&lab.cli, &vc, CLI_IP)] {
        sh(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            dev,
        ]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        // Wire-sized segments rather than 64 KB super-packets.
        let _ = Command::new("ip")
            .args(["netns", "exec", ns, "ethtool", "-K", dev])
            .args(["tso", "off", "gso", "off", "gro", "off", "tx", "off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let files = payloads(&dir);
    std::fs::write(dir.join("files/bomb"), super::bombs::gzip_bomb()).expect("bomb");
    std::fs::write(dir.join("static/app.js"), "console.log(1);\n".repeat(200)).expect("js");
    std::fs::write(
        dir.join("static/logo.png"),
        [0x89u8, b'P', b'N', b'G', 0, 0, 0, 0],
    )
    .expect("png");
    Some((lab, files))
}

fn unsafe_free_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn nginx_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    keepalive_timeout 30s;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    gzip on;
    gzip_min_length 1;
    gzip_comp_level 6;
    gzip_types application/json application/octet-stream text/plain;
    server {{
        listen {SRV_IP}:80;
        location /files/ {{ alias {d}/files/; default_type application/json; }}
        location /bin/ {{ alias {d}/files/; default_type application/octet-stream; }}
        location /pages/ {{ alias {d}/files/; default_type text/html; }}
        location /static/ {{ alias {d}/static/; }}
        location = /upload {{ default_type application/json; return 200 '{{"ok":true}}'; }}
        location = /cookies {{
            default_type application/json;
            add_header Set-Cookie "{COOKIE_SID}";
            add_header Set-Cookie "{COOKIE_THEME}";
            return 200 '{{"ok":true}}';
        }}
    }}
}}
"#
    )
}

/// Two cookies whose Expires dates hold commas: joined with ", " they
/// could not be told apart again.
const COOKIE_SID: &str = "sid=5f2b9c; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/; HttpOnly";
const COOKIE_THEME: &str = "theme=dark; Expires=Thu, 01 Jan 2027 00:00:00 GMT; SameSite=Lax";

/// Records the whole exchange set, returning the capture's path.
fn record(lab: &mut Lab) -> PathBuf {
    let dir = lab.dir.clone();
    std::fs::create_dir_all(dir.join("tmp")).expect("tmp");
    std::fs::write(dir.join("nginx.conf"), nginx_conf(&dir)).expect("conf");
    std::fs::write(dir.join("server.py"), SERVER_PY).expect("py");
    let nginx = lab
        .in_srv(&["nginx", "-p", &dir.display().to_string(), "-c"])
        .arg(dir.join("nginx.conf"))
        .spawn()
        .expect("nginx");
    lab.children.push(nginx);
    let py = lab
        .in_srv(&[PYTHON])
        .arg(dir.join("server.py"))
        .arg(dir.join("files"))
        .arg(SRV_IP)
        .spawn()
        .expect("python server");
    lab.children.push(py);
    let cli = lab.cli.clone();
    let up = |port: &str| {
        Command::new("ip")
            .args(["netns", "exec", &cli, "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{SRV_IP}/{port}"))
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    lab.wait_for("nginx", || up("80"));
    lab.wait_for("python server", || up("8080"));

    let pcap = dir.join("content.pcap");
    let dev = format!("hcs{}", std::process::id());
    let log = std::fs::File::create(dir.join("tcpdump.log")).expect("log");
    let dump = lab
        .in_srv(&[
            "tcpdump", "-i", &dev, "-s", "0", "-B", "32768", "-U", "-Z", "root", "-w",
        ])
        .arg(&pcap)
        .args(["tcp port 80 or tcp port 8080"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tcpdump");
    lab.children.push(dump);
    let log_path = dir.join("tcpdump.log");
    lab.wait_for("tcpdump", || {
        std::fs::read_to_string(&log_path)
            .map(|s| s.contains("listening on"))
            .unwrap_or(false)
    });

    let n = |p: &str| format!("http://{SRV_IP}{p}");
    let py = |p: &str| format!("http://{SRV_IP}:8080{p}");
    let real = [
        "-H",
        "X-Real-IP: 203.0.113.7",
        "-H",
        "X-Forwarded-For: 198.51.100.23, 10.1.1.1",
    ];
    // nginx gzip (chunked), keep-alive: JSON, small JSON, binary.
    let (u1, u2, u3) = (n("/files/api"), n("/files/small"), n("/bin/bin"));
    let mut a: Vec<&str> = real.to_vec();
    a.extend([
        "--compressed",
        &u1,
        "-o",
        "/dev/null",
        &u2,
        "-o",
        "/dev/null",
        &u3,
    ]);
    lab.curl(&a);
    // The Python server: every coding and chain, one keep-alive connection.
    let mut args: Vec<String> = ["-H", "Accept-Encoding: br, zstd, gzip, deflate"]
        .map(String::from)
        .to_vec();
    for coder in [
        "br",
        "zstd",
        "zstd-stream",
        "deflate",
        "rawdeflate",
        "gzip-br",
        "br-zstd",
        "xgzip",
    ] {
        for name in ["api", "bin", "small"] {
            if args.len() > 2 {
                args.extend(["-o".into(), "/dev/null".into()]);
            }
            args.push(py(&format!("/{coder}/{name}")));
        }
    }
    let args_ref: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    lab.curl(&args_ref);
    // A gzip bomb (1 GiB of zeros, about 1 MiB on the wire).
    let bomb_url = py("/raw-gzip/bomb");
    lab.curl(&[&bomb_url]);
    // A gzip-compressed request body.
    let gz = dir.join("small.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, &std::fs::read(dir.join("files/small")).unwrap()).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    let (data, upload) = (format!("@{}", gz.display()), py("/upload"));
    lab.curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Content-Encoding: gzip",
        "-H",
        "Forwarded: for=\"[2001:db8::5]:4711\";proto=http",
        "--data-binary",
        &data,
        &upload,
    ]);
    // Two Set-Cookie fields, asked for in origin form and in absolute form
    // (the target's authority, not the Host header, is the record's host).
    let (cookies, cookies_abs) = (n("/cookies?a=1&b="), n("/cookies"));
    lab.curl(&[&cookies]);
    lab.curl(&["--request-target", "http://shop.test/cookies", &cookies_abs]);
    // What the default filters drop: two extensions, an HTML answer, an
    // image Accept, a multipart upload.
    let (js, png, page, small) = (
        n("/static/app.js"),
        n("/static/logo.png"),
        n("/pages/page"),
        n("/files/small"),
    );
    lab.curl(&[&js, "-o", "/dev/null", &png]);
    lab.curl(&["--compressed", &page]);
    lab.curl(&["-H", "Accept: image/avif,image/webp,*/*;q=0.8", &small]);
    let form = format!("file=@{}", dir.join("files/small").display());
    lab.curl(&["-F", &form, &py("/upload")]);

    // Let tcpdump drain the kernel's buffer, then stop it (SIGTERM) so it
    // flushes and closes the file.
    std::thread::sleep(Duration::from_secs(1));
    let mut dump = lab.children.pop().expect("tcpdump");
    let _ = Command::new("kill").arg(dump.id().to_string()).status();
    let _ = dump.wait();
    let log = std::fs::read_to_string(dir.join("tcpdump.log")).unwrap_or_default();
    println!("tcpdump: {}", log.trim().replace('\n', "; "));
    pcap
}

/// Byte-for-byte equality, reported briefly.
fn same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: decoded body differs: {} bytes vs {} sent, first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

fn target(r: &Value) -> &str {
    r["request"]["target"].as_str().unwrap_or("")
}

fn check_bodies(run: &Finished, files: &HashMap<&str, Vec<u8>>) -> usize {
    let mut checked = 0;
    for r in &run.records {
        let t = target(r);
        let Some((coder, name)) = t
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .filter(|(c, _)| *c != "upload" && *c != "raw-gzip")
        else {
            continue;
        };
        let want = &files[name];
        let resp = &r["response"];
        same(&body_bytes(resp), want, t);
        assert_eq!(resp["body_size"], want.len(), "{t}");
        assert_eq!(resp["body_truncated"], false, "{t}");
        let ce = match coder {
            "files" | "bin" => "gzip",
            "zstd-stream" => "zstd",
            "rawdeflate" => "deflate",
            "gzip-br" => "gzip, br",
            "br-zstd" => "br, zstd",
            "xgzip" => "gzip",
            c => c,
        };
        assert_eq!(resp["content_encoding"], ce, "{t}");
        let enc = if std::str::from_utf8(want).is_ok() {
            "utf8"
        } else {
            "base64"
        };
        assert_eq!(resp["body_encoding"], enc, "{t}");
        checked += 1;
    }
    checked
}

#[test]
fn real_servers_round_trip() {
    let Some((mut lab, files)) = setup() else {
        return;
    };
    let pcap = record(&mut lab);
    println!(
        "recorded {} bytes",
        std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0)
    );

    // Default filters: every decoded body equals what was served.
    let defaults = [
        ("FILTER_BLOCK_EXTS", crate_default("exts")),
        ("FILTER_BLOCK_CTYPES", crate_default("ctypes")),
        ("FILTER_BLOCK_ACCEPT", crate_default("accept")),
        ("FILTER_BLOCK_MULTIPART", crate_default("multipart")),
    ];
    let r = run(&pcap, &defaults);
    let checked = check_bodies(&r, &files);
    assert_eq!(checked, 3 + 8 * 3, "every served body was checked");
    assert_eq!(r.counter("http_decode_failed"), 0);
    assert!(
        r.records
            .iter()
            .all(|x| x["flags"].as_array().unwrap().is_empty()),
        "no flags"
    );

    // The gzip request body, and the real client behind proxies.
    let post = r
        .records
        .iter()
        .find(|x| target(x) == "/upload")
        .expect("the gzip POST is kept; the multipart one is filtered");
    assert_eq!(post["request"]["content_encoding"], "gzip");
    same(&body_bytes(&post["request"]), &files["small"], "/upload");
    assert!(post["real_ip"].is_null(), "no X-Real-IP on that request");
    let api = r
        .records
        .iter()
        .find(|x| target(x) == "/files/api")
        .expect("api");
    assert_eq!(api["real_ip"], "203.0.113.7");
    assert_eq!(api["conn"]["client_ip"], CLI_IP);

    // Filtered transactions never appear; each filter's counter moved.
    assert_eq!(r.counter("filter_ext"), 2);
    assert_eq!(r.counter("filter_ctype"), 1);
    assert_eq!(r.counter("filter_accept"), 1);
    assert_eq!(r.counter("filter_multipart"), 1);
    for x in &r.records {
        let t = target(x);
        assert!(
            !t.starts_with("/static/") && !t.starts_with("/pages/"),
            "{t} was filtered"
        );
    }
    assert_eq!(r.records.len(), checked + 4);

    // Set-Cookie: an array of the fields' values, each exact.
    let cookies: Vec<&Value> = r
        .records
        .iter()
        .filter(|x| x["request"]["path"] == "/cookies")
        .collect();
    assert_eq!(cookies.len(), 2, "both /cookies requests");
    for x in &cookies {
        assert_eq!(
            x["response"]["headers"]["set-cookie"],
            serde_json::json!([COOKIE_SID, COOKIE_THEME]),
            "{}",
            target(x)
        );
    }
    let origin = cookies
        .iter()
        .find(|x| target(x) == "/cookies?a=1&b=")
        .expect("origin-form request");
    assert_eq!(origin["request"]["query"], "a=1&b=");
    assert_eq!(origin["request"]["host"], SRV_IP);
    let absolute = cookies
        .iter()
        .find(|x| target(x) == "http://shop.test/cookies")
        .expect("absolute-form request");
    assert!(absolute["request"]["query"].is_null());
    assert_eq!(absolute["request"]["host"], "shop.test");
    assert_eq!(absolute["request"]["headers"]["host"], SRV_IP);
    assert_eq!(absolute["observer"]["interface"], "content.pcap");

    // The bomb stops at MAX_BODY_BYTES; the gzip trailer tells its size.
    let bomb = r
        .records
        .iter()
        .find(|x| target(x) == "/raw-gzip/bomb")
        .expect("bomb record");
    let resp = &bomb["response"];
    let body = body_bytes(resp);
    assert_eq!(body.len(), 3 << 20);
    assert!(body.iter().all(|b| *b == 0));
    assert_eq!(resp["body_truncated"], true);
    assert_eq!(resp["body_size"], 1u64 << 30);
    assert_eq!(resp["content_encoding"], "gzip");

    // Other header choices.
    let r = run(&pcap, &[("REAL_IP_HEADER", "x-forwarded-for")]);
    let api = r
        .records
        .iter()
        .find(|x| target(x) == "/files/api")
        .expect("api");
    assert_eq!(api["real_ip"], "198.51.100.23");
    let r = run(&pcap, &[("REAL_IP_HEADER", "forwarded")]);
    let post = r
        .records
        .iter()
        .find(|x| target(x) == "/upload")
        .expect("post");
    assert_eq!(post["real_ip"], "2001:db8::5");

    // A small cap: bodies are the decoded prefix, flagged as truncated.
    let cap = 16 * 1024;
    let r = run(&pcap, &[("MAX_BODY_BYTES", "16KiB")]);
    let mut capped = 0;
    for x in &r.records {
        let Some((_, name)) = target(x).strip_prefix('/').and_then(|p| p.split_once('/')) else {
            continue;
        };
        if name == "bomb" {
            // Its encoded bytes were cut at the cap too: ISIZE is unknown.
            let resp = &x["response"];
            assert_eq!(body_bytes(resp), vec![0u8; cap]);
            assert_eq!(resp["body_truncated"], true);
            assert!(resp["body_size"].as_u64().unwrap() >= cap as u64);
            continue;
        }
        let Some(want) = files.get(name) else {
            continue;
        };
        let resp = &x["response"];
        let got = body_bytes(resp);
        let failed = x["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "body_decode_failed");
        if failed {
            // zstd decodes whole blocks (up to 128 KiB): a capped input may
            // end before the first block does. The raw prefix is kept.
            assert!(target(x).contains("zstd"), "{}", target(x));
            assert!(resp["content_encoding"].is_null());
            continue;
        }
        if want.len() > cap {
            same(&got, &want[..cap], target(x));
            assert_eq!(resp["body_truncated"], true);
            let size = resp["body_size"].as_u64().unwrap();
            assert!(
                size >= cap as u64 && size <= want.len() as u64,
                "{}",
                target(x)
            );
            capped += 1;
        } else {
            same(&got, want, target(x));
        }
    }
    assert!(capped >= 10, "{capped} bodies were capped");
    assert!(r.counter("http_body_truncated") >= capped as u64);
}

/// The engine's default filter lists, as the binary reports them.
fn crate_default(which: &str) -> &'static str {
    match which {
        "exts" => httpcap::config::DEFAULT_BLOCK_EXTS,
        "ctypes" => httpcap::config::DEFAULT_BLOCK_CTYPES,
        "accept" => httpcap::config::DEFAULT_BLOCK_ACCEPT,
        _ => httpcap::config::DEFAULT_BLOCK_MULTIPART,
    }
}
