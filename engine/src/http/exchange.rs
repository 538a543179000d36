//! Pairing requests with responses on one connection. Both directions'
//! parsers report here; transactions wait in `pending` (in request order,
//! which is also response order in HTTP/1.x, pipelined or not) until their
//! response completes, then move to the shard's output list.

use super::anomaly::HttpAnomaly;
use super::filter::Filters;
use super::head::{Head, Version};
use super::parser::{
    request_framing, response_framing, AfterGap, Ending, Framing, MessageParser, MessageSink, Role,
};
use super::pending::{message_bytes, Pending};
use super::{Flags, Message, Transaction};
use crate::http2::H2Conn;
use crate::stats::{Counter, ShardStats};
use crate::tls::{self, conn::Peer, conn::Plaintext, TlsConn, TlsContext};

/// Pending transactions per connection beyond which the oldest is given up
/// (emitted without response, flagged `pairing_lost`): bounds memory under
/// request floods. Its response, when it comes, is emitted alone
/// (`Exchange::owed`), so later responses still find their own requests.
pub const MAX_PENDING: usize = 1024;

/// Shard-wide context the parsers need.
pub struct HttpCtx<'a> {
    pub stats: &'a ShardStats,
    pub filters: &'a Filters,
    pub max_body: usize,
    /// Largest up-front reservation for a body buffer (BUFFER_CAP).
    pub body_reserve: usize,
    /// Completed transactions, to be serialized by the shard.
    pub done: &'a mut Vec<Transaction>,
    /// The shard's TLS keys and settings.
    pub tls: &'a TlsContext,
}

/// Which message of which transaction a parser is filling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Txn(u32),
    /// A 1xx interim response: parsed and counted, not paired.
    Interim,
}

/// What holes (bytes lost in capture) have left unknown about pairing.
/// One byte of bits: every byte of an idle connection's entry counts.
#[derive(Clone, Copy, Debug, Default)]
struct Holes(u8);

impl Holes {
    /// Bytes of the response direction were lost since the last complete
    /// response, so whole responses may be missing: a request expired now
    /// is not known to be owed a response.
    const RESP_GAP: u8 = 1;
    /// A hole broke a direction's framing and whole messages may have been
    /// in it: until no request waits any more, a pairing is a guess, and
    /// is flagged `pairing_uncertain`.
    const UNSURE: u8 = 2;
    /// A response hole that broke the framing certainly began a response
    /// for the oldest request waiting across it (`AfterGap::next_cut`).
    const RESP_CUT_NEXT: u8 = 4;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }

    /// Clears `bit`, returning whether it was set.
    fn take(&mut self, bit: u8) -> bool {
        let was = self.has(bit);
        self.set(bit, false);
        was
    }
}

#[derive(Debug, Default)]
struct Exchange {
    pending: Pending,
    next_seq: u32,
    req_target: Option<u32>,
    resp_target: Option<Target>,
    /// Responses still to come for requests given up at MAX_PENDING: the
    /// next this many final responses are theirs, not the oldest pending
    /// request's, and are emitted alone. (16 bits, saturating: a
    /// connection owed 65,535 responses has long stopped answering, and
    /// the width keeps an idle connection's entry within its size.)
    owed: u16,
    /// What holes in the stream have left unknown (see `Holes`).
    holes: Holes,
    /// Both parsers must stop: Upgrade, CONNECT or an HTTP/2 preface.
    tunnel: bool,
    /// Flags every transaction of this connection carries (mid_stream).
    sticky: Flags,
    /// The server accepted an h2c upgrade (101): the request, still
    /// pending, is to become HTTP/2 stream 1.
    h2c: bool,
    /// Per direction (request, response): its first bytes are still to
    /// come and may reveal HTTP/2. (Kept here, in padding, as every byte of
    /// an idle connection counts.)
    probe: [bool; 2],
}

impl Exchange {
    /// A hole broke `role`'s message framing. Lost responses: the requests
    /// waiting now are marked, as their answers may have been in the hole
    /// (`answered_request` decides at the next response). Lost requests:
    /// they are invisible, and their responses would go to the requests
    /// after them, so pairing is a guess until the queue drains.
    fn framing_lost(&mut self, role: Role, next_cut: bool) {
        match role {
            Role::Response => {
                let mut marked = false;
                for t in self.pending.iter_mut().filter(|t| t.response.is_none()) {
                    t.answer_unsure = true;
                    marked = true;
                }
                if next_cut && marked {
                    self.holes.set(Holes::RESP_CUT_NEXT, true);
                }
            }
            Role::Request => self.holes.set(Holes::UNSURE, true),
        }
    }

    /// Whether a request still waits for its response.
    fn any_waiting(&self) -> bool {
        self.pending.iter().any(|t| t.response.is_none())
    }

    /// Pairing is certain again once no request waits: the next response
    /// can only answer a later request.
    fn drained(&mut self) {
        if self.holes.has(Holes::UNSURE) && !self.any_waiting() {
            self.holes.set(Holes::UNSURE, false);
        }
    }
}

/// Per-connection HTTP state: HTTP/1 parsers and their pairing, until the
/// connection turns out to be HTTP/2; under either, TLS when the
/// connection began with a handshake.
#[derive(Debug)]
pub struct HttpConn {
    req: MessageParser,
    resp: MessageParser,
    x: Exchange,
    h2: Option<Box<H2Conn>>,
    tls: Option<Box<TlsConn>>,
}

/// What a direction's first bytes revealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    Http1,
    Http2,
    Tls,
}

/// Decrypted bytes into the connection's HTTP state.
struct TlsSink<'h, 'c, 'd> {
    http: &'h mut HttpConn,
    ctx: &'c mut HttpCtx<'d>,
}

/// The HTTP role of a TLS peer's bytes.
fn role_of(peer: Peer) -> Role {
    match peer {
        Peer::Client => Role::Request,
        Peer::Server => Role::Response,
    }
}

fn peer_of(role: Role) -> Peer {
    match role {
        Role::Request => Peer::Client,
        Role::Response => Peer::Server,
    }
}

impl Plaintext for TlsSink<'_, '_, '_> {
    fn data(&mut self, peer: Peer, bytes: &[u8], ts_ns: u64) {
        self.http.plain_data(role_of(peer), bytes, ts_ns, self.ctx);
    }
    fn gap(&mut self, peer: Peer, len: u64, ts_ns: u64) {
        self.http.plain_gap(role_of(peer), len, ts_ns, self.ctx);
    }
    fn http2(&mut self) {
        self.http.start_h2(false, self.ctx);
    }
}

impl HttpConn {
    pub fn new(max_head: usize) -> HttpConn {
        HttpConn {
            req: MessageParser::new(Role::Request, max_head),
            resp: MessageParser::new(Role::Response, max_head),
            x: Exchange {
                probe: [true; 2],
                ..Exchange::default()
            },
            h2: None,
            tls: None,
        }
    }

    /// A TLS connection waiting for its keys.
    pub fn tls_waiting(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_waiting())
    }

    /// Keys may have arrived: a waiting TLS connection tries again.
    pub fn retry_tls(&mut self, now_ns: u64, ctx: &mut HttpCtx<'_>) {
        self.with_tls(ctx, |tls, env, sink| tls.poll(now_ns, env, sink));
    }

    /// What the TLS handshake showed in the clear, if the connection has
    /// one (decrypted or not).
    pub fn tls_handshake(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_deref().map(TlsConn::handshake_info)
    }

    /// The record's `tls` object: set once the connection decrypts.
    pub fn tls_info(&self) -> Option<std::sync::Arc<crate::tls::TlsInfo>> {
        self.tls.as_ref().and_then(|t| t.info())
    }

    /// Runs `f` on the connection's TLS state with a sink into its HTTP
    /// state (the TLS state is taken out for the call).
    fn with_tls(
        &mut self,
        ctx: &mut HttpCtx<'_>,
        f: impl FnOnce(&mut TlsConn, &crate::tls::TlsEnv<'_>, &mut TlsSink<'_, '_, '_>),
    ) {
        let Some(mut tls) = self.tls.take() else {
            return;
        };
        let tls_ctx = ctx.tls;
        let env = tls_ctx.env(ctx.stats);
        let mut sink = TlsSink { http: self, ctx };
        f(&mut tls, &env, &mut sink);
        self.tls = Some(tls);
    }

    /// The connection carries HTTP/2 from here on (ALPN `h2` in a TLS
    /// handshake, for one): `mid_stream` when its start was not seen.
    pub fn start_h2(&mut self, mid_stream: bool, ctx: &mut HttpCtx<'_>) {
        if self.h2.is_none() {
            ctx.stats.inc(Counter::Http2Connections);
            self.x.probe = [false; 2];
            self.h2 = Some(Box::new(H2Conn::new(
                self.req.max_head(),
                self.x.next_seq,
                self.x.sticky,
                mid_stream,
            )));
        }
    }

    pub fn is_h2(&self) -> bool {
        self.h2.is_some()
    }

    /// A direction's first bytes: an HTTP/2 preface, or frames where an
    /// HTTP/1 message should start, switch the connection to HTTP/2.
    /// Only a piece's start is looked at: a false match inside an HTTP/1
    /// body would cost the connection, a missed one only a piece.
    fn probe(&mut self, role: Role, data: &[u8], ctx: &mut HttpCtx<'_>) -> Probe {
        // Picked up mid-stream, each piece's start is looked at until HTTP/1
        // finds a message: the first piece may start inside a frame.
        let mid_stream = self.x.sticky.has(Flags::MID_STREAM);
        self.x.probe[role as usize] = mid_stream && self.x.next_seq == 0;
        if self.tls.is_none() {
            if tls::conn::starts_tls(peer_of(role), data) {
                ctx.stats.inc(Counter::TlsConnections);
                self.tls = Some(Box::new(TlsConn::new()));
                // The plaintext, once decrypted, is probed afresh.
                self.x.probe = [true; 2];
                return Probe::Tls;
            }
            if mid_stream && tls::conn::looks_like_tls_record(data) {
                ctx.stats.inc(Counter::TlsConnections);
                ctx.stats.inc(Counter::TlsMidstream);
                self.tls = Some(Box::new(TlsConn::opaque()));
                return Probe::Tls;
            }
        }
        let preface = role == Role::Request && crate::http2::conn::starts_with_preface(data);
        let http1_start = match role {
            Role::Request => data[0].is_ascii_uppercase(),
            Role::Response => data[0] == b'H',
        };
        if preface || (!http1_start && crate::http2::conn::looks_like_frames(data)) {
            self.start_h2(mid_stream && !preface, ctx);
            return Probe::Http2;
        }
        Probe::Http1
    }

    /// The connection was picked up without its start: both directions look
    /// for the next message boundary, and transactions are flagged.
    pub fn start_midstream(&mut self) {
        self.req.resync();
        self.resp.resync();
        self.x.sticky.set(Flags::MID_STREAM);
    }

    pub fn data(&mut self, role: Role, data: &[u8], ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        if self.tls.is_some() {
            self.with_tls(ctx, |tls, env, sink| {
                tls.data(peer_of(role), data, ts_ns, env, sink)
            });
        } else {
            self.plain_data(role, data, ts_ns, ctx);
        }
    }

    /// Bytes as HTTP sees them (decrypted when the connection is TLS).
    fn plain_data(&mut self, role: Role, data: &[u8], ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        if role == Role::Response && !data.is_empty() && self.take_http09(ts_ns, ctx) {
            // The server answers a request line that came alone: its
            // bytes are HTTP/0.9's answer, not a TLS or HTTP/2 start.
            self.x.probe[Role::Response as usize] = false;
        }
        let probe = if self.x.probe[role as usize] && !data.is_empty() {
            self.probe(role, data, ctx)
        } else {
            Probe::Http1
        };
        if probe == Probe::Tls {
            return self.data(role, data, ts_ns, ctx);
        }
        if probe == Probe::Http2 {
            // Nothing of this direction went to HTTP/1.
        } else if self.h2.is_none() {
            let (parser, mut sink) = self.split(role, ctx, ts_ns);
            let used = parser.feed(data, ts_ns, ctx_stats(&sink), &mut sink);
            self.after(ctx.stats);
            self.after_http09(ts_ns, ctx);
            if !self.x.h2c {
                return;
            }
            self.switch_to_h2c(ctx);
            self.feed_h2(role, &data[used..], ts_ns, ctx);
            return;
        }
        self.feed_h2(role, data, ts_ns, ctx);
    }

    fn feed_h2(&mut self, role: Role, data: &[u8], ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        if let Some(h2) = &mut self.h2 {
            h2.data(role, data, ts_ns, ctx);
        }
    }

    /// The server accepted an h2c upgrade: its request becomes stream 1.
    fn switch_to_h2c(&mut self, ctx: &mut HttpCtx<'_>) {
        self.x.h2c = false;
        let upgrade = self.x.pending.iter().position(|t| {
            t.response.is_none()
                && t.request
                    .as_ref()
                    .is_some_and(|r| r.head.header_has_token("upgrade", "h2c"))
        });
        let Some(txn) = upgrade.and_then(|i| self.x.pending.remove(i)) else {
            return;
        };
        ctx.stats.inc(Counter::Http2Connections);
        self.x.probe = [false; 2];
        let settings = txn
            .request
            .as_ref()
            .and_then(|r| r.head.header("http2-settings"))
            .and_then(|v| {
                // base64url without padding; tolerate padding anyway.
                let v = v.trim_ascii();
                let end = v.iter().rposition(|b| *b != b'=').map_or(0, |p| p + 1);
                base64_simd::URL_SAFE_NO_PAD.decode_to_vec(&v[..end]).ok()
            });
        self.h2 = Some(Box::new(H2Conn::upgraded(
            self.req.max_head(),
            txn,
            settings.as_deref(),
            self.x.next_seq,
            self.x.sticky,
        )));
    }

    pub fn gap(&mut self, role: Role, len: u64, ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        if self.tls.is_some() {
            self.with_tls(ctx, |tls, env, sink| {
                tls.gap(peer_of(role), len, ts_ns, env, sink)
            });
        } else {
            self.plain_gap(role, len, ts_ns, ctx);
        }
    }

    fn plain_gap(&mut self, role: Role, len: u64, ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        if let Some(h2) = &mut self.h2 {
            h2.gap(role, len, ts_ns, ctx);
            return;
        }
        if role == Role::Response {
            self.x.holes.set(Holes::RESP_GAP, true);
        }
        let (parser, mut sink) = self.split(role, ctx, ts_ns);
        if let AfterGap::FramingLost { next_cut } =
            parser.gap(len, ts_ns, ctx_stats(&sink), &mut sink)
        {
            self.x.framing_lost(role, next_cut);
        }
        self.after(ctx.stats);
    }

    pub fn eof(&mut self, role: Role, ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        if self.h2.is_some() {
            return;
        }
        if role == Role::Request {
            // A request line left alone by a client that stopped sending
            // is an HTTP/0.9 request.
            self.take_http09(ts_ns, ctx);
        }
        let (parser, mut sink) = self.split(role, ctx, ts_ns);
        if parser.head_pending() {
            // The rest of the head never came: that message is lost.
            sink.ctx.stats.inc(Counter::HttpHeadsCut);
        }
        parser.eof(ts_ns, ctx_stats(&sink), &mut sink);
        self.after(ctx.stats);
    }

    /// Takes a request line waiting alone in the request parser as an
    /// HTTP/0.9 request (`MessageParser::take_http09`).
    /// Not on a connection picked up mid-stream: there the request parser
    /// resynchronises on any line that starts with a method, and a line
    /// of a request body it landed in must not become a request.
    fn take_http09(&mut self, ts_ns: u64, ctx: &mut HttpCtx<'_>) -> bool {
        if self.h2.is_some() || self.x.sticky.has(Flags::MID_STREAM) {
            return false;
        }
        let (parser, mut sink) = self.split(Role::Request, ctx, ts_ns);
        let taken = parser.take_http09(ts_ns, ctx_stats(&sink), &mut sink);
        if taken {
            self.after(ctx.stats);
            self.after_http09(ts_ns, ctx);
        }
        taken
    }

    /// After an HTTP/0.9 request that no other request waits before (only
    /// responses without a request may), the server's next bytes answer
    /// it: a response begun before the request was made cannot run on
    /// into that answer (a Content-Length sent ahead would otherwise
    /// swallow it), so the response side ends what it was reading
    /// (`response_incomplete`) and starts over, as Zeek does. With a
    /// real request still waiting, the response under way is its own and
    /// nothing changes; nor on a connection picked up mid-stream, where a
    /// response without request is the rule (its request came before the
    /// capture).
    fn after_http09(&mut self, ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        if !self.req.made_http09() || self.x.owed > 0 || self.x.sticky.has(Flags::MID_STREAM) {
            return;
        }
        let orphan =
            |t: &Transaction| t.flags.has(Flags::NO_REQUEST) && !t.flags.has(Flags::PAIRING_LOST);
        let waiting = self
            .x
            .pending
            .iter()
            .filter(|t| t.response.is_none() || !orphan(t))
            .count();
        let resp_is_orphan = match self.x.resp_target {
            Some(Target::Txn(seq)) => self.x.pending.iter().any(|t| t.seq == seq && orphan(t)),
            Some(Target::Interim) => false,
            None => true,
        };
        if waiting != 1 || !resp_is_orphan {
            return;
        }
        let (parser, mut sink) = self.split(Role::Response, ctx, ts_ns);
        parser.restart_for_http09(ts_ns, &mut sink);
        self.after(ctx.stats);
    }

    /// Emits every transaction still pending: the connection is going away.
    pub fn close(&mut self, ts_ns: u64, ctx: &mut HttpCtx<'_>) {
        self.with_tls(ctx, |tls, env, sink| tls.close(env, sink));
        self.eof(Role::Request, ts_ns, ctx);
        self.eof(Role::Response, ts_ns, ctx);
        while let Some(t) = self.x.pending.pop_front() {
            finish(t, ctx);
        }
        self.x.req_target = None;
        self.x.resp_target = None;
        self.x.owed = 0;
        self.x.holes = Holes::default();
        if let Some(h2) = &mut self.h2 {
            h2.close(ctx);
        }
    }

    /// Emits requests that have waited longer than `max_age_ns` for a
    /// response that has not begun.
    pub fn expire_pending(&mut self, now_ns: u64, max_age_ns: u64, ctx: &mut HttpCtx<'_>) {
        // Keys that arrived since, or a wait for them that is over.
        self.with_tls(ctx, |tls, env, sink| tls.poll(now_ns, env, sink));
        if let Some(h2) = &mut self.h2 {
            h2.expire_pending(now_ns, max_age_ns, ctx);
        }
        while let Some(front) = self.x.pending.front() {
            let answering = matches!(self.x.resp_target, Some(Target::Txn(s)) if s == front.seq);
            if answering
                || front.response.is_some()
                || now_ns.saturating_sub(front.last_ns()) < max_age_ns
            {
                break;
            }
            let t = self.x.pending.pop_front().expect("front exists");
            if self.x.req_target == Some(t.seq) {
                self.x.req_target = None;
            }
            // HTTP/1 answers in order: with nothing lost on the way back,
            // the next response is this request's (or its unusable head's),
            // however late, and must not be given to the next request.
            if (t.request.is_some() || t.placeholder) && !self.x.holes.has(Holes::RESP_GAP) {
                self.x.owed = self.x.owed.saturating_add(1);
            }
            finish(t, ctx);
        }
        self.x.drained();
    }

    /// Whether nothing is buffered or pending: the connection costs only its entry.
    pub fn is_idle(&self) -> bool {
        self.x.pending.is_empty()
            && self.req.is_idle()
            && self.resp.is_idle()
            && self.h2.as_ref().is_none_or(|h2| h2.is_idle())
    }

    pub fn pending_len(&self) -> usize {
        self.x.pending.len() + self.h2.as_ref().map_or(0, |h2| h2.pending_len())
    }

    /// Bytes held in partial heads and pending bodies (for the memory budget).
    pub fn buffered_bytes(&self) -> usize {
        let bodies = self.x.pending.bytes();
        let slots = self.x.pending.capacity() * std::mem::size_of::<Transaction>();
        let h2 = self.h2.as_ref().map_or(0, |h2| h2.buffered_bytes());
        let tls = self.tls.as_ref().map_or(0, |t| t.buffered_bytes());
        bodies + slots + self.req.buffered_bytes() + self.resp.buffered_bytes() + h2 + tls
    }

    pub fn is_tunnel(&self) -> bool {
        self.x.tunnel
    }

    fn split<'s, 'c, 'd>(
        &'s mut self,
        role: Role,
        ctx: &'c mut HttpCtx<'d>,
        ts_ns: u64,
    ) -> (&'s mut MessageParser, SideSink<'s, 'c, 'd>) {
        let parser = match role {
            Role::Request => &mut self.req,
            Role::Response => &mut self.resp,
        };
        (
            parser,
            SideSink {
                role,
                x: &mut self.x,
                ctx,
                ts_ns,
            },
        )
    }

    fn after(&mut self, stats: &ShardStats) {
        // An idle keep-alive connection keeps no transaction storage: the
        // queue's buffer (four transactions, over a kilobyte) is released
        // once it empties, so idle streams cost only their table entry.
        self.x.pending.release_if_empty();
        if self.x.tunnel && !(self.req.is_tunnel() && self.resp.is_tunnel()) {
            stats.inc(Counter::HttpUpgrades);
            self.req.enter_tunnel();
            self.resp.enter_tunnel();
        }
    }
}

fn ctx_stats<'a>(sink: &SideSink<'_, '_, 'a>) -> &'a ShardStats {
    sink.ctx.stats
}

/// Hands a finished transaction to the output list, or counts why not.
pub(crate) fn finish(mut t: Transaction, ctx: &mut HttpCtx<'_>) {
    if t.placeholder && t.response.is_none() {
        return;
    }
    if t.placeholder {
        // The request was unusable; keep the response alone.
        t.request = None;
        t.flags.set(Flags::NO_REQUEST);
    }
    if let Some(c) = t.filtered {
        ctx.stats.inc(c);
        return;
    }
    if t.response.is_none() {
        t.flags.set(Flags::NO_RESPONSE);
    }
    if let Some(r) = &t.request {
        if !r.complete {
            t.flags.set(Flags::REQUEST_INCOMPLETE);
        }
        if r.gap {
            t.flags.set(Flags::GAP);
        }
    }
    if let Some(r) = &t.response {
        if !r.complete {
            t.flags.set(Flags::RESPONSE_INCOMPLETE);
        }
        if r.gap {
            t.flags.set(Flags::GAP);
        }
    }
    ctx.done.push(t);
}

/// Decodes a finished transaction's bodies (and gRPC messages) just
/// before it is serialized. Not in `finish`: a connection's end can finish
/// a thousand transactions at once, and decoded they could each hold
/// MAX_BODY_BYTES; one at a time, a shard's decoding working set is one
/// transaction's (README, Memory).
pub fn decode_for_output(
    t: &mut Transaction,
    max_body: usize,
    body_reserve: usize,
    stats: &ShardStats,
) {
    let lim = super::content::Limits {
        max_out: max_body,
        reserve: body_reserve,
    };
    super::content::decode_transaction(t, lim, stats);
    if t.stream_id.is_some() {
        crate::http2::grpc::attach(t, lim, stats);
    }
}

/// The `MessageSink` for one direction, borrowing the connection's pairing
/// state and the shard context for the duration of one call.
struct SideSink<'s, 'c, 'd> {
    role: Role,
    x: &'s mut Exchange,
    ctx: &'c mut HttpCtx<'d>,
    ts_ns: u64,
}

impl SideSink<'_, '_, '_> {
    fn txn_mut(&mut self, seq: u32) -> Option<&mut Transaction> {
        self.x.pending.iter_mut().rev().find(|t| t.seq == seq)
    }

    fn current(&mut self) -> Option<&mut Message> {
        let ts = self.ts_ns;
        let msg = match self.role {
            Role::Request => {
                let seq = self.x.req_target?;
                self.txn_mut(seq)?.request.as_mut()
            }
            Role::Response => match self.x.resp_target? {
                Target::Txn(seq) => self.txn_mut(seq)?.response.as_mut(),
                _ => None,
            },
        }?;
        msg.end_ts_ns = ts;
        Some(msg)
    }

    fn push(&mut self, mut t: Transaction) -> u32 {
        if self.x.pending.len() >= MAX_PENDING {
            if let Some(mut old) = self.x.pending.pop_front() {
                self.ctx.stats.inc(Counter::PendingDropped);
                if self.x.req_target == Some(old.seq) {
                    self.x.req_target = None;
                }
                if old.response.is_none() {
                    // Its response is still to come: it must not be given
                    // to the next request.
                    self.x.owed = self.x.owed.saturating_add(1);
                    old.flags.set(Flags::PAIRING_LOST);
                }
                finish(old, self.ctx);
            }
        }
        t.flags.0 |= self.x.sticky.0;
        let seq = t.seq;
        self.x.pending.push_back(t);
        seq
    }

    fn new_txn(&mut self) -> Transaction {
        let seq = self.x.next_seq;
        self.x.next_seq = self.x.next_seq.wrapping_add(1);
        Transaction::new(seq)
    }

    /// A message whose body is about to arrive. A declared length reserves
    /// the body buffer up front (at most BUFFER_CAP and MAX_BODY_BYTES), so
    /// it is not regrown piece by piece; filtered bodies are never stored.
    fn new_message(&self, head: Head, ts_ns: u64, framing: Framing, filtered: bool) -> Message {
        let mut msg = Message::new(head, ts_ns);
        if let (Framing::Length(n), false) = (framing, filtered) {
            let cap = n
                .min(self.ctx.body_reserve as u64)
                .min(self.ctx.max_body as u64);
            msg.body.reserve(cap as usize);
        }
        msg
    }

    fn request_head(&mut self, head: Head, ts_ns: u64) -> Framing {
        let (framing, invalid) = match request_framing(&head) {
            Ok(f) => (f, false),
            Err(e) => {
                HttpAnomaly::BadFraming.count(self.ctx.stats);
                (e.fallback.unwrap_or(Framing::None), true)
            }
        };
        let mut t = self.new_txn();
        if invalid {
            t.flags.set(Flags::FRAMING_INVALID);
        }
        if head.dropped_invalid_lines() {
            self.ctx.stats.inc(Counter::HttpHeaderLinesInvalid);
            t.flags.set(Flags::HEADER_INVALID);
        }
        if head.lenient_request_line() {
            self.ctx.stats.inc(Counter::HttpRequestLinesInvalid);
            t.flags.set(Flags::REQUEST_LINE_INVALID);
        }
        t.filtered = self.ctx.filters.check_request(&head);
        if framing == Framing::Tunnel {
            t.flags.set(Flags::UPGRADE);
            self.x.tunnel = true;
        }
        t.request = Some(self.new_message(head, ts_ns, framing, t.filtered.is_some()));
        let seq = self.push(t);
        self.x.req_target = Some(seq);
        framing
    }

    fn response_head(&mut self, head: Head, ts_ns: u64) -> Framing {
        let status = head.status();
        if status == 101 && self.accepts_h2c() {
            return self.upgrade_to_h2c();
        }
        if (100..200).contains(&status) && status != 101 {
            self.ctx.stats.inc(Counter::HttpInterim);
            self.x.resp_target = Some(Target::Interim);
            return Framing::None;
        }
        // The oldest transaction still waiting for its response, unless
        // this response belongs to a request given up at MAX_PENDING.
        let waiting = if self.x.owed > 0 {
            None
        } else {
            self.answered_request()
        };
        let idx = match waiting {
            Some(i) => i,
            None if self.x.owed > 0 => {
                self.x.owed -= 1;
                self.ctx.stats.inc(Counter::HttpUnpairedResponses);
                let mut t = self.new_txn();
                t.flags.set(Flags::NO_REQUEST);
                t.flags.set(Flags::PAIRING_LOST);
                t.flags.0 |= self.x.sticky.0;
                // Ahead of the requests, which are all younger; not through
                // `push`, which would give up one more request for it. It
                // leaves at this response's end, so the queue holds at most
                // MAX_PENDING + 1.
                self.x.pending.push_front(t);
                0
            }
            None => {
                self.ctx.stats.inc(Counter::HttpOrphanResponses);
                let mut t = self.new_txn();
                t.flags.set(Flags::NO_REQUEST);
                self.push(t);
                self.x.pending.len() - 1 // just pushed: at least one
            }
        };
        let stats = self.ctx.stats;
        let method = self.x.pending[idx]
            .request
            .as_ref()
            .map(|r| r.head.method());
        let (framing, invalid) = match response_framing(&head, method) {
            Ok(f) => (f, false),
            Err(e) => {
                HttpAnomaly::BadFraming.count(stats);
                (e.fallback.unwrap_or(Framing::UntilClose), true)
            }
        };
        let filtered = self.ctx.filters.check_response(&head);
        let bad_line = head.dropped_invalid_lines();
        if bad_line {
            stats.inc(Counter::HttpHeaderLinesInvalid);
        }
        let t = self.x.pending.get_mut(idx);
        if invalid {
            t.flags.set(Flags::FRAMING_INVALID);
        }
        if bad_line {
            t.flags.set(Flags::HEADER_INVALID);
        }
        if t.filtered.is_none() {
            t.filtered = filtered;
        }
        if framing == Framing::Tunnel {
            t.flags.set(Flags::UPGRADE);
            self.x.tunnel = true;
        }
        if self.x.holes.has(Holes::UNSURE) && t.request.is_some() {
            t.flags.set(Flags::PAIRING_UNCERTAIN);
            stats.inc(Counter::HttpPairingUncertain);
        }
        let filtered = t.filtered.is_some();
        let msg = self.new_message(head, ts_ns, framing, filtered);
        let seq = self.x.pending.attach_response(idx, msg).seq;
        self.x.resp_target = Some(Target::Txn(seq));
        framing
    }

    /// The waiting request a response answers: the oldest, as HTTP/1
    /// answers in order, unless a hole broke the response framing while it
    /// waited. Then the fewest responses the hole can have taken are
    /// assumed lost: none, or one when the hole certainly began a response
    /// (that request is emitted without its answer, flagged `gap`). With
    /// other requests waiting too, more may have been lost, so this
    /// pairing and the next are a guess until the queue drains. A request
    /// waiting alone needs no guess: a server answers only requests it has
    /// received.
    fn answered_request(&mut self) -> Option<usize> {
        let first = self.x.pending.iter().position(|t| t.response.is_none())?;
        if !self.x.pending[first].answer_unsure {
            return Some(first);
        }
        let waiting = self
            .x
            .pending
            .iter()
            .filter(|t| t.response.is_none())
            .count();
        let lost_one = self.x.holes.take(Holes::RESP_CUT_NEXT);
        for t in self.x.pending.iter_mut() {
            t.answer_unsure = false;
        }
        if waiting == 1 {
            return Some(first);
        }
        self.x.holes.set(Holes::UNSURE, true);
        // A request still arriving is not given up (its answer would be an
        // early one); the guess then stays with it.
        if !lost_one || self.x.req_target == Some(self.x.pending[first].seq) {
            return Some(first);
        }
        let mut t = self.x.pending.remove(first).expect("index from position");
        t.flags.set(Flags::GAP);
        self.ctx.stats.inc(Counter::HttpAnswersLostInGap);
        finish(t, self.ctx);
        self.x.pending.iter().position(|t| t.response.is_none())
    }

    /// Whether the oldest waiting request asked for `Upgrade: h2c` (and
    /// the response is its, not a given-up request's).
    fn accepts_h2c(&self) -> bool {
        self.x.owed == 0
            && self
                .x
                .pending
                .iter()
                .find(|t| t.response.is_none())
                .and_then(|t| t.request.as_ref())
                .is_some_and(|r| r.head.header_has_token("upgrade", "h2c"))
    }

    /// A 101 to an h2c upgrade: the request waits in `pending` to become
    /// HTTP/2 stream 1 (`HttpConn::switch_to_h2c`); both parsers stop.
    fn upgrade_to_h2c(&mut self) -> Framing {
        self.ctx.stats.inc(Counter::HttpInterim);
        self.x.h2c = true;
        self.x.req_target = None;
        self.x.tunnel = true;
        self.x.resp_target = Some(Target::Interim);
        Framing::Tunnel
    }

    fn filtered(&self) -> bool {
        let seq = match self.role {
            Role::Request => self.x.req_target,
            Role::Response => match self.x.resp_target {
                Some(Target::Txn(s)) => Some(s),
                _ => None,
            },
        };
        seq.and_then(|s| self.x.pending.iter().rev().find(|t| t.seq == s))
            .map(|t| t.filtered.is_some())
            .unwrap_or(true)
    }
}

impl MessageSink for SideSink<'_, '_, '_> {
    fn on_head(&mut self, head: Head, ts_ns: u64) -> Framing {
        match self.role {
            Role::Request => self.request_head(head, ts_ns),
            Role::Response => self.response_head(head, ts_ns),
        }
    }

    fn on_body(&mut self, data: &[u8]) {
        // A filtered transaction's body is framed but never stored.
        let skip = self.filtered();
        let max = self.ctx.max_body;
        let stats = self.ctx.stats;
        let Some(m) = self.current() else {
            return;
        };
        m.body_size += data.len() as u64;
        if skip {
            return;
        }
        let before = m.body.capacity();
        m.keep_body(data, max, stats);
        let after = m.body.capacity();
        self.x.pending.resize(before, after);
    }

    fn on_trailers(&mut self, lines: &[u8]) {
        if self.filtered() {
            return;
        }
        let stats = self.ctx.stats;
        let Some(m) = self.current() else {
            return;
        };
        let Some(head) = Head::trailer_section(lines, m.head.version) else {
            stats.inc(Counter::HttpTrailersInvalid);
            return;
        };
        let before = message_bytes(m);
        m.trailers = Some(Box::new(head));
        let after = message_bytes(m);
        self.x.pending.resize(before, after);
    }

    fn on_body_gap(&mut self, len: u64) {
        if let Some(m) = self.current() {
            m.body_gap(len);
        }
    }

    fn on_complete(&mut self, ending: Ending, ts_ns: u64) {
        match self.role {
            Role::Request => {
                if let Some(m) = self.current() {
                    m.complete = ending == Ending::Complete;
                    m.end_ts_ns = ts_ns;
                }
                self.x.req_target = None;
            }
            Role::Response => {
                let target = self.x.resp_target.take();
                if ending == Ending::Complete {
                    self.x.holes.set(Holes::RESP_GAP, false);
                }
                let Some(Target::Txn(seq)) = target else {
                    return;
                };
                let Some(idx) = self.x.pending.iter().position(|t| t.seq == seq) else {
                    return;
                };
                let mut t = self.x.pending.remove(idx).expect("index from position");
                if let Some(m) = t.response.as_mut() {
                    m.complete = ending == Ending::Complete;
                    m.end_ts_ns = ts_ns;
                }
                if self.x.req_target == Some(seq) {
                    // An early response: the request body is still arriving.
                    self.x.req_target = None;
                }
                finish(t, self.ctx);
                self.x.drained();
            }
        }
    }

    fn on_anomaly(&mut self, anomaly: HttpAnomaly) {
        let flag = match anomaly {
            HttpAnomaly::BadChunk => Flags::CHUNKED_INVALID,
            HttpAnomaly::BadFraming => Flags::FRAMING_INVALID,
            // No message of a transaction was under way.
            HttpAnomaly::BadStart | HttpAnomaly::BadHead => return,
        };
        let seq = match self.role {
            Role::Request => self.x.req_target,
            Role::Response => match self.x.resp_target {
                Some(Target::Txn(seq)) => Some(seq),
                _ => None,
            },
        };
        if let Some(t) = seq.and_then(|seq| self.txn_mut(seq)) {
            t.flags.set(flag);
        }
    }

    fn answers_unknown_request(&mut self) -> bool {
        match (self.role, self.x.resp_target) {
            (Role::Response, Some(Target::Txn(seq))) => {
                self.txn_mut(seq).is_some_and(|t| t.request.is_none())
            }
            _ => false,
        }
    }

    fn on_raw_response(&mut self, ts_ns: u64) -> bool {
        if self.role != Role::Response || self.x.owed > 0 {
            return false;
        }
        let Some(idx) = self.x.pending.iter().position(|t| t.response.is_none()) else {
            return false;
        };
        let t = &self.x.pending[idx];
        let http09 = !t.placeholder
            && t.request
                .as_ref()
                .is_some_and(|r| r.head.version == Version::Http09);
        if !http09 {
            return false;
        }
        self.ctx.stats.inc(Counter::HttpResponses);
        let msg = Message::new(Head::no_status_line(), ts_ns);
        let t = self.x.pending.attach_response(idx, msg);
        t.flags.set(Flags::NO_STATUS_LINE);
        self.x.resp_target = Some(Target::Txn(t.seq));
        true
    }

    fn on_skipped(&mut self, _ts_ns: u64) {
        match self.role {
            Role::Request => {
                let mut t = self.new_txn();
                t.placeholder = true;
                t.flags.set(Flags::REQUEST_UNPARSED);
                self.push(t);
                self.x.req_target = None;
            }
            Role::Response => {
                if self.x.owed > 0 {
                    // The unusable response was a given-up request's.
                    self.x.owed -= 1;
                    self.x.resp_target = None;
                    return;
                }
                // The response to the oldest waiting request was unusable.
                if let Some(idx) = self.answered_request() {
                    let mut t = self.x.pending.remove(idx).expect("index from position");
                    t.flags.set(Flags::RESPONSE_UNPARSED);
                    if self.x.holes.has(Holes::UNSURE) {
                        t.flags.set(Flags::PAIRING_UNCERTAIN);
                        self.ctx.stats.inc(Counter::HttpPairingUncertain);
                    }
                    if self.x.req_target == Some(t.seq) {
                        self.x.req_target = None;
                    }
                    finish(t, self.ctx);
                    self.x.drained();
                }
                self.x.resp_target = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
