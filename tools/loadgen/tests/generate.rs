//! The generator's promises: same seed, same bytes; and the truth file
//! describes what is really in the capture.

use std::collections::HashMap;

use httpcap_loadgen::{generate, Params, Truth};
use pcap_file::pcap::PcapReader;

fn small(seed: u64) -> Params {
    Params {
        transactions: 600,
        seed,
        pipeline_share: 0.2,
        ..Params::default()
    }
}

fn run(p: &Params) -> (Vec<u8>, Truth, String) {
    let mut pcap = Vec::new();
    let mut lines = Vec::new();
    let truth = generate(p, &mut pcap, Some(&mut lines)).unwrap();
    (pcap, truth, String::from_utf8(lines).unwrap())
}

#[test]
fn same_seed_same_bytes() {
    let (a, ta, la) = run(&small(11));
    let (b, tb, lb) = run(&small(11));
    assert!(a == b, "captures differ for the same seed");
    assert_eq!(ta, tb);
    assert_eq!(la, lb);
    let (c, _, _) = run(&small(12));
    assert!(a != c, "different seeds gave the same capture");
}

/// Walks the frames, splitting off link and tunnel headers, and returns
/// (TCP flags, client-side key if sent by the client, payload) per frame.
fn tcp_frames(pcap: &[u8], vlan: bool, ipip: bool) -> Vec<(u8, Option<[u8; 6]>, Vec<u8>)> {
    let mut reader = PcapReader::new(pcap).unwrap();
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let data = pkt.unwrap().data.into_owned();
        let mut off = 12;
        if vlan {
            assert_eq!(&data[off..off + 2], &[0x81, 0x00]);
            off += 4;
        }
        let v6 = data[off..off + 2] == [0x86, 0xdd];
        assert!(v6 || data[off..off + 2] == [0x08, 0x00]);
        off += 2;
        if ipip {
            assert_eq!(data[off + 9], 4, "outer header is not IPIP");
            off += 20;
        }
        // Client key: the low 4 bytes of the source address and the port.
        let (src_low, tcp) = if v6 {
            assert_eq!(data[off + 6], 6);
            (&data[off + 20..off + 24], &data[off + 40..])
        } else {
            assert_eq!(data[off + 9], 6);
            (&data[off + 12..off + 16], &data[off + 20..])
        };
        let hlen = (tcp[12] >> 4) as usize * 4;
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let from_client = sport != 80 && sport != 8080;
        let mut key = [0u8; 6];
        if from_client {
            key[..4].copy_from_slice(src_low);
            key[4..].copy_from_slice(&tcp[0..2]);
        }
        out.push((tcp[13], from_client.then_some(key), tcp[hlen..].to_vec()));
    }
    out
}

fn check_truth(p: &Params) {
    let (pcap, truth, lines) = run(p);
    let frames = tcp_frames(&pcap, p.vlan.is_some(), p.ipip);
    assert_eq!(truth.transactions, p.transactions);
    assert_eq!(truth.packets, frames.len() as u64);
    assert_eq!(truth.bytes + 24 + 16 * truth.packets, pcap.len() as u64);
    let syns = frames.iter().filter(|f| f.0 == 0x02).count() as u64;
    let fins = frames.iter().filter(|f| f.0 & 0x01 != 0).count() as u64;
    assert_eq!(syns, truth.connections);
    assert_eq!(fins, 2 * truth.connections);

    // Count request lines in each reassembled client stream.
    let mut streams: HashMap<[u8; 6], Vec<u8>> = HashMap::new();
    for (_, key, payload) in &frames {
        if let Some(k) = key {
            streams.entry(*k).or_default().extend_from_slice(payload);
        }
    }
    let requests: usize = streams
        .values()
        .map(|s| {
            s.windows(17)
                .filter(|w| w == b" HTTP/1.1\r\nHost: ")
                .count()
        })
        .sum();
    assert_eq!(requests as u64, truth.transactions);

    assert_eq!(lines.lines().count() as u64, truth.transactions);
    let statics = lines
        .lines()
        .filter(|l| l.contains("\"static\":true"))
        .count() as u64;
    assert_eq!(statics, truth.static_transactions);
    assert_eq!(
        truth.static_transactions + truth.non_static_transactions,
        truth.transactions
    );
    let payload: usize = frames.iter().map(|f| f.2.len()).sum();
    assert_eq!(payload as u64, truth.tcp_payload_bytes);
}

#[test]
fn truth_matches_capture() {
    check_truth(&small(3));
}

#[test]
fn truth_matches_capture_with_vlan_and_ipip() {
    check_truth(&Params {
        vlan: Some(100),
        ipip: true,
        no_tcp_timestamps: true,
        ..small(4)
    });
}

#[test]
fn truth_matches_capture_with_ipv6() {
    check_truth(&Params {
        ipv6_share: 0.5,
        ..small(9)
    });
}

#[test]
fn fixed_connection_count() {
    let (_, truth, _) = run(&Params {
        transactions: 1000,
        connections: Some(300),
        ..small(5)
    });
    assert_eq!(truth.connections, 300);
    assert_eq!(truth.transactions, 1000);
}

#[test]
fn nanosecond_magic() {
    let (pcap, _, _) = run(&Params {
        nanosecond: true,
        transactions: 5,
        ..small(6)
    });
    assert_eq!(&pcap[..4], &0xa1b2_3c4du32.to_le_bytes());
}

#[test]
fn impairments_add_packets_not_transactions() {
    let clean = small(7);
    let rough = Params {
        retransmit_share: 0.05,
        reorder_share: 0.05,
        ..small(7)
    };
    let (_, a, _) = run(&clean);
    let (pcap, b, _) = run(&rough);
    assert_eq!(a.transactions, b.transactions);
    assert_eq!(a.tcp_payload_bytes, b.tcp_payload_bytes);
    assert!(b.retransmitted_segments > 0 && b.reordered_segments > 0);
    assert_eq!(b.packets, tcp_frames(&pcap, false, false).len() as u64);
    assert_eq!(a.packets + b.retransmitted_segments, b.packets);
}

#[test]
fn leave_open_sends_no_fin() {
    let p = Params {
        leave_open: true,
        ..small(8)
    };
    let (pcap, truth, _) = run(&p);
    let frames = tcp_frames(&pcap, false, false);
    assert_eq!(frames.iter().filter(|f| f.0 & 0x01 != 0).count(), 0);
    assert_eq!(truth.left_open_connections, truth.connections);
    assert_eq!(truth.transactions, p.transactions);
}
