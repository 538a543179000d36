//! AF_XDP sockets, UMEM registration and rings, on the kernel interface
//! of `linux/if_xdp.h` through `libc`: just what the af_xdp engine uses
//! (RX only; the completion ring exists because the kernel requires it).
//!
//! The kernel ABI, briefly: a socket of family AF_XDP registers an area
//! of user memory (the UMEM, `XDP_UMEM_REG`) cut into equal chunks, and
//! gets rings by `setsockopt` (their sizes, powers of two) and `mmap` (at
//! fixed page offsets; `XDP_MMAP_OFFSETS` says where in each mapping the
//! producer index, consumer index, flags word and entries are). Each ring
//! has one producer and one consumer, one of them the kernel. Indices are
//! free-running u32s (entry `i` lives at `i & (size - 1)`): the producer
//! writes entries and then publishes its index with a release store; the
//! consumer loads it with acquire, reads the entries, and hands them back
//! by a release store of its own index, which the producer loads with
//! acquire before reusing those slots. Fill-ring entries are UMEM
//! addresses (u64) we give the kernel; RX-ring entries are `xdp_desc`s
//! the kernel gives us. Further sockets bind with `XDP_SHARED_UMEM` to
//! use the first one's UMEM and fill ring.
//!
//! The unsafe parts (syscalls, the shared mappings) stay in here, behind
//! small types: [`Mmap`] unmaps on drop; [`ProdRing`] and [`ConsRing`]
//! check their layout against the mapping once and then only index it
//! masked, so whatever indices the kernel writes, no access leaves it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// `struct xdp_desc`: one received frame (UMEM address, length, options).
pub type XdpDesc = libc::xdp_desc;

/// `sxdp_flags` of `bind` (linux/if_xdp.h, as libc defines them).
pub use libc::{XDP_COPY, XDP_USE_NEED_WAKEUP, XDP_ZEROCOPY};

/// Plain data the kernel may write any bytes into: ring entries and
/// `getsockopt` results.
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid value.
pub unsafe trait Plain: Copy {}

// SAFETY: an integer: every bit pattern is a value.
unsafe impl Plain for u64 {}
// SAFETY: C structs made only of integers, without padding invariants.
unsafe impl Plain for libc::xdp_desc {}
// SAFETY: as above.
unsafe impl Plain for libc::xdp_mmap_offsets {}
// SAFETY: as above.
unsafe impl Plain for libc::xdp_statistics {}

pub use crate::capture::mmap::Mmap;

/// One ring's words and entries in its mapping, bounds checked once.
struct RawRing<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    size: u32,
    mask: u32,
    _map: Arc<Mmap>,
}

// SAFETY: the pointers are into `_map`, owned (shared) by the ring; the
// indices are atomics and the entries are reached only through `&mut`
// methods of the one producer or consumer holding this ring.
unsafe impl<T: Send> Send for RawRing<T> {}

impl<T: Plain> RawRing<T> {
    /// The ring of `size` entries described by `off` in `map`. Refuses a
    /// size that is not a power of two and offsets outside the mapping or
    /// misaligned for what they hold.
    fn new(map: Arc<Mmap>, off: &libc::xdp_ring_offset, size: u32) -> io::Result<RawRing<T>> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        if !size.is_power_of_two() {
            return Err(bad("ring size is not a power of two"));
        }
        let at = |offset: u64, len: usize, align: usize| -> io::Result<NonNull<u8>> {
            let start = usize::try_from(offset).map_err(|_| bad("ring offset too large"))?;
            let end = start
                .checked_add(len)
                .ok_or_else(|| bad("ring too large"))?;
            // The mapping is page aligned, so alignment of the offset is
            // alignment of the address.
            if end > map.len() || start % align != 0 {
                return Err(bad("ring offsets do not fit the mapping"));
            }
            // SAFETY: `start` is within the mapping (checked above).
            Ok(unsafe { map.base().add(start) })
        };
        let word = |offset: u64| {
            at(offset, size_of::<AtomicU32>(), align_of::<AtomicU32>()).map(NonNull::cast)
        };
        let entries_len = (size as usize)
            .checked_mul(size_of::<T>())
            .ok_or_else(|| bad("ring too large"))?;
        Ok(RawRing {
            producer: word(off.producer)?,
            consumer: word(off.consumer)?,
            flags: word(off.flags)?,
            entries: at(off.desc, entries_len, align_of::<T>())?.cast(),
            size,
            mask: size - 1,
            _map: map,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: in bounds and aligned (checked in `new`), alive as long
        // as `_map`; the word is only ever accessed atomically, by us and
        // by the kernel.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }
    }

    /// The entry slot of free-running index `idx`.
    fn slot(&self, idx: u32) -> *mut T {
        // SAFETY: `idx & mask < size`, and `size` entries fit the mapping
        // from `entries` (checked in `new`).
        unsafe { self.entries.as_ptr().add((idx & self.mask) as usize) }
    }
}

/// The consumer side of a ring the kernel produces (RX, completion).
pub struct ConsRing<T> {
    ring: RawRing<T>,
    /// Our index: entries before it are handed back.
    cons: u32,
    /// The producer's index when last loaded.
    cached_prod: u32,
    /// Entries from `cons` on that `peek` found ready.
    peeked: u32,
}

impl<T: Plain> ConsRing<T> {
    fn new(ring: RawRing<T>) -> ConsRing<T> {
        let cons = ring.consumer().load(Ordering::Relaxed);
        let cached_prod = ring.producer().load(Ordering::Acquire);
        ConsRing {
            ring,
            cons,
            cached_prod,
            peeked: 0,
        }
    }

    /// How many entries, up to `max`, are ready to read from the first
    /// one not yet released. The producer's index is loaded again only
    /// when the cached one shows fewer than `max`.
    pub fn peek(&mut self, max: u32) -> u32 {
        // More than `size` would be a broken producer: never claim more.
        let ready = |prod: u32| prod.wrapping_sub(self.cons).min(self.ring.size);
        let mut n = ready(self.cached_prod);
        if n < max {
            // Acquire: the entries it publishes are written before we read.
            self.cached_prod = self.ring.producer().load(Ordering::Acquire);
            n = ready(self.cached_prod);
        }
        self.peeked = n.min(max);
        self.peeked
    }

    /// Entry `i` of those the last `peek` found ready.
    ///
    /// # Panics
    /// If `i` is not below that count.
    pub fn get(&self, i: u32) -> T {
        assert!(i < self.peeked, "ring entry {i} not peeked");
        // SAFETY: a slot of the ring (see `slot`), which the producer
        // published (acquire in `peek`) and does not touch again until we
        // release it; `T` is plain data, any bytes are a value.
        unsafe { self.ring.slot(self.cons.wrapping_add(i)).read() }
    }

    /// Hands the first `n` peeked entries back to the producer.
    ///
    /// # Panics
    /// If `n` is more than were peeked.
    pub fn release(&mut self, n: u32) {
        assert!(
            n <= self.peeked,
            "releasing {n} ring entries, {} peeked",
            self.peeked
        );
        if n == 0 {
            return;
        }
        self.peeked -= n;
        self.cons = self.cons.wrapping_add(n);
        // Release: our reads of those entries are done before the
        // producer may overwrite them.
        self.ring.consumer().store(self.cons, Ordering::Release);
    }
}

/// The producer side of a ring the kernel consumes (fill).
pub struct ProdRing<T> {
    ring: RawRing<T>,
    /// Our index: entries before it are published.
    prod: u32,
    /// The consumer's index when last loaded.
    cached_cons: u32,
    /// Slots from `prod` on that `reserve` found free.
    reserved: u32,
}

impl<T: Plain> ProdRing<T> {
    fn new(ring: RawRing<T>) -> ProdRing<T> {
        let prod = ring.producer().load(Ordering::Relaxed);
        let cached_cons = ring.consumer().load(Ordering::Acquire);
        ProdRing {
            ring,
            prod,
            cached_cons,
            reserved: 0,
        }
    }

    /// Reserves up to `n` free slots from the first one not yet
    /// submitted, and returns how many. The consumer's index is loaded
    /// again only when the cached one leaves fewer than `n`.
    pub fn reserve(&mut self, n: u32) -> u32 {
        let free = |cons: u32| self.ring.size.saturating_sub(self.prod.wrapping_sub(cons));
        let mut f = free(self.cached_cons);
        if f < n {
            // Acquire: the consumer is done reading the slots it freed.
            self.cached_cons = self.ring.consumer().load(Ordering::Acquire);
            f = free(self.cached_cons);
        }
        self.reserved = f.min(n);
        self.reserved
    }

    /// Writes `value` into reserved slot `i`.
    ///
    /// # Panics
    /// If `i` is not below the reserved count.
    pub fn set(&mut self, i: u32, value: T) {
        assert!(i < self.reserved, "ring slot {i} not reserved");
        // SAFETY: a slot of the ring (see `slot`) that the consumer has
        // handed back (acquire in `reserve`) and that is not published,
        // so nobody else reads or writes it now.
        unsafe { self.ring.slot(self.prod.wrapping_add(i)).write(value) }
    }

    /// Publishes the first `n` reserved slots to the consumer.
    ///
    /// # Panics
    /// If `n` is more than were reserved.
    pub fn submit(&mut self, n: u32) {
        assert!(
            n <= self.reserved,
            "submitting {n} ring slots, {} reserved",
            self.reserved
        );
        if n == 0 {
            return;
        }
        self.reserved -= n;
        self.prod = self.prod.wrapping_add(n);
        // Release: the entries are written before the consumer sees them.
        self.ring.producer().store(self.prod, Ordering::Release);
    }

    /// Whether the kernel asks to be woken to take entries
    /// (`XDP_RING_NEED_WAKEUP`, with `XDP_USE_NEED_WAKEUP` bound). A hint:
    /// a wake-up it misses comes with the next batch or poll(2).
    pub fn needs_wakeup(&self) -> bool {
        self.ring.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// `struct xdp_statistics`, cumulative since the socket was bound. A
/// kernel with the older, shorter struct leaves the newer fields 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

/// An AF_XDP socket.
pub struct Socket {
    fd: OwnedFd,
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Socket {
    pub fn new() -> io::Result<Socket> {
        // SAFETY: no pointers; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        check(fd)?;
        // SAFETY: a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket { fd })
    }

    fn setsockopt<V>(&self, name: libc::c_int, value: &V) -> io::Result<()> {
        // SAFETY: `value` is readable for its size during the call.
        check(unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_XDP,
                name,
                (value as *const V).cast(),
                size_of::<V>() as libc::socklen_t,
            )
        })
    }

    /// Reads option `name` into `out`; returns the length the kernel wrote.
    fn getsockopt<V: Plain>(&self, name: libc::c_int, out: &mut V) -> io::Result<usize> {
        let mut len = size_of::<V>() as libc::socklen_t;
        // SAFETY: `out` is writable for `len` bytes, and any bytes the
        // kernel writes make a valid `V` (`Plain`).
        check(unsafe {
            libc::getsockopt(
                self.as_raw_fd(),
                libc::SOL_XDP,
                name,
                (out as *mut V).cast(),
                &mut len,
            )
        })?;
        Ok(len as usize)
    }

    /// Registers `area` as this socket's UMEM in chunks of `chunk_size`
    /// bytes, the kernel leaving `headroom` bytes (beyond its own) before
    /// each frame. Its pages are pinned (RLIMIT_MEMLOCK or CAP_IPC_LOCK).
    ///
    /// # Safety
    /// `area` must be a page-aligned mapping that stays mapped while this
    /// socket and every socket sharing its UMEM exist, and that nothing
    /// reads as Rust data except frames the kernel handed over on an RX
    /// ring and not yet returned: the kernel writes frames into it.
    pub unsafe fn register_umem(
        &self,
        area: NonNull<[u8]>,
        chunk_size: u32,
        headroom: u32,
    ) -> io::Result<()> {
        // The header of Debian 12 ends at `flags`; libc's struct names
        // the padding after it `tx_metadata_len` (Linux 6.8), 0 = none.
        let reg = libc::xdp_umem_reg {
            addr: area.as_ptr() as *mut u8 as u64,
            len: area.len() as u64,
            chunk_size,
            headroom,
            flags: 0,
            tx_metadata_len: 0,
        };
        self.setsockopt(libc::XDP_UMEM_REG, &reg)
    }

    /// Sets the fill ring's size (UMEM owner only, before binding).
    pub fn set_fill_size(&self, entries: u32) -> io::Result<()> {
        self.setsockopt(libc::XDP_UMEM_FILL_RING, &entries)
    }

    /// Sets the completion ring's size (UMEM owner only, before binding).
    pub fn set_completion_size(&self, entries: u32) -> io::Result<()> {
        self.setsockopt(libc::XDP_UMEM_COMPLETION_RING, &entries)
    }

    /// Sets the RX ring's size (before binding).
    pub fn set_rx_size(&self, entries: u32) -> io::Result<()> {
        self.setsockopt(libc::XDP_RX_RING, &entries)
    }

    /// Where the rings' words and entries lie in their mappings.
    pub fn mmap_offsets(&self) -> io::Result<libc::xdp_mmap_offsets> {
        let zero = libc::xdp_ring_offset {
            producer: 0,
            consumer: 0,
            desc: 0,
            flags: 0,
        };
        let mut off = libc::xdp_mmap_offsets {
            rx: zero,
            tx: zero,
            fr: zero,
            cr: zero,
        };
        let len = self.getsockopt(libc::XDP_MMAP_OFFSETS, &mut off)?;
        // Before Linux 5.4 the layout had no flags word (no need-wakeup).
        if len < size_of::<libc::xdp_mmap_offsets>() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "kernel too old: XDP_MMAP_OFFSETS has no ring flags",
            ));
        }
        Ok(off)
    }

    fn map<T: Plain>(
        &self,
        off: &libc::xdp_ring_offset,
        size: u32,
        pgoff: u64,
    ) -> io::Result<RawRing<T>> {
        let len = usize::try_from(off.desc)
            .ok()
            .and_then(|d| d.checked_add((size as usize).checked_mul(size_of::<T>())?))
            .ok_or(io::ErrorKind::InvalidInput)?;
        let map = Mmap::shared(self.as_fd(), len, pgoff, true)?;
        RawRing::new(Arc::new(map), off, size)
    }

    /// Maps the fill ring of `size` entries (set by `set_fill_size`).
    pub fn map_fill(&self, off: &libc::xdp_mmap_offsets, size: u32) -> io::Result<ProdRing<u64>> {
        self.map(&off.fr, size, libc::XDP_UMEM_PGOFF_FILL_RING)
            .map(ProdRing::new)
    }

    /// Maps the completion ring of `size` entries.
    pub fn map_completion(
        &self,
        off: &libc::xdp_mmap_offsets,
        size: u32,
    ) -> io::Result<ConsRing<u64>> {
        self.map(&off.cr, size, libc::XDP_UMEM_PGOFF_COMPLETION_RING)
            .map(ConsRing::new)
    }

    /// Maps the RX ring of `size` entries (set by `set_rx_size`).
    pub fn map_rx(&self, off: &libc::xdp_mmap_offsets, size: u32) -> io::Result<ConsRing<XdpDesc>> {
        self.map(&off.rx, size, libc::XDP_PGOFF_RX_RING as u64)
            .map(ConsRing::new)
    }

    fn bind_addr(&self, addr: libc::sockaddr_xdp) -> io::Result<()> {
        // SAFETY: `addr` is a readable sockaddr_xdp of the length given.
        check(unsafe {
            libc::bind(
                self.as_raw_fd(),
                (&addr as *const libc::sockaddr_xdp).cast(),
                size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        })
    }

    /// Binds this socket, the owner of its UMEM, to RX queue `queue` of
    /// `ifindex` with `flags` (`XDP_COPY`, `XDP_ZEROCOPY`,
    /// `XDP_USE_NEED_WAKEUP`).
    pub fn bind(&self, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
        self.bind_addr(libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        })
    }

    /// Binds this socket to the same queue as `owner`, sharing its UMEM
    /// and fill ring (`XDP_SHARED_UMEM`). The mode and need-wakeup come
    /// from the owner: the kernel refuses those flags here.
    pub fn bind_shared(&self, ifindex: u32, queue: u32, owner: &Socket) -> io::Result<()> {
        self.bind_addr(libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_SHARED_UMEM,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: owner.as_raw_fd() as u32,
        })
    }

    /// Wakes the driver to take fill-ring entries (when the fill ring
    /// says it needs it): a poll(2) that does not wait.
    pub fn wake(&self) {
        let mut p = libc::pollfd {
            fd: self.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; no wait. Failure only means no wake-up,
        // and the next batch or the shard's poll(2) tries again.
        unsafe { libc::poll(&mut p, 1, 0) };
    }

    /// The socket's `XDP_STATISTICS`.
    pub fn statistics(&self) -> io::Result<Statistics> {
        let mut st = libc::xdp_statistics {
            rx_dropped: 0,
            rx_invalid_descs: 0,
            tx_invalid_descs: 0,
            rx_ring_full: 0,
            rx_fill_ring_empty_descs: 0,
            tx_ring_empty_descs: 0,
        };
        // The kernel writes the older struct (three counters) when it has
        // no other; the rest stays 0.
        let len = self.getsockopt(libc::XDP_STATISTICS, &mut st)?;
        if len < size_of::<libc::xdp_statistics_v1>() {
            return Err(io::ErrorKind::InvalidData.into());
        }
        Ok(Statistics {
            rx_dropped: st.rx_dropped,
            rx_invalid_descs: st.rx_invalid_descs,
            tx_invalid_descs: st.tx_invalid_descs,
            rx_ring_full: st.rx_ring_full,
            rx_fill_ring_empty_descs: st.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: st.tx_ring_empty_descs,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The ring protocol over anonymous shared memory, the "kernel" side
    //! played by a ring of the opposite kind: no AF_XDP socket needed.

    use super::*;

    /// Producer index, consumer index, flags, entries: a cache line each,
    /// as the kernel lays them out.
    const OFF: libc::xdp_ring_offset = libc::xdp_ring_offset {
        producer: 0,
        consumer: 64,
        flags: 128,
        desc: 192,
    };

    fn mapping<T>(size: u32) -> Arc<Mmap> {
        Arc::new(
            Mmap::anonymous(
                OFF.desc as usize + size as usize * size_of::<T>(),
                libc::MAP_SHARED,
            )
            .unwrap(),
        )
    }

    /// Both ends of one ring of `size` entries whose indices start at
    /// `start`.
    fn pair<T: Plain>(size: u32, start: u32) -> (ProdRing<T>, ConsRing<T>) {
        let map = mapping::<T>(size);
        let raw = RawRing::<T>::new(map.clone(), &OFF, size).unwrap();
        raw.producer().store(start, Ordering::Relaxed);
        raw.consumer().store(start, Ordering::Relaxed);
        let cons = ConsRing::new(RawRing::new(map, &OFF, size).unwrap());
        (ProdRing::new(raw), cons)
    }

    fn push(p: &mut ProdRing<u64>, values: &[u64]) -> u32 {
        let n = p.reserve(values.len() as u32);
        for (i, v) in values.iter().take(n as usize).enumerate() {
            p.set(i as u32, *v);
        }
        p.submit(n);
        n
    }

    fn pop(c: &mut ConsRing<u64>, max: u32) -> Vec<u64> {
        let n = c.peek(max);
        let out = (0..n).map(|i| c.get(i)).collect();
        c.release(n);
        out
    }

    #[test]
    fn empty_then_full_then_empty() {
        let (mut p, mut c) = pair::<u64>(8, 0);
        assert_eq!(c.peek(4), 0, "new ring is empty");
        assert_eq!(push(&mut p, &(0..10).collect::<Vec<_>>()), 8, "8 fit");
        assert_eq!(p.reserve(1), 0, "full");
        assert_eq!(pop(&mut c, 3), vec![0, 1, 2]);
        assert_eq!(push(&mut p, &[8, 9, 10, 11]), 3, "3 slots freed");
        assert_eq!(pop(&mut c, 100), vec![3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(c.peek(1), 0, "empty again");
    }

    #[test]
    fn indices_wrap_at_u32_max() {
        let start = u32::MAX - 5;
        let (mut p, mut c) = pair::<u64>(8, start);
        let mut next = 0u64;
        let mut seen = Vec::new();
        for round in 0..6 {
            let batch: Vec<u64> = (next..next + 5).collect();
            assert_eq!(push(&mut p, &batch), 5, "round {round}");
            next += 5;
            seen.extend(pop(&mut c, 5));
        }
        assert_eq!(seen, (0..30).collect::<Vec<_>>());
        // Both indices went past u32::MAX and wrapped to 24.
        let wrapped = start.wrapping_add(30);
        assert_eq!(wrapped, 24);
        assert_eq!(p.ring.producer().load(Ordering::Relaxed), wrapped);
        assert_eq!(c.ring.consumer().load(Ordering::Relaxed), wrapped);
        // Full and empty still judged right across the wrap.
        assert_eq!(push(&mut p, &[0; 9]), 8);
        assert_eq!(c.peek(9), 8);
    }

    #[test]
    fn full_ring_straddling_the_wrap() {
        // 4 entries before u32::MAX wraps, 4 after.
        let (mut p, mut c) = pair::<u64>(8, u32::MAX - 3);
        assert_eq!(push(&mut p, &[1, 2, 3, 4, 5, 6, 7, 8]), 8);
        assert_eq!(p.reserve(1), 0);
        assert_eq!(pop(&mut c, 8), vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.reserve(8), 8);
    }

    #[test]
    fn peer_index_is_cached_until_needed() {
        let (mut p, mut c) = pair::<u64>(8, 0);
        push(&mut p, &[1, 2]);
        assert_eq!(c.peek(1), 1, "cached producer index is enough");
        push(&mut p, &[3]);
        assert_eq!(c.peek(1), 1);
        assert_eq!(c.peek(8), 3, "asking for more reloads it");
        // Releasing part of a peek leaves the rest readable.
        assert_eq!(c.peek(8), 3);
        c.release(2);
        assert_eq!(c.get(0), 3);
        c.release(1);
        assert_eq!(c.peek(8), 0);
    }

    #[test]
    fn reserved_slots_are_kept_until_submitted() {
        let (mut p, mut c) = pair::<u64>(4, 7);
        assert_eq!(p.reserve(3), 3);
        p.set(0, 10);
        p.submit(1);
        // The two still reserved stay writable.
        p.set(0, 11);
        p.set(1, 12);
        assert_eq!(c.peek(4), 1, "only submitted entries are seen");
        p.submit(2);
        assert_eq!(pop(&mut c, 4), vec![10, 11, 12]);
    }

    #[test]
    #[should_panic(expected = "not peeked")]
    fn reading_past_the_peek_panics() {
        let (mut p, mut c) = pair::<u64>(4, 0);
        push(&mut p, &[1]);
        assert_eq!(c.peek(4), 1);
        c.get(1);
    }

    #[test]
    #[should_panic(expected = "not reserved")]
    fn writing_past_the_reservation_panics() {
        let (mut p, _c) = pair::<u64>(4, 0);
        assert_eq!(p.reserve(1), 1);
        p.set(1, 0);
    }

    #[test]
    fn broken_peer_indices_stay_in_bounds() {
        // A producer index far ahead of the consumer claims no more than
        // the ring holds; a consumer index ahead of the producer leaves
        // no room rather than more than the ring.
        let (p, mut c) = pair::<u64>(8, 0);
        p.ring.producer().store(1000, Ordering::Release);
        assert_eq!(c.peek(u32::MAX), 8);
        let (mut p, c) = pair::<u64>(8, 0);
        c.ring.consumer().store(5, Ordering::Release);
        p.prod = 100;
        assert_eq!(p.reserve(8), 0);
    }

    #[test]
    fn descriptors_round_trip() {
        let (mut p, mut c) = pair::<XdpDesc>(4, u32::MAX);
        let d = |i: u32| XdpDesc {
            addr: u64::from(i) * 4096,
            len: 60 + i,
            options: 0,
        };
        assert_eq!(p.reserve(4), 4);
        for i in 0..4 {
            p.set(i, d(i));
        }
        p.submit(4);
        assert_eq!(c.peek(4), 4);
        for i in 0..4 {
            let got = c.get(i);
            assert_eq!((got.addr, got.len), (d(i).addr, d(i).len));
        }
        c.release(4);
    }

    #[test]
    fn need_wakeup_flag() {
        let (p, _c) = pair::<u64>(4, 0);
        assert!(!p.needs_wakeup());
        p.ring
            .flags()
            .store(libc::XDP_RING_NEED_WAKEUP, Ordering::Relaxed);
        assert!(p.needs_wakeup());
    }

    #[test]
    fn bad_layouts_are_refused() {
        let map = mapping::<u64>(8);
        assert!(
            RawRing::<u64>::new(map.clone(), &OFF, 6).is_err(),
            "not 2^n"
        );
        assert!(
            RawRing::<u64>::new(map.clone(), &OFF, 16).is_err(),
            "too big"
        );
        let odd = libc::xdp_ring_offset { desc: 196, ..OFF };
        assert!(
            RawRing::<u64>::new(map.clone(), &odd, 4).is_err(),
            "misaligned"
        );
        let far = libc::xdp_ring_offset {
            flags: u64::MAX,
            ..OFF
        };
        assert!(RawRing::<u64>::new(map.clone(), &far, 8).is_err());
        assert!(RawRing::<u64>::new(map, &OFF, 8).is_ok());
    }

    #[test]
    fn two_threads_pass_every_entry_in_order() {
        const N: u64 = 200_000;
        let (mut p, mut c) = pair::<u64>(64, u32::MAX - 1000);
        let producer = std::thread::spawn(move || {
            let mut next = 0u64;
            while next < N {
                let n = p.reserve(17).min((N - next) as u32);
                for i in 0..n {
                    p.set(i, next + u64::from(i));
                }
                p.submit(n);
                next += u64::from(n);
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut want = 0u64;
        while want < N {
            let n = c.peek(23);
            for i in 0..n {
                assert_eq!(c.get(i), want);
                want += 1;
            }
            c.release(n);
            if n == 0 {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert_eq!(c.peek(1), 0);
    }
}
