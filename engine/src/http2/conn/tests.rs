//! HTTP/2 connections driven through `HttpConn`, the way the shard drives
//! them: detection, frames split anywhere, streams to transactions, and
//! the bad input the issue lists.

use crate::http::filter::Filters;
use crate::http::parser::Role;
use crate::http::{Flags, HttpConn, HttpCtx, Transaction};
use crate::http2::frame::{flags as f, kind, PREFACE};
use crate::stats::{Counter, ShardStats};

struct Conn {
    http: HttpConn,
    stats: ShardStats,
    filters: Filters,
    done: Vec<Transaction>,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            http: HttpConn::new(16 * 1024),
            stats: ShardStats::default(),
            filters: Filters::none(),
            done: Vec::new(),
        }
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut HttpConn, &mut HttpCtx<'_>) -> R) -> R {
        let mut ctx = HttpCtx {
            stats: &self.stats,
            filters: &self.filters,
            max_body: 1 << 20,
            body_reserve: 4096,
            done: &mut self.done,
            tls: crate::tls::TlsContext::none(),
        };
        f(&mut self.http, &mut ctx)
    }

    fn send(&mut self, role: Role, b: &[u8]) -> &mut Self {
        self.with(|h, c| h.data(role, b, 7, c));
        self
    }

    /// Sends `b` cut into pieces of `n` bytes.
    fn send_in(&mut self, role: Role, b: &[u8], n: usize) -> &mut Self {
        for piece in b.chunks(n) {
            self.send(role, piece);
        }
        self
    }

    fn close(&mut self) -> &mut Self {
        self.with(|h, c| h.close(9, c));
        self
    }

    fn count(&self, c: Counter) -> u64 {
        self.stats.get(c)
    }

    /// "stream METHOD target -> status body" per finished transaction.
    fn summary(&self) -> Vec<String> {
        self.done
            .iter()
            .map(|t| {
                let rq = t.request.as_ref().map_or("-".to_owned(), |m| {
                    format!("{} {}", m.head.method(), m.head.target())
                });
                let rs = t.response.as_ref().map_or("-".to_owned(), |m| {
                    format!("{} {}", m.head.status(), String::from_utf8_lossy(&m.body))
                });
                let flags: Vec<_> = t.flags.names().collect();
                format!("{} {rq} -> {rs} {flags:?}", t.stream_id.unwrap_or(0))
            })
            .collect()
    }
}

fn frame(k: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, k, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A literal field without indexing, new name (RFC 7541 §6.2.2).
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    out
}

/// A literal field with incremental indexing, new name (§6.2.1).
fn indexed_literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = literal(name, value);
    out[0] = 0x40;
    out
}

/// `:method GET`, `:scheme http`, then `:path` and `:authority` literals.
fn get(path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86];
    b.extend(literal(":path", path));
    b.extend(literal(":authority", "example.test"));
    b
}

fn status(code: &str) -> Vec<u8> {
    match code {
        "200" => vec![0x88],
        "404" => vec![0x8d],
        other => literal(":status", other),
    }
}

fn client_start() -> Vec<u8> {
    let mut b = PREFACE.to_vec();
    b.extend(frame(kind::SETTINGS, 0, 0, &[0, 4, 0, 0, 0x40, 0]));
    b
}

/// The client's start and a GET of `path` on stream 1, whole.
fn client_get(path: &str) -> Vec<u8> {
    let mut client = client_start();
    client.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        1,
        &get(path),
    ));
    client
}

fn server_start() -> Vec<u8> {
    frame(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])
}

#[test]
fn prior_knowledge_exchange_in_any_pieces() {
    let mut client = client_start();
    client.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        1,
        &get("/a?x=1"),
    ));
    let mut server = server_start();
    let mut head = status("200");
    head.extend(literal("content-type", "text/plain"));
    server.extend(frame(kind::HEADERS, f::END_HEADERS, 1, &head));
    // A padded DATA frame, then the last one.
    let mut padded = vec![3];
    padded.extend_from_slice(b"hello ");
    padded.extend_from_slice(&[0, 0, 0]);
    server.extend(frame(kind::DATA, f::PADDED, 1, &padded));
    server.extend(frame(kind::DATA, f::END_STREAM, 1, b"world"));
    for n in [1, 2, 7, 9, 10, 4096] {
        // The preface comes in one write, as clients send it.
        let mut c = Conn::new();
        c.send(Role::Request, &client[..PREFACE.len()])
            .send_in(Role::Request, &client[PREFACE.len()..], n)
            .send_in(Role::Response, &server, n);
        assert_eq!(
            c.summary(),
            ["1 GET /a?x=1 -> 200 hello world []"],
            "pieces of {n}"
        );
        let t = &c.done[0];
        let rq = t.request.as_ref().unwrap();
        assert_eq!(rq.head.version(), "HTTP/2");
        assert_eq!(rq.head.header(":authority"), Some(&b"example.test"[..]));
        assert!(rq.complete && t.response.as_ref().unwrap().complete);
        assert_eq!(c.count(Counter::Http2Connections), 1);
        assert_eq!(c.count(Counter::Http2FrameErrors), 0);
    }
}

#[test]
fn multiplexed_streams_finish_in_their_own_order() {
    let mut c = Conn::new();
    let mut client = client_start();
    client.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        1,
        &get("/one"),
    ));
    client.extend(frame(kind::HEADERS, f::END_HEADERS, 3, &get("/two")));
    client.extend(frame(kind::DATA, f::END_STREAM, 3, b"posted"));
    c.send(Role::Request, &client);
    let mut server = server_start();
    server.extend(frame(kind::HEADERS, f::END_HEADERS, 3, &status("404")));
    server.extend(frame(kind::HEADERS, f::END_HEADERS, 1, &status("200")));
    server.extend(frame(kind::DATA, 0, 1, b"first "));
    server.extend(frame(kind::DATA, f::END_STREAM, 3, b"nope"));
    server.extend(frame(kind::DATA, f::END_STREAM, 1, b"done"));
    c.send(Role::Response, &server);
    assert_eq!(
        c.summary(),
        [
            "3 GET /two -> 404 nope []",
            "1 GET /one -> 200 first done []"
        ]
    );
    assert_eq!(c.done[0].request.as_ref().unwrap().body, b"posted");
    assert_ne!(c.done[0].seq, c.done[1].seq);
}

#[test]
fn reset_and_trailers() {
    let mut c = Conn::new();
    let mut client = client_start();
    client.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        1,
        &get("/r"),
    ));
    client.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        3,
        &get("/t"),
    ));
    c.send(Role::Request, &client);
    let mut server = server_start();
    server.extend(frame(kind::RST_STREAM, 0, 1, &8u32.to_be_bytes()));
    server.extend(frame(kind::HEADERS, f::END_HEADERS, 3, &status("200")));
    server.extend(frame(kind::DATA, 0, 3, b"x"));
    server.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        3,
        &literal("grpc-status", "0"),
    ));
    c.send(Role::Response, &server);
    assert_eq!(
        c.summary(),
        [
            "1 GET /r -> - [\"no_response\", \"reset\"]",
            "3 GET /t -> 200 x []"
        ]
    );
    let trailers = c.done[1]
        .response
        .as_ref()
        .unwrap()
        .trailers
        .as_ref()
        .unwrap();
    assert_eq!(trailers.header("grpc-status"), Some(&b"0"[..]));
}

#[test]
fn continuation_joins_a_header_block() {
    let mut c = Conn::new();
    let block = get("/split");
    let (a, b) = block.split_at(5);
    let mut client = client_start();
    client.extend(frame(kind::HEADERS, f::END_STREAM, 1, a));
    client.extend(frame(kind::CONTINUATION, 0, 1, &b[..2]));
    client.extend(frame(kind::CONTINUATION, f::END_HEADERS, 1, &b[2..]));
    c.send(Role::Request, &client);
    let mut server = server_start();
    server.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        1,
        &status("200"),
    ));
    c.send(Role::Response, &server);
    assert_eq!(c.summary(), ["1 GET /split -> 200  []"]);
}

#[test]
fn h2c_upgrade_keeps_the_101_and_answers_stream_1_in_http2() {
    let mut c = Conn::new();
    c.send(
        Role::Request,
        b"GET /up HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    );
    let mut server =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    server.extend(server_start());
    server.extend(frame(kind::HEADERS, f::END_HEADERS, 1, &status("200")));
    server.extend(frame(kind::DATA, f::END_STREAM, 1, b"upgraded"));
    // The client's preface and a second request follow the 101.
    let mut client = client_start();
    client.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        3,
        &get("/next"),
    ));
    c.send(Role::Response, &server[..90]);
    c.send(Role::Request, &client);
    c.send(Role::Response, &server[90..]);
    let mut more = frame(kind::HEADERS, f::END_HEADERS, 3, &status("200"));
    more.extend(frame(kind::DATA, f::END_STREAM, 3, b"second"));
    c.send(Role::Response, &more);
    assert_eq!(
        c.summary(),
        [
            "1 GET /up -> 200 upgraded []",
            "3 GET /next -> 200 second []"
        ]
    );
    let t = &c.done[0];
    assert_eq!(t.request.as_ref().unwrap().head.version(), "HTTP/1.1");
    let rs = t.response.as_ref().unwrap();
    assert_eq!(
        (rs.head.version(), rs.interim_status),
        ("HTTP/2", Some(101))
    );
    assert_eq!(c.count(Counter::Http2Connections), 1);
}

#[test]
fn mid_stream_pickup_flags_what_hpack_cannot_know() {
    let mut c = Conn::new();
    c.http.start_midstream();
    // The tail of a frame we missed (the first piece), then a request
    // whose :path refers to a dynamic entry we never saw (index 62), then
    // one that inserts.
    c.send(Role::Request, &[0x55; 13]);
    let mut client = Vec::new();
    let mut block = vec![0x82, 0x86, 0xbe];
    block.extend(literal(":authority", "example.test"));
    client.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        41,
        &block,
    ));
    let mut block = vec![0x83, 0x86];
    block.extend(indexed_literal(":path", "/new"));
    client.extend(frame(kind::HEADERS, f::END_HEADERS, 43, &block));
    client.extend(frame(kind::DATA, f::END_STREAM, 43, b"body"));
    c.send(Role::Request, &client);
    let mut server = frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        41,
        &status("404"),
    );
    server.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        43,
        &status("200"),
    ));
    c.send(Role::Response, &server);
    assert_eq!(
        c.summary(),
        [
            "41 GET  -> 404  [\"mid_stream\", \"hpack_incomplete\"]",
            "43 POST /new -> 200  [\"mid_stream\"]"
        ]
    );
    assert_eq!(c.count(Counter::Http2HpackIncomplete), 1);
}

#[test]
fn a_hole_inside_data_keeps_the_frame_boundary() {
    let mut c = Conn::new();
    c.send(Role::Request, &client_get("/big"));
    let mut server = server_start();
    server.extend(frame(kind::HEADERS, f::END_HEADERS, 1, &status("200")));
    let data = frame(kind::DATA, f::END_STREAM, 1, &[b'z'; 100]);
    server.extend_from_slice(&data[..30]);
    c.send(Role::Response, &server);
    c.with(|h, ctx| h.gap(Role::Response, 50, 8, ctx));
    c.send(Role::Response, &data[80..]);
    assert_eq!(c.done.len(), 1);
    let rs = c.done[0].response.as_ref().unwrap();
    assert_eq!((rs.body.len(), rs.body_size, rs.gap), (50, 100, true));
    assert!(c.done[0].flags.has(Flags::GAP));
}

/// A hole took a response's HEADERS (and its DATA): the trailers block
/// that follows has no `:status` and must not pose as the response.
#[test]
fn trailers_after_a_lost_response_head_are_not_the_response() {
    let mut c = Conn::new();
    c.send(Role::Request, &client_get("/x"));
    c.send(Role::Response, &server_start());
    let head = frame(kind::HEADERS, f::END_HEADERS, 1, &status("200"));
    let data = frame(kind::DATA, 0, 1, b"body");
    let lost = (head.len() + data.len()) as u64;
    c.with(|h, ctx| h.gap(Role::Response, lost, 8, ctx));
    c.send(
        Role::Response,
        &frame(
            kind::HEADERS,
            f::END_HEADERS | f::END_STREAM,
            1,
            &literal("grpc-status", "0"),
        ),
    );
    assert_eq!(
        c.summary(),
        ["1 GET /x -> - [\"gap\", \"no_response\", \"response_unparsed\"]"]
    );
}

/// A `:status` that is not three digits makes the response malformed
/// (RFC 9113 §8.3.2): it is not recorded as status 0 but flagged and
/// counted; a trailers block without `:status` is not counted again.
#[test]
fn a_status_that_is_not_three_digits_is_a_malformed_response() {
    for bad in ["20", "2000", "2x0", "+20", ""] {
        let mut c = Conn::new();
        c.send(Role::Request, &client_get("/x"));
        let mut server = server_start();
        server.extend(frame(kind::HEADERS, f::END_HEADERS, 1, &status(bad)));
        server.extend(frame(kind::DATA, 0, 1, b"body"));
        server.extend(frame(
            kind::HEADERS,
            f::END_HEADERS | f::END_STREAM,
            1,
            &literal("grpc-status", "0"),
        ));
        c.send(Role::Response, &server);
        assert_eq!(
            c.summary(),
            ["1 GET /x -> - [\"no_response\", \"response_unparsed\"]"],
            "{bad:?}"
        );
        assert_eq!(c.count(Counter::Http2MalformedHeads), 1, "{bad:?}");
    }
    let mut c = Conn::new();
    c.send(Role::Request, &client_get("/x"));
    let mut server = server_start();
    server.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        1,
        &status("599"),
    ));
    c.send(Role::Response, &server);
    assert_eq!(c.summary(), ["1 GET /x -> 599  []"]);
    assert_eq!(c.count(Counter::Http2MalformedHeads), 0);
}

#[test]
fn bad_input_is_counted_and_other_streams_still_come_out() {
    let mut c = Conn::new();
    let mut client = client_start();
    // CONTINUATION with no block; a HEADERS without END_HEADERS followed
    // by garbage frames; a frame announcing 2^24-1 bytes of headers.
    client.extend(frame(kind::CONTINUATION, f::END_HEADERS, 1, b"junk"));
    client.extend(frame(kind::HEADERS, 0, 1, &get("/lost")));
    client.extend(frame(kind::PING, 0, 0, &[0; 8]));
    client.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        3,
        &get("/ok"),
    ));
    c.send(Role::Request, &client);
    let mut huge = vec![0xff, 0xff, 0xff, kind::HEADERS, f::END_HEADERS, 0, 0, 0, 5];
    huge.extend(vec![0u8; 40_000]);
    c.send(Role::Request, &huge);
    // A table size update of 4 GiB, then a stream id going backwards.
    let mut block = vec![0x3f, 0xe1, 0xff, 0xff, 0xff, 0x0f];
    block.extend(get("/back"));
    c.send(
        Role::Request,
        &frame(kind::HEADERS, f::END_HEADERS | f::END_STREAM, 3, &block),
    );
    let server = [
        server_start(),
        frame(
            kind::HEADERS,
            f::END_HEADERS | f::END_STREAM,
            3,
            &status("200"),
        ),
    ]
    .concat();
    c.send(Role::Response, &server);
    assert!(c.count(Counter::Http2FrameErrors) >= 2);
    assert!(c
        .summary()
        .iter()
        .any(|s| s.starts_with("3 GET /ok -> 200")));
    c.close();
    for t in &c.done {
        assert!(t.stream_id.is_some());
    }
}

#[test]
fn streams_opened_and_never_closed_stay_bounded() {
    let mut c = Conn::new();
    c.send(Role::Request, &client_start());
    let mut stream = 1u32;
    for _ in 0..20 {
        let mut burst = Vec::new();
        for _ in 0..500 {
            burst.extend(frame(kind::HEADERS, f::END_HEADERS, stream, &get("/open")));
            stream += 2;
        }
        c.send(Role::Request, &burst);
        assert!(c.http.pending_len() <= super::MAX_OPEN_STREAMS);
    }
    assert_eq!(
        c.count(Counter::Http2StreamsOverCap),
        10_000 - super::MAX_OPEN_STREAMS as u64
    );
    assert!(c.http.buffered_bytes() < 4 << 20);
    c.close();
    assert_eq!(c.done.len(), 10_000);
}

#[test]
fn open_streams_keep_a_bounded_number_of_body_bytes() {
    let mut c = Conn::new();
    c.send(Role::Request, &client_start());
    c.send(Role::Response, &server_start());
    // 1 MiB bodies (the tests' MAX_BODY_BYTES) on 10 streams never ended.
    for stream in (1..20).step_by(2) {
        c.send(
            Role::Request,
            &frame(kind::HEADERS, f::END_HEADERS, stream, &get("/upload")),
        );
        for _ in 0..64 {
            c.send(
                Role::Request,
                &frame(kind::DATA, 0, stream, &[7; 16 * 1024]),
            );
        }
    }
    assert!(c.http.buffered_bytes() <= (super::MAX_OPEN_BODIES + 1) << 20);
    assert_eq!(
        c.count(Counter::Http2StreamsOverCap),
        10 - super::MAX_OPEN_BODIES as u64
    );
    c.close();
    assert_eq!(c.done.len(), 10);
}

#[test]
fn a_continuation_flood_is_dropped_and_bounded() {
    let mut c = Conn::new();
    c.send(Role::Request, &client_start());
    c.send(Role::Request, &frame(kind::HEADERS, 0, 1, &get("/flood")));
    for _ in 0..10_000 {
        c.send(
            Role::Request,
            &frame(kind::CONTINUATION, 0, 1, &[0x82; 100]),
        );
        assert!(c.http.buffered_bytes() < 64 * 1024);
    }
    c.send(
        Role::Request,
        &frame(kind::CONTINUATION, f::END_HEADERS, 1, &[0x82]),
    );
    c.send(
        Role::Request,
        &frame(
            kind::HEADERS,
            f::END_HEADERS | f::END_STREAM,
            3,
            &get("/after"),
        ),
    );
    c.send(Role::Response, &server_start());
    c.send(
        Role::Response,
        &frame(
            kind::HEADERS,
            f::END_HEADERS | f::END_STREAM,
            3,
            &status("200"),
        ),
    );
    assert!(c.count(Counter::HttpHeaderTooLarge) >= 1);
    assert!(c
        .summary()
        .iter()
        .any(|s| s.starts_with("3 GET /after -> 200")));
}

#[test]
fn http1_is_never_taken_for_http2() {
    let mut c = Conn::new();
    c.send(Role::Request, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .send(
            Role::Response,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
    assert!(!c.http.is_h2());
    assert_eq!(c.done.len(), 1);
    assert_eq!(c.count(Counter::Http2Connections), 0);
}

/// Past MAX_OPEN_STREAMS the oldest stream is emitted without its
/// response; that response, when it comes, stands alone: pairing is by
/// stream id, never by order (issue 15's HTTP/1 mis-pairing cannot occur).
#[test]
fn responses_of_streams_given_up_over_the_cap_never_pair_elsewhere() {
    let mut c = Conn::new();
    let n = super::MAX_OPEN_STREAMS as u32 + 2;
    let mut client = client_start();
    for i in 0..n {
        let path = format!("/p{}", 2 * i + 1);
        client.extend(frame(
            kind::HEADERS,
            f::END_HEADERS | f::END_STREAM,
            2 * i + 1,
            &get(&path),
        ));
    }
    c.send(Role::Request, &client);
    let mut server = server_start();
    for i in 0..n {
        let stream = 2 * i + 1;
        server.extend(frame(kind::HEADERS, f::END_HEADERS, stream, &status("200")));
        let body = format!("/p{stream}");
        server.extend(frame(kind::DATA, f::END_STREAM, stream, body.as_bytes()));
    }
    c.send(Role::Response, &server);
    c.close();
    // Streams 1 and 3, and one more: the response of stream 1 opens a
    // stream of its own while the cap is reached.
    let over = c.count(Counter::Http2StreamsOverCap) as u32;
    assert_eq!(over, 3);
    let (mut paired, mut alone) = (0, 0);
    for t in &c.done {
        match (&t.request, &t.response) {
            (Some(rq), Some(rs)) => {
                assert_eq!(rs.body, rq.head.target().as_bytes());
                paired += 1;
            }
            _ => alone += 1,
        }
    }
    // Each stream given up: its request alone, then its response alone.
    assert_eq!((paired, alone), (n - over, 2 * over));
}

#[test]
fn a_header_block_cut_by_the_end_of_the_connection_is_counted() {
    // HEADERS without END_HEADERS, its CONTINUATION never sent.
    let mut c = Conn::new();
    let block = get("/cut");
    let mut client = client_start();
    client.extend(frame(kind::HEADERS, f::END_STREAM, 1, &block[..5]));
    c.send(Role::Request, &client).close();
    assert!(c.summary().is_empty());
    assert_eq!(c.count(Counter::HttpHeadsCut), 1);

    // A HEADERS frame whose payload stops part way.
    let mut c = Conn::new();
    let mut client = client_start();
    let whole = frame(kind::HEADERS, f::END_HEADERS | f::END_STREAM, 1, &block);
    client.extend_from_slice(&whole[..whole.len() - 3]);
    c.send(Role::Request, &client).close();
    assert!(c.summary().is_empty());
    assert_eq!(c.count(Counter::HttpHeadsCut), 1);

    // A whole exchange counts nothing.
    let mut c = Conn::new();
    let mut client = client_start();
    client.extend(whole);
    c.send(Role::Request, &client);
    let mut server = server_start();
    server.extend(frame(
        kind::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        1,
        &status("204"),
    ));
    c.send(Role::Response, &server).close();
    assert_eq!(c.summary(), ["1 GET /cut -> 204  []"]);
    assert_eq!(c.count(Counter::HttpHeadsCut), 0);
}
