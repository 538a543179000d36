//! Early filters: decisions made from heads alone, so a filtered
//! transaction's body is never stored, decompressed or serialized.
//! Request-side filters run at the request head, the Content-Type filter at
//! the response head. What each list matches:
//!
//! - FILTER_BLOCK_EXTS: the extension of the request path's last segment,
//!   query and fragment ignored, any case (`/a/Logo.PNG?v=2` is `png`).
//! - FILTER_BLOCK_CTYPES: the response Content-Type's media type,
//!   parameters ignored, any case; `type/*` covers a whole type.
//! - FILTER_BLOCK_ACCEPT: the request's preferred media range, the first
//!   one its Accept lists (`image/avif,image/webp,*/*` is `image/avif`),
//!   against the list with `type/*` wildcards; `*/*` first blocks nothing.
//! - FILTER_BLOCK_MULTIPART: the request Content-Type's media type (file
//!   uploads are `multipart/form-data`); `type/*` entries allowed.

use std::collections::HashSet;

use super::head::{Head, Text};
use crate::config::units::parse_list;
use crate::config::Config;
use crate::stats::Counter;

#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Path extensions, without the dot.
    exts: NameSet,
    /// Media types; `type/*` entries match a whole type.
    ctypes: MediaSet,
    accept: MediaSet,
    multipart: MediaSet,
}

/// Lower-case names, looked up ignoring ASCII case: the key is
/// lower-cased into a stack buffer and hashed (the default extension list
/// has over 70 entries; comparing them one by one cost more than parsing
/// the head).
#[derive(Clone, Debug, Default)]
struct NameSet {
    names: HashSet<Vec<u8>, ahash::RandomState>,
    /// Bit l: some name is l bytes long (l < 64). Most keys looked up
    /// (extensions, media types) are in no list, and most of those are
    /// ruled out by their length without lower-casing and hashing them.
    lengths: u64,
}

impl NameSet {
    fn new(names: impl IntoIterator<Item = String>) -> NameSet {
        let names: HashSet<Vec<u8>, ahash::RandomState> = names
            .into_iter()
            .map(|n| n.to_ascii_lowercase().into_bytes())
            .collect();
        let lengths = names
            .iter()
            .filter(|n| n.len() < 64)
            .fold(0, |bits, n| bits | 1 << n.len());
        NameSet { names, lengths }
    }

    fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn contains(&self, name: &str) -> bool {
        if self.names.is_empty() {
            return false;
        }
        let mut buf = [0u8; 64];
        match buf.get_mut(..name.len()) {
            Some(_) if self.lengths & 1 << name.len() == 0 => false,
            Some(lower) => {
                // Copied and lower-cased in one loop (a copy_from_slice
                // was a memcpy call).
                for (l, c) in lower.iter_mut().zip(name.bytes()) {
                    *l = c.to_ascii_lowercase();
                }
                self.names.contains(&*lower)
            }
            // Longer than any name worth listing: compare one by one.
            None => self
                .names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.as_bytes())),
        }
    }
}

/// A set of media types with `type/*` wildcards.
#[derive(Clone, Debug, Default)]
struct MediaSet {
    exact: NameSet,
    wildcard_types: NameSet,
}

impl MediaSet {
    fn new(list: &str) -> MediaSet {
        let mut exact = Vec::new();
        let mut wildcard_types = Vec::new();
        for item in parse_list(list) {
            match item.strip_suffix("/*") {
                Some(t) => wildcard_types.push(t.to_string()),
                None => exact.push(item),
            }
        }
        MediaSet {
            exact: NameSet::new(exact),
            wildcard_types: NameSet::new(wildcard_types),
        }
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard_types.is_empty()
    }

    /// Whether a media type (parameters already removed) is in the set.
    fn contains(&self, media: &str) -> bool {
        let media = media.trim();
        self.exact.contains(media) || self.wildcard_types.contains(before(media, b'/'))
    }
}

/// The media type of a header value: "Text/HTML; charset=utf-8" -> "Text/HTML".
fn media_type(value: &[u8]) -> &str {
    match std::str::from_utf8(value) {
        Ok(s) => media_type_str(s),
        Err(_) => "",
    }
}

fn media_type_str(s: &str) -> &str {
    before(s, b';').trim()
}

/// The part of `s` before the first `delim` (an ASCII byte, so the cut is
/// on a character boundary), or all of it; `split(char)` costs more here.
fn before(s: &str, delim: u8) -> &str {
    &s[..memchr::memchr(delim, s.as_bytes()).unwrap_or(s.len())]
}

/// `media_type` of a head's header value, without checking UTF-8 again.
fn media_type_text(value: Text<'_>) -> &str {
    match value {
        Text::Str(s) => media_type_str(s),
        Text::Bytes(b) => media_type(b),
    }
}

impl Filters {
    pub fn from_config(c: &Config) -> Filters {
        Filters::new(
            &c.filter_block_exts,
            &c.filter_block_ctypes,
            &c.filter_block_accept,
            &c.filter_block_multipart,
        )
    }

    /// From the four comma-separated lists; an empty list turns its filter off.
    pub fn new(exts: &str, ctypes: &str, accept: &str, multipart: &str) -> Filters {
        Filters {
            exts: NameSet::new(
                parse_list(exts)
                    .into_iter()
                    .map(|e| e.trim_start_matches('.').to_string())
                    .filter(|e| !e.is_empty()),
            ),
            ctypes: MediaSet::new(ctypes),
            accept: MediaSet::new(accept),
            multipart: MediaSet::new(multipart),
        }
    }

    /// Filters nothing.
    pub fn none() -> Filters {
        Filters::default()
    }

    pub fn check_request(&self, head: &Head) -> Option<Counter> {
        if !self.exts.is_empty() {
            if let Some(ext) = path_extension(head.target()) {
                if self.exts.contains(ext) {
                    return Some(Counter::FilterExt);
                }
            }
        }
        if !self.accept.is_empty() {
            // The first media range is what the client wants most.
            if let Some(v) = head.header_text_of("accept") {
                let first = match v {
                    Text::Str(s) => media_type_str(before(s, b',')),
                    Text::Bytes(b) => media_type(b.split(|b| *b == b',').next().unwrap_or(b"")),
                };
                if !first.is_empty() && self.accept.contains(first) {
                    return Some(Counter::FilterAccept);
                }
            }
        }
        if !self.multipart.is_empty() {
            if let Some(v) = head.header_text_of("content-type") {
                if self.multipart.contains(media_type_text(v)) {
                    return Some(Counter::FilterMultipart);
                }
            }
        }
        None
    }

    pub fn check_response(&self, head: &Head) -> Option<Counter> {
        if self.ctypes.is_empty() {
            return None;
        }
        let v = head.header_text_of("content-type")?;
        self.ctypes
            .contains(media_type_text(v))
            .then_some(Counter::FilterCtype)
    }
}

/// The extension of a request target's path, ignoring query and fragment:
/// "/a/b.JS?x=1" -> "JS". None when the last segment has no dot.
pub fn path_extension(target: &str) -> Option<&str> {
    // Byte searches (memchr) rather than char-pattern splits: each cut is
    // next to an ASCII byte, so it falls on a character boundary.
    let b = target.as_bytes();
    let path_end = memchr::memchr2(b'?', b'#', b).unwrap_or(b.len());
    let last = memchr::memrchr(b'/', &b[..path_end]).map_or(0, |i| i + 1);
    let dot = memchr::memrchr(b'.', &b[last..path_end])? + last;
    let ext = &target[dot + 1..path_end];
    (!ext.is_empty()).then_some(ext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        DEFAULT_BLOCK_ACCEPT, DEFAULT_BLOCK_CTYPES, DEFAULT_BLOCK_EXTS, DEFAULT_BLOCK_MULTIPART,
    };
    use crate::http::parser::Role;
    use crate::http::{HttpConn, HttpCtx};
    use crate::stats::ShardStats;
    use clap::Parser as _;

    fn defaults() -> Filters {
        Filters::new(
            DEFAULT_BLOCK_EXTS,
            DEFAULT_BLOCK_CTYPES,
            DEFAULT_BLOCK_ACCEPT,
            DEFAULT_BLOCK_MULTIPART,
        )
    }

    fn req(target: &str, fields: &str) -> Head {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n{fields}\r\n");
        Head::parse(raw.as_bytes(), true).expect("head")
    }

    fn resp(ctype: &str) -> Head {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n\r\n");
        Head::parse(raw.as_bytes(), false).expect("head")
    }

    /// Concrete media types for a list entry: itself, or samples of `type/*`.
    fn instances(entry: &str) -> Vec<String> {
        match entry.strip_suffix("/*") {
            Some(t) => ["png", "x-icon", "svg+xml", "vnd.example-thing", "mp4"]
                .iter()
                .map(|s| format!("{t}/{s}"))
                .collect(),
            None => vec![entry.to_string()],
        }
    }

    #[test]
    fn every_default_extension() {
        let f = defaults();
        let exts = parse_list(DEFAULT_BLOCK_EXTS);
        assert!(exts.len() >= 70, "{}", exts.len());
        for e in &exts {
            for t in [
                format!("/a/b/file.{e}"),
                format!("/file.{}?v=1.2&x=/y", e.to_uppercase()),
                format!("http://host/dir/f.{e}#frag"),
            ] {
                assert_eq!(
                    f.check_request(&req(&t, "")),
                    Some(Counter::FilterExt),
                    "{t}"
                );
            }
        }
        for t in [
            "/api/users",
            "/api/v1.0/users",
            "/x.jsonp",
            "/file.png/info",
            "/?f=a.png",
            "/",
        ] {
            assert_eq!(f.check_request(&req(t, "")), None, "{t}");
        }
    }

    #[test]
    fn every_default_content_type() {
        let f = defaults();
        for entry in parse_list(DEFAULT_BLOCK_CTYPES) {
            for m in instances(&entry) {
                for v in [m.clone(), format!("{}; charset=UTF-8", m.to_uppercase())] {
                    assert_eq!(
                        f.check_response(&resp(&v)),
                        Some(Counter::FilterCtype),
                        "{v}"
                    );
                }
            }
        }
        // The contract's examples, and the "etc." made complete.
        for v in [
            "text/html",
            "application/x-mpegURL",
            "video/mp2t",
            "multipart/byteranges; boundary=x",
            "font/woff2",
            "audio/wav",
            "image/avif",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ] {
            assert_eq!(
                f.check_response(&resp(v)),
                Some(Counter::FilterCtype),
                "{v}"
            );
        }
        for v in [
            "application/json",
            "application/problem+json",
            "text/plain",
            "application/xml",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
        ] {
            assert_eq!(f.check_response(&resp(v)), None, "{v}");
        }
    }

    #[test]
    fn every_default_accept() {
        let f = defaults();
        for entry in parse_list(DEFAULT_BLOCK_ACCEPT) {
            for m in instances(&entry) {
                let h = format!("Accept: {m};q=0.9, */*;q=0.1\r\n");
                assert_eq!(
                    f.check_request(&req("/r", &h)),
                    Some(Counter::FilterAccept),
                    "{h}"
                );
            }
        }
        for a in [
            "*/*",
            "application/json, text/css",
            "text/html,application/xhtml+xml,*/*;q=0.8",
            "",
        ] {
            let h = format!("Accept: {a}\r\n");
            assert_eq!(f.check_request(&req("/r", &h)), None, "{a}");
        }
    }

    #[test]
    fn every_default_multipart() {
        let f = defaults();
        for entry in parse_list(DEFAULT_BLOCK_MULTIPART) {
            for m in instances(&entry) {
                let h = format!("Content-Type: {m}; boundary=----x\r\n");
                assert_eq!(
                    f.check_request(&req("/upload", &h)),
                    Some(Counter::FilterMultipart),
                    "{h}"
                );
            }
        }
        for v in [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
        ] {
            let h = format!("Content-Type: {v}\r\n");
            assert_eq!(f.check_request(&req("/upload", &h)), None, "{v}");
        }
    }

    #[test]
    fn overrides_and_empty_lists() {
        let f = Filters::new("jpg, .PNG", "image/jpeg", "text/css", "multipart/*");
        assert_eq!(
            f.check_request(&req("/a.png", "")),
            Some(Counter::FilterExt)
        );
        assert_eq!(
            f.check_request(&req("/a.JPG", "")),
            Some(Counter::FilterExt)
        );
        assert_eq!(f.check_request(&req("/a.css", "")), None);
        assert_eq!(
            f.check_response(&resp("image/jpeg")),
            Some(Counter::FilterCtype)
        );
        assert_eq!(f.check_response(&resp("image/png")), None);
        assert_eq!(f.check_response(&resp("text/html")), None);
        assert_eq!(
            f.check_request(&req("/s", "Accept: text/css\r\n")),
            Some(Counter::FilterAccept)
        );
        assert_eq!(f.check_request(&req("/s", "Accept: image/png\r\n")), None);
        assert_eq!(
            f.check_request(&req("/u", "Content-Type: multipart/mixed; boundary=b\r\n")),
            Some(Counter::FilterMultipart)
        );
        // Empty values turn each filter off.
        let off = Filters::new("", " ", "", ",");
        let all = "Accept: image/png\r\nContent-Type: multipart/form-data; boundary=b\r\n";
        assert_eq!(off.check_request(&req("/a.png", all)), None);
        assert_eq!(off.check_response(&resp("image/png")), None);
        // The same through the configuration.
        let c = Config::try_parse_from([
            "httpcap",
            "--filter-block-exts=",
            "--filter-block-ctypes=",
            "--filter-block-accept=",
            "--filter-block-multipart=",
        ])
        .expect("config");
        let off = Filters::from_config(&c);
        assert_eq!(off.check_request(&req("/a.png", all)), None);
        assert_eq!(off.check_response(&resp("image/png")), None);
    }

    /// Feeds one connection and returns what it emitted.
    struct Rig {
        stats: ShardStats,
        filters: Filters,
        done: Vec<crate::http::Transaction>,
        conn: HttpConn,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                stats: ShardStats::default(),
                filters: defaults(),
                done: Vec::new(),
                conn: HttpConn::new(64 * 1024),
            }
        }
        fn feed(&mut self, role: Role, data: &[u8]) {
            let mut ctx = HttpCtx {
                stats: &self.stats,
                filters: &self.filters,
                max_body: 1 << 20,
                body_reserve: 4096,
                done: &mut self.done,
                tls: crate::tls::TlsContext::none(),
            };
            self.conn.data(role, data, 1, &mut ctx);
        }
    }

    #[test]
    fn filtered_transactions_are_never_stored_decoded_or_emitted() {
        let mut r = Rig::new();
        let junk = vec![0x5au8; 64 * 1024];
        // An image by extension; its gzip-labelled body is junk, so a
        // decode attempt would show up as a failure.
        r.feed(
            Role::Request,
            b"GET /img/logo.png HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        r.feed(
            Role::Response,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 131072\r\n\r\n",
        );
        r.feed(Role::Response, &junk);
        assert!(
            r.conn.buffered_bytes() < 4096,
            "{}",
            r.conn.buffered_bytes()
        );
        r.feed(Role::Response, &junk);
        // An HTML answer (Content-Type), chunked.
        r.feed(Role::Request, b"GET /home HTTP/1.1\r\nHost: a\r\n\r\n");
        r.feed(
            Role::Response,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n",
        );
        r.feed(Role::Response, &junk);
        assert!(
            r.conn.buffered_bytes() < 4096,
            "{}",
            r.conn.buffered_bytes()
        );
        r.feed(Role::Response, b"\r\n0\r\n\r\n");
        // A multipart upload: its body is not kept while it streams in.
        r.feed(
            Role::Request,
            b"POST /upload HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Encoding: gzip\r\nContent-Length: 65536\r\n\r\n",
        );
        r.feed(Role::Request, &junk[..60_000]);
        assert!(
            r.conn.buffered_bytes() < 4096,
            "{}",
            r.conn.buffered_bytes()
        );
        r.feed(Role::Request, &junk[60_000..65_536]);
        r.feed(
            Role::Response,
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        );
        // An image Accept.
        r.feed(
            Role::Request,
            b"GET /pic HTTP/1.1\r\nAccept: image/webp,*/*\r\n\r\n",
        );
        r.feed(
            Role::Response,
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        );
        // And one API call that is kept.
        r.feed(
            Role::Request,
            b"GET /api/users HTTP/1.1\r\nAccept: application/json\r\n\r\n",
        );
        r.feed(
            Role::Response,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
        );
        assert_eq!(r.done.len(), 1);
        assert_eq!(
            r.done[0].request.as_ref().unwrap().head.target(),
            "/api/users"
        );
        assert_eq!(r.stats.get(Counter::FilterExt), 1);
        assert_eq!(r.stats.get(Counter::FilterCtype), 1);
        assert_eq!(r.stats.get(Counter::FilterMultipart), 1);
        assert_eq!(r.stats.get(Counter::FilterAccept), 1);
        assert_eq!(r.stats.get(Counter::HttpDecoded), 0);
        assert_eq!(r.stats.get(Counter::HttpDecodeFailed), 0);
    }

    #[test]
    fn extensions() {
        assert_eq!(path_extension("/a/b.JS?x=1.png"), Some("JS"));
        assert_eq!(path_extension("/a.b/c"), None);
        assert_eq!(path_extension("/"), None);
        assert_eq!(path_extension("http://h/x.css#y"), Some("css"));
        assert_eq!(path_extension("/x.tar.GZ#a?b"), Some("GZ"));
        assert_eq!(path_extension("/a.b?c/d.e"), Some("b"));
        assert_eq!(path_extension("/x."), None);
        assert_eq!(path_extension("/é.png"), Some("png"));
        assert_eq!(path_extension("/x.é"), Some("é"));
        assert_eq!(path_extension(""), None);
    }

    #[test]
    fn name_sets_ignore_case() {
        let s = NameSet::new(["PNG".to_string(), "js".into(), "woff2".into()]);
        assert!(s.contains("png"));
        assert!(s.contains("JS"));
        assert!(s.contains("Woff2"));
        assert!(!s.contains("woff"));
        assert!(!s.contains(""));
        let long = "x".repeat(100);
        assert!(NameSet::new([long.clone()]).contains(&long.to_uppercase()));
    }

    #[test]
    fn media_sets() {
        let s = MediaSet::new("text/html, image/*");
        assert!(s.contains("TEXT/HTML"));
        assert!(s.contains("image/svg+xml"));
        assert!(!s.contains("application/json"));
        assert_eq!(media_type(b"text/html; charset=utf-8"), "text/html");
    }
}
