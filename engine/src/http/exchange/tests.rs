//! Pairing tests: both directions of one connection, driven the way the
//! shard drives them, with the finished transactions checked.

use super::*;

/// One connection and the shard context it reports to.
struct Conn {
    http: HttpConn,
    stats: ShardStats,
    filters: Filters,
    done: Vec<Transaction>,
    max_body: usize,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            http: HttpConn::new(1024),
            stats: ShardStats::default(),
            filters: Filters::none(),
            done: Vec::new(),
            max_body: 1 << 20,
        }
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut HttpConn, &mut HttpCtx<'_>) -> R) -> R {
        let mut ctx = HttpCtx {
            stats: &self.stats,
            filters: &self.filters,
            max_body: self.max_body,
            body_reserve: 4096,
            done: &mut self.done,
            tls: crate::tls::TlsContext::none(),
        };
        f(&mut self.http, &mut ctx)
    }

    fn req(&mut self, b: &[u8]) -> &mut Self {
        self.with(|h, c| h.data(Role::Request, b, 1, c));
        self
    }
    fn resp(&mut self, b: &[u8]) -> &mut Self {
        self.with(|h, c| h.data(Role::Response, b, 2, c));
        self
    }
    fn gap(&mut self, role: Role, n: u64) -> &mut Self {
        self.with(|h, c| h.gap(role, n, 3, c));
        self
    }
    fn close(&mut self) -> &mut Self {
        self.with(|h, c| h.close(4, c));
        self
    }

    /// "METHOD target -> status" per finished transaction, with flags.
    fn summary(&self) -> Vec<String> {
        self.done
            .iter()
            .map(|t| {
                let rq = t
                    .request
                    .as_ref()
                    .map(|m| format!("{} {}", m.head.method(), m.head.target()))
                    .unwrap_or_else(|| "-".into());
                let rs = t
                    .response
                    .as_ref()
                    .map(|m| m.head.status().to_string())
                    .unwrap_or_else(|| "-".into());
                let flags: Vec<&str> = t.flags.names().collect();
                if flags.is_empty() {
                    format!("{rq} -> {rs}")
                } else {
                    format!("{rq} -> {rs} [{}]", flags.join(","))
                }
            })
            .collect()
    }
}

fn resp_body(t: &Transaction) -> (&[u8], u64) {
    let m = t.response.as_ref().unwrap();
    (&m.body, m.body_size)
}

/// An HTTP/1 chunked body's trailer section reaches the record as
/// trailers; one whose fields do not parse is counted, not recorded.
#[test]
fn chunked_trailers_are_kept() {
    let mut c = Conn::new();
    c.req(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Checksum: abc\r\n\r\n");
    c.req(b"GET /b HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbc\r\n0\r\nGrpc-Status: 0\r\nSet-Cookie: a=1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n");
    c.close();
    assert_eq!(c.summary(), vec!["POST /a -> 200", "GET /b -> 200"]);
    let fields = |m: &crate::http::Message| -> Vec<(String, String)> {
        m.trailers
            .as_ref()
            .map(|t| {
                t.headers()
                    .map(|(n, v)| {
                        (
                            String::from_utf8_lossy(n).into_owned(),
                            String::from_utf8_lossy(v).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (rq, rs) = (
        c.done[0].request.as_ref().unwrap(),
        c.done[0].response.as_ref().unwrap(),
    );
    assert_eq!(fields(rq), [("X-Checksum".into(), "abc".into())]);
    assert_eq!(
        fields(rs),
        [
            ("Grpc-Status".into(), "0".into()),
            ("Set-Cookie".into(), "a=1".into())
        ]
    );
    assert!(rq.complete && rs.complete);
    assert!(c.done[1].response.as_ref().unwrap().trailers.is_none());
    assert_eq!(c.stats.get(Counter::HttpTrailersInvalid), 1);
}

/// A header line left out as invalid is flagged, whichever side it is
/// on; the framing comes from the fields that parsed.
#[test]
fn invalid_header_lines_are_flagged() {
    let mut c = Conn::new();
    c.req(b"POST /a HTTP/1.1\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc");
    c.req(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 0\r\n\r\n");
    c.close();
    assert_eq!(
        c.summary(),
        vec![
            "POST /a -> 200 [header_invalid]",
            "GET /b -> 200 [header_invalid]"
        ]
    );
    assert_eq!(c.stats.get(Counter::HttpHeaderLinesInvalid), 2);
}

/// A request line read leniently (a version other than HTTP/1.0 or 1.1,
/// no target) is flagged; one with no version is HTTP/0.9's and is not.
#[test]
fn lenient_request_lines_are_flagged() {
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/2.0\r\nHost: h\r\n\r\n");
    c.req(b"OPTIONS HTTP/1.1\r\nHost: h\r\n\r\n");
    c.req(b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    for _ in 0..3 {
        c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
    c.close();
    assert_eq!(
        c.summary(),
        vec![
            "GET /a -> 200 [request_line_invalid]",
            "OPTIONS  -> 200 [request_line_invalid]",
            "GET /c -> 200"
        ]
    );
    assert_eq!(c.stats.get(Counter::HttpRequestLinesInvalid), 2);
    assert_eq!(
        c.done[0].request.as_ref().unwrap().head.version,
        Version::Http11
    );
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut c = Conn::new();
    c.req(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nHEAD /3 HTTP/1.1\r\n\r\n");
    assert!(c.done.is_empty());
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
    c.resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbc\r\n0\r\n\r\n");
    // The answer to HEAD announces a length but carries no body.
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
    c.resp(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    c.close();
    assert_eq!(
        c.summary(),
        vec![
            "GET /1 -> 200",
            "GET /2 -> 200",
            "HEAD /3 -> 200",
            "- -> 404 [no_request]"
        ]
    );
    assert_eq!(resp_body(&c.done[1]), (&b"bc"[..], 2));
    assert_eq!(c.stats.get(Counter::HttpOrphanResponses), 1);
}

#[test]
fn expect_100_continue() {
    let mut c = Conn::new();
    c.req(b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    c.resp(b"HTTP/1.1 100 Continue\r\n\r\n");
    c.req(b"data");
    c.resp(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(c.summary(), vec!["POST /up -> 201"]);
    assert_eq!(c.done[0].request.as_ref().unwrap().body, b"data");
    assert_eq!(c.stats.get(Counter::HttpInterim), 1);
}

#[test]
fn upgrade_ends_http_on_the_connection() {
    let mut c = Conn::new();
    c.req(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    c.resp(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello");
    // WebSocket frames that happen to look like HTTP are not parsed.
    c.req(b"\x81\x85GET / HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\n\r\n");
    c.close();
    assert_eq!(c.summary(), vec!["GET /ws -> 101 [upgrade]"]);
    assert!(c.http.is_tunnel());
}

#[test]
fn connect_tunnel() {
    let mut c = Conn::new();
    c.req(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    c.resp(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01\x00\x05hello");
    c.req(b"\x16\x03\x01 client hello");
    c.close();
    assert_eq!(
        c.summary(),
        vec!["CONNECT example.com:443 -> 200 [upgrade]"]
    );
}

#[test]
fn no_response_is_emitted_on_expiry_and_close() {
    let mut c = Conn::new();
    c.req(b"GET /slow HTTP/1.1\r\n\r\n");
    c.with(|h, ctx| h.expire_pending(5, 10, ctx));
    assert!(c.done.is_empty(), "not old enough");
    c.with(|h, ctx| h.expire_pending(100, 10, ctx));
    assert_eq!(c.summary(), vec!["GET /slow -> - [no_response]"]);
    c.req(b"GET /never HTTP/1.1\r\n\r\n").close();
    assert_eq!(c.summary()[1], "GET /never -> - [no_response]");
}

#[test]
fn midstream_pickup_pairs_from_the_next_boundary() {
    let mut c = Conn::new();
    c.http.start_midstream();
    c.req(b"ody of an earlier request\r\nGET /a HTTP/1.1\r\n\r\n");
    c.resp(b"nd of an earlier response</html>HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(c.summary(), vec!["GET /a -> 200 [mid_stream]"]);
}

#[test]
fn gap_in_content_length_body_keeps_the_connection() {
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123");
    c.gap(Role::Response, 4);
    c.resp(b"89HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz");
    assert_eq!(c.summary(), vec!["GET /a -> 200 [gap]", "GET /b -> 200"]);
    assert_eq!(resp_body(&c.done[0]), (&b"012389"[..], 10));
}

#[test]
fn gap_in_chunked_body_resyncs_at_next_response() {
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123");
    c.gap(Role::Response, 100);
    c.resp(b"tail\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz");
    assert_eq!(
        c.summary(),
        vec!["GET /a -> 200 [gap,response_incomplete]", "GET /b -> 200"]
    );
}

#[test]
fn oversized_request_head_keeps_the_next_transaction() {
    let mut c = Conn::new();
    let big = format!("GET /big HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "p".repeat(4000));
    c.req(big.as_bytes());
    c.req(b"GET /next HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        c.summary(),
        vec!["- -> 431 [no_request,request_unparsed]", "GET /next -> 200"]
    );
    assert_eq!(c.stats.get(Counter::HttpHeaderTooLarge), 1);
}

#[test]
fn oversized_response_head_is_flagged_and_pairing_continues() {
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    let big = format!(
        "HTTP/1.1 200 OK\r\nX-Pad: {}\r\nContent-Length: 0\r\n\r\n",
        "p".repeat(4000)
    );
    c.resp(big.as_bytes());
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        c.summary(),
        vec![
            "GET /a -> - [no_response,response_unparsed]",
            "GET /b -> 200"
        ]
    );
}

#[test]
fn response_without_request() {
    let mut c = Conn::new();
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(c.summary(), vec!["- -> 200 [no_request]"]);
}

#[test]
fn early_response_while_request_body_is_still_arriving() {
    let mut c = Conn::new();
    c.req(b"PUT /big HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");
    c.resp(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n");
    c.req(b"56789GET /n HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let s = c.summary();
    assert_eq!(s[0], "PUT /big -> 413 [request_incomplete]");
    assert_eq!(s[1], "GET /n -> 200");
}

#[test]
fn body_is_capped_but_size_is_counted() {
    let mut c = Conn::new();
    c.max_body = 4;
    c.req(b"GET / HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
    let m = c.done[0].response.as_ref().unwrap();
    assert_eq!(
        (&m.body[..], m.body_size, m.body_truncated),
        (&b"0123"[..], 10, true)
    );
}

#[test]
fn pending_requests_are_bounded() {
    let mut c = Conn::new();
    for _ in 0..MAX_PENDING + 10 {
        c.req(b"GET / HTTP/1.1\r\n\r\n");
    }
    assert!(c.http.pending_len() <= MAX_PENDING);
    assert_eq!(c.stats.get(Counter::PendingDropped), 10);
}

/// Every record of `c`, serialized and checked against the schema.
fn check_records(c: &Conn) {
    for v in records(c) {
        assert!(v["flags"].is_array());
    }
}

/// The finished transactions as records (JSON values).
fn records(c: &Conn) -> Vec<serde_json::Value> {
    let ctx = crate::record::RecordCtx::default();
    let ep = crate::flow::Endpoint {
        ip: "192.0.2.1".parse().unwrap(),
        port: 1,
    };
    let info = crate::record::ConnInfo {
        id: 1,
        client: ep,
        server: ep,
        tls: None,
        encap: None,
    };
    c.done
        .iter()
        .map(|t| {
            let mut line = Vec::new();
            crate::record::RecordView {
                ctx: &ctx,
                conn: &info,
                txn: t,
            }
            .write_line(&mut line);
            let line = String::from_utf8(line).expect("records are UTF-8");
            crate::record::record_check::parse(line.trim_end())
        })
        .collect()
}

#[test]
fn records_serialize_as_json() {
    // Every flag combination, including none, must be valid JSON.
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\n\r\n\xff\xfe");
    c.close();
    check_records(&c);
}

/// Each anomaly is counted under its reason and marks the record it touched.
#[test]
fn anomalies_are_counted_by_reason_and_flag_their_records() {
    let mut c = Conn::new();
    // Contradictory lengths (a smuggling shape): framed as no body.
    c.req(b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    // A broken chunk size ends the response there.
    c.req(b"GET /b HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    c.close();
    let mut d = Conn::new();
    // A request head that does not parse: its response stands alone.
    d.req(b"GET /c HTTP/1.1\r\nHost: a\x00\r\n\r\n");
    d.resp(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    d.close();
    assert_eq!(
        c.summary(),
        vec![
            "POST /a -> 200 [framing_invalid]",
            "GET /b -> 200 [response_incomplete,chunked_invalid]",
        ]
    );
    assert_eq!(d.summary(), vec!["- -> 400 [no_request,request_unparsed]"]);
    assert_eq!(c.stats.get(Counter::HttpBadFraming), 1);
    assert_eq!(c.stats.get(Counter::HttpBadChunk), 1);
    assert_eq!(c.stats.get(Counter::HttpParseErrors), 2);
    assert_eq!(d.stats.get(Counter::HttpBadHead), 1);
    assert_eq!(d.stats.get(Counter::HttpParseErrors), 1);
}

/// `n` pipelined requests, then their `n` responses, each response naming
/// its request's target in `X-For`: every record must pair a response with
/// its own request, or hold one message alone, flagged.
fn overflow_pipeline(n: usize) -> Conn {
    let mut c = Conn::new();
    for i in 0..n {
        c.req(format!("GET /p{i} HTTP/1.1\r\n\r\n").as_bytes());
    }
    for i in 0..n {
        c.resp(format!("HTTP/1.1 200 OK\r\nX-For: /p{i}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    }
    c.close();
    let dropped = n.saturating_sub(MAX_PENDING);
    let (mut paired, mut alone_req, mut alone_resp) = (0, 0, 0);
    for t in &c.done {
        let lost = t.flags.has(Flags::PAIRING_LOST);
        match (&t.request, &t.response) {
            (Some(rq), Some(rs)) => {
                assert_eq!(
                    rs.head.header("x-for"),
                    Some(rq.head.target().as_bytes()),
                    "response paired with another request"
                );
                assert!(!lost);
                paired += 1;
            }
            (Some(_), None) => {
                assert!(lost && t.flags.has(Flags::NO_RESPONSE), "{:?}", t.flags);
                alone_req += 1;
            }
            (None, Some(_)) => {
                assert!(lost && t.flags.has(Flags::NO_REQUEST), "{:?}", t.flags);
                alone_resp += 1;
            }
            (None, None) => panic!("empty record"),
        }
    }
    assert_eq!(
        (paired, alone_req, alone_resp),
        (n - dropped, dropped, dropped)
    );
    assert_eq!(c.stats.get(Counter::PendingDropped), dropped as u64);
    assert_eq!(c.stats.get(Counter::HttpUnpairedResponses), dropped as u64);
    assert_eq!(c.stats.get(Counter::HttpOrphanResponses), 0);
    c
}

#[test]
fn pending_overflow_never_mispairs() {
    for n in [MAX_PENDING, MAX_PENDING + 1, 3000] {
        let mut c = overflow_pipeline(n);
        // Pairing goes on normally afterwards.
        c.done.clear();
        c.req(b"GET /after HTTP/1.1\r\n\r\n");
        c.resp(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(c.summary(), vec!["GET /after -> 204"], "n = {n}");
    }
}

#[test]
fn pending_overflow_is_flagged_in_records() {
    let c = overflow_pipeline(MAX_PENDING + 1);
    let s = c.summary();
    assert_eq!(s[0], "GET /p0 -> - [no_response,pairing_lost]");
    assert_eq!(s[1], "- -> 200 [no_request,pairing_lost]");
    assert_eq!(s[2], "GET /p1 -> 200");
    check_records(&c);
}

/// An unusable response owed to a dropped request is used up by it, not
/// by the next waiting request.
#[test]
fn unparsed_response_owed_to_a_dropped_request() {
    let mut c = Conn::new();
    for i in 0..MAX_PENDING + 2 {
        c.req(format!("GET /p{i} HTTP/1.1\r\n\r\n").as_bytes());
    }
    let big = format!(
        "HTTP/1.1 200 OK\r\nX-Pad: {}\r\nContent-Length: 0\r\n\r\n",
        "p".repeat(4000)
    );
    c.resp(big.as_bytes());
    c.resp(b"HTTP/1.1 200 OK\r\nX-For: /p1\r\nContent-Length: 0\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nX-For: /p2\r\nContent-Length: 0\r\n\r\n");
    let s = c.summary();
    assert_eq!(
        s,
        vec![
            "GET /p0 -> - [no_response,pairing_lost]",
            "GET /p1 -> - [no_response,pairing_lost]",
            "- -> 200 [no_request,pairing_lost]",
            "GET /p2 -> 200",
        ]
    );
    let r = c.done[2].response.as_ref().unwrap();
    assert_eq!(r.head.header("x-for"), Some(&b"/p1"[..]));
}

/// README (Content): a head holds at most 256 header fields; one with
/// more is unparsed (counted as a bad head) and its response stands alone.
#[test]
fn more_than_256_headers_leave_the_head_unparsed() {
    let head = |n: usize| {
        let mut h = b"GET /h HTTP/1.1\r\n".to_vec();
        for i in 0..n {
            h.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    };
    // Heads of this size fit MAX_HEADER_BYTES: only the count matters.
    let roomy = || Conn {
        http: HttpConn::new(64 << 10),
        ..Conn::new()
    };
    let mut ok = roomy();
    ok.req(&head(256));
    ok.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ok.close();
    assert_eq!(ok.summary(), vec!["GET /h -> 200"]);
    let mut over = roomy();
    over.req(&head(257));
    over.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    over.close();
    assert_eq!(
        over.summary(),
        vec!["- -> 200 [no_request,request_unparsed]"]
    );
    assert_eq!(over.stats.get(Counter::HttpBadHead), 1);
    assert_eq!(over.stats.get(Counter::HttpHeaderTooLarge), 0);
}

/// A request given up by ASSEMBLER_FLUSH_AGE is still owed its response:
/// when that comes late, behind a pipelined request, it stands alone and
/// the next response goes to the next request.
#[test]
fn expired_request_keeps_its_late_response() {
    let age = 5_000_000_000;
    let expire = |c: &mut Conn, now: u64| c.with(|h, x| h.expire_pending(now, age, x));
    let resp = |i: u32| format!("HTTP/1.1 200 OK\r\nX-For: /p{i}\r\nContent-Length: 0\r\n\r\n");

    // Pipelined: /p0 expires, /p1 is sent, then both responses arrive.
    let mut c = Conn::new();
    c.req(b"GET /p0 HTTP/1.1\r\n\r\n");
    expire(&mut c, 10 * age);
    c.req(b"GET /p1 HTTP/1.1\r\n\r\n");
    c.resp(resp(0).as_bytes()).resp(resp(1).as_bytes());
    assert_eq!(
        c.summary(),
        vec![
            "GET /p0 -> - [no_response]",
            "- -> 200 [no_request,pairing_lost]",
            "GET /p1 -> 200",
        ]
    );
    assert_eq!(
        c.done[1].response.as_ref().unwrap().head.header("x-for"),
        Some(&b"/p0"[..])
    );
    assert_eq!(c.done[2].request.as_ref().unwrap().head.target(), "/p1");
    assert_eq!(c.stats.get(Counter::HttpUnpairedResponses), 1);

    // Not pipelined: the late response stands alone, pairing goes on.
    let mut c = Conn::new();
    c.req(b"GET /p0 HTTP/1.1\r\n\r\n");
    expire(&mut c, 10 * age);
    c.resp(resp(0).as_bytes());
    c.req(b"GET /p1 HTTP/1.1\r\n\r\n").resp(resp(1).as_bytes());
    assert_eq!(
        c.summary(),
        vec![
            "GET /p0 -> - [no_response]",
            "- -> 200 [no_request,pairing_lost]",
            "GET /p1 -> 200",
        ]
    );
    check_records(&c);
}

/// After bytes of the responses were lost, a request that expires may
/// have lost its response in the hole: nothing is owed, so the next
/// response is not held back from the next request.
#[test]
fn expired_request_after_a_response_hole_owes_nothing() {
    let age = 5_000_000_000;
    let mut c = Conn::new();
    c.req(b"GET /p0 HTTP/1.1\r\n\r\n");
    c.gap(Role::Response, 100);
    c.with(|h, x| h.expire_pending(10 * age, age, x));
    c.req(b"GET /p1 HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nX-For: /p1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        c.summary(),
        vec!["GET /p0 -> - [no_response]", "GET /p1 -> 200"]
    );
    assert_eq!(c.stats.get(Counter::HttpUnpairedResponses), 0);
}

// ---- HTTP/0.9 ---------------------------------------------------------

fn versions(t: &Transaction) -> (&'static str, Option<&'static str>) {
    (
        t.request.as_ref().map_or("-", |m| m.head.version()),
        t.response.as_ref().map(|m| m.head.version()),
    )
}

#[test]
fn http09_request_answered_by_raw_bytes_until_close() {
    let mut c = Conn::new();
    c.req(b"GET /path\r\n");
    assert!(c.done.is_empty());
    // Blank lines and text that is no status line: all of it is body.
    c.resp(b"\r\n<html>\r\n");
    c.resp(b"hello</html>\r\n");
    assert!(c.done.is_empty(), "the answer runs until the server closes");
    c.with(|h, x| h.eof(Role::Response, 5, x));
    assert_eq!(c.summary(), vec!["GET /path -> 0 [no_status_line]"]);
    let t = &c.done[0];
    assert_eq!(versions(t), ("HTTP/0.9", Some("HTTP/0.9")));
    assert!(!t.response.as_ref().unwrap().head.has_status_line());
    assert!(t.response.as_ref().unwrap().complete);
    assert_eq!(resp_body(t), (&b"\r\n<html>\r\nhello</html>\r\n"[..], 24));
    assert!(t.request.as_ref().unwrap().head.headers().next().is_none());
    assert_eq!(c.stats.get(Counter::HttpRequests), 1);
    assert_eq!(c.stats.get(Counter::HttpResponses), 1);
    assert_eq!(c.stats.get(Counter::HttpParseErrors), 0);
    let r = &records(&c)[0];
    assert_eq!(r["request"]["version"], "HTTP/0.9");
    assert_eq!(r["request"]["headers"], serde_json::json!({}));
    assert_eq!(r["response"]["status"], serde_json::Value::Null);
    assert_eq!(r["response"]["reason"], serde_json::Value::Null);
    assert_eq!(r["response"]["version"], "HTTP/0.9");
    assert_eq!(r["response"]["headers"], serde_json::json!({}));
    assert_eq!(r["response"]["body"], "\r\n<html>\r\nhello</html>\r\n");
    assert_eq!(r["flags"], serde_json::json!(["no_status_line"]));
}

#[test]
fn http09_request_followed_by_nothing() {
    let mut c = Conn::new();
    c.req(b"POST /only\n");
    c.with(|h, x| h.eof(Role::Request, 5, x));
    c.close();
    assert_eq!(c.summary(), vec!["POST /only -> - [no_response]"]);
    assert_eq!(versions(&c.done[0]).0, "HTTP/0.9");
}

#[test]
fn http09_request_answered_with_a_status_line_is_read_as_http1() {
    let mut c = Conn::new();
    c.req(b"GET /x\r\n");
    c.resp(b"HTTP/1.0 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
    assert_eq!(c.summary(), vec!["GET /x -> 403"]);
    assert_eq!(versions(&c.done[0]), ("HTTP/0.9", Some("HTTP/1.0")));
    assert_eq!(resp_body(&c.done[0]), (&b"no"[..], 2));
}

#[test]
fn request_line_without_version_but_with_headers_is_http09_with_headers() {
    let mut c = Conn::new();
    c.req(b"GET /HTTP/1.1\r\nHost: h\r\n\r\n");
    c.resp(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(c.summary(), vec!["GET /HTTP/1.1 -> 400"]);
    assert_eq!(versions(&c.done[0]), ("HTTP/0.9", Some("HTTP/1.0")));
    assert_eq!(
        c.done[0].request.as_ref().unwrap().head.header("host"),
        Some(&b"h"[..])
    );
}

#[test]
fn http1_request_line_split_across_segments_is_never_http09() {
    // Every cut of a real request line, with the server speaking (a
    // premature error, say) while the line is incomplete.
    let req = b"GET /split HTTP/1.1\r\nHost: h\r\n\r\n";
    for cut in 1..req.len() {
        let mut c = Conn::new();
        c.req(&req[..cut]);
        c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nk");
        c.req(&req[cut..]);
        c.close();
        for t in &c.done {
            if let Some(r) = &t.request {
                assert_eq!(
                    r.head.version(),
                    "HTTP/1.1",
                    "cut at {cut}: {:?}",
                    c.summary()
                );
            }
            assert!(!t.flags.has(Flags::NO_STATUS_LINE), "cut at {cut}");
        }
    }
    // A line still being received when the connection ends is no request.
    let mut c = Conn::new();
    c.req(b"GET /x HTTP/1.1\r\nHost: h\r\n");
    c.close();
    assert!(c.summary().is_empty(), "{:?}", c.summary());
    let mut c = Conn::new();
    c.req(b"GET /x");
    c.close();
    assert!(c.summary().is_empty(), "{:?}", c.summary());
}

#[test]
fn only_a_known_method_and_one_target_make_an_http09_line() {
    for line in [
        &b"T /zeek.html\r\n"[..],
        b"GET \r\n",
        b"GET\r\n",
        b"GET  /two-spaces\r\n",
        b"GET / x\r\n",
        b"Hello world\r\n",
        b"GET HTTP/1.1\r\n",
    ] {
        let mut c = Conn::new();
        c.req(line);
        c.resp(b"some answer\r\n");
        c.close();
        assert!(
            c.done.iter().all(|t| t.request.is_none()),
            "{:?}: {:?}",
            String::from_utf8_lossy(line),
            c.summary()
        );
    }
}

#[test]
fn http09_body_is_bounded_and_marks_gaps() {
    let mut c = Conn {
        max_body: 8,
        ..Conn::new()
    };
    c.req(b"GET /big\r\n");
    c.resp(b"0123456789abcdef");
    c.gap(Role::Response, 100);
    c.resp(b"tail");
    c.close();
    assert_eq!(c.summary(), vec!["GET /big -> 0 [gap,no_status_line]"]);
    let m = c.done[0].response.as_ref().unwrap();
    assert_eq!(m.body, b"01234567");
    assert!(m.body_truncated);
    assert_eq!(m.body_size, 16 + 100 + 4);
}

#[test]
fn http09_request_ends_a_response_begun_before_it() {
    // A server that sent a head with a length before any request: its
    // Content-Length must not swallow the answer to the 0.9 request.
    let mut c = Conn::new();
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
    c.req(b"GET /\r\n");
    c.req(b"\r\n");
    c.resp(b"this is too much.\r\n");
    c.close();
    assert_eq!(
        c.summary(),
        vec![
            "- -> 200 [no_request,response_incomplete]",
            "GET / -> 0 [no_status_line]"
        ]
    );
    assert_eq!(resp_body(&c.done[1]), (&b"this is too much.\r\n"[..], 19));
}

#[test]
fn http09_request_after_a_pipelined_http1_request_keeps_its_response() {
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
    c.req(b"GET /b\r\n\r\n");
    c.resp(b"cdraw");
    c.close();
    assert_eq!(
        c.summary(),
        vec!["GET /a -> 200", "GET /b -> 0 [no_status_line]"]
    );
    assert_eq!(resp_body(&c.done[0]), (&b"abcd"[..], 4));
    assert_eq!(resp_body(&c.done[1]), (&b"raw"[..], 3));
}

#[test]
fn a_line_alone_is_no_http09_request_on_a_connection_picked_up_mid_stream() {
    // Resynchronised into a request body, the parser sits on a line that
    // starts with a method; the server's bytes must not make it a request
    // nor cut the response under way.
    let mut c = Conn::new();
    c.http.start_midstream();
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    c.req(b"body text\nGET /not-a-request\n");
    c.resp(b"56789");
    c.close();
    assert_eq!(c.summary(), vec!["- -> 200 [mid_stream,no_request]"]);
    assert_eq!(resp_body(&c.done[0]), (&b"0123456789"[..], 10));
}

#[test]
fn blank_lines_alone_do_not_start_an_http09_answer() {
    // A piece of blank lines decides nothing: the status line after it
    // is still read as one.
    let mut c = Conn::new();
    c.req(b"GET /x\r\n");
    c.resp(b"\r\n");
    c.resp(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(c.summary(), vec!["GET /x -> 200"]);
}

#[test]
fn a_head_cut_by_the_end_of_the_connection_is_counted() {
    // A request head whose end never came: no record, counted.
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n");
    c.with(|h, x| h.eof(Role::Request, 5, x));
    c.close();
    assert!(c.done.is_empty());
    assert_eq!(c.stats.get(Counter::HttpHeadsCut), 1);

    // A response head cut: its request is emitted without a response.
    let mut c = Conn::new();
    c.req(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Le");
    c.with(|h, x| h.eof(Role::Response, 5, x));
    c.close();
    assert_eq!(c.summary(), vec!["GET /b -> - [no_response]"]);
    assert_eq!(c.stats.get(Counter::HttpHeadsCut), 1);

    // Complete messages, and blank lines between them, count nothing.
    let mut c = Conn::new();
    c.req(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n\r\n");
    c.resp(b"HTTP/1.1 204 No Content\r\n\r\n");
    c.with(|h, x| h.eof(Role::Request, 5, x));
    c.with(|h, x| h.eof(Role::Response, 5, x));
    c.close();
    assert_eq!(c.summary(), vec!["GET /c -> 204"]);
    assert_eq!(c.stats.get(Counter::HttpHeadsCut), 0);
}

// ---- Holes that may hold whole messages ---------------------------------

fn answer(status: u16, for_: &str) -> String {
    format!("HTTP/1.1 {status} OK\r\nX-For: {for_}\r\nContent-Length: 0\r\n\r\n")
}

fn answered(t: &Transaction) -> Option<&[u8]> {
    t.response.as_ref()?.head.header("x-for")
}

/// A client that waits for each answer: /a's answer is lost whole in a
/// hole, so the next response is /b's and must not go to /a.
#[test]
fn a_response_lost_in_a_hole_does_not_shift_the_next_answers() {
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\n");
    c.gap(Role::Response, 200);
    c.req(b"GET /b HTTP/1.1\r\n\r\n")
        .resp(answer(200, "/b").as_bytes());
    c.req(b"GET /c HTTP/1.1\r\n\r\n")
        .resp(answer(201, "/c").as_bytes());
    assert_eq!(
        c.summary(),
        vec![
            "GET /a -> - [gap,no_response]",
            "GET /b -> 200 [pairing_uncertain]",
            "GET /c -> 201",
        ]
    );
    assert_eq!(answered(&c.done[1]), Some(&b"/b"[..]));
    assert_eq!(c.stats.get(Counter::HttpAnswersLostInGap), 1);
    assert_eq!(c.stats.get(Counter::HttpPairingUncertain), 1);
    check_records(&c);
}

/// Pipelined: the hole took the end of /a's answer and all of /b's. The
/// fewest answers it can have taken are assumed lost: /b's (the hole ran
/// past the end of /a's body, so it began the next response). The
/// response after it is then /c's, a guess the record says is one.
#[test]
fn a_response_lost_in_a_pipeline_costs_its_request_only() {
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123");
    c.gap(Role::Response, 6 + answer(200, "/b").len() as u64);
    c.resp(answer(202, "/c").as_bytes());
    assert_eq!(
        c.summary(),
        vec![
            "GET /a -> 200 [gap,response_incomplete]",
            "GET /b -> - [gap,no_response]",
            "GET /c -> 202 [pairing_uncertain]",
        ]
    );
    // /a's body size is what its Content-Length says, not the whole hole.
    assert_eq!(resp_body(&c.done[0]), (&b"0123"[..], 10));
    // The head of /a's answer lost, its body's end skipped while looking
    // for the next head: /a alone goes without its answer (the shape of
    // Zeek's 1000-requests-one-dropped-response capture).
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
    c.gap(Role::Response, 40);
    c.resp(
        format!(
            "tail of /a's body{}{}",
            answer(201, "/b"),
            answer(202, "/c")
        )
        .as_bytes(),
    );
    c.req(b"GET /d HTTP/1.1\r\n\r\n")
        .resp(answer(203, "/d").as_bytes());
    assert_eq!(
        c.summary(),
        vec![
            "GET /a -> - [gap,no_response]",
            "GET /b -> 201 [pairing_uncertain]",
            "GET /c -> 202 [pairing_uncertain]",
            "GET /d -> 203",
        ]
    );
    assert_eq!(answered(&c.done[2]), Some(&b"/c"[..]));
    // A request waiting alone needs no guess: the server answers only
    // requests it has received.
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123");
    c.gap(Role::Response, 100);
    c.resp(answer(200, "/b").as_bytes());
    assert_eq!(
        c.summary(),
        vec!["GET /a -> 200 [gap,response_incomplete]", "GET /b -> 200"]
    );
}

/// A hole that ends exactly where a body ends loses no message: pairing
/// goes on without a guess.
#[test]
fn a_hole_that_ends_with_a_body_keeps_the_framing() {
    let mut c = Conn::new();
    c.req(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123");
    c.gap(Role::Response, 6);
    c.resp(answer(201, "/b").as_bytes())
        .resp(answer(202, "/c").as_bytes());
    assert_eq!(
        c.summary(),
        vec![
            "GET /a -> 200 [gap,response_incomplete]",
            "GET /b -> 201",
            "GET /c -> 202",
        ]
    );
}

/// A request lost whole in a hole: its answer comes first and lands on
/// the next request. That cannot be told from the bytes, so the pairing
/// says it is a guess, until no request waits.
#[test]
fn pairing_after_a_request_hole_is_flagged_as_a_guess() {
    let mut c = Conn::new();
    c.gap(Role::Request, 19);
    c.req(b"GET /b HTTP/1.1\r\n\r\n");
    c.resp(answer(200, "/a").as_bytes())
        .resp(answer(201, "/b").as_bytes());
    c.req(b"GET /c HTTP/1.1\r\n\r\n")
        .resp(answer(202, "/c").as_bytes());
    assert_eq!(
        c.summary(),
        vec![
            "GET /b -> 200 [pairing_uncertain]",
            "- -> 201 [no_request]",
            "GET /c -> 202",
        ]
    );
    // A client that waits for each answer: /a's answer finds no request
    // and stands alone; /b's pairing is then certain again.
    let mut c = Conn::new();
    c.gap(Role::Request, 19);
    c.resp(answer(200, "/a").as_bytes());
    c.req(b"GET /b HTTP/1.1\r\n\r\n")
        .resp(answer(201, "/b").as_bytes());
    assert_eq!(c.summary(), vec!["- -> 200 [no_request]", "GET /b -> 201"]);
}

/// An unusable request head given up by ASSEMBLER_FLUSH_AGE is still owed
/// its response, like a parsed request.
#[test]
fn an_expired_unusable_request_keeps_its_late_response() {
    let age = 5_000_000_000;
    let mut c = Conn::new();
    let big = format!("GET /big HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "p".repeat(4000));
    c.req(big.as_bytes());
    c.with(|h, x| h.expire_pending(10 * age, age, x));
    c.req(b"GET /next HTTP/1.1\r\n\r\n");
    c.resp(answer(431, "/big").as_bytes())
        .resp(answer(200, "/next").as_bytes());
    assert_eq!(
        c.summary(),
        vec!["- -> 431 [no_request,pairing_lost]", "GET /next -> 200"]
    );
    assert_eq!(answered(&c.done[1]), Some(&b"/next"[..]));
}

/// Picked up mid-stream, the first response answers a request the capture
/// never saw: if it was a HEAD, its Content-Length (or chunked coding)
/// declares a body that is not there, and taking the next response's
/// bytes as that body made the next request pair with the response after
/// its own. A status line where such a body should begin ends the
/// response at its head instead.
#[test]
fn a_bodiless_answer_to_an_unseen_request_does_not_swallow_the_next_response() {
    for declared in ["Content-Length: 10", "Transfer-Encoding: chunked"] {
        let mut c = Conn::new();
        c.http.start_midstream();
        c.resp(format!("HTTP/1.1 200 OK\r\n{declared}\r\n\r\n").as_bytes());
        c.req(b"GET /b HTTP/1.1\r\n\r\n");
        c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
        c.req(b"GET /c HTTP/1.1\r\n\r\n");
        c.resp(b"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx");
        c.close();
        assert_eq!(
            c.summary(),
            [
                "- -> 200 [mid_stream,no_request]",
                "GET /b -> 200 [mid_stream]",
                "GET /c -> 404 [mid_stream]"
            ],
            "{declared}"
        );
        let bodies: Vec<&[u8]> = c.done.iter().map(|t| resp_body(t).0).collect();
        assert_eq!(bodies, [&b""[..], b"hi", b"x"]);
        assert_eq!(c.stats.get(Counter::HttpBodiesAbsent), 1);
    }
    // A response whose request was seen keeps its declared body, status
    // line or not.
    let mut c = Conn::new();
    c.req(b"GET /m HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHTTP/1.1 200");
    c.close();
    assert_eq!(c.summary(), ["GET /m -> 200"]);
    assert_eq!(resp_body(&c.done[0]).0, b"HTTP/1.1 200");
    assert_eq!(c.stats.get(Counter::HttpBodiesAbsent), 0);
}

/// The same with a response framed until the close (neither
/// Content-Length nor chunked coding), and with the next response split
/// anywhere, or byte by byte: bytes too few to tell wait for the rest.
#[test]
fn a_bodiless_answer_is_noticed_without_framing_and_across_pieces() {
    let next: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    let one_by_one: Vec<&[u8]> = next.chunks(1).collect();
    for declared in [
        "",
        "Content-Length: 10\r\n",
        "Transfer-Encoding: chunked\r\n",
    ] {
        let mut splits: Vec<Vec<&[u8]>> = (0..=20).map(|k| vec![&next[..k], &next[k..]]).collect();
        splits.push(one_by_one.clone());
        for pieces in splits {
            let mut c = Conn::new();
            c.http.start_midstream();
            c.resp(format!("HTTP/1.1 200 OK\r\n{declared}\r\n").as_bytes());
            c.req(b"GET /b HTTP/1.1\r\n\r\n");
            for piece in &pieces {
                c.resp(piece);
            }
            c.close();
            assert_eq!(
                c.summary(),
                [
                    "- -> 200 [mid_stream,no_request]",
                    "GET /b -> 200 [mid_stream]"
                ],
                "{declared:?} {pieces:?}"
            );
            assert_eq!(resp_body(&c.done[0]).0, b"");
            assert_eq!(resp_body(&c.done[1]).0, b"hi");
            assert_eq!(c.stats.get(Counter::HttpBodiesAbsent), 1);
        }
    }
}

/// Bytes held while they could still begin a status line are the body's
/// when they turn out not to (the next piece differs, a hole, the close).
#[test]
fn bytes_held_for_a_status_line_that_never_came_stay_the_body() {
    // A body of "HTTP/" (Content-Length: 5) in two pieces, then the next
    // response: its bytes are not a status line at the body's start.
    let mut c = Conn::new();
    c.http.start_midstream();
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTT");
    c.resp(b"P/");
    c.req(b"GET /b HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    c.close();
    assert_eq!(
        c.summary(),
        [
            "- -> 200 [mid_stream,no_request]",
            "GET /b -> 200 [mid_stream]"
        ]
    );
    assert_eq!(resp_body(&c.done[0]).0, b"HTTP/");
    assert_eq!(resp_body(&c.done[1]).0, b"hi");
    assert_eq!(c.stats.get(Counter::HttpBodiesAbsent), 0);

    // Until the close: the bytes held end the body there.
    let mut c = Conn::new();
    c.http.start_midstream();
    c.resp(b"HTTP/1.0 200 OK\r\n\r\nHTTP/1");
    c.close();
    assert_eq!(c.summary(), ["- -> 200 [mid_stream,no_request]"]);
    assert_eq!(resp_body(&c.done[0]).0, b"HTTP/1");

    // A hole after them: they are the body's first bytes, the hole the
    // rest of it.
    let mut c = Conn::new();
    c.http.start_midstream();
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP");
    c.gap(Role::Response, 6);
    c.req(b"GET /b HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    c.close();
    assert_eq!(resp_body(&c.done[0]).0, b"HTTP");
    assert_eq!(
        c.summary().last().map(String::as_str),
        Some("GET /b -> 200 [mid_stream]")
    );
    assert_eq!(c.stats.get(Counter::HttpBodiesAbsent), 0);
}
