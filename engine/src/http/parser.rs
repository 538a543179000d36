//! One direction's HTTP/1.x message parser: finds heads, frames bodies and
//! recovers from damage. Input arrives in pieces of any size; the parser
//! copies only what it must keep (a partial head, a partial chunk-size line).
//!
//! States, in the order a message visits them:
//!
//! ```text
//!   Start ──► Head ──► Body ──► Start ...
//!     │         │        └────► Tunnel (Upgrade, CONNECT: no more HTTP)
//!     ▼         ▼
//!   Resync ◄─ SkipHead (head longer than MAX_HEADER_BYTES)
//! ```
//!
//! `Resync` scans for the next plausible message start; it is entered on
//! garbage, parse errors, and holes that cut a message's framing.

use super::anomaly::HttpAnomaly;
use super::chunked::ChunkDecoder;
use super::head::{find_head_end, Head, Version};
use crate::stats::{Counter, ShardStats};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Request,
    Response,
}

/// How a message's body is delimited, decided once its head is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
    /// The connection stops speaking HTTP/1 after this message.
    Tunnel,
}

/// How a message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Its framing said it was complete.
    Complete,
    /// Cut short: the connection closed, a hole or a framing error.
    Incomplete,
}

/// What a hole did to a direction's message framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterGap {
    /// The hole fell inside a body of known extent (or a tunnel): the
    /// next message starts where the framing says.
    FramingKept,
    /// Where the next message starts is unknown: whole messages may have
    /// been in the hole. `next_cut`: the hole certainly holds the start of
    /// the message after the one under way (it began at a message boundary,
    /// or ran past the end of a body of known length).
    FramingLost { next_cut: bool },
}

/// Receives what the parser finds. The sink decides framing because a
/// response's framing depends on the request it answers (HEAD, CONNECT).
pub trait MessageSink {
    fn on_head(&mut self, head: Head, ts_ns: u64) -> Framing;
    fn on_body(&mut self, data: &[u8]);
    /// `len` body bytes were lost in a hole; framing survived.
    fn on_body_gap(&mut self, len: u64);
    /// A chunked body's trailer section (its field lines, each ending in
    /// LF), before `on_complete`; only when it had fields.
    fn on_trailers(&mut self, _lines: &[u8]) {}
    fn on_complete(&mut self, ending: Ending, ts_ns: u64);
    /// A message was seen but its head could not be used (too large or invalid).
    fn on_skipped(&mut self, ts_ns: u64);
    /// The message being parsed met an anomaly (counted by the parser).
    fn on_anomaly(&mut self, _anomaly: HttpAnomaly) {}
    /// Response side, where a status line should start but none does:
    /// whether the next response answers an HTTP/0.9 request. If so the
    /// sink has begun that response (no status line) and every byte from
    /// here to the close is its body.
    fn on_raw_response(&mut self, _ts_ns: u64) -> bool {
        false
    }
    /// Response side, after `on_head`: whether the response answers a
    /// request whose method is unknown (never seen: the capture began
    /// after it, or it was lost or unusable).
    fn answers_unknown_request(&mut self) -> bool {
        false
    }
}

#[derive(Debug)]
enum BodyState {
    Length(u64),
    Chunked(Box<ChunkDecoder>),
    UntilClose,
}

#[derive(Debug)]
enum State {
    Start,
    Head,
    Body(BodyState),
    SkipHead,
    Resync,
    Tunnel,
}

#[derive(Debug)]
pub struct MessageParser {
    role: Role,
    state: State,
    /// A head (or the tail of a skipped one) that spans segments.
    buf: Vec<u8>,
    head_ts: u64,
    /// MAX_HEADER_BYTES (u32 keeps the per-connection state small).
    max_head: u32,
    /// Request side: the last head parsed was an HTTP/0.9 request, not
    /// yet reported (`made_http09`). (In padding: no cost per connection.)
    http09: bool,
    /// Response side: the body just framed answers a request never seen,
    /// so it may be absent (a HEAD's answer declares the length it would
    /// have had). Its first bytes decide (`status_line_start`); until
    /// enough have come they wait in `buf`. (In padding too.)
    body_unsure: bool,
}

/// Bytes of a previous piece kept while resynchronising: enough for the
/// longest method or a status line's start.
const CARRY: usize = 16;
/// Bytes of the next piece looked at together with them.
const PROBE: usize = 32;

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"HEAD ",
    b"OPTIONS ",
    b"PATCH ",
    b"TRACE ",
    b"CONNECT ",
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"REPORT ",
    b"SEARCH ",
    b"PURGE ",
    b"PRI ",
];

/// Whether `m` is one of the methods `METHODS` lists (an HTTP/0.9
/// request line must use one).
pub fn is_known_method(m: &[u8]) -> bool {
    METHODS
        .iter()
        .any(|k| k.len() == m.len() + 1 && k.starts_with(m))
}

impl MessageParser {
    pub fn new(role: Role, max_head: usize) -> MessageParser {
        MessageParser {
            role,
            state: State::Start,
            buf: Vec::new(),
            head_ts: 0,
            max_head: max_head.min(u32::MAX as usize) as u32,
            http09: false,
            body_unsure: false,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Starts in resync mode: for streams picked up mid-connection.
    pub fn resync(&mut self) {
        self.buf = Vec::new();
        self.body_unsure = false;
        self.state = State::Resync;
    }

    pub fn is_tunnel(&self) -> bool {
        matches!(self.state, State::Tunnel)
    }

    /// MAX_HEADER_BYTES, which HTTP/2 header blocks share.
    pub fn max_head(&self) -> usize {
        self.max_head as usize
    }

    /// Switches to tunnel mode: the rest of the connection is not HTTP/1.
    pub fn enter_tunnel(&mut self) {
        self.buf = Vec::new();
        self.body_unsure = false;
        self.state = State::Tunnel;
    }

    /// Whether the parser sits between messages with nothing buffered.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Start | State::Tunnel) && self.buf.is_empty()
    }

    /// Bytes held for a partial head, and a chunked body's partial line
    /// and trailers.
    pub fn buffered_bytes(&self) -> usize {
        let chunked = match &self.state {
            State::Body(BodyState::Chunked(dec)) => dec.buffered_bytes(),
            _ => 0,
        };
        self.buf.capacity() + chunked
    }

    /// Parses `data`; returns the bytes used, which is all of them unless
    /// the connection left HTTP/1 (an upgrade): the rest is not ours.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) -> usize {
        let total = data.len();
        while !data.is_empty() {
            let used = match &mut self.state {
                State::Tunnel => return total - data.len(),
                State::Start => self.start(data, ts_ns, stats, sink),
                State::Head => self.head(data, ts_ns, stats, sink),
                State::Body(_) => self.body(data, ts_ns, stats, sink),
                State::SkipHead => self.skip_head(data),
                State::Resync => self.find_message(data, ts_ns, stats),
            };
            data = &data[used..];
        }
        total
    }

    fn start(
        &mut self,
        data: &[u8],
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) -> usize {
        // Blank lines between messages are allowed.
        let skip = data
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        let rest = &data[skip..];
        // The answer to an HTTP/0.9 request has no status line: all its
        // bytes, blank lines before them included, are body. A server that
        // answers with a status line anyway (after blank lines or not) is
        // read as HTTP/1.x, so a piece of blank lines alone decides
        // nothing and is skipped as between messages.
        if self.role == Role::Response
            && !rest.is_empty()
            && !self.plausible_start(rest)
            && sink.on_raw_response(ts_ns)
        {
            self.head_ts = ts_ns;
            self.state = State::Body(BodyState::UntilClose);
            return 0;
        }
        if rest.is_empty() {
            return skip;
        }
        if self.plausible_start(rest) {
            self.state = State::Head;
            self.head_ts = ts_ns;
        } else {
            HttpAnomaly::BadStart.count(stats);
            self.state = State::Resync;
        }
        skip
    }

    fn plausible_start(&self, b: &[u8]) -> bool {
        match self.role {
            Role::Response => {
                let n = b.len().min(5);
                b[..n] == b"HTTP/"[..n]
            }
            Role::Request => b[0].is_ascii_uppercase(),
        }
    }

    fn head(
        &mut self,
        data: &[u8],
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) -> usize {
        if self.buf.is_empty() {
            // Fast path: the whole head is in this piece; parse it in place.
            if let Some(end) = find_head_end(data, 0) {
                if end <= self.max_head as usize {
                    self.finish_head(&data[..end], ts_ns, stats, sink);
                    return end;
                }
            }
        }
        let old = self.buf.len();
        self.buf.extend_from_slice(data);
        // A head that resync seeded from carried bytes may end inside them,
        // so a buffer that short is searched from its start; a longer one
        // was searched up to `old` when its earlier pieces arrived.
        let from = if old <= CARRY { 0 } else { old };
        match find_head_end(&self.buf, from) {
            Some(end) if end <= self.max_head as usize => {
                let head = std::mem::take(&mut self.buf);
                self.finish_head(&head[..end], ts_ns, stats, sink);
                self.consumed_after_head(head, old, end, ts_ns, stats, sink)
            }
            Some(end) => {
                // The whole head is here but longer than allowed: skip it and
                // its body, whose framing we will not trust.
                stats.inc(Counter::HttpHeaderTooLarge);
                sink.on_skipped(self.head_ts);
                self.state = State::Resync;
                let head = std::mem::take(&mut self.buf);
                self.consumed_after_head(head, old, end, ts_ns, stats, sink)
            }
            None if self.buf.len() > self.max_head as usize => {
                stats.inc(Counter::HttpHeaderTooLarge);
                sink.on_skipped(self.head_ts);
                // Keep only what is needed to spot the head's end.
                let keep = self.buf.len().min(3);
                self.buf = self.buf[self.buf.len() - keep..].to_vec();
                self.state = State::SkipHead;
                data.len()
            }
            _ => data.len(),
        }
    }

    /// How much of the newest piece a head ending at `end` of `joined`
    /// (`old` buffered bytes, then the piece) used. When the head ended
    /// inside the buffered bytes, those after it belong to what follows:
    /// they are fed again (at most CARRY bytes, so the recursion is shallow:
    /// each level feeds fewer bytes than the one before) and the piece is
    /// untouched.
    fn consumed_after_head(
        &mut self,
        mut joined: Vec<u8>,
        old: usize,
        end: usize,
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) -> usize {
        match end.checked_sub(old) {
            Some(used) => used,
            None => {
                joined.truncate(old);
                self.feed(&joined[end..], ts_ns, stats, sink);
                0
            }
        }
    }

    fn finish_head(
        &mut self,
        raw: &[u8],
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) {
        let _ = ts_ns;
        match Head::parse(raw, self.role == Role::Request) {
            Ok(head) => {
                self.http09 = head.version == Version::Http09;
                stats.inc(match self.role {
                    Role::Request => Counter::HttpRequests,
                    Role::Response => Counter::HttpResponses,
                });
                let head_ts = self.head_ts;
                let framing = sink.on_head(head, head_ts);
                self.body_unsure = self.role == Role::Response
                    && matches!(
                        framing,
                        Framing::Length(1..) | Framing::Chunked | Framing::UntilClose
                    )
                    && sink.answers_unknown_request();
                self.begin_body(framing, ts_ns, sink);
            }
            Err(_) => {
                HttpAnomaly::BadHead.count(stats);
                sink.on_skipped(self.head_ts);
                self.state = State::Resync;
            }
        }
    }

    fn begin_body(&mut self, framing: Framing, ts_ns: u64, sink: &mut dyn MessageSink) {
        self.state = match framing {
            Framing::None | Framing::Length(0) => {
                sink.on_complete(Ending::Complete, ts_ns);
                State::Start
            }
            Framing::Length(n) => State::Body(BodyState::Length(n)),
            Framing::Chunked => State::Body(BodyState::Chunked(Box::new(ChunkDecoder::new(
                self.max_head as usize,
            )))),
            Framing::UntilClose => State::Body(BodyState::UntilClose),
            Framing::Tunnel => {
                sink.on_complete(Ending::Complete, ts_ns);
                State::Tunnel
            }
        };
    }

    fn body(
        &mut self,
        data: &[u8],
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) -> usize {
        if self.body_unsure {
            return self.unsure_body(data, ts_ns, stats, sink);
        }
        let State::Body(body) = &mut self.state else {
            return 0;
        };
        match body {
            BodyState::Length(left) => {
                let take = (*left).min(data.len() as u64) as usize;
                sink.on_body(&data[..take]);
                *left -= take as u64;
                if *left == 0 {
                    sink.on_complete(Ending::Complete, ts_ns);
                    self.state = State::Start;
                }
                take
            }
            BodyState::UntilClose => {
                sink.on_body(data);
                data.len()
            }
            BodyState::Chunked(dec) => match dec.feed(data, &mut |b| sink.on_body(b)) {
                Ok(used) => {
                    if dec.is_done() {
                        let trailers = dec.take_trailers();
                        if !trailers.is_empty() {
                            sink.on_trailers(&trailers);
                        }
                        sink.on_complete(Ending::Complete, ts_ns);
                        self.state = State::Start;
                    }
                    used
                }
                Err(_) => {
                    HttpAnomaly::BadChunk.count(stats);
                    sink.on_anomaly(HttpAnomaly::BadChunk);
                    sink.on_complete(Ending::Incomplete, ts_ns);
                    self.state = State::Resync;
                    0
                }
            },
        }
    }

    /// The first bytes where the body of a response to an unseen request
    /// should begin: a status line there means the body is absent (the
    /// answer to a HEAD, most likely) and the next response begins. Bytes
    /// that might still become one wait in `buf` for the rest.
    fn unsure_body(
        &mut self,
        data: &[u8],
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) -> usize {
        let held = self.buf.len();
        let mut start = std::mem::take(&mut self.buf);
        let take = data.len().min(STATUS_LINE_START - held);
        start.extend_from_slice(&data[..take]);
        match status_line_start(&start) {
            Some(false) => {
                // A body after all: the bytes held are its first.
                self.body_unsure = false;
                self.feed(&start[..held], ts_ns, stats, sink);
                0
            }
            None => {
                // Fewer than STATUS_LINE_START bytes so far, all of them
                // a status line's: wait for more (`take` was all of data).
                self.buf = start;
                take
            }
            Some(true) => {
                self.body_unsure = false;
                stats.inc(Counter::HttpBodiesAbsent);
                sink.on_complete(Ending::Complete, ts_ns);
                self.state = State::Start;
                // The bytes held begin the next response's head.
                self.feed(&start[..held], ts_ns, stats, sink);
                0
            }
        }
    }

    /// Bytes held by `unsure_body` when the direction stops (a hole or its
    /// end) are the body's: too few to be a status line.
    fn release_unsure(&mut self, ts_ns: u64, stats: &ShardStats, sink: &mut dyn MessageSink) {
        if std::mem::take(&mut self.body_unsure) {
            let held = std::mem::take(&mut self.buf);
            self.feed(&held, ts_ns, stats, sink);
        }
    }

    fn skip_head(&mut self, data: &[u8]) -> usize {
        let old = self.buf.len();
        self.buf.extend_from_slice(&data[..data.len().min(8)]);
        let end_in_joined = find_head_end(&self.buf, 0);
        if let Some(end) = end_in_joined {
            self.buf.clear();
            // Its body's length is unknown: look for the next message. The
            // kept bytes held no head end (they were searched when they
            // arrived), so it ends in the new bytes; saturating all the same.
            self.state = State::Resync;
            return end.saturating_sub(old);
        }
        match find_head_end(data, 0) {
            Some(end) => {
                self.buf.clear();
                self.state = State::Resync;
                end
            }
            None => {
                // Keep the last three bytes seen, across pieces of any size.
                if data.len() > 8 {
                    self.buf.clear();
                    self.buf.extend_from_slice(&data[data.len() - 3..]);
                } else {
                    let from = self.buf.len().saturating_sub(3);
                    self.buf.drain(..from);
                }
                data.len()
            }
        }
    }

    /// Scans for the start of the next message. `buf` carries the last
    /// few bytes of the previous piece, so that a start cut across two
    /// segments is still found.
    fn find_message(&mut self, data: &[u8], ts_ns: u64, stats: &ShardStats) -> usize {
        // What was carried, kept so that pieces shorter than CARRY still add
        // up to a whole method ("G", "E", "T", " ").
        let mut carried = Vec::new();
        if !self.buf.is_empty() {
            let carry = self.buf.len();
            let mut probe = std::mem::take(&mut self.buf);
            probe.extend_from_slice(&data[..data.len().min(PROBE)]);
            if let Some(at) = (0..carry).find(|&at| self.starts_message(&probe, at)) {
                // The message began in the carried bytes: they become the
                // start of its head, and `head` takes the rest from `data`.
                stats.add(Counter::HttpResyncBytes, at as u64);
                probe.truncate(carry);
                self.buf = probe.split_off(at);
                self.head_ts = ts_ns;
                self.state = State::Head;
                return 0;
            }
            stats.add(Counter::HttpResyncBytes, carry as u64);
            probe.truncate(carry);
            carried = probe;
        }
        let found = match self.role {
            Role::Request => std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', data).map(|i| i + 1))
                .filter(|&at| at < data.len())
                .find(|&at| self.starts_message(data, at)),
            Role::Response => memchr::memmem::find_iter(data, b"HTTP/1.")
                .find(|&at| self.starts_message(data, at)),
        };
        if let Some(at) = found {
            stats.add(Counter::HttpResyncBytes, at as u64);
            self.state = State::Start;
            return at;
        }
        let keep = data.len().min(CARRY);
        stats.add(Counter::HttpResyncBytes, (data.len() - keep) as u64);
        carried.extend_from_slice(&data[data.len() - keep..]);
        let from = carried.len().saturating_sub(CARRY);
        self.buf = carried.split_off(from);
        data.len()
    }

    /// Whether a message plausibly starts at `b[at..]`. Requests must start
    /// a line; a response may follow a body directly ("...</html>HTTP/1.1
    /// 200 "), so its status line is checked more strictly off line starts.
    fn starts_message(&self, b: &[u8], at: usize) -> bool {
        let line_start = at == 0 || b[at - 1] == b'\n';
        let rest = &b[at..];
        match self.role {
            Role::Request => line_start && METHODS.iter().any(|m| rest.starts_with(m)),
            Role::Response if line_start => rest.starts_with(b"HTTP/1."),
            Role::Response => {
                rest.len() >= 13
                    && rest.starts_with(b"HTTP/1.")
                    && matches!(rest[7], b'0' | b'1')
                    && rest[8] == b' '
                    && rest[9..12].iter().all(u8::is_ascii_digit)
                    && rest[12] == b' '
            }
        }
    }

    /// Request side: when what is buffered is exactly one whole request
    /// line without a version (`GET /path` and its line end, nothing
    /// after), takes it as an HTTP/0.9 request, which has no headers, and
    /// returns true. Called when the server starts answering or the
    /// client's direction ends: either shows that no header lines will
    /// follow. A line with a version, a line still being received and a
    /// head with header lines never qualify.
    pub fn take_http09(
        &mut self,
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) -> bool {
        if self.role != Role::Request || !matches!(self.state, State::Head) {
            return false;
        }
        let Some(head) = Head::http09_request(&self.buf, is_known_method) else {
            return false;
        };
        self.buf = Vec::new();
        self.http09 = true;
        stats.inc(Counter::HttpRequests);
        let framing = sink.on_head(head, self.head_ts);
        self.begin_body(framing, ts_ns, sink);
        true
    }

    /// Whether an HTTP/0.9 request was parsed since the last call.
    pub fn made_http09(&mut self) -> bool {
        std::mem::take(&mut self.http09)
    }

    /// Response side, after an HTTP/0.9 request: the server's next bytes
    /// are its answer, so whatever this side was in the middle of (a
    /// response begun before any request was made, a head not finished,
    /// a resynchronisation) stops here; a message under way ends
    /// incomplete. The caller decides when that is right.
    pub fn restart_for_http09(&mut self, ts_ns: u64, sink: &mut dyn MessageSink) {
        match self.state {
            State::Start | State::Tunnel => return,
            State::Body(_) => sink.on_complete(Ending::Incomplete, ts_ns),
            State::Head | State::SkipHead | State::Resync => {}
        }
        self.buf = Vec::new();
        self.body_unsure = false;
        self.state = State::Start;
    }

    /// `len` bytes were lost in this direction.
    pub fn gap(
        &mut self,
        len: u64,
        ts_ns: u64,
        stats: &ShardStats,
        sink: &mut dyn MessageSink,
    ) -> AfterGap {
        self.release_unsure(ts_ns, stats, sink);
        let next_cut = match &mut self.state {
            State::Body(BodyState::Length(left)) if len < *left => {
                *left -= len;
                sink.on_body_gap(len);
                return AfterGap::FramingKept;
            }
            State::Body(BodyState::Length(left)) if len == *left => {
                // The hole ends where the body does: the next message
                // starts right after it.
                sink.on_body_gap(len);
                sink.on_complete(Ending::Incomplete, ts_ns);
                self.state = State::Start;
                return AfterGap::FramingKept;
            }
            State::Body(BodyState::UntilClose) => {
                sink.on_body_gap(len);
                return AfterGap::FramingKept;
            }
            State::Tunnel => return AfterGap::FramingKept,
            State::Body(b) => {
                // Past the end of a body of known length, the rest of the
                // hole belongs to the messages after it.
                let (in_body, past_end) = match b {
                    BodyState::Length(left) => (len.min(*left), true),
                    _ => (len, false),
                };
                sink.on_body_gap(in_body);
                sink.on_complete(Ending::Incomplete, ts_ns);
                past_end
            }
            State::Head => {
                // The message's head was cut: the message is unusable.
                sink.on_skipped(self.head_ts);
                self.buf = Vec::new();
                false
            }
            State::Start => {
                self.buf = Vec::new();
                true
            }
            State::SkipHead => {
                self.buf = Vec::new();
                false
            }
            State::Resync => {
                self.buf.clear();
                false
            }
        };
        self.state = State::Resync;
        AfterGap::FramingLost { next_cut }
    }

    /// Whether part of a message head is waiting for the rest.
    pub fn head_pending(&self) -> bool {
        matches!(self.state, State::Head) && !self.buf.is_empty()
    }

    /// The direction ended (FIN, RST, expiry or end of input).
    pub fn eof(&mut self, ts_ns: u64, stats: &ShardStats, sink: &mut dyn MessageSink) {
        self.release_unsure(ts_ns, stats, sink);
        match &self.state {
            State::Body(BodyState::UntilClose) => sink.on_complete(Ending::Complete, ts_ns),
            State::Body(_) => sink.on_complete(Ending::Incomplete, ts_ns),
            _ => {}
        }
        self.buf = Vec::new();
        if !matches!(self.state, State::Tunnel) {
            self.state = State::Start;
        }
    }
}

/// Bytes that decide whether a status line begins: `HTTP/1.x NNN`.
const STATUS_LINE_START: usize = 12;

/// Whether `data` (at most STATUS_LINE_START bytes) begins a status line
/// (`HTTP/1.x` and a three-digit status), or `None` while too few bytes
/// have come to tell and all of them fit one.
fn status_line_start(data: &[u8]) -> Option<bool> {
    let fits = |i: usize, b: u8| match i {
        0..=6 => b == b"HTTP/1."[i],
        7 => matches!(b, b'0' | b'1'),
        8 => b == b' ',
        _ => b.is_ascii_digit(),
    };
    if !data.iter().enumerate().all(|(i, &b)| fits(i, b)) {
        Some(false)
    } else if data.len() < STATUS_LINE_START {
        None
    } else {
        Some(true)
    }
}

/// A head whose framing fields are malformed or contradict each other
/// (a request-smuggling sign): Content-Length values that are not digits
/// or disagree, Content-Length beside Transfer-Encoding, a request whose
/// last transfer coding is not chunked. `fallback`: how the message is
/// framed anyway when the fields still say it (Transfer-Encoding wins
/// over Content-Length, RFC 9112 §6.3); else the caller's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFraming {
    pub fallback: Option<Framing>,
}

const BAD_FRAMING: BadFraming = BadFraming { fallback: None };

/// The framing a request head declares (RFC 9112 §6.3).
pub fn request_framing(head: &Head) -> Result<Framing, BadFraming> {
    if head.method().eq_ignore_ascii_case("PRI") && head.target() == "*" {
        // HTTP/2 with prior knowledge: the connection preface.
        return Ok(Framing::Tunnel);
    }
    declared_body(head, Framing::None)
}

/// The framing of a response to a request with `request_method`
/// (None when the request was not seen).
pub fn response_framing(head: &Head, request_method: Option<&str>) -> Result<Framing, BadFraming> {
    let status = head.status();
    let method = request_method.unwrap_or("");
    if status == 101 {
        return Ok(Framing::Tunnel);
    }
    if method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&status) {
        return Ok(Framing::Tunnel);
    }
    if (100..200).contains(&status)
        || status == 204
        || status == 304
        || method.eq_ignore_ascii_case("HEAD")
    {
        return Ok(Framing::None);
    }
    declared_body(head, Framing::UntilClose)
}

/// The body a head declares: chunked, else Content-Length, else `otherwise`
/// (no body for requests, read-until-close for responses). One pass over
/// the fields (two scans cost twice as much on every head).
fn declared_body(head: &Head, otherwise: Framing) -> Result<Framing, BadFraming> {
    // Chunked must be the final transfer coding of the last
    // Transfer-Encoding field to frame the body.
    let mut encoded = false;
    let mut chunked = false;
    let mut has_length = false;
    let mut length: Result<Option<u64>, BadFraming> = Ok(None);
    for (n, v) in head.headers() {
        if n.eq_ignore_ascii_case(b"transfer-encoding") {
            encoded = true;
            chunked = v
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if n.eq_ignore_ascii_case(b"content-length") {
            has_length = true;
            if let Ok(found) = length {
                length = merge_content_length(found, v);
            }
        }
    }
    if encoded {
        // Transfer-Encoding overrides Content-Length; a message with both
        // is framed by the first but flagged. A request whose last coding
        // is not chunked has no knowable length (a server answers 400); a
        // response's runs to the close.
        let framing = match (chunked, otherwise) {
            (true, _) => Some(Framing::Chunked),
            (false, Framing::None) => None,
            (false, _) => Some(Framing::UntilClose),
        };
        return match framing {
            Some(f) if !has_length => Ok(f),
            fallback => Err(BadFraming { fallback }),
        };
    }
    Ok(length?.map_or(otherwise, Framing::Length))
}

/// One Content-Length value merged with those before it: "5, 5" (a
/// proxy's merge) is one length; differing values, or a value that is not
/// all digits ("+5", "0x10"), are an error.
fn merge_content_length(mut found: Option<u64>, v: &[u8]) -> Result<Option<u64>, BadFraming> {
    for part in v.split(|b| *b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(BAD_FRAMING);
        }
        let s = std::str::from_utf8(part).map_err(|_| BAD_FRAMING)?;
        let len: u64 = s.parse().map_err(|_| BAD_FRAMING)?;
        match found {
            Some(prev) if prev != len => return Err(BAD_FRAMING),
            _ => found = Some(len),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
