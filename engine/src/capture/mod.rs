//! Where packets come from. A capture engine hands each shard a stream of
//! frames with their link type and timestamp; nothing above this module
//! knows whether they came from a file or a kernel ring.

#[allow(unsafe_code)] // kernel interface: rings, sockets, mappings
pub mod af_packet;
#[allow(unsafe_code)] // kernel interface: rings, sockets, mappings
pub mod af_xdp;
pub mod batch;
pub mod error;
pub mod file_feeder;
pub mod iface;
#[allow(unsafe_code)] // kernel interface: rings, sockets, mappings
pub mod live;
#[allow(unsafe_code)] // kernel interface: rings, sockets, mappings
pub mod mmap;
pub mod own_traffic;
pub mod pcap_classic;
pub mod pcap_file;
pub mod pcap_live;
pub mod pcapng_blocks;
pub mod read_buffer;
pub mod steer;
#[cfg(test)]
pub(crate) mod testpkt;
#[allow(unsafe_code)] // kernel interface: rings, sockets, mappings
pub mod xdp;

pub use crate::frame::{LinkType, Packet};
pub use error::CaptureError;

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

    /// Whether packets carry wall-clock (kernel) timestamps. A file
    /// source's timestamps are the capture's own, and they drive flushing
    /// and expiry instead of the wall clock.
    fn is_live(&self) -> bool;
}
