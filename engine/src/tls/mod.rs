//! TLS decryption's crypto layer (issue 14): key log parsing and storage,
//! cipher suites, the TLS 1.2 and TLS 1.3 key schedules, and AEAD record
//! opening. Self-contained: no packets, no connection state; the
//! per-connection TLS state machine calls into it.
//!
//! The path of a key, one module per step: `keylog` (SSLKEYLOGFILE lines
//! into a bounded [`keylog::KeyStore`]) → `suite` (the negotiated cipher
//! suite's AEAD and hash) → `schedule` (traffic secrets or the TLS 1.2
//! master secret into keys and IVs) → `aead` (a [`aead::Decrypter`] per
//! direction opens records in place).
//!
//! Secrets never reach a log: every type holding key material prints
//! only lengths in its `Debug`, and no error carries secret bytes.
//! Cryptography is `ring` (BoringSSL's constant-time assembly).

pub mod aead;
pub mod keylog;
pub mod schedule;
pub mod suite;

pub use aead::{DecryptError, Decrypter, Version};
pub use keylog::{KeyLogError, KeyLogLine, KeyStore, Keys, Label, Secret};
pub use schedule::{ScheduleError, TrafficKeys};
pub use suite::{Aead, CipherSuite, Hash};

#[cfg(test)]
mod test_util;
