//! TLS connections made up here, sealed with ring under secrets a key log
//! names, and driven through `HttpConn` as the shard drives them.

use crate::http::filter::Filters;
use crate::http::parser::Role;
use crate::http::{HttpConn, HttpCtx, Transaction};
use crate::stats::{Counter, ShardStats};
use crate::tls::craft::{handshake, keylog_line, record, Sealer, CLIENT_RANDOM, SERVER_RANDOM};
use crate::tls::schedule;
use crate::tls::suite;
use crate::tls::TlsContext;

fn client_hello(cipher: u16) -> Vec<u8> {
    crate::tls::craft::client_hello(cipher, "api.test", "http/1.1")
}

fn server_hello(cipher: u16, tls13: bool) -> Vec<u8> {
    crate::tls::craft::server_hello(cipher, tls13, "http/1.1")
}

fn alpn(protocol: &str) -> Vec<u8> {
    crate::tls::craft::alpn(protocol)
}

struct Conn {
    http: HttpConn,
    stats: ShardStats,
    filters: Filters,
    done: Vec<Transaction>,
    tls: TlsContext,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            http: HttpConn::new(16 * 1024),
            stats: ShardStats::default(),
            filters: Filters::none(),
            done: Vec::new(),
            tls: TlsContext::new(100, 5_000_000_000, 1 << 20),
        }
    }

    fn key(&mut self, label: &str, secret: &[u8]) {
        self.tls.keys.insert(keylog_line(label, secret), 1);
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut HttpConn, &mut HttpCtx<'_>) -> R) -> R {
        let mut ctx = HttpCtx {
            stats: &self.stats,
            filters: &self.filters,
            max_body: 1 << 20,
            body_reserve: 4096,
            done: &mut self.done,
            tls: &self.tls,
        };
        f(&mut self.http, &mut ctx)
    }

    fn send(&mut self, role: Role, b: &[u8]) {
        self.with(|h, c| h.data(role, b, 10, c));
    }

    fn sweep(&mut self, now_ns: u64) {
        self.with(|h, c| h.expire_pending(now_ns, u64::MAX, c));
    }

    fn count(&self, c: Counter) -> u64 {
        self.stats.get(c)
    }

    fn summary(&self) -> Vec<String> {
        self.done
            .iter()
            .map(|t| {
                let rq = t.request.as_ref().map_or("-".into(), |m| {
                    format!("{} {}", m.head.method(), m.head.target())
                });
                let rs = t.response.as_ref().map_or("-".into(), |m| {
                    format!("{} {}", m.head.status(), String::from_utf8_lossy(&m.body))
                });
                format!("{rq} -> {rs}")
            })
            .collect()
    }
}

const REQUEST: &[u8] = b"GET /secret?x=1 HTTP/1.1\r\nHost: api.test\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/// A TLS 1.3 conversation: (client bytes, server bytes) in sending order,
/// and the key-log lines that open it.
/// Client records, server records, key-log lines (label, secret).
type Conversation = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<(&'static str, Vec<u8>)>);

fn tls13() -> Conversation {
    let s = suite::lookup(0x1301).unwrap();
    let secrets = [[0x31u8; 32], [0x32; 32], [0x33; 32], [0x34; 32]];
    let keys = |sec: &[u8]| schedule::traffic_keys(&s, sec).unwrap();
    let (mut c_hs, mut s_hs) = (
        Sealer::new(&keys(&secrets[0]), true),
        Sealer::new(&keys(&secrets[1]), true),
    );
    let (mut c_app, mut s_app) = (
        Sealer::new(&keys(&secrets[2]), true),
        Sealer::new(&keys(&secrets[3]), true),
    );
    let mut ee_body = Vec::new();
    let exts = alpn("http/1.1");
    ee_body.extend((exts.len() as u16).to_be_bytes());
    ee_body.extend(exts);
    let mut flight = handshake(8, &ee_body);
    flight.extend(handshake(20, &[0x55; 32]));
    let server = vec![
        server_hello(0x1301, true),
        s_hs.seal(22, &flight),
        s_app.seal(22, &handshake(4, &[0; 12])), // NewSessionTicket
        s_app.seal(23, RESPONSE),
    ];
    let client = vec![
        client_hello(0x1301),
        [record(20, &[1]), c_hs.seal(22, &handshake(20, &[0x66; 32]))].concat(),
        c_app.seal(23, REQUEST),
    ];
    let lines = vec![
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", secrets[0].to_vec()),
        ("SERVER_HANDSHAKE_TRAFFIC_SECRET", secrets[1].to_vec()),
        ("CLIENT_TRAFFIC_SECRET_0", secrets[2].to_vec()),
        ("SERVER_TRAFFIC_SECRET_0", secrets[3].to_vec()),
    ];
    (client, server, lines)
}

/// Plays a conversation in the order a real one happens.
fn play(c: &mut Conn, client: &[Vec<u8>], server: &[Vec<u8>]) {
    c.send(Role::Request, &client[0]);
    c.send(
        Role::Response,
        &[server[0].clone(), server[1].clone()].concat(),
    );
    c.send(Role::Request, &client[1]);
    c.send(Role::Request, &client[2]);
    for s in &server[2..] {
        c.send(Role::Response, s);
    }
}

#[test]
fn tls13_with_keys_is_decrypted_and_described() {
    let (client, server, lines) = tls13();
    let mut c = Conn::new();
    for (label, secret) in &lines {
        c.key(label, secret);
    }
    play(&mut c, &client, &server);
    assert_eq!(c.summary(), ["GET /secret?x=1 -> 200 hello"]);
    let info = c.http.tls_info().unwrap();
    assert_eq!(info.version, Some("TLS 1.3"));
    assert_eq!(info.cipher, Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(info.sni.as_deref(), Some("api.test"));
    assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(c.count(Counter::TlsDecrypting), 1);
    assert_eq!(c.count(Counter::TlsDecryptFailed), 0);
}

#[test]
fn tls13_bytes_in_pieces_of_any_size() {
    let (client, server, lines) = tls13();
    for n in [1, 3, 5, 7, 100] {
        let mut c = Conn::new();
        for (label, secret) in &lines {
            c.key(label, secret);
        }
        let split = |v: &[Vec<u8>]| {
            v.iter()
                .map(|r| r.chunks(n).map(<[u8]>::to_vec).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        let (cp, sp) = (split(&client), split(&server));
        // A ClientHello's first bytes come in one segment (they tell TLS).
        c.send(Role::Request, &client[0][..6]);
        let rest = split(&[client[0][6..].to_vec()]);
        let mut feed = |role, pieces: &[Vec<u8>]| {
            for p in pieces {
                c.send(role, p);
            }
        };
        feed(Role::Request, &rest[0]);
        feed(Role::Response, &sp[0]);
        feed(Role::Response, &sp[1]);
        feed(Role::Request, &cp[1]);
        feed(Role::Request, &cp[2]);
        feed(Role::Response, &sp[2]);
        feed(Role::Response, &sp[3]);
        assert_eq!(
            c.summary(),
            ["GET /secret?x=1 -> 200 hello"],
            "pieces of {n}"
        );
    }
}

#[test]
fn keys_that_arrive_late_still_decrypt() {
    let (client, server, lines) = tls13();
    let mut c = Conn::new();
    play(&mut c, &client, &server);
    assert!(c.done.is_empty());
    for (label, secret) in &lines {
        c.key(label, secret);
    }
    c.sweep(1_000_000_000);
    assert_eq!(c.summary(), ["GET /secret?x=1 -> 200 hello"]);
}

#[test]
fn no_keys_no_records_and_counted() {
    let (client, server, _) = tls13();
    let mut c = Conn::new();
    play(&mut c, &client, &server);
    c.sweep(6_000_000_000);
    assert!(c.done.is_empty());
    assert_eq!(c.count(Counter::TlsNoKey), 1);
    // Later bytes are dropped without effect.
    c.send(Role::Request, &client[2]);
    assert!(c.done.is_empty());
}

#[test]
fn wrong_keys_are_counted_not_parsed() {
    let (client, server, lines) = tls13();
    let mut c = Conn::new();
    for (label, _) in &lines {
        c.key(label, &[0x77; 32]);
    }
    play(&mut c, &client, &server);
    assert!(c.done.is_empty());
    assert_eq!(c.count(Counter::TlsDecryptFailed), 1);
}

#[test]
fn tls12_gcm_from_the_master_secret() {
    let s = suite::lookup(0xc02f).unwrap();
    let master = [0x44u8; 48];
    let (ck, sk) = schedule::tls12_keys(&s, &master, &CLIENT_RANDOM, &SERVER_RANDOM).unwrap();
    let (mut cs, mut ss) = (Sealer::new(&ck, false), Sealer::new(&sk, false));
    let mut c = Conn::new();
    c.key("CLIENT_RANDOM", &master);
    c.send(Role::Request, &client_hello(0xc02f));
    c.send(Role::Response, &server_hello(0xc02f, false));
    let client_finished = [record(20, &[1]), cs.seal(22, &handshake(20, &[0; 12]))].concat();
    c.send(Role::Request, &client_finished);
    let server_finished = [record(20, &[1]), ss.seal(22, &handshake(20, &[0; 12]))].concat();
    c.send(Role::Response, &server_finished);
    c.send(Role::Request, &cs.seal(23, REQUEST));
    // One response in two records.
    let first = ss.seal(23, &RESPONSE[..20]);
    let second = ss.seal(23, &RESPONSE[20..]);
    c.send(Role::Response, &first);
    c.send(Role::Response, &second);
    assert_eq!(c.summary(), ["GET /secret?x=1 -> 200 hello"]);
    let info = c.http.tls_info().unwrap();
    assert_eq!(
        (info.version, info.cipher),
        (
            Some("TLS 1.2"),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        )
    );
    assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
}

#[test]
fn a_hole_inside_a_record_skips_only_that_record() {
    let s = suite::lookup(0xc02f).unwrap();
    let master = [0x44u8; 48];
    let (ck, sk) = schedule::tls12_keys(&s, &master, &CLIENT_RANDOM, &SERVER_RANDOM).unwrap();
    let (mut cs, mut ss) = (Sealer::new(&ck, false), Sealer::new(&sk, false));
    let mut c = Conn::new();
    c.key("CLIENT_RANDOM", &master);
    c.send(Role::Request, &client_hello(0xc02f));
    c.send(Role::Response, &server_hello(0xc02f, false));
    c.send(
        Role::Request,
        &[record(20, &[1]), cs.seal(22, &handshake(20, &[0; 12]))].concat(),
    );
    c.send(
        Role::Response,
        &[record(20, &[1]), ss.seal(22, &handshake(20, &[0; 12]))].concat(),
    );
    let lost = cs.seal(23, b"GET /lost HTTP/1.1\r\nHost: a\r\n\r\n");
    c.send(Role::Request, &lost[..20]);
    c.with(|h, ctx| h.gap(Role::Request, 10, 11, ctx));
    c.send(Role::Request, &lost[30..]);
    c.send(Role::Request, &cs.seal(23, REQUEST));
    c.send(Role::Response, &ss.seal(23, RESPONSE));
    assert!(
        c.summary()
            .contains(&"GET /secret?x=1 -> 200 hello".to_string()),
        "{:?}",
        c.summary()
    );
    assert_eq!(c.count(Counter::TlsRecordGaps), 1);
}

#[test]
fn garbage_and_bad_lengths_never_panic() {
    let mut c = Conn::new();
    c.send(Role::Request, &client_hello(0x1301));
    c.send(Role::Response, &[22, 3, 3, 0xff, 0xff, 2, 0, 0]);
    assert_eq!(c.count(Counter::TlsRecordInvalid), 1);
    let mut c = Conn::new();
    c.send(Role::Request, &client_hello(0x002f)); // a CBC suite
    c.send(Role::Response, &server_hello(0x002f, false));
    assert_eq!(c.count(Counter::TlsUnsupportedCipher), 1);
    // SSLv2-style hello: not TLS, left to HTTP/1 (which skips it).
    let mut c = Conn::new();
    c.send(Role::Request, &[0x80, 0x2e, 0x01, 0x00, 0x02]);
    assert_eq!(c.count(Counter::TlsConnections), 0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Whatever follows a handshake, with or without keys, in any
        // pieces: no panic, bounded buffers.
        #[test]
        fn any_bytes_after_a_handshake_run_clean(
            keyed in any::<bool>(),
            pieces in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)),
                0..20,
            ),
            holes in proptest::collection::vec(0u64..5000, 0..3),
        ) {
            let (client, server, lines) = tls13();
            let mut c = Conn::new();
            if keyed {
                for (label, secret) in &lines {
                    c.key(label, secret);
                }
            }
            play(&mut c, &client, &server);
            for (i, (from_server, bytes)) in pieces.iter().enumerate() {
                let role = if *from_server { Role::Response } else { Role::Request };
                c.send(role, bytes);
                if let Some(len) = holes.get(i) {
                    c.with(|h, ctx| h.gap(role, *len, 12, ctx));
                }
                prop_assert!(c.http.buffered_bytes() < 4 << 20);
            }
            c.sweep(10_000_000_000);
            c.with(|h, ctx| h.close(13, ctx));
        }
    }
}

#[test]
fn an_unreadable_server_hello_gives_the_connection_up() {
    let (client, mut server, lines) = tls13();
    // A ServerHello message too short to hold a version and a random.
    server[0] = record(22, &handshake(2, &[3, 3, 1]));
    let mut c = Conn::new();
    for (label, secret) in &lines {
        c.key(label, secret);
    }
    play(&mut c, &client, &server);
    assert!(c.done.is_empty());
    assert_eq!(c.count(Counter::TlsDecryptFailed), 1);
    assert_eq!(c.count(Counter::TlsRecordGaps), 0);
}
