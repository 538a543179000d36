//! The `af_xdp` engine's sockets: per interface and RX queue, one UMEM
//! (packet memory registered with the kernel) shared by one AF_XDP socket
//! per shard (XDP_SHARED_UMEM). The XDP program (`capture::xdp`) puts each
//! frame on the RX ring of the shard that owns its connection.
//!
//! Sharing: the UMEM's fill ring, which gives the kernel free frames, is
//! one per queue and every shard of the queue returns frames to it, so it
//! sits behind a mutex taken once per batch of up to `RX_BATCH` frames.
//! Only frame addresses cross shards that way: a frame's bytes are read
//! by the one shard whose RX ring delivered it, and its address goes back
//! to the fill ring only after the shard is done with it.
//!
//! Size: a shard gets ASSEMBLER_WORKER_PKT_BUF / 2 frames of 4 KiB per
//! interface (the bytes of an af_packet ring), split over the interface's
//! RX queues with at least `MIN_FRAMES` per socket; a queue's UMEM holds
//! the frames of all shards, which draw from one pool. A frame holds 3840
//! bytes of packet (4 KiB less the kernel's 256-byte XDP headroom); the
//! kernel drops longer frames and counts them (`kernel_drops`).
//!
//! Frames carry no kernel timestamp in copy mode: they are stamped with
//! the wall clock when the shard reads them.

use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use super::live::{FrameRing, KernelStats, XdpLosses};
use super::mmap::Mmap;
use super::xdp::xsk::{self, ConsRing, ProdRing, Socket, Statistics, XdpDesc};
use super::xdp::FrameCounts;
use super::{CaptureError, LinkType, Packet};
use crate::bpf::{self, Insn};

/// UMEM chunk size: a page, the largest the kernel allows in aligned mode.
pub const FRAME_SIZE: u32 = 4096;
/// Fewest UMEM frames per socket, whatever the buffer parameters say.
pub const MIN_FRAMES: u32 = 512;
/// Descriptors taken from the RX ring per read; the fill ring's lock is
/// taken once per read.
const RX_BATCH: u32 = 256;

/// UMEM frames per shard for one RX queue of an interface.
pub fn frames_per_socket(pkt_buf: u32, queues: u32) -> u32 {
    (pkt_buf / 2 / queues.max(1)).max(MIN_FRAMES)
}

/// How the kernel moves frames into the UMEM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// The NIC writes into the UMEM (needs driver support, native XDP).
    ZeroCopy,
    /// The kernel copies each frame (any device, e.g. veth).
    Copy,
}

/// The UMEM's memory: an anonymous mapping, page aligned.
///
/// The mapping is plain memory. Each frame is read by one shard at a time
/// (the one whose RX ring delivered it) and written only by the kernel
/// while it owns the frame (see the module comment).
struct Area(Mmap);

impl Area {
    fn new(len: usize) -> Result<Area, CaptureError> {
        Mmap::anonymous(len, libc::MAP_PRIVATE | libc::MAP_POPULATE)
            .map(Area)
            .map_err(|source| CaptureError::UmemMap { len, source })
    }

    fn as_slice_ptr(&self) -> NonNull<[u8]> {
        NonNull::slice_from_raw_parts(self.0.base(), self.0.len())
    }

    /// The bytes of a received frame.
    ///
    /// # Safety
    /// `addr..addr+len` must be a frame that the kernel handed to the
    /// caller on an RX ring and that has not gone back to the fill ring.
    unsafe fn frame(&self, addr: u64, len: u32) -> Option<&[u8]> {
        let start = usize::try_from(addr).ok()?;
        let end = start.checked_add(len as usize)?;
        if end > self.0.len() {
            return None;
        }
        // SAFETY: in bounds (checked above); the caller guarantees the
        // kernel does not write this frame while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(self.0.base().as_ptr().add(start), len as usize) })
    }
}

/// The fill ring of one queue's UMEM (and its completion ring, which an
/// RX-only socket never uses but the kernel requires), with the UMEM's
/// own socket, through which the kernel is woken.
struct FillRings {
    fill: ProdRing<u64>,
    _completion: ConsRing<u64>,
    owner: Arc<Socket>,
}

impl FillRings {
    /// Gives `addrs` back to the kernel.
    fn give(&mut self, addrs: &[u64]) {
        // The ring holds every frame of the UMEM, so there is always room
        // for the frames we hold.
        let n = self.fill.reserve(addrs.len() as u32);
        debug_assert_eq!(n as usize, addrs.len(), "fill ring smaller than the UMEM");
        for (i, &addr) in addrs.iter().take(n as usize).enumerate() {
            self.fill.set(i as u32, addr);
        }
        self.fill.submit(n);
        if self.fill.needs_wakeup() {
            self.owner.wake();
        }
    }
}

/// Where a ring's counters come from besides its socket.
pub struct RingCounts {
    pub frames: FrameCounts,
    /// This socket's slot in the program's frame counts.
    pub slot: u32,
    /// The slot of frames no socket took, read by one ring per interface.
    pub missed_slot: Option<u32>,
}

/// One shard's AF_XDP socket on one RX queue.
pub struct XskRing {
    // Field order: the ring's mappings go before the UMEM they point into.
    rx: ConsRing<XdpDesc>,
    socket: Arc<Socket>,
    fill: Arc<Mutex<FillRings>>,
    area: Arc<Area>,
    /// The fill ring's empty count is per queue: one socket reports it.
    reports_fill: bool,
    counts: Option<RingCounts>,
    filter: Option<Vec<Insn>>,
    /// Frames read in this batch, to give back to the fill ring.
    done: Vec<u64>,
    /// Cumulative counters at the last report.
    last: Statistics,
    last_frames: u64,
    last_missed: u64,
    filtered: u64,
}

impl XskRing {
    /// Opens the sockets of `shards` shards on RX queue `queue` of
    /// `ifindex`, sharing one UMEM of `frames` frames per shard, every
    /// frame in the fill ring. Returns them in shard order.
    pub fn open_queue(
        ifindex: u32,
        queue: u32,
        shards: u32,
        frames: u32,
        mode: BindMode,
    ) -> Result<Vec<XskRing>, CaptureError> {
        // Rings index frames with u32s and need a power-of-two size.
        let total = frames
            .checked_mul(shards)
            .filter(|t| *t <= 1 << 30)
            .ok_or(CaptureError::TooManyFrames)?;
        let area = Arc::new(Area::new(total as usize * FRAME_SIZE as usize)?);
        let ring_size = total.next_power_of_two();
        const COMPLETION_SIZE: u32 = 64;
        let err = |step: &'static str, source: std::io::Error| CaptureError::Xsk {
            step,
            queue,
            source,
        };
        // The first socket is the UMEM's own and owns the fill ring; the
        // others share it and inherit its mode (the kernel refuses mode
        // flags on a shared bind).
        let first = Arc::new(Socket::new().map_err(|e| err("AF_XDP socket", e))?);
        // SAFETY: the area is a page-aligned mapping of exactly the
        // registered size, kept alive by every ring (`Arc<Area>`) for as
        // long as their sockets exist, and read only through
        // `Area::frame`, for frames an RX ring handed over.
        unsafe { first.register_umem(area.as_slice_ptr(), FRAME_SIZE, 0) }
            .map_err(|e| err("cannot register the UMEM", e))?;
        let (fill, completion) = (|| {
            first.set_fill_size(ring_size)?;
            first.set_completion_size(COMPLETION_SIZE)?;
            let off = first.mmap_offsets()?;
            Ok((
                first.map_fill(&off, ring_size)?,
                first.map_completion(&off, COMPLETION_SIZE)?,
            ))
        })()
        .map_err(|e| err("fill ring", e))?;
        let mut sockets = vec![first.clone()];
        for _ in 1..shards {
            sockets.push(Arc::new(
                Socket::new().map_err(|e| err("AF_XDP socket", e))?,
            ));
        }
        for s in &sockets {
            s.set_rx_size(ring_size).map_err(|e| err("RX ring", e))?;
        }
        let bind_flags = xsk::XDP_USE_NEED_WAKEUP
            | match mode {
                BindMode::ZeroCopy => xsk::XDP_ZEROCOPY,
                BindMode::Copy => xsk::XDP_COPY,
            };
        let mut rxs = Vec::with_capacity(sockets.len());
        for (i, s) in sockets.iter().enumerate() {
            let off = s.mmap_offsets().map_err(|e| err("RX ring", e))?;
            rxs.push(s.map_rx(&off, ring_size).map_err(|e| err("RX ring", e))?);
            if i == 0 {
                s.bind(ifindex, queue, bind_flags)
            } else {
                s.bind_shared(ifindex, queue, &first)
            }
            .map_err(|e| err("bind", e))?;
        }
        let mut rings = FillRings {
            fill,
            _completion: completion,
            owner: first,
        };
        let all: Vec<u64> = (0..total as u64).map(|i| i * FRAME_SIZE as u64).collect();
        rings.give(&all);
        let fill = Arc::new(Mutex::new(rings));
        Ok(sockets
            .into_iter()
            .zip(rxs)
            .enumerate()
            .map(|(i, (socket, rx))| XskRing {
                rx,
                socket,
                fill: fill.clone(),
                area: area.clone(),
                reports_fill: i == 0,
                counts: None,
                filter: None,
                done: Vec::with_capacity(RX_BATCH as usize),
                last: Statistics::default(),
                last_frames: 0,
                last_missed: 0,
                filtered: 0,
            })
            .collect())
    }

    /// Counts from the XDP program to report with this ring's.
    pub fn set_counts(&mut self, counts: RingCounts) {
        self.counts = Some(counts);
    }

    /// INPUT_RAW_BPF_FILTER (with the interface's ports), run on each
    /// frame in userspace: AF_XDP sockets take no socket filter.
    pub fn set_filter(&mut self, prog: Option<Vec<Insn>>) {
        self.filter = prog;
    }
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl FrameRing for XskRing {
    fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    fn read(&mut self, on_packet: &mut dyn FnMut(Packet<'_>)) -> usize {
        let mut n = 0;
        let ts_ns = wall_ns();
        let ready = self.rx.peek(RX_BATCH);
        for i in 0..ready {
            let desc = self.rx.get(i);
            // SAFETY: the descriptor came from our RX ring and its frame
            // goes back to the fill ring only below, after the shard is
            // done with the bytes.
            if let Some(data) = unsafe { self.area.frame(desc.addr, desc.len) } {
                let pass = self
                    .filter
                    .as_deref()
                    .is_none_or(|f| bpf::run(f, data, bpf::Meta::default()) != 0);
                if pass {
                    on_packet(Packet {
                        ts_ns,
                        link: LinkType::Ethernet,
                        data,
                    });
                    n += 1;
                } else {
                    self.filtered += 1;
                }
            }
            // Aligned mode: any address inside a chunk names the chunk.
            self.done.push(desc.addr & !(FRAME_SIZE as u64 - 1));
        }
        self.rx.release(ready);
        if !self.done.is_empty() {
            // One lock per batch.
            self.fill
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .give(&self.done);
            self.done.clear();
        }
        n
    }

    fn kernel_stats(&mut self) -> KernelStats {
        let mut k = KernelStats {
            filtered: std::mem::take(&mut self.filtered),
            ..KernelStats::default()
        };
        if let Some(c) = &self.counts {
            let frames = c.frames.total(c.slot);
            k.packets = frames.saturating_sub(self.last_frames);
            self.last_frames = frames;
            if let Some(m) = c.missed_slot {
                let missed = c.frames.total(m);
                k.xdp.no_socket = missed.saturating_sub(self.last_missed);
                self.last_missed = missed;
            }
        }
        if let Ok(now) = self.socket.statistics() {
            let d = |f: fn(&Statistics) -> u64| f(&now).saturating_sub(f(&self.last));
            k.xdp = XdpLosses {
                rx_ring_full: d(|s| s.rx_ring_full),
                fill_ring_empty: if self.reports_fill {
                    d(|s| s.rx_fill_ring_empty_descs)
                } else {
                    0
                },
                invalid_descs: d(|s| s.rx_invalid_descs),
                no_socket: k.xdp.no_socket,
            };
            // rx_dropped covers frames too long for a chunk and frames
            // that found the fill ring empty.
            k.drops = d(|s| s.rx_dropped) + k.xdp.rx_ring_full + k.xdp.no_socket;
            self.last = now;
        }
        k
    }
}

/// RX queues of an interface, as sysfs lists them.
pub fn rx_queues(name: &str) -> u32 {
    std::fs::read_dir(
        std::path::Path::new("/sys/class/net")
            .join(name)
            .join("queues"),
    )
    .map(|d| {
        d.filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
            .count() as u32
    })
    .unwrap_or(1)
    .max(1)
}

/// An interface captured with af_xdp: each shard's rings (one per RX
/// queue) and the attached program, which is detached when this is
/// dropped.
pub struct XdpInterface {
    pub per_shard: Vec<Vec<XskRing>>,
    pub attachment: super::xdp::Attachment,
}

/// Loads and attaches the steering program on `iface` and opens every
/// shard's sockets on every RX queue.
pub fn open_interface(
    iface: &super::iface::Iface,
    shards: u32,
    pkt_buf: u32,
    ipip: bool,
    filter: Option<Vec<Insn>>,
) -> Result<XdpInterface, CaptureError> {
    use super::xdp::{AttachMode, Steering};
    let queues = rx_queues(&iface.name);
    let frames = frames_per_socket(pkt_buf, queues);
    let steering = Steering::load(shards, queues, ipip)?;
    // Attached first (it passes every frame on until activated): the mode
    // decides whether zero-copy is worth trying.
    let attachment = steering.attach(&iface.name, iface.index)?;
    let mut mode = match attachment.mode {
        AttachMode::Native => BindMode::ZeroCopy,
        AttachMode::Generic => BindMode::Copy,
    };
    let mut per_shard: Vec<Vec<XskRing>> = (0..shards).map(|_| Vec::new()).collect();
    for queue in 0..queues {
        let rings = match XskRing::open_queue(iface.index, queue, shards, frames, mode) {
            Err(e) if mode == BindMode::ZeroCopy => {
                tracing::info!(target: "lifecycle", "af_xdp: {}: zero-copy refused ({e}); using copy mode", iface.name);
                mode = BindMode::Copy;
                XskRing::open_queue(iface.index, queue, shards, frames, mode)
            }
            r => r,
        }
        .map_err(|e| memlock_hint(e, frames * shards))?;
        for (shard, mut ring) in rings.into_iter().enumerate() {
            let shard = shard as u32;
            steering.add_socket(queue, shard, ring.fd())?;
            ring.set_counts(RingCounts {
                frames: steering.frame_counts(),
                slot: steering.slot(queue, shard),
                missed_slot: (queue == 0 && shard == 0).then(|| steering.missed_slot()),
            });
            ring.set_filter(filter.clone());
            per_shard[shard as usize].push(ring);
        }
    }
    steering.activate()?;
    tracing::info!(
        target: "lifecycle",
        "af_xdp: {}: {queues} RX queue(s) x {shards} shard socket(s), {} mode, {} frames of {FRAME_SIZE} B per socket",
        iface.name,
        match mode {
            BindMode::ZeroCopy => "zero-copy",
            BindMode::Copy => "copy",
        },
        frames
    );
    Ok(XdpInterface {
        per_shard,
        attachment,
    })
}

/// Registering a UMEM pins its pages: without CAP_IPC_LOCK that needs a
/// large enough RLIMIT_MEMLOCK.
fn memlock_hint(e: CaptureError, frames: u32) -> CaptureError {
    if e.involves_umem() {
        CaptureError::Memlock {
            mib: (frames as u64 * FRAME_SIZE as u64) >> 20,
            source: Box::new(e),
        }
    } else {
        e
    }
}
