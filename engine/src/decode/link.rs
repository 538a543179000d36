//! Link layers and the L2 shims found on mirrored traffic: Ethernet,
//! 802.1Q/802.1ad tags, Linux cooked captures, BSD loopback, MPLS, PPPoE.

use super::encap::Trace;
use super::{DecodeError, Next};
use crate::frame::LinkType;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
pub(super) const ETHERTYPE_ERSPAN_II: u16 = 0x88be;
pub(super) const ETHERTYPE_ERSPAN_III: u16 = 0x22eb;
const ETHERTYPE_TEB: u16 = 0x6558;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(super) fn decode_link(link: LinkType, data: &[u8]) -> Result<Next<'_>, DecodeError> {
    match link {
        LinkType::Ethernet => Ok(Next::Ether(data)),
        LinkType::RawIp => Ok(Next::Ip(data)),
        LinkType::LinuxSll => {
            // 16 bytes: packet type, ARPHRD, address length, 8-byte address, protocol.
            if data.len() < 16 {
                return Err(DecodeError::Truncated);
            }
            Ok(Next::EtherType(be16(data, 14), &data[16..]))
        }
        LinkType::LinuxSll2 => {
            // 20 bytes: protocol first, then interface index and the rest.
            if data.len() < 20 {
                return Err(DecodeError::Truncated);
            }
            Ok(Next::EtherType(be16(data, 0), &data[20..]))
        }
        LinkType::Nflog => nflog(data),
        LinkType::Null | LinkType::Loop => {
            if data.len() < 4 {
                return Err(DecodeError::Truncated);
            }
            // The family is in the writer's byte order (NULL) or network
            // order (LOOP); both orders are tried, as readers commonly do.
            let le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            let be = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let family = if le < 256 { le } else { be };
            match family {
                2 => Ok(Next::Ip(&data[4..])),
                // AF_INET6 differs by BSD flavour: 24, 28, 30 (and 10 on Linux).
                10 | 24 | 28 | 30 => Ok(Next::Ip(&data[4..])),
                _ => Err(DecodeError::NotIp),
            }
        }
    }
}

/// NFLOG: family, version and resource id (4 bytes), then TLVs whose
/// 16-bit length (header included, in host order: little-endian on the
/// machines that write these) is padded to 4 bytes. Type 9 is the packet.
fn nflog(data: &[u8]) -> Result<Next<'_>, DecodeError> {
    const NFULA_PAYLOAD: u16 = 9;
    if data.len() < 4 {
        return Err(DecodeError::Truncated);
    }
    let mut p = &data[4..];
    while p.len() >= 4 {
        let len = u16::from_le_bytes([p[0], p[1]]) as usize;
        let kind = u16::from_le_bytes([p[2], p[3]]) & 0x7fff;
        if len < 4 || len > p.len() {
            return Err(DecodeError::Truncated);
        }
        if kind == NFULA_PAYLOAD {
            return Ok(Next::Ip(&p[4..len]));
        }
        let padded = (len + 3) & !3;
        p = &p[padded.min(p.len())..];
    }
    Err(DecodeError::NotIp)
}

#[inline]
pub(super) fn ethernet(frame: &[u8]) -> Result<Next<'_>, DecodeError> {
    if frame.len() < 14 {
        return Err(DecodeError::Truncated);
    }
    let ethertype = be16(frame, 12);
    if ethertype < 0x0600 {
        // 802.3 length field: LLC frames (STP, CDP) carry no IP we follow.
        return Err(DecodeError::NotIp);
    }
    Ok(Next::EtherType(ethertype, &frame[14..]))
}

#[inline]
pub(super) fn by_ethertype<'a>(
    ethertype: u16,
    payload: &'a [u8],
    trace: &mut impl Trace,
) -> Result<Next<'a>, DecodeError> {
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Ok(Next::Ip(payload)),
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
            // Tag: 2 bytes TCI (priority, DEI, 12-bit VLAN id), 2 bytes
            // inner ethertype.
            if payload.len() < 4 {
                return Err(DecodeError::Truncated);
            }
            trace.vlan(be16(payload, 0) & 0x0fff);
            Ok(Next::EtherType(be16(payload, 2), &payload[4..]))
        }
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => mpls(payload),
        ETHERTYPE_PPPOE_SESSION => pppoe(payload),
        ETHERTYPE_TEB => Ok(Next::Ether(payload)),
        ETHERTYPE_ERSPAN_II => {
            // ERSPAN type II: 8-byte header, then the mirrored Ethernet frame.
            if payload.len() < 8 {
                return Err(DecodeError::Truncated);
            }
            Ok(Next::Ether(&payload[8..]))
        }
        ETHERTYPE_ERSPAN_III => {
            // ERSPAN type III: 12 bytes, plus 8 when the O (optional) bit is set.
            if payload.len() < 12 {
                return Err(DecodeError::Truncated);
            }
            let len = if payload[11] & 0x01 != 0 { 20 } else { 12 };
            if payload.len() < len {
                return Err(DecodeError::Truncated);
            }
            Ok(Next::Ether(&payload[len..]))
        }
        _ => Err(DecodeError::NotIp),
    }
}

fn mpls(mut p: &[u8]) -> Result<Next<'_>, DecodeError> {
    // Pop labels until bottom-of-stack, then guess the payload by its
    // first nibble, as MPLS itself carries no payload type.
    loop {
        if p.len() < 4 {
            return Err(DecodeError::Truncated);
        }
        let bottom = p[2] & 0x01 != 0;
        p = &p[4..];
        if bottom {
            break;
        }
    }
    match p.first().map(|b| b >> 4) {
        Some(4) | Some(6) => Ok(Next::Ip(p)),
        // Pseudowire control word (first nibble 0) then Ethernet.
        Some(0) if p.len() >= 4 => Ok(Next::Ether(&p[4..])),
        Some(_) => Err(DecodeError::NotIp),
        None => Err(DecodeError::Truncated),
    }
}

fn pppoe(p: &[u8]) -> Result<Next<'_>, DecodeError> {
    // 6-byte PPPoE header, then a 2-byte PPP protocol.
    if p.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    match be16(p, 6) {
        0x0021 | 0x0057 => Ok(Next::Ip(&p[8..])),
        _ => Err(DecodeError::NotIp),
    }
}
