//! HTTP/1.x over reassembled TCP: message parsing (`parser`, `head`,
//! `chunked`), request/response pairing per connection (`exchange`), and
//! the early decisions that keep unwanted transactions cheap (`filter`).

pub mod anomaly;
pub mod chunked;
pub mod content;
pub mod exchange;
pub mod filter;
pub mod head;
pub mod parser;
pub mod pending;
pub mod redact;
pub mod target;

pub use exchange::{HttpConn, HttpCtx};
pub use head::{Head, HeadBuilder, Version};

/// One request or response, with its body as captured (de-chunked).
#[derive(Debug)]
pub struct Message {
    pub head: Head,
    /// Capture time of the message's first byte.
    pub ts_ns: u64,
    /// Capture time of its last byte (or of the last byte seen).
    pub end_ts_ns: u64,
    /// Body bytes kept, at most MAX_BODY_BYTES.
    pub body: Vec<u8>,
    /// Body bytes seen on the wire after de-chunking (including bytes lost in holes).
    pub body_size: u64,
    pub body_truncated: bool,
    /// Whether the message's framing completed.
    pub complete: bool,
    /// A hole touched this message.
    pub gap: bool,
    /// Offset in `body` where the first hole's bytes are missing.
    pub body_gap_at: Option<usize>,
    /// The codings removed from the body ("gzip", "gzip, br"), once decoded.
    pub content_encoding: Option<String>,
    /// An interim status that came before this response and stays worth
    /// recording: the 101 of an h2c upgrade.
    pub interim_status: Option<u16>,
    /// Trailers: HTTP/2's header block after the body (gRPC's status) or
    /// an HTTP/1 chunked body's trailer section.
    pub trailers: Option<Box<Head>>,
}

impl Message {
    pub fn new(head: Head, ts_ns: u64) -> Message {
        Message {
            head,
            ts_ns,
            end_ts_ns: ts_ns,
            body: Vec::new(),
            body_size: 0,
            body_truncated: false,
            complete: false,
            gap: false,
            body_gap_at: None,
            content_encoding: None,
            interim_status: None,
            trailers: None,
        }
    }

    /// Keeps body bytes up to `max_body` in all; the first cut is counted.
    pub fn keep_body(&mut self, data: &[u8], max_body: usize, stats: &crate::stats::ShardStats) {
        let room = max_body.saturating_sub(self.body.len());
        if data.len() > room {
            if !self.body_truncated {
                stats.inc(crate::stats::Counter::HttpBodyTruncated);
            }
            self.body_truncated = true;
        }
        self.body.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// The body a record shows: the bytes kept, up to the first hole when
    /// the body is left as captured (bytes after a hole come from further
    /// on; spliced on, they would pose as the body's next bytes). A decoded
    /// body ends at its first hole already.
    pub fn recorded_body(&self) -> &[u8] {
        match self.body_gap_at {
            Some(at) if self.content_encoding.is_none() => &self.body[..at.min(self.body.len())],
            _ => &self.body,
        }
    }

    /// Whether `recorded_body` is less than the whole body: cut at
    /// MAX_BODY_BYTES, at a hole, or where the capture of the message
    /// ended (a decoded body says so in `body_truncated` already).
    pub fn recorded_body_cut(&self) -> bool {
        self.body_truncated
            || (self.content_encoding.is_none() && (!self.complete || self.body_gap_at.is_some()))
    }

    /// Bytes of a hole inside the body.
    pub fn body_gap(&mut self, len: u64) {
        self.body_size += len;
        self.gap = true;
        self.body_gap_at.get_or_insert(self.body.len());
    }
}

/// Notes attached to a transaction record, as a small bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(pub u32);

impl Flags {
    pub const GAP: u32 = 1 << 0;
    pub const MID_STREAM: u32 = 1 << 1;
    pub const NO_RESPONSE: u32 = 1 << 2;
    pub const NO_REQUEST: u32 = 1 << 3;
    pub const REQUEST_INCOMPLETE: u32 = 1 << 4;
    pub const RESPONSE_INCOMPLETE: u32 = 1 << 5;
    pub const UPGRADE: u32 = 1 << 6;
    pub const RESPONSE_UNPARSED: u32 = 1 << 7;
    pub const BODY_DECODE_FAILED: u32 = 1 << 8;
    pub const BODY_TRIMMED: u32 = 1 << 9;
    /// The request's head was unusable (invalid or too large): the record
    /// holds its response alone (with `no_request`).
    pub const REQUEST_UNPARSED: u32 = 1 << 10;
    /// A message's framing headers were unreadable or contradictory.
    pub const FRAMING_INVALID: u32 = 1 << 11;
    /// A chunked body's chunk framing broke; the message ends there.
    pub const CHUNKED_INVALID: u32 = 1 << 12;
    /// HTTP/2: the stream was reset (RST_STREAM) before it completed.
    pub const RESET: u32 = 1 << 13;
    /// HTTP/2: a header field referred to HPACK state we never saw
    /// (capture began mid-connection, or bytes were lost); it is missing.
    pub const HPACK_INCOMPLETE: u32 = 1 << 14;
    /// HTTP/1: too many requests were pending on the connection, so the
    /// oldest was emitted without waiting for its response; that response,
    /// when it comes, is emitted alone. Neither is paired by guess.
    pub const PAIRING_LOST: u32 = 1 << 15;
    /// HTTP/1: the response answers an HTTP/0.9 request and came without
    /// a status line: `status` and `reason` are null, and every byte the
    /// server sent until it closed is the body.
    pub const NO_STATUS_LINE: u32 = 1 << 16;
    /// HTTP/1: bytes lost in a hole may have held whole messages (requests
    /// or responses), so this response may answer another request; the
    /// record pairs them as the order suggests and says it is a guess.
    pub const PAIRING_UNCERTAIN: u32 = 1 << 17;
    /// HTTP/1: a header line that is not a field (no colon, a name with a
    /// space or a byte a token may not hold) was left out of `headers`:
    /// a request-smuggling sign when a server reads it otherwise.
    pub const HEADER_INVALID: u32 = 1 << 18;
    /// HTTP/1: the request line broke the grammar in a way servers accept
    /// (a version other than HTTP/1.0 or 1.1, such as `HTTP/2.0` or
    /// `HTTP/1.`; a target httparse refuses; no target): read as HTTP/1.x.
    pub const REQUEST_LINE_INVALID: u32 = 1 << 19;

    /// Names as they appear in the record's `flags` array.
    pub const NAMES: &'static [(u32, &'static str)] = &[
        (Self::GAP, "gap"),
        (Self::MID_STREAM, "mid_stream"),
        (Self::NO_RESPONSE, "no_response"),
        (Self::NO_REQUEST, "no_request"),
        (Self::REQUEST_INCOMPLETE, "request_incomplete"),
        (Self::RESPONSE_INCOMPLETE, "response_incomplete"),
        (Self::UPGRADE, "upgrade"),
        (Self::RESPONSE_UNPARSED, "response_unparsed"),
        (Self::BODY_DECODE_FAILED, "body_decode_failed"),
        (Self::BODY_TRIMMED, "body_trimmed_for_kafka"),
        (Self::REQUEST_UNPARSED, "request_unparsed"),
        (Self::FRAMING_INVALID, "framing_invalid"),
        (Self::CHUNKED_INVALID, "chunked_invalid"),
        (Self::RESET, "reset"),
        (Self::HPACK_INCOMPLETE, "hpack_incomplete"),
        (Self::PAIRING_LOST, "pairing_lost"),
        (Self::NO_STATUS_LINE, "no_status_line"),
        (Self::PAIRING_UNCERTAIN, "pairing_uncertain"),
        (Self::HEADER_INVALID, "header_invalid"),
        (Self::REQUEST_LINE_INVALID, "request_line_invalid"),
    ];

    pub fn set(&mut self, bit: u32) {
        self.0 |= bit;
    }

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .iter()
            .filter(move |(b, _)| self.0 & b != 0)
            .map(|(_, n)| *n)
    }
}

/// A request paired with its response (either may be missing).
#[derive(Debug)]
pub struct Transaction {
    /// Position within its connection, from 0.
    pub seq: u32,
    pub request: Option<Message>,
    pub response: Option<Message>,
    pub flags: Flags,
    /// Set when a filter matched: the transaction is counted, never serialized.
    pub filtered: Option<crate::stats::Counter>,
    /// A placeholder for a request whose head was unusable, so that its
    /// response pairs with it instead of with the next request.
    pub placeholder: bool,
    /// HTTP/1: the request was waiting when a hole broke the response
    /// stream's framing, so its response may have been in the hole.
    pub answer_unsure: bool,
    /// HTTP/2: the stream that carried the transaction.
    pub stream_id: Option<u32>,
    /// gRPC: the call's messages and status, when the stream carried one.
    pub grpc: Option<Box<crate::http2::grpc::GrpcCall>>,
}

impl Transaction {
    /// A transaction with nothing in it yet.
    pub fn new(seq: u32) -> Transaction {
        Transaction {
            seq,
            request: None,
            response: None,
            flags: Flags::default(),
            filtered: None,
            placeholder: false,
            answer_unsure: false,
            stream_id: None,
            grpc: None,
        }
    }

    /// Capture time the transaction began.
    pub fn start_ns(&self) -> u64 {
        self.request
            .as_ref()
            .or(self.response.as_ref())
            .map(|m| m.ts_ns)
            .unwrap_or(0)
    }

    /// Capture time of the last byte seen.
    pub fn last_ns(&self) -> u64 {
        let r = self.request.as_ref().map(|m| m.end_ts_ns).unwrap_or(0);
        let s = self.response.as_ref().map(|m| m.end_ts_ns).unwrap_or(0);
        r.max(s)
    }
}
