//! Captures written by the tests: raw IPv4 TCP packets in a pcap file,
//! one segment at a time or a whole scripted connection; or frames of
//! any link type built by the test (`with_link`, `frame`).

use std::net::Ipv4Addr;
use std::path::Path;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH_ACK: u8 = 0x18;
pub const FIN_ACK: u8 = 0x11;

/// Writes a pcap of raw IPv4 packets, a microsecond apart.
pub struct Gen {
    w: PcapWriter<std::io::BufWriter<std::fs::File>>,
    ts_ns: u64,
}

impl Gen {
    pub fn new(path: &Path) -> Gen {
        Gen::with_link(path, DataLink::RAW)
    }

    /// A capture whose frames are of link type `datalink`.
    pub fn with_link(path: &Path, datalink: DataLink) -> Gen {
        let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let header = PcapHeader {
            datalink,
            ..Default::default()
        };
        Gen {
            w: PcapWriter::with_header(f, header).unwrap(),
            ts_ns: 1_700_000_000_000_000_000,
        }
    }

    /// Packets from now on are stamped from `ts_ns` (a microsecond apart):
    /// the capture's clock may jump either way.
    pub fn set_time_ns(&mut self, ts_ns: u64) {
        self.ts_ns = ts_ns;
    }

    /// One TCP segment (checksums left zero: the engine does not check them).
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        dport: u16,
        seq: u32,
        flags: u8,
        payload: &[u8],
    ) {
        let p = ipv4_tcp(src, sport, dst, dport, seq, flags, payload);
        self.frame(&p);
    }

    /// One frame as it is, a microsecond after the last.
    pub fn frame(&mut self, p: &[u8]) {
        self.ts_ns += 1_000;
        let ts = std::time::Duration::from_nanos(self.ts_ns);
        self.w
            .write_packet(&PcapPacket::new(ts, p.len() as u32, p))
            .unwrap();
    }

    /// A whole connection from client port `port` to 10.7.0.2:80:
    /// handshake, the turns (client or server, bytes) in 1400-byte
    /// segments, and FINs.
    pub fn conversation(&mut self, port: u16, turns: &[(bool, Vec<u8>)]) {
        let c: Ipv4Addr = "10.7.0.1".parse().unwrap();
        let s: Ipv4Addr = "10.7.0.2".parse().unwrap();
        let (mut cs, mut ss) = (1000u32, 5000u32);
        self.tcp(c, port, s, 80, cs, SYN, b"");
        self.tcp(s, 80, c, port, ss, SYN | ACK, b"");
        cs += 1;
        ss += 1;
        self.tcp(c, port, s, 80, cs, ACK, b"");
        for (client, bytes) in turns {
            for chunk in bytes.chunks(1400) {
                if *client {
                    self.tcp(c, port, s, 80, cs, PSH_ACK, chunk);
                    cs += chunk.len() as u32;
                } else {
                    self.tcp(s, 80, c, port, ss, PSH_ACK, chunk);
                    ss += chunk.len() as u32;
                }
            }
        }
        self.tcp(c, port, s, 80, cs, FIN_ACK, b"");
        self.tcp(s, 80, c, port, ss, FIN_ACK, b"");
    }
}

/// An IPv4 packet holding one TCP segment (checksums left zero).
#[allow(clippy::too_many_arguments)]
pub fn ipv4_tcp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    let total = (40 + payload.len()) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = flags;
    p.extend_from_slice(payload);
    p
}

/// An IPv6 packet holding one TCP segment (checksum left zero).
#[allow(clippy::too_many_arguments)]
pub fn ipv6_tcp(
    src: std::net::Ipv6Addr,
    sport: u16,
    dst: std::net::Ipv6Addr,
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[6, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let v4 = ipv4_tcp(
        Ipv4Addr::UNSPECIFIED,
        sport,
        Ipv4Addr::UNSPECIFIED,
        dport,
        seq,
        flags,
        payload,
    );
    p.extend_from_slice(&v4[20..]);
    p
}

pub use httpcap::decode::defrag::fragments;
