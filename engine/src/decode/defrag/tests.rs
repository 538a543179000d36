//! The reassembler on frames built here: orders, overlaps, losses,
//! limits, and fragments outside and inside tunnels.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::capture::testpkt::{ether, fragments, ip, tcp, udp, vlan};
use crate::decode::{decode, describe};

const SEC: u64 = 1_000_000_000;

fn v4() -> (IpAddr, IpAddr) {
    (
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)),
    )
}

fn v6() -> (IpAddr, IpAddr) {
    (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    )
}

/// A request of `n` bytes: "GET /" and filler.
fn body(n: usize) -> Vec<u8> {
    let mut b = b"GET /".to_vec();
    b.extend((0..n - 5).map(|i| b'a' + (i % 26) as u8));
    b
}

/// An IP packet carrying one TCP segment of `payload`, ports 40000 to 80.
fn packet((src, dst): (IpAddr, IpAddr), payload: &[u8]) -> Vec<u8> {
    let mut p = ip(src, dst, 6, &tcp(40000, 80, payload));
    if src.is_ipv4() {
        // No don't-fragment on a packet about to be cut.
        p[6] = 0;
    }
    p
}

/// Counters as they were counted.
#[derive(Default)]
struct Counts(Vec<(Counter, u64)>);

impl Counts {
    fn get(&self, c: Counter) -> u64 {
        self.0.iter().filter(|(k, _)| *k == c).map(|(_, n)| n).sum()
    }
}

/// Feeds frames (each with its time) and returns the frames completed,
/// with their decoded payloads.
struct Rig {
    d: Defrag,
    counts: Counts,
    link: LinkType,
}

impl Rig {
    fn new(link: LinkType) -> Rig {
        Rig {
            d: Defrag::new(),
            counts: Counts::default(),
            link,
        }
    }

    /// One frame: the whole frames it completed, as (frame, decoded
    /// segment's payload, context).
    fn feed(&mut self, ts_ns: u64, frame: &[u8]) -> Vec<(Vec<u8>, Vec<u8>, u64)> {
        let pkt = Packet {
            ts_ns,
            link: self.link,
            data: frame,
        };
        let opts = DecodeOptions::default();
        assert_eq!(decode(&pkt, &opts).err(), Some(DecodeError::Fragment));
        let mut out = Vec::new();
        let counts = &mut self.counts;
        self.d.take(
            &pkt,
            &opts,
            &mut |c, n| counts.0.push((c, n)),
            &mut |p, seg| {
                assert_eq!(p.ts_ns, ts_ns);
                let s = seg.expect("the datagram decodes");
                out.push((p.data.to_vec(), s.payload.to_vec(), s.ctx));
            },
        );
        out
    }

    fn count(&self, c: Counter) -> u64 {
        self.counts.get(c)
    }
}

#[test]
fn ipv4_in_order_and_reversed() {
    let whole = packet(v4(), &body(3000));
    let frags = fragments(&whole, 7, &[1000, 2000]);
    assert_eq!(frags.len(), 3);
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let mut r = Rig::new(LinkType::RawIp);
        let mut done = Vec::new();
        for (i, &k) in order.iter().enumerate() {
            done.extend(r.feed(i as u64 + 1, &frags[k]));
        }
        assert_eq!(done.len(), 1, "order {order:?}");
        let (frame, payload, ctx) = &done[0];
        // The same packet as unfragmented (with the fragments' id, and
        // its checksum filled in).
        assert_eq!(frame[..4], whole[..4]);
        assert_eq!(frame[4..6], [0, 7]);
        assert_eq!(frame[6..10], whole[6..10]);
        assert_eq!(frame[12..], whole[12..]);
        assert_eq!(payload, &body(3000));
        assert_eq!(*ctx, 0);
        assert_eq!(r.count(Counter::DefragFragments), 3);
        assert_eq!(r.count(Counter::DefragReassembled), 1);
        assert_eq!(r.count(Counter::DefragOverlapConflicts), 0);
        assert!(r.d.is_empty());
        assert_eq!(r.d.held, 0);
    }
}

#[test]
fn ipv6_with_an_extension_header_before_the_fragment_header() {
    let whole = packet(v6(), &body(2500));
    let frags = fragments(&whole, 0xdead_beef, &[1200]);
    // Put a Hop-by-Hop header (8 bytes) in front of each Fragment header.
    let frags: Vec<Vec<u8>> = frags
        .into_iter()
        .map(|f| {
            let mut g = f[..40].to_vec();
            g[6] = 0;
            let plen = u16::from_be_bytes([f[4], f[5]]) + 8;
            g[4..6].copy_from_slice(&plen.to_be_bytes());
            g.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]);
            g.extend_from_slice(&f[40..]);
            g
        })
        .collect();
    let mut r = Rig::new(LinkType::Ethernet);
    assert!(r.feed(1, &ether(0x86dd, &frags[1])).is_empty());
    let done = r.feed(2, &ether(0x86dd, &frags[0]));
    assert_eq!(done.len(), 1);
    let (frame, payload, _) = &done[0];
    assert_eq!(payload, &body(2500));
    // Hop-by-Hop now names TCP, and the payload length counts it.
    let ip6 = &frame[14..];
    assert_eq!(ip6[6], 0);
    assert_eq!(ip6[40], 6);
    assert_eq!(
        u16::from_be_bytes([ip6[4], ip6[5]]) as usize,
        ip6.len() - 40
    );
}

#[test]
fn nflog_frames_get_their_payload_tlv_grown() {
    let whole = packet(v4(), &body(2000));
    let nflog = |ip: &[u8]| {
        let mut f = vec![2, 0, 0, 0];
        // A prefix TLV (type 10) of 5 bytes, padded to 8, then the payload.
        f.extend_from_slice(&9u16.to_le_bytes());
        f.extend_from_slice(&10u16.to_le_bytes());
        f.extend_from_slice(b"abcde\0\0\0");
        f.extend_from_slice(&((4 + ip.len()) as u16).to_le_bytes());
        f.extend_from_slice(&9u16.to_le_bytes());
        f.extend_from_slice(ip);
        f
    };
    let frags = fragments(&whole, 4, &[1000]);
    let mut r = Rig::new(LinkType::Nflog);
    assert!(r.feed(1, &nflog(&frags[0])).is_empty());
    let done = r.feed(2, &nflog(&frags[1]));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].1, body(2000));
}

#[test]
fn overlaps_keep_the_first_copy_and_count_differences() {
    let whole = packet(v4(), &body(2400));
    let frags = fragments(&whole, 9, &[800, 1600]);
    // A copy of the middle piece from 8 bytes earlier, with its bytes
    // changed: it overlaps the first piece and covers the second.
    let mut forged = fragments(&whole, 9, &[792, 1600])[1].clone();
    let n = forged.len();
    for b in &mut forged[20..n] {
        *b = b'X';
    }
    // Identical duplicate first: no conflict.
    let mut r = Rig::new(LinkType::RawIp);
    assert!(r.feed(1, &frags[0]).is_empty());
    assert!(r.feed(2, &frags[0]).is_empty());
    assert_eq!(r.count(Counter::DefragOverlapConflicts), 0);
    assert!(r.feed(3, &frags[1]).is_empty());
    assert!(r.feed(4, &forged).is_empty());
    assert_eq!(r.count(Counter::DefragOverlapConflicts), 1);
    let done = r.feed(5, &frags[2]);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].1, body(2400), "the first copy stands");

    // The forged copy first: it wins where it came first, and the true
    // pieces that overlap it are the conflicts.
    let mut r = Rig::new(LinkType::RawIp);
    assert!(r.feed(1, &forged).is_empty());
    assert!(r.feed(2, &frags[0]).is_empty());
    assert!(r.feed(3, &frags[1]).is_empty());
    let done = r.feed(4, &frags[2]);
    assert_eq!(r.count(Counter::DefragOverlapConflicts), 2);
    assert_eq!(done.len(), 1);
    let p = &done[0].1;
    assert_eq!(p[..772], body(2400)[..772]);
    assert!(p[772..1580].iter().all(|&b| b == b'X'));
    assert_eq!(p[1580..], body(2400)[1580..]);
}

#[test]
fn a_missing_fragment_completes_nothing_and_is_counted() {
    let whole = packet(v4(), &body(3000));
    let frags = fragments(&whole, 11, &[1000, 2000]);
    let mut r = Rig::new(LinkType::RawIp);
    assert!(r.feed(1, &frags[0]).is_empty());
    assert!(r.feed(2, &frags[2]).is_empty());
    assert_eq!(r.d.len(), 1);
    let counts = &mut r.counts;
    r.d.finish(&mut |c, n| counts.0.push((c, n)));
    assert_eq!(r.count(Counter::DefragTimeouts), 1);
    assert_eq!(r.count(Counter::DefragReassembled), 0);
    assert!(r.d.is_empty());
}

#[test]
fn datagrams_time_out_in_capture_time() {
    let a = fragments(&packet(v4(), &body(2000)), 1, &[1000]);
    let b = fragments(&packet(v4(), &body(2000)), 2, &[1000]);
    let mut r = Rig::new(LinkType::RawIp);
    assert!(r.feed(10 * SEC, &a[0]).is_empty());
    assert!(r.feed(20 * SEC, &b[0]).is_empty());
    // 30 s after a's first fragment: a is given up, b is not.
    assert!(r.feed(40 * SEC, &a[1]).is_empty());
    assert_eq!(r.count(Counter::DefragTimeouts), 1);
    // a's last fragment started a new datagram, which stays incomplete.
    assert_eq!(r.d.len(), 2);
    assert_eq!(r.feed(41 * SEC, &b[1]).len(), 1);
}

#[test]
fn the_tracker_limit_gives_up_the_oldest() {
    let mut r = Rig::new(LinkType::RawIp);
    let whole = packet(v4(), &body(1000));
    for id in 0..=MAX_TRACKERS as u32 {
        let f = fragments(&whole, id, &[504]);
        assert!(r.feed(SEC + id as u64, &f[0]).is_empty());
    }
    assert_eq!(r.count(Counter::DefragEvicted), 1);
    assert_eq!(r.d.len(), MAX_TRACKERS);
    // Id 1 is still there and completes; id 0 was the oldest: its
    // second half starts over.
    let f1 = fragments(&whole, 1, &[504]);
    assert_eq!(r.feed(2 * SEC, &f1[1]).len(), 1);
    let f0 = fragments(&whole, 0, &[504]);
    assert!(r.feed(2 * SEC, &f0[1]).is_empty());
    assert_eq!(r.count(Counter::DefragEvicted), 1);
}

#[test]
fn the_byte_limit_holds_while_datagrams_grow() {
    // Small first fragments, then for each a far piece that makes it hold
    // ~64 KiB: 400 of them would hold 25 MiB.
    let mut r = Rig::new(LinkType::RawIp);
    let whole = packet(v4(), &body(1000));
    for id in 0..400u32 {
        let f = fragments(&whole, id, &[504]);
        assert!(r.feed(SEC, &f[0]).is_empty());
    }
    for id in 0..400u32 {
        let mut far = fragments(&whole, id, &[504])[1].clone();
        far[6..8].copy_from_slice(&(0x2000u16 | (64_000u16 / 8)).to_be_bytes());
        assert!(r.feed(2 * SEC, &far).is_empty());
        assert!(r.d.held <= MAX_HELD_BYTES, "{}", r.d.held);
    }
    assert!(r.count(Counter::DefragEvicted) > 100);
    let held: usize = r.d.trackers.values().map(|t| t.held()).sum();
    assert_eq!(held, r.d.held);
}

#[test]
fn datagrams_past_65535_bytes_are_refused() {
    let whole = packet(v4(), &body(1000));
    let mut f = fragments(&whole, 3, &[504])[1].clone();
    // Offset 65,528 with ~500 bytes: past the largest datagram.
    f[6..8].copy_from_slice(&(65_528u16 / 8).to_be_bytes());
    let mut r = Rig::new(LinkType::RawIp);
    assert!(r.feed(1, &f).is_empty());
    assert_eq!(r.count(Counter::DefragInvalid), 1);
    assert!(r.d.is_empty());
}

#[test]
fn a_fragment_cut_short_by_the_capture_is_invalid() {
    let whole = packet(v4(), &body(2000));
    let f = fragments(&whole, 3, &[1000]);
    let mut r = Rig::new(LinkType::RawIp);
    assert!(r.feed(1, &f[0][..500]).is_empty());
    assert_eq!(r.count(Counter::DefragInvalid), 1);
    assert_eq!(r.count(Counter::DefragFragments), 0);
}

/// An inner packet in VXLAN (VNI 42) inside a VLAN-tagged frame.
fn in_vxlan(inner_ip: &[u8], outer_ip_frag: Option<(u16, u16)>) -> Vec<u8> {
    let inner = ether(0x0800, inner_ip);
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(&inner);
    let mut outer = ip(
        IpAddr::V4(Ipv4Addr::new(192, 168, 9, 1)),
        IpAddr::V4(Ipv4Addr::new(192, 168, 9, 2)),
        17,
        &udp(50000, 4789, &vx),
    );
    if let Some((id, field)) = outer_ip_frag {
        outer[4..6].copy_from_slice(&id.to_be_bytes());
        outer[6..8].copy_from_slice(&field.to_be_bytes());
    }
    let (t, tagged) = vlan(0x8100, 30, 0x0800, &outer);
    ether(t, &tagged)
}

#[test]
fn inner_fragments_in_a_tunnel_keep_its_context() {
    let whole = packet(v4(), &body(3000));
    let unfragmented = in_vxlan(&whole, None);
    let want_ctx = decode(
        &Packet {
            ts_ns: 1,
            link: LinkType::Ethernet,
            data: &unfragmented,
        },
        &DecodeOptions::default(),
    )
    .unwrap()
    .ctx;
    assert_ne!(want_ctx, 0);
    let frags = fragments(&whole, 5, &[1400]);
    let mut r = Rig::new(LinkType::Ethernet);
    assert!(r.feed(1, &in_vxlan(&frags[1], None)).is_empty());
    // The same fragment behind another VNI is another datagram.
    let mut other = in_vxlan(&frags[0], None);
    let vni_at = 14 + 4 + 20 + 8 + 6;
    other[vni_at] = 43;
    assert!(r.feed(2, &other).is_empty());
    let done = r.feed(3, &in_vxlan(&frags[0], None));
    assert_eq!(done.len(), 1);
    let (frame, payload, ctx) = &done[0];
    assert_eq!(payload, &body(3000));
    assert_eq!(*ctx, want_ctx);
    // The outer lengths grew with the datagram: the frame is the
    // unfragmented one (checksums aside), and describes the same way.
    assert_eq!(frame.len(), unfragmented.len());
    let p = Packet {
        ts_ns: 3,
        link: LinkType::Ethernet,
        data: frame,
    };
    let q = Packet {
        data: &unfragmented,
        ..p
    };
    let opts = DecodeOptions::default();
    assert_eq!(describe(&p, &opts), describe(&q, &opts));
    assert_eq!(r.d.len(), 1, "the other VNI's fragment waits");
}

#[test]
fn outer_fragments_of_a_tunnel_then_inner_ones() {
    // The inner packet is itself cut in two, and each inner fragment's
    // VXLAN frame is cut in two again on the outer IP header.
    let whole = packet(v4(), &body(3000));
    let inner = fragments(&whole, 21, &[1480]);
    let mut r = Rig::new(LinkType::Ethernet);
    let mut done = Vec::new();
    for (n, frag) in inner.iter().enumerate().rev() {
        let frame = in_vxlan(frag, None);
        // The outer IPv4 header starts after Ethernet and the tag.
        let outer = &frame[18..];
        for (k, piece) in fragments(outer, 100 + n as u32, &[800])
            .iter()
            .enumerate()
            .rev()
        {
            let (t, tagged) = vlan(0x8100, 30, 0x0800, piece);
            done.extend(r.feed((n * 2 + k) as u64, &ether(t, &tagged)));
        }
    }
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].1, body(3000));
    assert_eq!(r.count(Counter::DefragReassembled), 3);
    assert_eq!(r.count(Counter::DefragFragments), 6);
    assert!(r.d.is_empty());
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any arrangement of a datagram's fragments, with identical
        /// duplicates, gives back the datagram, once.
        #[test]
        fn any_order_with_duplicates_gives_the_datagram(
            len in 100usize..6000,
            cuts in proptest::collection::btree_set(1usize..750, 0..8),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
            six in any::<bool>(),
        ) {
            let whole = packet(if six { v6() } else { v4() }, &body(len));
            let payload = whole.len() - if six { 40 } else { 20 };
            let cuts: Vec<usize> = cuts.into_iter().map(|c| c * 8).filter(|&c| c < payload).collect();
            let frags = fragments(&whole, 99, &cuts);
            // Every fragment once, in an order the indices pick, plus
            // duplicates; the first completion ends the datagram.
            let mut seq: Vec<usize> = order.iter().map(|i| i.index(frags.len())).collect();
            seq.extend(0..frags.len());
            let mut r = Rig::new(LinkType::RawIp);
            let mut done = Vec::new();
            for (n, &k) in seq.iter().enumerate() {
                if frags.len() == 1 {
                    break;
                }
                done.extend(r.feed(n as u64, &frags[k]));
                if !done.is_empty() {
                    break;
                }
            }
            if frags.len() > 1 {
                prop_assert_eq!(done.len(), 1);
                prop_assert_eq!(&done[0].1, &body(len));
                prop_assert_eq!(r.count(Counter::DefragOverlapConflicts), 0);
                prop_assert!(r.d.is_empty());
                prop_assert_eq!(r.d.held, 0);
            }
        }

        /// Fragments with any offsets, flags, lengths and bytes: nothing
        /// panics, and what is held is accounted for.
        #[test]
        fn arbitrary_fragments_do_not_break_it(
            frames in proptest::collection::vec(
                (any::<u16>(), 0u8..4, proptest::collection::vec(any::<u8>(), 0..1600), any::<bool>(), 0u64..100),
                1..40,
            ),
        ) {
            let mut d = Defrag::new();
            let mut counted = 0u64;
            let opts = DecodeOptions::default();
            for (field, id, bytes, six, secs) in frames {
                let mut p = if six {
                    packet(v6(), b"GET /x")
                } else {
                    packet(v4(), b"GET /x")
                };
                let hl = if six { 40 } else { 20 };
                p.truncate(hl);
                let frag = if six {
                    p[6] = 44;
                    let mut h = vec![6, 0];
                    h.extend_from_slice(&(field | 1).to_be_bytes());
                    h.extend_from_slice(&(id as u32).to_be_bytes());
                    h
                } else {
                    p[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                    p[6..8].copy_from_slice(&(field | 0x2000).to_be_bytes());
                    Vec::new()
                };
                p.extend_from_slice(&frag);
                p.extend_from_slice(&bytes);
                let n = (p.len() - if six { 40 } else { 0 }) as u16;
                if six {
                    p[4..6].copy_from_slice(&n.to_be_bytes());
                } else {
                    p[2..4].copy_from_slice(&n.to_be_bytes());
                }
                let pkt = Packet { ts_ns: secs * SEC, link: LinkType::RawIp, data: &p };
                if decode(&pkt, &opts).err() != Some(DecodeError::Fragment) {
                    continue;
                }
                d.take(&pkt, &opts, &mut |_, n| counted += n, &mut |_, _| {});
                let held: usize = d.trackers.values().map(|t| t.held()).sum();
                prop_assert_eq!(held, d.held);
                prop_assert!(d.len() <= MAX_TRACKERS);
            }
            d.finish(&mut |_, n| counted += n);
            prop_assert_eq!(d.held, 0);
            prop_assert!(counted > 0);
        }
    }
}

/// A flood of first fragments that never complete, past the tracker
/// limit many times over: each new datagram gives up the one whose first
/// fragment came first, and the arrival queue stays bounded.
#[test]
fn a_flood_of_first_fragments_gives_up_the_oldest_each_time() {
    let mut r = Rig::new(LinkType::RawIp);
    let whole = packet(v4(), &body(1000));
    let n = 5 * MAX_TRACKERS as u32;
    for id in 0..n {
        let f = fragments(&whole, id, &[504]);
        assert!(r.feed(SEC, &f[0]).is_empty());
        // Some complete: their arrival entries go stale.
        if id % 3 == 0 {
            assert_eq!(r.feed(SEC, &f[1]).len(), 1);
        }
    }
    r.d.assert_consistent();
    let waiting = (0..n).filter(|id| id % 3 != 0).count();
    assert_eq!(
        r.count(Counter::DefragEvicted),
        (waiting - MAX_TRACKERS) as u64
    );
    // The newest waiting ones are kept.
    let last = (0..n).rev().find(|id| id % 3 != 0).unwrap();
    let f = fragments(&whole, last, &[504]);
    assert_eq!(r.feed(SEC, &f[1]).len(), 1);
    let evicted = (0..n).find(|id| id % 3 != 0).unwrap();
    let f = fragments(&whole, evicted, &[504]);
    assert!(r.feed(SEC, &f[1]).is_empty());
}
