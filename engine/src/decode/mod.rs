//! Frame decoding, from link layer to TCP payload. Each layer is a small
//! zero-copy view (`link`, `ip`, `tcp`); this module chains them and peels
//! tunnels (IPIP when enabled; VXLAN, Geneve, GTP-U, Teredo, AYIYA, GRE and
//! GRE-in-UDP, ERSPAN, MPLS, PPPoE always), nested in any order up to
//! `MAX_WRAPPERS` deep, so that the flow handed on is always the innermost
//! TCP connection. What it was wrapped in is summed up in the segment's
//! context id (`encap`), and described in full by `describe`.
//!
//! IP fragments are not decoded here: `decode` refuses them
//! (`DecodeError::Fragment`), and the owner of the packet source, which
//! sees every fragment, puts them back together with `defrag::Defrag`
//! into a frame that decodes as if it had not been fragmented.

pub mod defrag;
mod encap;
mod ip;
mod link;
mod tcp;

use std::net::IpAddr;

use crate::frame::Packet;
use crate::stats::Counter;

pub use encap::{Encap, Tunnel, TunnelKind, MAX_WRAPPERS};
pub use tcp::TcpFlags;

use encap::{Context, Trace};

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
    /// The VLAN ids and tunnel ids the segment came through, folded into
    /// one value (see `encap`); 0 when it had none. Part of the flow key.
    pub ctx: u64,
    /// Whether any VLAN tag or tunnel was peeled (even one without an id):
    /// a connection opened by such a segment is `describe`d.
    pub wrapped: bool,
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
    pub ctx: u64,
    pub wrapped: bool,
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
            ctx: self.ctx,
            wrapped: self.wrapped,
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
            ctx: self.ctx,
            wrapped: self.wrapped,
        }
    }
}

/// Headers (link, tags, shims, IP with its tunnel header) followed before
/// giving up. Each header consumes bytes, so this only bounds the work on
/// a frame of many tags: `MAX_WRAPPERS` tunnels with two VLAN tags each
/// take 5 steps apiece.
const MAX_DEPTH: u8 = 64;

/// What the link layer or a tunnel hands to the next decoder.
#[derive(Clone, Copy, Debug)]
enum Next<'a> {
    Ether(&'a [u8]),
    EtherType(u16, &'a [u8]),
    Ip(&'a [u8]),
}

pub fn decode<'a>(pkt: &Packet<'a>, opts: &DecodeOptions) -> Result<Segment<'a>, DecodeError> {
    walk(pkt, opts, &mut Context::default())
}

/// The VLAN tags and tunnels of a packet, outermost first; None when it
/// does not decode to TCP. For a connection's first packet only: the
/// record names them.
pub fn describe(pkt: &Packet<'_>, opts: &DecodeOptions) -> Option<Encap> {
    let mut e = Encap::default();
    walk(pkt, opts, &mut e).ok()?;
    Some(e)
}

/// Peels the frame down to its innermost TCP segment, telling `trace`
/// about every wrapper on the way.
fn walk<'a, T: Trace>(
    pkt: &Packet<'a>,
    opts: &DecodeOptions,
    trace: &mut T,
) -> Result<Segment<'a>, DecodeError> {
    let mut next = link::decode_link(pkt.link, pkt.data)?;
    for _ in 0..MAX_DEPTH {
        next = match next {
            Next::Ether(frame) => link::ethernet(frame)?,
            Next::EtherType(et, payload) => link::by_ethertype(et, payload, trace)?,
            Next::Ip(bytes) => {
                trace.ip(bytes);
                match ip::decode_ip(bytes, opts, trace)? {
                    ip::IpOutcome::Tcp(hdr, tcp_bytes) => {
                        let t = tcp::decode_tcp(tcp_bytes)?;
                        let (ctx, wrapped) = trace.context();
                        return Ok(Segment {
                            src: hdr.src,
                            dst: hdr.dst,
                            sport: t.sport,
                            dport: t.dport,
                            seq: t.seq,
                            ack: t.ack,
                            flags: t.flags,
                            payload: t.payload,
                            ctx,
                            wrapped,
                        });
                    }
                    ip::IpOutcome::Inner(n) => {
                        // Every way out of an IP header but TCP is a tunnel,
                        // told to the trace.
                        if trace.tunnels() > MAX_WRAPPERS {
                            return Err(DecodeError::TunnelUnsupported);
                        }
                        n
                    }
                }
            }
        };
    }
    Err(DecodeError::TunnelUnsupported)
}

/// A hash of the innermost 5-tuple that is the same in both directions:
/// the file reader uses it to keep a connection on one shard. The context
/// id is left out, as the kernel steering programs leave it out: tenants
/// whose inner 5-tuples are equal share a shard, and its flow table keeps
/// them apart.
pub fn flow_hash(pkt: &Packet<'_>, opts: &DecodeOptions) -> Option<u64> {
    decode(pkt, opts).ok().map(|s| segment_hash(&s))
}

/// `flow_hash` of a segment already decoded.
pub fn segment_hash(s: &Segment<'_>) -> u64 {
    crate::flow::FlowKey::new(s.src, s.sport, s.dst, s.dport).symmetric_hash()
}

#[cfg(test)]
mod tests;
