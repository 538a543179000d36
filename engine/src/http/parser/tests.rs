//! Parser tests: one direction at a time, with a sink that records events.
//! Framing decisions that depend on the peer (HEAD, CONNECT) are tested
//! through `response_framing`; pairing is tested in `exchange`.

use proptest::prelude::*;

use super::*;

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Head(String),
    Body(Vec<u8>),
    BodyGap(u64),
    Complete(Ending),
    Skipped,
}

/// Records events; frames requests by their own headers and responses as
/// answers to GET.
struct Rec {
    role: Role,
    ev: Vec<Ev>,
}

impl Rec {
    fn new(role: Role) -> Rec {
        Rec {
            role,
            ev: Vec::new(),
        }
    }

    /// Events with adjacent body pieces merged.
    fn merged(&self) -> Vec<Ev> {
        let mut out: Vec<Ev> = Vec::new();
        for e in &self.ev {
            match (out.last_mut(), e) {
                (Some(Ev::Body(acc)), Ev::Body(b)) => acc.extend_from_slice(b),
                (_, Ev::Body(b)) => out.push(Ev::Body(b.clone())),
                (_, Ev::Head(h)) => out.push(Ev::Head(h.clone())),
                (_, Ev::BodyGap(n)) => out.push(Ev::BodyGap(*n)),
                (_, Ev::Complete(c)) => out.push(Ev::Complete(*c)),
                (_, Ev::Skipped) => out.push(Ev::Skipped),
            }
        }
        out
    }
}

impl MessageSink for Rec {
    fn on_head(&mut self, head: Head, _ts_ns: u64) -> Framing {
        let label = match self.role {
            Role::Request => format!("{} {}", head.method(), head.target()),
            Role::Response => head.status().to_string(),
        };
        self.ev.push(Ev::Head(label));
        match self.role {
            Role::Request => {
                request_framing(&head).unwrap_or_else(|e| e.fallback.unwrap_or(Framing::None))
            }
            Role::Response => response_framing(&head, Some("GET"))
                .unwrap_or_else(|e| e.fallback.unwrap_or(Framing::UntilClose)),
        }
    }
    fn on_body(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.ev.push(Ev::Body(data.to_vec()));
        }
    }
    fn on_body_gap(&mut self, len: u64) {
        self.ev.push(Ev::BodyGap(len));
    }
    fn on_complete(&mut self, ending: Ending, _ts_ns: u64) {
        self.ev.push(Ev::Complete(ending));
    }
    fn on_skipped(&mut self, _ts_ns: u64) {
        self.ev.push(Ev::Skipped);
    }
}

fn parse(role: Role, pieces: &[&[u8]], max_head: usize) -> (Vec<Ev>, ShardStats) {
    let stats = ShardStats::default();
    let mut p = MessageParser::new(role, max_head);
    let mut rec = Rec::new(role);
    for piece in pieces {
        p.feed(piece, 0, &stats, &mut rec);
    }
    p.eof(0, &stats, &mut rec);
    (rec.merged(), stats)
}

fn head(s: &str) -> Ev {
    Ev::Head(s.into())
}

fn body(b: &[u8]) -> Ev {
    Ev::Body(b.to_vec())
}

const DONE: Ev = Ev::Complete(Ending::Complete);
const CUT: Ev = Ev::Complete(Ending::Incomplete);

#[test]
fn content_length_and_pipelining() {
    let wire = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
    let (ev, _) = parse(Role::Request, &[wire], 65536);
    assert_eq!(
        ev,
        vec![
            head("POST /a"),
            body(b"abc"),
            DONE,
            head("GET /b"),
            DONE,
            head("GET /c"),
            DONE
        ]
    );
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    let expect = vec![head("200"), body(b"abcde"), DONE, head("204"), DONE];
    assert_eq!(parse(Role::Response, &[wire], 65536).0, expect);
    // The same, one byte at a time.
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(parse(Role::Response, &bytes, 65536).0, expect);
}

#[test]
fn bodiless_statuses() {
    let wire = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (ev, _) = parse(Role::Response, &[wire], 65536);
    assert_eq!(
        ev,
        vec![
            head("304"),
            DONE,
            head("204"),
            DONE,
            head("200"),
            body(b"ok"),
            DONE
        ]
    );
}

#[test]
fn framing_rules() {
    let h = |raw: &[u8]| Head::parse(raw, false).unwrap();
    let ok_len = h(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(response_framing(&ok_len, Some("HEAD")), Ok(Framing::None));
    assert_eq!(
        response_framing(&ok_len, Some("GET")),
        Ok(Framing::Length(5))
    );
    assert_eq!(response_framing(&ok_len, None), Ok(Framing::Length(5)));
    let ok = h(b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(response_framing(&ok, Some("CONNECT")), Ok(Framing::Tunnel));
    assert_eq!(response_framing(&ok, Some("GET")), Ok(Framing::UntilClose));
    let up = h(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(response_framing(&up, Some("GET")), Ok(Framing::Tunnel));
    let cont = h(b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(response_framing(&cont, Some("POST")), Ok(Framing::None));
    // Chunked beats Content-Length, but the two together are a smuggling
    // sign; disagreeing lengths are an error.
    let r = |raw: &[u8]| Head::parse(raw, true).unwrap();
    let both = r(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunked_anyway = BadFraming {
        fallback: Some(Framing::Chunked),
    };
    assert_eq!(request_framing(&both), Err(chunked_anyway));
    let both = h(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
    assert_eq!(response_framing(&both, Some("GET")), Err(chunked_anyway));
    // Content-Length is digits only.
    for bad in ["+5", "-1", "0x10", "5 5", ""] {
        let head = format!("POST / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
        assert_eq!(
            request_framing(&r(head.as_bytes())),
            Err(BAD_FRAMING),
            "{bad:?}"
        );
    }
    // A last coding other than chunked: no length for a request, until
    // close for a response.
    let gzip = r(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert_eq!(request_framing(&gzip), Err(BAD_FRAMING));
    let gzip = h(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert_eq!(
        response_framing(&gzip, Some("GET")),
        Ok(Framing::UntilClose)
    );
    let twice = r(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
    assert_eq!(request_framing(&twice), Err(BAD_FRAMING));
    let merged = r(b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n");
    assert_eq!(request_framing(&merged), Ok(Framing::Length(3)));
    let huge = r(b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n");
    assert_eq!(request_framing(&huge), Err(BAD_FRAMING));
    let gzip_chunked = r(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(request_framing(&gzip_chunked), Ok(Framing::Chunked));
    let preface = r(b"PRI * HTTP/2.0\r\n\r\n");
    assert_eq!(request_framing(&preface), Ok(Framing::Tunnel));
}

#[test]
fn header_too_large_is_skipped_then_parsing_resumes() {
    let big = format!(
        "GET /big HTTP/1.1\r\nX-Pad: {}\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
        "a".repeat(5000)
    );
    for piece in [big.len(), 100, 7] {
        let pieces: Vec<&[u8]> = big.as_bytes().chunks(piece).collect();
        let (ev, stats) = parse(Role::Request, &pieces, 1024);
        assert_eq!(
            ev,
            vec![Ev::Skipped, head("GET /next"), DONE],
            "pieces of {piece}"
        );
        assert_eq!(stats.get(Counter::HttpHeaderTooLarge), 1);
    }
}

#[test]
fn garbage_then_resync() {
    let wire = b"\x16\x03\x01 binary junk\r\nmore junk\nGET /ok HTTP/1.1\r\n\r\n";
    let (ev, stats) = parse(Role::Request, &[wire], 65536);
    assert_eq!(ev, vec![head("GET /ok"), DONE]);
    assert!(stats.get(Counter::HttpResyncBytes) > 0);
}

#[test]
fn midstream_resync_finds_next_response() {
    let stats = ShardStats::default();
    let mut p = MessageParser::new(Role::Response, 65536);
    let mut rec = Rec::new(Role::Response);
    p.resync();
    p.feed(
        b"tail of an earlier body\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        0,
        &stats,
        &mut rec,
    );
    assert_eq!(rec.merged(), vec![head("200"), body(b"x"), DONE]);
}

#[test]
fn gap_inside_content_length_body_keeps_framing() {
    let stats = ShardStats::default();
    let mut p = MessageParser::new(Role::Response, 65536);
    let mut rec = Rec::new(Role::Response);
    p.feed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
        0,
        &stats,
        &mut rec,
    );
    p.gap(5, 0, &stats, &mut rec);
    p.feed(b"cdeHTTP/1.1 204 No Content\r\n\r\n", 0, &stats, &mut rec);
    assert_eq!(
        rec.merged(),
        vec![
            head("200"),
            body(b"ab"),
            Ev::BodyGap(5),
            body(b"cde"),
            DONE,
            head("204"),
            DONE
        ]
    );
}

#[test]
fn gap_inside_chunked_body_ends_message_and_resyncs() {
    let stats = ShardStats::default();
    let mut p = MessageParser::new(Role::Response, 65536);
    let mut rec = Rec::new(Role::Response);
    p.feed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        0,
        &stats,
        &mut rec,
    );
    p.gap(40, 0, &stats, &mut rec);
    p.feed(
        b"rest\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        0,
        &stats,
        &mut rec,
    );
    assert_eq!(
        rec.merged(),
        vec![
            head("200"),
            body(b"ab"),
            Ev::BodyGap(40),
            CUT,
            head("200"),
            DONE
        ]
    );
}

#[test]
fn gap_inside_head_skips_the_message() {
    let stats = ShardStats::default();
    let mut p = MessageParser::new(Role::Request, 65536);
    let mut rec = Rec::new(Role::Request);
    p.feed(b"GET /cut HTTP/1.1\r\nHo", 0, &stats, &mut rec);
    p.gap(10, 0, &stats, &mut rec);
    p.feed(
        b"er: x\r\n\r\nGET /after HTTP/1.1\r\n\r\n",
        0,
        &stats,
        &mut rec,
    );
    assert_eq!(rec.merged(), vec![Ev::Skipped, head("GET /after"), DONE]);
}

#[test]
fn body_until_close() {
    let (ev, _) = parse(
        Role::Response,
        &[b"HTTP/1.0 200 OK\r\n\r\nall of ", b"this"],
        65536,
    );
    assert_eq!(ev, vec![head("200"), body(b"all of this"), DONE]);
}

#[test]
fn connection_cut_mid_body_is_incomplete() {
    let (ev, _) = parse(
        Role::Request,
        &[b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort"],
        65536,
    );
    assert_eq!(ev, vec![head("POST /"), body(b"short"), CUT]);
}

#[test]
fn bad_chunk_size_resyncs() {
    let (ev, stats) = parse(
        Role::Response,
        &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 204 No\r\n\r\n"],
        65536,
    );
    assert_eq!(ev, vec![head("200"), CUT, head("204"), DONE]);
    assert!(stats.get(Counter::HttpParseErrors) >= 1);
}

#[test]
fn lenient_request_lines() {
    let (ev, _) = parse(
        Role::Request,
        &[b"GET / HTTP/1.\r\nHost: a\r\n\r\nOPTIONS HTTP/1.1\r\nHost: a\r\n\r\n"],
        65536,
    );
    assert_eq!(ev, vec![head("GET /"), DONE, head("OPTIONS "), DONE]);
}

fn message_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<Ev>)> {
    let one = (
        proptest::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
        "[a-z0-9/]{1,12}",
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
    )
        .prop_map(|(m, path, body, chunked)| {
            let mut wire = format!("{m} /{path} HTTP/1.1\r\nHost: h\r\n").into_bytes();
            if chunked {
                wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for c in body.chunks(37) {
                    wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    wire.extend_from_slice(c);
                    wire.extend_from_slice(b"\r\n");
                }
                wire.extend_from_slice(b"0\r\n\r\n");
            } else {
                wire.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
                wire.extend_from_slice(&body);
            }
            let mut ev = vec![Ev::Head(format!("{m} /{path}"))];
            if !body.is_empty() {
                ev.push(Ev::Body(body));
            }
            ev.push(DONE);
            (wire, ev)
        });
    proptest::collection::vec(one, 1..6).prop_map(|msgs| {
        let mut wire = Vec::new();
        let mut ev = Vec::new();
        for (w, e) in msgs {
            wire.extend(w);
            ev.extend(e);
        }
        (wire, ev)
    })
}

proptest! {
    // Pipelined requests, however the stream is cut, parse the same.
    #[test]
    fn pipelined_any_split((wire, expect) in message_strategy(), cuts in proptest::collection::vec(0usize..5000, 0..12)) {
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort();
        let pieces: Vec<&[u8]> = points.windows(2).map(|w| &wire[w[0]..w[1]]).collect();
        let (ev, stats) = parse(Role::Request, &pieces, 65536);
        prop_assert_eq!(ev, expect);
        prop_assert_eq!(stats.get(Counter::HttpParseErrors), 0);
    }

    // Arbitrary bytes never panic either parser, and buffering stays bounded.
    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..3000), piece in 1usize..500) {
        for role in [Role::Request, Role::Response] {
            let stats = ShardStats::default();
            let mut p = MessageParser::new(role, 512);
            let mut rec = Rec::new(role);
            for c in data.chunks(piece) {
                p.feed(c, 0, &stats, &mut rec);
                prop_assert!(p.buffered_bytes() <= 4 * 512 + 2 * piece);
            }
            p.gap(3, 0, &stats, &mut rec);
            p.feed(&data, 0, &stats, &mut rec);
            p.eof(0, &stats, &mut rec);
        }
    }
}

/// Pieces of HTTP/1 syntax a fuzzer would splice together: message starts,
/// line ends, blank lines and framing headers, plus a few stray bytes.
fn syntax_soup() -> impl Strategy<Value = Vec<u8>> {
    let token = proptest::sample::select(vec![
        &b"GET "[..],
        b"POST /a HTTP/1.1",
        b"HTTP/1.1 200 OK",
        b"HTTP/1",
        b"HTTP/0.1",
        b"HTTP/1.1",
        b"x",
        b" /b",
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b"\n\n",
        b"Content-Length: 3",
        b"Transfer-Encoding: chunked",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"G",
        b"E",
        b"T",
        b"\x00",
        b"&",
    ]);
    proptest::collection::vec(token, 1..60).prop_map(|t| t.concat())
}

proptest! {
    // Spliced syntax, cut anywhere, with holes: no arithmetic fault (this
    // suite runs with overflow checks), buffering bounded. The shape found
    // by fuzzing: a resync carries a message's first bytes, and the head
    // ends inside them (`../shared/repro/parser-head-overflow.pcap`).
    #[test]
    fn spliced_syntax_with_holes_never_faults(
        data in syntax_soup(),
        cuts in proptest::collection::vec(0usize..2000, 0..16),
        holes in proptest::collection::vec(0usize..2000, 0..3),
    ) {
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
        points.extend([0, data.len()]);
        points.sort();
        let holes: Vec<usize> = holes.into_iter().map(|h| h % (data.len() + 1)).collect();
        for role in [Role::Request, Role::Response] {
            let stats = ShardStats::default();
            let mut p = MessageParser::new(role, 64);
            let mut rec = Rec::new(role);
            for w in points.windows(2) {
                if holes.contains(&w[0]) {
                    p.gap(7, 0, &stats, &mut rec);
                }
                p.feed(&data[w[0]..w[1]], 0, &stats, &mut rec);
                prop_assert!(p.buffered_bytes() <= 4 * 64 + 2 * data.len());
            }
            p.eof(0, &stats, &mut rec);
        }
    }
}

/// The fuzzer's shape (`../shared/repro/parser-head-overflow.pcap`): a
/// resync carries the last bytes of a piece, a status line's start among
/// them is taken for a message start, and that head ends inside the
/// carried bytes. The bytes after the head are parsed, not lost.
#[test]
fn head_ending_inside_carried_bytes() {
    let stats = ShardStats::default();
    let mut p = MessageParser::new(Role::Response, 64);
    let mut rec = Rec::new(Role::Response);
    p.resync();
    p.feed(b"GET HTTP/1.1\r\nG\r\r\n\n\n", 0, &stats, &mut rec);
    p.feed(b"HTTP/1.1 204 No Content\r\n\r\n", 0, &stats, &mut rec);
    p.eof(0, &stats, &mut rec);
    assert_eq!(rec.merged().first(), Some(&Ev::Skipped), "{:?}", rec.ev);
    assert!(rec.merged().contains(&head("204")), "{:?}", rec.ev);
}
