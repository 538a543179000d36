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

// ---- Tunnel identity: context ids and descriptions -----------------------

const OUTER: (Ipv4Addr, Ipv4Addr) = (
    Ipv4Addr::new(198, 51, 100, 1),
    Ipv4Addr::new(198, 51, 100, 2),
);

/// An outer IPv4 header between `addrs`, or back the other way.
fn outer_between(addrs: (Ipv4Addr, Ipv4Addr), back: bool, proto: u8, payload: &[u8]) -> Vec<u8> {
    let (a, b) = addrs;
    let addrs = if back { (b, a) } else { (a, b) };
    testpkt::ipv4_with(addrs, proto, &[], 0x4000, payload)
}

fn outer(back: bool, proto: u8, payload: &[u8]) -> Vec<u8> {
    outer_between(OUTER, back, proto, payload)
}

/// The inner packet, client to server (or back): 192.0.2.1:40000 and
/// 192.0.2.2:80 either way round.
fn inner(back: bool) -> Vec<u8> {
    if back {
        testpkt::ipv4_with((V4.1, V4.0), 6, &[], 0, &tcp(80, 40000, PAYLOAD))
    } else {
        v4_tcp()
    }
}

fn vxlan_hdr(vni: u32) -> Vec<u8> {
    let v = vni.to_be_bytes();
    vec![0x08, 0, 0, 0, v[1], v[2], v[3], 0]
}

/// A Geneve header with `options` (a multiple of 4 bytes) and the
/// payload's ethertype.
fn geneve_hdr(vni: u32, proto: u16, options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let v = vni.to_be_bytes();
    let p = proto.to_be_bytes();
    let mut h = vec![
        (options.len() / 4) as u8,
        0,
        p[0],
        p[1],
        v[1],
        v[2],
        v[3],
        0,
    ];
    h.extend_from_slice(options);
    h
}

/// Two Geneve options: class 0x0108 (AWS), types 1 and 2, 8 and 4 bytes.
const GENEVE_OPTIONS: [u8; 20] = [
    0x01, 0x08, 0x01, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x08, 0x02, 1, 9, 9, 9, 9,
];

fn gre_hdr(key: Option<u32>, proto: u16) -> Vec<u8> {
    let p = proto.to_be_bytes();
    match key {
        Some(k) => {
            let mut h = vec![0x20, 0, p[0], p[1]];
            h.extend_from_slice(&k.to_be_bytes());
            h
        }
        None => vec![0, 0, p[0], p[1]],
    }
}

/// GRE (sequence number) and an ERSPAN header of type II or III.
fn erspan_hdr(ethertype: u16, session: u16) -> Vec<u8> {
    let p = ethertype.to_be_bytes();
    let mut h = vec![0x10, 0, p[0], p[1], 0, 0, 0, 1];
    let s = session.to_be_bytes();
    h.extend_from_slice(&[0x10, 0, s[0] & 0x03, s[1], 0, 0, 0, 0]);
    if ethertype == 0x22eb {
        h.extend_from_slice(&[0, 0, 0, 0]);
    }
    h
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// A VXLAN frame on the underlay, either direction (the outer source
/// port differs per direction, as the kernel picks it from the flow).
fn vxlan_frame(vni: u32, back: bool) -> Vec<u8> {
    let vx = cat(&vxlan_hdr(vni), &ether(0x0800, &inner(back)));
    let sport = if back { 61000 } else { 50000 };
    ether(0x0800, &outer(back, 17, &udp(sport, 4789, &vx)))
}

/// (context id, wrapped) of a frame that decodes.
fn ctx(link: LinkType, f: &[u8]) -> (u64, bool) {
    let s = run(link, f, true).expect("decodes");
    (s.ctx, s.wrapped)
}

fn describe_frame(link: LinkType, f: &[u8]) -> Encap {
    let pkt = Packet {
        ts_ns: 1,
        link,
        data: f,
    };
    describe(&pkt, &DecodeOptions { ipip: true }).expect("decodes")
}

fn tunnel(kind: TunnelKind, back: bool, id: Option<u32>) -> Tunnel {
    let (a, b) = (IpAddr::V4(OUTER.0), IpAddr::V4(OUTER.1));
    let (src, dst) = if back { (b, a) } else { (a, b) };
    Tunnel { kind, src, dst, id }
}

#[test]
fn plain_traffic_has_no_context() {
    let f = ether(0x0800, &v4_tcp());
    assert_eq!(ctx(LinkType::Ethernet, &f), (0, false));
    assert_eq!(describe_frame(LinkType::Ethernet, &f), Encap::default());
    // A priority tag (VLAN id 0) names no VLAN.
    let tagged = ether(0x8100, &vlan(0x8100, 0x6000, 0x0800, &v4_tcp()).1);
    assert_eq!(ctx(LinkType::Ethernet, &tagged), (0, false));
}

#[test]
fn vxlan_vni_is_the_context_in_both_directions() {
    let (a, wrapped) = ctx(LinkType::Ethernet, &vxlan_frame(100, false));
    assert!(wrapped);
    assert_ne!(a, 0);
    assert_eq!(ctx(LinkType::Ethernet, &vxlan_frame(100, true)).0, a);
    let b = ctx(LinkType::Ethernet, &vxlan_frame(200, false)).0;
    assert_ne!(b, a);
    assert_eq!(ctx(LinkType::Ethernet, &vxlan_frame(200, true)).0, b);
    assert_eq!(
        describe_frame(LinkType::Ethernet, &vxlan_frame(100, true)),
        Encap {
            tunnels: vec![tunnel(TunnelKind::Vxlan, true, Some(100))],
            vlans: vec![],
        }
    );
    // The same number in another kind of tunnel is another context.
    let g = cat(&geneve_hdr(100, 0x6558, &[]), &ether(0x0800, &inner(false)));
    let geneve = ether(0x0800, &outer(false, 17, &udp(50000, 6081, &g)));
    assert_ne!(ctx(LinkType::Ethernet, &geneve).0, a);
}

#[test]
fn geneve_with_options() {
    for back in [false, true] {
        // Ethernet inside (AWS Gateway Load Balancer), options skipped.
        let g = cat(
            &geneve_hdr(0x00abcdef, 0x6558, &GENEVE_OPTIONS),
            &ether(0x0800, &inner(back)),
        );
        let f = ether(0x0800, &outer(back, 17, &udp(40000, 6081, &g)));
        let s = run(LinkType::Ethernet, &f, false).expect("decodes");
        assert_eq!(s.payload, PAYLOAD);
        assert_eq!(
            describe_frame(LinkType::Ethernet, &f).tunnels,
            vec![tunnel(TunnelKind::Geneve, back, Some(0x00abcdef))]
        );
    }
    // IPv4 straight inside, options or not.
    for opts in [&GENEVE_OPTIONS[..], &[]] {
        let g = cat(&geneve_hdr(9, 0x0800, opts), &v4_tcp());
        assert_v4_segment(run(
            LinkType::RawIp,
            &outer(false, 17, &udp(6081, 6081, &g)),
            false,
        ));
    }
    let ok = cat(&geneve_hdr(9, 0x0800, &GENEVE_OPTIONS), &v4_tcp());
    let frame = |g: &[u8]| outer(false, 17, &udp(1234, 6081, g));
    // Options longer than the datagram.
    assert_eq!(
        run(LinkType::RawIp, &frame(&ok[..24]), false).err(),
        Some(DecodeError::Truncated)
    );
    // A control (OAM) packet, and an unknown version.
    let mut oam = ok.clone();
    oam[1] = 0x80;
    assert_eq!(
        run(LinkType::RawIp, &frame(&oam), false).err(),
        Some(DecodeError::NotTcp)
    );
    let mut v1 = ok.clone();
    v1[0] |= 0x40;
    assert_eq!(
        run(LinkType::RawIp, &frame(&v1), false).err(),
        Some(DecodeError::TunnelUnsupported)
    );
}

#[test]
fn gre_keys_and_erspan_sessions_are_contexts() {
    let gre = |key, back| outer(back, 47, &cat(&gre_hdr(key, 0x0800), &inner(back)));
    let k1 = ctx(LinkType::RawIp, &gre(Some(1), false));
    assert_eq!(ctx(LinkType::RawIp, &gre(Some(1), true)), k1);
    assert_ne!(ctx(LinkType::RawIp, &gre(Some(2), false)).0, k1.0);
    // No key: wrapped, but nothing tells tenants apart.
    assert_eq!(ctx(LinkType::RawIp, &gre(None, false)), (0, true));
    assert_eq!(
        describe_frame(LinkType::RawIp, &gre(None, true)).tunnels,
        vec![tunnel(TunnelKind::Gre, true, None)]
    );
    for et in [0x88be, 0x22eb] {
        let erspan = |session, back| {
            let e = cat(&erspan_hdr(et, session), &ether(0x0800, &inner(back)));
            outer(back, 47, &e)
        };
        let s5 = ctx(LinkType::RawIp, &erspan(5, false));
        assert!(s5.1 && s5.0 != 0);
        assert_eq!(ctx(LinkType::RawIp, &erspan(5, true)), s5);
        assert_ne!(ctx(LinkType::RawIp, &erspan(6, false)).0, s5.0);
        assert_eq!(
            describe_frame(LinkType::RawIp, &erspan(1023, false)).tunnels,
            vec![tunnel(TunnelKind::Erspan, false, Some(1023))]
        );
    }
}

#[test]
fn vlan_ids_are_contexts_outer_first() {
    let tagged = |ids: &[u16]| {
        let mut f = v4_tcp();
        let mut et = 0x0800;
        for id in ids.iter().rev() {
            let (tpid, body) = vlan(0x8100, *id, et, &f);
            f = body;
            et = tpid;
        }
        ether(et, &f)
    };
    let a = ctx(LinkType::Ethernet, &tagged(&[10]));
    assert!(a.1 && a.0 != 0);
    assert_ne!(ctx(LinkType::Ethernet, &tagged(&[20])).0, a.0);
    // The priority bits are not the VLAN id.
    assert_eq!(ctx(LinkType::Ethernet, &tagged(&[0xe000 | 10])), a);
    let qinq = tagged(&[100, 10]);
    assert_ne!(ctx(LinkType::Ethernet, &qinq).0, a.0);
    assert_eq!(
        describe_frame(LinkType::Ethernet, &qinq).vlans,
        vec![100, 10]
    );
}

#[test]
fn nested_wrappers_are_described_outermost_first() {
    // VLAN 7 / IPv4 / GRE key 9 / Ethernet / IPv4 / UDP / Geneve 5 /
    // Ethernet / VLAN 8 / IPv4 / UDP / VXLAN 3 / Ethernet / IPv4 / IPv4 (IPIP) / TCP.
    let mid = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 2));
    let deep = (Ipv4Addr::new(10, 2, 0, 1), Ipv4Addr::new(10, 2, 0, 2));
    let ipip = (Ipv4Addr::new(10, 3, 0, 1), Ipv4Addr::new(10, 3, 0, 2));
    let build = |gre_key: u32, back: bool| {
        let l4 = outer_between(ipip, back, 4, &inner(back));
        let vx = cat(&vxlan_hdr(3), &ether(0x0800, &l4));
        let l3 = outer_between(deep, back, 17, &udp(1, 4789, &vx));
        let g = cat(
            &geneve_hdr(5, 0x6558, &GENEVE_OPTIONS),
            &ether(0x8100, &vlan(0x8100, 8, 0x0800, &l3).1),
        );
        let l2 = outer_between(mid, back, 17, &udp(2, 6081, &g));
        let l1 = outer(
            back,
            47,
            &cat(&gre_hdr(Some(gre_key), 0x6558), &ether(0x0800, &l2)),
        );
        ether(0x8100, &vlan(0x8100, 7, 0x0800, &l1).1)
    };
    let f = build(9, false);
    let s = run(LinkType::Ethernet, &f, true).expect("decodes");
    assert_eq!(s.payload, PAYLOAD);
    assert_eq!((s.sport, s.dport), (40000, 80));
    let at = |(a, b): (Ipv4Addr, Ipv4Addr), back: bool, kind, id| {
        let (src, dst) = if back { (b, a) } else { (a, b) };
        Tunnel {
            kind,
            src: src.into(),
            dst: dst.into(),
            id,
        }
    };
    for back in [false, true] {
        assert_eq!(
            describe_frame(LinkType::Ethernet, &build(9, back)),
            Encap {
                tunnels: vec![
                    at(OUTER, back, TunnelKind::Gre, Some(9)),
                    at(mid, back, TunnelKind::Geneve, Some(5)),
                    at(deep, back, TunnelKind::Vxlan, Some(3)),
                    at(ipip, back, TunnelKind::Ipip, None),
                ],
                vlans: vec![7, 8],
            }
        );
    }
    assert_eq!(ctx(LinkType::Ethernet, &build(9, true)), (s.ctx, true));
    assert_ne!(ctx(LinkType::Ethernet, &build(10, false)).0, s.ctx);
    // Without IPIP=true the innermost wrapper is not followed.
    assert_eq!(
        run(LinkType::Ethernet, &f, false).err(),
        Some(DecodeError::TunnelUnsupported)
    );
}

#[test]
fn wrappers_nest_up_to_the_documented_depth() {
    let nested = |n: usize| {
        let mut f = ether(0x8100, &vlan(0x8100, 1, 0x0800, &v4_tcp()).1);
        for i in 0..n {
            let vx = cat(&vxlan_hdr(i as u32), &f);
            f = ether(0x0800, &outer(false, 17, &udp(1, 4789, &vx)));
        }
        f
    };
    let deepest = nested(MAX_WRAPPERS);
    let s = run(LinkType::Ethernet, &deepest, false).expect("decodes");
    assert_eq!(s.payload, PAYLOAD);
    let e = describe_frame(LinkType::Ethernet, &deepest);
    assert_eq!(e.tunnels.len(), MAX_WRAPPERS);
    // Outermost first: the last one wrapped is the first named.
    assert_eq!(e.tunnels[0].id, Some(MAX_WRAPPERS as u32 - 1));
    assert_eq!(e.vlans, vec![1]);
    assert_eq!(
        run(LinkType::Ethernet, &nested(MAX_WRAPPERS + 1), false).err(),
        Some(DecodeError::TunnelUnsupported)
    );
    // ERSPAN in GRE with a key is described as two wrappers, and counts
    // as two.
    let erspans = |n: usize| {
        let mut f = ether(0x0800, &v4_tcp());
        for _ in 0..n {
            let mut g = vec![0x30, 0, 0x88, 0xbe, 0, 0, 0, 9, 0, 0, 0, 1];
            g.extend_from_slice(&[0x10, 0, 0, 4, 0, 0, 0, 0]);
            g.extend_from_slice(&f);
            f = ether(0x0800, &outer(false, 47, &g));
        }
        f
    };
    let half = erspans(MAX_WRAPPERS / 2);
    let e = describe_frame(LinkType::Ethernet, &half);
    assert_eq!(e.tunnels.len(), MAX_WRAPPERS);
    assert_eq!(
        e.tunnels[..2],
        [
            tunnel(TunnelKind::Gre, false, Some(9)),
            tunnel(TunnelKind::Erspan, false, Some(4))
        ]
    );
    assert_eq!(
        run(LinkType::Ethernet, &erspans(MAX_WRAPPERS / 2 + 1), false).err(),
        Some(DecodeError::TunnelUnsupported)
    );
}
