//! HTTPS on the mirror port: TLS 1.2 and 1.3 decrypted in the shard that
//! owns the connection, with the session secrets an NSS key log
//! (SSLKEYLOGFILE) gives.
//!
//! - `keylog`: key-log lines and the shard's bounded key store;
//!   `follow`: the thread that reads key-log files as they grow and
//!   hands new lines to every shard.
//! - `suite`, `schedule`, `aead`: cipher suites, key derivation (TLS 1.3
//!   HKDF-Expand-Label, TLS 1.2 PRF), record protection.
//! - `hello`: the handshake fields a passive decoder needs.
//! - `conn`: one connection: records, handshake, keys (held while they are
//!   awaited), plaintext to the HTTP parser.

pub mod aead;
pub mod conn;
pub mod follow;
pub mod hello;
pub mod keylog;
pub mod schedule;
pub mod suite;

pub use conn::{TlsConn, TlsEnv, TlsInfo};

use crate::stats::ShardStats;
use keylog::KeyStore;

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
