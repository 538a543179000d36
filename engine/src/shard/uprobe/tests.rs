//! A shard fed by uprobe events (no BPF here: the events are built as the
//! program writes them).

use std::net::IpAddr;
use std::sync::Arc;

use crate::capture::testpkt::{ether, ip, tcp};
use crate::frame::{LinkType, Packet};
use crate::shard::tests::{recording_shard, Records};
use crate::shard::Shard;
use crate::stats::{Counter, ShardStats};
use crate::tls::uprobe::event::{encode, Direction, Kind};

fn shard() -> (Shard, Arc<ShardStats>, Records) {
    recording_shard()
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The server process (tgid 10) at 10.0.0.1:443, its client at
/// 10.0.0.2:`port`: events as the program writes them.
fn server_event(
    tgid: u32,
    port: u16,
    kind: Kind,
    dir: Direction,
    offset: u64,
    data: &[u8],
) -> Vec<u8> {
    encode(
        kind,
        dir,
        tgid,
        offset,
        (addr("10.0.0.1"), 443),
        (addr("10.0.0.2"), port),
        data,
    )
}

fn close_event(tgid: u32, port: u16, sent: u64, received: u64) -> Vec<u8> {
    let mut ends = sent.to_le_bytes().to_vec();
    ends.extend_from_slice(&received.to_le_bytes());
    server_event(tgid, port, Kind::Close, Direction::Sent, 0, &ends)
}

const REQUEST: &[u8] = b"GET /a HTTP/1.1\r\nHost: api\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn targets(records: &Records) -> Vec<String> {
    records
        .lock()
        .unwrap()
        .iter()
        .map(|r| r["request"]["target"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_server_process_plaintext_becomes_records_oriented_and_marked() {
    let (mut shard, stats, records) = shard();
    shard.uprobe_event(
        &server_event(10, 50000, Kind::Data, Direction::Received, 0, REQUEST),
        0,
    );
    shard.uprobe_event(
        &server_event(10, 50000, Kind::Data, Direction::Sent, 0, RESPONSE),
        0,
    );
    shard.finish();
    let r = records.lock().unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["conn"]["client_ip"], "10.0.0.2");
    assert_eq!(r[0]["conn"]["server_port"], 443);
    assert_eq!(r[0]["tls"]["source"], "uprobe");
    assert_eq!(r[0]["response"]["body"], "ok");
    assert!(r[0]["flags"].as_array().unwrap().is_empty(), "{}", r[0]);
    assert_eq!(stats.get(Counter::TlsUprobeConnections), 1);
    assert_eq!(
        stats.get(Counter::TlsUprobeBytes),
        (REQUEST.len() + RESPONSE.len()) as u64
    );
}

#[test]
fn an_offset_jump_is_a_counted_hole() {
    let (mut shard, stats, records) = shard();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab";
    let port = 50001;
    shard.uprobe_event(
        &server_event(10, port, Kind::Data, Direction::Received, 0, REQUEST),
        0,
    );
    shard.uprobe_event(
        &server_event(10, port, Kind::Data, Direction::Sent, 0, head),
        0,
    );
    // The ring lost four bytes of the body ("cdef").
    let rest = server_event(
        10,
        port,
        Kind::Data,
        Direction::Sent,
        head.len() as u64 + 4,
        b"ghij",
    );
    shard.uprobe_event(&rest, 0);
    shard.finish();
    assert_eq!(stats.get(Counter::TlsUprobeLost), 4);
    let r = records.lock().unwrap();
    assert_eq!(r.len(), 1);
    let flags = r[0]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "gap"), "{}", r[0]);
}

#[test]
fn the_other_ends_copy_is_skipped() {
    let (mut shard, stats, records) = shard();
    shard.uprobe_event(
        &server_event(10, 50002, Kind::Data, Direction::Received, 0, REQUEST),
        0,
    );
    // The client process (tgid 20) on this host: the same bytes, its view.
    let client = |dir, data: &[u8]| {
        encode(
            Kind::Data,
            dir,
            20,
            0,
            (addr("10.0.0.2"), 50002),
            (addr("10.0.0.1"), 443),
            data,
        )
    };
    shard.uprobe_event(&client(Direction::Sent, REQUEST), 0);
    shard.uprobe_event(
        &server_event(10, 50002, Kind::Data, Direction::Sent, 0, RESPONSE),
        0,
    );
    shard.uprobe_event(&client(Direction::Received, RESPONSE), 0);
    shard.finish();
    assert_eq!(targets(&records), ["/a"]);
    assert_eq!(stats.get(Counter::TlsUprobeDuplicate), 2);
}

#[test]
fn a_response_ended_by_the_close_is_complete_at_the_close() {
    let (mut shard, stats, records) = shard();
    let response = b"HTTP/1.0 200 OK\r\n\r\nuntil the end";
    shard.uprobe_event(
        &server_event(10, 50003, Kind::Data, Direction::Received, 0, REQUEST),
        0,
    );
    shard.uprobe_event(
        &server_event(10, 50003, Kind::Data, Direction::Sent, 0, response),
        0,
    );
    assert!(records.lock().unwrap().is_empty());
    shard.uprobe_event(
        &close_event(10, 50003, response.len() as u64, REQUEST.len() as u64),
        0,
    );
    // Emitted at the close, not when the lingering connection ends.
    assert_eq!(records.lock().unwrap().len(), 1);
    assert_eq!(
        records.lock().unwrap()[0]["response"]["body"],
        "until the end"
    );
    // A late copy from the other end is still recognised.
    shard.uprobe_event(
        &encode(
            Kind::Data,
            Direction::Received,
            20,
            0,
            (addr("10.0.0.2"), 50003),
            (addr("10.0.0.1"), 443),
            response,
        ),
        0,
    );
    shard.finish();
    assert_eq!(records.lock().unwrap().len(), 1);
    assert_eq!(stats.get(Counter::TlsUprobeDuplicate), 1);
    assert_eq!(stats.get(Counter::StreamsClosed), 1);
    assert_eq!(stats.get(Counter::TlsUprobeLost), 0);
}

#[test]
fn bytes_lost_at_the_end_show_in_the_close() {
    let (mut shard, stats, _records) = shard();
    shard.uprobe_event(
        &server_event(10, 50004, Kind::Data, Direction::Received, 0, REQUEST),
        0,
    );
    // The server sent 500 bytes the ring refused, then closed.
    shard.uprobe_event(&close_event(10, 50004, 500, REQUEST.len() as u64), 0);
    shard.finish();
    assert_eq!(stats.get(Counter::TlsUprobeLost), 500);
}

#[test]
fn a_new_connection_on_a_closed_four_tuple_starts_afresh() {
    let (mut shard, stats, records) = shard();
    for (i, target) in ["/first", "/second"].into_iter().enumerate() {
        let request = format!("GET {target} HTTP/1.1\r\nHost: api\r\n\r\n");
        shard.uprobe_event(
            &server_event(
                10,
                50005,
                Kind::Data,
                Direction::Received,
                0,
                request.as_bytes(),
            ),
            0,
        );
        shard.uprobe_event(
            &server_event(10, 50005, Kind::Data, Direction::Sent, 0, RESPONSE),
            0,
        );
        shard.uprobe_event(
            &close_event(10, 50005, RESPONSE.len() as u64, request.len() as u64),
            0,
        );
        assert_eq!(records.lock().unwrap().len(), i + 1);
    }
    shard.finish();
    assert_eq!(targets(&records), ["/first", "/second"]);
    assert_eq!(stats.get(Counter::TlsUprobeConnections), 2);
    assert_eq!(stats.get(Counter::TlsUprobeLost), 0);
}

#[test]
fn packets_of_a_fed_connection_are_not_parsed() {
    let (mut shard, stats, records) = shard();
    let (server, client) = (addr("10.0.0.1"), addr("10.0.0.2"));
    // Ciphertext seen first on the wire opens the connection...
    let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00];
    let data = ether(0x0800, &ip(client, server, 6, &tcp(50006, 443, &hello)));
    shard.handle_packet(shard_packet(&data));
    // ...then the plaintext takes it over.
    shard.uprobe_event(
        &server_event(10, 50006, Kind::Data, Direction::Received, 0, REQUEST),
        0,
    );
    let more = ether(
        0x0800,
        &ip(client, server, 6, &tcp(50006, 443, &[0x17; 40])),
    );
    shard.handle_packet(shard_packet(&more));
    shard.uprobe_event(
        &server_event(10, 50006, Kind::Data, Direction::Sent, 0, RESPONSE),
        0,
    );
    shard.finish();
    assert_eq!(targets(&records), ["/a"]);
    assert_eq!(stats.get(Counter::TlsUprobePacketsSkipped), 1);
    assert_eq!(stats.get(Counter::StreamsOpened), 1);
    assert_eq!(stats.get(Counter::TlsNoKey), 0);
}

/// The plaintext overtook the handshake's packets (the capture ring
/// hands packets over up to a millisecond late): they are still read for
/// the records' `tls` object, and nothing else comes of them.
#[test]
fn a_handshake_the_plaintext_overtook_still_names_the_connection() {
    use crate::tls::craft::{client_hello, server_hello};
    let (mut shard, stats, records) = shard();
    let (server, client) = (addr("10.0.0.1"), addr("10.0.0.2"));
    shard.uprobe_event(
        &server_event(10, 50007, Kind::Data, Direction::Received, 0, REQUEST),
        0,
    );
    let hello = client_hello(0x1301, "api.test", "http/1.1");
    let data = ether(0x0800, &ip(client, server, 6, &tcp(50007, 443, &hello)));
    shard.handle_packet(shard_packet(&data));
    let hello = server_hello(0x1301, true, "");
    let data = ether(0x0800, &ip(server, client, 6, &tcp(443, 50007, &hello)));
    shard.handle_packet(shard_packet(&data));
    shard.uprobe_event(
        &server_event(10, 50007, Kind::Data, Direction::Sent, 0, RESPONSE),
        0,
    );
    shard.finish();
    let r = records.lock().unwrap();
    assert_eq!(r.len(), 1);
    let tls = &r[0]["tls"];
    assert_eq!(tls["source"], "uprobe", "{tls}");
    assert_eq!(tls["sni"], "api.test", "{tls}");
    assert_eq!(tls["version"], "TLS 1.3", "{tls}");
    assert_eq!(tls["cipher"], "TLS_AES_128_GCM_SHA256", "{tls}");
    assert_eq!(r[0]["response"]["body"], "ok");
    assert_eq!(stats.get(Counter::TlsUprobePacketsSkipped), 2);
    assert_eq!(stats.get(Counter::TlsConnections), 0);
    assert_eq!(stats.get(Counter::TlsNoKey), 0);
}

fn shard_packet(data: &[u8]) -> Packet<'_> {
    Packet {
        ts_ns: 1_000_000_000,
        link: LinkType::Ethernet,
        data,
    }
}

#[test]
fn invalid_samples_are_counted_and_skipped() {
    let (mut shard, stats, records) = shard();
    shard.uprobe_event(&[0u8; 10], 0);
    let mut bad = server_event(10, 50007, Kind::Data, Direction::Sent, 0, b"x");
    bad[26] = 9;
    shard.uprobe_event(&bad, 0);
    shard.finish();
    assert_eq!(stats.get(Counter::TlsUprobeInvalid), 2);
    assert!(records.lock().unwrap().is_empty());
}

proptest::proptest! {
    /// Any sequence of events, well-formed or not, in any order, offsets
    /// up to the largest: no panic (one would be contained and counted),
    /// and every record says where its plaintext came from.
    #[test]
    fn any_event_sequence_is_handled(
        events in proptest::collection::vec(
            (0u8..3, 0u8..2, 0u32..3, proptest::prop_oneof![0u64..400, proptest::prelude::any::<u64>()], proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120), proptest::prelude::any::<bool>()),
            0..40,
        )
    ) {
        let (mut shard, stats, records) = shard();
        for (kind, dir, tgid, offset, noise, http) in events {
            let data: Vec<u8> = if http {
                [REQUEST, RESPONSE][usize::from(dir)].to_vec()
            } else {
                noise
            };
            let dir = if dir == 0 { Direction::Sent } else { Direction::Received };
            let bytes = match kind {
                0 => server_event(tgid, 50100, Kind::Data, dir, offset, &data),
                1 => close_event(tgid, 50100, offset, offset / 2),
                _ => data,
            };
            shard.uprobe_event(&bytes, 0);
        }
        shard.finish();
        proptest::prop_assert_eq!(stats.get(Counter::ConnectionPanics), 0);
        for r in records.lock().unwrap().iter() {
            proptest::prop_assert_eq!(&r["tls"]["source"], "uprobe");
        }
    }
}
