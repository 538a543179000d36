//! One owner for memory mapped from the kernel or made anonymously: the
//! TPACKET_V3 ring (af_packet), the AF_XDP rings and the UMEM (af_xdp).
//! Each is a read-write mapping at an address of the kernel's choosing,
//! unmapped when its owner drops it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

/// A read-write mapping, unmapped on drop.
pub struct Mmap {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is memory like any other. Its users decide who reads
// and writes which bytes (a ring's protocol with the kernel, one shard per
// frame); this type only owns the address range.
unsafe impl Send for Mmap {}
// SAFETY: as above; `Mmap` itself hands out only the base address.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Maps `len` bytes of what `fd` exports (a kernel ring) at byte offset `offset`.
    pub fn shared(fd: BorrowedFd<'_>, len: usize, offset: u64, populate: bool) -> io::Result<Mmap> {
        let off = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let flags = libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 };
        Mmap::new(len, flags, fd.as_raw_fd(), off)
    }

    /// `len` bytes of zeroed memory, faulted in up front (the UMEM), or
    /// shared memory standing in for a kernel ring in tests.
    pub fn anonymous(len: usize, flags: libc::c_int) -> io::Result<Mmap> {
        Mmap::new(len, flags | libc::MAP_ANONYMOUS, -1, 0)
    }

    fn new(len: usize, flags: libc::c_int, fd: libc::c_int, off: libc::off_t) -> io::Result<Mmap> {
        // SAFETY: a new mapping at an address of the kernel's choosing, so
        // no existing memory is affected; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or(io::ErrorKind::AddrNotAvailable)?;
        Ok(Mmap { base, len })
    }

    /// The first byte of the mapping.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`. Whatever points into
        // it lives no longer than its owner (the ring or area holding this
        // `Mmap`, or an `Arc` of it), so nothing reads it any more.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
