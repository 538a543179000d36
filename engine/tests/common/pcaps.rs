//! The shared third-party captures (`../shared/pcaps`, or `HTTPCAP_PCAPS`):
//! read in place, never copied into the repository; tests that need them
//! skip with a message when they are absent.

use std::path::{Path, PathBuf};

/// The corpus directory, if there is one.
pub fn corpus() -> Option<PathBuf> {
    [
        std::env::var_os("HTTPCAP_PCAPS").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps")),
        Some(PathBuf::from("/work/shared/pcaps")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_dir())
}

/// One capture of the corpus, or None (with a SKIPPED line) when it is
/// not there.
pub fn shared_pcap(rel: &str) -> Option<PathBuf> {
    let found = corpus().map(|c| c.join(rel)).filter(|p| p.exists());
    if found.is_none() {
        println!("SKIPPED: shared capture {rel} absent (../shared/pcaps or HTTPCAP_PCAPS)");
    }
    found
}

/// The repository's own test data (`engine/testdata`).
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}
