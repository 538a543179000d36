//! Harnesses for one connection's HTTP state (`HttpConn`), fed the way
//! the shard feeds it after reassembly: HTTP/1, HTTP/2 and TLS.

use super::{steps, Step};
use crate::http::filter::Filters;
use crate::http::parser::Role;
use crate::http::{HttpConn, HttpCtx, Transaction};
use crate::http2::frame as h2frame;
use crate::stats::ShardStats;
use crate::tls::craft::{self, Sealer};
use crate::tls::TlsContext;

/// Cap on what one connection may hold while being fuzzed; the engine's
/// own bounds are far below it for these settings.
const MAX_BUFFERED: usize = 4 << 20;

/// One connection and the shard context it reports to.
struct Driver {
    http: HttpConn,
    stats: ShardStats,
    filters: Filters,
    done: Vec<Transaction>,
    tls: TlsContext,
    max_body: usize,
    now: u64,
    /// Transactions in `done` already decoded.
    decoded: usize,
}

impl Driver {
    fn new(max_head: usize) -> Driver {
        Driver {
            http: HttpConn::new(max_head),
            stats: ShardStats::default(),
            filters: Filters::none(),
            done: Vec::new(),
            tls: TlsContext::new(16, 2_000_000_000, 64 * 1024),
            max_body: 2048,
            now: 1_000_000_000,
            decoded: 0,
        }
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut HttpConn, &mut HttpCtx<'_>, u64) -> R) -> R {
        let mut ctx = HttpCtx {
            stats: &self.stats,
            filters: &self.filters,
            max_body: self.max_body,
            body_reserve: 512,
            done: &mut self.done,
            tls: &self.tls,
        };
        f(&mut self.http, &mut ctx, self.now)
    }

    fn send(&mut self, role: Role, bytes: &[u8]) {
        self.with(|h, c, now| h.data(role, bytes, now, c));
    }

    /// One script step: bytes (or a hole of as many bytes), then an end
    /// of the direction or a sweep of what waited too long.
    fn step(&mut self, step: &Step<'_>, payload: &[u8]) {
        self.now += step.wait_ns + 1_000;
        let role = if step.from_server {
            Role::Response
        } else {
            Role::Request
        };
        if step.hole {
            self.with(|h, c, now| h.gap(role, payload.len() as u64 + 1, now, c));
        } else {
            self.send(role, payload);
        }
        if step.fin {
            self.with(|h, c, now| h.eof(role, now, c));
        }
        if step.wait_ns > 0 {
            self.with(|h, c, now| h.expire_pending(now, 1_000_000_000, c));
        }
        self.decode_new();
        self.check();
    }

    /// Decodes what was finished since the last call, as the shard does
    /// before serializing. Bodies are checked here, once: a finished
    /// transaction no longer changes (checking them all at every step made
    /// runs quadratic).
    fn decode_new(&mut self) {
        for t in &mut self.done[self.decoded..] {
            crate::http::exchange::decode_for_output(t, self.max_body, 512, &self.stats);
            for m in [&t.request, &t.response].into_iter().flatten() {
                assert!(
                    m.body.len() <= self.max_body,
                    "{}-byte body over a cap of {}",
                    m.body.len(),
                    self.max_body
                );
            }
        }
        self.decoded = self.done.len();
    }

    /// Bounded buffering.
    fn check(&self) {
        assert!(
            self.http.buffered_bytes() < MAX_BUFFERED,
            "{} bytes buffered",
            self.http.buffered_bytes()
        );
    }

    /// Ends the connection; returns the transactions.
    fn finish(mut self) -> usize {
        self.now += 10_000_000_000;
        self.with(|h, c, now| h.expire_pending(now, 1_000_000_000, c));
        self.with(|h, c, now| h.close(now, c));
        self.decode_new();
        self.check();
        assert_eq!(self.http.pending_len(), 0, "transactions left after close");
        let mut seqs: Vec<(Option<u32>, u32)> =
            self.done.iter().map(|t| (t.stream_id, t.seq)).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(
            seqs.len(),
            self.done.len(),
            "two transactions share a position"
        );
        self.done.len()
    }
}

/// HTTP/1 parsing and pairing: the first byte's bit 0 starts mid-stream,
/// bits 1-7 scale the head limit (64 bytes and up). The rest is a script
/// as for `conversation` (header byte, length byte, bytes): bit 0 the
/// server's bytes, bit 1 a hole as long as the bytes, bit 2 the end of
/// that direction, bits 4-7 time passing (then the pending transactions
/// are swept). Bodies stay within their cap, buffering stays bounded and
/// every transaction comes out once, at the latest at close.
pub fn http1(data: &[u8]) -> usize {
    let Some((&first, script)) = data.split_first() else {
        return 0;
    };
    let mut d = Driver::new(64 + usize::from(first >> 1) * 32);
    if first & 1 != 0 {
        d.http.start_midstream();
    }
    for step in steps(script) {
        d.step(&step, step.payload);
    }
    d.finish()
}

/// HTTP/2 connections: the connection is HTTP/2 from its first byte
/// (prior knowledge, or ALPN `h2`), mid-stream when the first byte's bit
/// 0 is set; bit 1 puts the client preface before the client's first
/// bytes. The rest is a script as for `http1`, both directions.
pub fn h2_conn(data: &[u8]) -> usize {
    let Some((&first, script)) = data.split_first() else {
        return 0;
    };
    let mut d = Driver::new(256 + usize::from(first >> 2) * 64);
    let mid_stream = first & 1 != 0;
    d.with(|h, c, _| h.start_h2(mid_stream, c));
    let mut preface = first & 2 != 0;
    let mut joined = Vec::new();
    for step in steps(script) {
        if preface && !step.from_server && !step.hole {
            preface = false;
            joined.clear();
            joined.extend_from_slice(h2frame::PREFACE);
            joined.extend_from_slice(step.payload);
            d.step(&step, &joined);
        } else {
            d.step(&step, step.payload);
        }
    }
    d.finish()
}

/// TLS connections: a TLS 1.3 handshake (ClientHello, ServerHello, the
/// encrypted server flight, the client's Finished) comes first, then the
/// script. The first byte: bit 0 the key log holds the connection's
/// secrets (before the handshake, or after it with bit 1: keys that come
/// late), bit 2 the handshake's ALPN is `h2`, bit 3 leaves the server's
/// encrypted flight out. Script steps as for `http1`, except that a step
/// whose header has bit 3 set is sealed as one application-data record
/// under its direction's traffic keys, so that a keyed connection's
/// bytes reach HTTP; other steps are sent as they are.
pub fn tls(data: &[u8]) -> usize {
    let Some((&first, script)) = data.split_first() else {
        return 0;
    };
    let keyed = first & 1 != 0;
    let late = first & 2 != 0;
    let alpn = if first & 4 != 0 { "h2" } else { "http/1.1" };
    let mut d = Driver::new(1024);
    let mut hs = Handshake::new(alpn);
    if keyed && !late {
        hs.give_keys(&mut d.tls);
    }
    d.send(Role::Request, &hs.client_hello);
    if first & 8 != 0 {
        d.send(Role::Response, &hs.server_hello);
    } else {
        d.send(
            Role::Response,
            &[hs.server_hello.clone(), hs.server_flight.clone()].concat(),
        );
    }
    d.send(Role::Request, &hs.client_finished);
    if keyed && late {
        d.now += 1_000;
        hs.give_keys(&mut d.tls);
        d.with(|h, c, now| h.retry_tls(now, c));
    }
    for step in steps(script) {
        if step.hold && !step.hole {
            let sealer = if step.from_server {
                &mut hs.server_app
            } else {
                &mut hs.client_app
            };
            let sealed = sealer.seal(23, step.payload);
            d.step(&step, &sealed);
        } else {
            d.step(&step, step.payload);
        }
    }
    d.finish()
}

/// Handshake and application traffic secrets: client, server, client, server.
const SECRETS: [[u8; 32]; 4] = [[0x31; 32], [0x32; 32], [0x33; 32], [0x34; 32]];
const LABELS: [&str; 4] = [
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
];

/// A TLS 1.3 handshake made up here (TLS_AES_128_GCM_SHA256), and the
/// sealers for the application records that follow it.
struct Handshake {
    client_hello: Vec<u8>,
    server_hello: Vec<u8>,
    server_flight: Vec<u8>,
    client_finished: Vec<u8>,
    client_app: Sealer,
    server_app: Sealer,
}

impl Handshake {
    fn new(alpn: &str) -> Handshake {
        let mut s_hs = Sealer::tls13(&SECRETS[1]);
        let mut c_hs = Sealer::tls13(&SECRETS[0]);
        let mut ee = Vec::new();
        let exts = craft::alpn(alpn);
        ee.extend((exts.len() as u16).to_be_bytes());
        ee.extend(exts);
        let mut flight = craft::handshake(8, &ee);
        flight.extend(craft::handshake(20, &[0x55; 32]));
        Handshake {
            client_hello: craft::client_hello(0x1301, "fuzz.test", alpn),
            server_hello: craft::server_hello(0x1301, true, alpn),
            server_flight: s_hs.seal(22, &flight),
            client_finished: [
                craft::record(20, &[1]),
                c_hs.seal(22, &craft::handshake(20, &[0x66; 32])),
            ]
            .concat(),
            client_app: Sealer::tls13(&SECRETS[2]),
            server_app: Sealer::tls13(&SECRETS[3]),
        }
    }

    fn give_keys(&self, tls: &mut TlsContext) {
        for (label, secret) in LABELS.iter().zip(SECRETS) {
            tls.keys.insert(craft::keylog_line(label, &secret), 1);
        }
    }
}
