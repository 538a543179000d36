//! HTTPS on the mirror port: TLS 1.2 and 1.3 decrypted in the shard that
//! owns the connection, with the session secrets an NSS key log
//! (SSLKEYLOGFILE) gives.
//!
//! The path of a key, one module per step: `follow` (the thread that
//! reads key-log files as they grow and hands new lines to every shard)
//! → `keylog` (lines into the shard's bounded [`keylog::KeyStore`]) →
//! `suite` (the negotiated suite's AEAD and hash) → `schedule` (traffic
//! secrets or the TLS 1.2 master secret into keys and IVs) → `aead` (a
//! [`aead::Decrypter`] per direction opens records in place). The path of
//! a connection's bytes: `conn` (records, the handshake fields `hello`
//! reads, keys held while awaited, plaintext to the HTTP parser).
//!
//! Secrets never reach a log: every type holding key material prints
//! only lengths in its `Debug`, and no error carries secret bytes.
//! Cryptography is `ring` (BoringSSL's constant-time assembly).

pub mod aead;
pub mod conn;
pub mod craft;
pub mod follow;
pub mod hello;
pub mod keylog;
pub mod schedule;
pub mod suite;
pub mod uprobe;

pub use aead::{DecryptError, Decrypter, Version};
pub use conn::{TlsConn, TlsEnv, TlsInfo, TlsSource};
pub use keylog::{KeyLogError, KeyLogLine, KeyStore, Keys, Label, Secret};
pub use schedule::{ScheduleError, TrafficKeys};
pub use suite::{Aead, CipherSuite, Hash};

#[cfg(test)]
mod test_util;

use crate::stats::ShardStats;

/// Key-log entries expire after this: keys are needed only while a
/// handshake is decoded (and while a connection waits for them).
pub const KEY_MAX_AGE_NS: u64 = 600_000_000_000;

/// A shard's TLS keys and settings.
#[derive(Debug)]
pub struct TlsContext {
    pub keys: KeyStore,
    pub key_wait_ns: u64,
    pub key_wait_bytes: usize,
}

impl TlsContext {
    pub fn new(max_keys: usize, key_wait_ns: u64, key_wait_bytes: usize) -> TlsContext {
        TlsContext {
            keys: KeyStore::new(max_keys),
            key_wait_ns,
            key_wait_bytes,
        }
    }

    /// No keys: for tests, benches and fuzzing, where TLS connections are
    /// counted, not decrypted.
    pub fn none() -> &'static TlsContext {
        static NONE: std::sync::LazyLock<TlsContext> =
            std::sync::LazyLock::new(|| TlsContext::new(1, 0, 0));
        &NONE
    }

    /// The view a connection gets for one call.
    pub fn env<'a>(&'a self, stats: &'a ShardStats) -> TlsEnv<'a> {
        TlsEnv {
            keys: &self.keys,
            stats,
            key_wait_ns: self.key_wait_ns,
            key_wait_bytes: self.key_wait_bytes,
        }
    }
}
