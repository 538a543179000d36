//! A small JSON writer for records. Records are written field by field into
//! the shard's line buffer: no serde state machine, no intermediate strings.
//! Callgrind showed the generic serde path spending most of a record's
//! instructions on per-field overhead.
//!
//! Strings are escaped by json-escape-simd (sonic-rs's SIMD escaper). API
//! bodies are JSON themselves, with a quote to escape every few bytes, and
//! it handles each escape without leaving its vector loop; simd-json's
//! escaper restarted its scan after every escape and cost a quarter of all
//! instructions.

use std::net::IpAddr;

use crate::http::head::Text;

/// json-escape-simd reserves six times its input (the worst case) before
/// writing, so longer strings are escaped in pieces of this size to keep
/// that reservation, and so the line buffer, near the record's real size.
const PIECE: usize = 64 * 1024;

/// Appends `s` as a quoted, escaped JSON string.
fn escape_str(out: &mut Vec<u8>, s: &str) {
    if s.len() <= PIECE {
        json_escape_simd::escape_into(s, out);
        return;
    }
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let mut end = rest.len().min(PIECE);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        // Each piece comes back quoted; drop its quotes.
        let at = out.len();
        json_escape_simd::escape_into(piece, out);
        out.pop();
        out.remove(at);
        rest = tail;
    }
    out.push(b'"');
}

/// Lower-cases ASCII letters in place and says whether every byte may
/// stand in a JSON string as it is. Eight bytes at a time as one u64:
/// header names are short, and byte by byte this cost ~8 instructions a
/// byte (callgrind). No copy of variable length (each was a memcpy call):
/// names under eight bytes are packed into a word by shifts, padded with
/// `a` (plain, lower case already); longer ones end with a word that
/// overlaps the one before (lower-casing twice changes nothing).
fn lowercase_plain(b: &mut [u8]) -> bool {
    let n = b.len();
    if n < 8 {
        let mut x = (b'a' as u64 * ONES) << (8 * n);
        for (i, c) in b.iter().enumerate() {
            x |= (*c as u64) << (8 * i);
        }
        let lower = ascii_lowercase(x);
        for (i, c) in b.iter_mut().enumerate() {
            *c = (lower >> (8 * i)) as u8;
        }
        return needs_escape(x) == 0;
    }
    let mut escapes = 0;
    for w in b.chunks_exact_mut(8) {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        escapes |= needs_escape(x);
        w.copy_from_slice(&ascii_lowercase(x).to_le_bytes());
    }
    if !n.is_multiple_of(8) {
        let last: &mut [u8; 8] = (&mut b[n - 8..]).try_into().expect("eight bytes");
        let x = u64::from_le_bytes(*last);
        escapes |= needs_escape(x);
        *last = ascii_lowercase(x).to_le_bytes();
    }
    escapes == 0
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// Non-zero when some byte of `x` is below 0x20, `"` or `\`: the bytes a
/// JSON string must escape. (`v - ONES & !v & HIGH` is non-zero exactly
/// when some byte of `v` is zero; with `n * ONES`, when some byte is below
/// `n`.)
const fn needs_escape(x: u64) -> u64 {
    (x.wrapping_sub(0x20 * ONES) & !x & HIGH)
        | has_zero(x ^ (b'"' as u64 * ONES))
        | has_zero(x ^ (b'\\' as u64 * ONES))
}

const fn has_zero(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGH
}

/// `x` with every byte in `A..=Z` lower-cased, others untouched.
const fn ascii_lowercase(x: u64) -> u64 {
    // Per byte, the low seven bits plus a constant set the byte's top bit
    // at the threshold, without carrying into the next byte.
    let low7 = x & !HIGH;
    let ge_a = low7 + (0x80 - b'A' as u64) * ONES;
    let gt_z = low7 + (0x80 - b'Z' as u64 - 1) * ONES;
    let upper = ge_a & !gt_z & !x & HIGH;
    x | upper >> 2
}

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
    // Inlined so that each call site copies its constant field name with
    // a fixed-size move instead of a call to memcpy.
    #[inline]
    pub fn key(&mut self, key: &str) {
        self.sep();
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.comma = false;
    }

    /// Writes a header name as a key, lower-cased.
    pub fn key_lowercase(&mut self, name: Text<'_>) {
        self.sep();
        if let Text::Str(s) = name {
            // The usual case, a token: copied, lower-cased in place, and
            // escaped only if it turns out to need it.
            let start = self.out.len();
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            if lowercase_plain(&mut self.out[start + 1..]) {
                self.out.extend_from_slice(b"\":");
                self.comma = false;
                return;
            }
            self.out.truncate(start);
        }
        let start = self.out.len();
        self.head_text_inner(name);
        // Escapes are lower case already (`\n`, `\u001b`): this changes
        // only the name's own letters.
        self.out[start..].make_ascii_lowercase();
        self.out.push(b':');
        self.comma = false;
    }

    /// Text from a message head (header values, the reason phrase):
    /// invalid UTF-8 is replaced lossily.
    pub fn head_text(&mut self, t: Text<'_>) {
        self.sep();
        self.head_text_inner(t);
        self.comma = true;
    }

    fn head_text_inner(&mut self, t: Text<'_>) {
        match t {
            Text::Str(s) => escape_str(self.out, s),
            Text::Bytes(b) => self.lossy(b),
        }
    }

    pub fn str(&mut self, s: &str) {
        self.sep();
        escape_str(self.out, s);
        self.comma = true;
    }

    /// `bytes` as a base64 string (standard alphabet, padded), encoded
    /// straight into the line: the alphabet needs no escaping, so there is
    /// no intermediate string and no escaping pass over it.
    pub fn base64(&mut self, bytes: &[u8]) {
        self.sep();
        self.out.push(b'"');
        base64_simd::STANDARD.encode_append(bytes, self.out);
        self.out.push(b'"');
        self.comma = true;
    }

    /// Like `str` when the escaped string takes at most `max` bytes;
    /// otherwise writes nothing and returns false.
    pub fn str_within(&mut self, s: &str, max: usize) -> bool {
        let before = self.out.len();
        self.sep();
        let start = self.out.len();
        escape_str(self.out, s);
        if self.out.len() - start > max {
            self.out.truncate(before);
            return false;
        }
        self.comma = true;
        true
    }

    /// Like `str`, and says whether `s` went out as it is (nothing needed
    /// escaping), so that parts of it may then go out with `unescaped`.
    pub fn str_verbatim(&mut self, s: &str) -> bool {
        self.sep();
        let start = self.out.len();
        escape_str(self.out, s);
        self.comma = true;
        self.out.len() - start == s.len() + 2
    }

    /// A string known to need no escaping: a part of one that
    /// `str_verbatim` wrote as it was.
    pub fn unescaped(&mut self, s: &str) {
        self.sep();
        self.out.push(b'"');
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(b'"');
        self.comma = true;
    }

    /// Text that may not be valid UTF-8 (header values): replaced lossily.
    pub fn text(&mut self, b: &[u8]) {
        self.sep();
        self.lossy(b);
        self.comma = true;
    }

    /// A quoted, escaped string; invalid UTF-8 is replaced (U+FFFD).
    fn lossy(&mut self, b: &[u8]) {
        match simdutf8::basic::from_utf8(b) {
            Ok(s) => escape_str(self.out, s),
            Err(_) => escape_str(self.out, &String::from_utf8_lossy(b)),
        }
    }

    /// A string we produced ourselves (ids, timestamps, versions, flag
    /// names): printable ASCII with nothing to escape, copied as is.
    pub fn plain(&mut self, s: &[u8]) {
        debug_assert!(s
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'));
        self.sep();
        self.out.push(b'"');
        self.out.extend_from_slice(s);
        self.out.push(b'"');
        self.comma = true;
    }

    /// Object members serialized earlier (`"a":1,"b":{…}`, no braces),
    /// copied as they are: for what is the same in every record.
    pub fn members(&mut self, serialized: &[u8]) {
        if serialized.is_empty() {
            return;
        }
        self.sep();
        self.out.extend_from_slice(serialized);
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
                // Formatted on the stack and copied once.
                let mut buf = [0u8; 15];
                let mut n = 0;
                for (i, octet) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        buf[n] = b'.';
                        n += 1;
                    }
                    if octet >= 100 {
                        buf[n] = b'0' + octet / 100;
                        n += 1;
                    }
                    if octet >= 10 {
                        buf[n] = b'0' + octet / 10 % 10;
                        n += 1;
                    }
                    buf[n] = b'0' + octet % 10;
                    n += 1;
                }
                self.out.extend_from_slice(&buf[..n]);
            }
            IpAddr::V6(a) => {
                use std::io::Write;
                let _ = write!(self.out, "{a}");
            }
        }
        self.out.push(b'"');
        self.comma = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_plain_is_the_bytewise_loop() {
        let reference = |b: &mut [u8]| {
            let plain = b.iter().all(|c| *c >= 0x20 && *c != b'"' && *c != b'\\');
            b.make_ascii_lowercase();
            plain
        };
        // Every byte value at every position of every length up to 17.
        for len in 0..=17 {
            for at in 0..len {
                for v in 0..=255u8 {
                    let mut a: Vec<u8> = (0..len).map(|i| b"Content-TYPE-Xz09"[i]).collect();
                    a[at] = v;
                    let mut b = a.clone();
                    assert_eq!(lowercase_plain(&mut a), reference(&mut b), "{len} {at} {v}");
                    assert_eq!(a, b, "{len} {at} {v}");
                }
            }
        }
        assert!(lowercase_plain(&mut []));
    }

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
            assert_eq!(ours, serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn long_strings_escape_in_pieces_like_serde_json() {
        // Pieces end on character boundaries: put multi-byte characters
        // and escapes across the first cuts.
        let unit = "ab\"c\u{1}é✓\n";
        let s = unit.repeat(3 * PIECE / unit.len() + 7);
        let ours = write(|w| w.str(&s));
        assert_eq!(ours, serde_json::to_string(&s).unwrap());
    }

    #[test]
    fn base64_is_the_standard_encoding_as_a_json_string() {
        use base64::Engine as _;
        for len in [0, 1, 2, 3, 4, 5, 64, 1000, 70_001] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let ours = write(|w| {
                w.begin_array();
                w.base64(&bytes);
                w.base64(&bytes);
                w.end_array();
            });
            let one = base64::engine::general_purpose::STANDARD.encode(&bytes);
            assert_eq!(ours, format!("[\"{one}\",\"{one}\"]"), "{len}");
        }
    }

    proptest::proptest! {
        #[test]
        fn escapes_any_string_like_serde_json(s in "(?s).{0,300}") {
            let ours = write(|w| w.str(&s));
            proptest::prop_assert_eq!(ours, serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn text_is_lossy_utf8(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let ours = write(|w| w.text(&b));
            let lossy = String::from_utf8_lossy(&b);
            proptest::prop_assert_eq!(ours, serde_json::to_string(&lossy).unwrap());
        }
    }

    #[test]
    fn header_names_lower_cased_and_escaped() {
        let out = write(|w| {
            w.begin_object();
            w.key_lowercase(Text::Str("X-Ünï\"Q\u{1}"));
            w.null();
            w.key_lowercase(Text::Bytes(b"A\xffB"));
            w.null();
            w.end_object();
        });
        assert_eq!(out, "{\"x-Ünï\\\"q\\u0001\":null,\"a\u{fffd}b\":null}");
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
            w.key_lowercase(Text::Str("Content-Type"));
            w.ip(&"192.0.2.1".parse().unwrap());
            w.key("v4");
            w.begin_array();
            for ip in ["0.0.0.0", "255.255.255.255", "10.200.3.99", "1.20.100.9"] {
                w.ip(&ip.parse().unwrap());
            }
            w.end_array();
            w.key("v6");
            w.ip(&"2001:db8::1".parse().unwrap());
            w.end_object();
        });
        assert_eq!(
            out,
            r#"{"a":1,"b":["x",null,true],"content-type":"192.0.2.1","v4":["0.0.0.0","255.255.255.255","10.200.3.99","1.20.100.9"],"v6":"2001:db8::1"}"#
        );
    }
}
