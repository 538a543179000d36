//! A shard: one pinned thread that owns a packet source, a stream table,
//! the HTTP state of its connections and its output sinks. Packets never
//! leave the shard that received them; the only shared thing is `stats`.
//!
//! Per packet: decode → stream table → TCP reassembly → HTTP parser →
//! finished transactions → one serialized record → every sink.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::capture::{PacketSource, Poll};
use crate::decode::{self, DecodeOptions, Segment};
use crate::flow::reassembly::{HalfStream, SeqNumber, StreamConsumer, TcpSegment};
use crate::flow::table::{Conn, StreamTable};
use crate::flow::{FlowKey, Side};
use crate::frame::Packet;
use crate::http::filter::Filters;
use crate::http::parser::Role;
use crate::http::redact::Redactor;
use crate::http::{Flags, HttpConn, HttpCtx, Transaction};
use crate::output::RecordSink;
use crate::panic_guard;

mod budget;
pub mod clock;
mod keys;
mod uprobe;
use crate::record::{ConnInfo, RecordCtx, RecordView};
use crate::stats::{Counter, Gauge, ShardHistograms, ShardStats};
use crate::tls::keylog::KeyLogLine;
use crate::tls::TlsContext;
use budget::MemoryBudget;
use crossbeam::channel::Receiver;

/// The knobs a shard needs, resolved from the configuration.
#[derive(Clone, Debug)]
pub struct ShardSettings {
    pub decode: DecodeOptions,
    pub max_stream_buffer: usize,
    pub flush_interval_ns: u64,
    pub flush_age_ns: u64,
    /// Established connections with nothing pending expire after this.
    pub idle_timeout_ns: u64,
    pub max_body: usize,
    pub body_reserve: usize,
    pub max_head: usize,
    /// This shard's share of HEAP_LIMIT.
    pub memory_budget: usize,
    /// TLS_MAX_KEYS, TLS_KEY_WAIT, TLS_KEY_WAIT_BYTES.
    pub tls_max_keys: usize,
    pub tls_key_wait_ns: u64,
    pub tls_key_wait_bytes: usize,
    /// REDACT_*: applied to each transaction before it is serialized.
    pub redact: Arc<Redactor>,
}

impl ShardSettings {
    /// The product's defaults (a 1 GiB memory share), for tests, benches
    /// and fuzzing, which build shards without a configuration.
    pub fn defaults() -> ShardSettings {
        ShardSettings {
            decode: DecodeOptions::default(),
            max_stream_buffer: 5 << 20,
            flush_interval_ns: 500_000_000,
            flush_age_ns: 5_000_000_000,
            idle_timeout_ns: 60_000_000_000,
            max_body: 3 << 20,
            body_reserve: 128 << 10,
            max_head: 64 << 10,
            memory_budget: 1 << 30,
            tls_max_keys: 100_000,
            tls_key_wait_ns: 5_000_000_000,
            tls_key_wait_bytes: 256 << 10,
            redact: Arc::new(Redactor::off()),
        }
    }

    /// The settings of `c`; `redact` is built by the caller
    /// (`Redactor::from_config`, which reads the key file once).
    pub fn from_config(c: &crate::config::Config, redact: Arc<Redactor>) -> ShardSettings {
        let flush_age_ns = c.assembler_flush_age.as_nanos() as u64;
        ShardSettings {
            decode: DecodeOptions { ipip: c.ipip },
            // Reassembly counts a direction's held bytes in a u32.
            max_stream_buffer: c.assembler_max_stream_buffer.min(u32::MAX as u64) as usize,
            flush_interval_ns: c.assembler_flush_interval.as_nanos().max(1) as u64,
            flush_age_ns,
            idle_timeout_ns: (flush_age_ns * 12).max(60_000_000_000),
            max_body: c.max_body_bytes as usize,
            body_reserve: c.buffer_cap as usize,
            max_head: c.max_header_bytes as usize,
            memory_budget: crate::config::memory::ShardMemory::of(c).streams as usize,
            tls_max_keys: c.tls_max_keys as usize,
            tls_key_wait_ns: c.tls_key_wait.as_nanos().min(u64::MAX as u128) as u64,
            tls_key_wait_bytes: c.tls_key_wait_bytes.min(usize::MAX as u64) as usize,
            redact,
        }
    }
}

pub struct Shard {
    pub id: u16,
    settings: ShardSettings,
    table: StreamTable<HttpConn>,
    filters: Arc<Filters>,
    record_ctx: Arc<RecordCtx>,
    sinks: Vec<Box<dyn RecordSink>>,
    stats: Arc<ShardStats>,
    hist: ShardHistograms,
    /// Transactions finished by the packet being handled.
    done: Vec<Transaction>,
    /// Scratch for serializing one record.
    line: Vec<u8>,
    /// The shard's clock: engine time of the newest packet (or of the wall
    /// clock when a live source is idle), steady across clock steps.
    now_ns: u64,
    clock: clock::ShardClock,
    next_sweep_ns: u64,
    /// Wall time the current batch of packets was received.
    batch_start: Instant,
    /// Live sources stamp packets with the wall clock (kernel timestamps);
    /// file input carries the capture's own times.
    live: bool,
    /// Timestamp of the packet being handled.
    packet_ts_ns: u64,
    /// This shard's share of HEAP_LIMIT and what is charged against it.
    budget: MemoryBudget,
    /// TLS keys from the key logs, and the channel new ones arrive on.
    tls: TlsContext,
    keys_in: Option<Receiver<KeyLogLine>>,
    /// TLS connections waiting for keys (slot, connection id): retried as
    /// soon as new key-log lines arrive.
    tls_waiting: Vec<(usize, u64)>,
    /// Passes of the key-log follower, to wait for one at the end.
    keylog_rounds: Option<Arc<AtomicU64>>,
    /// Connections that ended while waiting for their TLS keys.
    parked: VecDeque<keys::Parked>,
    /// TLS plaintext from the uprobes (TLS_UPROBE_LIBS): this shard's ring.
    uprobe: Option<crate::tls::uprobe::ShardRing>,
}

/// Feeds one direction's reassembled bytes to the connection's HTTP state.
struct Deliver<'a, 'b> {
    http: &'a mut HttpConn,
    role: Role,
    ctx: &'a mut HttpCtx<'b>,
}

impl Deliver<'_, '_> {
    /// Reassembles one segment of the `side` half and hands what it
    /// completes to `http`, as the request or response by `client`.
    fn segment(
        half: &mut HalfStream,
        http: &mut HttpConn,
        (side, client): (Side, Side),
        seg: &Segment<'_>,
        ts_ns: u64,
        max_buffer: usize,
        ctx: &mut HttpCtx<'_>,
    ) {
        let role = if side == client {
            Role::Request
        } else {
            Role::Response
        };
        let tcp = TcpSegment {
            seq: SeqNumber(seg.seq),
            syn: seg.flags.syn(),
            fin: seg.flags.fin(),
            payload: seg.payload,
            ts_ns,
        };
        let stats = ctx.stats;
        half.segment(tcp, max_buffer, stats, &mut Deliver { http, role, ctx });
    }
}

impl StreamConsumer for Deliver<'_, '_> {
    fn on_data(&mut self, data: &[u8], ts_ns: u64) {
        self.http.data(self.role, data, ts_ns, self.ctx);
    }
    fn on_gap(&mut self, len: u64, ts_ns: u64) {
        self.http.gap(self.role, len, ts_ns, self.ctx);
    }
    fn on_fin(&mut self, ts_ns: u64) {
        self.http.eof(self.role, ts_ns, self.ctx);
    }
}

/// Serializes a record once and hands it to every sink: straight into the
/// buffer of a lone sink that lends one, else through the shard's scratch
/// line. Returns the record's size.
fn write_record(
    sinks: &mut [Box<dyn RecordSink>],
    line: &mut Vec<u8>,
    view: &RecordView<'_>,
) -> usize {
    if let [only] = sinks {
        if let Some(buf) = only.line_buffer() {
            let start = buf.len();
            view.write_line(buf);
            let bytes = buf.len() - start;
            only.appended(view);
            return bytes;
        }
    }
    line.clear();
    view.write_line(line);
    for sink in sinks.iter_mut() {
        sink.write(view, line);
    }
    line.len()
}

/// The HTTP layer's view of the shard, borrowed for one call.
fn http_ctx<'a>(
    settings: &ShardSettings,
    stats: &'a ShardStats,
    filters: &'a Filters,
    done: &'a mut Vec<Transaction>,
    tls: &'a TlsContext,
) -> HttpCtx<'a> {
    HttpCtx {
        stats,
        filters,
        max_body: settings.max_body,
        body_reserve: settings.body_reserve,
        done,
        tls,
    }
}

/// Runs `f` on each direction of an oriented connection, request side
/// first, with a consumer that feeds that direction's HTTP parser.
fn for_each_direction(
    conn: &mut Conn<HttpConn>,
    ctx: &mut HttpCtx<'_>,
    mut f: impl FnMut(&mut HalfStream, &mut Deliver<'_, '_>),
) {
    let Some(client) = conn.client else { return };
    let Conn { halves, app, .. } = conn;
    for (side, role) in [(client, Role::Request), (client.other(), Role::Response)] {
        let mut deliver = Deliver {
            http: app,
            role,
            ctx,
        };
        f(&mut halves[side.index()], &mut deliver);
    }
}

/// The connection as a record names it, oriented client to server.
fn conn_info(conn: &Conn<HttpConn>) -> ConnInfo {
    let client = conn.client.unwrap_or(Side::Lo);
    ConnInfo {
        id: conn.id,
        client: conn.key.endpoint(client),
        server: conn.key.endpoint(client.other()),
        tls: match &conn.uprobe {
            Some(feed) => Some(feed.info.clone()),
            None => conn.app.tls_info(),
        },
        encap: conn.encap.clone(),
    }
}

/// Orients a connection from its first payload when no handshake was seen.
fn guess_client(conn_key: &FlowKey, side: Side, payload: &[u8]) -> Side {
    let starts_request =
        payload.first().is_some_and(|b| b.is_ascii_uppercase()) && !payload.starts_with(b"HTTP/");
    if payload.starts_with(b"HTTP/") {
        return side.other();
    }
    if starts_request {
        return side;
    }
    // Neither: the side with the lower (service) port is the server.
    let (me, peer) = (conn_key.endpoint(side), conn_key.endpoint(side.other()));
    if me.port < peer.port {
        side.other()
    } else {
        side
    }
}

impl Shard {
    pub fn new(
        id: u16,
        settings: ShardSettings,
        filters: Arc<Filters>,
        record_ctx: Arc<RecordCtx>,
        sinks: Vec<Box<dyn RecordSink>>,
        stats: Arc<ShardStats>,
        hist: ShardHistograms,
    ) -> Shard {
        let settings_tls = (
            settings.tls_max_keys,
            settings.tls_key_wait_ns,
            settings.tls_key_wait_bytes,
        );
        Shard {
            id,
            budget: MemoryBudget::new(settings.memory_budget),
            settings,
            table: StreamTable::new(id),
            filters,
            record_ctx,
            sinks,
            stats,
            hist,
            done: Vec::new(),
            line: Vec::with_capacity(64 * 1024),
            now_ns: 0,
            clock: clock::ShardClock::default(),
            next_sweep_ns: 0,
            batch_start: Instant::now(),
            live: false,
            packet_ts_ns: 0,
            tls: TlsContext::new(settings_tls.0, settings_tls.1, settings_tls.2),
            keys_in: None,
            tls_waiting: Vec::new(),
            keylog_rounds: None,
            parked: VecDeque::new(),
            uprobe: None,
        }
    }

    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    /// Runs until the source is exhausted or `shutdown` is set, then
    /// closes every connection and flushes the sinks.
    pub fn run(&mut self, source: &mut dyn PacketSource, shutdown: &AtomicBool) {
        let live = source.is_live();
        self.live = live;
        let mut last_wall_tick = Instant::now();
        loop {
            self.batch_start = Instant::now();
            self.take_keys();
            let poll = source.poll_decoded(&mut |p, seg| self.handle_decoded(p, seg));
            // After the packets: a connection's handshake, captured before
            // its plaintext was written, is seen first.
            self.take_uprobe_events(false);
            if live
                && (poll == Poll::Idle
                    || last_wall_tick.elapsed().as_nanos() as u64
                        >= self.settings.flush_interval_ns)
            {
                // A quiet live link still needs flushing and expiry.
                let wall = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                if let Some(step) = self.clock.tick(wall, Instant::now()) {
                    self.clock_stepped(step);
                }
                self.now_ns = self.clock.now();
                self.maybe_sweep();
                last_wall_tick = Instant::now();
            }
            // A live source drains its ring after shutdown and then says Done.
            if poll == Poll::Done || (!live && shutdown.load(Ordering::Relaxed)) {
                break;
            }
        }
        self.finish();
    }

    pub fn handle_packet(&mut self, pkt: Packet<'_>) {
        self.handle_decoded(pkt, None);
    }

    /// A packet, with its segment when the source decoded it already.
    pub fn handle_decoded(&mut self, pkt: Packet<'_>, seg: Option<Segment<'_>>) {
        self.stats.inc(Counter::Packets);
        self.stats.add(Counter::Bytes, pkt.data.len() as u64);
        self.packet_ts_ns = pkt.ts_ns;
        let (ts_ns, step) = self.clock.packet(pkt.ts_ns);
        if let Some(step) = step {
            self.clock_stepped(step);
        }
        self.now_ns = self.clock.now();
        match seg.map_or_else(|| decode::decode(&pkt, &self.settings.decode), Ok) {
            Ok(seg) => self.handle_segment(&pkt, &seg, ts_ns),
            Err(e) => self.stats.inc(e.counter()),
        }
        if self.budget.over_threshold(self.table.memory_bytes()) {
            self.enforce_budget();
        }
        self.maybe_sweep();
    }

    /// The capture clock stepped: counted, and logged (a step is rare; a
    /// capture that keeps stepping is logged at debug after ten).
    fn clock_stepped(&mut self, step: clock::Step) {
        self.stats.inc(Counter::ClockSteps);
        let (dir, by) = match step {
            clock::Step::Back(n) => ("back", n),
            clock::Step::Forward(n) => ("forward", n),
        };
        let secs = by as f64 / 1e9;
        if self.stats.get(Counter::ClockSteps) <= 10 {
            tracing::warn!(target: "capture", shard = self.id, "the capture clock stepped {dir} by {secs:.1}s: ageing goes on steadily, records keep the capture's times");
        } else {
            tracing::debug!(target: "capture", shard = self.id, "the capture clock stepped {dir} by {secs:.1}s");
        }
    }

    /// `ts_ns` is the packet's time on the shard clock.
    fn handle_segment(&mut self, pkt: &Packet<'_>, seg: &Segment<'_>, ts_ns: u64) {
        let key = FlowKey::new(seg.src, seg.sport, seg.dst, seg.dport).in_context(seg.ctx);
        let side = key.side_of(seg.src, seg.sport);
        let flags = seg.flags;
        if flags.fin() || flags.rst() {
            // The plaintext a process wrote before closing is in its
            // uprobe ring already: read it before the packets end the
            // connection.
            self.take_uprobe_events(false);
        }
        // Which connection this segment belongs to (table work only: no
        // protocol code runs before the guard below).
        let slot = match self.table.find(&key) {
            Some(slot) if flags.syn() && self.port_reused(slot, side, seg) => {
                self.close_slot(slot, ts_ns, Counter::StreamsReused);
                let slot = self.open(key, pkt, seg, ts_ns);
                if flags.ack() {
                    // The SYN-ACK acknowledges the client's SYN.
                    let client = self.table.get_mut(slot).half(side.other());
                    client.syn(SeqNumber(seg.ack.wrapping_sub(1)));
                }
                slot
            }
            Some(slot) => slot,
            None => {
                if flags.rst() || (!flags.syn() && seg.payload.is_empty()) {
                    // Bare ACKs, FINs and RSTs of unknown connections carry nothing.
                    return;
                }
                if !self.make_room(ts_ns) {
                    self.stats.inc(Counter::MemoryDrops);
                    return;
                }
                self.open(key, pkt, seg, ts_ns)
            }
        };

        match panic_guard::contain(|| self.deliver_segment(slot, &key, side, seg, ts_ns)) {
            Ok(true) => self.close_slot(slot, ts_ns, Counter::StreamsClosed),
            Ok(false) => {}
            Err(message) => self.drop_panicked(Some(slot), &message),
        }
    }

    /// Whether a SYN on a tracked four-tuple starts a new connection there
    /// (the port was reused) rather than repeating the old one's. A SYN
    /// with the old connection's sequence number is a retransmission.
    /// Another one replaces a closing connection (a FIN or RST seen) at
    /// once; an open one only once the server answers it with a SYN-ACK,
    /// since a lone forged SYN must not cut a live connection short. (The
    /// old connection may look open because its FINs were not captured.)
    fn port_reused(&mut self, slot: usize, side: Side, seg: &Segment<'_>) -> bool {
        let conn = self.table.get_mut(slot);
        if conn.uprobe.is_some() {
            // Its process's close events say when it ends, not packets
            // (which may lag behind the plaintext).
            return false;
        }
        if conn.half(side).syn_seq() == Some(SeqNumber(seg.seq)) {
            return false;
        }
        let closing = conn.closed || conn.halves.iter().any(HalfStream::fin_seen);
        if !seg.flags.ack() {
            if !closing {
                (conn.new_syn_from, conn.new_syn_seq) = (Some(side), seg.seq);
            }
            return closing;
        }
        closing
            || (conn.new_syn_from == Some(side.other())
                && seg.ack == conn.new_syn_seq.wrapping_add(1))
    }

    /// Hands a segment to its connection's reassembly and HTTP state and
    /// emits what it finished. Returns whether the connection closed.
    fn deliver_segment(
        &mut self,
        slot: usize,
        key: &FlowKey,
        side: Side,
        seg: &Segment<'_>,
        ts_ns: u64,
    ) -> bool {
        let flags = seg.flags;
        let settings = &self.settings;
        let stats = &*self.stats;
        let mut ctx = http_ctx(settings, stats, &self.filters, &mut self.done, &self.tls);
        let conn = self.table.get_mut(slot);
        if conn.uprobe.is_some() {
            // Its plaintext comes from the uprobes; these bytes are ciphertext.
            self.uprobe_packet(slot, side, seg, ts_ns);
            return false;
        }
        conn.last_ns = ts_ns;
        if conn.client.is_none() {
            if flags.syn() {
                conn.client = Some(if flags.ack() { side.other() } else { side });
            } else if !seg.payload.is_empty() {
                conn.client = Some(guess_client(key, side, seg.payload));
                stats.inc(Counter::StreamsMidstream);
                conn.app.start_midstream();
            }
        }
        if !seg.payload.is_empty() {
            conn.has_payload = true;
        }
        if let Some(client) = conn.client {
            let Conn { halves, app, .. } = conn;
            let max_buffer = settings.max_stream_buffer;
            let half = &mut halves[side.index()];
            let sides = (side, client);
            Deliver::segment(half, app, sides, seg, ts_ns, max_buffer, &mut ctx);
        }
        if flags.rst() || (conn.halves[0].is_finished() && conn.halves[1].is_finished()) {
            conn.closed = true;
        }
        let closed = conn.closed;
        if conn.app.tls_waiting() && !self.tls_waiting.contains(&(slot, conn.id)) {
            self.tls_waiting.push((slot, conn.id));
        }
        self.emit(slot);
        self.recharge(slot);
        closed
    }

    /// A connection whose processing panicked (a bug): its state cannot be
    /// trusted, so it is dropped without emitting anything more, counted,
    /// and logged (the first time per shard; the stats thread reports the
    /// count every interval). `slot` is None when it was already removed.
    fn drop_panicked(&mut self, slot: Option<usize>, message: &str) {
        self.done.clear();
        self.stats.inc(Counter::ConnectionPanics);
        let first = self.stats.get(Counter::ConnectionPanics) == 1;
        let id = slot.map(|slot| {
            self.budget.discharge(slot);
            let conn = self.table.remove(slot);
            self.stats
                .set_gauge(Gauge::ActiveStreams, self.table.len() as u64);
            conn.id
        });
        if first {
            tracing::error!(shard = self.id, conn = ?id, "connection dropped: processing it panicked (a bug; please report it with this line): {message}");
        } else {
            tracing::debug!(shard = self.id, conn = ?id, "connection dropped: processing it panicked: {message}");
        }
    }

    /// A new connection, opened by `seg` of `pkt`. One that came wrapped
    /// (VLAN tags, tunnels) keeps the description of its wrappers for its
    /// records: the frame is decoded a second time for that, once per
    /// such connection.
    fn open(&mut self, key: FlowKey, pkt: &Packet<'_>, seg: &Segment<'_>, ts_ns: u64) -> usize {
        self.stats.inc(Counter::StreamsOpened);
        let slot = self
            .table
            .insert(key, HttpConn::new(self.settings.max_head), ts_ns);
        if seg.wrapped {
            self.table.get_mut(slot).encap =
                decode::describe(pkt, &self.settings.decode).map(std::sync::Arc::new);
        }
        self.stats
            .set_gauge(Gauge::ActiveStreams, self.table.len() as u64);
        slot
    }

    // ---- Memory budget ------------------------------------------------
    //
    // ---- Memory budget (shard/budget.rs keeps the account) ------------

    /// Bytes charged against the budget now.
    pub fn memory_used(&self) -> usize {
        self.table.memory_bytes() + self.budget.buffered() + self.parked_bytes()
    }

    /// Re-measures one connection's buffers.
    fn recharge(&mut self, slot: usize) {
        let conn = self.table.get_mut(slot);
        let hello = conn.uprobe.as_ref().and_then(|f| f.hello.as_ref());
        let bytes = conn.halves[0].buffered_bytes()
            + conn.halves[1].buffered_bytes()
            + conn.app.buffered_bytes()
            + hello.map_or(0, |h| h.buffered_bytes());
        self.budget.charge(slot, bytes);
    }

    /// Makes sure a new connection fits: when the table would have to grow
    /// beyond its half of the budget, the least recently active half of
    /// the connections is evicted instead (the index then rehashes in place).
    /// Returns false only when not even an empty table fits.
    fn make_room(&mut self, now: u64) -> bool {
        if !self.table.insert_grows()
            || self
                .budget
                .table_may_grow_to(self.table.growth_peak_bytes())
        {
            return true;
        }
        if self.table.is_empty() {
            return false;
        }
        let keep = self.table.len_without_growth().min(self.table.len() / 2);
        self.evict(now, keep);
        true
    }

    /// Evicts connections with buffers, least recently active first, until
    /// memory use is back under 90% of the budget.
    fn enforce_budget(&mut self) {
        if self.budget.above_target(self.table.memory_bytes()) {
            let now = self.now_ns;
            let activity: Vec<(u64, usize)> = self
                .table
                .slots()
                .into_iter()
                .map(|s| (self.table.get_mut(s).last_ns, s))
                .collect();
            let plan = self
                .budget
                .eviction_plan(self.table.memory_bytes(), activity.into_iter());
            for slot in plan {
                self.close_slot(slot, now, Counter::StreamsEvicted);
            }
        }
        self.budget.rearm(self.table.memory_bytes());
        self.stats
            .set_gauge(Gauge::MemoryBytes, self.memory_used() as u64);
    }

    /// Evicts connections until at most `keep` remain, least recently
    /// active first. (Half-open connections are not preferred: a real
    /// client's handshake looks the same as a flood's, and is newer.)
    fn evict(&mut self, now: u64, keep: usize) {
        let n = self.table.len();
        if n <= keep {
            return;
        }
        let mut order: Vec<(u64, usize)> = self
            .table
            .slots()
            .into_iter()
            .map(|s| (self.table.get_mut(s).last_ns, s))
            .collect();
        let excess = n - keep;
        if excess < order.len() {
            order.select_nth_unstable(excess);
            order.truncate(excess);
        }
        for (_, slot) in order {
            self.close_slot(slot, now, Counter::StreamsEvicted);
        }
    }

    /// Serializes the transactions the last call finished.
    fn emit(&mut self, slot: usize) {
        if self.done.is_empty() {
            return;
        }
        let info = conn_info(self.table.get_mut(slot));
        self.emit_with(&info);
    }

    fn emit_with(&mut self, info: &ConnInfo) {
        let mut done = std::mem::take(&mut self.done);
        for mut txn in done.drain(..) {
            self.stats.inc(Counter::Transactions);
            let s = &self.settings;
            crate::http::exchange::decode_for_output(
                &mut txn,
                s.max_body,
                s.body_reserve,
                &self.stats,
            );
            if !self.clock.steady() {
                for m in [&mut txn.request, &mut txn.response].into_iter().flatten() {
                    m.ts_ns = self.clock.to_capture(m.ts_ns);
                    m.end_ts_ns = self.clock.to_capture(m.end_ts_ns);
                }
            }
            // Before anything is serialized, so no output sees the values.
            if self.settings.redact.is_on() {
                self.settings
                    .redact
                    .apply(&mut txn, self.settings.max_body, &self.stats);
            }
            if txn.flags.has(Flags::NO_RESPONSE) {
                self.stats.inc(Counter::TransactionsNoResponse);
            }
            if txn.flags.has(Flags::GAP) {
                self.stats.inc(Counter::TransactionsGap);
            }
            if let (Some(rq), Some(rs)) = (&txn.request, &txn.response) {
                let d = rs.end_ts_ns.saturating_sub(rq.ts_ns) / 1000;
                let _ = self.hist.duration_us.record(d.max(1));
            }
            let view = RecordView {
                ctx: &self.record_ctx,
                conn: info,
                txn: &txn,
            };
            tracing::trace!(target: crate::logging::TRANSACTION, shard = self.id, conn = info.id, seq = txn.seq, flags = txn.flags.0, "transaction");
            let bytes = write_record(&mut self.sinks, &mut self.line, &view);
            self.stats.add(Counter::RecordBytes, bytes as u64);
            let lat = self.latency_us();
            let _ = self.hist.latency_us.record(lat.max(1));
        }
        self.done = done;
    }

    /// Packet-to-record latency of a record being handed to the sinks. Live:
    /// from the kernel's timestamp of the packet that completed it (ring
    /// wait included). File input, whose timestamps are the capture's: from
    /// the moment the shard received that packet's batch.
    fn latency_us(&self) -> u64 {
        if self.live {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            now.saturating_sub(self.packet_ts_ns) / 1_000
        } else {
            self.batch_start.elapsed().as_micros() as u64
        }
    }

    fn close_slot(&mut self, slot: usize, ts_ns: u64, why: Counter) {
        self.budget.discharge(slot);
        let mut conn = self.table.remove(slot);
        tracing::trace!(target: crate::logging::CONNECTION, shard = self.id, id = conn.id, lo = %conn.key.lo.ip, lo_port = conn.key.lo.port, hi = %conn.key.hi.ip, hi_port = conn.key.hi.port, why = why.name(), "connection ended");
        self.stats.inc(why);
        self.stats
            .set_gauge(Gauge::ActiveStreams, self.table.len() as u64);
        let flushed = panic_guard::contain(|| {
            let settings = &self.settings;
            let stats = &*self.stats;
            let mut ctx = http_ctx(settings, stats, &self.filters, &mut self.done, &self.tls);
            for_each_direction(&mut conn, &mut ctx, |half, deliver| {
                half.close(ts_ns, stats, deliver)
            });
        });
        if let Err(message) = flushed {
            return self.drop_panicked(None, &message);
        }
        if conn.app.tls_waiting() {
            // Its keys may still come: kept for TLS_KEY_WAIT.
            return self.park(conn, ts_ns);
        }
        self.end_app(conn, ts_ns);
    }

    /// The connection's HTTP state ends: what is pending is emitted.
    fn end_app(&mut self, mut conn: Conn<HttpConn>, ts_ns: u64) {
        let closing = panic_guard::contain(|| {
            let settings = &self.settings;
            let stats = &*self.stats;
            let mut ctx = http_ctx(settings, stats, &self.filters, &mut self.done, &self.tls);
            conn.app.close(ts_ns, &mut ctx);
            self.emit_with(&conn_info(&conn));
        });
        if let Err(message) = closing {
            self.drop_panicked(None, &message);
        }
    }

    fn maybe_sweep(&mut self) {
        if self.now_ns < self.next_sweep_ns {
            return;
        }
        self.next_sweep_ns = self.now_ns + self.settings.flush_interval_ns;
        self.sweep();
    }

    /// Forces old data past holes, emits requests whose response never
    /// came, expires idle connections and enforces the memory budget.
    fn sweep(&mut self) {
        let now = self.now_ns;
        let age = self.settings.flush_age_ns;
        self.tls.keys.expire(now, crate::tls::KEY_MAX_AGE_NS);
        self.retry_parked(false);
        self.report_uprobe_counts();
        let mut expired = Vec::new();
        let mut pending = 0usize;
        for slot in self.table.slots() {
            match panic_guard::contain(|| self.sweep_one(slot, now, age)) {
                Ok(Some(waiting)) => pending += waiting,
                Ok(None) => expired.push(slot),
                Err(message) => self.drop_panicked(Some(slot), &message),
            }
        }
        for slot in expired {
            // A uprobe-fed connection its process closed has only lingered.
            let closed = self
                .table
                .get_mut(slot)
                .uprobe
                .as_ref()
                .is_some_and(|f| f.closed);
            let why = if closed {
                Counter::StreamsClosed
            } else {
                Counter::StreamsExpired
            };
            self.close_slot(slot, now, why);
        }
        self.enforce_budget();
        self.stats.set_gauge(Gauge::PendingRequests, pending as u64);
        self.stats
            .set_gauge(Gauge::ActiveStreams, self.table.len() as u64);
        for sink in &mut self.sinks {
            sink.tick();
        }
    }

    /// One connection's share of a sweep: data aged past holes, requests
    /// that waited too long. Returns its pending requests, or None when it
    /// has been idle long enough to expire.
    fn sweep_one(&mut self, slot: usize, now: u64, age: u64) -> Option<usize> {
        let settings = &self.settings;
        let stats = &*self.stats;
        let mut ctx = http_ctx(settings, stats, &self.filters, &mut self.done, &self.tls);
        let conn = self.table.get_mut(slot);
        for_each_direction(conn, &mut ctx, |half, deliver| {
            half.flush_aged(now, age, stats, deliver)
        });
        conn.app.expire_pending(now, age, &mut ctx);
        let idle_for = now.saturating_sub(conn.last_ns);
        let limit = if conn.has_payload {
            settings.idle_timeout_ns
        } else {
            age
        };
        let waiting = (idle_for < limit).then(|| conn.app.pending_len());
        self.emit(slot);
        self.recharge(slot);
        waiting
    }

    /// End of input: close every connection (emitting what is pending) and flush.
    pub fn finish(&mut self) {
        // Keys written up to now are still used by the connections closing.
        if let Some(rounds) = &self.keylog_rounds {
            crate::tls::follow::await_round(rounds);
        }
        self.take_keys();
        self.take_uprobe_events(true);
        self.report_uprobe_counts();
        let now = self.now_ns;
        for slot in self.table.slots() {
            self.close_slot(slot, now, Counter::StreamsClosed);
        }
        self.retry_parked(true);
        for sink in &mut self.sinks {
            sink.flush();
        }
    }
}

#[cfg(test)]
mod tests;
