//! The `af_packet` engine: per shard and per interface, one AF_PACKET
//! socket with a TPACKET_V3 ring mmapped into the process, all of an
//! interface's sockets joined in one PACKET_FANOUT group whose program is
//! `steer::fanout_program` (with the defrag flag, so the kernel
//! reassembles outer IPv4 fragments before choosing a shard; IPv6 and
//! tunnelled fragments land on shard 0, whose source reassembles them:
//! see `live`).
//!
//! Ring size: ASSEMBLER_WORKER_PKT_BUF frames of 2 KiB (a full-size
//! Ethernet frame plus the ring's headers) per socket, in 128 KiB blocks
//! (at least 8). Default: 30000 frames → 469 blocks → 58.6 MiB per shard
//! per interface.
//!
//! Why small blocks: a TPACKET_V3 block reaches the shard only when it is
//! full or its retire timeout (1 ms, the kernel's smallest) expires, so
//! the block's fill time is a floor under capture latency. At 100k
//! transactions/s (~400 MB/s, ~200 MB/s per shard) a 128 KiB block fills
//! in ~0.6 ms; a 1 MiB block took ~5 ms. Many blocks also keep the ring's
//! reserve in time when traffic is light and each block retires nearly
//! empty: 469 blocks x 1 ms. A block still holds a 64 KiB GRO/TSO frame
//! whole; anything larger than the block is truncated by the kernel.
//!
//! Promiscuous mode is always on (PACKET_ADD_MEMBERSHIP; the kernel undoes
//! it when the socket closes). VLAN tags the NIC or the kernel moved into
//! the ring's metadata are put back into the frame before decoding. On a
//! loopback device every frame is seen leaving and arriving; the leaving
//! copy is skipped, as libpcap does. `any` uses cooked (SOCK_DGRAM)
//! sockets: frames start at the IP header, and promiscuous mode is not
//! available there.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use super::iface::Iface;
use super::live::{FrameRing, KernelStats};
use super::mmap::Mmap;
use super::{CaptureError, LinkType, Packet};
use crate::bpf::Insn;

// linux/if_packet.h, linux/if_ether.h
const SOL_PACKET: libc::c_int = 263;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_FANOUT_DATA: libc::c_int = 22;
const PACKET_MR_PROMISC: libc::c_ushort = 1;
const TPACKET_V3: libc::c_int = 2;
const PACKET_FANOUT_CBPF: u32 = 6;
const PACKET_FANOUT_FLAG_DEFRAG: u32 = 0x8000;
const ETH_P_ALL: u16 = 0x0003;
const PACKET_OUTGOING: u8 = 4;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

pub const SNAPLEN: usize = 262_144;
const BLOCK_SIZE: usize = 128 << 10;
const FRAME_SIZE: usize = 2048;
const BLOCK_TIMEOUT_MS: u32 = 1;
/// Blocks handed to the shard per read (4 MiB at most), so one busy
/// interface cannot starve the others or the shard's housekeeping.
const BLOCKS_PER_READ: usize = 32;
/// Offset of the sockaddr_ll that follows each tpacket3_hdr
/// (TPACKET_ALIGN(sizeof(struct tpacket3_hdr))).
const SLL_OFFSET: usize = 48;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
struct PacketMreq {
    ifindex: libc::c_int,
    kind: libc::c_ushort,
    alen: libc::c_ushort,
    address: [u8; 8],
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// Ring geometry for ASSEMBLER_WORKER_PKT_BUF frames.
pub fn ring_blocks(pkt_buf: u32) -> usize {
    (pkt_buf as usize * FRAME_SIZE)
        .div_ceil(BLOCK_SIZE)
        .clamp(8, 32768)
}

/// Sets a socket option from a plain-old-data value.
fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: &T,
    what: &'static str,
) -> Result<(), CaptureError> {
    // SAFETY: `v` points to a live, initialised `T` of the size passed;
    // the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(CaptureError::Setsockopt {
            option: what,
            source: std::io::Error::last_os_error(),
        })
    }
}

/// Attaches a classic BPF program with SO_ATTACH_FILTER (or, for the
/// fanout group, PACKET_FANOUT_DATA).
pub fn attach_program(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    prog: &[Insn],
    what: &'static str,
) -> Result<(), CaptureError> {
    let fprog = libc::sock_fprog {
        len: prog.len() as libc::c_ushort,
        // `Insn` has the layout of `struct sock_filter`; the kernel copies
        // the program during the call.
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(fd, level, name, &fprog, what)
}

/// Joins `fd` to fanout group `group` with our steering program.
pub fn join_fanout(
    fd: RawFd,
    group: u16,
    first: bool,
    program: &[Insn],
) -> Result<(), CaptureError> {
    let arg: u32 = group as u32 | ((PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_DEFRAG) << 16);
    setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, "PACKET_FANOUT")?;
    if first {
        attach_program(
            fd,
            SOL_PACKET,
            PACKET_FANOUT_DATA,
            program,
            "PACKET_FANOUT_DATA",
        )?;
    }
    Ok(())
}

pub struct AfPacketRing {
    // Field order matters: unmap before closing the socket.
    map: Mmap,
    fd: OwnedFd,
    blocks: usize,
    next_block: usize,
    link: LinkType,
    /// Skip frames the host sent (loopback shows each frame twice).
    skip_outgoing: bool,
    /// A frame with its VLAN tag put back.
    scratch: Vec<u8>,
    /// Frames cut short (larger than a block) since the last stats read.
    truncated: u64,
}

impl AfPacketRing {
    /// Opens, filters, maps and binds a socket on `iface`.
    pub fn open(
        iface: &Iface,
        pkt_buf: u32,
        filter: Option<&[Insn]>,
    ) -> Result<AfPacketRing, CaptureError> {
        let any = iface.index == 0;
        let kind = if any {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_RAW
        };
        // Protocol 0: nothing arrives before bind, so no unfiltered frame
        // reaches the ring.
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(CaptureError::syscall("socket(AF_PACKET)"));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = fd.as_raw_fd();
        setsockopt(s, SOL_PACKET, PACKET_VERSION, &TPACKET_V3, "PACKET_VERSION")?;
        if let Some(prog) = filter {
            attach_program(
                s,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                prog,
                "SO_ATTACH_FILTER",
            )?;
        }
        let blocks = ring_blocks(pkt_buf);
        let req = TpacketReq3 {
            block_size: BLOCK_SIZE as u32,
            block_nr: blocks as u32,
            frame_size: FRAME_SIZE as u32,
            frame_nr: (blocks * (BLOCK_SIZE / FRAME_SIZE)) as u32,
            retire_blk_tov: BLOCK_TIMEOUT_MS,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        setsockopt(s, SOL_PACKET, PACKET_RX_RING, &req, "PACKET_RX_RING")?;
        let len = blocks * BLOCK_SIZE;
        // The ring the kernel just allocated for this socket.
        let map = Mmap::shared(fd.as_fd(), len, 0, false).map_err(|source| CaptureError::Mmap {
            ring: "PACKET_RX_RING",
            source,
        })?;
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = iface.index as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                s,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(CaptureError::syscall(format!("bind to {}", iface.name)));
        }
        if !any {
            let mreq = PacketMreq {
                ifindex: iface.index as i32,
                kind: PACKET_MR_PROMISC,
                alen: 0,
                address: [0; 8],
            };
            setsockopt(
                s,
                SOL_PACKET,
                PACKET_ADD_MEMBERSHIP,
                &mreq,
                "promiscuous mode",
            )?;
        }
        Ok(AfPacketRing {
            map,
            fd,
            blocks,
            next_block: 0,
            link: if any {
                LinkType::RawIp
            } else {
                LinkType::Ethernet
            },
            skip_outgoing: iface.loopback || any,
            scratch: Vec::with_capacity(SNAPLEN + 4),
            truncated: 0,
        })
    }

    fn block_status(&self, block: usize) -> &AtomicU32 {
        // SAFETY: block_status is the aligned u32 at offset 8 of each
        // block descriptor, inside the mapping; the kernel writes it
        // concurrently, hence the atomic.
        unsafe { &*(self.map.base().as_ptr().add(block * BLOCK_SIZE + 8) as *const AtomicU32) }
    }

    /// Delivers every frame of a block the kernel has handed over.
    fn read_block(&mut self, block: usize, on_packet: &mut dyn FnMut(Packet<'_>)) -> usize {
        // SAFETY: the block is ours until its status is set back to
        // TP_STATUS_KERNEL (Acquire load above, Release store after);
        // the kernel does not write to it meanwhile.
        let b: &[u8] = unsafe {
            std::slice::from_raw_parts(self.map.base().as_ptr().add(block * BLOCK_SIZE), BLOCK_SIZE)
        };
        let u32_at = |off: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
        };
        let u16_at = |off: usize| -> Option<u16> {
            Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
        };
        let num = u32_at(12).unwrap_or(0);
        let mut off = u32_at(16).unwrap_or(0) as usize;
        let mut n = 0;
        for _ in 0..num {
            let Some(frame) = (|| {
                let next = u32_at(off)? as usize;
                let sec = u32_at(off + 4)? as u64;
                let nsec = u32_at(off + 8)? as u64;
                let snap = u32_at(off + 12)? as usize;
                let wire_len = u32_at(off + 16)? as usize;
                let status = u32_at(off + 20)?;
                let mac = u16_at(off + 24)? as usize;
                let tci = u32_at(off + 32)? as u16;
                let tpid = u16_at(off + 36)?;
                let pkttype = *b.get(off + SLL_OFFSET + 10)?;
                let data = b.get(off + mac..off + mac + snap)?;
                Some((
                    next,
                    wire_len > snap,
                    sec * 1_000_000_000 + nsec,
                    status,
                    tci,
                    tpid,
                    pkttype,
                    data,
                ))
            })() else {
                break;
            };
            let (next, cut, ts_ns, status, tci, tpid, pkttype, data) = frame;
            self.truncated += cut as u64;
            if !(self.skip_outgoing && pkttype == PACKET_OUTGOING) {
                let data = if status & TP_STATUS_VLAN_VALID != 0
                    && self.link == LinkType::Ethernet
                    && data.len() >= 12
                {
                    let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 && tpid != 0 {
                        tpid
                    } else {
                        0x8100
                    };
                    self.scratch.clear();
                    self.scratch.extend_from_slice(&data[..12]);
                    self.scratch.extend_from_slice(&tpid.to_be_bytes());
                    self.scratch.extend_from_slice(&tci.to_be_bytes());
                    self.scratch.extend_from_slice(&data[12..]);
                    &self.scratch[..]
                } else {
                    data
                };
                on_packet(Packet {
                    ts_ns,
                    link: self.link,
                    data,
                });
                n += 1;
            }
            if next == 0 {
                break;
            }
            off += next;
        }
        n
    }
}

impl FrameRing for AfPacketRing {
    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn read(&mut self, on_packet: &mut dyn FnMut(Packet<'_>)) -> usize {
        let mut n = 0;
        for _ in 0..BLOCKS_PER_READ {
            let block = self.next_block;
            if self.block_status(block).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            n += self.read_block(block, on_packet);
            self.block_status(block)
                .store(TP_STATUS_KERNEL, Ordering::Release);
            self.next_block = (block + 1) % self.blocks;
        }
        n
    }

    fn kernel_stats(&mut self) -> KernelStats {
        let mut st = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: `st` is a writable TpacketStatsV3 of `len` bytes; reading
        // the counters also resets them, so we get deltas.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                SOL_PACKET,
                PACKET_STATISTICS,
                &mut st as *mut TpacketStatsV3 as *mut libc::c_void,
                &mut len,
            )
        };
        if rc != 0 {
            return KernelStats::default();
        }
        KernelStats {
            packets: st.packets as u64,
            drops: st.drops as u64,
            freezes: st.freeze_q_cnt as u64,
            truncated: std::mem::take(&mut self.truncated),
            ..KernelStats::default()
        }
    }
}
