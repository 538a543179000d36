//! Why a live capture source could not be opened.

use std::io;

use super::xdp::XdpError;
use crate::bpf::FilterError;

/// A failure opening or configuring a capture socket, ring or program.
/// Shown after "ENGINE: cannot capture on IFACE: ".
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A system call on the socket failed (`socket(AF_PACKET)`,
    /// `bind to eth0`).
    #[error("{call}: {source}")]
    Syscall {
        call: String,
        #[source]
        source: io::Error,
    },
    /// setsockopt(2) refused an option (shown by its name, or by what it
    /// does: `promiscuous mode`).
    #[error("{option}: {source}")]
    Setsockopt {
        option: &'static str,
        #[source]
        source: io::Error,
    },
    /// Mapping a kernel ring into memory failed.
    #[error("mmap({ring}): {source}")]
    Mmap {
        ring: &'static str,
        #[source]
        source: io::Error,
    },
    /// libpcap could not open or configure the interface.
    #[error("pcap: {iface}: {source}")]
    Pcap {
        iface: String,
        #[source]
        source: pcap::Error,
    },
    /// libpcap presents the interface with a link type we do not decode.
    #[error("pcap: {iface}: unsupported link type {dlt}")]
    UnsupportedLink { iface: String, dlt: i32 },
    /// The capture filter for the link type could not be built.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// af_xdp: more UMEM frames than the rings can index.
    #[error("too many UMEM frames: lower ASSEMBLER_WORKER_PKT_BUF")]
    TooManyFrames,
    /// af_xdp: the UMEM's memory could not be mapped.
    #[error("cannot map {len} bytes of UMEM: {source}")]
    UmemMap {
        len: usize,
        #[source]
        source: io::Error,
    },
    /// af_xdp: a step of setting up one RX queue's sockets failed.
    #[error("{step} (queue {queue}): {source}")]
    Xsk {
        step: &'static str,
        queue: u32,
        #[source]
        source: io::Error,
    },
    /// af_xdp: a UMEM failure, with what the UMEM pins and how to allow it.
    #[error("{source} (the UMEM pins {mib} MiB: needs CAP_IPC_LOCK or an RLIMIT_MEMLOCK that large; lower ASSEMBLER_WORKER_PKT_BUF to shrink it)")]
    Memlock {
        mib: u64,
        #[source]
        source: Box<CaptureError>,
    },
    /// af_xdp: the XDP program could not be loaded, filled or attached.
    #[error(transparent)]
    Xdp(#[from] XdpError),
}

impl CaptureError {
    /// The last OS error of a failed system call.
    pub(crate) fn syscall(call: impl Into<String>) -> CaptureError {
        CaptureError::Syscall {
            call: call.into(),
            source: io::Error::last_os_error(),
        }
    }

    /// Whether the failure was about the UMEM (so memory locking limits
    /// may be the cause).
    pub fn involves_umem(&self) -> bool {
        match self {
            CaptureError::TooManyFrames | CaptureError::UmemMap { .. } => true,
            CaptureError::Xsk { step, .. } => step.contains("UMEM"),
            _ => false,
        }
    }
}
