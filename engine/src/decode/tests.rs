//! Decode tests: frames are built layer by layer, innermost first, so each
//! test reads as the stack it exercises.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::capture::testpkt::{self, ether, udp, vlan};
use crate::frame::LinkType;

const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

/// TCP as a mid-connection segment: seq 1000, ack 2000, ACK, with 12
/// bytes of options (NOP NOP timestamp).
fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let options = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    testpkt::tcp_with(sport, dport, (1000, 2000), TcpFlags::ACK, &options, payload)
}

const V4: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
const V6: (Ipv6Addr, Ipv6Addr) = (
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
);

fn ipv4_with(proto: u8, options: &[u8], frag: u16, payload: &[u8]) -> Vec<u8> {
    testpkt::ipv4_with(V4, proto, options, frag, payload)
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_with(proto, &[], 0, payload)
}

fn ipv6_with(exts: &[(u8, Vec<u8>)], proto: u8, payload: &[u8]) -> Vec<u8> {
    testpkt::ipv6_with(V6, exts, proto, payload)
}

fn ipv6(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_with(&[], proto, payload)
}

fn run(link: LinkType, data: &[u8], ipip: bool) -> Result<Segment<'_>, DecodeError> {
    let pkt = Packet {
        ts_ns: 1,
        link,
        data,
    };
    decode(&pkt, &DecodeOptions { ipip })
}

fn assert_v4_segment(r: Result<Segment<'_>, DecodeError>) {
    let s = r.expect("decodes");
    assert_eq!(s.src, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(s.dst, "192.0.2.2".parse::<IpAddr>().unwrap());
    assert_eq!((s.sport, s.dport), (40000, 80));
    assert_eq!((s.seq, s.ack), (1000, 2000));
    assert!(s.flags.ack());
    assert_eq!(s.payload, PAYLOAD);
}

fn assert_v6_segment(r: Result<Segment<'_>, DecodeError>) {
    let s = r.expect("decodes");
    assert_eq!(s.src, "2001:db8::1".parse::<IpAddr>().unwrap());
    assert_eq!(s.payload, PAYLOAD);
}

fn v4_tcp() -> Vec<u8> {
    ipv4(6, &tcp(40000, 80, PAYLOAD))
}

#[test]
fn ethernet_ipv4_tcp_with_options() {
    assert_v4_segment(run(LinkType::Ethernet, &ether(0x0800, &v4_tcp()), false));
}

#[test]
fn ethernet_padding_is_trimmed_by_ip_length() {
    let mut f = ether(0x0800, &v4_tcp());
    f.extend_from_slice(&[0; 6]);
    assert_v4_segment(run(LinkType::Ethernet, &f, false));
}

#[test]
fn vlan_and_qinq() {
    let (t, inner) = vlan(0x8100, 10, 0x0800, &v4_tcp());
    assert_v4_segment(run(LinkType::Ethernet, &ether(t, &inner), false));
    let (t2, outer) = vlan(0x88a8, 20, t, &inner);
    assert_v4_segment(run(LinkType::Ethernet, &ether(t2, &outer), false));
}

#[test]
fn linux_cooked_v1_and_v2() {
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll.extend_from_slice(&0x0800u16.to_be_bytes());
    sll.extend_from_slice(&v4_tcp());
    assert_v4_segment(run(LinkType::LinuxSll, &sll, false));

    let mut sll2 = 0x86ddu16.to_be_bytes().to_vec();
    sll2.extend_from_slice(&[0; 18]);
    sll2.extend_from_slice(&ipv6(6, &tcp(40000, 80, PAYLOAD)));
    assert_v6_segment(run(LinkType::LinuxSll2, &sll2, false));
}

#[test]
fn bsd_null_and_loop() {
    // DLT_NULL: family in the writer's (here little-endian) order.
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&v4_tcp());
    assert_v4_segment(run(LinkType::Null, &null, false));
    // DLT_LOOP: network order; AF_INET6 as on FreeBSD (28).
    let mut lo = 28u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&ipv6(6, &tcp(40000, 80, PAYLOAD)));
    assert_v6_segment(run(LinkType::Loop, &lo, false));
    let mut other = 7u32.to_le_bytes().to_vec();
    other.extend_from_slice(&v4_tcp());
    assert_eq!(
        run(LinkType::Null, &other, false).err(),
        Some(DecodeError::NotIp)
    );
}

#[test]
fn raw_ip_both_versions() {
    assert_v4_segment(run(LinkType::RawIp, &v4_tcp(), false));
    assert_v6_segment(run(
        LinkType::RawIp,
        &ipv6(6, &tcp(40000, 80, PAYLOAD)),
        false,
    ));
}

#[test]
fn nflog_payload_tlv() {
    let mut f = vec![2, 0, 0, 0];
    // A prefix TLV (type 10) of 5 bytes, padded to 8, then the payload.
    f.extend_from_slice(&9u16.to_le_bytes());
    f.extend_from_slice(&10u16.to_le_bytes());
    f.extend_from_slice(b"abcde\0\0\0");
    let ip = v4_tcp();
    f.extend_from_slice(&((4 + ip.len()) as u16).to_le_bytes());
    f.extend_from_slice(&9u16.to_le_bytes());
    f.extend_from_slice(&ip);
    assert_v4_segment(run(LinkType::Nflog, &f, false));
}

#[test]
fn ipv4_options() {
    // Record-route style option padding: 8 bytes of NOP NOP ... EOL.
    let p = ipv4_with(6, &[1, 1, 1, 1, 1, 1, 1, 0], 0, &tcp(40000, 80, PAYLOAD));
    assert_v4_segment(run(LinkType::RawIp, &p, false));
}

#[test]
fn ipv4_fragments_are_counted_not_decoded() {
    let first = ipv4_with(6, &[], 0x2000, &tcp(40000, 80, PAYLOAD));
    let later = ipv4_with(6, &[], 0x0010, b"tail");
    assert_eq!(
        run(LinkType::RawIp, &first, false).err(),
        Some(DecodeError::Fragment)
    );
    assert_eq!(
        run(LinkType::RawIp, &later, false).err(),
        Some(DecodeError::Fragment)
    );
    assert_eq!(DecodeError::Fragment.counter(), Counter::DecodeFragment);
    // Don't-fragment alone is not a fragment.
    let df = ipv4_with(6, &[], 0x4000, &tcp(40000, 80, PAYLOAD));
    assert_v4_segment(run(LinkType::RawIp, &df, false));
}

#[test]
fn ipv6_extension_headers() {
    let hop = (0u8, vec![0, 0, 1, 4, 0, 0, 0, 0]);
    let dst = (60u8, vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let p = ipv6_with(&[hop, dst], 6, &tcp(40000, 80, PAYLOAD));
    assert_v6_segment(run(LinkType::RawIp, &p, false));
}

#[test]
fn ipv6_fragments() {
    // Atomic fragment (offset 0, M=0): a whole packet.
    let atomic = (44u8, vec![0, 0, 0, 0, 0, 0, 0, 1]);
    let p = ipv6_with(&[atomic], 6, &tcp(40000, 80, PAYLOAD));
    assert_v6_segment(run(LinkType::RawIp, &p, false));
    // First of several (M=1): counted.
    let first = (44u8, vec![0, 0, 0, 1, 0, 0, 0, 1]);
    let p = ipv6_with(&[first], 6, &tcp(40000, 80, PAYLOAD));
    assert_eq!(
        run(LinkType::RawIp, &p, false).err(),
        Some(DecodeError::Fragment)
    );
}

#[test]
fn ipip_on_and_off() {
    for inner in [v4_tcp(), ipv6(6, &tcp(40000, 80, PAYLOAD))] {
        let proto = if inner[0] >> 4 == 4 { 4 } else { 41 };
        for outer in [ipv4(proto, &inner), ipv6(proto, &inner)] {
            assert_eq!(
                run(LinkType::RawIp, &outer, false).err(),
                Some(DecodeError::TunnelUnsupported)
            );
            let s = run(LinkType::RawIp, &outer, true).expect("decapsulated");
            // The inner flow is the one handed on.
            assert_eq!(s.payload, PAYLOAD);
            assert_eq!(s.dport, 80);
            assert!(matches!(
                (s.src, inner[0] >> 4),
                (IpAddr::V4(_), 4) | (IpAddr::V6(_), 6)
            ));
        }
    }
}

#[test]
fn vxlan() {
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(&ether(0x0800, &v4_tcp()));
    let outer = ether(0x0800, &ipv4(17, &udp(5555, 4789, &vx)));
    assert_v4_segment(run(LinkType::Ethernet, &outer, false));
    // VXLAN-GPE carrying Ethernet (next protocol 3), inside ERSPAN in GRE.
    let mut gpe = vec![0x0c, 0, 0, 3, 0, 0, 42, 0];
    gpe.extend_from_slice(&ether(0x0800, &v4_tcp()));
    let mut gre = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
    gre.extend_from_slice(&[0; 8]);
    gre.extend_from_slice(&ether(0x0800, &ipv4(17, &udp(4789, 4790, &gpe))));
    assert_v4_segment(run(LinkType::RawIp, &ipv4(47, &gre), false));
    // VXLAN-GPE carrying IPv4 directly (next protocol 1).
    let mut gpe_ip = vec![0x0c, 0, 0, 1, 0, 0, 42, 0];
    gpe_ip.extend_from_slice(&v4_tcp());
    assert_v4_segment(run(
        LinkType::RawIp,
        &ipv4(17, &udp(9, 4790, &gpe_ip)),
        false,
    ));
}

#[test]
fn gre_with_key_and_erspan() {
    // GRE with the key bit, carrying IPv4.
    let mut g = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 7];
    g.extend_from_slice(&v4_tcp());
    assert_v4_segment(run(LinkType::RawIp, &ipv4(47, &g), false));
    // ERSPAN type II inside GRE (sequence bit), mirroring an Ethernet frame.
    let mut e = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&ether(0x0800, &v4_tcp()));
    assert_v4_segment(run(LinkType::RawIp, &ipv4(47, &e), false));
    // PPTP's enhanced GRE (version 1) is not followed.
    let v1 = vec![0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0];
    assert_eq!(
        run(LinkType::RawIp, &ipv4(47, &v1), false).err(),
        Some(DecodeError::TunnelUnsupported)
    );
}

#[test]
fn udp_tunnels() {
    // GTP-U G-PDU with the sequence flag (4 extra bytes).
    let mut gtp = vec![0x32, 0xff, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0];
    gtp.extend_from_slice(&v4_tcp());
    assert_v4_segment(run(
        LinkType::RawIp,
        &ipv4(17, &udp(2152, 2152, &gtp)),
        false,
    ));
    // Teredo with an origin indication, on the well-known port...
    let mut ter = vec![0, 0, 0, 0, 0, 0, 0, 0];
    ter.extend_from_slice(&ipv6(6, &tcp(40000, 80, PAYLOAD)));
    assert_v6_segment(run(
        LinkType::RawIp,
        &ipv4(17, &udp(3544, 40000, &ter)),
        false,
    ));
    // ...and bare, on a relay's arbitrary port.
    let bare = ipv6(6, &tcp(40000, 80, PAYLOAD));
    assert_v6_segment(run(
        LinkType::RawIp,
        &ipv4(17, &udp(32900, 3797, &bare)),
        false,
    ));
    // AYIYA: identity 2^0 bytes... here 16 (id len nibble 4), no signature.
    let mut ay = vec![0x41, 0x00, 0x01, 41, 0, 0, 0, 0];
    ay.extend_from_slice(&[0; 16]);
    ay.extend_from_slice(&ipv6(6, &tcp(40000, 80, PAYLOAD)));
    assert_v6_segment(run(
        LinkType::RawIp,
        &ipv4(17, &udp(5072, 5072, &ay)),
        false,
    ));
    // GRE in UDP.
    let mut g = vec![0, 0, 0x08, 0x00];
    g.extend_from_slice(&v4_tcp());
    assert_v4_segment(run(LinkType::RawIp, &ipv4(17, &udp(4754, 4754, &g)), false));
    // Plain UDP is not TCP.
    assert_eq!(
        run(LinkType::RawIp, &ipv4(17, &udp(53, 53, b"dns")), false).err(),
        Some(DecodeError::NotTcp)
    );
}

#[test]
fn mpls_and_pppoe() {
    let mut m = vec![0, 0, 0x11, 64];
    m.extend_from_slice(&v4_tcp());
    assert_v4_segment(run(LinkType::Ethernet, &ether(0x8847, &m), false));
    let mut p = vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x21];
    p.extend_from_slice(&v4_tcp());
    assert_v4_segment(run(LinkType::Ethernet, &ether(0x8864, &p), false));
}

#[test]
fn errors_by_reason() {
    assert_eq!(
        run(LinkType::Ethernet, &ether(0x0806, &[0; 28]), false).err(),
        Some(DecodeError::NotIp)
    );
    assert_eq!(
        run(LinkType::RawIp, &ipv4(1, &[8, 0, 0, 0]), false).err(),
        Some(DecodeError::NotTcp)
    );
    assert_eq!(
        run(LinkType::RawIp, &[0x50; 40], false).err(),
        Some(DecodeError::BadIp)
    );
    let mut bad_off = tcp(1, 2, b"");
    bad_off[12] = 2 << 4;
    assert_eq!(
        run(LinkType::RawIp, &ipv4(6, &bad_off), false).err(),
        Some(DecodeError::BadTcp)
    );
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let frames: Vec<(LinkType, Vec<u8>)> = vec![
        (LinkType::Ethernet, ether(0x0800, &v4_tcp())),
        (
            LinkType::Ethernet,
            ether(
                0x8100,
                &vlan(0x8100, 1, 0x86dd, &ipv6(6, &tcp(1, 80, PAYLOAD))).1,
            ),
        ),
        (LinkType::RawIp, ipv4(4, &v4_tcp())),
    ];
    for (link, f) in frames {
        // Cut inside the headers (the payload itself may legitimately be short).
        let headers = f.len() - PAYLOAD.len();
        for cut in 0..headers {
            let r = run(link, &f[..cut], true);
            assert!(r.is_err(), "{link:?} cut at {cut} decoded");
        }
    }
}

proptest! {
    // No input, on any link type, panics the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), ipip: bool) {
        for link in [LinkType::Ethernet, LinkType::LinuxSll, LinkType::LinuxSll2,
                     LinkType::RawIp, LinkType::Null, LinkType::Loop, LinkType::Nflog] {
            let _ = run(link, &data, ipip);
        }
    }

    // Mutating any byte of a valid tunnelled frame never panics either.
    #[test]
    fn mutated_frames_never_panic(at in 0usize..200, val: u8, ipip: bool) {
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        vx.extend_from_slice(&ether(0x0800, &ipv4(4, &v4_tcp())));
        let mut f = ether(0x0800, &ipv4(17, &udp(5555, 4789, &vx)));
        let i = at % f.len();
        f[i] = val;
        let _ = run(LinkType::Ethernet, &f, ipip);
    }
}

#[test]
fn segment_meta_round_trip() {
    // Ethernet padding after the IP packet: the payload must end where
    // the IP length says, in the re-borrowed segment too.
    let mut frame = ether(0x0800, &v4_tcp());
    frame.extend_from_slice(&[0; 6]);
    let seg = run(LinkType::Ethernet, &frame, false).expect("decodes");
    let meta = seg.meta(&frame);
    assert_v4_segment(Ok(meta.segment(&frame)));
    let copy = frame.clone();
    assert_eq!(meta.segment(&copy).payload, seg.payload);
}
