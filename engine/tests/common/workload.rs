//! What live tests send and how they compare what httpcap recorded: a
//! curl workload against nginx, generated captures, and record keys.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;

use super::netns::{must, run_to_end, Finished, Pair};

/// (method, target, status, response body size) of each record.
pub fn record_keys(records: &[Value]) -> Vec<(String, String, u16, u64)> {
    let mut v: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["request"]["method"].as_str().unwrap_or("").to_string(),
                r["request"]["target"].as_str().unwrap_or("").to_string(),
                r["response"]["status"].as_u64().unwrap_or(0) as u16,
                r["response"]["body_size"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

pub fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// A few kinds of exchange: small API calls, a POST with a body, a
/// 300 KB static file (many segments, GRO-sized frames), a 404.
pub fn curl_workload(pair: &Pair) {
    let www = pair.dir.join("www");
    std::fs::write(www.join("small.txt"), "hello\n").unwrap();
    let big: String = (0..300_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    std::fs::write(www.join("big.txt"), big).unwrap();
    let base = format!("http://{}", pair.ip_a);
    let mut urls = String::new();
    for i in 0..20 {
        urls.push_str(&format!(" {base}/api/items/{i}?q={i}"));
    }
    // One keep-alive connection for many requests, and separate ones.
    must(&format!(
        "ip netns exec {} curl -sf -o /dev/null {urls}",
        pair.b
    ));
    for path in ["/small.txt", "/big.txt", "/missing", "/api/x"] {
        must(&format!(
            "ip netns exec {} curl -s -o /dev/null {base}{path}",
            pair.b
        ));
    }
    must(&format!(
        "ip netns exec {} curl -s -o /dev/null -d 'name=value&x=1' {base}/echo",
        pair.b
    ));
}

/// Generates a capture with the loadgen (optionally IPIP-wrapped).
pub fn loadgen_capture(path: &std::path::Path, ipip: bool) {
    loadgen_capture_with(path, if ipip { &["--ipip"] } else { &[] });
}

pub fn loadgen_capture_with(path: &std::path::Path, extra: &[&str]) {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        p: httpcap_loadgen::Params,
    }
    let mut args = vec![
        "loadgen",
        "--transactions",
        "1500",
        "--seed",
        "7",
        "--concurrency",
        "16",
    ];
    args.extend_from_slice(extra);
    let cli = Cli::try_parse_from(args).expect("loadgen arguments");
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    httpcap_loadgen::generate(&cli.p, f, None).unwrap();
}

/// A generated capture in the pair's directory (optionally IPIP-wrapped)
/// and httpcap's `pcap_file` output of it with 2 shards: the reference
/// that a live replay of the same capture must equal.
pub fn replay_reference(pair: &Pair, ipip: bool) -> (std::path::PathBuf, Finished) {
    let pcap = pair.dir.join("replay.pcap");
    loadgen_capture(&pcap, ipip);
    let file = run_to_end(
        &[
            "--input-raw-engine",
            "pcap_file",
            "--input-raw",
            pcap.to_str().unwrap(),
            "--processing-workers",
            "2",
        ],
        &[("IPIP", if ipip { "true" } else { "false" })],
        &pair.dir.join("file.json"),
    );
    assert_eq!(file.code, Some(0), "{}", file.stderr);
    assert!(file.records.len() > 1000);
    (pcap, file)
}

/// Replays `pcap` from the pair's `b` side at tcpreplay's top speed.
pub fn replay_topspeed(pair: &Pair, pcap: &std::path::Path) {
    replay_at(pair, pcap, "--topspeed");
}

/// Replays `pcap` from the pair's `b` side at the tcpreplay `speed`
/// (`--topspeed`, `--pps 10000`).
pub fn replay_at(pair: &Pair, pcap: &std::path::Path, speed: &str) {
    must(&format!(
        "ip netns exec {} tcpreplay -q {speed} -i {} {}",
        pair.b,
        pair.vb,
        pcap.display()
    ));
}

/// What must be equal between live and file input: everything but ids,
/// times and the observer (whose `interface` names the device or the file).
pub fn comparable(records: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        let mut r = r.clone();
        let o = r.as_object_mut().unwrap();
        o.remove("id");
        o.remove("duration_us");
        o.remove("observer");
        for side in ["request", "response"] {
            if let Some(s) = o.get_mut(side).and_then(|s| s.as_object_mut()) {
                s.remove("ts");
            }
        }
        *m.entry(r.to_string()).or_insert(0) += 1;
    }
    m
}
