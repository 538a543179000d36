//! Running the httpcap binary on a capture and reading its records.

use std::path::Path;
use std::process::Command;

pub const SHARED_PCAPS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/pcaps");

/// A capture from the shared third-party set, or None (with a SKIPPED
/// line) when the set is not there.
pub fn shared_pcap(rel: &str) -> Option<std::path::PathBuf> {
    let p = Path::new(SHARED_PCAPS).join(rel);
    if p.exists() {
        Some(p)
    } else {
        println!("SKIPPED: {} absent", p.display());
        None
    }
}

pub struct Run {
    pub records: Vec<serde_json::Value>,
    pub summary: String,
}

impl Run {
    /// A counter's value from the end-of-run summary (0 when absent).
    pub fn counter(&self, name: &str) -> u64 {
        for line in self.summary.lines() {
            for word in line.split_whitespace() {
                let word = word.trim_matches(|c: char| c == ',' || c == '"');
                if let Some(v) = word
                    .strip_prefix(name)
                    .and_then(|r| r.strip_prefix('=').or_else(|| r.strip_prefix(':')))
                {
                    if let Ok(n) = v.trim_matches(|c: char| !c.is_ascii_digit()).parse() {
                        return n;
                    }
                }
            }
        }
        0
    }
}

/// Runs httpcap on `pcap` with extra environment, filters off unless set.
pub fn run(pcap: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_httpcap"));
    cmd.args(["--input-raw-engine", "pcap_file", "--input-raw"])
        .arg(pcap)
        .args(["--processing-workers", "1", "--metrics-output", "none"]);
    for k in [
        "FILTER_BLOCK_EXTS",
        "FILTER_BLOCK_CTYPES",
        "FILTER_BLOCK_ACCEPT",
        "FILTER_BLOCK_MULTIPART",
    ] {
        cmd.env(k, "");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run httpcap");
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "httpcap failed: {summary}");
    let records = crate::record_check::parse_lines(&String::from_utf8_lossy(&out.stdout));
    Run { records, summary }
}

/// A body's bytes, undoing base64 when the record says so.
pub fn body_bytes(msg: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    let body = msg["body"].as_str().unwrap_or("");
    match msg["body_encoding"].as_str() {
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64"),
        _ => body.as_bytes().to_vec(),
    }
}
