use std::net::IpAddr;

use super::*;
use crate::bpf::{run, Meta};
use crate::capture::testpkt::*;
use crate::capture::LinkType;

fn ips() -> Vec<(IpAddr, IpAddr)> {
    vec![
        ("10.77.0.2".parse().unwrap(), "10.77.0.1".parse().unwrap()),
        (
            "192.168.1.10".parse().unwrap(),
            "172.16.5.4".parse().unwrap(),
        ),
        ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap()),
        (
            "2001:db8::beef".parse().unwrap(),
            "2001:db8:1::1".parse().unwrap(),
        ),
    ]
}

fn kernel(prog: &[Insn], frame: &[u8]) -> u32 {
    run(
        prog,
        frame,
        Meta {
            net: 14,
            protocol: 0,
        },
    )
}

#[test]
fn fanout_program_matches_the_shard_hash_in_both_directions() {
    let prog = fanout_program(true);
    let opts = DecodeOptions { ipip: true };
    for (a, b) in ips() {
        for port in [40000u16, 40001, 51234, 80] {
            let fwd = tcp_frame(a, port, b, 80);
            let rev = tcp_frame(b, 80, a, port);
            let want = steer_hash(a, port, b, 80);
            assert_eq!(kernel(&prog, &fwd), want, "{a} {port}");
            assert_eq!(kernel(&prog, &rev), want);
            let pkt = Packet {
                ts_ns: 0,
                link: LinkType::Ethernet,
                data: &fwd,
            };
            for n in 1..5 {
                assert_eq!(owner(&pkt, &opts, n), Some((want % n as u32) as usize));
            }
        }
    }
}

#[test]
fn fanout_program_looks_inside_ipip_and_vxlan() {
    let prog = fanout_program(true);
    let outer4: (IpAddr, IpAddr) = ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
    let outer6: (IpAddr, IpAddr) = ("fd01::1".parse().unwrap(), "fd01::2".parse().unwrap());
    for (a, b) in ips() {
        let want = steer_hash(a, 40000, b, 80);
        for outer in [outer4, outer6] {
            let rev_outer = (outer.1, outer.0);
            assert_eq!(kernel(&prog, &ipip_frame(outer, a, 40000, b, 80)), want);
            assert_eq!(kernel(&prog, &ipip_frame(rev_outer, b, 80, a, 40000)), want);
            // VXLAN: the outer source port differs per direction.
            assert_eq!(
                kernel(&prog, &vxlan_frame(outer, 50001, a, 40000, b, 80)),
                want
            );
            assert_eq!(
                kernel(&prog, &vxlan_frame(rev_outer, 61234, b, 80, a, 40000)),
                want
            );
        }
    }
}

/// Two Geneve options (AWS Gateway Load Balancer carries its own): 12 bytes.
const OPTIONS: [u8; 12] = [1, 8, 1, 2, 0xaa, 0xbb, 0xcc, 0xdd, 1, 8, 2, 0];

#[test]
fn fanout_program_looks_inside_geneve_past_its_options() {
    let prog = fanout_program(false);
    let opts = DecodeOptions::default();
    let outer4: (IpAddr, IpAddr) = ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
    let outer6: (IpAddr, IpAddr) = ("fd01::1".parse().unwrap(), "fd01::2".parse().unwrap());
    for (a, b) in ips() {
        let want = steer_hash(a, 40000, b, 80);
        for outer in [outer4, outer6] {
            let back = (outer.1, outer.0);
            for options in [&OPTIONS[..], &[]] {
                for ip_inside in [false, true] {
                    let fwd = geneve_frame(outer, 50001, (a, 40000), (b, 80), options, ip_inside);
                    let rev = geneve_frame(back, 61234, (b, 80), (a, 40000), options, ip_inside);
                    assert_eq!(kernel(&prog, &fwd), want, "{a} {options:?} {ip_inside}");
                    assert_eq!(kernel(&prog, &rev), want);
                    // The shard agrees, so nothing is handed over.
                    let pkt = Packet {
                        ts_ns: 0,
                        link: LinkType::Ethernet,
                        data: &rev,
                    };
                    assert_eq!(owner(&pkt, &opts, 3), Some((want % 3) as usize));
                }
            }
        }
    }
    // A control packet, or another version: not followed.
    let (a, b) = ips()[0];
    let mut oam = geneve_frame(outer4, 1, (a, 40000), (b, 80), &OPTIONS, false);
    oam[14 + 20 + 8 + 1] = 0x80;
    assert_eq!(kernel(&prog, &oam), 0);
    let mut v1 = geneve_frame(outer4, 1, (a, 40000), (b, 80), &OPTIONS, false);
    v1[14 + 20 + 8] |= 0x40;
    assert_eq!(kernel(&prog, &v1), 0);
}

#[test]
fn fanout_program_without_ipip_and_on_junk_returns_zero() {
    let prog = fanout_program(false);
    let (a, b) = ips()[0];
    let outer = ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
    assert_eq!(kernel(&prog, &ipip_frame(outer, a, 40000, b, 80)), 0);
    assert_eq!(kernel(&prog, &ether(0x0806, &[0u8; 28])), 0);
    assert_eq!(kernel(&prog, &[0u8; 14]), 0);
    let udp_frame = ether(0x0800, &ip(a, b, 17, &udp(53, 53, b"x")));
    assert_eq!(kernel(&prog, &udp_frame), 0);
    // Truncated TCP: the load past the end rejects, as in the kernel.
    let mut short = tcp_frame(a, 1, b, 2);
    short.truncate(14 + 20 + 2);
    assert_eq!(kernel(&prog, &short), 0);
}

#[test]
fn fanout_program_fits_the_kernel_limit() {
    assert!(fanout_program(true).len() < 4096);
}
