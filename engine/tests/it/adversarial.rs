//! Hostile input: evasion captures from the shared corpus and captures we
//! generate (random bytes on port 80, a 10 MB header, a million half-open
//! SYNs). The engine must finish without a panic, within a memory bound,
//! and say what it dropped in its counters.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::common::gen::{Gen, ACK, PSH_ACK, SYN};
use crate::common::pcaps::corpus;
use crate::common::{Run, Scratch};

/// Peak resident memory any run may reach. The engine's own budget
/// (HEAP_LIMIT) is set well below this; the rest is code, rings and
/// allocator slack.
const MAX_RSS_KB: u64 = 400 * 1024;

struct Outcome {
    records: usize,
    targets: Vec<String>,
    counters: BTreeMap<String, u64>,
    /// None when it could not be measured.
    max_rss_kb: Option<u64>,
}

/// httpcap on `capture`: two shards, a 64 MiB heap budget (with bodies of
/// at most 512 KiB, so that a shard's share holds its largest transaction:
/// README, Memory), no filters; it must exit 0 without a panic.
fn run(capture: &Path, env: &[(&str, &str)]) -> Outcome {
    let done = Run::file(capture)
        .args(["--input-raw-bpf-filter", ""])
        .shards(2)
        .no_metrics()
        .args(["--heap-limit", "64MiB", "--max-body-bytes", "512KiB"])
        .envs(env.iter().copied())
        .measure_peak_rss()
        .output();
    assert!(
        done.status.success(),
        "{}: httpcap failed ({}):\n{}",
        capture.display(),
        done.status,
        done.stderr
    );
    assert!(
        !done.stderr.contains("panicked"),
        "{}: {}",
        capture.display(),
        done.stderr
    );
    Outcome {
        records: done.records.len(),
        targets: done
            .records
            .iter()
            .map(|v| v["request"]["target"].as_str().unwrap_or("-").to_string())
            .collect(),
        counters: done.summary(),
        max_rss_kb: done.peak_rss_kib,
    }
}

impl Outcome {
    /// A counter from the summary, which omits zero counters.
    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

fn check_bounded(name: &str, o: &Outcome) {
    println!(
        "{name}: records={} max_rss={:?} KiB packets={}",
        o.records,
        o.max_rss_kb,
        o.counter("packets")
    );
    if let Some(rss) = o.max_rss_kb {
        assert!(rss < MAX_RSS_KB, "{name}: peak RSS {rss} KiB");
    }
}

#[test]
fn corpus_evasions_run_clean() {
    let Some(root) = corpus() else {
        println!("SKIPPED: shared pcap corpus absent (set HTTPCAP_PCAPS)");
        return;
    };
    let mut captures: Vec<PathBuf> = Vec::new();
    for dir in ["suricata-verify/http-evader", "zeek/http/261"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                captures.push(p.join("input.pcap"));
            } else if p.extension().is_some_and(|x| x == "pcap") {
                captures.push(p);
            }
        }
    }
    captures.push(root.join("nDPI/http-manipulated.pcap"));
    captures.retain(|p| p.is_file());
    captures.sort();
    assert!(captures.len() >= 10, "expected the evasion captures");
    for c in &captures {
        let o = run(c, &[]);
        check_bounded(&c.display().to_string(), &o);
        assert!(o.counter("packets") > 0);
    }
}

/// The capture that stopped the sensor (issue: a crafted stream of 8
/// packets made a shard panic on `end - old` in the HTTP head parser).
#[test]
fn crafted_head_overflow_capture_runs_clean() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/repro/parser-head-overflow.pcap");
    if !path.is_file() {
        println!("SKIPPED: {} absent", path.display());
        return;
    }
    let o = run(&path, &[]);
    check_bounded("parser-head-overflow", &o);
    assert_eq!(o.targets, vec!["/api".to_string()]);
    assert_eq!(o.counter("connection_panics"), 0);
}

#[test]
fn random_bytes_on_port_80() {
    let dir = Scratch::new("adversarial-random");
    let path = dir.0.join("random.pcap");
    let mut g = Gen::new(&path);
    let mut rng = SmallRng::seed_from_u64(80);
    let c: Ipv4Addr = "10.9.0.1".parse().unwrap();
    let s: Ipv4Addr = "10.9.0.2".parse().unwrap();
    for conn in 0..200u16 {
        let port = 20000 + conn;
        let (mut cs, mut ss) = (rng.gen::<u32>(), rng.gen::<u32>());
        if conn % 2 == 0 {
            g.tcp(c, port, s, 80, cs, SYN, b"");
            g.tcp(s, 80, c, port, ss, SYN | ACK, b"");
            cs = cs.wrapping_add(1);
            ss = ss.wrapping_add(1);
        }
        for _ in 0..20 {
            let len = rng.gen_range(0..1460);
            let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            // Random flags and the odd wild sequence number too.
            let flags = if rng.gen_ratio(1, 10) {
                rng.gen()
            } else {
                PSH_ACK
            };
            if rng.gen() {
                let seq = if rng.gen_ratio(1, 20) { rng.gen() } else { cs };
                g.tcp(c, port, s, 80, seq, flags, &data);
                cs = cs.wrapping_add(len as u32);
            } else {
                let seq = if rng.gen_ratio(1, 20) { rng.gen() } else { ss };
                g.tcp(s, 80, c, port, seq, flags, &data);
                ss = ss.wrapping_add(len as u32);
            }
        }
    }
    drop(g);
    let o = run(&path, &[]);
    let _ = std::fs::remove_file(&path);
    check_bounded("random bytes", &o);
    assert_eq!(o.counter("packets"), 200 * 20 + 200);
    assert!(o.counter("http_resync_bytes") > 0 || o.counter("http_parse_errors") > 0);
}

#[test]
fn ten_megabyte_header_then_a_normal_request() {
    let dir = Scratch::new("adversarial-bighead");
    let path = dir.0.join("bighead.pcap");
    let mut g = Gen::new(&path);
    let c: Ipv4Addr = "10.9.1.1".parse().unwrap();
    let s: Ipv4Addr = "10.9.1.2".parse().unwrap();
    let (mut cs, mut ss) = (1000u32, 5000u32);
    g.tcp(c, 40000, s, 80, cs, SYN, b"");
    g.tcp(s, 80, c, 40000, ss, SYN | ACK, b"");
    cs += 1;
    ss += 1;
    let mut req = b"GET /huge HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.resize(req.len() + 10 * 1024 * 1024, b'a');
    req.extend_from_slice(b"\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    for chunk in req.chunks(1448) {
        g.tcp(c, 40000, s, 80, cs, PSH_ACK, chunk);
        cs = cs.wrapping_add(chunk.len() as u32);
    }
    for resp in [
        &b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n"[..],
        &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..],
    ] {
        g.tcp(s, 80, c, 40000, ss, PSH_ACK, resp);
        ss = ss.wrapping_add(resp.len() as u32);
    }
    drop(g);
    let o = run(&path, &[]);
    let _ = std::fs::remove_file(&path);
    check_bounded("10 MB header", &o);
    assert_eq!(o.counter("http_header_too_large"), 1);
    // The connection survives: the next request is paired with its response.
    assert!(o.targets.iter().any(|t| t == "/after"), "{:?}", o.targets);
}

#[test]
fn a_million_half_open_syns() {
    let dir = Scratch::new("adversarial-syns");
    let path = dir.0.join("syns.pcap");
    let mut g = Gen::new(&path);
    let s: Ipv4Addr = "10.9.2.2".parse().unwrap();
    let n: u32 = 1_000_000;
    for i in 0..n {
        let src = Ipv4Addr::from(0x0a0a_0000 + (i >> 8));
        g.tcp(src, 1024 + (i & 0xff) as u16, s, 80, i, SYN, b"");
    }
    drop(g);
    let o = run(&path, &[]);
    let _ = std::fs::remove_file(&path);
    check_bounded("1M SYNs", &o);
    assert_eq!(o.counter("packets"), n as u64);
    // Either expired (no payload: they age out quickly) or refused by the
    // memory budget; never all held at once.
    let opened = o.counter("streams_opened");
    let refused = o.counter("drop_memory_budget");
    assert_eq!(opened + refused, n as u64);
}
