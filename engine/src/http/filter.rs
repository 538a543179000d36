//! Early filters: decisions made from heads alone, so a filtered
//! transaction's body is never stored, decompressed or serialized.
//! Request-side filters run at the request head, the Content-Type filter at
//! the response head.

use super::head::Head;
use crate::config::units::parse_list;
use crate::config::Config;
use crate::stats::Counter;

#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Lower-case path extensions, without the dot.
    exts: Vec<String>,
    /// Lower-case media types; `type/*` entries match a whole type.
    ctypes: MediaSet,
    accept: MediaSet,
    multipart: MediaSet,
}

/// A set of media types with `type/*` wildcards.
#[derive(Clone, Debug, Default)]
struct MediaSet {
    exact: Vec<String>,
    wildcard_types: Vec<String>,
}

impl MediaSet {
    fn new(list: &str) -> MediaSet {
        let mut s = MediaSet::default();
        for item in parse_list(list) {
            if let Some(t) = item.strip_suffix("/*") {
                s.wildcard_types.push(t.to_string());
            } else {
                s.exact.push(item);
            }
        }
        s
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard_types.is_empty()
    }

    /// Whether a media type (parameters already removed) is in the set.
    fn contains(&self, media: &str) -> bool {
        let media = media.trim();
        if self.exact.iter().any(|e| e.eq_ignore_ascii_case(media)) {
            return true;
        }
        let ty = media.split('/').next().unwrap_or("");
        self.wildcard_types
            .iter()
            .any(|w| w.eq_ignore_ascii_case(ty))
    }
}

/// The media type of a header value: "Text/HTML; charset=utf-8" -> "Text/HTML".
fn media_type(value: &[u8]) -> &str {
    let s = std::str::from_utf8(value).unwrap_or("");
    s.split(';').next().unwrap_or("").trim()
}

impl Filters {
    pub fn from_config(c: &Config) -> Filters {
        Filters {
            exts: parse_list(&c.filter_block_exts)
                .into_iter()
                .map(|e| e.trim_start_matches('.').to_string())
                .collect(),
            ctypes: MediaSet::new(&c.filter_block_ctypes),
            accept: MediaSet::new(&c.filter_block_accept),
            multipart: MediaSet::new(&c.filter_block_multipart),
        }
    }

    /// Filters nothing.
    pub fn none() -> Filters {
        Filters::default()
    }

    pub fn check_request(&self, head: &Head) -> Option<Counter> {
        if !self.exts.is_empty() {
            if let Some(ext) = path_extension(head.target()) {
                if self.exts.iter().any(|e| e.eq_ignore_ascii_case(ext)) {
                    return Some(Counter::FilterExt);
                }
            }
        }
        if !self.accept.is_empty() {
            // The first media range is what the client wants most.
            if let Some(v) = head.header("accept") {
                let first = media_type(v.split(|b| *b == b',').next().unwrap_or(b""));
                if !first.is_empty() && self.accept.contains(first) {
                    return Some(Counter::FilterAccept);
                }
            }
        }
        if !self.multipart.is_empty() {
            if let Some(v) = head.header("content-type") {
                if self.multipart.contains(media_type(v)) {
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
        let v = head.header("content-type")?;
        self.ctypes
            .contains(media_type(v))
            .then_some(Counter::FilterCtype)
    }
}

/// The extension of a request target's path, ignoring query and fragment:
/// "/a/b.JS?x=1" -> "JS". None when the last segment has no dot.
pub fn path_extension(target: &str) -> Option<&str> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    let (_, ext) = last.rsplit_once('.')?;
    (!ext.is_empty()).then_some(ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(path_extension("/a/b.JS?x=1.png"), Some("JS"));
        assert_eq!(path_extension("/a.b/c"), None);
        assert_eq!(path_extension("/"), None);
        assert_eq!(path_extension("http://h/x.css#y"), Some("css"));
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
