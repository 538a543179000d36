//! Recorded input's reader: one thread reads each capture file in order,
//! applies the capture filter in userspace (as the kernel would live),
//! decodes each frame once and steers it to its shard by a hash of the
//! innermost 5-tuple that both directions share. Packets travel in
//! batches over bounded rings (`batch`); the shards hand emptied batches
//! back for reuse.
//!
//! IP fragments are reassembled here, before steering: a fragment after
//! the first carries no ports, so no shard could be chosen for it by its
//! connection, and this thread is the one that sees every fragment of a
//! datagram. The reassembled datagram is decoded and steered by its real
//! 5-tuple like any frame (`decode::defrag`); only fragments pay for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::channel::{Receiver, Sender};

use super::batch::PacketBatch;
use super::pcap_file::{self, FileError};
use super::Packet;
use crate::bpf::FrameFilter;
use crate::decode::defrag::Defrag;
use crate::decode::{decode, segment_hash, DecodeError, DecodeOptions, Segment};
use crate::stats::{Counter, ShardStats};

/// Everything the reader thread owns; `run` consumes it.
pub struct FileFeeder {
    /// Capture files, read one after the other.
    pub files: Vec<String>,
    /// INPUT_RAW_BPF_FILTER (with httpcap's own traffic excluded), if any.
    pub filter: Option<FrameFilter>,
    pub decode: DecodeOptions,
    /// One ring per shard, indexed by shard.
    pub shards: Vec<Sender<PacketBatch>>,
    /// Emptied batches coming back from the shards.
    pub recycled: Receiver<PacketBatch>,
    /// Batches that may exist at once (see `fresh_batch`).
    pub pool: usize,
    /// Shard 0's statistics: filtered frames are counted there.
    pub stats0: Arc<ShardStats>,
    pub shutdown: Arc<AtomicBool>,
}

/// The batches being filled, and whether to go on.
struct Filling {
    /// The batch being filled for each shard.
    filling: Vec<PacketBatch>,
    /// Batches allocated so far (at most `FileFeeder::pool`).
    allocated: usize,
    /// A shard's ring closed or shutdown was asked: stop reading.
    stop: bool,
    /// IP datagrams being reassembled.
    defrag: Defrag,
}

impl FileFeeder {
    /// Reads every file in order, then sends each shard its last, partly
    /// filled batch. A file failing part way ends the reading with its
    /// error, after every packet read so far is sent on: the shards
    /// process them and emit what is open, as at the end of the input.
    pub fn run(mut self) -> Result<(), FileError> {
        let shards = self.shards.len();
        let mut st = Filling {
            filling: (0..shards).map(|_| PacketBatch::with_capacity()).collect(),
            allocated: shards,
            stop: false,
            defrag: Defrag::new(),
        };
        let files = std::mem::take(&mut self.files);
        let stats0 = self.stats0.clone();
        let mut result = Ok(());
        for f in &files {
            if let Err(e) = pcap_file::read_file(f, &stats0, |p| self.feed(&mut st, p)) {
                result = Err(e);
                break;
            }
            if st.stop {
                break;
            }
        }
        // Datagrams still missing fragments at the end are lost.
        st.defrag.finish(&mut |c, n| stats0.add_shared(c, n));
        for (i, b) in st.filling.into_iter().enumerate() {
            if !b.is_empty() {
                let _ = self.shards[i].send(b);
            }
        }
        result
    }

    /// One frame: filter, decode (reassembling fragments), and place.
    fn feed(&mut self, st: &mut Filling, p: Packet<'_>) {
        if st.stop {
            return;
        }
        if let Some(f) = self.filter.as_mut() {
            if !f.accepts(p.link, p.data) {
                // The reader is not a shard: a shared add.
                self.stats0.add_shared(Counter::BpfFiltered, 1);
                return;
            }
        }
        // Frames that don't decode go to shard 0, which counts them. The
        // segment rides along so the shard need not decode the frame again.
        match decode(&p, &self.decode) {
            Ok(seg) => self.place(st, p, Some(&seg)),
            Err(DecodeError::Fragment) => self.fragment(st, p),
            Err(_) => self.place(st, p, None),
        }
    }

    /// A fragment: into the reassembler, and each datagram it completes
    /// on to its shard once the capture filter accepts it (fragments all
    /// pass the filter: the ones after the first have no ports).
    #[cold]
    fn fragment(&mut self, st: &mut Filling, p: Packet<'_>) {
        let stats0 = self.stats0.clone();
        let opts = self.decode;
        let mut defrag = std::mem::take(&mut st.defrag);
        let mut filter = self.filter.take();
        defrag.take_admitted(
            &p,
            &opts,
            &mut |c, n| stats0.add_shared(c, n),
            &mut |d| {
                let pass = filter
                    .as_mut()
                    .is_none_or(|f| f.accepts_datagram(d.link, d.data));
                if !pass {
                    stats0.add_shared(Counter::BpfFiltered, 1);
                }
                pass
            },
            &mut |whole, seg| self.place(st, whole, seg.ok().as_ref()),
        );
        self.filter = filter;
        st.defrag = defrag;
    }

    /// Puts a frame in its shard's batch, and sends the batch when full.
    #[inline]
    fn place(&mut self, st: &mut Filling, p: Packet<'_>, seg: Option<&Segment<'_>>) {
        if st.stop {
            return;
        }
        let shard = match (seg, self.shards.len()) {
            // One shard has nothing to choose: no flow key, no hash
            // (callgrind: ~25 instructions a packet).
            (_, 1) | (None, _) => 0,
            (Some(s), n) => (segment_hash(s) % n as u64) as usize,
        };
        let b = &mut st.filling[shard];
        b.push(p, seg);
        if b.is_full() {
            let like = b.byte_len();
            let next = self.fresh_batch(&mut st.allocated, like);
            let full = std::mem::replace(&mut st.filling[shard], next);
            if self.shards[shard].send(full).is_err() || self.shutdown.load(Ordering::Relaxed) {
                st.stop = true;
            }
        }
    }

    /// A batch to fill next. Enough batches exist to fill every ring, one
    /// being filled and one being read per shard. Past that the reader
    /// waits for a shard to hand one back instead of allocating: a fresh
    /// batch regrows to its packets' size (callgrind: 2-3% of all
    /// instructions went to copying in reallocations) and faults its pages
    /// in.
    fn fresh_batch(&self, allocated: &mut usize, like: usize) -> PacketBatch {
        if let Ok(b) = self.recycled.try_recv() {
            return b;
        }
        if *allocated < self.pool {
            *allocated += 1;
            return PacketBatch::sized_like(like);
        }
        self.recycled
            .recv()
            .unwrap_or_else(|_| PacketBatch::sized_like(like))
    }
}
