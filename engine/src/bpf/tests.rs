use std::net::IpAddr;

use super::*;
use crate::capture::testpkt::*;
use crate::frame::LinkType;

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn accepts(prog: &[Insn], frame: &[u8]) -> bool {
    run(prog, frame, Meta::default()) != 0
}

#[test]
fn default_filter_compiles_and_excludes_its_hosts() {
    let prog = build(crate::config::DEFAULT_BPF_FILTER, LinkType::Ethernet, false).unwrap();
    assert!(accepts(
        &prog,
        &tcp_frame(v4("10.1.1.1"), 40000, v4("10.1.1.2"), 80)
    ));
    assert!(!accepts(
        &prog,
        &tcp_frame(v4("10.95.91.34"), 40000, v4("10.1.1.2"), 80)
    ));
}

#[test]
fn bad_filter_is_an_error() {
    assert!(compile("tcp port eighty", LinkType::Ethernet).is_err());
    assert!(build("not (host", LinkType::Ethernet, true).is_err());
}

#[test]
fn expression_combines_user_filter_and_ports() {
    assert_eq!(expression("", &[]), None);
    assert_eq!(expression(" ", &[80]).unwrap(), "tcp port 80");
    assert_eq!(
        expression("not host 1.2.3.4", &[80, 8080]).unwrap(),
        "(not host 1.2.3.4) and (tcp port 80 or tcp port 8080)"
    );
}

#[test]
fn interpreter_agrees_with_libpcap() {
    let exprs = [
        "tcp port 80",
        "host 10.1.1.2 and tcp",
        "ip6",
        "not (host 10.1.1.1 or net 192.168.0.0/16)",
        "tcp[13] & 2 != 0",
    ];
    let frames = [
        tcp_frame(v4("10.1.1.1"), 40000, v4("10.1.1.2"), 80),
        tcp_frame(v4("10.1.1.3"), 40000, v4("10.1.1.2"), 8080),
        tcp_frame(v4("192.168.3.3"), 1234, v4("10.9.9.9"), 443),
        tcp_frame(
            "fd00::1".parse().unwrap(),
            40000,
            "fd00::2".parse().unwrap(),
            80,
        ),
    ];
    for e in exprs {
        let ours = compile(e, LinkType::Ethernet).unwrap();
        let theirs = pcap::Capture::dead(pcap_linktype(LinkType::Ethernet))
            .unwrap()
            .compile(e, true)
            .unwrap();
        for f in &frames {
            assert_eq!(accepts(&ours, f), theirs.filter(f), "{e}");
        }
    }
}

#[test]
fn with_ipip_the_port_filter_matches_inner_ports() {
    let expr = expression(crate::config::DEFAULT_BPF_FILTER, &[80, 8080]).unwrap();
    let outer4 = (v4("198.18.0.1"), v4("198.18.0.2"));
    let outer6: (IpAddr, IpAddr) = ("fd01::1".parse().unwrap(), "fd01::2".parse().unwrap());
    let (a, b) = (v4("10.1.1.1"), v4("10.1.1.2"));
    let (a6, b6): (IpAddr, IpAddr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let with = build(&expr, LinkType::Ethernet, true).unwrap();
    let without = build(&expr, LinkType::Ethernet, false).unwrap();
    for outer in [outer4, outer6] {
        for (s, d) in [(a, b), (a6, b6)] {
            let to80 = ipip_frame(outer, s, 40000, d, 80);
            let from8080 = ipip_frame(outer, d, 8080, s, 40000);
            let to443 = ipip_frame(outer, s, 40000, d, 443);
            assert!(accepts(&with, &to80), "{outer:?} {s}");
            assert!(accepts(&with, &from8080));
            assert!(!accepts(&with, &to443));
            // Without IPIP the outer header has no TCP port at all.
            assert!(!accepts(&without, &to80));
        }
    }
    // Plain traffic is judged as before.
    assert!(accepts(&with, &tcp_frame(a, 40000, b, 80)));
    assert!(!accepts(&with, &tcp_frame(a, 40000, b, 443)));
    // Inner hosts of the default filter are excluded inside the tunnel.
    let infra = ipip_frame(outer4, v4("10.95.91.34"), 40000, b, 80);
    assert!(!accepts(&with, &infra));
}

#[test]
fn ipip_filter_for_raw_ip_and_cooked_links() {
    let expr = "tcp port 80";
    let outer = (v4("198.18.0.1"), v4("198.18.0.2"));
    let frame = ipip_frame(outer, v4("10.1.1.1"), 40000, v4("10.1.1.2"), 80);
    let raw = &frame[14..];
    let prog = build(expr, LinkType::RawIp, true).unwrap();
    assert!(accepts(&prog, raw));
    // Linux cooked v1: 14 bytes of header, then the protocol.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(raw);
    let prog = build(expr, LinkType::LinuxSll, true).unwrap();
    assert!(accepts(&prog, &sll));
}

#[test]
fn frame_filter_caches_per_link_type() {
    let mut f = FrameFilter::new("tcp port 80", false).unwrap();
    let frame = tcp_frame(v4("10.1.1.1"), 40000, v4("10.1.1.2"), 80);
    assert!(f.accepts(LinkType::Ethernet, &frame));
    assert!(f.accepts(LinkType::RawIp, &frame[14..]));
    assert!(!f.accepts(
        LinkType::Ethernet,
        &tcp_frame(v4("10.1.1.1"), 1, v4("10.1.1.2"), 2)
    ));
    assert!(FrameFilter::new("  ", false).is_none());
}

#[test]
fn a_filter_that_cannot_apply_to_a_link_type_passes_its_frames() {
    // `ether host` has no meaning on raw IP: libpcap refuses it there, and
    // those frames pass (with a warning) rather than vanish.
    let mut f = FrameFilter::new("ether host 00:11:22:33:44:55", false).unwrap();
    let frame = tcp_frame(v4("10.1.1.1"), 40000, v4("10.1.1.2"), 80);
    assert!(!f.accepts(LinkType::Ethernet, &frame));
    assert!(f.accepts(LinkType::RawIp, &frame[14..]));
}

/// A port filter passes every IP fragment of a frame (those after the
/// first have no ports) and judges the reassembled datagram: with
/// tcpdump's reading, `port 80` would lose every fragmented datagram.
#[test]
fn fragments_pass_and_the_datagram_is_judged() {
    use crate::decode::defrag::fragments;
    for (client, server) in [
        (v4("10.1.1.1"), v4("10.1.1.2")),
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        ),
    ] {
        for (port, wanted) in [(80, true), (81, false)] {
            let segment = tcp(40000, port, &[b'x'; 3000]);
            let packet = ip(client, server, 6, &segment);
            let frame = |p: &[u8]| ether(ethertype_of(client), p);
            let mut f = FrameFilter::new("tcp port 80", false).unwrap();
            for piece in fragments(&packet, 7, &[1480, 2960]) {
                assert!(f.accepts(LinkType::Ethernet, &frame(&piece)), "{client}");
            }
            assert_eq!(
                f.accepts_datagram(LinkType::Ethernet, &frame(&packet)),
                wanted,
                "{client} port {port}"
            );
            // Whole packets are judged the same either way.
            assert_eq!(f.accepts(LinkType::Ethernet, &frame(&packet)), wanted);
        }
    }
    // The kernel's program is the same expression.
    let prog = build(&frame_expression("tcp port 80"), LinkType::Ethernet, false).unwrap();
    let packet = ip(
        v4("10.1.1.1"),
        v4("10.1.1.2"),
        6,
        &tcp(40000, 81, &[0; 3000]),
    );
    let pieces = fragments(&packet, 9, &[1480]);
    assert!(accepts(&prog, &ether(0x0800, &pieces[1])));
    assert!(!accepts(&prog, &ether(0x0800, &packet)));
}

/// Hop-by-Hop, Routing and Destination Options headers as extension
/// chains (`testpkt::ipv6_with` fills in each next-header byte).
fn chains() -> Vec<Vec<(u8, Vec<u8>)>> {
    let pad = vec![0, 0, 1, 4, 0, 0, 0, 0];
    let routing = vec![0; 8];
    // Sixteen bytes (length 1): PadN, then Pad1s.
    let longer = [vec![0, 1, 1, 4, 0, 0, 0, 0], vec![0; 8]].concat();
    vec![
        vec![(0, pad.clone())],
        vec![(60, pad.clone())],
        vec![(0, pad), (43, routing), (60, longer)],
    ]
}

fn hosts() -> (std::net::Ipv6Addr, std::net::Ipv6Addr) {
    (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    )
}

/// libpcap's `port` reads only the IPv6 header's own Next Header, so a
/// TCP packet behind extension headers matches no port filter: the
/// kernel's program passes it, and the filter judges it without them.
#[test]
fn ipv6_extension_headers_are_judged_without_them() {
    for exts in chains() {
        for (port, wanted) in [(80, true), (81, false)] {
            let segment = tcp(40000, port, b"GET / HTTP/1.1\r\n\r\n");
            let packet = ipv6_with(hosts(), &exts, 6, &segment);
            let frame = ether(0x86dd, &packet);
            // As libpcap reads it: no port at all.
            let plain = build("tcp port 80", LinkType::Ethernet, false).unwrap();
            assert!(!accepts(&plain, &frame));
            // The kernel's program passes it unjudged.
            let kernel =
                build(&frame_expression("tcp port 80"), LinkType::Ethernet, false).unwrap();
            assert!(accepts(&kernel, &frame));
            let mut f = FrameFilter::new("tcp port 80", false).unwrap();
            assert_eq!(
                f.accepts(LinkType::Ethernet, &frame),
                wanted,
                "{exts:?} {port}"
            );
            assert_eq!(f.accepts_extended(LinkType::Ethernet, &frame), wanted);
            assert_eq!(f.accepts(LinkType::RawIp, &packet), wanted);
            // A reassembled datagram with them is judged the same way.
            assert_eq!(f.accepts_datagram(LinkType::Ethernet, &frame), wanted);
        }
    }
    // A filter about the extension headers themselves still sees them.
    let packet = ipv6_with(hosts(), &chains()[0], 6, &tcp(1, 2, b"x"));
    let mut f = FrameFilter::new("ip6[6] == 0", false).unwrap();
    assert!(f.accepts(LinkType::RawIp, &packet));
    // IPv4 and IPv6 without extension headers are judged as before.
    let mut f = FrameFilter::new("tcp port 80", false).unwrap();
    let (a, b) = hosts();
    for port in [80, 81] {
        let plain = ipv6_with((a, b), &[], 6, &tcp(40000, port, b"x"));
        assert_eq!(f.accepts(LinkType::RawIp, &plain), port == 80);
    }
}

#[test]
fn extension_headers_removed_leave_the_packet_without_them() {
    use super::ipv6_extensions::{extensions, Extensions};
    let segment = tcp(40000, 80, b"GET / HTTP/1.1\r\n\r\n");
    let without = ether(0x86dd, &ipv6_with(hosts(), &[], 6, &segment));
    for exts in chains() {
        let frame = ether(0x86dd, &ipv6_with(hosts(), &exts, 6, &segment));
        assert_eq!(
            extensions(LinkType::Ethernet, &frame),
            Extensions::Removed(without.clone())
        );
        // Cut inside the chain: judged as captured.
        assert_eq!(
            extensions(LinkType::Ethernet, &frame[..14 + 40 + 1]),
            Extensions::None
        );
        // A Fragment header after them: judged once reassembled.
        let mut with_fragment = exts.clone();
        with_fragment.push((44, vec![0, 0, 0, 1, 0, 0, 0, 7]));
        let fragment = ether(0x86dd, &ipv6_with(hosts(), &with_fragment, 6, &segment));
        assert_eq!(
            extensions(LinkType::Ethernet, &fragment),
            Extensions::Fragment
        );
        let mut f = FrameFilter::new("tcp port 81", false).unwrap();
        assert!(f.accepts(LinkType::Ethernet, &fragment));
    }
    assert_eq!(extensions(LinkType::Ethernet, &without), Extensions::None);
    // VLAN tags (live, the kernel's program saw the frame without them)
    // go too.
    let packet = ipv6_with(hosts(), &chains()[0], 6, &segment);
    let (tpid, tagged) = vlan(0x8100, 7, 0x86dd, &packet);
    let (tpid, twice) = vlan(0x88a8, 8, tpid, &tagged);
    assert_eq!(
        extensions(LinkType::Ethernet, &ether(tpid, &twice)),
        Extensions::Removed(without.clone())
    );
    let v4 = ether(0x0800, &ip(v4("10.0.0.1"), v4("10.0.0.2"), 6, &segment));
    assert_eq!(extensions(LinkType::Ethernet, &v4), Extensions::None);
    // A chain longer than its Payload Length claims.
    let mut short = ipv6_with(hosts(), &chains()[0], 6, &segment);
    short[4..6].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(extensions(LinkType::RawIp, &short), Extensions::None);
}
