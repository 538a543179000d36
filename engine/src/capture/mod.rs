//! Where packets come from. A capture engine hands each shard a stream of
//! frames with their link type and timestamp; nothing above this module
//! knows whether they came from a file or a kernel ring.

pub mod af_packet;
pub mod af_xdp;
pub mod batch;
pub mod bpf;
pub mod iface;
pub mod live;
pub mod own_traffic;
pub mod pcap_file;
pub mod pcap_live;
pub mod privileges;
pub mod steer;
#[cfg(test)]
pub(crate) mod testpkt;
pub mod xdp;

/// Link-layer framing of a captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    /// Linux cooked capture v1 (DLT_LINUX_SLL).
    LinuxSll,
    /// Linux cooked capture v2 (DLT_LINUX_SLL2).
    LinuxSll2,
    /// Raw IP: the version nibble says v4 or v6 (DLT_RAW, DLT_IPV4, DLT_IPV6).
    RawIp,
    /// BSD loopback: a 4-byte address family in host order (DLT_NULL) or
    /// network order (DLT_LOOP).
    Null,
    Loop,
    /// Linux NFLOG (DLT_NFLOG): a small header, then TLVs, one of which
    /// holds the IP packet.
    Nflog,
}

impl LinkType {
    /// Maps a pcap LINKTYPE_ value; None for link types we can't decode.
    pub fn from_linktype(v: u32) -> Option<LinkType> {
        Some(match v {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            239 => LinkType::Nflog,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }
}

/// One captured frame, borrowed from the engine's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub link: LinkType,
    pub data: &'a [u8],
}

/// What one poll of a packet source found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Some packets were delivered.
    Packets,
    /// Nothing right now; the shard may do housekeeping and poll again.
    Idle,
    /// The source is exhausted (end of file input, or shutdown).
    Done,
}

/// A shard's packet source. Each shard owns exactly one.
pub trait PacketSource: Send {
    /// Delivers zero or more packets to `on_packet`.
    fn poll(&mut self, on_packet: &mut dyn FnMut(Packet<'_>)) -> Poll;

    /// Like `poll`, with the segment each frame decoded to when the source
    /// decoded it already (file input does, to pick the shard).
    fn poll_decoded(
        &mut self,
        on_packet: &mut dyn FnMut(Packet<'_>, Option<crate::decode::Segment<'_>>),
    ) -> Poll {
        self.poll(&mut |p| on_packet(p, None))
    }

    /// Wall-clock sources return None; file sources return the capture time
    /// reached so far, which drives flushing and expiry.
    fn is_live(&self) -> bool;
}
