//! TLS plaintext from uprobes in a shard (TLS_UPROBE_LIBS): the shard
//! reads its own ring next to its packet source; each chunk enters its
//! connection's HTTP state as decrypted bytes would, in the order of the
//! offsets the program gives (a jump is a hole: `tls_uprobe_lost`). A
//! connection fed this way ignores its captured packets (ciphertext).

use super::{guess_client, http_ctx, Deliver, Shard};
use crate::decode::Segment;
use crate::flow::table::Conn;
use crate::flow::{FlowKey, Side};
use crate::http::parser::Role;
use crate::http::HttpConn;
use crate::panic_guard;
use crate::stats::{Counter, Gauge, ShardStats};
use crate::tls::uprobe::event::{Direction, Event, Kind};
use crate::tls::uprobe::{Feed, ProgramCount, ShardRing};
use crate::tls::TlsContext;

/// Most events handled per pass of the shard loop, so packets keep
/// their turn.
const EVENTS_PER_POLL: usize = 1024;

/// The HTTP role of the bytes that went `dir` (seen from the process).
fn role_of(conn: &Conn<HttpConn>, ev: &Event<'_>, dir: Direction) -> Role {
    let (ip, port) = match dir {
        Direction::Sent => ev.local(),
        Direction::Received => ev.remote(),
    };
    if conn.client == Some(conn.key.side_of(ip, port)) {
        Role::Request
    } else {
        Role::Response
    }
}

/// Whether a connection's first plaintext is the start of its HTTP: a
/// request (HTTP/1 or the HTTP/2 preface), or HTTP/2 frames (a server's
/// SETTINGS may come before the client's preface is read).
fn starts_conversation(data: &[u8]) -> bool {
    let request = data.first().is_some_and(u8::is_ascii_uppercase) && !data.starts_with(b"HTTP/");
    request || crate::http2::conn::looks_like_frames(data)
}

impl Shard {
    /// Gives the shard its ring of uprobe events.
    pub fn with_uprobe_ring(mut self, ring: ShardRing) -> Shard {
        self.uprobe = Some(ring);
        self
    }

    /// Events that arrived since the last call; at the end of input, all
    /// of them.
    pub(super) fn take_uprobe_events(&mut self, drain: bool) {
        let Some(mut ring) = self.uprobe.take() else {
            return;
        };
        let wall_offset = ring.wall_offset_ns();
        while ring.poll(EVENTS_PER_POLL, |bytes| {
            self.uprobe_event(bytes, wall_offset)
        }) > 0
            && drain
        {}
        self.uprobe = Some(ring);
        self.maybe_sweep();
    }

    /// The program's own counts (shard 0 reports them), at each sweep.
    pub(super) fn report_uprobe_counts(&mut self) {
        let Some(counts) = self.uprobe.as_mut().and_then(ShardRing::program_counts) else {
            return;
        };
        for (c, n) in counts.delta() {
            let counter = match c {
                ProgramCount::RingFull => Counter::TlsUprobeRingFull,
                ProgramCount::BeyondChunks => Counter::TlsUprobeBeyondCopy,
                ProgramCount::NoFd => Counter::TlsUprobeNoSocket,
                ProgramCount::NotTcp => Counter::TlsUprobeNotTcp,
                ProgramCount::CallsLost => Counter::TlsUprobeCallsLost,
                ProgramCount::OtherNetns => Counter::TlsUprobeOtherNetns,
                // The shards count what they read themselves.
                ProgramCount::Events | ProgramCount::Bytes | ProgramCount::RingFullBytes => {
                    continue
                }
            };
            if n > 0 {
                self.stats.add(counter, n);
            }
        }
    }

    fn uprobe_event(&mut self, bytes: &[u8], wall_offset: u64) {
        self.stats.inc(Counter::TlsUprobeEvents);
        let ev = match Event::new(bytes) {
            Ok(ev) => ev,
            Err(e) => {
                self.stats.inc(Counter::TlsUprobeInvalid);
                if self.stats.get(Counter::TlsUprobeInvalid) == 1 {
                    tracing::warn!(target: "loss", shard = self.id, "a uprobe ring sample is not an event, skipped (tls_uprobe_invalid): {e}");
                }
                return;
            }
        };
        tracing::trace!(target: crate::logging::CONNECTION, shard = self.id, tgid = ev.tgid(), kind = ?ev.kind(), dir = ?ev.direction(), offset = ev.offset(), len = ev.data().len(), local = ?ev.local(), remote = ?ev.remote(), "uprobe event");
        let wall = ev.monotonic_ns().wrapping_add(wall_offset);
        self.packet_ts_ns = wall;
        let (ts_ns, step) = self.clock.packet(wall);
        if let Some(step) = step {
            self.clock_stepped(step);
        }
        self.now_ns = self.clock.now();
        let ((lip, lport), (rip, rport)) = (ev.local(), ev.remote());
        let key = FlowKey::new(lip, lport, rip, rport);
        let slot = match (self.table.find(&key), ev.kind()) {
            (Some(slot), Kind::Data) if self.reopened(slot, &ev) => {
                // The process closed the four-tuple's last connection and
                // opened a new one on it.
                self.close_slot(slot, ts_ns, Counter::StreamsClosed);
                self.open_uprobe(key, ts_ns)
            }
            (Some(slot), _) => slot,
            // A close of a connection that gave no plaintext.
            (None, Kind::Close) => return,
            (None, Kind::Data) => self.open_uprobe(key, ts_ns),
        };
        if slot == usize::MAX {
            return;
        }
        if let Err(message) = panic_guard::contain(|| self.deliver_uprobe(slot, &ev, ts_ns)) {
            self.drop_panicked(Some(slot), &message);
        }
    }

    /// Whether `ev` starts a new connection where its process closed one.
    fn reopened(&mut self, slot: usize, ev: &Event<'_>) -> bool {
        let conn = self.table.get_mut(slot);
        conn.uprobe
            .as_ref()
            .is_some_and(|f| f.closed && f.tgid == ev.tgid())
    }

    /// A connection first seen by its plaintext; `usize::MAX` when the
    /// memory budget leaves no room.
    fn open_uprobe(&mut self, key: FlowKey, ts_ns: u64) -> usize {
        if !self.make_room(ts_ns) {
            self.stats.inc(Counter::MemoryDrops);
            return usize::MAX;
        }
        self.stats.inc(Counter::StreamsOpened);
        let app = HttpConn::new(self.settings.max_head);
        let slot = self.table.insert(key, app, ts_ns);
        self.stats
            .set_gauge(Gauge::ActiveStreams, self.table.len() as u64);
        slot
    }

    /// Hands an event to its connection.
    fn deliver_uprobe(&mut self, slot: usize, ev: &Event<'_>, ts_ns: u64) {
        let settings = &self.settings;
        let stats = &*self.stats;
        let mut ctx = http_ctx(settings, stats, &self.filters, &mut self.done, &self.tls);
        let conn = self.table.get_mut(slot);
        let feed = match &mut conn.uprobe {
            Some(feed) if feed.tgid != ev.tgid() || feed.closed => {
                stats.inc(Counter::TlsUprobeDuplicate);
                return;
            }
            Some(feed) => feed,
            None if ev.kind() == Kind::Close => return,
            None => {
                stats.inc(Counter::TlsUprobeConnections);
                // Packets that came first showed the handshake in the
                // clear (kept for the records); the rest was ciphertext.
                let handshake = conn.app.tls_handshake();
                let info = crate::tls::uprobe::info_from(handshake);
                // A handshake not yet seen whole is read on from the
                // packets still to come (`uprobe_packet`); ciphertext of
                // a connection picked up after its handshake has nothing.
                let read_on = match handshake {
                    Some(h) => h.version.is_none(),
                    None => !conn.has_payload,
                };
                let plaintext = HttpConn::new(settings.max_head);
                let hello = if read_on {
                    Some(Box::new(std::mem::replace(&mut conn.app, plaintext)))
                } else {
                    conn.app = plaintext;
                    None
                };
                conn.uprobe.insert(Box::new(Feed {
                    tgid: ev.tgid(),
                    next: [0; 2],
                    closed: false,
                    info,
                    hello,
                }))
            }
        };
        conn.last_ns = ts_ns;
        if let Some(ends) = ev.ends() {
            // The process closed the socket: bytes the ring lost at the
            // end are holes; the connection lingers (expiring as one
            // without payload does), then ends.
            let next = feed.next;
            feed.closed = true;
            conn.has_payload = false;
            for dir in [Direction::Sent, Direction::Received] {
                let lost = ends[dir.index()].saturating_sub(next[dir.index()]);
                if lost > 0 && conn.client.is_some() {
                    stats.add(Counter::TlsUprobeLost, lost);
                    let role = role_of(conn, ev, dir);
                    conn.app.gap(role, lost, ts_ns, &mut ctx);
                }
            }
            // Both directions end here (a response delimited by the
            // close is complete).
            if conn.client.is_some() {
                conn.app.eof(Role::Request, ts_ns, &mut ctx);
                conn.app.eof(Role::Response, ts_ns, &mut ctx);
            }
            self.emit(slot);
            self.recharge(slot);
            return;
        }
        let dir = ev.direction().index();
        let (offset, mut data) = (ev.offset(), ev.data());
        let expected = feed.next[dir];
        feed.next[dir] = expected.max(offset.saturating_add(data.len() as u64));
        stats.add(Counter::TlsUprobeBytes, data.len() as u64);
        if offset < expected {
            // Already delivered (the program's offsets restarted).
            data = &data[((expected - offset) as usize).min(data.len())..];
        }
        if data.is_empty() {
            return;
        }
        if conn.client.is_none() {
            let (ip, port) = ev.sender();
            let sender = conn.key.side_of(ip, port);
            conn.client = Some(guess_client(&conn.key, sender, data));
            if !starts_conversation(data) {
                stats.inc(Counter::StreamsMidstream);
                conn.app.start_midstream();
            }
        }
        conn.has_payload = true;
        let role = role_of(conn, ev, ev.direction());
        if offset > expected {
            stats.add(Counter::TlsUprobeLost, offset - expected);
            conn.app.gap(role, offset - expected, ts_ns, &mut ctx);
        }
        conn.app.data(role, data, ts_ns, &mut ctx);
        self.emit(slot);
        self.recharge(slot);
    }
}

impl Shard {
    /// A packet of a connection fed by the uprobes: ciphertext, skipped,
    /// except while its handshake is still read (`Feed::hello`), apart
    /// from the plaintext: nothing that reading does is counted or
    /// recorded, and it has no keys.
    pub(super) fn uprobe_packet(&mut self, slot: usize, side: Side, seg: &Segment<'_>, ts_ns: u64) {
        self.stats.inc(Counter::TlsUprobePacketsSkipped);
        let conn = self.table.get_mut(slot);
        let Conn {
            halves,
            uprobe,
            client,
            ..
        } = conn;
        let (Some(feed), Some(client)) = (uprobe.as_deref_mut(), *client) else {
            return;
        };
        let Some(hello) = feed.hello.as_deref_mut() else {
            return;
        };
        let unseen = ShardStats::default();
        let mut unrecorded = Vec::new();
        let mut ctx = http_ctx(
            &self.settings,
            &unseen,
            &self.filters,
            &mut unrecorded,
            TlsContext::none(),
        );
        let half = &mut halves[side.index()];
        let max_buffer = self.settings.max_stream_buffer;
        let sides = (side, client);
        Deliver::segment(half, hello, sides, seg, ts_ns, max_buffer, &mut ctx);
        match hello.tls_handshake() {
            Some(h) if h.version.is_some() => {
                feed.info = crate::tls::uprobe::info_from(Some(h));
                feed.hello = None;
            }
            // Not TLS after all: nothing to learn.
            None if !hello.is_idle() => feed.hello = None,
            _ => {}
        }
        self.recharge(slot);
    }
}

#[cfg(test)]
mod tests;
