//! Hand-built frames for the unit tests (capture, decode, shard, bpf):
//! one builder per layer, innermost first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TCP, seq 1000, PSH|ACK, no options.
pub fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    tcp_with(sport, dport, (1000, 0), 0x18, &[], payload)
}

/// TCP with the given (seq, ack), flags and options (a multiple of 4
/// bytes).
pub fn tcp_with(
    sport: u16,
    dport: u16,
    (seq, ack): (u32, u32),
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    let words = ((20 + options.len()) / 4) as u8;
    t.extend_from_slice(&[words << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(options);
    t.extend_from_slice(payload);
    t
}

pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// An IP header (v4 or v6 by the addresses) around `payload`; IPv4 with
/// Don't Fragment set.
pub fn ip(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_with((s, d), proto, &[], 0x4000, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6_with((s, d), &[], proto, payload),
        _ => panic!("mixed families"),
    }
}

/// IPv4 with `options` (a multiple of 4 bytes) and the flags/fragment
/// offset field `frag`.
pub fn ipv4_with(
    (src, dst): (Ipv4Addr, Ipv4Addr),
    proto: u8,
    options: &[u8],
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let ihl = 20 + options.len();
    let mut p = vec![0x40 | (ihl / 4) as u8, 0];
    p.extend_from_slice(&((ihl + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(options);
    p.extend_from_slice(payload);
    p
}

/// IPv6 with a chain of (header type, bytes) extension headers; each
/// one's next-header byte is filled in.
pub fn ipv6_with(
    (src, dst): (Ipv6Addr, Ipv6Addr),
    exts: &[(u8, Vec<u8>)],
    proto: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (_, bytes)) in exts.iter().enumerate() {
        let mut b = bytes.clone();
        b[0] = exts.get(i + 1).map(|e| e.0).unwrap_or(proto);
        body.extend_from_slice(&b);
    }
    body.extend_from_slice(payload);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(&[exts.first().map(|e| e.0).unwrap_or(proto), 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&body);
    p
}

/// An 802.1Q/802.1ad tag: (tag protocol id, the tag and what follows),
/// for `ether` to wrap.
pub fn vlan(tpid: u16, vid: u16, inner_type: u16, payload: &[u8]) -> (u16, Vec<u8>) {
    let mut v = vid.to_be_bytes().to_vec();
    v.extend_from_slice(&inner_type.to_be_bytes());
    v.extend_from_slice(payload);
    (tpid, v)
}

pub fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn ethertype_of(ip: IpAddr) -> u16 {
    if ip.is_ipv4() {
        0x0800
    } else {
        0x86dd
    }
}

/// Ethernet + IP + TCP.
pub fn tcp_frame(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Vec<u8> {
    ether(
        ethertype_of(src),
        &ip(src, dst, 6, &tcp(sport, dport, b"GET / HTTP/1.1\r\n\r\n")),
    )
}

/// The same, wrapped in an outer IP header (protocol 4 or 41).
pub fn ipip_frame(
    outer: (IpAddr, IpAddr),
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
) -> Vec<u8> {
    let inner = ip(src, dst, 6, &tcp(sport, dport, b"GET / HTTP/1.1\r\n\r\n"));
    let proto = if src.is_ipv4() { 4 } else { 41 };
    ether(ethertype_of(outer.0), &ip(outer.0, outer.1, proto, &inner))
}

/// The same, in VXLAN over UDP 4789 with the given outer source port.
pub fn vxlan_frame(
    outer: (IpAddr, IpAddr),
    outer_sport: u16,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
) -> Vec<u8> {
    let inner = tcp_frame(src, sport, dst, dport);
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(&inner);
    ether(
        ethertype_of(outer.0),
        &ip(outer.0, outer.1, 17, &udp(outer_sport, 4789, &vx)),
    )
}

/// The same in Geneve over UDP 6081 with the given outer source port,
/// VNI 7 and `options` (a multiple of 4 bytes): the inner Ethernet frame
/// (protocol TEB), or with `ip_inside` the inner IP packet alone.
pub fn geneve_frame(
    outer: (IpAddr, IpAddr),
    outer_sport: u16,
    (src, sport): (IpAddr, u16),
    (dst, dport): (IpAddr, u16),
    options: &[u8],
    ip_inside: bool,
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let (proto, inner) = if ip_inside {
        let packet = ip(src, dst, 6, &tcp(sport, dport, b"GET / HTTP/1.1\r\n\r\n"));
        (ethertype_of(src), packet)
    } else {
        (0x6558, tcp_frame(src, sport, dst, dport))
    };
    let p = proto.to_be_bytes();
    let mut g = vec![(options.len() / 4) as u8, 0, p[0], p[1], 0, 0, 7, 0];
    g.extend_from_slice(options);
    g.extend_from_slice(&inner);
    ether(
        ethertype_of(outer.0),
        &ip(outer.0, outer.1, 17, &udp(outer_sport, 6081, &g)),
    )
}

pub use crate::decode::defrag::fragments;
