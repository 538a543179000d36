//! IPv4 (with options) and IPv6 (with extension headers), and the tunnels
//! that ride on IP: IP-in-IP, GRE (and ERSPAN in it), and in UDP VXLAN,
//! Geneve, GTP-U, Teredo, AYIYA and GRE-in-UDP. Each tunnel is told to the
//! trace with the addresses of the IP header that carried it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::encap::{Trace, Tunnel, TunnelKind};
use super::link::{ETHERTYPE_ERSPAN_II, ETHERTYPE_ERSPAN_III};
use super::{DecodeError, DecodeOptions, Next};

const PROTO_IPV4: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;
const VXLAN_PORT: u16 = 4789;

#[derive(Clone, Copy, Debug)]
pub(super) struct IpHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
}

pub(super) enum IpOutcome<'a> {
    Tcp(IpHeader, &'a [u8]),
    Inner(Next<'a>),
}

pub(super) fn decode_ip<'a>(
    b: &'a [u8],
    opts: &DecodeOptions,
    trace: &mut impl Trace,
) -> Result<IpOutcome<'a>, DecodeError> {
    let Some(first) = b.first() else {
        return Err(DecodeError::Truncated);
    };
    let (hdr, proto, payload) = match first >> 4 {
        4 => ipv4(b)?,
        6 => ipv6(b)?,
        _ => return Err(DecodeError::BadIp),
    };
    match proto {
        PROTO_TCP => Ok(IpOutcome::Tcp(hdr, payload)),
        PROTO_IPV4 | PROTO_IPV6 if opts.ipip => {
            trace.tunnel(hdr.tunnel(TunnelKind::Ipip, None));
            Ok(IpOutcome::Inner(Next::Ip(payload)))
        }
        PROTO_IPV4 | PROTO_IPV6 => Err(DecodeError::TunnelUnsupported),
        PROTO_GRE => gre(payload, &hdr, trace).map(IpOutcome::Inner),
        PROTO_UDP => udp(payload, &hdr, trace).map(IpOutcome::Inner),
        _ => Err(DecodeError::NotTcp),
    }
}

impl IpHeader {
    /// A tunnel this header carried.
    fn tunnel(&self, kind: TunnelKind, id: Option<u32>) -> Tunnel {
        Tunnel {
            kind,
            src: self.src,
            dst: self.dst,
            id,
        }
    }
}

fn be24(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([0, b[at], b[at + 1], b[at + 2]])
}

fn ipv4(b: &[u8]) -> Result<(IpHeader, u8, &[u8]), DecodeError> {
    if b.len() < 20 {
        return Err(DecodeError::Truncated);
    }
    let ihl = ((b[0] & 0x0f) as usize) * 4;
    let total = u16::from_be_bytes([b[2], b[3]]) as usize;
    if ihl < 20 || (total != 0 && total < ihl) {
        return Err(DecodeError::BadIp);
    }
    if b.len() < ihl {
        return Err(DecodeError::Truncated);
    }
    let frag = u16::from_be_bytes([b[6], b[7]]);
    let more_fragments = frag & 0x2000 != 0;
    let offset = frag & 0x1fff;
    if more_fragments || offset != 0 {
        return Err(DecodeError::Fragment);
    }
    // Trim Ethernet padding; a total length of 0 is seen with TSO offload
    // (and in a reassembled datagram's tunnel headers when it outgrew them).
    let end = if total == 0 {
        b.len()
    } else {
        total.min(b.len())
    };
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    Ok((
        IpHeader {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
        },
        b[9],
        &b[ihl..end],
    ))
}

fn ipv6(b: &[u8]) -> Result<(IpHeader, u8, &[u8]), DecodeError> {
    if b.len() < 40 {
        return Err(DecodeError::Truncated);
    }
    let payload_len = u16::from_be_bytes([b[4], b[5]]) as usize;
    let mut next = b[6];
    let src: [u8; 16] = b[8..24].try_into().expect("16 bytes");
    let dst: [u8; 16] = b[24..40].try_into().expect("16 bytes");
    // A payload length of 0 means a jumbogram or TSO: take what was captured.
    let end = if payload_len == 0 {
        b.len()
    } else {
        (40 + payload_len).min(b.len())
    };
    let mut p = &b[40..end];
    // Walk extension headers to the upper-layer protocol.
    loop {
        match next {
            0 | 43 | 60 | 135 | 139 | 140 => {
                if p.len() < 8 {
                    return Err(DecodeError::Truncated);
                }
                let len = (p[1] as usize + 1) * 8;
                if p.len() < len {
                    return Err(DecodeError::Truncated);
                }
                next = p[0];
                p = &p[len..];
            }
            44 => {
                if p.len() < 8 {
                    return Err(DecodeError::Truncated);
                }
                let off_m = u16::from_be_bytes([p[2], p[3]]);
                // An atomic fragment (offset 0, no more) is a whole packet.
                if off_m & 0xfff9 != 0 {
                    return Err(DecodeError::Fragment);
                }
                next = p[0];
                p = &p[8..];
            }
            51 => {
                // Authentication Header: length in 4-byte units, minus 2.
                if p.len() < 8 {
                    return Err(DecodeError::Truncated);
                }
                let len = (p[1] as usize + 2) * 4;
                if p.len() < len {
                    return Err(DecodeError::Truncated);
                }
                next = p[0];
                p = &p[len..];
            }
            59 => return Err(DecodeError::NotTcp),
            _ => break,
        }
    }
    Ok((
        IpHeader {
            src: IpAddr::V6(Ipv6Addr::from(src)),
            dst: IpAddr::V6(Ipv6Addr::from(dst)),
        },
        next,
        p,
    ))
}

/// A fragment as the reassembler needs it: what names its datagram,
/// where its bytes go, and the header the datagram keeps. Read only for
/// packets `decode_ip` refused as fragments.
pub(super) struct FragPiece<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4's protocol; 0 for IPv6, whose datagrams are named by their
    /// addresses and identification alone (RFC 8200).
    pub proto: u8,
    /// 16 bits for IPv4, 32 for IPv6's Fragment header.
    pub id: u32,
    /// Where the fragment's bytes start in the datagram's payload.
    pub offset: usize,
    pub more: bool,
    /// The header that comes along with the datagram, from the first
    /// fragment: IPv4's with its options; IPv6's with the extension
    /// headers before the Fragment header.
    pub head_len: usize,
    /// IPv6: where in that header the byte naming the Fragment header is,
    /// and what the Fragment header names next (it replaces that byte).
    pub v6_next: Option<(usize, u8)>,
    pub data: &'a [u8],
}

/// Reads the fragment at the start of `b`; None when it is not one or is
/// cut short (by the capture or its own lengths).
pub(super) fn fragment(b: &[u8]) -> Option<FragPiece<'_>> {
    match b.first()? >> 4 {
        4 => {
            if b.len() < 20 {
                return None;
            }
            let ihl = ((b[0] & 0x0f) as usize) * 4;
            let total = u16::from_be_bytes([b[2], b[3]]) as usize;
            if ihl < 20 || total < ihl || b.len() < total {
                return None;
            }
            let frag = u16::from_be_bytes([b[6], b[7]]);
            Some(FragPiece {
                src: IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15])),
                dst: IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19])),
                proto: b[9],
                id: u16::from_be_bytes([b[4], b[5]]) as u32,
                offset: (frag & 0x1fff) as usize * 8,
                more: frag & 0x2000 != 0,
                head_len: ihl,
                v6_next: None,
                data: &b[ihl..total],
            })
        }
        6 => {
            if b.len() < 40 {
                return None;
            }
            let end = 40 + u16::from_be_bytes([b[4], b[5]]) as usize;
            if b.len() < end {
                return None;
            }
            let (mut next, mut next_at, mut at) = (b[6], 6, 40);
            loop {
                let h = b.get(at..end)?;
                let len = match next {
                    0 | 43 | 60 | 135 | 139 | 140 if h.len() >= 2 => (h[1] as usize + 1) * 8,
                    51 if h.len() >= 2 => (h[1] as usize + 2) * 4,
                    44 if h.len() >= 8 => {
                        let off_m = u16::from_be_bytes([h[2], h[3]]);
                        if off_m & 0xfff9 == 0 {
                            // Atomic: not what made this packet a fragment.
                            8
                        } else {
                            return Some(FragPiece {
                                src: IpAddr::V6(Ipv6Addr::from(
                                    <[u8; 16]>::try_from(&b[8..24]).ok()?,
                                )),
                                dst: IpAddr::V6(Ipv6Addr::from(
                                    <[u8; 16]>::try_from(&b[24..40]).ok()?,
                                )),
                                proto: 0,
                                id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                                offset: (off_m & 0xfff8) as usize,
                                more: off_m & 1 != 0,
                                head_len: at,
                                v6_next: Some((next_at, h[0])),
                                data: &h[8..],
                            });
                        }
                    }
                    _ => return None,
                };
                if h.len() < len {
                    return None;
                }
                (next, next_at, at) = (h[0], at, at + len);
            }
        }
        _ => None,
    }
}

fn gre<'a>(p: &'a [u8], outer: &IpHeader, trace: &mut impl Trace) -> Result<Next<'a>, DecodeError> {
    if p.len() < 4 {
        return Err(DecodeError::Truncated);
    }
    let flags = u16::from_be_bytes([p[0], p[1]]);
    let version = flags & 0x7;
    if version != 0 {
        // Version 1 is PPTP's enhanced GRE: PPP inside, not followed.
        return Err(DecodeError::TunnelUnsupported);
    }
    let proto = u16::from_be_bytes([p[2], p[3]]);
    let mut len = 4;
    if flags & 0x8000 != 0 {
        len += 4; // checksum + reserved
    }
    let key_at = (flags & 0x2000 != 0).then_some(len);
    if key_at.is_some() {
        len += 4;
    }
    if flags & 0x1000 != 0 {
        len += 4; // sequence number
    }
    if p.len() < len {
        return Err(DecodeError::Truncated);
    }
    let key = key_at.map(|at| u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]));
    let inner = &p[len..];
    match proto {
        ETHERTYPE_ERSPAN_II | ETHERTYPE_ERSPAN_III => {
            // ERSPAN (II and III alike): version and VLAN, then COS, the
            // encapsulation bits and the 10-bit session id. `by_ethertype`
            // skips the header. A GRE key, rare here, is kept as well.
            if inner.len() < 4 {
                return Err(DecodeError::Truncated);
            }
            if key.is_some() {
                trace.tunnel(outer.tunnel(TunnelKind::Gre, key));
            }
            let session = u16::from_be_bytes([inner[2], inner[3]]) & 0x03ff;
            trace.tunnel(outer.tunnel(TunnelKind::Erspan, Some(session as u32)));
        }
        _ => trace.tunnel(outer.tunnel(TunnelKind::Gre, key)),
    }
    Ok(Next::EtherType(proto, inner))
}

/// UDP ports of the tunnels followed inside UDP.
const VXLAN_GPE_PORT: u16 = 4790;
const TEREDO_PORT: u16 = 3544;
const AYIYA_PORT: u16 = 5072;
const GTP_U_PORT: u16 = 2152;
const GRE_UDP_PORT: u16 = 4754;
const GENEVE_PORT: u16 = 6081;

fn udp<'a>(p: &'a [u8], outer: &IpHeader, trace: &mut impl Trace) -> Result<Next<'a>, DecodeError> {
    if p.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    let sport = u16::from_be_bytes([p[0], p[1]]);
    let dport = u16::from_be_bytes([p[2], p[3]]);
    let v = &p[8..];
    // Either port: mirrors capture both directions of a tunnel.
    let on = |port: u16| sport == port || dport == port;
    let tunnel = |kind| outer.tunnel(kind, None);
    if on(VXLAN_PORT) || on(VXLAN_GPE_PORT) {
        vxlan(v, outer, trace)
    } else if on(GENEVE_PORT) {
        geneve(v, outer, trace)
    } else if on(GTP_U_PORT) {
        trace.tunnel(tunnel(TunnelKind::GtpU));
        gtp_u(v)
    } else if on(TEREDO_PORT) {
        trace.tunnel(tunnel(TunnelKind::Teredo));
        teredo(v)
    } else if on(AYIYA_PORT) {
        trace.tunnel(tunnel(TunnelKind::Ayiya));
        ayiya(v)
    } else if on(GRE_UDP_PORT) {
        gre(v, outer, trace)
    } else if is_bare_ipv6(v) {
        // Teredo relays talk on any port once the tunnel is up.
        trace.tunnel(tunnel(TunnelKind::Teredo));
        Ok(Next::Ip(v))
    } else {
        Err(DecodeError::NotTcp)
    }
}

/// A datagram that is exactly one IPv6 packet: version 6 and a payload
/// length that fills it. Random UDP data practically never passes.
fn is_bare_ipv6(v: &[u8]) -> bool {
    v.len() >= 40 && v[0] >> 4 == 6 && u16::from_be_bytes([v[4], v[5]]) as usize + 40 == v.len()
}

/// VXLAN: 8-byte header with the I flag and the 24-bit VNI, then an
/// Ethernet frame. With the P flag (VXLAN-GPE) the fourth byte names the
/// payload: IPv4, IPv6 or Ethernet.
fn vxlan<'a>(
    v: &'a [u8],
    outer: &IpHeader,
    trace: &mut impl Trace,
) -> Result<Next<'a>, DecodeError> {
    if v.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    if v[0] & 0x08 == 0 {
        return Err(DecodeError::NotTcp);
    }
    let vni = Some(be24(v, 4));
    if v[0] & 0x04 == 0 {
        trace.tunnel(outer.tunnel(TunnelKind::Vxlan, vni));
        return Ok(Next::Ether(&v[8..]));
    }
    trace.tunnel(outer.tunnel(TunnelKind::VxlanGpe, vni));
    match v[3] {
        1 | 2 => Ok(Next::Ip(&v[8..])),
        3 => Ok(Next::Ether(&v[8..])),
        _ => Err(DecodeError::TunnelUnsupported),
    }
}

/// Geneve (RFC 8926): version (2 bits) and options length (6 bits, in
/// 4-byte words), the O and C flags, the payload's ethertype and the
/// 24-bit VNI, then the options, skipped by their length whatever they
/// hold (AWS Gateway Load Balancer puts its own there), then the payload.
fn geneve<'a>(
    v: &'a [u8],
    outer: &IpHeader,
    trace: &mut impl Trace,
) -> Result<Next<'a>, DecodeError> {
    if v.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    if v[0] >> 6 != 0 {
        return Err(DecodeError::TunnelUnsupported);
    }
    if v[1] & 0x80 != 0 {
        // A control (OAM) packet: no tenant traffic.
        return Err(DecodeError::NotTcp);
    }
    let len = 8 + (v[0] & 0x3f) as usize * 4;
    let inner = v.get(len..).ok_or(DecodeError::Truncated)?;
    trace.tunnel(outer.tunnel(TunnelKind::Geneve, Some(be24(v, 4))));
    Ok(Next::EtherType(u16::from_be_bytes([v[2], v[3]]), inner))
}

/// GTP-U version 1 (mobile core user plane): an 8-byte header, 4 more when
/// any of E/S/PN is set, then extension headers while E chains them. Only
/// G-PDUs (type 255) carry user packets.
fn gtp_u(v: &[u8]) -> Result<Next<'_>, DecodeError> {
    if v.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    let flags = v[0];
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Err(DecodeError::TunnelUnsupported);
    }
    if v[1] != 0xff {
        // Echo, error indication, ...: signalling, no user data.
        return Err(DecodeError::NotTcp);
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        if v.len() < 12 {
            return Err(DecodeError::Truncated);
        }
        let mut next_ext = v[11];
        at = 12;
        while flags & 0x04 != 0 && next_ext != 0 {
            // Each extension: length in 4-byte units, ..., next type last.
            let len = *v.get(at).ok_or(DecodeError::Truncated)? as usize * 4;
            if len == 0 || v.len() < at + len {
                return Err(DecodeError::Truncated);
            }
            next_ext = v[at + len - 1]; // len >= 4: zero was refused above
            at += len;
        }
    }
    inner_ip(&v[at..])
}

/// Teredo (IPv6 over UDP): an IPv6 packet, optionally preceded by an
/// authentication and/or an origin indication.
fn teredo(mut v: &[u8]) -> Result<Next<'_>, DecodeError> {
    if v.len() >= 2 && v[0] == 0 && v[1] == 1 {
        // Authentication: id and auth lengths, id, auth, nonce (8), confirmation (1).
        if v.len() < 4 {
            return Err(DecodeError::Truncated);
        }
        let len = 4 + v[2] as usize + v[3] as usize + 9;
        v = v.get(len..).ok_or(DecodeError::Truncated)?;
    }
    if v.len() >= 2 && v[0] == 0 && v[1] == 0 {
        // Origin indication: 8 bytes.
        v = v.get(8..).ok_or(DecodeError::Truncated)?;
    }
    match v.first() {
        Some(b) if b >> 4 == 6 => Ok(Next::Ip(v)),
        Some(_) => Err(DecodeError::NotTcp),
        None => Err(DecodeError::Truncated),
    }
}

/// AYIYA ("anything in anything"): identity and signature lengths in the
/// first two bytes' high nibbles, the payload's IP protocol in the fourth.
fn ayiya(v: &[u8]) -> Result<Next<'_>, DecodeError> {
    if v.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    let opcode = v[2] & 0x0f;
    if opcode != 1 {
        // Only "forward" carries a packet.
        return Err(DecodeError::NotTcp);
    }
    let len = 8 + (1usize << (v[0] >> 4)) + (v[1] >> 4) as usize * 4;
    let inner = v.get(len..).ok_or(DecodeError::Truncated)?;
    match v[3] {
        PROTO_IPV4 | PROTO_IPV6 => inner_ip(inner),
        _ => Err(DecodeError::NotTcp),
    }
}

/// A tunnel payload that must be an IP packet.
fn inner_ip(v: &[u8]) -> Result<Next<'_>, DecodeError> {
    match v.first() {
        Some(b) if b >> 4 == 4 || b >> 4 == 6 => Ok(Next::Ip(v)),
        Some(_) => Err(DecodeError::TunnelUnsupported),
        None => Err(DecodeError::Truncated),
    }
}
