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
    let prog = build(&with_fragments("tcp port 80"), LinkType::Ethernet, false).unwrap();
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
