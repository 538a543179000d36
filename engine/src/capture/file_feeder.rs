//! Recorded input's reader: one thread reads each capture file in order,
//! applies the capture filter in userspace (as the kernel would live),
//! decodes each frame once and steers it to its shard by a hash of the
//! innermost 5-tuple that both directions share. Packets travel in
//! batches over bounded rings (`batch`); the shards hand emptied batches
//! back for reuse.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::channel::{Receiver, Sender};

use super::batch::PacketBatch;
use super::pcap_file::{self, FileError};
use super::Packet;
use crate::bpf::FileFilter;
use crate::decode::{decode, segment_hash, DecodeOptions};
use crate::stats::{Counter, ShardStats};

/// Everything the reader thread owns; `run` consumes it.
pub struct FileFeeder {
    /// Capture files, read one after the other.
    pub files: Vec<String>,
    /// INPUT_RAW_BPF_FILTER (with httpcap's own traffic excluded), if any.
    pub filter: Option<FileFilter>,
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
        for (i, b) in st.filling.into_iter().enumerate() {
            if !b.is_empty() {
                let _ = self.shards[i].send(b);
            }
        }
        result
    }

    /// One frame: filter, decode, put in its shard's batch, and send the
    /// batch when full.
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
        let seg = decode(&p, &self.decode).ok();
        let shard = match (&seg, self.shards.len()) {
            // One shard has nothing to choose: no flow key, no hash
            // (callgrind: ~25 instructions a packet).
            (_, 1) | (None, _) => 0,
            (Some(s), n) => (segment_hash(s) % n as u64) as usize,
        };
        let b = &mut st.filling[shard];
        b.push(p, seg.as_ref());
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
