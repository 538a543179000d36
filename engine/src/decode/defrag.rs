//! IP reassembly: IPv4 and IPv6 fragments, outer or inside any tunnel,
//! put back together into the frame they would have been unfragmented.
//!
//! The owner of a packet source that sees every fragment of a datagram
//! keeps one `Defrag` (the file reader; a live source, where the kernel
//! programs put every fragment on shard 0) and hands it each frame that
//! `decode` refused as `DecodeError::Fragment`. When a datagram is
//! complete, the result is a whole *frame*: the first fragment's frame up
//! to its IP header (link layer, VLAN tags, tunnels), the IP header
//! without its fragment fields, then the datagram's bytes. It decodes
//! like any other frame, through the same wrappers, so the segment has the
//! same tunnel context (and `describe` the same wrappers) as an
//! unfragmented packet of the flow would; only then is its real 5-tuple
//! known and its shard chosen. A datagram that is itself a fragment of an
//! inner one (fragments inside a fragmented tunnel) is taken in again.
//!
//! Datagrams are told apart by (tunnel context up to the fragmented
//! header, source, destination, protocol for IPv4, identification: 16
//! bits for IPv4, 32 for IPv6), so two tenants' fragments never mix.
//!
//! Bounded: at most `MAX_TRACKERS` datagrams and `MAX_HELD_BYTES` of their
//! bytes at once (the oldest is given up: `defrag_evicted`); a datagram
//! not complete `TIMEOUT_NS` of capture time after its first fragment
//! arrived, or at the end of the input, is given up (`defrag_timeouts`); a
//! datagram can reach 65,535 bytes (beyond: `defrag_invalid`). Where
//! fragments overlap the first copy wins; a later copy whose bytes differ
//! is counted (`defrag_overlap_conflicts`), as is a second, different
//! end of the datagram (its first end stands).
//!
//! Nothing here runs for a packet that is not a fragment: `decode` only
//! branches on the fragment bits.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::encap::{Context, Trace, Tunnel, MAX_WRAPPERS};
use super::{ip, walk, DecodeError, DecodeOptions, Segment};
use crate::flow::table::KeyHasher;
use crate::frame::{LinkType, Packet};
use crate::stats::Counter;

/// Datagrams being reassembled at once, per owner.
pub const MAX_TRACKERS: usize = 1024;
/// Bytes held for them at once, per owner.
pub const MAX_HELD_BYTES: usize = 16 << 20;
/// A datagram still incomplete this long (capture time) after its first
/// fragment arrived is given up (Linux's ipfrag_time is 30 s too).
pub const TIMEOUT_NS: u64 = 30_000_000_000;
/// The largest datagram: IPv4's total length, IPv6's payload length.
pub const MAX_DATAGRAM: usize = 65_535;
const SWEEP_EVERY_NS: u64 = 1_000_000_000;
/// IP headers around the fragmented one, at most: each is a wrapper.
const MAX_IPS: usize = MAX_WRAPPERS + 2;

/// The trace that finds the fragmented header: where each IP header of
/// the frame starts, and the context of the wrappers peeled before it.
struct Locate {
    base: usize,
    ctx: Context,
    ips: [u32; MAX_IPS],
    n: usize,
}

impl Trace for Locate {
    fn vlan(&mut self, vid: u16) {
        self.ctx.vlan(vid);
    }

    fn tunnel(&mut self, t: Tunnel) {
        self.ctx.tunnel(t);
    }

    fn tunnels(&self) -> usize {
        self.ctx.tunnels()
    }

    fn context(&self) -> (u64, bool) {
        self.ctx.context()
    }

    fn ip(&mut self, packet: &[u8]) {
        if self.n < MAX_IPS {
            self.ips[self.n] = (packet.as_ptr() as usize).wrapping_sub(self.base) as u32;
        }
        self.n += 1;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    ctx: u64,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

/// The first fragment's part of the datagram's frame.
struct Head {
    link: LinkType,
    /// The frame up to and with the fragmented IP header (IPv6: the
    /// extension headers before the Fragment header, not that one).
    bytes: Vec<u8>,
    /// Where the fragmented header starts in `bytes`.
    ip_at: usize,
    v6_next: Option<(usize, u8)>,
    /// Where the IP headers around it start (tunnels' outer headers),
    /// whose lengths must grow with the datagram.
    outer: Vec<u32>,
}

/// One datagram being put together.
struct Tracker {
    first_ns: u64,
    /// Which entry of `Defrag::arrivals` is this tracker's.
    serial: u64,
    head: Option<Head>,
    /// The payload's bytes, by their offset.
    data: Vec<u8>,
    /// Ranges of `data` that arrived: sorted, disjoint, not touching.
    have: Vec<(u32, u32)>,
    /// The payload's length, once the last fragment came.
    end: Option<u32>,
}

impl Tracker {
    fn held(&self) -> usize {
        self.data.capacity() + self.head.as_ref().map_or(0, |h| h.bytes.capacity())
    }

    /// Copies in the bytes of [s, e) not held yet; returns whether any
    /// held byte in that range differs from `bytes`.
    fn fill(&mut self, s: u32, e: u32, bytes: &[u8]) -> bool {
        let Tracker { data, have, .. } = self;
        if data.len() < e as usize {
            data.resize(e as usize, 0);
        }
        let mut conflict = false;
        let mut pos = s;
        let copy = |data: &mut Vec<u8>, a: u32, b: u32| {
            data[a as usize..b as usize]
                .copy_from_slice(&bytes[(a - s) as usize..(b - s) as usize]);
        };
        let first = have.partition_point(|r| r.1 < s);
        for &(a, b) in &have[first..] {
            if a >= e {
                break;
            }
            if a > pos {
                copy(data, pos, a);
            }
            let (os, oe) = (a.max(pos), b.min(e));
            if os < oe
                && data[os as usize..oe as usize] != bytes[(os - s) as usize..(oe - s) as usize]
            {
                conflict = true;
            }
            pos = pos.max(oe);
        }
        if pos < e {
            copy(data, pos, e);
        }
        // The ranges from `first` on that touch [s, e) merge with it.
        let mut last = first;
        let (mut ns, mut ne) = (s, e);
        while last < have.len() && have[last].0 <= e {
            ns = ns.min(have[last].0);
            ne = ne.max(have[last].1);
            last += 1;
        }
        have.splice(first..last, [(ns, ne)]);
        conflict
    }

    fn complete(&self) -> bool {
        self.head.is_some()
            && self
                .end
                .is_some_and(|end| self.have.first() == Some(&(0, end)))
    }

    /// The datagram's frame; None when it outgrew its length fields.
    fn frame(self) -> Option<(LinkType, Vec<u8>)> {
        let head = self.head?;
        let end = self.end? as usize;
        let mut out = head.bytes;
        let at = head.ip_at;
        out.extend_from_slice(&self.data[..end]);
        let len = out.len() - at;
        match head.v6_next {
            Some((next_at, next)) => {
                out[at + next_at] = next;
                let payload = u16::try_from(len - 40).ok()?;
                out[at + 4..at + 6].copy_from_slice(&payload.to_be_bytes());
            }
            None => {
                let total = u16::try_from(len).ok()?;
                out[at + 2..at + 4].copy_from_slice(&total.to_be_bytes());
                // Keep don't-fragment; no more fragments, offset 0.
                out[at + 6] &= 0x40;
                out[at + 7] = 0;
                let ihl = (out[at] & 0x0f) as usize * 4;
                ipv4_checksum(&mut out[at..at + ihl]);
            }
        }
        // The tunnels' outer headers now hold more: their lengths follow,
        // or say 0 ("what was captured") when the datagram outgrew them.
        let total = out.len();
        if head.link == LinkType::Nflog {
            // NFLOG's payload TLV holds the packet: its length too.
            nflog_payload_grows(&mut out)?;
        }
        for &o in &head.outer {
            let o = o as usize;
            match out[o] >> 4 {
                4 => {
                    let l = u16::try_from(total - o).unwrap_or(0);
                    out[o + 2..o + 4].copy_from_slice(&l.to_be_bytes());
                    let ihl = (out[o] & 0x0f) as usize * 4;
                    ipv4_checksum(&mut out[o..o + ihl]);
                }
                _ => {
                    let l = u16::try_from(total - o - 40).unwrap_or(0);
                    out[o + 4..o + 6].copy_from_slice(&l.to_be_bytes());
                }
            }
        }
        Some((head.link, out))
    }
}

/// The payload TLV of an NFLOG frame (type 9, little-endian length with
/// its 4-byte header) made to reach the frame's end; None when it cannot
/// say that much.
fn nflog_payload_grows(f: &mut [u8]) -> Option<()> {
    let mut at = 4;
    while at + 4 <= f.len() {
        let len = u16::from_le_bytes([f[at], f[at + 1]]) as usize;
        let kind = u16::from_le_bytes([f[at + 2], f[at + 3]]) & 0x7fff;
        if kind == 9 {
            let grown = u16::try_from(f.len() - at).ok()?;
            f[at..at + 2].copy_from_slice(&grown.to_le_bytes());
            return Some(());
        }
        if len < 4 {
            return None;
        }
        at += (len + 3) & !3;
    }
    None
}

fn ipv4_checksum(h: &mut [u8]) {
    h[10] = 0;
    h[11] = 0;
    let mut sum: u32 = h
        .chunks(2)
        .map(|w| u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// The reassembler of one packet source's owner (see the module's docs).
#[derive(Default)]
pub struct Defrag {
    /// Keyed like the stream table (crafted fragment ids cannot force
    /// collisions), with its cheaper hasher.
    trackers: HashMap<Key, Tracker, KeyHasher>,
    /// Trackers in the order their first fragment came, as (serial, key):
    /// the oldest is given up without searching all of them (a flood of
    /// first fragments made every packet scan 1,024). Entries of trackers
    /// gone since are skipped when met and swept when they pile up.
    arrivals: VecDeque<(u64, Key)>,
    next_serial: u64,
    held: usize,
    next_sweep_ns: u64,
}

impl Defrag {
    pub fn new() -> Defrag {
        Defrag::default()
    }

    /// Datagrams being reassembled.
    pub fn len(&self) -> usize {
        self.trackers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trackers.is_empty()
    }

    /// Takes in a frame that `decode` refused as a fragment and hands each
    /// datagram it completes to `whole`, as a frame with the fragment's
    /// link type and time, decoded. `count` receives the counters.
    pub fn take(
        &mut self,
        pkt: &Packet<'_>,
        opts: &DecodeOptions,
        count: &mut dyn FnMut(Counter, u64),
        whole: &mut dyn FnMut(Packet<'_>, Result<Segment<'_>, DecodeError>),
    ) {
        self.take_admitted(pkt, opts, count, &mut |_| true, whole);
    }

    /// `take`, with each completed datagram first shown to `admit` (the
    /// capture filter, which passed its fragments unjudged): one it
    /// refuses goes no further, and fragments inside it (a tunnel's
    /// packet reassembled around a fragment of what it carries) are not
    /// held.
    pub fn take_admitted(
        &mut self,
        pkt: &Packet<'_>,
        opts: &DecodeOptions,
        count: &mut dyn FnMut(Counter, u64),
        admit: &mut dyn FnMut(&Packet<'_>) -> bool,
        whole: &mut dyn FnMut(Packet<'_>, Result<Segment<'_>, DecodeError>),
    ) {
        let Some((mut link, mut buf)) = self.push(pkt, opts, count) else {
            return;
        };
        // Each round peels at least one IP header off the frame's fragments.
        for _ in 0..MAX_IPS {
            let p = Packet {
                ts_ns: pkt.ts_ns,
                link,
                data: &buf,
            };
            if !admit(&p) {
                return;
            }
            match super::decode(&p, opts) {
                Err(DecodeError::Fragment) => match self.push(&p, opts, count) {
                    Some((l, b)) => (link, buf) = (l, b),
                    None => return,
                },
                r => return whole(p, r),
            }
        }
        count(Counter::DefragInvalid, 1);
    }

    /// One fragment in; the datagram's frame out when it completes it.
    fn push(
        &mut self,
        pkt: &Packet<'_>,
        opts: &DecodeOptions,
        count: &mut dyn FnMut(Counter, u64),
    ) -> Option<(LinkType, Vec<u8>)> {
        self.expire(pkt.ts_ns, count);
        let mut loc = Locate {
            base: pkt.data.as_ptr() as usize,
            ctx: Context::default(),
            ips: [0; MAX_IPS],
            n: 0,
        };
        let located = matches!(walk(pkt, opts, &mut loc), Err(DecodeError::Fragment));
        let piece = (located && (1..=MAX_IPS).contains(&loc.n))
            .then(|| loc.ips[loc.n - 1] as usize)
            .and_then(|at| Some((at, ip::fragment(&pkt.data[at..])?)));
        let Some((ip_at, f)) = piece else {
            count(Counter::DefragInvalid, 1);
            return None;
        };
        count(Counter::DefragFragments, 1);
        let key = Key {
            ctx: loc.ctx.id,
            src: f.src,
            dst: f.dst,
            proto: f.proto,
            id: f.id,
        };
        let (s, mut e) = (f.offset, f.offset + f.data.len());
        // The header's share of the length field (IPv6's counts only the
        // extension headers).
        let header = f.head_len - if f.v6_next.is_some() { 40 } else { 0 };
        if header + e > MAX_DATAGRAM {
            // No datagram reaches past 65,535 bytes: this one is forged
            // or broken, and dropped with what was held of it.
            if let Some(t) = self.trackers.remove(&key) {
                self.held -= t.held();
            }
            count(Counter::DefragInvalid, 1);
            return None;
        }
        if !self.trackers.contains_key(&key) {
            self.make_room(count);
            let serial = self.next_serial;
            self.next_serial += 1;
            self.sweep_arrivals();
            self.arrivals.push_back((serial, key));
            self.trackers.insert(
                key,
                Tracker {
                    first_ns: pkt.ts_ns,
                    serial,
                    head: None,
                    data: Vec::new(),
                    have: Vec::new(),
                    end: None,
                },
            );
        }
        let t = self.trackers.get_mut(&key).expect("inserted above");
        let before = t.held();
        let mut conflict = false;
        if s == 0 && t.head.is_none() {
            t.head = Some(Head {
                link: pkt.link,
                bytes: pkt.data[..ip_at + f.head_len].to_vec(),
                ip_at,
                v6_next: f.v6_next,
                outer: loc.ips[..loc.n - 1].to_vec(),
            });
        }
        match t.end {
            Some(end) => {
                // Known length: a second, different end is a conflict, as
                // are bytes beyond it (dropped).
                if (!f.more && e as u32 != end) || e as u32 > end {
                    conflict = true;
                }
                e = e.min(end as usize);
            }
            None if !f.more => {
                if t.have.last().is_some_and(|r| r.1 as usize > e) {
                    // Bytes beyond this end came first: they stand.
                    conflict = true;
                } else {
                    t.end = Some(e as u32);
                }
            }
            None => {}
        }
        if s < e {
            conflict |= t.fill(s as u32, e as u32, &f.data[..e - s]);
        }
        if conflict {
            count(Counter::DefragOverlapConflicts, 1);
        }
        let after = t.held();
        let complete = t.complete();
        self.held = self.held - before + after;
        if !complete {
            // Growing datagrams count against the limit too.
            while self.held > MAX_HELD_BYTES && self.evict_oldest(Some(&key), count) {}
            return None;
        }
        let t = self.trackers.remove(&key).expect("present");
        self.held -= t.held();
        match t.frame() {
            Some(frame) => {
                count(Counter::DefragReassembled, 1);
                Some(frame)
            }
            None => {
                count(Counter::DefragInvalid, 1);
                None
            }
        }
    }

    /// Before a new datagram is tracked: the oldest ones are given up
    /// while the limits are reached.
    fn make_room(&mut self, count: &mut dyn FnMut(Counter, u64)) {
        while (self.trackers.len() >= MAX_TRACKERS || self.held >= MAX_HELD_BYTES)
            && self.evict_oldest(None, count)
        {}
    }

    /// Gives up the datagram whose first fragment came first (`except`
    /// aside); false when there is none.
    fn evict_oldest(&mut self, except: Option<&Key>, count: &mut dyn FnMut(Counter, u64)) -> bool {
        let mut spared = None;
        let mut evicted = false;
        while let Some((serial, key)) = self.arrivals.pop_front() {
            if self.trackers.get(&key).is_none_or(|t| t.serial != serial) {
                continue; // completed or given up since
            }
            if Some(&key) == except {
                spared = Some((serial, key));
                continue;
            }
            if let Some(t) = self.trackers.remove(&key) {
                self.held -= t.held();
                count(Counter::DefragEvicted, 1);
                evicted = true;
            }
            break;
        }
        if let Some(entry) = spared {
            self.arrivals.push_front(entry);
        }
        evicted
    }

    /// Drops the arrival entries of trackers gone since, once they are
    /// most of the queue (each live tracker has one): O(1) a tracker.
    fn sweep_arrivals(&mut self) {
        if self.arrivals.len() > 2 * self.trackers.len().max(MAX_TRACKERS) {
            let trackers = &self.trackers;
            self.arrivals
                .retain(|(serial, key)| trackers.get(key).is_some_and(|t| t.serial == *serial));
        }
    }

    /// Gives up the datagrams whose time is out, at most once a second of
    /// capture time.
    pub fn expire(&mut self, now_ns: u64, count: &mut dyn FnMut(Counter, u64)) {
        if now_ns < self.next_sweep_ns || self.trackers.is_empty() {
            return;
        }
        self.next_sweep_ns = now_ns.saturating_add(SWEEP_EVERY_NS);
        let mut gone = 0;
        let mut freed = 0;
        self.trackers.retain(|_, t| {
            let keep = now_ns < t.first_ns.saturating_add(TIMEOUT_NS);
            if !keep {
                gone += 1;
                freed += t.held();
            }
            keep
        });
        self.held -= freed;
        if gone > 0 {
            count(Counter::DefragTimeouts, gone);
        }
    }

    /// For tests and fuzzing: what is held is what the datagrams hold,
    /// within the limits.
    #[doc(hidden)]
    pub fn assert_consistent(&self) {
        let held: usize = self.trackers.values().map(Tracker::held).sum();
        assert_eq!(held, self.held);
        assert!(self.trackers.len() <= MAX_TRACKERS);
        // Each tracker has its one arrival entry; stale ones are bounded.
        let live = self
            .arrivals
            .iter()
            .filter(|(serial, key)| self.trackers.get(key).is_some_and(|t| t.serial == *serial));
        assert_eq!(live.count(), self.trackers.len());
        assert!(self.arrivals.len() <= 2 * MAX_TRACKERS + 1);
        for t in self.trackers.values() {
            assert!(t.have.windows(2).all(|w| w[0].1 < w[1].0));
            assert!(t
                .have
                .iter()
                .all(|r| r.0 < r.1 && r.1 as usize <= t.data.len()));
        }
    }

    /// End of the input: what is still incomplete is given up.
    pub fn finish(&mut self, count: &mut dyn FnMut(Counter, u64)) {
        let n = self.trackers.len() as u64;
        self.trackers.clear();
        self.arrivals.clear();
        self.held = 0;
        if n > 0 {
            count(Counter::DefragTimeouts, n);
        }
    }
}

/// Builds fragments, for tests and fuzzing: cuts an IP packet (IPv4, or
/// IPv6 without extension headers) into fragments with identification
/// `id`, as a router would: the payload's pieces start at 0 and at each of
/// `cuts` (multiples of 8, ascending); IPv6 fragments get a Fragment header
/// after the fixed header.
pub fn fragments(packet: &[u8], id: u32, cuts: &[usize]) -> Vec<Vec<u8>> {
    let v6 = packet[0] >> 4 == 6;
    let hl = if v6 {
        40
    } else {
        (packet[0] & 0x0f) as usize * 4
    };
    let payload = &packet[hl..];
    let mut starts = vec![0];
    starts.extend_from_slice(cuts);
    let ends: Vec<usize> = cuts.iter().copied().chain([payload.len()]).collect();
    starts
        .iter()
        .zip(&ends)
        .map(|(&a, &b)| {
            let more = b < payload.len();
            let mut f = packet[..hl].to_vec();
            if v6 {
                f[6] = 44;
                f[4..6].copy_from_slice(&((8 + b - a) as u16).to_be_bytes());
                f.extend_from_slice(&[packet[6], 0]);
                f.extend_from_slice(&(a as u16 | more as u16).to_be_bytes());
                f.extend_from_slice(&id.to_be_bytes());
            } else {
                f[2..4].copy_from_slice(&((hl + b - a) as u16).to_be_bytes());
                f[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                let field = (a / 8) as u16 | if more { 0x2000 } else { 0 };
                f[6..8].copy_from_slice(&field.to_be_bytes());
            }
            f.extend_from_slice(&payload[a..b]);
            f
        })
        .collect()
}

#[cfg(test)]
mod tests;
