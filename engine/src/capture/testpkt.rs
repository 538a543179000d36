//! Hand-built frames for the capture unit tests.

use std::net::IpAddr;

pub fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
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

/// An IP header (v4 or v6 by the addresses) around `payload`.
pub fn ip(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            p.extend_from_slice(&[proto, 64]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed families"),
    }
    p.extend_from_slice(payload);
    p
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
