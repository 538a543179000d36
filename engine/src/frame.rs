//! The vocabulary every layer shares: a captured frame and its link type.
//! It sits on the ground floor, below `capture` (which produces frames) and
//! `decode` (which reads them), so that decoding depends on nothing above
//! it and can be fuzzed and benchmarked alone.

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
