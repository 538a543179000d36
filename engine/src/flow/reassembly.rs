//! One direction of a TCP connection: turns segments, in whatever order
//! they were captured, into an in-order byte stream.
//!
//! In-order bytes go straight to the consumer without being copied here;
//! only segments that arrive ahead of a hole are buffered. When the first
//! copy of a byte range has been accepted, later copies are ignored (and
//! counted as conflicts when they differ). A hole never stalls the stream:
//! the owner calls `skip_hole` when buffered data grows too old or too
//! large, and the consumer is told how many bytes were lost.

use std::collections::BTreeMap;

use crate::stats::{Counter, ShardStats};

/// Receives one direction's bytes in sequence order.
pub trait StreamConsumer {
    fn on_data(&mut self, data: &[u8], ts_ns: u64);
    /// `len` bytes were lost before the data that follows.
    fn on_gap(&mut self, len: u64, ts_ns: u64);
    /// The sender's FIN was reached: no more data in this direction.
    fn on_fin(&mut self, ts_ns: u64);
}

/// Segments further ahead than this are not plausible for one connection.
const MAX_AHEAD: u32 = 1 << 30;

/// What a buffered segment is charged beyond its bytes: about what its
/// map entry and allocation cost. Without it a flood of one-byte segments
/// held some fifty times the bytes ASSEMBLER_MAX_STREAM_BUFFER allows.
pub const SEGMENT_OVERHEAD: usize = 64;

/// A TCP sequence number: 32 bits that wrap (RFC 9293, 3.4), compared
/// only by their signed distance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The number `n` bytes (or `n` sequence-consuming flags) later.
    pub fn after(self, n: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n as u32))
    }

    /// Where `self` lies relative to `base`: negative before it.
    pub fn distance_from(self, base: SeqNumber) -> i64 {
        self.0.wrapping_sub(base.0) as i32 as i64
    }
}

/// One segment of a direction, as far as reassembly cares.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    pub seq: SeqNumber,
    pub syn: bool,
    pub fin: bool,
    pub payload: &'a [u8],
    /// Capture time.
    pub ts_ns: u64,
}

#[derive(Debug)]
struct Pending {
    ts_ns: u64,
    data: Box<[u8]>,
}

/// Segments held ahead of holes, by stream offset, non-overlapping. A
/// tree: tiny segments in any order cost log n each, where a sorted list
/// cost n (40,000 one-byte segments took two seconds). Boxed, so that a
/// connection without a hole (nearly all) pays 8 bytes for it.
#[derive(Debug, Default)]
#[allow(clippy::box_collection)] // the box is the point: 8 bytes, not 24
struct Held(Option<Box<BTreeMap<u64, Pending>>>);

impl Held {
    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn segments(&self) -> impl DoubleEndedIterator<Item = (&u64, &Pending)> {
        self.0.iter().flat_map(|m| m.iter())
    }

    /// Held segments that may overlap [start, end): the last one
    /// starting before `start` (held segments are disjoint), then those
    /// starting inside.
    fn around(&self, start: u64, end: u64) -> impl Iterator<Item = (&u64, &Pending)> {
        self.0.iter().flat_map(move |m| {
            let before = m.range(..start).next_back();
            before.into_iter().chain(m.range(start..end))
        })
    }

    fn first_start(&self) -> Option<u64> {
        self.0.as_ref()?.first_key_value().map(|(k, _)| *k)
    }

    fn pop_first(&mut self) -> Option<(u64, Pending)> {
        let map = self.0.as_mut()?;
        let first = map.pop_first();
        if map.is_empty() {
            // The hole closed: an idle stream keeps no tree.
            self.0 = None;
        }
        first
    }

    fn insert(&mut self, start: u64, segment: Pending) {
        self.0.get_or_insert_default().insert(start, segment);
    }
}

/// What `pending_bytes` holds for a segment of `len` bytes.
fn charge(len: usize) -> u32 {
    // len is at most the stream buffer cap (< 4 GiB).
    (len + SEGMENT_OVERHEAD) as u32
}

#[derive(Debug, Default)]
pub struct HalfStream {
    /// Next sequence number expected; None until the first SYN or data.
    next_seq: Option<SeqNumber>,
    /// Stream offset of `next_seq`: bytes delivered or skipped since the
    /// stream began. Buffered segments are keyed by stream offset, which
    /// unlike a sequence number does not wrap.
    next_off: u64,
    /// Segments ahead of `next_seq`.
    pending: Held,
    /// Bytes in `pending` plus SEGMENT_OVERHEAD per segment (u32: the
    /// per-stream cap is far below 4 GiB).
    pending_bytes: u32,
    /// Sequence number just past the last byte, once a FIN was seen
    /// (`fin_seen`). This and `syn_seq` are not Options, which would cost
    /// 8 bytes more per half of every tracked connection.
    fin_seq: SeqNumber,
    /// The sequence number of this direction's SYN, when the stream began
    /// with one (`syn_seen`): a later SYN with another is a new
    /// connection's.
    syn_seq: SeqNumber,
    fin_seen: bool,
    syn_seen: bool,
    finished: bool,
    /// Whether the stream began without a SYN.
    pub midstream: bool,
}

impl HalfStream {
    pub fn is_synced(&self) -> bool {
        self.next_seq.is_some()
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether this direction sent its FIN (its sender is closing).
    pub fn fin_seen(&self) -> bool {
        self.fin_seen
    }

    fn fin_seq(&self) -> Option<SeqNumber> {
        self.fin_seen.then_some(self.fin_seq)
    }

    pub fn syn_seq(&self) -> Option<SeqNumber> {
        self.syn_seen.then_some(self.syn_seq)
    }

    /// A SYN with sequence number `seq` was sent: the stream starts right
    /// after it, unless it had started already.
    pub fn syn(&mut self, seq: SeqNumber) {
        if self.next_seq.is_none() {
            self.next_seq = Some(seq.after(1));
            self.syn_seq = seq;
            self.syn_seen = true;
        }
    }

    /// Buffered bytes, each segment's SEGMENT_OVERHEAD included.
    pub fn buffered_bytes(&self) -> usize {
        self.pending_bytes as usize
    }

    /// Capture time of the oldest buffered segment, if any.
    pub fn oldest_pending_ts(&self) -> Option<u64> {
        self.pending.segments().map(|(_, p)| p.ts_ns).min()
    }

    /// Handles one segment of this direction. `max_buffer` caps the bytes
    /// held behind holes (ASSEMBLER_MAX_STREAM_BUFFER).
    pub fn segment(
        &mut self,
        mut seg: TcpSegment<'_>,
        max_buffer: usize,
        stats: &ShardStats,
        out: &mut dyn StreamConsumer,
    ) {
        if self.finished {
            if !seg.payload.is_empty() {
                stats.inc(Counter::TcpRetransmits);
            }
            return;
        }
        if seg.syn {
            // The SYN occupies one sequence number.
            self.syn(seg.seq);
            seg.seq = seg.seq.after(1);
        }
        let next = match self.next_seq {
            Some(n) => n,
            None => {
                if seg.payload.is_empty() && !seg.fin {
                    // A bare ACK says nothing about where data starts.
                    return;
                }
                self.midstream = true;
                self.next_seq = Some(seg.seq);
                seg.seq
            }
        };
        if seg.fin {
            self.fin_seq = seg.seq.after(seg.payload.len());
            self.fin_seen = true;
        }
        if !seg.payload.is_empty() {
            self.accept(&seg, next, max_buffer, stats, out);
        }
        self.check_fin(seg.ts_ns, out);
    }

    /// Takes a segment's payload (its SYN already accounted for).
    fn accept(
        &mut self,
        seg: &TcpSegment<'_>,
        next: SeqNumber,
        max_buffer: usize,
        stats: &ShardStats,
        out: &mut dyn StreamConsumer,
    ) {
        let TcpSegment {
            seq,
            payload,
            ts_ns,
            ..
        } = *seg;
        let offset = seq.distance_from(next);
        let end = offset + payload.len() as i64;
        if end <= 0 {
            stats.inc(Counter::TcpRetransmits);
            return;
        }
        if offset <= 0 {
            // In order (possibly overlapping what was delivered): deliver the new part.
            let fresh = &payload[(-offset) as usize..];
            self.deliver(fresh, ts_ns, out);
            self.drain(out);
            return;
        }
        if offset as u64 > MAX_AHEAD as u64 {
            stats.inc(Counter::TcpBufferDrops);
            stats.add(Counter::TcpBufferDropBytes, payload.len() as u64);
            return;
        }
        // Ahead of a hole: buffer it, making room by skipping the hole if the
        // stream's buffer would overflow.
        let cost = charge(payload.len()) as usize;
        if self.pending_bytes as usize + cost > max_buffer && !self.pending.is_empty() {
            self.skip_hole(ts_ns, stats, out);
            if self.finished {
                // The skip reached the FIN: these bytes lie past it, and
                // nothing may follow the FIN (counted as `segment` counts
                // bytes that come after it).
                stats.inc(Counter::TcpRetransmits);
                return;
            }
            let next = self.next_seq.unwrap_or(seq);
            if seq.distance_from(next) <= 0 {
                return self.accept(seg, next, max_buffer, stats, out);
            }
        }
        if self.pending_bytes as usize + cost > max_buffer {
            stats.inc(Counter::TcpBufferDrops);
            stats.add(Counter::TcpBufferDropBytes, payload.len() as u64);
            return;
        }
        stats.inc(Counter::TcpOutOfOrder);
        self.insert(seq, payload, ts_ns, max_buffer, stats);
    }

    /// Inserts a segment ahead of `next_seq`, keeping only bytes no
    /// earlier copy covers. Pieces the buffer has no room for
    /// (a segment that fills several holes is charged once per piece) are
    /// dropped and counted.
    fn insert(
        &mut self,
        seq: SeqNumber,
        payload: &[u8],
        ts_ns: u64,
        max_buffer: usize,
        stats: &ShardStats,
    ) {
        // Callers deliver what is not ahead of next_seq: 0 < ahead <= MAX_AHEAD.
        let ahead = self
            .next_seq
            .map_or(0, |next| seq.distance_from(next).max(0));
        let start = self.next_off + ahead as u64;
        let end = start + payload.len() as u64;
        let mut cursor = start;
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut conflict = false;
        for (&ps, p) in self.pending.around(start, end) {
            let pe = ps + p.data.len() as u64;
            if pe <= cursor || ps >= end {
                continue;
            }
            if ps > cursor {
                pieces.push((cursor, ps));
            }
            // Compare the overlap with the copy already held.
            // ps < end and pe > cursor >= start here, so start <= os < oe
            // <= end and ps <= os < oe <= pe: every offset below is in range.
            let os = ps.max(start);
            let oe = pe.min(end);
            let held = &p.data[(os - ps) as usize..(oe - ps) as usize];
            let new = &payload[(os - start) as usize..(oe - start) as usize];
            if held != new {
                conflict = true;
            }
            cursor = cursor.max(pe);
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        // A copy whose bytes differ is a conflict, not a retransmission,
        // even when every byte of it was held already (README: Reassembly).
        if conflict {
            stats.inc(Counter::TcpOverlapConflicts);
        } else if pieces.is_empty() {
            stats.inc(Counter::TcpRetransmits);
        }
        for (s, e) in pieces {
            let len = (e - s) as usize;
            if self.pending_bytes as usize + charge(len) as usize > max_buffer {
                stats.inc(Counter::TcpBufferDrops);
                stats.add(Counter::TcpBufferDropBytes, len as u64);
                continue;
            }
            self.pending_bytes += charge(len);
            let data: Box<[u8]> = payload[(s - start) as usize..(e - start) as usize].into();
            self.pending.insert(s, Pending { ts_ns, data });
        }
    }

    fn deliver(&mut self, data: &[u8], ts_ns: u64, out: &mut dyn StreamConsumer) {
        if data.is_empty() {
            return;
        }
        if let Some(n) = self.next_seq.as_mut() {
            *n = n.after(data.len());
        }
        self.next_off += data.len() as u64;
        out.on_data(data, ts_ns);
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(&mut self, out: &mut dyn StreamConsumer) {
        while self
            .pending
            .first_start()
            .is_some_and(|s| s <= self.next_off)
        {
            let Some((start, p)) = self.pending.pop_first() else {
                break;
            };
            // pending_bytes is what the pending segments were charged.
            self.pending_bytes -= charge(p.data.len());
            let skip = (self.next_off - start) as usize;
            if skip < p.data.len() {
                self.deliver(&p.data[skip..], p.ts_ns, out);
            }
        }
    }

    fn check_fin(&mut self, ts_ns: u64, out: &mut dyn StreamConsumer) {
        if let (Some(fin), Some(next)) = (self.fin_seq(), self.next_seq) {
            if !self.finished && fin.distance_from(next) <= 0 && self.pending.is_empty() {
                self.finished = true;
                out.on_fin(ts_ns);
            }
        }
    }

    /// Skips the first hole: the consumer learns of the lost bytes and the
    /// data behind the hole is delivered. Returns false if there is no hole.
    pub fn skip_hole(
        &mut self,
        ts_ns: u64,
        stats: &ShardStats,
        out: &mut dyn StreamConsumer,
    ) -> bool {
        let (Some(next), Some(first)) = (self.next_seq, self.pending.first_start()) else {
            return false;
        };
        // Drained segments never wait: the first one lies past next_off.
        let lost = first.saturating_sub(self.next_off);
        stats.inc(Counter::TcpGaps);
        stats.add(Counter::TcpGapBytes, lost);
        // lost < MAX_AHEAD: a sequence-number distance.
        self.next_seq = Some(next.after(lost as usize));
        self.next_off += lost;
        out.on_gap(lost, ts_ns);
        self.drain(out);
        self.check_fin(ts_ns, out);
        true
    }

    /// Skips every hole whose data has waited longer than `max_age_ns`.
    pub fn flush_aged(
        &mut self,
        now_ns: u64,
        max_age_ns: u64,
        stats: &ShardStats,
        out: &mut dyn StreamConsumer,
    ) {
        // The furthest segment that has waited too long: every hole
        // before it is skipped (one pass, however many holes).
        let Some(&last_aged) = self
            .pending
            .segments()
            .rev()
            .find(|(_, p)| now_ns.saturating_sub(p.ts_ns) >= max_age_ns)
            .map(|(k, _)| k)
        else {
            return;
        };
        while self.pending.first_start().is_some_and(|k| k <= last_aged) {
            if !self.skip_hole(now_ns, stats, out) {
                break;
            }
        }
    }

    /// The connection is going away: deliver everything buffered, across
    /// holes. A FIN hole (data never seen before the FIN) is counted too.
    pub fn close(&mut self, ts_ns: u64, stats: &ShardStats, out: &mut dyn StreamConsumer) {
        while self.skip_hole(ts_ns, stats, out) {}
        if let (Some(fin), Some(next)) = (self.fin_seq(), self.next_seq) {
            let missing = fin.distance_from(next);
            if !self.finished && missing > 0 {
                stats.inc(Counter::TcpGaps);
                stats.add(Counter::TcpGapBytes, missing as u64);
                out.on_gap(missing as u64, ts_ns);
                self.next_seq = Some(fin);
                self.check_fin(ts_ns, out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
