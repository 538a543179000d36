use std::net::IpAddr;

use crossbeam::channel::bounded;

use super::*;
use crate::capture::testpkt::tcp_frame;
use crate::capture::LinkType;
use crate::stats::Registry;

/// A ring that delivers its frames on the first read, then nothing.
struct Frames(Vec<Vec<u8>>);

impl FrameRing for Frames {
    fn fd(&self) -> RawFd {
        -1
    }

    fn read(&mut self, on_packet: &mut dyn FnMut(Packet<'_>)) -> usize {
        let frames = std::mem::take(&mut self.0);
        for data in &frames {
            on_packet(Packet {
                ts_ns: 1,
                link: LinkType::Ethernet,
                data,
            });
        }
        frames.len()
    }

    fn kernel_stats(&mut self) -> KernelStats {
        KernelStats::default()
    }
}

/// What a shard was given: the client port, and the segment's ports when
/// the source handed one over.
type Seen = Vec<(Vec<u8>, Option<(u16, u16, usize)>)>;

fn poll(src: &mut LiveSource) -> Seen {
    let mut seen = Seen::new();
    src.poll_decoded(&mut |p, seg| {
        seen.push((
            p.data.to_vec(),
            seg.map(|s| (s.sport, s.dport, s.payload.len())),
        ));
    });
    seen
}

/// Two shards' live sources: shard 0's one ring delivers `frames` on its
/// first read, shard 1 has no ring; `shutdown` as the run's flag.
fn two_sources(frames: &[Vec<u8>], shutdown: bool) -> (Vec<LiveSource>, Vec<Arc<ShardStats>>) {
    let shards = 2;
    let (_reg, handles) = Registry::new(shards);
    let stats: Vec<_> = handles.iter().map(|(s, _)| s.clone()).collect();
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..shards).map(|_| bounded(INBOX_BATCHES)).unzip();
    let shutdown = Arc::new(AtomicBool::new(shutdown));
    let sources = rxs
        .into_iter()
        .enumerate()
        .map(|(i, rx)| {
            let rings: Vec<LiveRing> = if i == 0 {
                vec![LiveRing::unfiltered(Box::new(Frames(frames.to_vec())))]
            } else {
                Vec::new()
            };
            LiveSource::new(
                i,
                rings,
                DecodeOptions { ipip: false },
                stats[i].clone(),
                rx,
                txs.clone(),
                shutdown.clone(),
            )
        })
        .collect();
    (sources, stats)
}

#[test]
fn the_segment_decoded_for_steering_reaches_the_owning_shard() {
    let shards = 2;
    let (a, b): (IpAddr, IpAddr) = ("10.77.0.2".parse().unwrap(), "10.77.0.1".parse().unwrap());
    let mut frames: Vec<Vec<u8>> = (40000..40016).map(|p| tcp_frame(a, p, b, 80)).collect();
    // Not a TCP frame: stays on the shard that read it, undecoded.
    frames.push(vec![0u8; 20]);
    let expected = frames.clone();
    let opts = DecodeOptions { ipip: false };
    let (mut sources, stats) = two_sources(&frames, false);
    // Shard 0 reads everything and hands the others' packets over.
    let on0 = poll(&mut sources[0]);
    let on1 = poll(&mut sources[1]);
    assert_eq!(on0.len() + on1.len(), expected.len());
    assert_eq!(stats[0].get(Counter::SteerMisrouted), on1.len() as u64);
    assert!(!on1.is_empty(), "no packet was handed over");
    for (shard, seen) in [(0, &on0), (1, &on1)] {
        for (data, seg) in seen.iter() {
            let pkt = Packet {
                ts_ns: 1,
                link: LinkType::Ethernet,
                data,
            };
            match decode::decode(&pkt, &opts) {
                Ok(s) => {
                    assert_eq!(steer::owner_of(&s, shards), shard);
                    assert_eq!(*seg, Some((s.sport, s.dport, s.payload.len())));
                }
                Err(_) => {
                    assert_eq!(shard, 0);
                    assert_eq!(*seg, None, "an undecodable frame has no segment");
                }
            }
        }
    }
}

#[test]
fn one_shard_gets_the_segment_decoded_by_the_source() {
    let (a, b): (IpAddr, IpAddr) = ("10.77.0.2".parse().unwrap(), "10.77.0.1".parse().unwrap());
    let (_reg, handles) = Registry::new(1);
    let (tx, rx) = bounded(INBOX_BATCHES);
    let mut src = LiveSource::new(
        0,
        vec![LiveRing::unfiltered(Box::new(Frames(vec![tcp_frame(
            a, 40000, b, 80,
        )])))],
        DecodeOptions { ipip: false },
        handles[0].0.clone(),
        rx,
        vec![tx],
        Arc::new(AtomicBool::new(false)),
    );
    let seen = poll(&mut src);
    assert_eq!(seen.len(), 1);
    // Decoded once, by the source (which must see fragments to
    // reassemble them); the shard does not decode it again.
    assert_eq!(seen[0].1, Some((40000, 80, 18)));
}

#[test]
fn fragments_are_reassembled_and_the_datagram_steered_to_its_owner() {
    use crate::capture::testpkt::{ether, fragments, ip, tcp};
    let shards = 2;
    let (a, b): (IpAddr, IpAddr) = ("10.77.0.2".parse().unwrap(), "10.77.0.1".parse().unwrap());
    let opts = DecodeOptions { ipip: false };
    // A client port whose connection shard 1 owns.
    let port = (40000..)
        .find(|&p| {
            let f = tcp_frame(a, p, b, 80);
            let pkt = Packet {
                ts_ns: 1,
                link: LinkType::Ethernet,
                data: &f,
            };
            steer::owner_of(&decode::decode(&pkt, &opts).unwrap(), shards) == 1
        })
        .unwrap();
    let request = vec![b'x'; 3000];
    let mut whole = ip(a, b, 6, &tcp(port, 80, &request));
    whole[6] = 0;
    let frames: Vec<Vec<u8>> = fragments(&whole, 77, &[1480])
        .iter()
        .rev()
        .map(|f| ether(0x0800, f))
        .collect();
    let (mut sources, stats) = two_sources(&frames, false);
    let on0 = poll(&mut sources[0]);
    let on1 = poll(&mut sources[1]);
    assert!(on0.is_empty(), "{on0:?}");
    assert_eq!(on1.len(), 1);
    assert_eq!(on1[0].1, Some((port, 80, 3000)));
    assert_eq!(stats[0].get(Counter::DefragFragments), 2);
    assert_eq!(stats[0].get(Counter::DefragReassembled), 1);
    assert_eq!(stats[0].get(Counter::SteerMisrouted), 1);
}

/// With several shards draining at shutdown, one that has finished can no
/// longer take packets handed over to it: they are counted, not lost
/// with its inbox.
#[test]
fn packets_handed_to_a_finished_shard_are_counted() {
    let (a, b): (IpAddr, IpAddr) = ("10.77.0.2".parse().unwrap(), "10.77.0.1".parse().unwrap());
    let frames: Vec<Vec<u8>> = (40000..40016).map(|p| tcp_frame(a, p, b, 80)).collect();
    let (mut sources, stats) = two_sources(&frames, true);
    // Shard 1 has nothing to read and finishes draining first.
    let mut polls = 0;
    while !matches!(sources[1].poll_decoded(&mut |_, _| {}), Poll::Done) {
        polls += 1;
        assert!(polls < 100, "shard 1 never finished draining");
    }
    // Then shard 0 reads frames half of which shard 1 owns.
    let kept = poll(&mut sources[0]).len();
    let handed = (frames.len() - kept) as u64;
    assert!(handed > 0, "no frame belonged to shard 1");
    assert_eq!(stats[0].get(Counter::SteerMisrouted), handed);
    assert_eq!(stats[0].get(Counter::SteerQueueFull), handed);
}
