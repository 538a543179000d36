//! Redaction: credentials and personal data never leave the sensor.
//! Runs in the shard on each finished transaction, after its bodies are
//! decoded and before it is serialized, so every output (JSON lines,
//! Kafka) gets the same redacted record.
//!
//! - Header fields named in REDACT_HEADERS (request and response headers
//!   and trailers, HTTP/1 and HTTP/2 alike) have their values replaced,
//!   each field on its own (so each `set-cookie`).
//! - Keys named in REDACT_JSON_FIELDS have their values (any JSON type)
//!   replaced at any depth of a JSON body. The body is read by a lexical
//!   scanner rather than parsed: it keeps every other byte as it was, and
//!   works the same on a body cut at MAX_BODY_BYTES (a value that the cut
//!   splits is replaced too), and inside a string value that holds JSON
//!   text, one level deep. See `redact_json`.
//!   gRPC messages that are JSON are redacted alike, and the call's raw
//!   body (the same text in frames) dropped.
//!
//! A replacement is `[redacted]`, or with REDACT_MODE=hash
//! `hmac-sha256:<64 hex digits>`, the HMAC-SHA256 of the value under the
//! key in REDACT_HASH_KEY_FILE, so equal values stay equal for analysis.

use std::fmt;

use memchr::{memchr, memchr2};
use ring::hmac;

use super::{Flags, Message, Transaction};
use crate::config::{Config, ConfigError, RedactMode};
use crate::stats::{Counter, ShardStats};

/// What a value becomes in `mask` mode (and a cut value in either mode).
pub const MASK: &str = "[redacted]";

/// Prefix of a value in `hash` mode.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// Shortest key accepted from REDACT_HASH_KEY_FILE: shorter keys could be
/// guessed from the records by brute force.
pub const MIN_KEY_BYTES: usize = 16;

/// The redaction settings of a run; `Redactor::off()` does nothing.
pub struct Redactor {
    /// REDACT_HEADERS, lower-cased.
    headers: Vec<Box<[u8]>>,
    /// REDACT_JSON_FIELDS, lower-cased: keys match case-insensitively.
    fields: Vec<Box<[u8]>>,
    /// Longest entry of `fields`: longer keys cannot match.
    longest_field: usize,
    /// For each field, the position of its least common byte, searched
    /// for first (`may_hold_listed_key`).
    rare: Vec<usize>,
    /// Some field holds `/`, `\` or `"`, which escapes other than `\u` spell.
    odd_keys: bool,
    /// Set in `hash` mode.
    key: Option<hmac::Key>,
}

impl fmt::Debug for Redactor {
    // The key never appears in a log or a panic message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[Box<[u8]>]| {
            v.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        };
        f.debug_struct("Redactor")
            .field("headers", &list(&self.headers))
            .field("fields", &list(&self.fields))
            .field("mode", &if self.key.is_some() { "hash" } else { "mask" })
            .finish()
    }
}

fn lower_list(list: &str) -> Vec<Box<[u8]>> {
    list.split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .map(|s| s.into_bytes().into_boxed_slice())
        .collect()
}

impl Redactor {
    /// No redaction.
    pub fn off() -> Redactor {
        Redactor::new("", "", None)
    }

    /// From comma-separated lists; `key` selects hash mode.
    pub fn new(headers: &str, fields: &str, key: Option<&[u8]>) -> Redactor {
        let fields = lower_list(fields);
        Redactor {
            headers: lower_list(headers),
            longest_field: fields.iter().map(|f| f.len()).max().unwrap_or(0),
            rare: fields.iter().map(|f| rarest(f)).collect(),
            odd_keys: fields
                .iter()
                .any(|f| f.iter().any(|b| b"/\\\"".contains(b) || *b < 0x20)),
            fields,
            key: key.map(|k| hmac::Key::new(hmac::HMAC_SHA256, k)),
        }
    }

    /// From the configuration, reading REDACT_HASH_KEY_FILE once. The file
    /// is checked whenever it is set, so a typo shows at start.
    pub fn from_config(cfg: &Config) -> Result<Redactor, ConfigError> {
        const VAR: &str = "REDACT_HASH_KEY_FILE (--redact-hash-key-file)";
        let key = match cfg.redact_hash_key_file.as_deref() {
            Some(path) => Some(read_key(path).map_err(|e| e.var(VAR))?),
            None => None,
        };
        if cfg.redact_mode == RedactMode::Hash && key.is_none() {
            return Err(ConfigError::value(VAR, "not set with REDACT_MODE=hash")
                .expected("a file holding the HMAC key"));
        }
        let key = match cfg.redact_mode {
            RedactMode::Hash => key,
            RedactMode::Mask => None,
        };
        Ok(Redactor::new(
            &cfg.redact_headers,
            &cfg.redact_json_fields,
            key.as_deref(),
        ))
    }

    /// Whether anything is to be redacted.
    pub fn is_on(&self) -> bool {
        !self.headers.is_empty() || !self.fields.is_empty()
    }

    /// Redacts a finished transaction in place. `max_body` (MAX_BODY_BYTES)
    /// bounds a body that replacements made longer.
    pub fn apply(&self, t: &mut Transaction, max_body: usize, stats: &ShardStats) {
        let decode_failed = t.flags.has(Flags::BODY_DECODE_FAILED);
        let mut headers = 0u64;
        for m in [t.request.as_mut(), t.response.as_mut()]
            .into_iter()
            .flatten()
        {
            if !self.headers.is_empty() {
                let mut replace = |name: &[u8], value: &[u8]| {
                    self.is_listed_header(name)
                        .then(|| self.replacement(value).into_bytes())
                };
                headers += m.head.replace_values(&mut replace) as u64;
                headers += u64::from(self.redact_userinfo(&mut m.head));
                if let Some(trailers) = m.trailers.as_deref_mut() {
                    headers += trailers.replace_values(&mut replace) as u64;
                }
            }
            if !self.fields.is_empty() {
                self.redact_body(m, decode_failed, max_body, stats);
            }
        }
        if !self.fields.is_empty() {
            self.redact_grpc(t, stats);
        }
        // gRPC's `message` is the grpc-message trailer, read before this.
        if let Some(call) = t.grpc.as_deref_mut() {
            if self.is_listed_header(b"grpc-message") {
                if let Some(msg) = call.message.as_mut() {
                    *msg = self.replacement(msg.as_bytes());
                    headers += 1;
                }
            }
        }
        if headers > 0 {
            stats.add(Counter::RedactedHeaders, headers);
        }
    }

    /// gRPC's messages (`application/grpc+json` sends JSON text) are
    /// redacted as JSON bodies are. The raw body, whose length-prefixed
    /// frames hold the same text but which the scanner cannot read as
    /// JSON (it starts with a frame prefix), is dropped when its messages
    /// were JSON or it may hold a listed key: the record keeps the
    /// redacted messages.
    fn redact_grpc(&self, t: &mut Transaction, stats: &ShardStats) {
        let Some(call) = t.grpc.as_deref_mut() else {
            return;
        };
        for (messages, m) in [
            (&mut call.request, t.request.as_mut()),
            (&mut call.response, t.response.as_mut()),
        ] {
            let mut json = false;
            for msg in &mut messages.kept {
                if !looks_like_json(msg) {
                    continue;
                }
                json = true;
                if let Some((out, n)) = self.redact_json(msg) {
                    stats.add(Counter::RedactedJsonFields, n as u64);
                    *msg = out;
                }
            }
            let Some(m) = m else { continue };
            if !m.body.is_empty() && (json || self.may_hold_listed_key(&m.body)) {
                m.body = Vec::new();
                m.body_truncated = true;
                stats.inc(Counter::RedactedBodiesDropped);
            }
        }
    }

    /// Credentials in an absolute-form target (`http://user:pw@host/`,
    /// sent to proxies) are replaced when REDACT_HEADERS lists
    /// `authorization` or `proxy-authorization`: the same secret in
    /// another place. Whether one was.
    fn redact_userinfo(&self, head: &mut crate::http::Head) -> bool {
        let target = head.target();
        let Some(span) = super::target::userinfo(target) else {
            return false;
        };
        if !self.is_listed_header(b"authorization")
            && !self.is_listed_header(b"proxy-authorization")
        {
            return false;
        }
        let mut new = Vec::with_capacity(target.len() + 64);
        new.extend_from_slice(&target.as_bytes()[..span.start]);
        new.extend_from_slice(
            self.replacement(&target.as_bytes()[span.clone()])
                .as_bytes(),
        );
        new.extend_from_slice(&target.as_bytes()[span.end..]);
        head.replace_target(&new);
        true
    }

    fn is_listed_header(&self, name: &[u8]) -> bool {
        self.headers.iter().any(|h| name.eq_ignore_ascii_case(h))
    }

    /// What a value becomes: the mask, or its keyed hash.
    fn replacement(&self, value: &[u8]) -> String {
        match &self.key {
            None => MASK.to_string(),
            Some(key) => {
                let tag = hmac::sign(key, value);
                let mut s = String::with_capacity(HASH_PREFIX.len() + 64);
                s.push_str(HASH_PREFIX);
                for b in tag.as_ref() {
                    s.push(HEX[(b >> 4) as usize] as char);
                    s.push(HEX[(b & 0xf) as usize] as char);
                }
                s
            }
        }
    }

    fn redact_body(
        &self,
        m: &mut Message,
        decode_failed: bool,
        max_body: usize,
        stats: &ShardStats,
    ) {
        if !looks_like_json(&m.body) {
            // Bytes left encoded (a coding we could not undo) cannot be
            // checked for the listed keys: they are dropped.
            if decode_failed && !m.body.is_empty() && left_encoded(m) {
                m.body = Vec::new();
                m.body_truncated = true;
                stats.inc(Counter::RedactedBodiesDropped);
            }
            return;
        }
        let mut cut = m.body_truncated || !m.complete || m.gap;
        // After a hole the scanner cannot know whether it is inside a
        // string, so what follows the hole is dropped. (A decoded body
        // ends at its first hole already; `body_gap_at` is only meaningful
        // for a body left as captured.)
        if m.content_encoding.is_none() {
            if let Some(at) = m.body_gap_at.filter(|at| *at < m.body.len()) {
                m.body.truncate(at);
                m.body_truncated = true;
                cut = true;
            }
        }
        if cut {
            stats.inc(Counter::RedactedJsonCut);
        }
        let Some((mut out, n)) = self.redact_json(&m.body) else {
            return;
        };
        stats.add(Counter::RedactedJsonFields, n as u64);
        if out.len() > max_body {
            // Hashes are longer than most values: keep the record within
            // MAX_BODY_BYTES, at a character boundary.
            let mut end = max_body;
            while end > 0 && (out[end] & 0xc0) == 0x80 {
                end -= 1;
            }
            out.truncate(end);
            m.body_truncated = true;
        }
        m.body = out;
    }

    /// Replaces the values of listed keys in JSON text, or in the prefix
    /// of JSON text, returning the new text and how many values were
    /// replaced (`None`: nothing to replace, the body stays as it is).
    ///
    /// Outside strings only `"` matters for finding keys: a string followed
    /// (after blanks) by `:` is a key. The value after a listed key is
    /// skipped whole (a string, a number or literal, or a nested object or
    /// array, brackets counted outside strings) and replaced by a JSON
    /// string. A value the body's end cuts is replaced by the mask in
    /// either mode: a hash of part of a value would compare unequal to the
    /// whole one's. Keys are compared after undoing escapes, so
    /// `"pass\u0077ord"` is `password`. Valid JSON is read exactly; any
    /// other text costs one pass and changes nothing but values after a
    /// listed key and `:`.
    pub fn redact_json(&self, body: &[u8]) -> Option<(Vec<u8>, usize)> {
        // Most bodies hold none of the listed keys: one search per key
        // rules them out, where the scan would stop at every string.
        if !self.may_hold_listed_key(body) {
            return None;
        }
        self.scan_json(body)
    }

    /// `redact_json` without the search that rules bodies out.
    fn scan_json(&self, body: &[u8]) -> Option<(Vec<u8>, usize)> {
        self.scan(body, true)
    }

    /// The scan. With `embedded`, a string value holding JSON text
    /// (`"payload":"{\"password\":\"x\"}"`, as some APIs send) is
    /// unescaped, scanned (one level: not its own embedded strings) and
    /// escaped again when something in it was replaced.
    fn scan(&self, body: &[u8], embedded: bool) -> Option<(Vec<u8>, usize)> {
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut count = 0;
        let mut scratch = Vec::new();
        let mut i = 0;
        while let Some(q) = memchr(b'"', &body[i..]) {
            let start = i + q;
            // A string the body's end cuts runs to the end.
            let (end, escaped) = string_end_escaped(body, start + 1);
            let (end, whole) = match end {
                Some(e) => (e, true),
                None => (body.len(), false),
            };
            i = (end + 1).min(body.len());
            let colon = skip_blanks(body, i);
            let is_key = whole && body.get(colon) == Some(&b':');
            if !is_key {
                let inner = &body[start + 1..end];
                // Quotes inside a string are escaped as \" or, by some
                // serializers (System.Text.Json), as \u0022.
                let quoted = |e: &[u8]| memchr::memmem::find(inner, e).is_some();
                if embedded && escaped && (quoted(b"\\\"") || quoted(b"\\u0022")) {
                    if let Some((text, n)) = self.scan_embedded(inner, &mut scratch) {
                        let o = out.get_or_insert_with(|| Vec::with_capacity(body.len() + 64));
                        o.extend_from_slice(&body[copied..start + 1]);
                        o.extend_from_slice(&text);
                        copied = end;
                        count += n;
                    }
                }
                if !whole {
                    break;
                }
                continue;
            }
            if !self.is_listed_key(&body[start + 1..end], &mut scratch) {
                continue;
            }
            let v = skip_blanks(body, colon + 1);
            if v >= body.len() {
                break;
            }
            let (v_end, whole) = value_end(body, v);
            let text = match (whole, body[v] == b'"') {
                (false, _) => MASK.to_string(),
                (true, true) => {
                    let inner = &body[v + 1..v_end - 1];
                    if memchr(b'\\', inner).is_some() {
                        unescape(inner, usize::MAX, &mut scratch);
                        self.replacement(&scratch)
                    } else {
                        self.replacement(inner)
                    }
                }
                (true, false) => self.replacement(&body[v..v_end]),
            };
            let o = out.get_or_insert_with(|| Vec::with_capacity(body.len() + 64));
            o.extend_from_slice(&body[copied..v]);
            o.push(b'"');
            o.extend_from_slice(text.as_bytes());
            o.push(b'"');
            copied = v_end;
            count += 1;
            i = v_end;
        }
        let mut out = out?;
        out.extend_from_slice(&body[copied..]);
        Some((out, count))
    }

    /// A string's escaped contents, redacted as JSON text when they are
    /// some and held a listed key; escaped again for the outer string.
    fn scan_embedded(&self, raw: &[u8], scratch: &mut Vec<u8>) -> Option<(Vec<u8>, usize)> {
        unescape(raw, usize::MAX, scratch);
        if !looks_like_json(scratch) {
            return None;
        }
        let (inner, n) = self.scan(scratch, false)?;
        let mut text = Vec::with_capacity(inner.len() + inner.len() / 4);
        for &b in &inner {
            match b {
                b'"' => text.extend_from_slice(b"\\\""),
                b'\\' => text.extend_from_slice(b"\\\\"),
                b'\n' => text.extend_from_slice(b"\\n"),
                b'\r' => text.extend_from_slice(b"\\r"),
                b'\t' => text.extend_from_slice(b"\\t"),
                0..=0x1f => {
                    text.extend_from_slice(b"\\u00");
                    text.push(HEX[(b >> 4) as usize]);
                    text.push(HEX[(b & 0xf) as usize]);
                }
                _ => text.push(b),
            }
        }
        Some((text, n))
    }

    /// False only when no listed key can be in `body`: none of them
    /// occurs in it (ignoring ASCII case), and no escape could spell one
    /// (only `\u` can spell a letter or digit; `\/`, `\\`, `\"` matter
    /// only for keys holding those characters).
    fn may_hold_listed_key(&self, body: &[u8]) -> bool {
        let escaped = if self.odd_keys {
            memchr(b'\\', body).is_some()
        } else {
            memchr::memmem::find(body, b"\\u").is_some()
        };
        escaped
            || self
                .fields
                .iter()
                .zip(&self.rare)
                .any(|(f, &at)| contains_ignore_case(body, f, at))
    }

    fn is_listed_key(&self, raw: &[u8], scratch: &mut Vec<u8>) -> bool {
        let key = if memchr(b'\\', raw).is_some() {
            // Escapes only make a key's text longer than its value: one
            // past the longest listed key is enough to tell.
            unescape(raw, self.longest_field + 1, scratch);
            &scratch[..]
        } else if raw.len() > self.longest_field {
            return false;
        } else {
            raw
        };
        self.fields.iter().any(|f| key.eq_ignore_ascii_case(f))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A body is taken for JSON when its first byte, past blanks and a UTF-8
/// byte order mark, opens an object or an array (whatever its
/// Content-Type says: APIs mislabel JSON, and NDJSON streams are read too).
fn looks_like_json(body: &[u8]) -> bool {
    let b = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    matches!(b.get(skip_blanks(b, 0)), Some(b'{') | Some(b'['))
}

/// A body whose coding was not undone: it still carries a coding.
fn left_encoded(m: &Message) -> bool {
    m.content_encoding.is_none()
        && super::content::message_codings(m).map_or(true, |c| !c.is_empty())
}

/// Where the byte least likely in a body sits in `key` (ASCII letters by
/// their frequency in English text; other bytes count as uncommon).
fn rarest(key: &[u8]) -> usize {
    const COMMON_FIRST: &[u8] = b"etaoinsrhldcumfpgwybvkxjqz";
    let rank = |b: u8| {
        COMMON_FIRST
            .iter()
            .position(|c| *c == b.to_ascii_lowercase())
            .unwrap_or(COMMON_FIRST.len() / 2)
    };
    (0..key.len()).max_by_key(|&i| rank(key[i])).unwrap_or(0)
}

/// Whether `needle` (lower-case) occurs in `hay` ignoring ASCII case,
/// found through its byte at `at`.
fn contains_ignore_case(hay: &[u8], needle: &[u8], at: usize) -> bool {
    let Some(&b) = needle.get(at) else {
        return false;
    };
    let mut from = at;
    while let Some(p) = hay
        .get(from..)
        .and_then(|h| memchr2(b, b.to_ascii_uppercase(), h))
    {
        let start = from + p - at;
        if hay
            .get(start..start + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        {
            return true;
        }
        from += p + 1;
    }
    false
}

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Index of the `"` closing the string whose contents start at `from`.
fn string_end(b: &[u8], from: usize) -> Option<usize> {
    string_end_escaped(b, from).0
}

/// As `string_end`, and whether the string holds an escape.
fn string_end_escaped(b: &[u8], mut from: usize) -> (Option<usize>, bool) {
    let mut escaped = false;
    loop {
        let Some(at) = b
            .get(from..)
            .and_then(|rest| memchr2(b'"', b'\\', rest))
            .map(|p| from + p)
        else {
            return (None, escaped);
        };
        if b[at] == b'"' {
            return (Some(at), escaped);
        }
        escaped = true;
        from = at + 2;
    }
}

/// The end (exclusive) of the value starting at `v`, and whether it is
/// whole (false: the text ends inside it).
fn value_end(b: &[u8], v: usize) -> (usize, bool) {
    match b[v] {
        b'"' => match string_end(b, v + 1) {
            Some(e) => (e + 1, true),
            None => (b.len(), false),
        },
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = v;
            while i < b.len() {
                match b[i] {
                    b'"' => match string_end(b, i + 1) {
                        Some(e) => i = e,
                        None => return (b.len(), false),
                    },
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return (i + 1, true);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            (b.len(), false)
        }
        _ => {
            // A number or literal: up to the next delimiter. One that
            // reaches the end may have been cut (`1234` of `12345`).
            match b[v..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                Some(n) => (v + n, true),
                None => (b.len(), false),
            }
        }
    }
}

/// Undoes a JSON string's escapes into `out`, stopping once it holds
/// `limit` bytes. Lone surrogates and bad escapes become U+FFFD.
fn unescape(raw: &[u8], limit: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < raw.len() && out.len() < limit {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = raw.get(i + 1) else { break };
        i += 2;
        let simple = match e {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let mut ch = char::REPLACEMENT_CHARACTER;
        if e == b'u' {
            if let Some(hi) = hex4(raw, i) {
                i += 4;
                ch = match hi {
                    0xd800..=0xdbff => match (raw.get(i..i + 2), hex4(raw, i + 2)) {
                        (Some(b"\\u"), Some(lo @ 0xdc00..=0xdfff)) => {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))
                                .unwrap_or(char::REPLACEMENT_CHARACTER)
                        }
                        _ => char::REPLACEMENT_CHARACTER,
                    },
                    _ => char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER),
                };
            }
        }
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
}

fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    let digits = raw.get(at..at + 4)?;
    let s = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// Why REDACT_HASH_KEY_FILE cannot be used (the variable is named by the caller).
struct KeyError {
    problem: String,
    cause: Option<std::io::Error>,
}

impl KeyError {
    fn var(self, var: &'static str) -> ConfigError {
        let e = ConfigError::value(var, self.problem);
        let e = match self.cause {
            Some(c) => e.caused_by(c),
            None => e,
        };
        e.expected(format!(
            "a readable file holding the HMAC key, at least {MIN_KEY_BYTES} bytes"
        ))
    }
}

/// Reads the HMAC key: the file's bytes, without one trailing line end
/// (so `echo KEY > file` works). The contents never enter an error.
fn read_key(path: &str) -> Result<Vec<u8>, KeyError> {
    let mut key = std::fs::read(path).map_err(|e| KeyError {
        problem: format!("cannot read '{path}'"),
        cause: Some(e),
    })?;
    if key.ends_with(b"\n") {
        key.pop();
        if key.ends_with(b"\r") {
            key.pop();
        }
    }
    if key.len() < MIN_KEY_BYTES {
        return Err(KeyError {
            problem: format!("'{path}' holds {} bytes", key.len()),
            cause: None,
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests;
