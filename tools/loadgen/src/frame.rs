//! Link, network and transport headers: Ethernet (optionally 802.1Q tagged),
//! IPv4 (optionally inside an IPIP tunnel) or IPv6, and TCP, with real
//! checksums so that peers which verify them accept the capture.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// How every frame of the capture is wrapped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wrapping {
    pub vlan: Option<u16>,
    /// Outer tunnel endpoints (source, destination) for IPIP.
    pub ipip: Option<(Ipv4Addr, Ipv4Addr)>,
    /// TCP timestamps option on every segment, as Linux sends by default.
    pub tcp_timestamps: bool,
}

impl Wrapping {
    /// Bytes of headers in front of a TCP payload on an established connection.
    pub fn overhead(&self) -> usize {
        14 + self.vlan.map_or(0, |_| 4) + self.ipip.map_or(0, |_| 20) + 20 + self.tcp_len(false)
    }

    fn tcp_len(&self, syn: bool) -> usize {
        match (syn, self.tcp_timestamps) {
            (true, true) => 40,  // MSS, SACK permitted, timestamps, window scale
            (true, false) => 32, // MSS, NOP, NOP, SACK permitted, NOP, window scale
            (false, true) => 32, // NOP, NOP, timestamps
            (false, false) => 20,
        }
    }
}

pub struct Endpoint {
    pub mac: [u8; 6],
    pub ip: IpAddr,
    pub port: u16,
}

/// One TCP segment to put on the wire.
pub struct Segment<'a> {
    pub src: &'a Endpoint,
    pub dst: &'a Endpoint,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub ip_id: u16,
    pub ts_val: u32,
    pub ts_ecr: u32,
    pub mss: u16,
    pub payload: &'a [u8],
}

/// Appends the whole frame for `seg` to `out`.
pub fn build(wrap: &Wrapping, seg: &Segment, out: &mut Vec<u8>) {
    let syn = seg.flags & SYN != 0;
    let tcp_len = wrap.tcp_len(syn) + seg.payload.len();

    out.extend_from_slice(&seg.dst.mac);
    out.extend_from_slice(&seg.src.mac);
    if let Some(vid) = wrap.vlan {
        out.extend_from_slice(&[0x81, 0x00]);
        out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    let pseudo = match (seg.src.ip, seg.dst.ip) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            out.extend_from_slice(&[0x08, 0x00]);
            if let Some((outer_src, outer_dst)) = wrap.ipip {
                push_ipv4(out, outer_src, outer_dst, 4, 20 + tcp_len, seg.ip_id);
            }
            push_ipv4(out, src, dst, 6, tcp_len, seg.ip_id);
            sum16(&src.octets()) + sum16(&dst.octets()) + 6 + tcp_len as u64
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            out.extend_from_slice(&[0x86, 0xdd]);
            push_ipv6(out, src, dst, tcp_len);
            sum16(&src.octets()) + sum16(&dst.octets()) + 6 + tcp_len as u64
        }
        _ => panic!("endpoints of one connection share an address family"),
    };

    let start = out.len();
    out.extend_from_slice(&seg.src.port.to_be_bytes());
    out.extend_from_slice(&seg.dst.port.to_be_bytes());
    out.extend_from_slice(&seg.seq.to_be_bytes());
    out.extend_from_slice(&seg.ack.to_be_bytes());
    out.push(((wrap.tcp_len(syn) / 4) as u8) << 4);
    out.push(seg.flags);
    out.extend_from_slice(&seg.window.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    if syn {
        out.extend_from_slice(&[2, 4]);
        out.extend_from_slice(&seg.mss.to_be_bytes());
        if wrap.tcp_timestamps {
            out.extend_from_slice(&[4, 2]); // SACK permitted
            push_timestamps(out, seg);
        } else {
            out.extend_from_slice(&[1, 1, 4, 2]);
        }
        out.extend_from_slice(&[1, 3, 3, 7]); // NOP, window scale 7
    } else if wrap.tcp_timestamps {
        out.extend_from_slice(&[1, 1]);
        push_timestamps(out, seg);
    }
    out.extend_from_slice(seg.payload);

    let sum = pseudo + sum16(&out[start..]);
    let csum = fold(sum).to_be_bytes();
    out[start + 16] = csum[0];
    out[start + 17] = csum[1];
}

fn push_timestamps(out: &mut Vec<u8>, seg: &Segment) {
    out.extend_from_slice(&[8, 10]);
    out.extend_from_slice(&seg.ts_val.to_be_bytes());
    out.extend_from_slice(&seg.ts_ecr.to_be_bytes());
}

fn push_ipv4(out: &mut Vec<u8>, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: usize, id: u16) {
    let start = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&((20 + payload) as u16).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]); // DF, TTL 64
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let csum = fold(sum16(&out[start..start + 20])).to_be_bytes();
    out[start + 10] = csum[0];
    out[start + 11] = csum[1];
}

fn push_ipv6(out: &mut Vec<u8>, src: Ipv6Addr, dst: Ipv6Addr, payload: usize) {
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload as u16).to_be_bytes());
    out.extend_from_slice(&[6, 64]); // next header TCP, hop limit 64
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
}

#[cfg(test)]
fn pseudo_header_sum(src: IpAddr, dst: IpAddr, tcp_len: usize) -> u64 {
    let octets = |ip: IpAddr| match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    sum16(&octets(src)) + sum16(&octets(dst)) + 6 + tcp_len as u64
}

/// One's-complement sum of big-endian 16-bit words, not yet folded.
fn sum16(data: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u64) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint {
            mac: [2, 0, 0, 0, 0, last],
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)),
            port,
        }
    }

    fn segment<'a>(a: &'a Endpoint, b: &'a Endpoint, flags: u8, payload: &'a [u8]) -> Segment<'a> {
        Segment {
            src: a,
            dst: b,
            seq: 1,
            ack: 2,
            flags,
            window: 502,
            ip_id: 9,
            ts_val: 3,
            ts_ecr: 4,
            mss: 1460,
            payload,
        }
    }

    #[test]
    fn checksums_verify_to_zero() {
        let (a, b) = (ep(1, 40000), ep(2, 80));
        let wrap = Wrapping {
            vlan: Some(42),
            ipip: Some((
                Ipv4Addr::new(198, 51, 100, 1),
                Ipv4Addr::new(198, 51, 100, 2),
            )),
            tcp_timestamps: true,
        };
        let mut out = Vec::new();
        build(
            &wrap,
            &segment(&a, &b, PSH | ACK, b"GET / HTTP/1.1\r\n\r\n"),
            &mut out,
        );
        assert_eq!(&out[12..14], &[0x81, 0x00]);
        let outer = 18;
        let inner = outer + 20;
        assert_eq!(out[outer + 9], 4);
        assert_eq!(fold(sum16(&out[outer..outer + 20])), 0);
        assert_eq!(fold(sum16(&out[inner..inner + 20])), 0);
        let tcp = &out[inner + 20..];
        assert_eq!(
            fold(pseudo_header_sum(a.ip, b.ip, tcp.len()) + sum16(tcp)),
            0
        );
        assert_eq!(out.len(), wrap.overhead() + 18);
    }

    #[test]
    fn ipv6_checksum_verifies() {
        let v6 = |last: u16, port| Endpoint {
            mac: [2, 0, 0, 0, 0, last as u8],
            ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)),
            port,
        };
        let (a, b) = (v6(1, 40000), v6(2, 80));
        let wrap = Wrapping {
            tcp_timestamps: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        build(
            &wrap,
            &segment(&a, &b, PSH | ACK, b"GET / HTTP/1.1\r\n\r\n"),
            &mut out,
        );
        assert_eq!(&out[12..14], &[0x86, 0xdd]);
        let tcp = &out[14 + 40..];
        assert_eq!(u16::from_be_bytes([out[18], out[19]]) as usize, tcp.len());
        assert_eq!(
            fold(pseudo_header_sum(a.ip, b.ip, tcp.len()) + sum16(tcp)),
            0
        );
    }

    #[test]
    fn syn_options_match_data_offset() {
        let (a, b) = (ep(1, 40000), ep(2, 80));
        for tcp_timestamps in [true, false] {
            let wrap = Wrapping {
                tcp_timestamps,
                ..Default::default()
            };
            let mut out = Vec::new();
            build(&wrap, &segment(&a, &b, SYN, b""), &mut out);
            let offset = (out[14 + 20 + 12] >> 4) as usize * 4;
            assert_eq!(out.len(), 14 + 20 + offset);
        }
    }
}
