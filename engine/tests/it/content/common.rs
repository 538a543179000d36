//! Running the httpcap binary on a capture and reading its bodies.

use std::path::Path;

use crate::common::{Finished, Run};

/// Runs httpcap on `pcap` with one shard and extra environment, filters
/// off unless `env` sets them; fails unless it succeeds.
pub fn run(pcap: &Path, env: &[(&str, &str)]) -> Finished {
    let done = Run::file(pcap)
        .shards(1)
        .no_metrics()
        .envs(env.iter().copied())
        .output();
    done.assert_success();
    done
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
