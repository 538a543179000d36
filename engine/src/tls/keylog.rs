//! NSS key log (SSLKEYLOGFILE) lines and the bounded store of the keys
//! they give, looked up by the ClientHello's random.
//!
//! Format (one secret per line, fields separated by a space):
//! `LABEL <client_random: 64 hex digits> <secret: hex>`; lines starting
//! with `#` are comments. We keep TLS 1.2's `CLIENT_RANDOM` (the 48-byte
//! master secret) and TLS 1.3's handshake and first application traffic
//! secrets; the other labels are valid but useless to a passive
//! decrypter of HTTP and are skipped.

use std::collections::{HashMap, VecDeque};
use std::fmt;

/// Longest line we read, line ending included. The longest useful line is 193 bytes
/// (`CLIENT_HANDSHAKE_TRAFFIC_SECRET`, 64 + 96 hex digits); the bound
/// keeps a corrupt or hostile file from costing more than that.
pub const MAX_LINE_LEN: usize = 512;

/// The labels we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// `CLIENT_RANDOM`: TLS 1.2 master secret, 48 bytes.
    ClientRandom,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    ClientHandshakeTrafficSecret,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    ServerHandshakeTrafficSecret,
    /// `CLIENT_TRAFFIC_SECRET_0` (TLS 1.3).
    ClientTrafficSecret0,
    /// `SERVER_TRAFFIC_SECRET_0` (TLS 1.3).
    ServerTrafficSecret0,
}

impl Label {
    /// The label as written in the key log.
    pub const fn as_str(self) -> &'static str {
        match self {
            Label::ClientRandom => "CLIENT_RANDOM",
            Label::ClientHandshakeTrafficSecret => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            Label::ServerHandshakeTrafficSecret => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            Label::ClientTrafficSecret0 => "CLIENT_TRAFFIC_SECRET_0",
            Label::ServerTrafficSecret0 => "SERVER_TRAFFIC_SECRET_0",
        }
    }

    /// Whether a secret of `len` bytes is valid for this label: the TLS 1.2
    /// master secret is always 48; a TLS 1.3 secret is the suite hash's
    /// length (SHA-256: 32, SHA-384: 48).
    const fn secret_len_ok(self, len: usize) -> bool {
        match self {
            Label::ClientRandom => len == 48,
            _ => len == 32 || len == 48,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the first field of a line names.
enum LabelKind {
    Used(Label),
    /// A valid NSS label we have no use for.
    Skipped,
    Unknown,
}

fn label_kind(field: &[u8]) -> LabelKind {
    match field {
        b"CLIENT_RANDOM" => LabelKind::Used(Label::ClientRandom),
        b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => LabelKind::Used(Label::ClientHandshakeTrafficSecret),
        b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => LabelKind::Used(Label::ServerHandshakeTrafficSecret),
        b"CLIENT_TRAFFIC_SECRET_0" => LabelKind::Used(Label::ClientTrafficSecret0),
        b"SERVER_TRAFFIC_SECRET_0" => LabelKind::Used(Label::ServerTrafficSecret0),
        // Exporters and 0-RTT carry no HTTP we decrypt; RSA (encrypted
        // pre-master) is for RSA key exchange, whose key log users give
        // CLIENT_RANDOM as well.
        b"EXPORTER_SECRET" | b"CLIENT_EARLY_TRAFFIC_SECRET" | b"EARLY_EXPORTER_SECRET" | b"RSA" => {
            LabelKind::Skipped
        }
        _ => LabelKind::Unknown,
    }
}

/// Secret key material of up to 64 bytes. Its `Debug` prints only the
/// length, so a secret cannot reach a log by accident.
#[derive(Clone)]
pub struct Secret {
    bytes: [u8; 64],
    len: u8,
}

impl Secret {
    /// Longest secret held (a SHA-512 hash; TLS uses at most 48).
    pub const MAX_LEN: usize = 64;

    /// A copy of `bytes`; None if longer than [`Secret::MAX_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        if bytes.len() > Self::MAX_LEN {
            return None;
        }
        let mut s = Secret {
            bytes: [0; 64],
            len: bytes.len() as u8,
        };
        s.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(s)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

/// One useful key log line.
#[derive(Debug, Clone)]
pub struct KeyLogLine {
    pub label: Label,
    /// The ClientHello's random, which names the connection.
    pub client_random: [u8; 32],
    pub secret: Secret,
}

/// Which field of a line was bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ClientRandom,
    Secret,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::ClientRandom => "client random",
            Field::Secret => "secret",
        })
    }
}

/// Why a key log line was rejected. Carries no bytes of the line: a
/// malformed line may still hold a real secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyLogError {
    #[error("key log line too long: {len} bytes (at most {MAX_LINE_LEN})")]
    TooLong { len: usize },
    #[error("key log line has {found} fields, expected 3")]
    FieldCount { found: usize },
    #[error("unknown key log label")]
    UnknownLabel,
    #[error("key log {field} is not hex")]
    BadHex { field: Field },
    #[error("key log {field} has an odd number of hex digits")]
    OddHex { field: Field },
    #[error("key log client random is {bytes} bytes, expected 32")]
    ClientRandomLength { bytes: usize },
    #[error("key log {label} secret is {bytes} bytes, wrong for the label")]
    SecretLength { label: Label, bytes: usize },
}

/// Parses one key log line (with or without its `\n` or `\r\n`).
/// Ok(None) for blank lines, comments and labels we skip.
pub fn parse_line(line: &[u8]) -> Result<Option<KeyLogLine>, KeyLogError> {
    if line.len() > MAX_LINE_LEN {
        return Err(KeyLogError::TooLong { len: line.len() });
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(|b| b.is_ascii_whitespace()) || line.first() == Some(&b'#') {
        return Ok(None);
    }
    // NSS writes single spaces; tolerate runs of spaces or tabs as other
    // writers (and hand edits) produce them.
    let fields = line
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|f| !f.is_empty());
    let mut three = [&[][..]; 3];
    let mut found = 0;
    for f in fields {
        if found < 3 {
            three[found] = f;
        }
        found += 1;
    }
    let label = match label_kind(three[0]) {
        LabelKind::Used(l) => l,
        LabelKind::Skipped => return Ok(None),
        LabelKind::Unknown => return Err(KeyLogError::UnknownLabel),
    };
    if found != 3 {
        return Err(KeyLogError::FieldCount { found });
    }
    let mut client_random = [0u8; 32];
    match decode_hex(three[1], &mut client_random) {
        Ok(32) => {}
        Ok(bytes) | Err(HexError::TooMany(bytes)) => {
            return Err(KeyLogError::ClientRandomLength { bytes })
        }
        Err(e) => return Err(e.into_error(Field::ClientRandom)),
    }
    let mut secret = [0u8; Secret::MAX_LEN];
    let len = match decode_hex(three[2], &mut secret) {
        Ok(n) if label.secret_len_ok(n) => n,
        Ok(bytes) | Err(HexError::TooMany(bytes)) => {
            return Err(KeyLogError::SecretLength { label, bytes })
        }
        Err(e) => return Err(e.into_error(Field::Secret)),
    };
    Ok(Some(KeyLogLine {
        label,
        client_random,
        secret: Secret {
            bytes: secret,
            len: len as u8,
        },
    }))
}

enum HexError {
    Odd,
    Bad,
    /// More bytes than the buffer holds (how many).
    TooMany(usize),
}

impl HexError {
    fn into_error(self, field: Field) -> KeyLogError {
        match self {
            HexError::Odd => KeyLogError::OddHex { field },
            HexError::Bad => KeyLogError::BadHex { field },
            // Callers turn TooMany into their length error.
            HexError::TooMany(_) => KeyLogError::BadHex { field },
        }
    }
}

/// Decodes hex into the front of `out`, returning the byte count.
fn decode_hex(hex: &[u8], out: &mut [u8]) -> Result<usize, HexError> {
    if !hex.len().is_multiple_of(2) {
        return Err(HexError::Odd);
    }
    let n = hex.len() / 2;
    if n > out.len() {
        return Err(HexError::TooMany(n));
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
            return Err(HexError::Bad);
        };
        *o = hi << 4 | lo;
    }
    Ok(n)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The secrets known for one connection (one client random).
#[derive(Clone, Default)]
pub struct Keys {
    /// TLS 1.2 master secret (`CLIENT_RANDOM`).
    pub master: Option<Secret>,
    pub client_hs: Option<Secret>,
    pub server_hs: Option<Secret>,
    pub client_app: Option<Secret>,
    pub server_app: Option<Secret>,
    /// When the first line for this client random was stored (the clock
    /// of the caller, in nanoseconds); ages for [`KeyStore::expire`].
    pub added_ns: u64,
}

impl Keys {
    fn slot(&mut self, label: Label) -> &mut Option<Secret> {
        match label {
            Label::ClientRandom => &mut self.master,
            Label::ClientHandshakeTrafficSecret => &mut self.client_hs,
            Label::ServerHandshakeTrafficSecret => &mut self.server_hs,
            Label::ClientTrafficSecret0 => &mut self.client_app,
            Label::ServerTrafficSecret0 => &mut self.server_app,
        }
    }

    /// The secret stored for `label`.
    pub fn get(&self, label: Label) -> Option<&Secret> {
        match label {
            Label::ClientRandom => self.master.as_ref(),
            Label::ClientHandshakeTrafficSecret => self.client_hs.as_ref(),
            Label::ServerHandshakeTrafficSecret => self.server_hs.as_ref(),
            Label::ClientTrafficSecret0 => self.client_app.as_ref(),
            Label::ServerTrafficSecret0 => self.server_app.as_ref(),
        }
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secret's own Debug prints lengths only.
        f.debug_struct("Keys")
            .field("master", &self.master)
            .field("client_hs", &self.client_hs)
            .field("server_hs", &self.server_hs)
            .field("client_app", &self.client_app)
            .field("server_app", &self.server_app)
            .field("added_ns", &self.added_ns)
            .finish()
    }
}

/// What [`KeyStore::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// First line for this client random.
    New,
    /// Added or replaced a secret of a known client random.
    Updated,
}

/// Secrets by client random, bounded: at most `max_entries` client
/// randoms, the oldest (by first insertion) evicted to make room, and
/// [`KeyStore::expire`] drops those older than a maximum age.
///
/// Each client random is in `order` exactly once, in insertion order, and
/// entries leave the map only from the front of `order`, so the two stay
/// in step and every operation is O(1) amortized.
pub struct KeyStore {
    map: HashMap<[u8; 32], Keys, ahash::RandomState>,
    order: VecDeque<[u8; 32]>,
    max_entries: usize,
    evicted: u64,
}

impl KeyStore {
    /// A store of at most `max_entries` client randoms (at least 1).
    pub fn new(max_entries: usize) -> KeyStore {
        let max_entries = max_entries.max(1);
        // Grow on demand: a large bound should not cost memory up front.
        let initial = max_entries.min(1024);
        KeyStore {
            map: HashMap::with_capacity_and_hasher(initial, ahash::RandomState::new()),
            order: VecDeque::with_capacity(initial),
            max_entries,
            evicted: 0,
        }
    }

    /// Stores a line's secret under its client random, replacing a secret
    /// of the same label. A new client random evicts the oldest entry if
    /// the store is full. An update keeps the entry's age and place.
    pub fn insert(&mut self, line: KeyLogLine, now_ns: u64) -> Insert {
        if let Some(keys) = self.map.get_mut(&line.client_random) {
            *keys.slot(line.label) = Some(line.secret);
            return Insert::Updated;
        }
        while self.map.len() >= self.max_entries {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&oldest);
            self.evicted += 1;
        }
        let mut keys = Keys {
            added_ns: now_ns,
            ..Keys::default()
        };
        *keys.slot(line.label) = Some(line.secret);
        self.map.insert(line.client_random, keys);
        self.order.push_back(line.client_random);
        Insert::New
    }

    pub fn get(&self, client_random: &[u8; 32]) -> Option<&Keys> {
        self.map.get(client_random)
    }

    /// Removes the entries first stored more than `max_age_ns` before
    /// `now_ns`; returns how many. Not counted in [`KeyStore::evicted`].
    /// Walks from the oldest insertion and stops at the first young entry,
    /// so with a clock that went backwards it removes less, never more.
    pub fn expire(&mut self, now_ns: u64, max_age_ns: u64) -> usize {
        let mut removed = 0;
        while let Some(front) = self.order.front() {
            let added = self.map.get(front).map_or(0, |k| k.added_ns);
            if now_ns.saturating_sub(added) <= max_age_ns {
                break;
            }
            if let Some(cr) = self.order.pop_front() {
                self.map.remove(&cr);
                removed += 1;
            }
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Entries evicted to make room since the store was made.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("len", &self.map.len())
            .field("max_entries", &self.max_entries)
            .field("evicted", &self.evicted)
            .finish()
    }
}

#[cfg(test)]
mod tests;
