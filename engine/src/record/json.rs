//! A small JSON writer for records. Records are written field by field into
//! the shard's line buffer: no serde state machine, no intermediate strings.
//! Short strings (header names and values, methods, targets) are escaped by
//! a table lookup that copies safe runs whole; long strings (bodies) go
//! through simd-json's SIMD escaper. Callgrind showed the generic serde
//! path spending most of a record's instructions on per-field overhead.

use std::net::IpAddr;

/// Strings at least this long are escaped with simd-json's SIMD path.
const SIMD_MIN: usize = 32;

/// For each byte: 0 when it may appear in a JSON string as is, otherwise
/// the letter of its short escape, or `u` for a `\u00XX` escape.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

pub struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Whether the next value or key needs a separating comma.
    comma: bool,
}

impl<'a> JsonWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> JsonWriter<'a> {
        JsonWriter { out, comma: false }
    }

    fn sep(&mut self) {
        if self.comma {
            self.out.push(b',');
        }
    }

    pub fn begin_object(&mut self) {
        self.sep();
        self.out.push(b'{');
        self.comma = false;
    }

    pub fn end_object(&mut self) {
        self.out.push(b'}');
        self.comma = true;
    }

    pub fn begin_array(&mut self) {
        self.sep();
        self.out.push(b'[');
        self.comma = false;
    }

    pub fn end_array(&mut self) {
        self.out.push(b']');
        self.comma = true;
    }

    /// Writes `"key":` for a key that needs no escaping (our own field names).
    pub fn key(&mut self, key: &str) {
        self.sep();
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.comma = false;
    }

    /// Writes a header name as a key, lower-cased.
    pub fn key_lowercase(&mut self, name: &[u8]) {
        self.sep();
        let start = self.out.len();
        if name.is_ascii() {
            self.escaped(name);
        } else {
            self.escaped(String::from_utf8_lossy(name).as_bytes());
        }
        self.out[start..].make_ascii_lowercase();
        self.out.push(b':');
        self.comma = false;
    }

    pub fn str(&mut self, s: &str) {
        self.sep();
        self.escaped(s.as_bytes());
        self.comma = true;
    }

    /// Text that may not be valid UTF-8 (header values): replaced lossily.
    pub fn text(&mut self, b: &[u8]) {
        self.sep();
        if b.is_ascii() || std::str::from_utf8(b).is_ok() {
            self.escaped(b);
        } else {
            self.escaped(String::from_utf8_lossy(b).as_bytes());
        }
        self.comma = true;
    }

    pub fn u64(&mut self, v: u64) {
        self.sep();
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self.comma = true;
    }

    pub fn bool(&mut self, v: bool) {
        self.sep();
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        self.comma = true;
    }

    pub fn null(&mut self) {
        self.sep();
        self.out.extend_from_slice(b"null");
        self.comma = true;
    }

    pub fn ip(&mut self, ip: &IpAddr) {
        self.sep();
        self.out.push(b'"');
        match ip {
            IpAddr::V4(a) => {
                let mut digits = itoa::Buffer::new();
                for (i, octet) in a.octets().iter().enumerate() {
                    if i > 0 {
                        self.out.push(b'.');
                    }
                    self.out.extend_from_slice(digits.format(*octet).as_bytes());
                }
            }
            IpAddr::V6(a) => {
                use std::io::Write;
                let _ = write!(self.out, "{a}");
            }
        }
        self.out.push(b'"');
        self.comma = true;
    }

    /// A quoted, escaped string, without separator handling. `b` is valid
    /// UTF-8 (callers check), so bytes above 0x7f are copied as they are.
    fn escaped(&mut self, b: &[u8]) {
        if b.len() >= SIMD_MIN {
            if let Ok(s) = std::str::from_utf8(b) {
                if simd_json::to_writer(&mut *self.out, s).is_ok() {
                    return;
                }
            }
        }
        self.out.reserve(b.len() + 2);
        self.out.push(b'"');
        let mut run = 0;
        for (i, &c) in b.iter().enumerate() {
            let esc = ESCAPE[c as usize];
            if esc == 0 {
                continue;
            }
            self.out.extend_from_slice(&b[run..i]);
            run = i + 1;
            if esc == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(c >> 4) as usize],
                    HEX[(c & 0xf) as usize],
                ]);
            } else {
                self.out.extend_from_slice(&[b'\\', esc]);
            }
        }
        self.out.extend_from_slice(&b[run..]);
        self.out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(f: impl FnOnce(&mut JsonWriter<'_>)) -> String {
        let mut v = Vec::new();
        f(&mut JsonWriter::new(&mut v));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_like_serde_json() {
        let cases = [
            "plain",
            "quote \" backslash \\ nl \n tab \t cr \r bell \u{7} nul \0",
            "ünïcödé ✓",
            &"long body with \"quotes\" and \\ and \n newlines. ".repeat(10),
        ];
        for s in cases {
            let ours = write(|w| w.str(s));
            let parsed: String = serde_json::from_str(&ours).unwrap();
            assert_eq!(parsed, s);
        }
    }

    #[test]
    fn objects_and_arrays() {
        let out = write(|w| {
            w.begin_object();
            w.key("a");
            w.u64(1);
            w.key("b");
            w.begin_array();
            w.str("x");
            w.null();
            w.bool(true);
            w.end_array();
            w.key_lowercase(b"Content-Type");
            w.ip(&"192.0.2.1".parse().unwrap());
            w.key("v6");
            w.ip(&"2001:db8::1".parse().unwrap());
            w.end_object();
        });
        assert_eq!(
            out,
            r#"{"a":1,"b":["x",null,true],"content-type":"192.0.2.1","v6":"2001:db8::1"}"#
        );
    }
}
