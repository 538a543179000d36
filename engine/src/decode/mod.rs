//! Frame decoding, from link layer to TCP payload. Each layer is a small
//! zero-copy view (`link`, `ip`, `tcp`); this module chains them and peels
//! tunnels (IPIP when enabled; VXLAN, GTP-U, Teredo, AYIYA, GRE and
//! GRE-in-UDP, MPLS, PPPoE always) so that the flow
//! handed on is always the innermost TCP connection.
//!
//! IP fragments are not reassembled: HTTP over TCP is practically never
//! fragmented (TCP segments to the path MTU), so fragments are counted as
//! `decode_ip_fragment` and dropped.

mod ip;
mod link;
mod tcp;

use std::net::IpAddr;

use crate::frame::Packet;
use crate::stats::Counter;

pub use tcp::TcpFlags;

/// Why a frame yielded no TCP segment. Each maps to one counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    BadLink,
    NotIp,
    NotTcp,
    Fragment,
    BadIp,
    BadTcp,
    TunnelUnsupported,
}

impl DecodeError {
    pub fn counter(self) -> Counter {
        match self {
            DecodeError::Truncated => Counter::DecodeTruncated,
            DecodeError::BadLink => Counter::DecodeBadLink,
            DecodeError::NotIp => Counter::DecodeNotIp,
            DecodeError::NotTcp => Counter::DecodeNotTcp,
            DecodeError::Fragment => Counter::DecodeFragment,
            DecodeError::BadIp => Counter::DecodeBadIp,
            DecodeError::BadTcp => Counter::DecodeBadTcp,
            DecodeError::TunnelUnsupported => Counter::DecodeTunnelUnsupported,
        }
    }
}

/// Decoder switches from the configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    /// Peel IPv4/IPv6-in-IPv4/IPv6 (IP protocols 4 and 41).
    pub ipip: bool,
}

/// A decoded TCP segment of the innermost flow.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
}

/// A decoded segment without its borrow of the frame: the file reader
/// decodes every frame to pick its shard and hands this over with it, so
/// the shard does not decode the frame a second time.
#[derive(Clone, Copy, Debug)]
pub struct SegmentMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// Where the payload lies in the frame.
    payload_at: u32,
    payload_len: u32,
}

impl Segment<'_> {
    /// This segment's fields, with the payload as a position in `frame`
    /// (the frame it was decoded from).
    pub fn meta(&self, frame: &[u8]) -> SegmentMeta {
        let at = (self.payload.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
        SegmentMeta {
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            payload_at: at as u32,
            payload_len: self.payload.len() as u32,
        }
    }
}

impl SegmentMeta {
    /// The segment again, borrowing its payload from the same frame.
    pub fn segment<'a>(&self, frame: &'a [u8]) -> Segment<'a> {
        let at = self.payload_at as usize;
        Segment {
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            payload: &frame[at..at + self.payload_len as usize],
        }
    }
}

/// Layers (link, shim and tunnel headers) followed before giving up: ERSPAN
/// in GRE carrying VXLAN already takes eight.
const MAX_DEPTH: u8 = 16;

/// What the link layer or a tunnel hands to the next decoder.
#[derive(Clone, Copy, Debug)]
enum Next<'a> {
    Ether(&'a [u8]),
    EtherType(u16, &'a [u8]),
    Ip(&'a [u8]),
}

pub fn decode<'a>(pkt: &Packet<'a>, opts: &DecodeOptions) -> Result<Segment<'a>, DecodeError> {
    let mut next = link::decode_link(pkt.link, pkt.data)?;
    for _ in 0..MAX_DEPTH {
        next = match next {
            Next::Ether(frame) => link::ethernet(frame)?,
            Next::EtherType(et, payload) => link::by_ethertype(et, payload)?,
            Next::Ip(bytes) => match ip::decode_ip(bytes, opts)? {
                ip::IpOutcome::Tcp(hdr, tcp_bytes) => {
                    let t = tcp::decode_tcp(tcp_bytes)?;
                    return Ok(Segment {
                        src: hdr.src,
                        dst: hdr.dst,
                        sport: t.sport,
                        dport: t.dport,
                        seq: t.seq,
                        ack: t.ack,
                        flags: t.flags,
                        payload: t.payload,
                    });
                }
                ip::IpOutcome::Inner(n) => n,
            },
        };
    }
    Err(DecodeError::TunnelUnsupported)
}

/// A hash of the innermost 5-tuple that is the same in both directions:
/// the file reader uses it to keep a connection on one shard.
pub fn flow_hash(pkt: &Packet<'_>, opts: &DecodeOptions) -> Option<u64> {
    decode(pkt, opts).ok().map(|s| segment_hash(&s))
}

/// `flow_hash` of a segment already decoded.
pub fn segment_hash(s: &Segment<'_>) -> u64 {
    crate::flow::FlowKey::new(s.src, s.sport, s.dst, s.dport).symmetric_hash()
}

#[cfg(test)]
mod tests;
