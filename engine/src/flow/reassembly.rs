//! One direction of a TCP connection: turns segments, in whatever order
//! they were captured, into an in-order byte stream.
//!
//! In-order bytes go straight to the consumer without being copied here;
//! only segments that arrive ahead of a hole are buffered. When the first
//! copy of a byte range has been accepted, later copies are ignored (and
//! counted as conflicts when they differ). A hole never stalls the stream:
//! the owner calls `skip_hole` when buffered data grows too old or too
//! large, and the consumer is told how many bytes were lost.

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

/// A TCP sequence number: 32 bits that wrap (RFC 9293, 3.4), compared
/// only by their signed distance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The number `n` bytes (or `n` sequence-consuming flags) later.
    pub fn after(self, n: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n as u32))
    }

    /// The number `offset` positions away (either way).
    fn offset(self, offset: i64) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(offset as u32))
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
    seq: SeqNumber,
    ts_ns: u64,
    data: Box<[u8]>,
}

#[derive(Debug, Default)]
pub struct HalfStream {
    /// Next sequence number expected; None until the first SYN or data.
    next_seq: Option<SeqNumber>,
    /// Segments ahead of `next_seq`, sorted, non-overlapping.
    pending: Vec<Pending>,
    /// Bytes in `pending` (u32: the per-stream cap is far below 4 GiB).
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

    pub fn buffered_bytes(&self) -> usize {
        self.pending_bytes as usize
    }

    /// Capture time of the oldest buffered segment, if any.
    pub fn oldest_pending_ts(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.ts_ns).min()
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
        if self.pending_bytes as usize + payload.len() > max_buffer && !self.pending.is_empty() {
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
        if self.pending_bytes as usize + payload.len() > max_buffer {
            stats.inc(Counter::TcpBufferDrops);
            stats.add(Counter::TcpBufferDropBytes, payload.len() as u64);
            return;
        }
        stats.inc(Counter::TcpOutOfOrder);
        self.insert(seq, payload, ts_ns, stats);
    }

    /// Inserts a future segment, keeping only bytes no earlier copy covers.
    fn insert(&mut self, seq: SeqNumber, payload: &[u8], ts_ns: u64, stats: &ShardStats) {
        let base = self.next_seq.unwrap_or(seq);
        let start = seq.distance_from(base);
        let end = start + payload.len() as i64;
        let mut cursor = start;
        let mut pieces: Vec<(i64, i64)> = Vec::new();
        let mut conflict = false;
        for p in &self.pending {
            let ps = p.seq.distance_from(base);
            let pe = ps + p.data.len() as i64;
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
        if pieces.is_empty() {
            return;
        }
        for (s, e) in pieces {
            let data: Box<[u8]> = payload[(s - start) as usize..(e - start) as usize].into();
            self.pending_bytes += data.len() as u32;
            let seg = Pending {
                seq: base.offset(s),
                ts_ns,
                data,
            };
            let at = self
                .pending
                .iter()
                .position(|p| p.seq.distance_from(base) > s)
                .unwrap_or(self.pending.len());
            self.pending.insert(at, seg);
        }
    }

    fn deliver(&mut self, data: &[u8], ts_ns: u64, out: &mut dyn StreamConsumer) {
        if data.is_empty() {
            return;
        }
        if let Some(n) = self.next_seq.as_mut() {
            *n = n.after(data.len());
        }
        out.on_data(data, ts_ns);
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(&mut self, out: &mut dyn StreamConsumer) {
        while let Some(first) = self.pending.first() {
            let next = self.next_seq.expect("synced while draining");
            let offset = first.seq.distance_from(next);
            if offset > 0 {
                break;
            }
            let p = self.pending.remove(0);
            // pending_bytes is the sum of the pending segments' lengths.
            self.pending_bytes -= p.data.len() as u32;
            let skip = (-offset) as usize;
            if skip < p.data.len() {
                self.deliver(&p.data[skip..], p.ts_ns, out);
            }
        }
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            // The hole closed: an idle stream keeps no buffer.
            self.pending = Vec::new();
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
        let (Some(next), Some(first)) = (self.next_seq, self.pending.first()) else {
            return false;
        };
        let lost = first.seq.distance_from(next).max(0) as u64;
        stats.inc(Counter::TcpGaps);
        stats.add(Counter::TcpGapBytes, lost);
        self.next_seq = Some(first.seq);
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
        while let Some(oldest) = self.oldest_pending_ts() {
            if now_ns.saturating_sub(oldest) < max_age_ns {
                break;
            }
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
