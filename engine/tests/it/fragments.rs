//! Requests and responses carried in IP fragments, as a mirror sees them
//! behind a link or tunnel with a smaller MTU: each large TCP segment is
//! cut into IP fragments, written to the capture in order, reversed,
//! with overlapping copies, or with one fragment missing; in IPv4 and
//! IPv6; outside tunnels, inside them, and with the tunnel's own packets
//! fragmented on the outside too. The file reader reassembles them before
//! steering (two shards here, so a fragment steered by anything but its
//! datagram's connection would land on the wrong shard).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pcap_file::DataLink;
use serde_json::{json, Value};

use crate::common::gen::{fragments, ipv4_tcp, ipv6_tcp, Gen, ACK, FIN_ACK, PSH_ACK, SYN};
use crate::common::run::{Finished, Run};
use crate::common::scratch::Scratch;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 2);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 8, 0, 0, 0, 0, 1);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 8, 0, 0, 0, 0, 2);

/// Bytes that say where they are, so a byte out of place shows.
fn filler(tag: &str, n: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!("{tag}{i:06}."));
        i += 1;
    }
    s.truncate(n);
    s
}

fn request_body(port: u16) -> String {
    filler(&format!("q{port}-"), 4000)
}

fn response_body(port: u16) -> String {
    filler(&format!("r{port}-"), 3000)
}

/// One connection from `port` to port 80 as IP packets with their
/// direction (true: server to client): handshake, a 4000-byte POST in one
/// TCP segment, its 3000-byte response in one segment, FINs. The two
/// large segments exceed any Ethernet MTU and are the ones cut.
fn connection(port: u16, v6: bool) -> Vec<(bool, Vec<u8>)> {
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let mut out = Vec::new();
    let mut send = |back: bool, flags: u8, seq: u32, payload: &[u8]| {
        let p = match (v6, back) {
            (false, false) => ipv4_tcp(CLIENT, port, SERVER, 80, seq, flags, payload),
            (false, true) => ipv4_tcp(SERVER, 80, CLIENT, port, seq, flags, payload),
            (true, false) => ipv6_tcp(CLIENT6, port, SERVER6, 80, seq, flags, payload),
            (true, true) => ipv6_tcp(SERVER6, 80, CLIENT6, port, seq, flags, payload),
        };
        out.push((back, p));
    };
    send(false, SYN, cs, b"");
    send(true, SYN | ACK, ss, b"");
    cs += 1;
    ss += 1;
    send(false, ACK, cs, b"");
    let body = request_body(port);
    let req = format!(
        "POST /frag/{port} HTTP/1.1\r\nHost: frag.test\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    send(false, PSH_ACK, cs, req.as_bytes());
    cs += req.len() as u32;
    let body = response_body(port);
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    send(true, PSH_ACK, ss, resp.as_bytes());
    ss += resp.len() as u32;
    send(false, FIN_ACK, cs, b"");
    send(true, FIN_ACK, ss, b"");
    out
}

/// How a large packet reaches the capture: its fragments (cut as a
/// 1500-byte MTU would: IPv4 at 1480 and 2960 bytes of payload, IPv6 at
/// 1448 and 2896), rearranged.
#[derive(Clone, Copy, Debug)]
enum Cut {
    InOrder,
    Reversed,
    /// In order, then a copy of the middle fragment starting 8 bytes early
    /// with other bytes, and an identical copy of the first, before the
    /// last fragment.
    Overlapping,
    /// The middle fragment of the response never arrives.
    ResponseMissingOne,
    /// The middle fragment of the request never arrives.
    RequestMissingOne,
}

fn cut(packet: &[u8], back: bool, id: u32, how: Cut) -> Vec<Vec<u8>> {
    // IPv6 fragments carry 28 more bytes of headers.
    let cuts = if packet[0] >> 4 == 6 {
        [1448, 2896]
    } else {
        [1480, 2960]
    };
    let mut f = fragments(packet, id, &cuts);
    match how {
        Cut::InOrder => f,
        Cut::Reversed => {
            f.reverse();
            f
        }
        Cut::Overlapping => {
            let mut forged = fragments(packet, id, &[cuts[0] - 8, cuts[1]])[1].clone();
            let header = forged.len() - (cuts[1] - cuts[0] + 8);
            for b in &mut forged[header..] {
                *b = b'#';
            }
            let last = f.pop().unwrap();
            let first = f[0].clone();
            f.extend([forged, first, last]);
            f
        }
        Cut::ResponseMissingOne if back => {
            f.remove(1);
            f
        }
        Cut::RequestMissingOne if !back => {
            f.remove(1);
            f
        }
        Cut::ResponseMissingOne | Cut::RequestMissingOne => f,
    }
}

/// Writes connections from ports 40001.. (each its packets in turn),
/// every packet over 1500 bytes cut `how`, wrapped by `wrap`; runs
/// httpcap on it with two shards.
fn run_capture(
    name: &str,
    conns: usize,
    v6: bool,
    how: Cut,
    link: DataLink,
    wrap: impl Fn(Vec<u8>, bool, u32) -> Vec<Vec<u8>>,
) -> Finished {
    let dir = Scratch::new(&format!("fragments-{name}"));
    let pcap = dir.0.join("capture.pcap");
    let mut g = Gen::with_link(&pcap, link);
    write(&mut g, 40001..40001 + conns as u16, v6, how, wrap);
    drop(g);
    let fin = Run::file(&pcap).shards(2).output();
    fin.assert_success();
    fin.note(name);
    fin
}

/// Connections from `ports`, one after the other, into `g`.
fn write(
    g: &mut Gen,
    ports: std::ops::Range<u16>,
    v6: bool,
    how: Cut,
    wrap: impl Fn(Vec<u8>, bool, u32) -> Vec<Vec<u8>>,
) {
    for port in ports {
        for (n, (back, p)) in connection(port, v6).into_iter().enumerate() {
            let id = port as u32 * 16 + n as u32;
            let pieces = if p.len() > 1500 {
                cut(&p, back, id, how)
            } else {
                vec![p]
            };
            for piece in pieces {
                for frame in wrap(piece, back, id) {
                    g.frame(&frame);
                }
            }
        }
    }
}

fn raw(p: Vec<u8>, _: bool, _: u32) -> Vec<Vec<u8>> {
    vec![p]
}

/// Each record complete: its request's and response's bodies whole.
fn assert_complete(fin: &Finished, conns: usize) {
    assert_eq!(fin.records.len(), conns, "{}", fin.stderr);
    for r in &fin.records {
        let port = r["conn"]["client_port"].as_u64().unwrap() as u16;
        assert_eq!(r["request"]["path"], format!("/frag/{port}"), "{r}");
        assert_eq!(r["request"]["body"], request_body(port), "{r}");
        assert_eq!(r["response"]["status"], 200, "{r}");
        assert_eq!(r["response"]["body"], response_body(port), "{r}");
        assert_eq!(r["flags"], json!([]), "{r}");
    }
    assert_eq!(fin.counter("decode_ip_fragment"), 0);
    assert_eq!(fin.counter("defrag_fragments"), 6 * conns as u64);
    assert_eq!(fin.counter("defrag_reassembled"), 2 * conns as u64);
    assert_eq!(fin.counter("defrag_timeouts"), 0);
    assert_eq!(fin.counter("tcp_gaps"), 0);
}

#[test]
fn fragmented_requests_and_responses_in_order() {
    let fin = run_capture("in-order", 4, false, Cut::InOrder, DataLink::RAW, raw);
    assert_complete(&fin, 4);
}

#[test]
fn fragmented_requests_and_responses_reversed() {
    let fin = run_capture("reversed", 4, false, Cut::Reversed, DataLink::RAW, raw);
    assert_complete(&fin, 4);
}

#[test]
fn fragmented_ipv6_requests_and_responses_reversed() {
    let fin = run_capture("ipv6", 4, true, Cut::Reversed, DataLink::RAW, raw);
    assert_complete(&fin, 4);
    assert_eq!(fin.records[0]["conn"]["client_ip"], CLIENT6.to_string());
}

/// httpcap on `pcap` with two shards and `filter` as
/// INPUT_RAW_BPF_FILTER.
fn filtered(pcap: &std::path::Path, filter: &str) -> Finished {
    let fin = Run::file(pcap)
        .shards(2)
        .env("INPUT_RAW_BPF_FILTER", filter)
        .output();
    fin.assert_success();
    fin.note(&format!("{}, port filter {filter:?}", pcap.display()));
    fin
}

/// A capture filter on ports keeps fragmented datagrams of its ports:
/// fragments after the first carry no ports, so every fragment passes and
/// the filter judges the reassembled datagram (tcpdump's reading of
/// `port 80` would drop them and lose every large message).
#[test]
fn a_port_filter_judges_reassembled_datagrams() {
    for v6 in [false, true] {
        let dir = Scratch::new(&format!("fragments-port-filter-{v6}"));
        let pcap = dir.0.join("capture.pcap");
        let mut g = Gen::with_link(&pcap, DataLink::RAW);
        write(&mut g, 40001..40005, v6, Cut::Reversed, raw);
        drop(g);
        let run = |filter: &str| filtered(&pcap, filter);
        assert_complete(&run("tcp port 80"), 4);
        // One connection left out by its port: its datagrams are
        // reassembled, then refused whole.
        let fin = run("tcp port 80 and not port 40002");
        let ports: Vec<u64> = fin
            .records
            .iter()
            .map(|r| r["conn"]["client_port"].as_u64().unwrap())
            .collect();
        assert_eq!(fin.records.len(), 3, "{ports:?}");
        assert!(!ports.contains(&40002));
        assert_eq!(fin.counter("defrag_reassembled"), 8);
        assert!(fin.counter("filter_bpf") >= 2, "{}", fin.stderr);
        assert!(run("tcp port 81").records.is_empty());
    }
}

/// A Hop-by-Hop Options header (PadN) right after an IPv6 packet's fixed
/// header, carrying the Next Header it had: in front of a Fragment
/// header in a fragment, of TCP in a whole packet.
fn hop_by_hop(mut p: Vec<u8>, _: bool, _: u32) -> Vec<Vec<u8>> {
    let next = p[6];
    p[6] = 0;
    let len = u16::from_be_bytes([p[4], p[5]]) + 8;
    p[4..6].copy_from_slice(&len.to_be_bytes());
    p.splice(40..40, [next, 0, 1, 4, 0, 0, 0, 0]);
    vec![p]
}

/// libpcap's `port` reads only the IPv6 header's own Next Header, so with
/// a port filter a packet behind a Hop-by-Hop header matched nothing and
/// was left out, uncounted (the kernel does this live). Such packets pass
/// the frame program and the filter judges them without the header:
/// whole segments and reassembled datagrams alike.
#[test]
fn a_port_filter_sees_past_ipv6_extension_headers() {
    let dir = Scratch::new("fragments-port-filter-hop-by-hop");
    let pcap = dir.0.join("capture.pcap");
    let mut g = Gen::with_link(&pcap, DataLink::RAW);
    write(&mut g, 40001..40005, true, Cut::InOrder, hop_by_hop);
    drop(g);
    let run = |filter: &str| filtered(&pcap, filter);
    assert_complete(&run("tcp port 80"), 4);
    let fin = run("tcp port 80 and not port 40002");
    assert_eq!(fin.records.len(), 3, "{}", fin.stderr);
    assert!(fin
        .records
        .iter()
        .all(|r| r["conn"]["client_port"] != 40002));
    // Refused: its 5 whole packets and its 2 datagrams.
    assert_eq!(fin.counter("filter_bpf"), 7, "{}", fin.stderr);
    assert!(run("tcp port 81").records.is_empty());
}

#[test]
fn overlapping_fragments_keep_the_first_copy_and_are_counted() {
    for v6 in [false, true] {
        let fin = run_capture("overlap", 2, v6, Cut::Overlapping, DataLink::RAW, raw);
        assert_eq!(fin.records.len(), 2, "{}", fin.stderr);
        for r in &fin.records {
            let port = r["conn"]["client_port"].as_u64().unwrap() as u16;
            assert_eq!(r["request"]["body"], request_body(port), "{r}");
            assert_eq!(r["response"]["body"], response_body(port), "{r}");
        }
        // The forged copy of each large packet differs; the identical
        // copy of the first fragment does not.
        assert_eq!(fin.counter("defrag_overlap_conflicts"), 4);
        assert_eq!(fin.counter("defrag_reassembled"), 4);
        assert_eq!(fin.counter("defrag_fragments"), 4 * 5);
    }
}

#[test]
fn a_missing_fragment_loses_its_datagram_and_is_counted() {
    // The response's middle fragment is lost: the request is emitted
    // without a response; nothing of the response's two other fragments
    // reaches a record.
    let fin = run_capture(
        "missing-response",
        2,
        false,
        Cut::ResponseMissingOne,
        DataLink::RAW,
        raw,
    );
    assert_eq!(fin.records.len(), 2, "{}", fin.stderr);
    for r in &fin.records {
        let port = r["conn"]["client_port"].as_u64().unwrap() as u16;
        assert_eq!(r["request"]["body"], request_body(port), "{r}");
        assert_eq!(r["response"], Value::Null, "{r}");
    }
    assert_eq!(fin.counter("defrag_timeouts"), 2);
    assert_eq!(fin.counter("defrag_reassembled"), 2);
    assert_eq!(fin.counter("decode_ip_fragment"), 0);

    // The request's middle fragment is lost: no record carries any of
    // the request.
    let fin = run_capture(
        "missing-request",
        2,
        false,
        Cut::RequestMissingOne,
        DataLink::RAW,
        raw,
    );
    assert_eq!(fin.counter("defrag_timeouts"), 2);
    assert_eq!(fin.counter("defrag_reassembled"), 2);
    for r in &fin.records {
        assert_eq!(r["request"], Value::Null, "{r}");
        assert!(!r.to_string().contains("q4000"), "{r}");
    }
}

// ---- Tunnels -------------------------------------------------------------

fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const VTEP_C: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 1);
const VTEP_S: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 2);

/// `inner` (an IP packet, v4 or v6) in Ethernet in VXLAN VNI 77 over
/// IPv4 between the VTEPs; the outer packet itself cut in two when over
/// 1500 bytes (a tunnel path with a 1500-byte MTU).
fn vxlan(inner: Vec<u8>, back: bool, id: u32) -> Vec<Vec<u8>> {
    let et: u16 = if inner[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 77, 0];
    vx.extend_from_slice(&ether(et, &inner));
    let mut udp = if back { 61000u16 } else { 50000 }.to_be_bytes().to_vec();
    udp.extend_from_slice(&4789u16.to_be_bytes());
    udp.extend_from_slice(&((8 + vx.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&vx);
    let (a, b) = if back {
        (VTEP_S, VTEP_C)
    } else {
        (VTEP_C, VTEP_S)
    };
    let mut outer = ipv4_tcp(a, 0, b, 0, 0, 0, &[]);
    outer.truncate(20);
    outer[9] = 17;
    outer[2..4].copy_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
    outer.extend_from_slice(&udp);
    let pieces = if outer.len() > 1500 {
        fragments(&outer, 0x9000 + id, &[1200])
    } else {
        vec![outer]
    };
    pieces.iter().map(|p| ether(0x0800, p)).collect()
}

#[test]
fn fragments_inside_a_tunnel_and_of_the_tunnel_keep_its_identity() {
    // Inner fragments (IPv4 and IPv6, reversed), each of which is too
    // large for the tunnel path once wrapped and is cut again outside.
    for v6 in [false, true] {
        let fin = run_capture("vxlan", 3, v6, Cut::Reversed, DataLink::ETHERNET, vxlan);
        assert_eq!(fin.records.len(), 3, "{}", fin.stderr);
        for r in &fin.records {
            let port = r["conn"]["client_port"].as_u64().unwrap() as u16;
            assert_eq!(r["request"]["body"], request_body(port), "{r}");
            assert_eq!(r["response"]["body"], response_body(port), "{r}");
            assert_eq!(r["flags"], json!([]), "{r}");
            let client: IpAddr = if v6 { CLIENT6.into() } else { CLIENT.into() };
            assert_eq!(r["conn"]["client_ip"], client.to_string());
            assert_eq!(
                r["conn"]["tunnel"],
                json!([{"kind": "vxlan", "src": VTEP_C.to_string(), "dst": VTEP_S.to_string(), "id": 77}]),
                "{r}"
            );
        }
        assert_eq!(fin.counter("decode_ip_fragment"), 0);
        assert_eq!(fin.counter("defrag_timeouts"), 0);
        // Per large packet: 3 inner fragments, of which the two full
        // ones go out in two outer fragments each: 2 outer datagrams and
        // the inner one reassembled, 2 large packets per connection.
        assert_eq!(
            fin.counter("defrag_reassembled"),
            3 * 2 * 3,
            "{}",
            fin.stderr
        );
        assert_eq!(fin.counter("streams_opened"), 3);
    }
}

// ---- Live: fragments replayed onto a veth --------------------------------

use crate::common::netns::{Httpcap, Pair};

/// In Ethernet, as on the wire.
fn eth(p: Vec<u8>, _: bool, _: u32) -> Vec<Vec<u8>> {
    let et = if p[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
    vec![ether(et, &p)]
}

/// The live tests' capture: IPv4 connections from 41001-41004 with their
/// large packets fragmented (reversed), IPv6 ones from 42001-42002
/// (reversed), and VXLAN ones from 43001-43002 whose inner packets are
/// fragmented and whose tunnel packets are fragmented again.
fn live_capture(pair: &Pair) -> std::path::PathBuf {
    let pcap = pair.dir.join("fragments.pcap");
    let mut g = Gen::with_link(&pcap, DataLink::ETHERNET);
    write(&mut g, 41001..41005, false, Cut::Reversed, eth);
    write(&mut g, 42001..42003, true, Cut::Reversed, eth);
    write(&mut g, 43001..43003, false, Cut::InOrder, vxlan);
    drop(g);
    pcap
}

/// httpcap with af_packet on `input` and `shards` shards while tcpreplay
/// sends `pcap` onto the pair's other end; its records and counters.
fn replay_live(pair: &Pair, pcap: &std::path::Path, input: &str, shards: usize) -> Finished {
    let workers = shards.to_string();
    let h = Httpcap::start(
        pair,
        &[
            "--input-raw-engine",
            "af_packet",
            "--input-raw",
            input,
            "--processing-workers",
            &workers,
        ],
        &[("ASSEMBLER_WORKER_PKT_BUF", "4096")],
        shards,
    );
    crate::common::workload::replay_at(pair, pcap, "--pps 2000");
    // Settle time for the last ring block, not a performance assertion.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let fin = h.stop();
    assert_eq!(fin.code, Some(0), "{}", fin.stderr);
    fin
}

/// tcpreplay sends `live_capture` onto one end of a veth pair; httpcap
/// captures on the other end with af_packet.
/// With two shards the fanout's defrag flag has the kernel reassemble
/// outer IPv4 (the plain IPv4 connections' fragments and the VXLAN
/// packets'), and shard 0 reassembles the rest (IPv6, the inner IPv4 in
/// VXLAN) and hands each datagram to its owner; with one shard there is
/// no fanout, and the shard's source reassembles everything.
#[test]
fn live_fragments_are_reassembled_with_one_and_two_shards() {
    if crate::common::netns::skip() || crate::common::netns::missing("tcpreplay") {
        return;
    }
    let pair = Pair::new(93, 1500);
    let pcap = live_capture(&pair);
    for (shards, userspace) in [(2, 2 * 2 + 2 * 2), (1, 4 * 2 + 2 * 2 + 2 * 2 * 3)] {
        let fin = replay_live(&pair, &pcap, &pair.va, shards);
        fin.note(&format!("live fragments, {shards} shards"));
        let ports: Vec<&Value> = fin
            .records
            .iter()
            .map(|r| &r["conn"]["client_port"])
            .collect();
        assert_eq!(fin.records.len(), 8, "{shards} shards: {ports:?}");
        for r in &fin.records {
            let port = r["conn"]["client_port"].as_u64().unwrap() as u16;
            assert_eq!(r["request"]["body"], request_body(port), "{r}");
            assert_eq!(r["response"]["body"], response_body(port), "{r}");
            assert_eq!(r["flags"], json!([]), "{r}");
            assert_eq!(r["conn"]["tunnel"].is_null(), port < 43000, "{r}");
        }
        assert_eq!(fin.counter("kernel_drops"), 0);
        assert_eq!(fin.counter("decode_ip_fragment"), 0);
        assert_eq!(fin.counter("defrag_timeouts"), 0);
        // What the kernel did not reassemble, shard 0's source did.
        assert_eq!(
            fin.counter("defrag_reassembled"),
            userspace,
            "{shards} shards: {}",
            fin.stderr
        );
    }
}

/// The same capture replayed live to af_packet with a port list
/// (`INPUT_RAW=veth:80`): the kernel's program passes every fragment, the
/// source judges each reassembled datagram, so the plain and IPv6
/// connections to port 80 are complete and the VXLAN ones (UDP 4789 on
/// the outside) are left out, with one and two shards.
#[test]
fn live_port_list_keeps_fragmented_datagrams() {
    if crate::common::netns::skip() || crate::common::netns::missing("tcpreplay") {
        return;
    }
    let pair = Pair::new(94, 1500);
    let pcap = live_capture(&pair);
    let input = format!("{}:80", pair.va);
    for shards in [1, 2] {
        let fin = replay_live(&pair, &pcap, &input, shards);
        fin.note(&format!("live port list, {shards} shards"));
        assert_whole_records_from(&fin, &[41001, 41002, 41003, 41004, 42001, 42002]);
        assert_eq!(fin.counter("kernel_drops"), 0);
        assert_eq!(fin.counter("defrag_timeouts"), 0);
    }
}

/// Live, the kernel runs the frame program: with a port list in
/// `INPUT_RAW`, IPv6 packets behind a Hop-by-Hop header (whole ones and
/// fragments) used to be left out before httpcap saw them. They pass it
/// now and are judged in userspace; with two shards the fanout program
/// cannot parse them either, so shard 0 hands them to their owners.
#[test]
fn live_port_list_sees_past_ipv6_extension_headers() {
    if crate::common::netns::skip() || crate::common::netns::missing("tcpreplay") {
        return;
    }
    // The header's 8 bytes make fragments cut for a 1500-byte MTU too
    // large for one; veth drops frames over its MTU.
    let pair = Pair::new(95, 1600);
    let pcap = pair.dir.join("hop-by-hop.pcap");
    let mut g = Gen::with_link(&pcap, DataLink::ETHERNET);
    let hop_by_hop_eth = |p: Vec<u8>, back: bool, id: u32| {
        let with = hop_by_hop(p, back, id).remove(0);
        eth(with, back, id)
    };
    write(&mut g, 44001..44003, true, Cut::Reversed, hop_by_hop_eth);
    drop(g);
    let input = format!("{}:80", pair.va);
    for shards in [1, 2] {
        let fin = replay_live(&pair, &pcap, &input, shards);
        fin.note(&format!("live hop-by-hop, {shards} shards"));
        assert_whole_records_from(&fin, &[44001, 44002]);
        assert_eq!(fin.counter("filter_bpf"), 0);
        assert_eq!(fin.counter("kernel_drops"), 0);
    }
}

/// One record per client port in `ports` (sorted), each with both bodies
/// whole and no flag.
fn assert_whole_records_from(fin: &Finished, ports: &[u64]) {
    let mut seen: Vec<u64> = fin
        .records
        .iter()
        .map(|r| r["conn"]["client_port"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ports, "{}", fin.stderr);
    for r in &fin.records {
        let port = r["conn"]["client_port"].as_u64().unwrap() as u16;
        assert_eq!(r["request"]["body"], request_body(port), "{r}");
        assert_eq!(r["response"]["body"], response_body(port), "{r}");
        assert_eq!(r["flags"], json!([]), "{r}");
    }
}
