//! One TLS connection seen from the wire: records are cut from each
//! direction's bytes, the handshake is read for the randoms, version,
//! cipher suite, SNI and ALPN, the keys are found in the shard's key store
//! (from the key log), and each protected record is opened; the plaintext
//! goes to the connection's HTTP parser (HTTP/2 when ALPN says h2).
//!
//! Keys that have not arrived yet: the connection's bytes are held (up to
//! `TLS_KEY_WAIT_BYTES`, for `TLS_KEY_WAIT`), then replayed in their order
//! once the key log names them, or given up (`tls_no_key`).
//!
//! Loss: a record cut by a capture hole cannot be authenticated. When the
//! hole lies inside a record whose length is known, that record is
//! skipped (its sequence number still counts) and the next one opens as
//! usual; when the framing itself is lost, the direction looks for the
//! next record header and finds its sequence number by trial.

use std::collections::VecDeque;
use std::sync::Arc;

use super::aead::{Decrypter, Version as AeadVersion};
use super::hello::{self, Joiner};
use super::keylog::{KeyStore, Secret};
use super::schedule::{self, TrafficKeys};
use super::suite::{self, CipherSuite};
use crate::stats::{Counter, ShardStats};

/// Largest record accepted: 2^14 plaintext plus the most expansion TLS
/// 1.2 allows (RFC 5246 §6.2.3); TLS 1.3 allows less (2^14 + 256).
pub const MAX_RECORD: usize = (1 << 14) + 2048;
const HEADER: usize = 5;

/// Sequence numbers tried to resume after the framing was lost.
const RESYNC_TRIES: u64 = 64;
/// Record headers tried before a direction is given up after a loss.
const RESYNC_CANDIDATES: u32 = 16;

mod content {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
}

/// Which side sent bytes: the client (that sent the ClientHello) or the
/// server. (TLS names its own directions so that it depends on nothing
/// of HTTP's.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Client,
    Server,
}

/// Where a TLS connection's plaintext came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsSource {
    /// Decrypted from the capture with a key log's secrets.
    #[default]
    KeyLog,
    /// Read from the process's libssl calls (TLS_UPROBE_LIBS).
    Uprobe,
}

impl TlsSource {
    /// The record's `tls.source`.
    pub fn name(self) -> &'static str {
        match self {
            TlsSource::KeyLog => "keylog",
            TlsSource::Uprobe => "uprobe",
        }
    }
}

/// What the record's `tls` object shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    pub source: TlsSource,
    pub version: Option<&'static str>,
    pub cipher: Option<&'static str>,
    pub sni: Option<Box<str>>,
    pub alpn: Option<Box<str>>,
}

/// The shard's TLS settings and keys, lent to a connection per call.
pub struct TlsEnv<'a> {
    pub keys: &'a KeyStore,
    pub stats: &'a ShardStats,
    pub key_wait_ns: u64,
    pub key_wait_bytes: usize,
}

/// Where decrypted bytes go (the connection's HTTP state).
pub trait Plaintext {
    fn data(&mut self, role: Peer, bytes: &[u8], ts_ns: u64);
    /// Plaintext lost (a record that could not be opened).
    fn gap(&mut self, role: Peer, len: u64, ts_ns: u64);
    /// ALPN chose HTTP/2: the plaintext is HTTP/2 from its start.
    fn http2(&mut self);
}

/// Whether a direction's first bytes start a TLS handshake: a handshake
/// record (SSL 3.0 to TLS 1.3 framing) holding a ClientHello from the
/// client or a ServerHello from the server.
pub fn starts_tls(role: Peer, data: &[u8]) -> bool {
    let hello = match role {
        Peer::Client => hello::kind::CLIENT_HELLO,
        Peer::Server => hello::kind::SERVER_HELLO,
    };
    matches!(data, [content::HANDSHAKE, 3, 0..=4, _, _, h, ..] if *h == hello)
}

/// Whether bytes look like a protected TLS record (a connection picked
/// up after its handshake: it cannot be decrypted).
pub fn looks_like_tls_record(data: &[u8]) -> bool {
    matches!(data, [content::APPLICATION_DATA, 3, 1..=4, hi, lo, ..]
        if (usize::from(*hi) << 8 | usize::from(*lo)) <= MAX_RECORD)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the cleartext handshake.
    Hello,
    /// The ServerHello is read but the key log does not have the keys yet.
    Waiting { since_ns: u64 },
    /// Keys installed.
    Keyed,
    /// Given up; the reason was counted.
    Failed,
}

/// One direction.
#[derive(Default)]
struct Half {
    /// The record being collected (header and payload).
    rec: Vec<u8>,
    joiner: Joiner,
    dec: Option<Decrypter>,
    /// Keys to switch to: TLS 1.2 at ChangeCipherSpec, 1.3 at Finished.
    next: Option<(Decrypter, TrafficKeys)>,
    /// Current keys (for resynchronising after a loss).
    keys: Option<TrafficKeys>,
    /// TLS 1.3 application secret, for KeyUpdate.
    app_secret: Option<Secret>,
    /// Bytes of a record cut by a hole still to drop.
    drop: usize,
    /// The framing was lost: looking for the next record header.
    hunting: bool,
    candidates: u32,
    opened: u64,
}

impl std::fmt::Debug for Half {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Half")
            .field("rec", &self.rec.len())
            .field("keyed", &self.dec.is_some())
            .field("hunting", &self.hunting)
            .field("opened", &self.opened)
            .finish()
    }
}

/// Bytes held while the keys are awaited.
#[derive(Debug)]
enum Held {
    Data(Peer, u64, Vec<u8>),
    Gap(Peer, u64, u64),
}

#[derive(Debug)]
pub struct TlsConn {
    dirs: [Half; 2],
    state: State,
    client_random: Option<[u8; 32]>,
    server_random: Option<[u8; 32]>,
    suite: Option<CipherSuite>,
    tls13: bool,
    info: TlsInfo,
    /// Shared with the records once decryption starts.
    shared: Option<Arc<TlsInfo>>,
    alpn_announced: bool,
    held: VecDeque<Held>,
    held_bytes: usize,
}

fn idx(role: Peer) -> usize {
    match role {
        Peer::Client => 0,
        Peer::Server => 1,
    }
}

fn peer_of(d: usize) -> Peer {
    if d == 0 {
        Peer::Client
    } else {
        Peer::Server
    }
}

fn record_len(header: &[u8]) -> usize {
    usize::from(header[3]) << 8 | usize::from(header[4])
}

impl Default for TlsConn {
    fn default() -> Self {
        TlsConn::new()
    }
}

impl TlsConn {
    pub fn new() -> TlsConn {
        TlsConn {
            dirs: [Half::default(), Half::default()],
            state: State::Hello,
            client_random: None,
            server_random: None,
            suite: None,
            tls13: false,
            info: TlsInfo::default(),
            shared: None,
            alpn_announced: false,
            held: VecDeque::new(),
            held_bytes: 0,
        }
    }

    /// A connection seen only after its handshake: its bytes are dropped.
    pub fn opaque() -> TlsConn {
        TlsConn {
            state: State::Failed,
            ..TlsConn::new()
        }
    }

    /// The record's `tls` object, once the connection decrypts.
    pub fn info(&self) -> Option<Arc<TlsInfo>> {
        self.shared.clone()
    }

    pub fn sni(&self) -> Option<&str> {
        self.info.sni.as_deref()
    }

    /// What the handshake showed in the clear so far (SNI, the
    /// ServerHello's version and suite, ALPN when it is not encrypted),
    /// whether or not the connection is decrypted.
    pub fn handshake_info(&self) -> &TlsInfo {
        &self.info
    }

    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// Waiting for its keys to appear in a key log.
    pub fn is_waiting(&self) -> bool {
        matches!(self.state, State::Waiting { .. })
    }

    /// The connection ends: keys that came meanwhile are used one last
    /// time, else it is given up.
    pub fn close(&mut self, env: &TlsEnv<'_>, out: &mut dyn Plaintext) {
        if self.is_waiting() && !self.try_keys(env, out) {
            self.give_up(Counter::TlsNoKey, env);
        }
    }

    /// Bytes held: partial records, handshake messages, bytes awaiting keys.
    pub fn buffered_bytes(&self) -> usize {
        let dirs: usize = self
            .dirs
            .iter()
            .map(|d| d.rec.capacity() + d.joiner.buffered())
            .sum();
        dirs + self.held_bytes
    }

    pub fn data(
        &mut self,
        role: Peer,
        data: &[u8],
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) {
        if let State::Waiting { .. } = self.state {
            if !self.try_keys(env, out) {
                self.hold(Held::Data(role, ts_ns, data.to_vec()), data.len(), env);
                return;
            }
        }
        self.feed(idx(role), data, ts_ns, env, out);
    }

    pub fn gap(
        &mut self,
        role: Peer,
        len: u64,
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) {
        match self.state {
            State::Failed => {}
            State::Waiting { .. } => self.hold(Held::Gap(role, len, ts_ns), 0, env),
            State::Hello | State::Keyed => self.lose(idx(role), len, ts_ns, env, out),
        }
    }

    /// The shard's sweep: keys that arrived since, or the wait is over.
    pub fn poll(&mut self, now_ns: u64, env: &TlsEnv<'_>, out: &mut dyn Plaintext) {
        if let State::Waiting { since_ns } = self.state {
            if !self.try_keys(env, out) && now_ns.saturating_sub(since_ns) >= env.key_wait_ns {
                self.give_up(Counter::TlsNoKey, env);
            }
        }
    }

    // ---- Records ------------------------------------------------------

    fn feed(
        &mut self,
        d: usize,
        mut data: &[u8],
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) {
        while !data.is_empty() {
            match self.state {
                State::Failed => return,
                State::Waiting { .. } => {
                    self.hold(
                        Held::Data(peer_of(d), ts_ns, data.to_vec()),
                        data.len(),
                        env,
                    );
                    return;
                }
                State::Hello | State::Keyed => {}
            }
            let dir = &mut self.dirs[d];
            if dir.drop > 0 {
                let n = dir.drop.min(data.len());
                dir.drop -= n;
                data = &data[n..];
                continue;
            }
            if dir.hunting {
                data = self.hunt(d, data, ts_ns, env, out);
                continue;
            }
            let dir = &mut self.dirs[d];
            let have = dir.rec.len();
            if have < HEADER {
                let n = (HEADER - have).min(data.len());
                dir.rec.extend_from_slice(&data[..n]);
                data = &data[n..];
                if dir.rec.len() < HEADER {
                    return;
                }
                let h = &dir.rec[..HEADER];
                if !(20..=24).contains(&h[0]) || h[1] != 3 || record_len(h) > MAX_RECORD {
                    env.stats.inc(Counter::TlsRecordInvalid);
                    self.give_up(Counter::TlsDecryptFailed, env);
                    return;
                }
            }
            let dir = &mut self.dirs[d];
            let total = HEADER + record_len(&dir.rec);
            let n = (total - dir.rec.len()).min(data.len());
            dir.rec.extend_from_slice(&data[..n]);
            data = &data[n..];
            if dir.rec.len() == total {
                let mut rec = std::mem::take(&mut dir.rec);
                self.record(d, &mut rec, ts_ns, env, out);
                rec.clear();
                if rec.capacity() <= MAX_RECORD + HEADER {
                    self.dirs[d].rec = rec;
                }
            }
        }
    }

    /// One whole record.
    fn record(
        &mut self,
        d: usize,
        rec: &mut [u8],
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) {
        let (header, payload) = rec.split_at_mut(HEADER);
        let header: [u8; HEADER] = [header[0], header[1], header[2], header[3], header[4]];
        let ty = header[0];
        if ty == content::CHANGE_CIPHER_SPEC {
            // TLS 1.2 switches to the keys here; TLS 1.3 sends it only
            // for middleboxes, in the clear.
            if !self.tls13 {
                let dir = &mut self.dirs[d];
                if let Some((dec, keys)) = dir.next.take() {
                    dir.dec = Some(dec);
                    dir.keys = Some(keys);
                }
            }
            return;
        }
        let Some(dec) = self.dirs[d].dec.as_mut() else {
            match ty {
                content::HANDSHAKE => self.handshake(d, payload, ts_ns, env, out),
                content::ALERT => {}
                // Protected data before we have keys: after a loss, or
                // TLS 1.3 early data (0-RTT), which is not decrypted.
                _ => {
                    env.stats.inc(Counter::TlsRecordGaps);
                    out.gap(peer_of(d), payload.len() as u64, ts_ns);
                }
            }
            return;
        };
        match dec.open(header, payload) {
            Ok((inner, plain)) => {
                // `plain` lies in the record buffer, which is not the
                // connection's while it is read: no copy.
                env.stats.inc(Counter::TlsRecordsDecrypted);
                self.dirs[d].opened += 1;
                self.plaintext(d, inner, plain, ts_ns, env, out);
            }
            Err(_) if self.dirs[d].opened == 0 => {
                // The very first protected record does not open: the keys
                // are wrong (or not this connection's).
                self.give_up(Counter::TlsDecryptFailed, env);
            }
            Err(_) => {
                env.stats.inc(Counter::TlsRecordGaps);
                out.gap(peer_of(d), payload.len() as u64, ts_ns);
            }
        }
    }

    fn plaintext(
        &mut self,
        d: usize,
        inner: u8,
        plain: &[u8],
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) {
        match inner {
            content::APPLICATION_DATA => {
                self.share_info(out);
                out.data(peer_of(d), plain, ts_ns);
            }
            content::HANDSHAKE => self.handshake(d, plain, ts_ns, env, out),
            _ => {}
        }
    }

    /// Makes the record's `tls` object and announces ALPN h2, before the
    /// first plaintext.
    fn share_info(&mut self, out: &mut dyn Plaintext) {
        if self.shared.is_none() {
            self.shared = Some(Arc::new(self.info.clone()));
        }
        if !self.alpn_announced {
            self.alpn_announced = true;
            if self.info.alpn.as_deref() == Some("h2") {
                out.http2();
            }
        }
    }

    // ---- Handshake ----------------------------------------------------

    fn handshake(
        &mut self,
        d: usize,
        bytes: &[u8],
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) {
        let mut joiner = std::mem::take(&mut self.dirs[d].joiner);
        let mut messages: Vec<(u8, Vec<u8>)> = Vec::new();
        joiner.push(bytes, |k, msg| {
            // Only the messages acted on are kept (certificates are not).
            if matches!(
                k,
                hello::kind::CLIENT_HELLO
                    | hello::kind::SERVER_HELLO
                    | hello::kind::ENCRYPTED_EXTENSIONS
                    | hello::kind::FINISHED
                    | hello::kind::KEY_UPDATE
            ) {
                messages.push((k, msg.to_vec()));
            }
        });
        self.dirs[d].joiner = joiner;
        for (k, msg) in messages {
            self.message(d, k, &msg, ts_ns, env, out);
        }
    }

    fn message(
        &mut self,
        d: usize,
        k: u8,
        msg: &[u8],
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) {
        match (d, k) {
            (0, hello::kind::CLIENT_HELLO) => {
                if let Some(ch) = hello::client_hello(msg) {
                    self.client_random = Some(ch.random);
                    if ch.sni.is_some() {
                        self.info.sni = ch.sni;
                    }
                }
            }
            (1, hello::kind::SERVER_HELLO) if self.state == State::Hello => {
                let Some(sh) = hello::server_hello(msg) else {
                    // Without its version, suite and random nothing that
                    // follows can be opened.
                    return self.give_up(Counter::TlsDecryptFailed, env);
                };
                if sh.retry {
                    return;
                }
                self.server_random = Some(sh.random);
                self.tls13 = sh.tls13;
                self.info.version = Some(match (sh.tls13, sh.legacy_version) {
                    (true, _) => "TLS 1.3",
                    (false, 0x0303) => "TLS 1.2",
                    (false, 0x0302) => "TLS 1.1",
                    (false, 0x0301) => "TLS 1.0",
                    _ => "SSL 3.0",
                });
                if sh.alpn.is_some() {
                    self.info.alpn = sh.alpn;
                }
                self.info.cipher = suite::name(sh.cipher);
                let usable = suite::lookup(sh.cipher)
                    .filter(|s| s.tls13 == sh.tls13 && (sh.tls13 || sh.legacy_version == 0x0303));
                match usable {
                    Some(s) => self.suite = Some(s),
                    None => return self.give_up(Counter::TlsUnsupportedCipher, env),
                }
                if self.client_random.is_none() {
                    // The ClientHello was not captured: no key to look up.
                    return self.give_up(Counter::TlsNoKey, env);
                }
                self.state = State::Waiting { since_ns: ts_ns };
                self.try_keys(env, out);
            }
            (1, hello::kind::ENCRYPTED_EXTENSIONS) => {
                if let Some(alpn) = hello::encrypted_extensions_alpn(msg) {
                    self.info.alpn = Some(alpn);
                }
            }
            (_, hello::kind::FINISHED) if self.tls13 => {
                // The handshake keys end here; application keys follow.
                let dir = &mut self.dirs[d];
                if let Some((dec, keys)) = dir.next.take() {
                    dir.dec = Some(dec);
                    dir.keys = Some(keys);
                }
            }
            (_, hello::kind::KEY_UPDATE) if self.tls13 => self.key_update(d),
            _ => {}
        }
    }

    /// TLS 1.3 KeyUpdate: this direction's next application secret.
    fn key_update(&mut self, d: usize) {
        let Some(suite) = self.suite else { return };
        let dir = &mut self.dirs[d];
        let Some(secret) = &dir.app_secret else {
            return;
        };
        let Ok(next) = schedule::next_traffic_secret(&suite, secret.as_bytes()) else {
            return;
        };
        let Ok(keys) = schedule::traffic_keys(&suite, next.as_bytes()) else {
            return;
        };
        let Ok(dec) = Decrypter::new(&suite, &keys, AeadVersion::Tls13) else {
            return;
        };
        dir.dec = Some(dec);
        dir.keys = Some(keys);
        dir.app_secret = Some(next);
    }

    // ---- Keys ---------------------------------------------------------

    /// Installs the keys when the key log has them; replays what was held.
    /// Returns whether the connection is keyed.
    fn try_keys(&mut self, env: &TlsEnv<'_>, out: &mut dyn Plaintext) -> bool {
        let (Some(cr), Some(sr), Some(suite)) =
            (self.client_random, self.server_random, self.suite)
        else {
            return false;
        };
        let Some(keys) = env.keys.get(&cr) else {
            return false;
        };
        let installed = if self.tls13 {
            let (Some(chs), Some(shs), Some(capp), Some(sapp)) = (
                keys.client_hs.clone(),
                keys.server_hs.clone(),
                keys.client_app.clone(),
                keys.server_app.clone(),
            ) else {
                return false;
            };
            [(0, chs, capp), (1, shs, sapp)]
                .into_iter()
                .try_for_each(|(d, hs, app)| self.install13(d, &suite, &hs, app))
        } else {
            let Some(master) = keys.master.clone() else {
                return false;
            };
            self.install12(&suite, &master, &cr, &sr)
        };
        if installed.is_err() {
            // Secrets that do not fit the suite: not this connection's.
            self.give_up(Counter::TlsDecryptFailed, env);
            return false;
        }
        self.state = State::Keyed;
        env.stats.inc(Counter::TlsDecrypting);
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        for h in held {
            match h {
                Held::Data(role, ts, bytes) => self.feed(idx(role), &bytes, ts, env, out),
                Held::Gap(role, len, ts) => self.lose(idx(role), len, ts, env, out),
            }
        }
        true
    }

    /// TLS 1.3: handshake keys now, application keys at Finished.
    fn install13(
        &mut self,
        d: usize,
        suite: &CipherSuite,
        hs: &Secret,
        app: Secret,
    ) -> Result<(), ()> {
        let hs_keys = schedule::traffic_keys(suite, hs.as_bytes()).map_err(drop)?;
        let app_keys = schedule::traffic_keys(suite, app.as_bytes()).map_err(drop)?;
        let hs_dec = Decrypter::new(suite, &hs_keys, AeadVersion::Tls13).map_err(drop)?;
        let app_dec = Decrypter::new(suite, &app_keys, AeadVersion::Tls13).map_err(drop)?;
        let dir = &mut self.dirs[d];
        dir.dec = Some(hs_dec);
        dir.keys = Some(hs_keys);
        dir.next = Some((app_dec, app_keys));
        dir.app_secret = Some(app);
        Ok(())
    }

    /// TLS 1.2: both directions' keys, used from their ChangeCipherSpec.
    fn install12(
        &mut self,
        suite: &CipherSuite,
        master: &Secret,
        cr: &[u8; 32],
        sr: &[u8; 32],
    ) -> Result<(), ()> {
        let (client, server) =
            schedule::tls12_keys(suite, master.as_bytes(), cr, sr).map_err(drop)?;
        for (d, k) in [(0, client), (1, server)] {
            let dec = Decrypter::new(suite, &k, AeadVersion::Tls12).map_err(drop)?;
            self.dirs[d].next = Some((dec, k));
        }
        Ok(())
    }

    fn hold(&mut self, h: Held, len: usize, env: &TlsEnv<'_>) {
        if self.held_bytes + len > env.key_wait_bytes {
            env.stats.inc(Counter::TlsKeyWaitOverflow);
            return self.give_up(Counter::TlsNoKey, env);
        }
        self.held_bytes += len;
        self.held.push_back(h);
    }

    fn give_up(&mut self, why: Counter, env: &TlsEnv<'_>) {
        if self.state == State::Failed {
            return;
        }
        self.state = State::Failed;
        env.stats.inc(why);
        tracing::debug!(
            reason = why.name(),
            sni = self.info.sni.as_deref().unwrap_or(""),
            version = self.info.version.unwrap_or(""),
            cipher = self.info.cipher.unwrap_or(""),
            "TLS connection not decrypted"
        );
        self.held.clear();
        self.held_bytes = 0;
        for dir in &mut self.dirs {
            *dir = Half::default();
        }
    }

    // ---- Loss ---------------------------------------------------------

    /// `len` bytes of direction `d` were lost.
    fn lose(&mut self, d: usize, len: u64, ts_ns: u64, env: &TlsEnv<'_>, out: &mut dyn Plaintext) {
        let dir = &mut self.dirs[d];
        let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
        if dir.drop > 0 && len_usize <= dir.drop {
            dir.drop -= len_usize;
            return;
        }
        if dir.dec.is_none() {
            // Before the keys, a hole in the handshake: nothing to decrypt
            // this direction with any more.
            return self.give_up(Counter::TlsDecryptFailed, env);
        }
        env.stats.inc(Counter::TlsRecordGaps);
        out.gap(peer_of(d), len, ts_ns);
        let dir = &mut self.dirs[d];
        if dir.rec.len() >= HEADER && !dir.hunting {
            let total = HEADER + record_len(&dir.rec);
            let rest = total - dir.rec.len();
            if len_usize <= rest {
                // The hole is inside this record: drop what is left of it;
                // its sequence number is used all the same.
                dir.drop = rest - len_usize;
                dir.rec.clear();
                if let Some(dec) = dir.dec.as_mut() {
                    dec.skip_records(1);
                }
                return;
            }
        }
        dir.rec.clear();
        dir.drop = 0;
        dir.hunting = true;
        dir.candidates = 0;
    }

    /// Looks for the next record after a loss. Returns what is left of
    /// `data` to read on.
    fn hunt<'a>(
        &mut self,
        d: usize,
        data: &'a [u8],
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) -> &'a [u8] {
        let dir = &mut self.dirs[d];
        if dir.rec.is_empty() {
            let Some(at) = (0..data.len()).find(|&i| looks_like_tls_record(&data[i..])) else {
                return &[];
            };
            let need = HEADER + record_len(&data[at..]);
            let n = need.min(data.len() - at);
            dir.rec.extend_from_slice(&data[at..at + n]);
            return self.hunt_try(d, &data[at + n..], ts_ns, env, out);
        }
        let need = HEADER + record_len(&dir.rec);
        let n = (need - dir.rec.len()).min(data.len());
        dir.rec.extend_from_slice(&data[..n]);
        self.hunt_try(d, &data[n..], ts_ns, env, out)
    }

    /// A candidate record is whole: find the sequence number it opens with.
    fn hunt_try<'a>(
        &mut self,
        d: usize,
        rest: &'a [u8],
        ts_ns: u64,
        env: &TlsEnv<'_>,
        out: &mut dyn Plaintext,
    ) -> &'a [u8] {
        let (Some(suite), version) = (
            self.suite,
            if self.tls13 {
                AeadVersion::Tls13
            } else {
                AeadVersion::Tls12
            },
        ) else {
            return &[];
        };
        let dir = &mut self.dirs[d];
        if dir.rec.len() < HEADER || dir.rec.len() < HEADER + record_len(&dir.rec) {
            return rest;
        }
        let (Some(keys), Some(dec)) = (dir.keys.clone(), dir.dec.as_ref()) else {
            return &[];
        };
        let from = dec.seq();
        let header: [u8; HEADER] = dir.rec[..HEADER].try_into().unwrap_or([0; HEADER]);
        for seq in from..from + RESYNC_TRIES {
            let Ok(mut trial) = Decrypter::new(&suite, &keys, version) else {
                break;
            };
            trial.skip_records(seq);
            let mut copy = dir.rec[HEADER..].to_vec();
            if let Ok((inner, plain)) = trial.open(header, &mut copy) {
                let plain = plain.to_vec();
                dir.dec = Some(trial);
                dir.hunting = false;
                dir.rec.clear();
                self.plaintext(d, inner, &plain, ts_ns, env, out);
                return rest;
            }
        }
        // Not a record of ours (or too far): try the next candidate.
        dir.candidates += 1;
        if dir.candidates >= RESYNC_CANDIDATES {
            self.give_up(Counter::TlsDecryptFailed, env);
            return &[];
        }
        let skipped = std::mem::take(&mut dir.rec);
        // Look again from the byte after this candidate's start; what
        // follows a record found in there is read as usual.
        let after = &skipped[1..];
        let left = self.hunt(d, after, ts_ns, env, out).to_vec();
        if !left.is_empty() {
            self.feed(d, &left, ts_ns, env, out);
        }
        rest
    }
}

#[cfg(test)]
mod tests;
