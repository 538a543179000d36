//! Helpers shared by the integration tests: running the binary (`run`),
//! the record schema check every record goes through (`record_check`),
//! network namespaces and workloads for live capture, the Kafka broker
//! and consumer, and the shared third-party captures.

#![allow(dead_code)]

pub mod gen;
pub mod h2;
pub mod kafka;
pub mod load;
pub mod netns;
pub mod pcaps;
pub mod record_check;
pub mod run;
pub mod scratch;
pub mod tls;
pub mod workload;

pub use run::{Finished, Run};
pub use scratch::Scratch;

/// A helper process (a server, a peer, a scraper) killed when the test
/// ends, passing or not.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
