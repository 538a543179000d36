//! A live shard's packet source: the shard's own kernel rings (one per
//! interface), plus a bounded inbox for the rare packet that the fanout put
//! on the wrong shard (see `steer`). Kernel statistics are read about once
//! a second into the shard's counters.
//!
//! IP fragments are reassembled by the source that receives them, then
//! steered like any packet. The kernel programs put every fragment on
//! shard 0 (the ones after the first carry no ports, and neither program
//! reads ports from a first fragment), so one reassembler sees all of a
//! datagram's fragments, whichever wrapper or IP version they are in, and
//! the datagram goes to the shard that owns its connection through the
//! handover inbox. With af_packet and several shards the kernel already
//! reassembles outer IPv4 before the fanout (PACKET_FANOUT_FLAG_DEFRAG),
//! so those arrive whole and are steered in the kernel.
//!
//! A capture filter passes every fragment (`bpf::frame_expression`: the
//! ones after the first have no ports to judge) and judges the datagram
//! once it is whole, here, with the filter of the ring its last fragment
//! came through (`LiveRing::datagrams`). IPv6 packets with extension
//! headers, which libpcap's `port` cannot read past, are passed by the
//! kernel too and judged here (`bpf::ipv6_extensions`).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, TrySendError};

use super::batch::PacketBatch;
use super::{steer, Packet, PacketSource, Poll};
use crate::bpf::FrameFilter;
use crate::decode::defrag::Defrag;
use crate::decode::{self, DecodeError, DecodeOptions, Segment};
use crate::stats::{Counter, ShardStats};

/// Counters the kernel keeps per socket, as deltas since the last read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub packets: u64,
    pub drops: u64,
    pub freezes: u64,
    /// Frames the ring cut short (captured length below the wire length).
    pub truncated: u64,
    /// Frames a ring rejected with INPUT_RAW_BPF_FILTER in userspace
    /// (af_xdp, which has no socket filter).
    pub filtered: u64,
    /// af_xdp's itemised losses (see `Counter`).
    pub xdp: XdpLosses,
}

/// What XDP_STATISTICS and the XDP program report beyond packets/drops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpLosses {
    pub rx_ring_full: u64,
    pub fill_ring_empty: u64,
    pub invalid_descs: u64,
    pub no_socket: u64,
}

/// One socket's receive ring, owned by one shard.
pub trait FrameRing: Send {
    /// For poll(2).
    fn fd(&self) -> RawFd;
    /// Delivers what is ready (a bounded amount); returns the number of
    /// frames delivered.
    fn read(&mut self, on_packet: &mut dyn FnMut(Packet<'_>)) -> usize;
    /// Kernel counters since the previous call.
    fn kernel_stats(&mut self) -> KernelStats;
}

/// One ring of a live source and the capture filter for the datagrams
/// reassembled from its fragments (None without a filter).
pub struct LiveRing {
    pub frames: Box<dyn FrameRing>,
    pub datagrams: Option<FrameFilter>,
}

impl LiveRing {
    /// A ring whose capture (if any) needs no second look.
    pub fn unfiltered(frames: Box<dyn FrameRing>) -> LiveRing {
        LiveRing {
            frames,
            datagrams: None,
        }
    }
}

/// How long a shard with nothing to do sleeps in poll(2). Short, so a
/// shutdown is noticed promptly.
const IDLE_WAIT_MS: i32 = 20;
const STATS_EVERY: Duration = Duration::from_secs(1);
/// After shutdown, what is already in the rings is still read (the
/// kernel retires a partly filled block within 1 ms), for at most this
/// long under continuing traffic.
const DRAIN_FOR: Duration = Duration::from_secs(1);
/// Batches in each shard's handover inbox.
pub const INBOX_BATCHES: usize = 64;

pub struct LiveSource {
    shard: usize,
    shards: usize,
    rings: Vec<LiveRing>,
    decode: DecodeOptions,
    stats: Arc<ShardStats>,
    inbox: Receiver<PacketBatch>,
    /// Every shard's inbox, this one's included (unused).
    outboxes: Vec<Sender<PacketBatch>>,
    /// Misrouted packets waiting to be handed over, per owner.
    pending: Vec<Option<PacketBatch>>,
    spare: Vec<PacketBatch>,
    last_stats: Instant,
    shutdown: Arc<AtomicBool>,
    /// When shutdown was first seen, and idle polls since.
    draining: Option<(Instant, u32)>,
    /// IP datagrams being reassembled.
    defrag: Defrag,
}

/// Where a decoded live packet goes: this shard, or another's handover
/// batch.
struct Router<'a> {
    shard: usize,
    shards: usize,
    stats: &'a ShardStats,
    pending: &'a mut [Option<PacketBatch>],
    spare: &'a mut Vec<PacketBatch>,
}

impl Router<'_> {
    fn route(
        &mut self,
        p: Packet<'_>,
        seg: Segment<'_>,
        on_packet: &mut dyn FnMut(Packet<'_>, Option<Segment<'_>>),
    ) {
        if self.shards == 1 {
            return on_packet(p, Some(seg));
        }
        let owner = steer::owner_of(&seg, self.shards);
        if owner != self.shard {
            self.stats.inc(Counter::SteerMisrouted);
            let spare = &mut *self.spare;
            let b = self.pending[owner]
                .get_or_insert_with(|| spare.pop().unwrap_or_else(PacketBatch::with_capacity));
            // The segment rides along as offsets, as for file input: the
            // owner need not decode it either.
            b.push(p, Some(&seg));
            return;
        }
        on_packet(p, Some(seg));
    }
}

impl LiveSource {
    pub fn new(
        shard: usize,
        rings: Vec<LiveRing>,
        decode: DecodeOptions,
        stats: Arc<ShardStats>,
        inbox: Receiver<PacketBatch>,
        outboxes: Vec<Sender<PacketBatch>>,
        shutdown: Arc<AtomicBool>,
    ) -> LiveSource {
        let shards = outboxes.len();
        LiveSource {
            shard,
            shards,
            rings,
            decode,
            stats,
            inbox,
            outboxes,
            pending: (0..shards).map(|_| None).collect(),
            spare: Vec::new(),
            last_stats: Instant::now(),
            shutdown,
            draining: None,
            defrag: Defrag::new(),
        }
    }

    fn read_kernel_stats(&mut self) {
        for r in &mut self.rings {
            let k = r.frames.kernel_stats();
            self.stats.add(Counter::KernelPackets, k.packets);
            self.stats.add(Counter::KernelDrops, k.drops);
            self.stats.add(Counter::KernelFreezes, k.freezes);
            self.stats.add(Counter::CaptureTruncated, k.truncated);
            self.stats.add(Counter::BpfFiltered, k.filtered);
            self.stats.add(Counter::XdpRxRingFull, k.xdp.rx_ring_full);
            self.stats
                .add(Counter::XdpFillRingEmpty, k.xdp.fill_ring_empty);
            self.stats
                .add(Counter::XdpInvalidDescs, k.xdp.invalid_descs);
            self.stats.add(Counter::XdpNoSocket, k.xdp.no_socket);
        }
        self.last_stats = Instant::now();
    }

    fn hand_over(&mut self, owner: usize) {
        let Some(batch) = self.pending[owner].take() else {
            return;
        };
        let n = batch.len() as u64;
        match self.outboxes[owner].try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(mut b)) | Err(TrySendError::Disconnected(mut b)) => {
                self.stats.add(Counter::SteerQueueFull, n);
                b.clear();
                self.spare.push(b);
            }
        }
    }
}

impl PacketSource for LiveSource {
    fn poll(&mut self, on_packet: &mut dyn FnMut(Packet<'_>)) -> Poll {
        self.poll_decoded(&mut |p, _| on_packet(p))
    }

    fn poll_decoded(&mut self, on_packet: &mut dyn FnMut(Packet<'_>, Option<Segment<'_>>)) -> Poll {
        let mut delivered = 0usize;
        {
            let LiveSource {
                shard,
                shards,
                rings,
                decode,
                stats,
                pending,
                spare,
                defrag,
                ..
            } = self;
            let mut router = Router {
                shard: *shard,
                shards: *shards,
                stats,
                pending,
                spare,
            };
            for LiveRing { frames, datagrams } in rings.iter_mut() {
                delivered += frames.read(&mut |p| {
                    // Decoded once, to find the owner; the segment goes
                    // with the packet so the shard does not decode it
                    // again. A frame that does not decode stays here and
                    // the shard counts why.
                    match decode::decode(&p, decode) {
                        // The kernel passed IPv6 with extension headers
                        // unjudged (`bpf::ipv6_extensions`).
                        Ok(seg) => {
                            let pass = datagrams
                                .as_mut()
                                .is_none_or(|f| f.accepts_extended(p.link, p.data));
                            if pass {
                                router.route(p, seg, on_packet);
                            } else {
                                router.stats.inc(Counter::BpfFiltered);
                            }
                        }
                        Err(DecodeError::Fragment) => {
                            let stats = router.stats;
                            defrag.take_admitted(
                                &p,
                                decode,
                                &mut |c, n| stats.add(c, n),
                                &mut |d| {
                                    let pass = datagrams
                                        .as_mut()
                                        .is_none_or(|f| f.accepts_datagram(d.link, d.data));
                                    if !pass {
                                        stats.inc(Counter::BpfFiltered);
                                    }
                                    pass
                                },
                                &mut |whole, seg| match seg {
                                    Ok(seg) => router.route(whole, seg, on_packet),
                                    Err(_) => on_packet(whole, None),
                                },
                            );
                        }
                        Err(_) => on_packet(p, None),
                    }
                });
            }
            if delivered == 0 && !defrag.is_empty() {
                // A quiet link still times datagrams out.
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                defrag.expire(now, &mut |c, n| stats.add(c, n));
            }
        }
        // One read is bounded (a few ring blocks), so the handover batches
        // are too.
        for owner in 0..self.shards {
            self.hand_over(owner);
        }
        while let Ok(mut b) = self.inbox.try_recv() {
            for (p, seg) in b.decoded() {
                on_packet(p, seg);
            }
            delivered += b.len();
            b.clear();
            if self.spare.len() < 4 {
                self.spare.push(b);
            }
        }
        if self.last_stats.elapsed() >= STATS_EVERY {
            self.read_kernel_stats();
        }
        if self.draining.is_none() && self.shutdown.load(Ordering::Relaxed) {
            self.draining = Some((Instant::now(), 0));
        }
        if let Some((since, idle)) = &mut self.draining {
            if delivered == 0 {
                *idle += 1;
            }
            if *idle > 2 || since.elapsed() >= DRAIN_FOR {
                let stats = &self.stats;
                self.defrag.finish(&mut |c, n| stats.add(c, n));
                // Other shards may still be draining: closing the inbox
                // makes what they hand over from now on count as
                // steer_queue_full instead of vanishing with this source.
                // What came since the last look is processed.
                let inbox = std::mem::replace(&mut self.inbox, crossbeam::channel::never());
                for b in inbox.try_iter() {
                    for (p, seg) in b.decoded() {
                        on_packet(p, seg);
                    }
                }
                return Poll::Done;
            }
        }
        if delivered > 0 {
            return Poll::Packets;
        }
        let mut fds: Vec<libc::pollfd> = self
            .rings
            .iter()
            .map(|r| libc::pollfd {
                fd: r.frames.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs that
        // outlives the call; the descriptors belong to our rings.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, IDLE_WAIT_MS) };
        Poll::Idle
    }

    fn is_live(&self) -> bool {
        true
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        // The last second of kernel counters.
        self.read_kernel_stats();
    }
}

#[cfg(test)]
mod tests;
