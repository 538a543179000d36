//! The XDP program run in the kernel with BPF_PROG_TEST_RUN (root only):
//! its hash must be `steer_hash`, both directions and through tunnels.

use std::net::IpAddr;

use libbpf_rs::ProgramInput;

use super::*;
use crate::capture::steer::steer_hash;
use crate::capture::testpkt::*;

fn skip() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: loading XDP programs needs root");
        return true;
    }
    false
}

fn loaded(ipip: bool) -> Steering {
    let s = Steering::load(2, 1, ipip).expect("load the XDP program");
    s.activate().unwrap();
    s
}

/// The hash the probe program computes for `frame` (0: shard 0).
fn kernel_hash(s: &Steering, frame: &[u8]) -> u32 {
    let mut out = vec![0u8; frame.len() + 256];
    let input = ProgramInput {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ..Default::default()
    };
    let r = s.probe().unwrap().test_run(input).expect("test run");
    assert_eq!(r.return_value, 2, "XDP_PASS");
    let data = r.data.expect("output frame");
    u32::from_ne_bytes(data[..4].try_into().unwrap())
}

/// `frame` with an 802.1Q tag after the MAC addresses.
fn vlan(frame: &[u8], tpid: u16) -> Vec<u8> {
    let mut v = frame[..12].to_vec();
    v.extend_from_slice(&tpid.to_be_bytes());
    v.extend_from_slice(&42u16.to_be_bytes());
    v.extend_from_slice(&frame[12..]);
    v
}

fn ips() -> Vec<(IpAddr, IpAddr)> {
    [
        ("10.77.0.2", "10.77.0.1"),
        ("192.168.1.10", "172.16.5.4"),
        ("fd00::2", "fd00::1"),
        ("2001:db8::beef", "2001:db8:1::1"),
    ]
    .iter()
    .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
    .collect()
}

#[test]
fn xdp_hash_is_steer_hash_in_both_directions() {
    if skip() {
        return;
    }
    let s = loaded(false);
    for (a, b) in ips() {
        for port in [40000u16, 51234, 80] {
            let want = steer_hash(a, port, b, 80);
            let fwd = tcp_frame(a, port, b, 80);
            let rev = tcp_frame(b, 80, a, port);
            assert_eq!(kernel_hash(&s, &fwd), want, "{a} {port}");
            assert_eq!(kernel_hash(&s, &rev), want);
            assert_eq!(kernel_hash(&s, &vlan(&fwd, 0x8100)), want);
            assert_eq!(kernel_hash(&s, &vlan(&vlan(&rev, 0x8100), 0x88a8)), want);
        }
    }
}

#[test]
fn xdp_hash_looks_inside_vxlan_and_ipip_when_enabled() {
    if skip() {
        return;
    }
    let plain = loaded(false);
    let ipip = loaded(true);
    let outer4: (IpAddr, IpAddr) = ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
    let outer6: (IpAddr, IpAddr) = ("fd01::1".parse().unwrap(), "fd01::2".parse().unwrap());
    for (a, b) in ips() {
        let want = steer_hash(a, 40000, b, 80);
        for outer in [outer4, outer6] {
            let back = (outer.1, outer.0);
            // VXLAN: the outer source port differs per direction.
            for s in [&plain, &ipip] {
                assert_eq!(
                    kernel_hash(s, &vxlan_frame(outer, 50001, a, 40000, b, 80)),
                    want
                );
                assert_eq!(
                    kernel_hash(s, &vxlan_frame(back, 61234, b, 80, a, 40000)),
                    want
                );
            }
            assert_eq!(
                kernel_hash(&ipip, &ipip_frame(outer, a, 40000, b, 80)),
                want
            );
            assert_eq!(kernel_hash(&ipip, &ipip_frame(back, b, 80, a, 40000)), want);
            // Without IPIP=true a tunnel is not looked into: shard 0.
            assert_eq!(kernel_hash(&plain, &ipip_frame(outer, a, 40000, b, 80)), 0);
        }
    }
}

#[test]
fn xdp_hash_looks_inside_geneve_past_its_options() {
    if skip() {
        return;
    }
    let s = loaded(false);
    let options = [1u8, 8, 1, 2, 0xaa, 0xbb, 0xcc, 0xdd, 1, 8, 2, 0];
    let outer4: (IpAddr, IpAddr) = ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
    let outer6: (IpAddr, IpAddr) = ("fd01::1".parse().unwrap(), "fd01::2".parse().unwrap());
    for (a, b) in ips() {
        let want = steer_hash(a, 40000, b, 80);
        for outer in [outer4, outer6] {
            let back = (outer.1, outer.0);
            for opts in [&options[..], &[]] {
                for ip_inside in [false, true] {
                    let fwd = geneve_frame(outer, 50001, (a, 40000), (b, 80), opts, ip_inside);
                    let rev = geneve_frame(back, 61234, (b, 80), (a, 40000), opts, ip_inside);
                    assert_eq!(kernel_hash(&s, &fwd), want, "{a} {opts:?} {ip_inside}");
                    assert_eq!(kernel_hash(&s, &rev), want);
                }
            }
        }
    }
    let (a, b) = ips()[0];
    let mut oam = geneve_frame(outer4, 1, (a, 40000), (b, 80), &options, false);
    oam[14 + 20 + 8 + 1] = 0x80;
    assert_eq!(kernel_hash(&s, &oam), 0);
}

#[test]
fn xdp_unparsed_frames_go_to_shard_zero() {
    if skip() {
        return;
    }
    let s = loaded(true);
    let (a, b) = ips()[0];
    let mut frag = tcp_frame(a, 40000, b, 80);
    frag[14 + 6] = 0x20; // more fragments
    let udp_frame = ether(0x0800, &ip(a, b, 17, &udp(5353, 53, b"q")));
    let arp = ether(0x0806, &[0u8; 28]);
    let short = tcp_frame(a, 40000, b, 80)[..14 + 20 + 3].to_vec();
    for f in [frag, udp_frame, arp, short] {
        assert_eq!(kernel_hash(&s, &f), 0);
    }
}

#[test]
fn frames_without_a_socket_pass_and_are_counted() {
    if skip() {
        return;
    }
    let s = loaded(false);
    let (a, b) = ips()[0];
    let frame = tcp_frame(a, 40000, b, 80);
    let prog = s.program(PROGRAM).unwrap();
    for _ in 0..3 {
        let r = prog
            .test_run(ProgramInput {
                data_in: Some(&frame),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.return_value, 2, "XDP_PASS");
    }
    let counts = s.frame_counts();
    assert_eq!(counts.total(s.missed_slot()), 3);
    assert_eq!(counts.total(s.slot(0, 0)) + counts.total(s.slot(0, 1)), 0);
}
