//! Reassembly tests: one direction's stream is cut into segments, which
//! are then shuffled, duplicated and overlapped; the consumer must see the
//! same bytes every time.

use proptest::prelude::*;

use super::*;

const MAX: usize = 1 << 20;

/// Records what the stream hands on.
#[derive(Default, Debug)]
struct Sink {
    data: Vec<u8>,
    gaps: Vec<u64>,
    fin: bool,
}

impl StreamConsumer for Sink {
    fn on_data(&mut self, data: &[u8], _ts_ns: u64) {
        assert!(!self.fin, "data after FIN");
        self.data.extend_from_slice(data);
    }
    fn on_gap(&mut self, len: u64, _ts_ns: u64) {
        self.gaps.push(len);
    }
    fn on_fin(&mut self, _ts_ns: u64) {
        assert!(!self.fin, "FIN twice");
        self.fin = true;
    }
}

/// A segment as the shard hands it over.
fn seg(seq: u32, syn: bool, fin: bool, payload: &[u8], ts_ns: u64) -> TcpSegment<'_> {
    TcpSegment {
        seq: SeqNumber(seq),
        syn,
        fin,
        payload,
        ts_ns,
    }
}

struct Seg {
    seq: u32,
    syn: bool,
    fin: bool,
    data: Vec<u8>,
}

fn feed(h: &mut HalfStream, segs: &[Seg], stats: &ShardStats, sink: &mut Sink) {
    for (i, s) in segs.iter().enumerate() {
        h.segment(
            seg(s.seq, s.syn, s.fin, &s.data, i as u64),
            MAX,
            stats,
            sink,
        );
    }
}

/// Cuts `stream` (starting right after an ISN) at `cuts`.
fn segments(isn: u32, stream: &[u8], cuts: &[usize]) -> Vec<Seg> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort();
    points.dedup();
    points
        .windows(2)
        .map(|w| Seg {
            seq: isn.wrapping_add(1).wrapping_add(w[0] as u32),
            syn: false,
            fin: false,
            data: stream[w[0]..w[1]].to_vec(),
        })
        .collect()
}

fn syn(isn: u32) -> Seg {
    Seg {
        seq: isn,
        syn: true,
        fin: false,
        data: Vec::new(),
    }
}

fn fin(isn: u32, len: usize) -> Seg {
    Seg {
        seq: isn.wrapping_add(1).wrapping_add(len as u32),
        syn: false,
        fin: true,
        data: Vec::new(),
    }
}

#[test]
fn in_order_stream_with_fin() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    let mut segs = vec![syn(100)];
    segs.extend(segments(100, b"hello world", &[5]));
    segs.push(fin(100, 11));
    feed(&mut h, &segs, &stats, &mut sink);
    assert_eq!(sink.data, b"hello world");
    assert!(sink.fin && h.is_finished());
    assert!(!h.midstream);
}

#[test]
fn sequence_numbers_wrap() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    let isn = u32::MAX - 3;
    let mut segs = vec![syn(isn)];
    let mut parts = segments(isn, b"across the wrap", &[2, 7]);
    parts.reverse();
    segs.extend(parts);
    feed(&mut h, &segs, &stats, &mut sink);
    assert_eq!(sink.data, b"across the wrap");
    assert!(sink.gaps.is_empty());
}

#[test]
fn overlap_conflict_first_copy_wins() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    let isn = 0;
    let segs = vec![
        syn(isn),
        // Ahead of a hole: buffered.
        Seg {
            seq: 6,
            syn: false,
            fin: false,
            data: b"WORLD".to_vec(),
        },
        // A different copy of the same bytes: ignored, counted.
        Seg {
            seq: 6,
            syn: false,
            fin: false,
            data: b"xxxxx".to_vec(),
        },
        Seg {
            seq: 1,
            syn: false,
            fin: false,
            data: b"hello".to_vec(),
        },
        // A retransmission overlapping delivered data with new bytes after it.
        Seg {
            seq: 9,
            syn: false,
            fin: false,
            data: b"LD!".to_vec(),
        },
    ];
    feed(&mut h, &segs, &stats, &mut sink);
    assert_eq!(sink.data, b"helloWORLD!");
    assert_eq!(stats.get(Counter::TcpOverlapConflicts), 1);
}

/// A copy of bytes all held already but different is a conflict, not a
/// retransmission (README: Reassembly); an identical copy is a
/// retransmission only.
#[test]
fn a_differing_full_copy_counts_as_a_conflict_not_a_retransmission() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    let segs = vec![
        syn(0),
        // Behind a hole (bytes 1..6 missing): held.
        Seg {
            seq: 6,
            syn: false,
            fin: false,
            data: b"WORLD".to_vec(),
        },
        // Every byte seen, some different.
        Seg {
            seq: 6,
            syn: false,
            fin: false,
            data: b"WORxD".to_vec(),
        },
        // Every byte seen, all the same.
        Seg {
            seq: 6,
            syn: false,
            fin: false,
            data: b"WORLD".to_vec(),
        },
        Seg {
            seq: 1,
            syn: false,
            fin: false,
            data: b"hello".to_vec(),
        },
    ];
    feed(&mut h, &segs, &stats, &mut sink);
    assert_eq!(sink.data, b"helloWORLD");
    assert_eq!(stats.get(Counter::TcpOverlapConflicts), 1);
    assert_eq!(stats.get(Counter::TcpRetransmits), 1);
}

#[test]
fn hole_is_skipped_and_reported() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    let segs = vec![
        syn(0),
        Seg {
            seq: 1,
            syn: false,
            fin: false,
            data: b"abc".to_vec(),
        },
        // Bytes 4..10 never arrive.
        Seg {
            seq: 10,
            syn: false,
            fin: false,
            data: b"xyz".to_vec(),
        },
    ];
    feed(&mut h, &segs, &stats, &mut sink);
    assert_eq!(sink.data, b"abc");
    assert_eq!(h.buffered_bytes(), 3 + SEGMENT_OVERHEAD);
    // Not old enough yet.
    h.flush_aged(5, 10, &stats, &mut sink);
    assert!(sink.gaps.is_empty());
    h.flush_aged(100, 10, &stats, &mut sink);
    assert_eq!(sink.gaps, vec![6]);
    assert_eq!(sink.data, b"abcxyz");
    assert_eq!(stats.get(Counter::TcpGaps), 1);
    assert_eq!(stats.get(Counter::TcpGapBytes), 6);
    assert_eq!(h.buffered_bytes(), 0);
}

#[test]
fn buffer_cap_forces_the_hole_out() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    let cap = 8 + SEGMENT_OVERHEAD;
    h.segment(seg(0, true, false, b"", 0), cap, &stats, &mut sink);
    h.segment(seg(11, false, false, b"12345", 1), cap, &stats, &mut sink);
    // A second out-of-order segment would exceed the cap.
    h.segment(seg(21, false, false, b"67890", 2), cap, &stats, &mut sink);
    assert_eq!(sink.gaps.first(), Some(&10));
    assert!(sink.data.starts_with(b"12345"));
    assert!(h.buffered_bytes() <= cap);
}

#[test]
fn fin_behind_a_hole_waits_then_closes_with_gap() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    h.segment(seg(0, true, false, b"", 0), MAX, &stats, &mut sink);
    h.segment(seg(1, false, false, b"ab", 1), MAX, &stats, &mut sink);
    h.segment(seg(10, false, true, b"", 2), MAX, &stats, &mut sink);
    assert!(!sink.fin);
    h.close(3, &stats, &mut sink);
    assert!(sink.fin);
    assert_eq!(sink.gaps, vec![7]);
}

/// Found by the `reassembly` fuzz target: a segment past the FIN that
/// overflows the buffer forces the hole out, which reaches the FIN; the
/// segment must then be dropped, not delivered or buffered after it (a
/// later close reported a gap after the FIN).
#[test]
fn bytes_past_the_fin_that_force_the_hole_out_are_dropped() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    let cap = 8 + SEGMENT_OVERHEAD;
    h.segment(seg(99, true, false, b"", 0), cap, &stats, &mut sink);
    // Bytes 4..8 with the FIN after them, ahead of a hole at 0..4.
    h.segment(seg(104, false, true, b"efgh", 1), cap, &stats, &mut sink);
    // Bytes past the FIN that do not fit the buffer: the hole is skipped,
    // the FIN reached.
    h.segment(
        seg(110, false, false, b"0123456", 2),
        cap,
        &stats,
        &mut sink,
    );
    assert!(sink.fin);
    assert_eq!(sink.data, b"efgh");
    assert_eq!(sink.gaps, [4]);
    assert_eq!(h.buffered_bytes(), 0);
    h.close(3, &stats, &mut sink);
    assert_eq!(sink.gaps, [4], "a gap after the FIN");
}

#[test]
fn midstream_pickup_starts_at_first_payload() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    // A bare ACK says nothing; the first payload sets the start.
    h.segment(seg(500, false, false, b"", 0), MAX, &stats, &mut sink);
    assert!(!h.is_synced());
    h.segment(seg(500, false, false, b"data", 1), MAX, &stats, &mut sink);
    h.segment(seg(504, false, false, b"more", 2), MAX, &stats, &mut sink);
    assert!(h.midstream);
    assert_eq!(sink.data, b"datamore");
}

#[test]
fn far_future_segment_is_dropped_and_counted() {
    let stats = ShardStats::default();
    let mut h = HalfStream::default();
    let mut sink = Sink::default();
    h.segment(seg(0, true, false, b"", 0), MAX, &stats, &mut sink);
    h.segment(
        seg(1 << 31, false, false, b"junk", 1),
        MAX,
        &stats,
        &mut sink,
    );
    assert_eq!(h.buffered_bytes(), 0);
    assert!(sink.data.is_empty());
}

proptest! {
    // Whatever the order, duplication and overlap of segments, the stream
    // delivered is the stream sent, with no gap and a single FIN.
    #[test]
    fn any_order_same_stream(
        stream in proptest::collection::vec(any::<u8>(), 1..2000),
        cuts in proptest::collection::vec(0usize..4000, 0..20),
        isn: u32,
        order in proptest::collection::vec(any::<u32>(), 0..40),
        dups in proptest::collection::vec((0usize..4000, 1usize..300), 0..8),
    ) {
        let mut segs = segments(isn, &stream, &cuts);
        // Overlapping retransmissions carrying the same bytes.
        for (start, len) in dups {
            let s = start % stream.len();
            let e = (s + len).min(stream.len());
            segs.push(Seg {
                seq: isn.wrapping_add(1).wrapping_add(s as u32),
                syn: false,
                fin: false,
                data: stream[s..e].to_vec(),
            });
        }
        segs.push(fin(isn, stream.len()));
        // Shuffle deterministically from `order`.
        for (i, r) in order.iter().enumerate() {
            let a = i % segs.len();
            let b = *r as usize % segs.len();
            segs.swap(a, b);
        }
        let mut all = vec![syn(isn)];
        all.extend(segs);
        let stats = ShardStats::default();
        let mut h = HalfStream::default();
        let mut sink = Sink::default();
        feed(&mut h, &all, &stats, &mut sink);
        prop_assert_eq!(&sink.data, &stream);
        prop_assert!(sink.gaps.is_empty());
        prop_assert!(sink.fin);
        prop_assert_eq!(h.buffered_bytes(), 0);
        prop_assert_eq!(stats.get(Counter::TcpOverlapConflicts), 0);
    }

    // With segments lost, closing delivers every byte that was captured,
    // in order, and the gaps add up to what was lost.
    #[test]
    fn losses_are_reported_as_gaps(
        stream in proptest::collection::vec(any::<u8>(), 1..1000),
        cuts in proptest::collection::vec(0usize..2000, 1..12),
        lose in proptest::collection::vec(any::<bool>(), 12),
        reverse: bool,
    ) {
        let segs = segments(7, &stream, &cuts);
        let mut kept = Vec::new();
        let mut expect = Vec::new();
        let mut lost = 0u64;
        let n = segs.len();
        for (i, s) in segs.into_iter().enumerate() {
            // Never lose the last segment: a lost tail is not a hole.
            if lose[i % lose.len()] && i + 1 < n {
                lost += s.data.len() as u64;
            } else {
                expect.extend_from_slice(&s.data);
                kept.push(s);
            }
        }
        if reverse {
            kept.reverse();
        }
        let mut all = vec![syn(7)];
        all.extend(kept);
        let stats = ShardStats::default();
        let mut h = HalfStream::default();
        let mut sink = Sink::default();
        feed(&mut h, &all, &stats, &mut sink);
        h.close(1_000, &stats, &mut sink);
        prop_assert_eq!(&sink.data, &expect);
        prop_assert_eq!(sink.gaps.iter().sum::<u64>(), lost);
    }
}

/// One-byte segments each behind a one-byte hole: what they hold is
/// charged with SEGMENT_OVERHEAD, so the cap bounds their number, and
/// the bytes that fit are all delivered, with every hole reported.
#[test]
fn tiny_segments_are_charged_their_overhead() {
    let cap = 100 * (1 + SEGMENT_OVERHEAD);
    let stats = ShardStats::default();
    let mut sink = Sink::default();
    let mut h = HalfStream::default();
    h.segment(seg(0, true, false, b"", 0), cap, &stats, &mut sink);
    for i in 0..1000u32 {
        let byte = [b'a' + (i % 26) as u8];
        h.segment(
            seg(2 + 2 * i, false, false, &byte, 1),
            cap,
            &stats,
            &mut sink,
        );
        assert!(h.buffered_bytes() <= cap);
    }
    h.flush_aged(u64::MAX, 1, &stats, &mut sink);
    assert_eq!(h.buffered_bytes(), 0);
    let expect: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    // The cap skipped holes to make room: nothing was dropped.
    assert_eq!(sink.data, expect);
    assert_eq!(sink.gaps, vec![1; 1000]);
    assert_eq!(stats.get(Counter::TcpBufferDrops), 0);
}

/// Aged data behind many holes is flushed in one call.
#[test]
fn flush_aged_skips_every_hole_before_aged_data() {
    let stats = ShardStats::default();
    let mut sink = Sink::default();
    let mut h = HalfStream::default();
    h.segment(seg(0, true, false, b"", 0), MAX, &stats, &mut sink);
    for i in 0..50u32 {
        h.segment(
            seg(2 + 2 * i, false, false, b"x", 10),
            MAX,
            &stats,
            &mut sink,
        );
    }
    // Newer data past another hole waits.
    h.segment(seg(200, false, false, b"yy", 1_000), MAX, &stats, &mut sink);
    h.flush_aged(500, 100, &stats, &mut sink);
    assert_eq!(sink.data, vec![b'x'; 50]);
    assert_eq!(sink.gaps, vec![1; 50]);
    assert_eq!(h.buffered_bytes(), 2 + SEGMENT_OVERHEAD);
    h.flush_aged(1_100, 100, &stats, &mut sink);
    assert!(sink.data.ends_with(b"yy"));
    assert_eq!(h.buffered_bytes(), 0);
}
