//! A parsed message head (start line and headers), stored as its raw bytes
//! plus spans: one allocation per head, no per-header strings.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: Range<u32>,
        target: Range<u32>,
    },
    Response {
        status: u16,
        reason: Range<u32>,
    },
}

/// A head's bytes. Heads are nearly always valid UTF-8 (ASCII): checked
/// once when parsed, every span of such a head is text without checking
/// it again when the record is written.
#[derive(Clone, Debug)]
enum Raw {
    Text(Box<str>),
    Bytes(Box<[u8]>),
}

impl Raw {
    fn new(raw: &[u8]) -> Raw {
        match simdutf8::basic::from_utf8(raw) {
            Ok(s) => Raw::Text(s.into()),
            Err(_) => Raw::Bytes(raw.into()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Raw::Text(s) => s.as_bytes(),
            Raw::Bytes(b) => b,
        }
    }
}

/// Bytes of a head as text when they are valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text<'a> {
    Str(&'a str),
    /// Not valid UTF-8.
    Bytes(&'a [u8]),
}

#[derive(Clone, Debug)]
pub struct Head {
    raw: Raw,
    pub start: StartLine,
    pub version: Version,
    headers: Vec<(Range<u32>, Range<u32>)>,
    /// An HTTP/1 request line httparse rejected and
    /// `parse_lenient_request` read: a damaged or unknown version, or no
    /// target (flag `request_line_invalid`).
    lenient_request_line: bool,
}

/// The protocol version a message came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// A request line without a version (RFC 1945's Simple-Request), or
    /// the answer to one that came without a status line.
    Http09,
    Http10,
    Http11,
    /// Built from an HTTP/2 header block (`Head::from_fields`).
    Http2,
}

impl Version {
    fn from_minor(minor: u8) -> Version {
        if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http09 => "HTTP/0.9",
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2",
        }
    }
}

/// Builds a head from decoded fields (an HTTP/2 header block): the bytes
/// are laid end to end in one buffer and the head keeps spans into it, as
/// a parsed HTTP/1 head does, so records, filters and body decoding read
/// both the same way. The buffer is reused from one head to the next.
#[derive(Debug, Default)]
pub struct HeadBuilder {
    raw: Vec<u8>,
    headers: Vec<(Range<u32>, Range<u32>)>,
    method: Option<Range<u32>>,
    target: Option<Range<u32>>,
    status: Option<u16>,
    /// `:status` was present but not three digits.
    status_invalid: bool,
}

impl HeadBuilder {
    pub fn clear(&mut self) {
        self.raw.clear();
        self.headers.clear();
        self.method = None;
        self.target = None;
        self.status = None;
        self.status_invalid = false;
    }

    fn push(&mut self, bytes: &[u8]) -> Range<u32> {
        // Header blocks are capped at MAX_HEADER_BYTES (< 4 GiB).
        let start = self.raw.len() as u32;
        self.raw.extend_from_slice(bytes);
        start..self.raw.len() as u32
    }

    /// A header field, in order.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        let n = self.push(name);
        let v = self.push(value);
        self.headers.push((n, v));
    }

    pub fn method(&mut self, method: &[u8]) {
        self.method = Some(self.push(method));
    }

    pub fn target(&mut self, target: &[u8]) {
        self.target = Some(self.push(target));
    }

    /// `:status`; a value that is not three digits is kept as 0 and
    /// makes the head malformed (`has_valid_status`).
    pub fn status(&mut self, status: &[u8]) {
        let parsed = match status {
            [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
            }
            _ => None,
        };
        self.status_invalid = parsed.is_none();
        self.status = Some(parsed.unwrap_or(0));
    }

    pub fn has_status(&self) -> bool {
        self.status.is_some()
    }

    /// A `:status` of three digits was given (RFC 9113 §8.3.2).
    pub fn has_valid_status(&self) -> bool {
        self.status.is_some() && !self.status_invalid
    }

    pub fn has_method(&self) -> bool {
        self.method.is_some()
    }

    /// A 1xx status: an interim response, not the final one.
    pub fn is_interim(&self) -> bool {
        self.status.is_some_and(|s| (100..200).contains(&s))
    }

    /// Decoded bytes so far.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The head: a request when `request`, else a response (status 0
    /// when `:status` was missing or unreadable).
    pub fn build(&self, request: bool, version: Version) -> Head {
        let start = if request {
            StartLine::Request {
                method: self.method.clone().unwrap_or(0..0),
                target: self.target.clone().unwrap_or(0..0),
            }
        } else {
            StartLine::Response {
                status: self.status.unwrap_or(0),
                reason: 0..0,
            }
        };
        Head {
            raw: Raw::new(&self.raw),
            start,
            version,
            headers: self.headers.clone(),
            lenient_request_line: false,
        }
    }
}

/// Why a head could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    Invalid,
}

const MAX_HEADERS: usize = 256;

/// Searchers for obsolete line folding, built once: building them took
/// as long as searching a head.
static FOLDS: LazyLock<[memmem::Finder<'static>; 2]> =
    LazyLock::new(|| [memmem::Finder::new(b"\n "), memmem::Finder::new(b"\n\t")]);

/// Where `part` lies within `base`. httparse hands back slices of the
/// buffer, except for some empty values (a static `b""`), which map to 0..0.
fn span(base: &[u8], part: &[u8]) -> Range<u32> {
    let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if !part.is_empty() && end <= base.len() => start as u32..end as u32,
        _ => 0..0,
    }
}

/// The reason phrase of a status line httparse accepted: after the
/// version, the spaces, the three digits and the spaces; up to the line
/// end (its CR excluded). Empty when there is none.
fn reason_in_status_line(raw: &[u8]) -> Range<u32> {
    let line_end = memchr::memchr(b'\n', raw).unwrap_or(raw.len());
    let line = &raw[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let skip_spaces = |mut i: usize| {
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        i
    };
    // "HTTP/1.x" is eight bytes; then spaces, three digits, spaces.
    let start = skip_spaces(skip_spaces(8).saturating_add(3));
    if start >= line.len() {
        return 0..0;
    }
    // A head is capped at MAX_HEADER_BYTES (< 4 GiB).
    start as u32..line.len() as u32
}

/// The header fields of `bytes[from..]` (field lines and the blank line
/// that ends them), as spans of `bytes`; None when they do not parse.
fn header_fields(bytes: &[u8], from: usize) -> Option<Vec<(Range<u32>, Range<u32>)>> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(&bytes[from..], &mut storage) {
        Ok(httparse::Status::Complete((_, h))) => Some(
            h.iter()
                .map(|h| (span(bytes, h.name.as_bytes()), span(bytes, h.value)))
                .collect(),
        ),
        _ => None,
    }
}

fn parser_config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_requests(true)
        .ignore_invalid_headers_in_responses(true);
    c
}

impl Head {
    /// Parses a complete head (ending with its blank line).
    pub fn parse(raw: &[u8], request: bool) -> Result<Head, HeadError> {
        // Obsolete line folding: unfold first, or httparse would drop the
        // continuation as an invalid header line.
        let unfolded;
        let [space, tab] = &*FOLDS;
        let raw = if space.find(raw).is_some() || tab.find(raw).is_some() {
            unfolded = unfold(raw);
            &unfolded[..]
        } else {
            raw
        };
        match Self::parse_exact(raw, request) {
            Ok(h) => Ok(h),
            Err(e) if request => Self::parse_lenient_request(raw).ok_or(e),
            Err(e) => Err(e),
        }
    }

    /// An HTTP/1 chunked body's trailer section (`lines`: field lines,
    /// each ending in LF) as a head without a start line, shaped as
    /// HTTP/2 trailers are. None when the fields do not parse.
    pub fn trailer_section(lines: &[u8], version: Version) -> Option<Head> {
        let mut raw = Vec::with_capacity(lines.len() + 2);
        raw.extend_from_slice(lines);
        raw.extend_from_slice(b"\r\n");
        let raw = Raw::new(&raw);
        let headers = header_fields(raw.bytes(), 0)?;
        Some(Head {
            start: StartLine::Response {
                status: 0,
                reason: 0..0,
            },
            version,
            headers,
            raw,
            lenient_request_line: false,
        })
    }

    /// Request lines that httparse rejects but servers answer: a missing
    /// or damaged version (`GET /x`, `GET / HTTP/1.`) or a missing target
    /// (`OPTIONS HTTP/1.1`). The line must still be a method token and at
    /// least one more word; the headers must parse.
    fn parse_lenient_request(raw: &[u8]) -> Option<Head> {
        let line_end = memchr::memchr(b'\n', raw)?;
        let line = raw[..line_end]
            .strip_suffix(b"\r")
            .unwrap_or(&raw[..line_end]);
        let mut words = line
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|w| !w.is_empty());
        let method = words.next()?;
        let second = words.next()?;
        let third = words.next();
        if words.next().is_some()
            || third.is_some_and(|v| !v.starts_with(b"HTTP/"))
            || !method
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
            || !second.iter().all(|b| b.is_ascii_graphic())
        {
            return None;
        }
        let (target, version) = match third {
            Some(v) => (second, Some(v)),
            None if second.starts_with(b"HTTP/") => (&second[..0], Some(second)),
            None => (second, None),
        };
        // No version at all is HTTP/0.9's request line (RFC 1945 §4.1),
        // headers or not: the client named no later version.
        let version = match version {
            None => Version::Http09,
            Some(v) if v.starts_with(b"HTTP/1.0") || v.starts_with(b"HTTP/0.9") => Version::Http10,
            Some(_) => Version::Http11,
        };
        // Words are slices of `raw`: their offsets carry over to the copy
        // (a word starts at or after `raw`, so the difference is >= 0, and
        // MAX_HEADER_BYTES < 4 GiB keeps it in a u32).
        let at = |w: &[u8]| {
            let start = (w.as_ptr() as usize - raw.as_ptr() as usize) as u32;
            start..start + w.len() as u32
        };
        let method = at(method);
        let target = if target.is_empty() { 0..0 } else { at(target) };
        let raw = Raw::new(raw);
        let hdrs = header_fields(raw.bytes(), line_end + 1)?;
        Some(Head {
            start: StartLine::Request { method, target },
            version,
            headers: hdrs,
            raw,
            lenient_request_line: true,
        })
    }

    /// An HTTP/0.9 request (RFC 1945's Simple-Request): `line` is one
    /// whole line, its line end included, of exactly `method SP target`,
    /// with no version and nothing after it. The method must be one
    /// `known_method` accepts (RFC 1945 defines only GET, but servers
    /// answer others and Zeek logs them), the target visible ASCII and
    /// not a version. None for anything else.
    pub fn http09_request(line: &[u8], known_method: impl Fn(&[u8]) -> bool) -> Option<Head> {
        let text = line.strip_suffix(b"\n")?;
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if memchr::memchr(b'\n', text).is_some() {
            return None;
        }
        let sp = memchr::memchr(b' ', text)?;
        let (method, target) = (&text[..sp], &text[sp + 1..]);
        if !known_method(method)
            || target.is_empty()
            || !target.iter().all(u8::is_ascii_graphic)
            || target.starts_with(b"HTTP/")
        {
            return None;
        }
        let raw = Raw::new(line);
        Some(Head {
            start: StartLine::Request {
                method: 0..sp as u32,
                target: sp as u32 + 1..text.len() as u32,
            },
            version: Version::Http09,
            headers: Vec::new(),
            raw,
            lenient_request_line: false,
        })
    }

    /// The head of an answer to an HTTP/0.9 request that came without a
    /// status line: no status, no reason, no headers (its bytes are all
    /// body).
    pub fn no_status_line() -> Head {
        Head {
            raw: Raw::Text("".into()),
            start: StartLine::Response {
                status: 0,
                reason: 0..0,
            },
            version: Version::Http09,
            headers: Vec::new(),
            lenient_request_line: false,
        }
    }

    /// Whether an HTTP/1 request line broke the grammar in a way servers
    /// accept (`parse_lenient_request`): a version other than HTTP/1.0 or
    /// HTTP/1.1 (`HTTP/1.`, `HTTP/2.0`), a target httparse refuses, or
    /// no target. Such a request is read as HTTP/1.x, which the record's
    /// `version` then says; the flag says it was not what the line wrote.
    /// A line with no version at all is HTTP/0.9's, not flagged.
    pub fn lenient_request_line(&self) -> bool {
        self.lenient_request_line && self.version != Version::Http09
    }

    /// Whether a response head came from a status line (false only for
    /// `no_status_line`).
    pub fn has_status_line(&self) -> bool {
        !matches!(self.start, StartLine::Response { .. }) || self.version != Version::Http09
    }

    fn parse_exact(raw: &[u8], request: bool) -> Result<Head, HeadError> {
        let owned = Raw::new(raw);
        let raw = owned.bytes();
        // Left uninitialised: httparse fills what it uses, and clearing
        // 256 entries (8 KiB) for every head cost more than parsing one.
        let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let config = parser_config();
        let (start, minor, hdrs) = if request {
            let mut req = httparse::Request::new(&mut []);
            match config.parse_request_with_uninit_headers(&mut req, raw, &mut storage) {
                Ok(httparse::Status::Complete(_)) => {}
                _ => return Err(HeadError::Invalid),
            }
            let method = span(raw, req.method.ok_or(HeadError::Invalid)?.as_bytes());
            let target = span(raw, req.path.ok_or(HeadError::Invalid)?.as_bytes());
            let minor = req.version.unwrap_or(1);
            let hdrs: Vec<_> = req
                .headers
                .iter()
                .map(|h| (span(raw, h.name.as_bytes()), span(raw, h.value)))
                .collect();
            (StartLine::Request { method, target }, minor, hdrs)
        } else {
            let mut resp = httparse::Response::new(&mut []);
            match config.parse_response_with_uninit_headers(&mut resp, raw, &mut storage) {
                Ok(httparse::Status::Complete(_)) => {}
                _ => return Err(HeadError::Invalid),
            }
            let status = resp.code.ok_or(HeadError::Invalid)?;
            let reason = match resp.reason {
                Some(r) if !r.is_empty() => span(raw, r.as_bytes()),
                // httparse hands back "" for a reason it cannot give as
                // a str (obs-text, RFC 9112 §4): find it in the line.
                _ => reason_in_status_line(raw),
            };
            let minor = resp.version.unwrap_or(1);
            let hdrs: Vec<_> = resp
                .headers
                .iter()
                .map(|h| (span(raw, h.name.as_bytes()), span(raw, h.value)))
                .collect();
            (StartLine::Response { status, reason }, minor, hdrs)
        };
        Ok(Head {
            raw: owned,
            start,
            version: Version::from_minor(minor),
            headers: hdrs,
            lenient_request_line: false,
        })
    }

    fn text(&self, r: &Range<u32>) -> &str {
        match self.text_of(r) {
            Text::Str(s) => s,
            Text::Bytes(_) => "",
        }
    }

    /// A span as text. Spans end next to ASCII delimiters, so in a
    /// valid UTF-8 head they lie on character boundaries. Inlined: called
    /// twice per header when a record is written, and the call cost more
    /// than the slicing (callgrind).
    #[inline]
    fn text_of(&self, r: &Range<u32>) -> Text<'_> {
        let r = r.start as usize..r.end as usize;
        match &self.raw {
            Raw::Text(s) => match s.get(r.clone()) {
                Some(t) => Text::Str(t),
                None => Text::Bytes(&s.as_bytes()[r]),
            },
            Raw::Bytes(b) => match std::str::from_utf8(&b[r.clone()]) {
                Ok(t) => Text::Str(t),
                Err(_) => Text::Bytes(&b[r]),
            },
        }
    }

    fn bytes(&self, r: &Range<u32>) -> &[u8] {
        &self.raw.bytes()[r.start as usize..r.end as usize]
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> &str {
        match &self.start {
            StartLine::Request { method, .. } => self.text(method),
            StartLine::Response { .. } => "",
        }
    }

    pub fn target(&self) -> &str {
        match &self.start {
            StartLine::Request { target, .. } => self.text(target),
            StartLine::Response { .. } => "",
        }
    }

    /// Method and target for the record: bytes that are not UTF-8 (HTTP/2
    /// carries any byte, HTTP/1 allows obs-text) become U+FFFD rather than
    /// an empty field, so such a URL is never hidden.
    pub fn method_and_target_lossy(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        let lossy = |r: &Range<u32>| match self.text_of(r) {
            Text::Str(s) => Cow::Borrowed(s),
            Text::Bytes(b) => String::from_utf8_lossy(b),
        };
        match &self.start {
            StartLine::Request { method, target } => (lossy(method), lossy(target)),
            StartLine::Response { .. } => (Cow::Borrowed(""), Cow::Borrowed("")),
        }
    }

    pub fn status(&self) -> u16 {
        match &self.start {
            StartLine::Response { status, .. } => *status,
            StartLine::Request { .. } => 0,
        }
    }

    pub fn reason(&self) -> &[u8] {
        match &self.start {
            StartLine::Response { reason, .. } => self.bytes(reason),
            StartLine::Request { .. } => b"",
        }
    }

    pub fn reason_text(&self) -> Text<'_> {
        match &self.start {
            StartLine::Response { reason, .. } => self.text_of(reason),
            StartLine::Request { .. } => Text::Str(""),
        }
    }

    pub fn version(&self) -> &'static str {
        self.version.as_str()
    }

    /// Header fields in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (self.bytes(n), self.bytes(v)))
    }

    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The name of the `i`th header field, as sent.
    pub fn header_name(&self, i: usize) -> &[u8] {
        self.bytes(&self.headers[i].0)
    }

    /// The value of the `i`th header field.
    pub fn header_value(&self, i: usize) -> &[u8] {
        self.bytes(&self.headers[i].1)
    }

    /// The `i`th header field, as text where it is valid UTF-8.
    pub fn header_text(&self, i: usize) -> (Text<'_>, Text<'_>) {
        let (n, v) = &self.headers[i];
        (self.text_of(n), self.text_of(v))
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first value of a header, by case-insensitive name, as text
    /// where it is valid UTF-8.
    pub fn header_text_of(&self, name: &str) -> Option<Text<'_>> {
        self.headers
            .iter()
            .find(|(n, _)| self.bytes(n).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| self.text_of(v))
    }

    /// Whether any value of the header contains `token` (case-insensitive),
    /// as in `Connection: keep-alive, Upgrade`.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .any(|(_, v)| {
                v.split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
            })
    }

    /// Replaces the value of every field for which `replace(name, value)`
    /// gives a new one, and returns how many were replaced. The head's
    /// bytes are rebuilt from its parts, so the head keeps nothing of the
    /// old values (redaction).
    pub fn replace_values(
        &mut self,
        mut replace: impl FnMut(&[u8], &[u8]) -> Option<Vec<u8>>,
    ) -> usize {
        let mut new: Vec<(usize, Vec<u8>)> = Vec::new();
        for i in 0..self.headers.len() {
            if let Some(v) = replace(self.header_name(i), self.header_value(i)) {
                new.push((i, v));
            }
        }
        if new.is_empty() {
            return 0;
        }
        let count = new.len();
        self.rebuild(None, new);
        count
    }

    /// Replaces a request's target (redaction of credentials in it).
    pub fn replace_target(&mut self, target: &[u8]) {
        self.rebuild(Some(target), Vec::new());
    }

    /// The head re-made with `target` (a request's) and the values of
    /// header fields in `new` (by index, ascending) replaced.
    fn rebuild(&mut self, new_target: Option<&[u8]>, new: Vec<(usize, Vec<u8>)>) {
        let old = self.raw.bytes();
        let mut raw = Vec::with_capacity(old.len() + 80 * (new.len() + 1));
        // Heads are capped at MAX_HEADER_BYTES (< 4 GiB), and replacements
        // are short, so offsets fit in a u32 as they do when parsed.
        let mut put = |bytes: &[u8]| {
            let start = raw.len() as u32;
            raw.extend_from_slice(bytes);
            start..raw.len() as u32
        };
        let part = |r: &Range<u32>| &old[r.start as usize..r.end as usize];
        let start = match &self.start {
            StartLine::Request { method, target } => StartLine::Request {
                method: put(part(method)),
                target: put(new_target.unwrap_or(part(target))),
            },
            StartLine::Response { status, reason } => StartLine::Response {
                status: *status,
                reason: put(part(reason)),
            },
        };
        let mut new = new.into_iter().peekable();
        let mut headers = Vec::with_capacity(self.headers.len());
        for (i, (n, v)) in self.headers.iter().enumerate() {
            let name = put(part(n));
            let value = match new.next_if(|(j, _)| *j == i) {
                Some((_, value)) => put(&value),
                None => put(part(v)),
            };
            headers.push((name, value));
        }
        self.raw = Raw::new(&raw);
        self.start = start;
        self.headers = headers;
    }

    /// Whether httparse left out a header line it found invalid
    /// (`ignore_invalid_headers_*`): a line without a colon, or whose name
    /// holds a space or a byte a token may not, such as a request's
    /// `Transfer-Encoding : chunked` (a smuggling shape: a server that
    /// reads the line frames the body another way). Seen as more line
    /// ends between two fields, or around them, than the fields account
    /// for; a gap is searched only when it is longer than usual, so a
    /// common head costs a few comparisons.
    /// Only for HTTP/1 heads (HTTP/2 fields have no lines).
    pub fn dropped_invalid_lines(&self) -> bool {
        if self.version == Version::Http2 {
            return false;
        }
        let raw = self.raw.bytes();
        let line_ends = |from: usize, to: usize| {
            let to = to.min(raw.len());
            memchr::memchr_iter(b'\n', &raw[from.min(to)..to]).count()
        };
        // From the start line's last span (empty spans are 0..0: then
        // from the start, which holds the one line end all the same). A
        // gap no longer than what always follows that span (a request
        // target's " HTTP/1.1\r\n", a field's or a reason's line end)
        // cannot hold another line: no look.
        let (mut at, mut usual) = match &self.start {
            StartLine::Request { target, .. } => (target.end as usize, 11),
            StartLine::Response { reason, .. } => (reason.end as usize, 2),
        };
        for (n, v) in &self.headers {
            let start = n.start as usize;
            if start > at + usual && line_ends(at, start) > 1 {
                return true;
            }
            usual = 2;
            at = if v.is_empty() { n.end } else { v.end } as usize;
        }
        // After the last field (or the start line): its line end and the
        // blank line.
        raw.len() > at + 4 && line_ends(at, raw.len()) > 2
    }

    /// Bytes of the whole head.
    pub fn len(&self) -> usize {
        self.raw.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.bytes().is_empty()
    }
}

/// Replaces obsolete line folding (CRLF followed by space or tab) with a space.
fn unfold(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\r'
            && raw.get(i + 1) == Some(&b'\n')
            && matches!(raw.get(i + 2), Some(b' ') | Some(b'\t'))
        {
            out.push(b' ');
            i += 3;
        } else if b == b'\n' && matches!(raw.get(i + 1), Some(b' ') | Some(b'\t')) {
            out.push(b' ');
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

/// Finds the end of a head: the index just past the blank line that ends it
/// (CRLF CRLF, or bare LF LF as lenient servers send). `from` lets a caller
/// resume a scan without looking at old bytes again.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let hay = &buf[start..];
    let [crlf, lf] = &*BLANK_LINES;
    // LF CRLF ends a CRLF head (and a mixed one); a bare LF LF wins only if
    // it starts first. Two vector searches instead of a stop at every LF.
    let crlf_at = crlf.find(hay);
    let lf_end = crlf_at.map_or(hay.len(), |i| i + 1);
    match (lf.find(&hay[..lf_end]), crlf_at) {
        (Some(i), _) => Some(start + i + 2),
        (None, Some(i)) => Some(start + i + 3),
        (None, None) => None,
    }
}

/// Searchers for the blank line that ends a head, built once.
static BLANK_LINES: LazyLock<[memmem::Finder<'static>; 2]> =
    LazyLock::new(|| [memmem::Finder::new(b"\n\r\n"), memmem::Finder::new(b"\n\n")]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head() {
        let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nHost: y\r\n\r\n";
        let h = Head::parse(raw, true).unwrap();
        assert_eq!(h.method(), "GET");
        assert_eq!(h.target(), "/a?b=1");
        assert_eq!(h.version(), "HTTP/1.1");
        assert_eq!(h.header("host"), Some(&b"x"[..]));
        assert_eq!(h.header_count(), 3);
    }

    #[test]
    fn spans_are_text_where_valid_utf8() {
        let h = Head::parse(
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nA: \xe9t\xe9\r\nB: b\r\n\r\n",
            true,
        )
        .unwrap();
        assert_eq!(h.target(), "/caf\u{e9}");
        assert_eq!(
            h.header_text(0),
            (Text::Str("A"), Text::Bytes(b"\xe9t\xe9"))
        );
        assert_eq!(h.header_text(1), (Text::Str("B"), Text::Str("b")));
        let h = Head::parse(b"HTTP/1.1 200 OK\r\nA: \xc3\xa9\r\n\r\n", false).unwrap();
        assert_eq!(h.reason_text(), Text::Str("OK"));
        assert_eq!(h.header_text(0), (Text::Str("A"), Text::Str("\u{e9}")));
        // A reason with obs-text (which httparse gives as "") is kept.
        let h = Head::parse(b"HTTP/1.1 200  \xc3\x9c ok\xff\r\n\r\n", false).unwrap();
        assert_eq!(h.reason_text(), Text::Bytes(b"\xc3\x9c ok\xff"));
        let h = Head::parse(
            "HTTP/1.1 404 Nicht gefunden \u{fc}\r\n\r\n".as_bytes(),
            false,
        )
        .unwrap();
        assert_eq!(h.reason_text(), Text::Str("Nicht gefunden \u{fc}"));
        for line in [
            &b"HTTP/1.1 204\r\n\r\n"[..],
            b"HTTP/1.1 204 \r\n\r\n",
            b"HTTP/1.0 204\n\n",
        ] {
            let h = Head::parse(line, false).unwrap();
            assert_eq!(h.reason_text(), Text::Str(""));
        }
    }

    #[test]
    fn lenient_request_lines_are_told_apart() {
        let lenient = |raw: &[u8]| {
            Head::parse(raw, true)
                .unwrap_or_else(|_| panic!("parses: {}", String::from_utf8_lossy(raw)))
                .lenient_request_line()
        };
        for ok in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET  /x  HTTP/1.0\nA: 1\n\n",
            // No version: HTTP/0.9's request line, headers or not.
            b"GET /x\r\nHost: h\r\n\r\n",
        ] {
            assert!(!lenient(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"[..],
            b"GET / HTTP/1.\r\n\r\n",
            b"GET / HTTP/1.10\r\n\r\n",
            b"OPTIONS HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            assert!(lenient(bad), "{}", String::from_utf8_lossy(bad));
        }
        // A response is never a request line.
        assert!(!Head::parse(b"HTTP/1.1 200 OK\r\n\r\n", false)
            .unwrap()
            .lenient_request_line());
    }

    #[test]
    fn invalid_header_lines_left_out_are_seen() {
        let dropped = |raw: &[u8], request: bool| {
            Head::parse(raw, request)
                .unwrap_or_else(|_| panic!("parses: {}", String::from_utf8_lossy(raw)))
                .dropped_invalid_lines()
        };
        for ok in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: h\r\nEmpty:\r\nX: trailing blanks   \r\n\r\n",
            b"GET / HTTP/1.1\nA: 1\nB:\n\n",
            b"GET / HTTP/1.1\r\nA: folded\r\n  on two lines\r\nB: 2\r\n\r\n",
        ] {
            assert!(!dropped(ok, true), "{}", String::from_utf8_lossy(ok));
        }
        for ok in [
            &b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n"[..],
            b"HTTP/1.1 204\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nServer : spaced\r\n\r\n",
        ] {
            assert!(!dropped(ok, false), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad\x01Name: x\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nnot a field\r\n\r\n",
        ] {
            assert!(dropped(bad, true), "{}", String::from_utf8_lossy(bad));
        }
        assert!(dropped(
            b"HTTP/1.1 200 OK\r\nA: 1\r\n[garbage]\r\n\r\n",
            false
        ));
    }

    #[test]
    fn replaced_values_keep_every_other_span() {
        let raw = b"POST /p?q=1 HTTP/1.1\r\nA: 1\r\nAuth: long-secret-value\r\nEmpty:\r\nB: 22\r\nAuth: x\r\n\r\n";
        let mut h = Head::parse(raw, true).unwrap();
        let n = h.replace_values(|n, _| match n {
            b"Auth" => Some(b"[r]".to_vec()),
            b"Empty" => Some(b"[empty]".to_vec()),
            _ => None,
        });
        assert_eq!(n, 3);
        assert_eq!((h.method(), h.target()), ("POST", "/p?q=1"));
        let fields: Vec<(&[u8], &[u8])> = h.headers().collect();
        assert_eq!(
            fields,
            vec![
                (&b"A"[..], &b"1"[..]),
                (b"Auth", b"[r]"),
                (b"Empty", b"[empty]"),
                (b"B", b"22"),
                (b"Auth", b"[r]"),
            ]
        );
        assert!(memchr::memmem::find(h.raw.bytes(), b"secret").is_none());
        // An HTTP/2 head, built field by field.
        let mut b = HeadBuilder::default();
        b.method(b"GET");
        b.target(b"/");
        b.field(b"cookie", b"a=1");
        b.field(b"x", b"y");
        let mut h = b.build(true, Version::Http2);
        h.replace_values(|n, _| (n == b"cookie").then(|| b"hmac-sha256:00".to_vec()));
        let fields: Vec<(&[u8], &[u8])> = h.headers().collect();
        assert_eq!(
            fields,
            vec![(&b"cookie"[..], &b"hmac-sha256:00"[..]), (b"x", b"y")]
        );
        assert_eq!((h.method(), h.target()), ("GET", "/"));
    }

    proptest::proptest! {
        /// Any head, any choice of fields: the others read as before.
        #[test]
        fn replacing_values_never_breaks_a_head(
            fields in proptest::collection::vec(("[a-z]{1,3}", "[ -~]{0,6}", proptest::bool::ANY), 0..8),
            with in "[ -~]{0,4}",
        ) {
            let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
            for (n, v, _) in &fields {
                raw.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            raw.extend_from_slice(b"\r\n");
            let Ok(mut h) = Head::parse(&raw, true) else { return Ok(()) };
            let before: Vec<(Vec<u8>, Vec<u8>)> =
                h.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
            let pick: Vec<bool> = (0..before.len()).map(|i| fields.get(i).is_some_and(|f| f.2)).collect();
            let mut i = 0;
            h.replace_values(|_, _| {
                i += 1;
                pick[i - 1].then(|| with.as_bytes().to_vec())
            });
            let after: Vec<(Vec<u8>, Vec<u8>)> =
                h.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
            proptest::prop_assert_eq!(after.len(), before.len());
            for (k, ((n0, v0), (n1, v1))) in before.iter().zip(&after).enumerate() {
                proptest::prop_assert_eq!(n0, n1);
                let want = if pick[k] { with.as_bytes() } else { &v0[..] };
                proptest::prop_assert_eq!(&v1[..], want);
            }
            proptest::prop_assert_eq!(h.target(), "/");
        }
    }

    #[test]
    fn folded_request_header() {
        let raw = b"GET / HTTP/1.0\r\nX-Long: a\r\n b\r\nHost: h\r\n\r\n";
        let h = Head::parse(raw, true).unwrap();
        assert_eq!(h.header("x-long"), Some(&b"a b"[..]));
    }

    /// The plain definition: the first LF followed by LF or CRLF.
    fn head_end_by_lines(buf: &[u8], from: usize) -> Option<usize> {
        let start = from.saturating_sub(3);
        (start..buf.len()).find_map(|i| match (buf[i], buf.get(i + 1), buf.get(i + 2)) {
            (b'\n', Some(b'\n'), _) => Some(i + 2),
            (b'\n', Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        })
    }

    proptest::proptest! {
        #[test]
        fn head_end_is_the_first_blank_line(
            buf in proptest::collection::vec(proptest::sample::select(b"\r\na :".to_vec()), 0..80),
            from in 0usize..80,
        ) {
            let from = from.min(buf.len());
            proptest::prop_assert_eq!(find_head_end(&buf, from), head_end_by_lines(&buf, from));
        }
    }

    #[test]
    fn head_end() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nX", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\nX", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        // Mixed endings, and the earlier blank line wins.
        assert_eq!(find_head_end(b"GET / HTTP/1.1\nA: b\n\r\nX", 0), Some(22));
        assert_eq!(find_head_end(b"GET /\n\nA\r\n\r\n", 0), Some(7));
        assert_eq!(find_head_end(b"GET /\r\nA\r\n\r\nB\n\n", 0), Some(12));
        // Resuming: the blank line straddles the old and new bytes.
        let b = b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody";
        for from in 0..=b.len() - 4 {
            assert_eq!(find_head_end(b, from.min(24)), Some(24), "from {from}");
        }
    }
}
