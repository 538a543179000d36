//! TLS keys in a shard: key-log lines arrive over the shard's channel
//! into its key store; connections waiting for their keys try them as
//! soon as they come; a connection that ends while waiting is parked,
//! its bytes held, until its keys come or `TLS_KEY_WAIT` passes (then it
//! is given up: `tls_no_key`).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crossbeam::channel::Receiver;

use super::{conn_info, http_ctx, Shard};
use crate::flow::table::Conn;
use crate::http::HttpConn;
use crate::panic_guard;
use crate::stats::Counter;
use crate::tls::keylog::KeyLogLine;

/// Most connections parked at once (each holds at most
/// TLS_KEY_WAIT_BYTES); past it the oldest is given up.
const MAX_PARKED: usize = 1024;

/// A connection that ended while its keys were awaited.
pub(super) struct Parked {
    conn: Conn<HttpConn>,
    until_ns: u64,
}

impl Shard {
    /// Gives the shard the key-log lines read at start and the channel
    /// that brings later ones.
    pub fn with_keys(
        mut self,
        initial: &[KeyLogLine],
        keys_in: Receiver<KeyLogLine>,
        keylog_rounds: Arc<AtomicU64>,
    ) -> Shard {
        // Lines present at start never age out (a recorded capture's clock
        // is unrelated to when the file was read); TLS_MAX_KEYS bounds them.
        let before = self.tls.keys.evicted();
        for line in initial {
            self.tls.keys.insert(line.clone(), u64::MAX);
        }
        let evicted = self.count_evicted(before);
        if evicted > 0 && self.id == 0 {
            tracing::warn!(target: "loss", "the key logs hold more entries than TLS_MAX_KEYS at start: the {evicted} oldest were dropped (tls_keys_evicted)");
        }
        self.keys_in = Some(keys_in);
        self.keylog_rounds = Some(keylog_rounds);
        self
    }

    /// Key-log lines that arrived since the last call, and expiry.
    pub(super) fn take_keys(&mut self) {
        let Some(rx) = &self.keys_in else { return };
        let now = self.now_ns;
        let before = self.tls.keys.evicted();
        let mut arrived = false;
        for line in rx.try_iter() {
            self.tls.keys.insert(line, now);
            arrived = true;
        }
        self.count_evicted(before);
        if arrived {
            if !self.tls_waiting.is_empty() {
                self.retry_waiting_tls();
            }
            self.retry_parked(false);
        }
    }

    /// Counts the key-store evictions since `before` (the store's count
    /// then) and returns them. Every shard holds the same keys: shard 0
    /// speaks for all.
    fn count_evicted(&self, before: u64) -> u64 {
        let evicted = self.tls.keys.evicted() - before;
        if evicted > 0 && self.id == 0 {
            self.stats.add(Counter::TlsKeysEvicted, evicted);
        }
        evicted
    }

    /// New keys: each connection that waits for its keys tries them.
    fn retry_waiting_tls(&mut self) {
        let now = self.now_ns;
        for (slot, id) in std::mem::take(&mut self.tls_waiting) {
            let settings = &self.settings;
            let stats = &*self.stats;
            let mut ctx = http_ctx(settings, stats, &self.filters, &mut self.done, &self.tls);
            let Some(conn) = self.table.try_get_mut(slot).filter(|c| c.id == id) else {
                continue;
            };
            conn.app.retry_tls(now, &mut ctx);
            if conn.app.tls_waiting() {
                self.tls_waiting.push((slot, id));
            }
            self.emit(slot);
            self.recharge(slot);
        }
    }

    /// Keeps an ended connection whose keys have not come yet.
    pub(super) fn park(&mut self, conn: Conn<HttpConn>, now_ns: u64) {
        // A deque: a full queue gives up its oldest without moving the
        // other 1,023 (~450 bytes each).
        if self.parked.len() >= MAX_PARKED {
            if let Some(oldest) = self.parked.pop_front() {
                self.end_app(oldest.conn, now_ns);
            }
        }
        let until_ns = now_ns.saturating_add(self.tls.key_wait_ns);
        self.parked.push_back(Parked { conn, until_ns });
    }

    /// Parked connections try the keys again; those decrypted, past their
    /// wait, or all of them with `ending`, end (emitting what they hold).
    pub(super) fn retry_parked(&mut self, ending: bool) {
        if self.parked.is_empty() {
            return;
        }
        let now = self.now_ns;
        for mut p in std::mem::take(&mut self.parked) {
            let retried = panic_guard::contain(|| {
                let settings = &self.settings;
                let stats = &*self.stats;
                let mut ctx = http_ctx(settings, stats, &self.filters, &mut self.done, &self.tls);
                p.conn.app.retry_tls(now, &mut ctx);
                self.emit_with(&conn_info(&p.conn));
            });
            if let Err(message) = retried {
                self.drop_panicked(None, &message);
                continue;
            }
            if ending || !p.conn.app.tls_waiting() || now >= p.until_ns {
                self.end_app(p.conn, now);
            } else {
                self.parked.push_back(p);
            }
        }
    }

    /// Bytes parked connections hold (for the memory budget).
    pub(super) fn parked_bytes(&self) -> usize {
        self.parked
            .iter()
            .map(|p| p.conn.app.buffered_bytes())
            .sum()
    }
}
