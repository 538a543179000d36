//! One HTTP/2 connection seen from the wire: each direction's bytes are cut
//! into frames, header blocks are joined and HPACK-decoded, and each
//! stream becomes one `http::Transaction` (request from the client's
//! HEADERS and DATA, response from the server's), finished through the
//! same path as HTTP/1's so bodies, filters and records are shared.
//!
//! Reading is incremental and never waits for a whole DATA frame: its
//! payload goes to the stream's body as it arrives, so a connection holds
//! at most one control frame or header block per direction. A hole in
//! the bytes inside a DATA frame keeps the frame boundary (only that body
//! has a gap); anywhere else the direction hunts for the next plausible
//! frame header and its HPACK decoder drops what it holds.

use std::collections::VecDeque;

use super::frame::{
    self, flags, kind, looks_like_frame, Frame, FrameHeader, DEFAULT_MAX_FRAME_SIZE, HEADER_LEN,
    PREFACE,
};
use super::hpack::Decoder;
use crate::http::exchange::finish;
use crate::http::parser::Role;
use crate::http::{Flags, HeadBuilder, HttpCtx, Message, Transaction, Version};
use crate::stats::Counter;

/// Open streams per connection beyond which the oldest is given up
/// (emitted as it is): bounds memory when streams are opened and never
/// closed.
pub const MAX_OPEN_STREAMS: usize = 256;

/// Body bytes all open streams of a connection may keep, in bodies of
/// MAX_BODY_BYTES: past it the oldest streams are emitted as they are.
pub const MAX_OPEN_BODIES: usize = 4;

/// Largest control frame (SETTINGS, GOAWAY, ...) read; longer ones are
/// skipped and counted.
const MAX_CONTROL_FRAME: usize = 16 * 1024;

/// Header block bytes beyond MAX_HEADER_BYTES still collected: an encoded
/// block a little longer than the decoded limit may still decode within
/// it; past this slack it cannot.
const BLOCK_SLACK: usize = 4 * 1024;

/// Frames read after hunting before the boundary is trusted.
const TENTATIVE_FRAMES: u8 = 8;

/// What a direction is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// The client's connection preface: `matched` octets of it so far.
    Preface { matched: u8 },
    /// A frame header (collected in `Direction::header`).
    Header,
    /// A non-DATA frame's payload, `left` octets to go.
    Payload { left: usize },
    /// A DATA frame's payload, handed to the stream as it arrives.
    Data {
        stream: u32,
        end_stream: bool,
        /// The pad-length octet is still to come.
        pad_octet: bool,
        body_left: usize,
        pad_left: usize,
    },
    /// Octets to drop: an unknown or oversized frame.
    Skip { left: usize },
    /// Looking for a frame boundary (mid-connection, after a hole).
    Hunt,
}

/// A header block under way (HEADERS or PUSH_PROMISE, then CONTINUATIONs).
#[derive(Debug, Clone, Copy)]
struct BlockStart {
    stream: u32,
    end_stream: bool,
    /// PUSH_PROMISE: the promised stream.
    promised: Option<u32>,
    ts_ns: u64,
    /// The block outgrew the limit: it is dropped, not decoded.
    too_large: bool,
}

/// One direction of the connection.
#[derive(Debug)]
struct Direction {
    read: Read,
    header: [u8; HEADER_LEN],
    header_len: u8,
    /// A control frame's or header block fragment's payload being collected.
    payload: Vec<u8>,
    block: Vec<u8>,
    block_start: Option<BlockStart>,
    hpack: Decoder,
    /// SETTINGS_MAX_FRAME_SIZE its receiver announced (for hunting).
    max_frame: u32,
    /// Frames left before a boundary found by hunting is trusted.
    tentative: u8,
}

impl Direction {
    fn new(read: Read, mid_stream: bool) -> Direction {
        Direction {
            read,
            header: [0; HEADER_LEN],
            header_len: 0,
            payload: Vec::new(),
            block: Vec::new(),
            block_start: None,
            hpack: if mid_stream {
                Decoder::mid_stream()
            } else {
                Decoder::new()
            },
            max_frame: DEFAULT_MAX_FRAME_SIZE,
            tentative: 0,
        }
    }

    /// Whether a header block (or a HEADERS, PUSH_PROMISE or
    /// CONTINUATION frame of one) is waiting for the rest.
    fn head_pending(&self) -> bool {
        self.block_start.is_some()
            || (matches!(self.read, Read::Payload { .. })
                && matches!(
                    self.header[3],
                    kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION
                ))
    }

    /// Bytes were lost where no frame boundary is known.
    fn lose_sync(&mut self) {
        self.read = Read::Hunt;
        self.header_len = 0;
        self.payload.clear();
        self.block.clear();
        self.block_start = None;
        self.hpack.lost_sync();
    }
}

/// A stream and what is known of its exchange.
#[derive(Debug)]
struct Stream {
    id: u32,
    /// Boxed: streams move whenever one in front of them finishes, and
    /// a transaction is ~400 bytes.
    txn: Box<Transaction>,
    /// The response ended while the request was still being sent (an
    /// early response): the stream waits for the request's end.
    response_ended: bool,
    /// A status to keep on the response once it comes (h2c's 101).
    interim_status: Option<u16>,
    last_ns: u64,
}

/// Per-connection HTTP/2 state.
#[derive(Debug)]
pub struct H2Conn {
    /// Client (request) direction first.
    dirs: [Direction; 2],
    /// Open streams, oldest first (given up from the front when too
    /// many are open).
    streams: VecDeque<Stream>,
    next_seq: u32,
    /// Flags every transaction of this connection carries (mid_stream).
    sticky: Flags,
    max_head: usize,
    /// Highest client stream id opened, to notice ids going backwards.
    last_client_stream: u32,
    /// Body bytes kept by the open streams.
    kept_bytes: usize,
    builder: HeadBuilder,
}

fn dir_index(role: Role) -> usize {
    match role {
        Role::Request => 0,
        Role::Response => 1,
    }
}

/// Whether a frame header that looks plausible at `at` is followed by
/// another plausible one (when the bytes reach that far).
fn chain_ok(data: &[u8], at: usize, max_frame: u32) -> bool {
    let Some(h) = FrameHeader::new_checked(&data[at..]) else {
        return false;
    };
    let next = at + h.frame_len();
    next + HEADER_LEN > data.len() || looks_like_frame(&data[next..], max_frame)
}

/// Whether the first bytes of a direction look like HTTP/2 frames (a
/// connection picked up mid-stream, or a server that speaks first).
pub fn looks_like_frames(data: &[u8]) -> bool {
    looks_like_frame(data, DEFAULT_MAX_FRAME_SIZE) && chain_ok(data, 0, DEFAULT_MAX_FRAME_SIZE)
}

/// Whether a client's first bytes are (the start of) the connection preface.
pub fn starts_with_preface(data: &[u8]) -> bool {
    data.len() >= 4 && PREFACE.starts_with(&data[..data.len().min(PREFACE.len())])
}

impl H2Conn {
    /// A connection whose start is seen (prior knowledge) or, with
    /// `mid_stream`, one picked up in the middle.
    pub fn new(max_head: usize, next_seq: u32, sticky: Flags, mid_stream: bool) -> H2Conn {
        let (client, server) = if mid_stream {
            (Read::Hunt, Read::Hunt)
        } else {
            (Read::Preface { matched: 0 }, Read::Header)
        };
        H2Conn {
            dirs: [
                Direction::new(client, mid_stream),
                Direction::new(server, mid_stream),
            ],
            streams: VecDeque::new(),
            next_seq,
            sticky,
            max_head,
            last_client_stream: 0,
            kept_bytes: 0,
            builder: HeadBuilder::default(),
        }
    }

    /// An h2c upgrade (RFC 7540 §3.2): the HTTP/1.1 request becomes stream
    /// 1, whose response comes as HTTP/2 and keeps the 101 as its interim
    /// status. `settings` is the request's HTTP2-Settings payload.
    pub fn upgraded(
        max_head: usize,
        mut txn: Transaction,
        settings: Option<&[u8]>,
        next_seq: u32,
        sticky: Flags,
    ) -> H2Conn {
        let mut conn = H2Conn::new(max_head, next_seq, sticky, false);
        if let Some(s) = settings {
            // The client's settings, which govern what the server sends.
            conn.apply_settings(1, frame::Settings::from_payload(s));
        }
        txn.stream_id = Some(1);
        txn.response = None;
        let last_ns = txn.last_ns();
        conn.streams.push_back(Stream {
            id: 1,
            txn: Box::new(txn),
            response_ended: false,
            interim_status: Some(101),
            last_ns,
        });
        conn.last_client_stream = 1;
        conn
    }

    pub fn data(&mut self, role: Role, mut data: &[u8], ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        let d = dir_index(role);
        while !data.is_empty() {
            let used = match self.dirs[d].read {
                Read::Preface { matched } => self.preface(d, matched, data, ctx),
                Read::Header => self.header(d, data, ts_ns, ctx),
                Read::Payload { left } => self.payload(d, left, data, ts_ns, ctx),
                Read::Data { .. } => self.data_frame(d, data, ts_ns, ctx),
                Read::Skip { left } => {
                    let n = left.min(data.len());
                    self.dirs[d].read = if n == left {
                        Read::Header
                    } else {
                        Read::Skip { left: left - n }
                    };
                    n
                }
                Read::Hunt => self.hunt(d, data, ctx),
            };
            data = &data[used..];
        }
    }

    /// `len` bytes of this direction were lost.
    pub fn gap(&mut self, role: Role, len: u64, ts_ns: u64, _ctx: &mut HttpCtx<'_>) {
        let d = dir_index(role);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        match &mut self.dirs[d].read {
            Read::Data {
                stream,
                pad_octet: false,
                body_left,
                pad_left,
                ..
            } if len < *body_left + *pad_left => {
                // The hole is inside this DATA frame: the boundary holds.
                let stream = *stream;
                let in_body = len.min(*body_left);
                *body_left -= in_body;
                *pad_left -= len - in_body;
                if let Some(m) = self.message_mut(d, stream, ts_ns) {
                    m.body_gap(in_body as u64);
                }
                return;
            }
            Read::Skip { left } if len < *left => {
                *left -= len;
                return;
            }
            _ => {}
        }
        self.dirs[d].lose_sync();
        // Whatever this direction was sending on its open streams may
        // have lost bytes, a message's whole header block included.
        for s in &mut self.streams {
            let m = if d == 0 {
                s.txn.request.as_mut()
            } else {
                s.txn.response.as_mut()
            };
            match m {
                Some(m) => m.gap = true,
                None => s.txn.flags.set(Flags::GAP),
            }
        }
    }

    /// Emits every stream still open: the connection is going away. A
    /// header block cut short is lost with it (counted).
    pub fn close(&mut self, ctx: &mut HttpCtx<'_>) {
        for dir in &mut self.dirs {
            if dir.head_pending() {
                ctx.stats.inc(Counter::HttpHeadsCut);
                dir.lose_sync();
            }
        }
        while !self.streams.is_empty() {
            self.finish_stream(0, ctx);
        }
    }

    /// Emits streams whose response has not begun, or whose request has
    /// not ended after an early response, after `max_age_ns`.
    pub fn expire_pending(&mut self, now_ns: u64, max_age_ns: u64, ctx: &mut HttpCtx<'_>) {
        let mut i = 0;
        while i < self.streams.len() {
            let s = &self.streams[i];
            let waiting = s.txn.response.is_none() || s.response_ended;
            if waiting && now_ns.saturating_sub(s.last_ns) >= max_age_ns {
                self.finish_stream(i, ctx);
            } else {
                i += 1;
            }
        }
    }

    pub fn pending_len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_idle(&self) -> bool {
        self.streams.is_empty() && self.dirs.iter().all(|d| d.payload.is_empty())
    }

    /// Heap bytes held: stream bodies, partial frames, HPACK tables.
    pub fn buffered_bytes(&self) -> usize {
        let msg = |m: &Option<Message>| m.as_ref().map_or(0, |m| m.body.capacity() + m.head.len());
        let streams: usize = self
            .streams
            .iter()
            .map(|s| msg(&s.txn.request) + msg(&s.txn.response))
            .sum();
        let dirs: usize = self
            .dirs
            .iter()
            .map(|d| d.payload.capacity() + d.block.capacity() + d.hpack.heap_bytes())
            .sum();
        streams
            + dirs
            + self.streams.capacity() * std::mem::size_of::<Stream>()
            + self.streams.len() * std::mem::size_of::<Transaction>()
    }

    // ---- Reading ------------------------------------------------------

    fn preface(&mut self, d: usize, matched: u8, data: &[u8], ctx: &mut HttpCtx<'_>) -> usize {
        let at = matched as usize;
        let want = &PREFACE[at..];
        let n = want.len().min(data.len());
        if data[..n] != want[..n] {
            // Not the preface after all: look for frames.
            ctx.stats.inc(Counter::Http2FrameErrors);
            self.dirs[d].read = Read::Hunt;
            return 0;
        }
        self.dirs[d].read = if at + n == PREFACE.len() {
            Read::Header
        } else {
            Read::Preface {
                matched: (at + n) as u8,
            }
        };
        n
    }

    fn hunt(&mut self, d: usize, data: &[u8], ctx: &mut HttpCtx<'_>) -> usize {
        let dir = &mut self.dirs[d];
        if d == 0 && starts_with_preface(data) {
            dir.read = Read::Preface { matched: 0 };
            return 0;
        }
        let max = dir.max_frame;
        let found = (0..data.len().saturating_sub(HEADER_LEN - 1))
            .find(|&i| looks_like_frame(&data[i..], max) && chain_ok(data, i, max));
        let skipped = found.unwrap_or(data.len());
        if skipped > 0 {
            ctx.stats.add(Counter::Http2ResyncBytes, skipped as u64);
        }
        if found.is_some() {
            dir.read = Read::Header;
            dir.tentative = TENTATIVE_FRAMES;
        }
        skipped
    }

    fn header(&mut self, d: usize, data: &[u8], ts_ns: u64, ctx: &mut HttpCtx<'_>) -> usize {
        let dir = &mut self.dirs[d];
        let have = dir.header_len as usize;
        let n = (HEADER_LEN - have).min(data.len());
        dir.header[have..have + n].copy_from_slice(&data[..n]);
        dir.header_len += n as u8;
        if (dir.header_len as usize) < HEADER_LEN {
            return n;
        }
        dir.header_len = 0;
        self.begin_frame(d, ts_ns, ctx);
        n
    }

    /// A frame header is complete: decide how its payload is read.
    fn begin_frame(&mut self, d: usize, ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        let dir = &mut self.dirs[d];
        let h = FrameHeader::new_unchecked(dir.header);
        let (len, k, f, sid) = (h.length() as usize, h.kind(), h.flags(), h.stream_id());
        if dir.tentative > 0 {
            if !looks_like_frame(&dir.header, frame::MAX_FRAME_SIZE_LIMIT) {
                // The boundary hunting found was wrong.
                ctx.stats.add(Counter::Http2ResyncBytes, HEADER_LEN as u64);
                dir.read = Read::Hunt;
                return;
            }
            dir.tentative -= 1;
        }
        let held = dir.block.len() + len;
        let next = match k {
            kind::DATA if sid != 0 => Read::Data {
                stream: sid,
                end_stream: f & flags::END_STREAM != 0,
                pad_octet: f & flags::PADDED != 0,
                body_left: len,
                pad_left: 0,
            },
            kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION => {
                if held > self.max_head + BLOCK_SLACK {
                    // Not decodable within MAX_HEADER_BYTES: drop the block,
                    // remember only where it ends.
                    self.oversized_fragment(d, k, f, sid, ts_ns, ctx);
                    Read::Skip { left: len }
                } else {
                    Read::Payload { left: len }
                }
            }
            kind::SETTINGS
            | kind::RST_STREAM
            | kind::PING
            | kind::GOAWAY
            | kind::WINDOW_UPDATE
            | kind::PRIORITY
                if len <= MAX_CONTROL_FRAME =>
            {
                Read::Payload { left: len }
            }
            kind::DATA => {
                ctx.stats.inc(Counter::Http2FrameErrors);
                Read::Skip { left: len }
            }
            k if k <= kind::CONTINUATION => {
                ctx.stats.inc(Counter::Http2FrameErrors);
                Read::Skip { left: len }
            }
            // Unknown types are skipped (RFC 9113 §4.1).
            _ => Read::Skip { left: len },
        };
        self.dirs[d].read = next;
        match next {
            Read::Payload { left: 0 } => {
                self.dirs[d].read = Read::Header;
                let header = self.dirs[d].header;
                self.on_frame(d, header, &[], ts_ns, ctx);
            }
            Read::Data { body_left: 0, .. } => {
                self.data_frame(d, &[], ts_ns, ctx);
            }
            Read::Skip { left: 0 } => self.dirs[d].read = Read::Header,
            _ => {}
        }
    }

    fn payload(
        &mut self,
        d: usize,
        left: usize,
        data: &[u8],
        ts_ns: u64,
        ctx: &mut HttpCtx<'_>,
    ) -> usize {
        let dir = &mut self.dirs[d];
        let header = dir.header;
        if dir.payload.is_empty() && data.len() >= left {
            // The whole payload is at hand: read it in place.
            dir.read = Read::Header;
            self.on_frame(d, header, &data[..left], ts_ns, ctx);
            return left;
        }
        let n = left.min(data.len());
        dir.payload.extend_from_slice(&data[..n]);
        if n < left {
            dir.read = Read::Payload { left: left - n };
            return n;
        }
        dir.read = Read::Header;
        let payload = std::mem::take(&mut dir.payload);
        self.on_frame(d, header, &payload, ts_ns, ctx);
        // Keep the buffer for the next frame unless it grew large.
        let dir = &mut self.dirs[d];
        if payload.capacity() <= MAX_CONTROL_FRAME && dir.payload.is_empty() {
            dir.payload = payload;
            dir.payload.clear();
        }
        n
    }

    fn data_frame(&mut self, d: usize, data: &[u8], ts_ns: u64, ctx: &mut HttpCtx<'_>) -> usize {
        let Read::Data {
            stream,
            end_stream,
            mut pad_octet,
            mut body_left,
            mut pad_left,
        } = self.dirs[d].read
        else {
            return 0;
        };
        let mut used = 0;
        if pad_octet {
            if body_left == 0 {
                // A padded frame too short for its pad length.
                ctx.stats.inc(Counter::Http2FrameErrors);
                self.dirs[d].read = Read::Header;
                return 0;
            }
            let Some(&pad) = data.first() else {
                return 0;
            };
            used = 1;
            pad_octet = false;
            let rest = body_left - 1;
            let pad = pad as usize;
            if pad > rest {
                ctx.stats.inc(Counter::Http2FrameErrors);
                (body_left, pad_left) = (0, rest);
            } else {
                (body_left, pad_left) = (rest - pad, pad);
            }
        }
        let n = body_left.min(data.len() - used);
        if n > 0 {
            self.body(d, stream, &data[used..used + n], ts_ns, ctx);
            used += n;
            body_left -= n;
        }
        let p = pad_left.min(data.len() - used);
        used += p;
        pad_left -= p;
        if body_left + pad_left == 0 && !pad_octet {
            self.dirs[d].read = Read::Header;
            if end_stream {
                self.end_side(d, stream, ts_ns, ctx);
            }
        } else {
            self.dirs[d].read = Read::Data {
                stream,
                end_stream,
                pad_octet,
                body_left,
                pad_left,
            };
        }
        used
    }

    // ---- Frames -------------------------------------------------------

    fn on_frame(
        &mut self,
        d: usize,
        header: [u8; HEADER_LEN],
        payload: &[u8],
        ts_ns: u64,
        ctx: &mut HttpCtx<'_>,
    ) {
        let h = FrameHeader::new_unchecked(header);
        let frame = match Frame::parse(&h, payload) {
            Ok(f) => f,
            Err(_) => {
                ctx.stats.inc(Counter::Http2FrameErrors);
                if matches!(
                    h.kind(),
                    kind::HEADERS | kind::CONTINUATION | kind::PUSH_PROMISE
                ) {
                    // A header block fragment we cannot read: the table
                    // may have changed without us.
                    self.dirs[d].lose_sync();
                    self.dirs[d].read = Read::Header;
                }
                return;
            }
        };
        match frame {
            Frame::Headers {
                stream_id,
                end_stream,
                end_headers,
                fragment,
                ..
            } => {
                let start = BlockStart {
                    stream: stream_id,
                    end_stream,
                    promised: None,
                    ts_ns,
                    too_large: false,
                };
                self.block_fragment(d, Some(start), stream_id, end_headers, fragment, ctx);
            }
            Frame::PushPromise {
                stream_id,
                end_headers,
                promised_stream_id,
                fragment,
            } => {
                let start = BlockStart {
                    stream: stream_id,
                    end_stream: false,
                    promised: Some(promised_stream_id),
                    ts_ns,
                    too_large: false,
                };
                self.block_fragment(d, Some(start), stream_id, end_headers, fragment, ctx);
            }
            Frame::Continuation {
                stream_id,
                end_headers,
                fragment,
            } => self.block_fragment(d, None, stream_id, end_headers, fragment, ctx),
            Frame::RstStream { stream_id, .. } => {
                if let Some(i) = self.find(stream_id) {
                    ctx.stats.inc(Counter::Http2Resets);
                    let s = &mut self.streams[i];
                    if !s.response_ended {
                        s.txn.flags.set(Flags::RESET);
                    } else if d == 1 {
                        // The server answered early and stops the rest of
                        // the request (RFC 9113 §8.1): what the client had
                        // already sent is still on its way, so the stream
                        // waits for it (until ASSEMBLER_FLUSH_AGE at most).
                        return;
                    }
                    self.finish_stream(i, ctx);
                }
            }
            Frame::Settings(s) if !s.ack => {
                // A side's settings govern what the other side sends.
                self.apply_settings(1 - d, s);
            }
            Frame::GoAway { last_stream_id, .. } => {
                // Streams the receiver started after `last_stream_id` were
                // never processed: nothing more will come on them.
                let theirs = if d == 1 { 1 } else { 0 };
                let mut i = 0;
                while i < self.streams.len() {
                    let id = self.streams[i].id;
                    if id > last_stream_id && id % 2 == theirs {
                        self.finish_stream(i, ctx);
                    } else {
                        i += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// SETTINGS sent by the side opposite direction `to`.
    fn apply_settings(&mut self, to: usize, settings: frame::Settings<'_>) {
        let dir = &mut self.dirs[to];
        if let Some(size) = settings.header_table_size() {
            dir.hpack.set_max_table_size(size);
        }
        if let Some(max) = settings.max_frame_size() {
            dir.max_frame = max;
        }
    }

    /// A HEADERS or PUSH_PROMISE (`start`) or CONTINUATION fragment.
    fn block_fragment(
        &mut self,
        d: usize,
        start: Option<BlockStart>,
        stream_id: u32,
        end_headers: bool,
        fragment: &[u8],
        ctx: &mut HttpCtx<'_>,
    ) {
        let dir = &mut self.dirs[d];
        match (start, dir.block_start) {
            (Some(_), Some(_)) => {
                // A new block interrupts one without END_HEADERS.
                ctx.stats.inc(Counter::Http2FrameErrors);
                dir.lose_sync();
                dir.read = Read::Header;
                dir.block_start = start;
            }
            (Some(_), None) => {
                dir.block.clear();
                dir.block_start = start;
            }
            (None, Some(b)) if b.stream == stream_id => {}
            (None, _) => {
                // A CONTINUATION that continues nothing.
                ctx.stats.inc(Counter::Http2FrameErrors);
                return;
            }
        }
        dir.block.extend_from_slice(fragment);
        if end_headers {
            self.end_block(d, ctx);
        }
    }

    /// A fragment too large to keep: the block is dropped.
    fn oversized_fragment(
        &mut self,
        d: usize,
        k: u8,
        f: u8,
        sid: u32,
        ts_ns: u64,
        ctx: &mut HttpCtx<'_>,
    ) {
        let dir = &mut self.dirs[d];
        if k != kind::CONTINUATION {
            dir.block_start = Some(BlockStart {
                stream: sid,
                end_stream: k == kind::HEADERS && f & flags::END_STREAM != 0,
                promised: None,
                ts_ns,
                too_large: true,
            });
        }
        dir.block.clear();
        if let Some(b) = &mut dir.block_start {
            b.too_large = true;
        }
        if f & flags::END_HEADERS != 0 {
            self.end_block(d, ctx);
        }
    }

    /// A header block is complete: decode it and hand it to its stream.
    fn end_block(&mut self, d: usize, ctx: &mut HttpCtx<'_>) {
        let H2Conn {
            dirs,
            builder,
            max_head,
            ..
        } = &mut *self;
        let dir = &mut dirs[d];
        let Some(start) = dir.block_start.take() else {
            return;
        };
        builder.clear();
        let mut too_large = start.too_large;
        let mut unusable = false;
        let mut incomplete = false;
        if start.too_large {
            // Insertions in the dropped block are unknown to us now.
            dir.hpack.lost_sync();
        } else {
            let decoded = dir.hpack.decode(&dir.block, *max_head, |field| {
                match (field.name.known(), field.value.known()) {
                    (Some(name), Some(value)) => add_field(builder, name, value),
                    _ => incomplete = true,
                }
            });
            match decoded {
                Ok(block) => {
                    too_large |= block.too_large;
                    incomplete |= block.incomplete;
                }
                Err(_) => {
                    ctx.stats.inc(Counter::Http2HpackErrors);
                    unusable = true;
                }
            }
        }
        dir.block.clear();
        if dir.block.capacity() > *max_head {
            dir.block = Vec::new();
        }
        if too_large {
            ctx.stats.inc(Counter::HttpHeaderTooLarge);
            unusable = true;
        }
        if incomplete {
            ctx.stats.inc(Counter::Http2HpackIncomplete);
        }
        self.on_head(d, start, unusable, incomplete, ctx);
    }

    /// A decoded header block (in `self.builder`) reaches its stream.
    fn on_head(
        &mut self,
        d: usize,
        start: BlockStart,
        unusable: bool,
        incomplete: bool,
        ctx: &mut HttpCtx<'_>,
    ) {
        let ts = start.ts_ns;
        if let Some(promised) = start.promised {
            // A pushed request: the server's own stream, answered later.
            if d == 1 && !unusable {
                let i = self.open(promised, ts, ctx);
                let head = self.builder.build(true, Version::Http2);
                ctx.stats.inc(Counter::HttpRequests);
                let s = &mut self.streams[i];
                s.txn.filtered = ctx.filters.check_request(&head);
                let mut m = Message::new(head, ts);
                m.complete = true;
                s.txn.request = Some(m);
                if incomplete {
                    s.txn.flags.set(Flags::HPACK_INCOMPLETE);
                }
            }
            return;
        }
        let i = match self.find(start.stream) {
            Some(i) => i,
            None => self.open(start.stream, ts, ctx),
        };
        let builder = &self.builder;
        let s = &mut self.streams[i];
        s.last_ns = ts;
        if incomplete {
            s.txn.flags.set(Flags::HPACK_INCOMPLETE);
        }
        // A first block without its pseudo-header (`:method`, `:status`)
        // or with a `:status` that is not three digits is malformed (RFC
        // 9113 §8.3), or trailers whose HEADERS a hole took: not the
        // message's head. (With HPACK state missing, the field may simply
        // not have decoded: kept, `hpack_incomplete`.)
        let headless = !incomplete
            && if d == 0 {
                !builder.has_method()
            } else {
                !builder.has_valid_status()
            };
        // Counted once per message: a malformed head's trailers are not
        // a second one.
        let (none_yet, unparsed) = if d == 0 {
            (s.txn.request.is_none(), Flags::REQUEST_UNPARSED)
        } else {
            (s.txn.response.is_none(), Flags::RESPONSE_UNPARSED)
        };
        if headless && none_yet && !unusable && !s.txn.flags.has(unparsed) {
            ctx.stats.inc(Counter::Http2MalformedHeads);
        }
        if d == 0 {
            match &mut s.txn.request {
                None if unusable || headless => s.txn.flags.set(Flags::REQUEST_UNPARSED),
                None => {
                    let head = builder.build(true, Version::Http2);
                    ctx.stats.inc(Counter::HttpRequests);
                    s.txn.filtered = ctx.filters.check_request(&head);
                    s.txn.request = Some(Message::new(head, ts));
                }
                Some(m) if !unusable => {
                    m.trailers = Some(Box::new(builder.build(false, Version::Http2)))
                }
                Some(_) => {}
            }
        } else {
            match &mut s.txn.response {
                None if unusable || headless => s.txn.flags.set(Flags::RESPONSE_UNPARSED),
                None if builder.is_interim() => {
                    // 100 Continue, 103 Early Hints: not the response.
                    ctx.stats.inc(Counter::HttpInterim);
                    return;
                }
                None => {
                    let head = builder.build(false, Version::Http2);
                    ctx.stats.inc(Counter::HttpResponses);
                    if s.txn.filtered.is_none() {
                        s.txn.filtered = ctx.filters.check_response(&head);
                    }
                    let mut m = Message::new(head, ts);
                    m.interim_status = s.interim_status;
                    s.txn.response = Some(m);
                }
                Some(m) if !unusable => {
                    m.trailers = Some(Box::new(builder.build(false, Version::Http2)))
                }
                Some(_) => {}
            }
        }
        if start.end_stream {
            self.end_side(d, start.stream, ts, ctx);
        }
    }

    // ---- Streams ------------------------------------------------------

    fn find(&self, id: u32) -> Option<usize> {
        self.streams.iter().rposition(|s| s.id == id)
    }

    /// Opens a stream (the oldest is given up when too many are open).
    fn open(&mut self, id: u32, ts_ns: u64, ctx: &mut HttpCtx<'_>) -> usize {
        if self.streams.len() >= MAX_OPEN_STREAMS {
            ctx.stats.inc(Counter::Http2StreamsOverCap);
            self.finish_stream(0, ctx);
        }
        if id % 2 == 1 {
            if id < self.last_client_stream {
                // Ids only grow (RFC 9113 §5.1.1): a confused peer or a
                // reordering we could not undo. Kept all the same.
                ctx.stats.inc(Counter::Http2FrameErrors);
            }
            self.last_client_stream = self.last_client_stream.max(id);
        }
        ctx.stats.inc(Counter::Http2Streams);
        let mut txn = Transaction::new(self.next_seq);
        self.next_seq = self.next_seq.wrapping_add(1);
        txn.stream_id = Some(id);
        txn.flags = self.sticky;
        self.streams.push_back(Stream {
            id,
            txn: Box::new(txn),
            response_ended: false,
            interim_status: None,
            last_ns: ts_ns,
        });
        self.streams.len() - 1
    }

    /// The message direction `d` is sending on `stream`, if it began.
    fn message_mut(&mut self, d: usize, stream: u32, ts_ns: u64) -> Option<&mut Message> {
        let i = self.find(stream)?;
        let s = &mut self.streams[i];
        s.last_ns = ts_ns;
        let m = if d == 0 {
            s.txn.request.as_mut()
        } else {
            s.txn.response.as_mut()
        }?;
        m.end_ts_ns = ts_ns;
        Some(m)
    }

    /// DATA payload for a stream.
    fn body(&mut self, d: usize, stream: u32, data: &[u8], ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        let max = ctx.max_body;
        let stats = ctx.stats;
        let filtered = self
            .find(stream)
            .is_some_and(|i| self.streams[i].txn.filtered.is_some());
        match self.message_mut(d, stream, ts_ns) {
            Some(m) => {
                m.body_size += data.len() as u64;
                if !filtered {
                    let before = m.body.len();
                    m.keep_body(data, max, stats);
                    self.kept_bytes += m.body.len() - before;
                }
            }
            // Its HEADERS were not seen (picked up mid-stream, or lost).
            None => stats.add(Counter::Http2UnattachedBytes, data.len() as u64),
        }
        // Bodies of the open streams together stay within a few bodies'
        // worth: the oldest other streams are given up first.
        let cap = max.saturating_mul(MAX_OPEN_BODIES);
        while self.kept_bytes > cap {
            let Some(oldest) = self.streams.iter().position(|s| s.id != stream) else {
                break;
            };
            ctx.stats.inc(Counter::Http2StreamsOverCap);
            self.finish_stream(oldest, ctx);
        }
    }

    /// Direction `d` ended `stream` (END_STREAM). The stream is finished
    /// when the response has ended and the request too (or never began);
    /// a request still open after an early response is waited for until
    /// it ends, is reset, or ASSEMBLER_FLUSH_AGE passes.
    fn end_side(&mut self, d: usize, stream: u32, ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        let Some(i) = self.find(stream) else { return };
        let s = &mut self.streams[i];
        let m = if d == 0 {
            s.txn.request.as_mut()
        } else {
            s.response_ended = true;
            s.txn.response.as_mut()
        };
        if let Some(m) = m {
            m.complete = true;
            m.end_ts_ns = ts_ns;
        }
        let request_open = s.txn.request.as_ref().is_some_and(|r| !r.complete);
        if s.response_ended && !request_open {
            self.finish_stream(i, ctx);
        }
    }

    fn finish_stream(&mut self, i: usize, ctx: &mut HttpCtx<'_>) {
        let Some(mut s) = self.streams.remove(i) else {
            return;
        };
        let kept = |m: &Option<Message>| m.as_ref().map_or(0, |m| m.body.len());
        let held = kept(&s.txn.request) + kept(&s.txn.response);
        self.kept_bytes = self.kept_bytes.saturating_sub(held);
        if s.txn.request.is_none() {
            s.txn.flags.set(Flags::NO_REQUEST);
        }
        finish(*s.txn, ctx);
        if self.streams.is_empty() && self.streams.capacity() > 8 {
            self.streams = VecDeque::new();
        }
    }
}

/// One decoded field into the head being built: the request and status
/// pseudo-fields become its start line; `:authority`, `:scheme` and
/// `:protocol` stay as fields (the record's `host` falls back to
/// `:authority`).
fn add_field(builder: &mut HeadBuilder, name: &[u8], value: &[u8]) {
    match name {
        b":method" => builder.method(value),
        b":path" => builder.target(value),
        b":status" => builder.status(value),
        _ => builder.field(name, value),
    }
}

#[cfg(test)]
mod tests;
