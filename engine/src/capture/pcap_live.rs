//! The `pcap` engine: libpcap live capture, for hosts where libpcap is the
//! supported interface. libpcap on Linux is an AF_PACKET socket, so we get
//! fanout too: each shard opens its own libpcap handle per interface and
//! the handles' sockets join one PACKET_FANOUT group with the same
//! steering program as `af_packet`. The capture filter is attached to the
//! socket directly (the combined IPIP filter is not expressible as one
//! libpcap filter string). libpcap restores VLAN tags itself.
//!
//! Buffer size: ASSEMBLER_WORKER_PKT_BUF × 2 KiB per handle, as for
//! af_packet; snaplen 256 KiB.

use std::os::fd::{AsRawFd, RawFd};

use pcap::{Active, Capture};

use super::af_packet::{attach_program, SNAPLEN};
use super::iface::Iface;
use super::live::{FrameRing, KernelStats};
use super::{CaptureError, LinkType, Packet};
use crate::bpf::{FilterError, Insn};

/// Frames handed to the shard per read.
const FRAMES_PER_READ: usize = 2048;

pub struct PcapRing {
    cap: Capture<Active>,
    link: LinkType,
    last: (u64, u64),
    /// Frames cut at the snaplen since the last stats read.
    truncated: u64,
}

impl PcapRing {
    /// Opens `iface`; `filter` builds the kernel filter for the link type
    /// the socket presents (cooked sockets present raw IP to filters).
    pub fn open(
        iface: &Iface,
        pkt_buf: u32,
        filter: &dyn Fn(LinkType) -> Result<Option<Vec<Insn>>, FilterError>,
    ) -> Result<PcapRing, CaptureError> {
        let pcap_err = |source| CaptureError::Pcap {
            iface: iface.name.clone(),
            source,
        };
        let cap = Capture::from_device(iface.name.as_str())
            .map_err(pcap_err)?
            .promisc(iface.index != 0)
            .snaplen(SNAPLEN as i32)
            .immediate_mode(true)
            .buffer_size((pkt_buf as usize * 2048).min(i32::MAX as usize) as i32)
            .open()
            .map_err(pcap_err)?
            .setnonblock()
            .map_err(pcap_err)?;
        let dlt = cap.get_datalink().0;
        let link =
            LinkType::from_linktype(dlt as u32).ok_or_else(|| CaptureError::UnsupportedLink {
                iface: iface.name.clone(),
                dlt,
            })?;
        let filter_link = match link {
            LinkType::LinuxSll | LinkType::LinuxSll2 => LinkType::RawIp,
            l => l,
        };
        if let Some(prog) = filter(filter_link)? {
            attach_program(
                cap.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &prog,
                "SO_ATTACH_FILTER",
            )?;
        }
        Ok(PcapRing {
            cap,
            link,
            last: (0, 0),
            truncated: 0,
        })
    }
}

impl FrameRing for PcapRing {
    fn fd(&self) -> RawFd {
        self.cap.as_raw_fd()
    }

    fn read(&mut self, on_packet: &mut dyn FnMut(Packet<'_>)) -> usize {
        let mut n = 0;
        while n < FRAMES_PER_READ {
            match self.cap.next_packet() {
                Ok(p) => {
                    if p.header.caplen < p.header.len {
                        self.truncated += 1;
                    }
                    let ts = p.header.ts;
                    let ts_ns =
                        ts.tv_sec.max(0) as u64 * 1_000_000_000 + ts.tv_usec.max(0) as u64 * 1_000;
                    on_packet(Packet {
                        ts_ns,
                        link: self.link,
                        data: p.data,
                    });
                    n += 1;
                }
                Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => break,
                Err(e) => {
                    tracing::warn!("pcap read failed: {e}");
                    break;
                }
            }
        }
        n
    }

    fn kernel_stats(&mut self) -> KernelStats {
        let Ok(s) = self.cap.stats() else {
            return KernelStats::default();
        };
        // libpcap's counters are cumulative.
        let (recv, drop) = (s.received as u64, s.dropped as u64);
        let d = KernelStats {
            packets: recv.saturating_sub(self.last.0),
            drops: drop.saturating_sub(self.last.1),
            truncated: std::mem::take(&mut self.truncated),
            ..KernelStats::default()
        };
        self.last = (recv, drop);
        d
    }
}
