//! Shard tests: what must hold across connections.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use super::*;
use crate::capture::testpkt::{ether, ip, tcp};
use crate::frame::LinkType;
use crate::stats::Registry;

/// Keeps record targets; panics, as a bug would, on a target with "boom".
struct Collect(Arc<Mutex<Vec<String>>>);

impl RecordSink for Collect {
    fn write(&mut self, view: &RecordView<'_>, _line: &[u8]) {
        let target = view
            .txn
            .request
            .as_ref()
            .map(|r| r.head.target().to_string())
            .unwrap_or_default();
        assert!(!target.contains("boom"), "a bug on {target}");
        self.0.lock().unwrap().push(target);
    }
}

fn frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let (src, dst) = if dport == 80 { (a, b) } else { (b, a) };
    ether(0x0800, &ip(src, dst, 6, &tcp(sport, dport, payload)))
}

#[test]
fn a_panic_in_one_connection_costs_only_that_connection() {
    crate::panic_guard::install_hook();
    let (_reg, mut handles) = Registry::new(1);
    let (stats, hist) = handles.pop().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut shard = Shard::new(
        0,
        ShardSettings::defaults(),
        Arc::new(Filters::none()),
        Arc::new(RecordCtx::default()),
        vec![Box::new(Collect(seen.clone()))],
        stats.clone(),
        hist,
    );
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (port, target) in [(40000, "/boom"), (40001, "/fine")] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        for data in [
            frame(port, 80, request.as_bytes()),
            frame(80, port, response),
        ] {
            shard.handle_packet(Packet {
                ts_ns: 1_000_000_000,
                link: LinkType::Ethernet,
                data: &data,
            });
        }
    }
    shard.finish();
    assert_eq!(*seen.lock().unwrap(), vec!["/fine".to_string()]);
    assert_eq!(stats.get(Counter::ConnectionPanics), 1);
    assert_eq!(stats.gauge(Gauge::ActiveStreams), 0);
}

/// The records a shard wrote, parsed.
pub(crate) type Records = Arc<Mutex<Vec<serde_json::Value>>>;

/// Keeps each record's line.
struct Lines(Records);

impl RecordSink for Lines {
    fn write(&mut self, _view: &RecordView<'_>, line: &[u8]) {
        let record = serde_json::from_slice(line).expect("a record is JSON");
        self.0.lock().unwrap().push(record);
    }
}

/// A shard with the default settings whose records are kept, parsed.
pub(crate) fn recording_shard() -> (Shard, Arc<ShardStats>, Records) {
    let (_reg, mut handles) = Registry::new(1);
    let (stats, hist) = handles.pop().unwrap();
    let records = Records::default();
    let shard = Shard::new(
        0,
        ShardSettings::defaults(),
        Arc::new(Filters::none()),
        Arc::new(RecordCtx::default()),
        vec![Box::new(Lines(records.clone()))],
        stats.clone(),
        hist,
    );
    (shard, stats, records)
}

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;

/// Client 10.0.0.2:40000 and server 10.0.0.1:80, segment by segment.
struct Wire {
    shard: Shard,
    stats: Arc<ShardStats>,
    records: Records,
    ts_ns: u64,
}

impl Wire {
    fn new() -> Wire {
        let (shard, stats, records) = recording_shard();
        Wire {
            shard,
            stats,
            records,
            ts_ns: 1_000_000_000,
        }
    }

    /// One segment: from the client when `client`, with (seq, ack) and flags.
    fn send(&mut self, client: bool, seq_ack: (u32, u32), flags: u8, payload: &[u8]) {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let (src, dst, sport, dport) = if client {
            (a, b, 40000, 80)
        } else {
            (b, a, 80, 40000)
        };
        let t = crate::capture::testpkt::tcp_with(sport, dport, seq_ack, flags, &[], payload);
        let data = ether(0x0800, &ip(src, dst, 6, &t));
        self.ts_ns += 1_000_000;
        self.shard.handle_packet(Packet {
            ts_ns: self.ts_ns,
            link: LinkType::Ethernet,
            data: &data,
        });
    }

    /// A handshake from client ISN `c` and server ISN `s`, then one
    /// exchange for `path`; returns the next sequence numbers.
    fn exchange(&mut self, (c, s): (u32, u32), path: &str, handshake: bool) -> (u32, u32) {
        let (mut c, mut s) = (c, s);
        if handshake {
            self.send(true, (c, 0), SYN, b"");
            self.send(false, (s, c + 1), SYN_ACK, b"");
            c += 1;
            s += 1;
            self.send(true, (c, s), ACK, b"");
        }
        let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        let body = format!("answer to {path}");
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.send(true, (c, s), PSH_ACK, request.as_bytes());
        c += request.len() as u32;
        self.send(false, (s, c), PSH_ACK, response.as_bytes());
        s += response.len() as u32;
        (c, s)
    }

    /// (target, response body, flags) of each record, in order.
    fn finish(mut self) -> (Vec<(String, String, String)>, Arc<ShardStats>) {
        self.shard.finish();
        let records = self.records.lock().unwrap();
        let got = records
            .iter()
            .map(|r| {
                (
                    r["request"]["target"].as_str().unwrap_or("").to_string(),
                    r["response"]["body"].as_str().unwrap_or("").to_string(),
                    r["flags"].to_string(),
                )
            })
            .collect();
        (got, self.stats)
    }
}

fn answered(path: &str) -> (String, String, String) {
    (path.into(), format!("answer to {path}"), "[]".into())
}

/// The old connection's FINs were not captured: the four-tuple looks
/// open when a new connection (another ISN) takes it over. The server's
/// SYN-ACK to the new SYN ends the old connection and starts the new one.
#[test]
fn a_reused_port_answered_by_the_server_starts_a_new_connection() {
    let mut w = Wire::new();
    w.exchange((1000, 5000), "/old", true);
    w.exchange((900_000, 700_000), "/new", true);
    let (got, stats) = w.finish();
    assert_eq!(got, vec![answered("/old"), answered("/new")]);
    assert_eq!(stats.get(Counter::StreamsReused), 1);
    assert_eq!(stats.get(Counter::StreamsOpened), 2);
    assert_eq!(stats.get(Counter::TcpOutOfOrder), 0);
}

/// The client's FIN was captured, the server's was not: the next SYN
/// replaces the closing connection at once (its SYN-ACK lost too).
#[test]
fn a_reused_port_after_a_fin_starts_a_new_connection() {
    let mut w = Wire::new();
    let (c, s) = w.exchange((1000, 5000), "/old", true);
    w.send(true, (c, s), FIN_ACK, b"");
    w.send(true, (3_000_000_000, 0), SYN, b"");
    w.exchange((3_000_000_001, 4_000_000_001), "/new", false);
    let (got, stats) = w.finish();
    assert_eq!(got, vec![answered("/old"), answered("/new")]);
    assert_eq!(stats.get(Counter::StreamsReused), 1);
}

/// A SYN with another ISN on a live connection that the server does not
/// answer with a SYN-ACK (forged, or a challenge ACK comes back) changes
/// nothing: the connection goes on.
#[test]
fn a_lone_syn_does_not_cut_a_live_connection() {
    let mut w = Wire::new();
    let (c, s) = w.exchange((1000, 5000), "/first", true);
    w.send(true, (77_777, 0), SYN, b"");
    // The server's challenge ACK for the old connection.
    w.send(false, (s, c), ACK, b"");
    // A SYN-ACK that acknowledges something else does not count either.
    w.send(false, (123_456, 99), SYN_ACK, b"");
    w.exchange((c, s), "/second", false);
    let (got, stats) = w.finish();
    assert_eq!(got, vec![answered("/first"), answered("/second")]);
    assert_eq!(stats.get(Counter::StreamsReused), 0);
    assert_eq!(stats.get(Counter::StreamsOpened), 1);
}

/// A retransmitted SYN (and SYN-ACK) is the same connection's.
#[test]
fn a_retransmitted_handshake_is_not_a_new_connection() {
    let mut w = Wire::new();
    w.send(true, (1000, 0), SYN, b"");
    w.send(true, (1000, 0), SYN, b"");
    w.send(false, (5000, 1001), SYN_ACK, b"");
    w.send(false, (5000, 1001), SYN_ACK, b"");
    w.exchange((1001, 5001), "/only", false);
    let (got, stats) = w.finish();
    assert_eq!(got, vec![answered("/only")]);
    assert_eq!(stats.get(Counter::StreamsReused), 0);
}

/// Key-log lines read at start beyond TLS_MAX_KEYS: the oldest are
/// dropped, and counted once (by shard 0, for every shard).
#[test]
fn key_log_lines_dropped_at_start_are_counted() {
    let lines: Vec<_> = (0..5u8)
        .map(|i| {
            let line = format!(
                "CLIENT_RANDOM {} {}\n",
                format!("{i:02x}").repeat(32),
                "ab".repeat(48)
            );
            crate::tls::keylog::parse_line(line.as_bytes())
                .unwrap()
                .unwrap()
        })
        .collect();
    for (id, counted) in [(0, 2), (1, 0)] {
        let (_reg, mut handles) = Registry::new(1);
        let (stats, hist) = handles.pop().unwrap();
        let settings = ShardSettings {
            tls_max_keys: 3,
            ..ShardSettings::defaults()
        };
        let (_tx, rx) = crossbeam::channel::bounded(1);
        let shard = Shard::new(
            id,
            settings,
            Arc::new(Filters::none()),
            Arc::new(RecordCtx::default()),
            vec![],
            stats.clone(),
            hist,
        )
        .with_keys(&lines, rx, Arc::new(std::sync::atomic::AtomicU64::new(0)));
        drop(shard);
        assert_eq!(stats.get(Counter::TlsKeysEvicted), counted, "shard {id}");
    }
}
