//! HTTP/2 over cleartext TCP with prior knowledge (RFC 9113 §3.3): the
//! same exchanges as the HTTP/1.1 mode, re-framed. Each exchange the
//! content generator writes as HTTP/1.1 bytes is parsed back into its
//! header fields and body, and sent as a stream: request HEADERS (and DATA
//! for a body), response HEADERS and DATA. Header blocks are HPACK-encoded
//! with a small encoder of our own that uses the dynamic table the way
//! browsers and servers do: repeated fields (`:authority`, `user-agent`,
//! `accept`, `cookie`, `server`, `content-type`...) are inserted once with
//! incremental indexing and then sent as one-byte indexed references;
//! per-request values (`:path`, request ids, lengths, ETags) are literals
//! without indexing. No Huffman coding: octets are sent as they are.

use std::collections::VecDeque;

use crate::rng::Rng;

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// SETTINGS_MAX_FRAME_SIZE's initial value; neither side raises it.
pub const MAX_FRAME: usize = 16_384;
/// SETTINGS_HEADER_TABLE_SIZE's initial value; neither side changes it.
pub const TABLE_SIZE: usize = 4096;
/// Stream window both sides announce (what Chrome announces), larger than
/// any body the generator makes, so no stream waits for a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 6_291_456;
/// Connection window raised to the maximum right after the preface.
const CONN_WINDOW_INCREMENT: u32 = 0x7fff_ffff - 65_535;

/// RFC 7541 Appendix A.
pub const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Fields whose values change with every request: worth nothing in the
/// table, so they are literals without indexing (as nghttp2 and browsers
/// treat them).
const NOT_INDEXED: &[&[u8]] = &[
    b":path",
    b"content-length",
    b"etag",
    b"if-none-match",
    b"location",
    b"set-cookie",
    b"x-request-id",
    b"x-ratelimit-remaining",
];

/// RFC 7541 §5.1: `value` with an `n`-bit prefix; `first` holds the
/// representation's pattern bits above the prefix.
pub fn put_int(out: &mut Vec<u8>, first: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A string literal without Huffman coding.
fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// One direction's HPACK encoder and its view of the peer decoder's table.
#[derive(Default)]
pub struct Encoder {
    /// Newest first, as dynamic indices count.
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
}

impl Encoder {
    /// Appends the representation of one field to `out`.
    pub fn field(&mut self, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
        let mut name_ix = None;
        for (i, (n, v)) in STATIC_TABLE.iter().enumerate() {
            if n.as_bytes() == name {
                if v.as_bytes() == value {
                    put_int(out, 0x80, 7, i + 1);
                    return;
                }
                name_ix.get_or_insert(i + 1);
            }
        }
        for (i, (n, v)) in self.table.iter().enumerate() {
            if n == name {
                if v == value {
                    put_int(out, 0x80, 7, STATIC_TABLE.len() + 1 + i);
                    return;
                }
                name_ix.get_or_insert(STATIC_TABLE.len() + 1 + i);
            }
        }
        let index = !NOT_INDEXED.contains(&name);
        // Literal with incremental indexing: 01 + 6-bit name index;
        // without indexing: 0000 + 4-bit name index.
        let (first, bits) = if index { (0x40, 6) } else { (0x00, 4) };
        match name_ix {
            Some(ix) => put_int(out, first, bits, ix),
            None => {
                out.push(first);
                put_str(out, name);
            }
        }
        put_str(out, value);
        if index {
            self.insert(name, value);
        }
    }

    /// RFC 7541 §4.4: evict from the oldest end until the entry fits; an
    /// entry larger than the table empties it and is not kept.
    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + 32;
        while self.size + size > TABLE_SIZE {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => break,
            }
        }
        if size <= TABLE_SIZE {
            self.table.push_front((name.to_vec(), value.to_vec()));
            self.size += size;
        }
    }
}

/// Appends one frame.
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A header block as HEADERS and, past the frame size, CONTINUATION frames.
fn header_frames(out: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool) {
    let mut pieces = block.chunks(MAX_FRAME).peekable();
    let mut first = true;
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        let mut flags = if last { END_HEADERS } else { 0 };
        if first && end_stream {
            flags |= END_STREAM;
        }
        frame(
            out,
            if first { HEADERS } else { CONTINUATION },
            flags,
            stream,
            piece,
        );
        first = false;
    }
}

/// `pieces` as DATA frames of at most the frame size, END_STREAM on the last.
fn data_frames(frames: &mut Vec<Vec<u8>>, stream: u32, pieces: &[&[u8]]) {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let mut sent = 0;
    for piece in pieces {
        for part in piece.chunks(MAX_FRAME) {
            sent += part.len();
            let mut f = Vec::with_capacity(9 + part.len());
            let flags = if sent == total { END_STREAM } else { 0 };
            frame(&mut f, DATA, flags, stream, part);
            frames.push(f);
        }
    }
}

/// The client's first bytes: preface, SETTINGS (no push, a large stream
/// window) and a WINDOW_UPDATE opening the connection window.
pub fn client_preface(out: &mut Vec<u8>) {
    out.extend_from_slice(PREFACE);
    let mut s = Vec::new();
    s.extend_from_slice(&2u16.to_be_bytes()); // ENABLE_PUSH
    s.extend_from_slice(&0u32.to_be_bytes());
    s.extend_from_slice(&4u16.to_be_bytes()); // INITIAL_WINDOW_SIZE
    s.extend_from_slice(&STREAM_WINDOW.to_be_bytes());
    frame(out, SETTINGS, 0, 0, &s);
    frame(
        out,
        WINDOW_UPDATE,
        0,
        0,
        &CONN_WINDOW_INCREMENT.to_be_bytes(),
    );
}

/// The server's first bytes: SETTINGS (100 concurrent streams, a large
/// stream window), WINDOW_UPDATE, and the ACK of the client's SETTINGS.
pub fn server_preface(out: &mut Vec<u8>) {
    let mut s = Vec::new();
    s.extend_from_slice(&3u16.to_be_bytes()); // MAX_CONCURRENT_STREAMS
    s.extend_from_slice(&100u32.to_be_bytes());
    s.extend_from_slice(&4u16.to_be_bytes());
    s.extend_from_slice(&STREAM_WINDOW.to_be_bytes());
    frame(out, SETTINGS, 0, 0, &s);
    frame(
        out,
        WINDOW_UPDATE,
        0,
        0,
        &CONN_WINDOW_INCREMENT.to_be_bytes(),
    );
    frame(out, SETTINGS, ACK, 0, &[]);
}

/// The client's ACK of the server's SETTINGS.
pub fn settings_ack(out: &mut Vec<u8>) {
    frame(out, SETTINGS, ACK, 0, &[]);
}

/// GOAWAY with NO_ERROR, naming the last stream processed.
pub fn goaway(out: &mut Vec<u8>, last_stream: u32) {
    let mut p = Vec::with_capacity(8);
    p.extend_from_slice(&last_stream.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    frame(out, GOAWAY, 0, 0, &p);
}

/// Header lines of an HTTP/1.1 head (after its first line), names as sent.
fn header_lines(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|&b| b == b'\n').skip(1).filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let value = &line[colon + 1..];
        let skip = value.iter().take_while(|&&b| b == b' ').count();
        Some((&line[..colon], &value[skip..]))
    })
}

fn split_head(msg: &[u8]) -> (&[u8], &[u8]) {
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the content generator ends heads with CRLF CRLF");
    (&msg[..end + 2], &msg[end + 4..])
}

/// Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2), and Host,
/// which becomes `:authority`.
fn dropped(name: &[u8]) -> bool {
    [
        &b"host"[..],
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"proxy-connection",
        b"upgrade",
    ]
    .iter()
    .any(|d| name.eq_ignore_ascii_case(d))
}

fn encode_fields(enc: &mut Encoder, head: &[u8], block: &mut Vec<u8>) {
    let mut lower = Vec::new();
    for (name, value) in header_lines(head) {
        if dropped(name) {
            continue;
        }
        lower.clear();
        lower.extend(name.iter().map(u8::to_ascii_lowercase));
        enc.field(&lower, value, block);
    }
}

/// A request's frames: the HTTP/1.1 request `req` (as `Content::exchange`
/// wrote it) as HEADERS and DATA on stream `id`, one buffer per frame so
/// the caller can interleave streams. Header blocks must be encoded in the
/// order they go on the wire: the encoder's table changes with each.
pub fn request(id: u32, enc: &mut Encoder, req: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let (head, body) = split_head(req);
    let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    let mut words = head[..line_end].split(|&b| b == b' ');
    let method = words.next().unwrap_or(b"GET");
    let target = words.next().unwrap_or(b"/");
    let authority = header_lines(head)
        .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
        .map_or(&b""[..], |(_, v)| v);
    // Pseudo-headers first, in the order browsers send them.
    let mut block = Vec::with_capacity(256);
    enc.field(b":method", method, &mut block);
    enc.field(b":scheme", b"http", &mut block);
    enc.field(b":authority", authority, &mut block);
    enc.field(b":path", target, &mut block);
    encode_fields(enc, head, &mut block);
    let mut f = Vec::with_capacity(block.len() + 9);
    header_frames(&mut f, id, &block, body.is_empty());
    frames.push(f);
    if !body.is_empty() {
        data_frames(&mut frames, id, &[body]);
    }
    frames
}

/// A response's frames, as [`request`]'s. `head_request` marks the answer
/// to a HEAD, which announces a length but carries no body.
pub fn response(id: u32, enc: &mut Encoder, resp: &[u8], head_request: bool) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let (head, body) = split_head(resp);
    let status = &head[9..12];
    let chunked = header_lines(head).any(|(n, v)| {
        n.eq_ignore_ascii_case(b"transfer-encoding") && v.eq_ignore_ascii_case(b"chunked")
    });
    let pieces = if head_request {
        Vec::new()
    } else if chunked {
        dechunk(body)
    } else {
        vec![body]
    };
    let pieces: Vec<&[u8]> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
    let mut block = Vec::with_capacity(256);
    enc.field(b":status", status, &mut block);
    encode_fields(enc, head, &mut block);
    let mut f = Vec::with_capacity(block.len() + 9);
    header_frames(&mut f, id, &block, pieces.is_empty());
    frames.push(f);
    data_frames(&mut frames, id, &pieces);
    frames
}

/// The chunks of a chunked body, which become the response's DATA frames
/// (a streaming server flushes a DATA frame where it would send a chunk).
fn dechunk(mut body: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        pieces.push(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
    pieces
}

/// Interleaves the streams' frames round-robin, in `order`: first frames
/// (the HEADERS) of every stream, then the second frames, and so on. The
/// header blocks must have been encoded in `order`.
pub fn interleave(frames: Vec<Vec<Vec<u8>>>, order: &[usize], out: &mut Vec<u8>) {
    let mut iters: Vec<_> = frames.into_iter().map(|f| f.into_iter()).collect();
    loop {
        let mut any = false;
        for &i in order {
            if let Some(f) = iters[i].next() {
                out.extend_from_slice(&f);
                any = true;
            }
        }
        if !any {
            break;
        }
    }
}

/// A random permutation of 0..n (Fisher-Yates).
pub fn shuffled(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_encode_as_rfc_7541_c_1() {
        let mut out = Vec::new();
        put_int(&mut out, 0, 5, 10);
        assert_eq!(out, [0b0000_1010]);
        out.clear();
        put_int(&mut out, 0, 5, 1337);
        assert_eq!(out, [0b0001_1111, 0b1001_1010, 0b0000_1010]);
        out.clear();
        put_int(&mut out, 0, 8, 42);
        assert_eq!(out, [42]);
    }

    #[test]
    fn repeated_fields_become_indexed() {
        let mut enc = Encoder::default();
        let mut first = Vec::new();
        enc.field(b"user-agent", b"curl/8", &mut first);
        assert_eq!(first[0], 0x40 | 58);
        let mut again = Vec::new();
        enc.field(b"user-agent", b"curl/8", &mut again);
        assert_eq!(again, [0x80 | 62]);
        let mut path = Vec::new();
        enc.field(b":path", b"/a", &mut path);
        assert_eq!(path, [0x04, 2, b'/', b'a']);
        let mut status = Vec::new();
        enc.field(b":status", b"200", &mut status);
        assert_eq!(status, [0x88]);
    }

    #[test]
    fn table_evicts_to_its_size() {
        let mut enc = Encoder::default();
        let mut out = Vec::new();
        for i in 0..200 {
            enc.field(b"x-n", format!("{i:040}").as_bytes(), &mut out);
        }
        assert!(enc.size <= TABLE_SIZE);
        assert_eq!(enc.size, enc.table.len() * (3 + 40 + 32));
    }
}
