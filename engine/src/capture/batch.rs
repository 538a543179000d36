//! Packet batches: how the file reader hands packets to shards. A batch is
//! one contiguous byte buffer plus a small index, so moving 256 packets
//! across a ring costs one pointer, and batches are recycled instead of
//! allocated per packet.

use crossbeam::channel::{Receiver, Sender, TryRecvError};

use super::{LinkType, Packet, PacketSource, Poll};
use crate::decode::{Segment, SegmentMeta};

#[derive(Clone, Copy, Debug)]
struct Slot {
    ts_ns: u64,
    link: LinkType,
    start: u32,
    len: u32,
    /// What the reader decoded (None when the frame did not decode).
    seg: Option<SegmentMeta>,
}

#[derive(Default)]
pub struct PacketBatch {
    bytes: Vec<u8>,
    slots: Vec<Slot>,
}

impl PacketBatch {
    pub const MAX_PACKETS: usize = 256;
    pub const MAX_BYTES: usize = 512 * 1024;

    pub fn with_capacity() -> PacketBatch {
        Self::sized_like(0)
    }

    /// A batch with room for `bytes` of packets and a quarter more, so a
    /// batch sized like the last full one rarely regrows (each regrowth
    /// copies it). Start small and let batches follow the traffic: recycled
    /// batches keep their size, so the rings' memory is what the packets
    /// need instead of MAX_BYTES times the ring depth.
    pub fn sized_like(bytes: usize) -> PacketBatch {
        let cap = (bytes + bytes / 4).clamp(Self::MAX_BYTES / 8, Self::MAX_BYTES);
        PacketBatch {
            bytes: Vec::with_capacity(cap),
            slots: Vec::with_capacity(Self::MAX_PACKETS),
        }
    }

    /// Bytes of packet data held.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    // Inlined into the reader's per-frame loop (one call per packet; fat
    // LTO stopped inlining it when the feeder became its own module).
    #[inline]
    pub fn push(&mut self, p: Packet<'_>, seg: Option<&Segment<'_>>) {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(p.data);
        self.slots.push(Slot {
            ts_ns: p.ts_ns,
            link: p.link,
            start,
            len: p.data.len() as u32,
            seg: seg.map(|s| s.meta(p.data)),
        });
    }

    pub fn is_full(&self) -> bool {
        self.slots.len() >= Self::MAX_PACKETS || self.bytes.len() >= Self::MAX_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.slots.clear();
    }

    pub fn packets(&self) -> impl Iterator<Item = Packet<'_>> {
        self.decoded().map(|(p, _)| p)
    }

    /// Packets with what the reader decoded from each.
    pub fn decoded(&self) -> impl Iterator<Item = (Packet<'_>, Option<Segment<'_>>)> {
        self.slots.iter().map(|s| {
            let data = &self.bytes[s.start as usize..(s.start + s.len) as usize];
            let p = Packet {
                ts_ns: s.ts_ns,
                link: s.link,
                data,
            };
            (p, s.seg.map(|m| m.segment(data)))
        })
    }
}

/// The shard's end of a batch ring. Emptied batches go back to the reader.
pub struct BatchSource {
    incoming: Receiver<PacketBatch>,
    recycle: Sender<PacketBatch>,
}

impl BatchSource {
    pub fn new(incoming: Receiver<PacketBatch>, recycle: Sender<PacketBatch>) -> Self {
        BatchSource { incoming, recycle }
    }
}

impl PacketSource for BatchSource {
    fn poll(&mut self, on_packet: &mut dyn FnMut(Packet<'_>)) -> Poll {
        self.poll_decoded(&mut |p, _| on_packet(p))
    }

    fn poll_decoded(&mut self, on_packet: &mut dyn FnMut(Packet<'_>, Option<Segment<'_>>)) -> Poll {
        let mut batch = match self.incoming.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty) => {
                // Block briefly: file input has no wall-clock duties.
                match self
                    .incoming
                    .recv_timeout(std::time::Duration::from_millis(50))
                {
                    Ok(b) => b,
                    Err(crossbeam::channel::RecvTimeoutError::Timeout) => return Poll::Idle,
                    Err(crossbeam::channel::RecvTimeoutError::Disconnected) => return Poll::Done,
                }
            }
            Err(TryRecvError::Disconnected) => return Poll::Done,
        };
        for (p, seg) in batch.decoded() {
            on_packet(p, seg);
        }
        batch.clear();
        // The reader may have finished; a closed recycle ring is fine.
        let _ = self.recycle.try_send(batch);
        Poll::Packets
    }

    fn is_live(&self) -> bool {
        false
    }
}
