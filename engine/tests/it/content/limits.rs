//! MAX_HEADER_BYTES, MAX_BODY_BYTES and BUFFER_CAP on one connection's
//! HTTP state, fed directly.

use httpcap::http::filter::Filters;
use httpcap::http::parser::Role;
use httpcap::http::{HttpConn, HttpCtx, Transaction};
use httpcap::stats::{Counter, ShardStats};

struct Conn {
    stats: ShardStats,
    filters: Filters,
    done: Vec<Transaction>,
    http: HttpConn,
    max_body: usize,
    reserve: usize,
}

impl Conn {
    fn new(max_head: usize, max_body: usize, reserve: usize) -> Conn {
        Conn {
            stats: ShardStats::default(),
            filters: Filters::none(),
            done: Vec::new(),
            http: HttpConn::new(max_head),
            max_body,
            reserve,
        }
    }

    /// Feeds `data` in pieces of `piece` bytes.
    fn feed(&mut self, role: Role, data: &[u8], piece: usize) {
        for chunk in data.chunks(piece.max(1)) {
            let mut ctx = HttpCtx {
                stats: &self.stats,
                filters: &self.filters,
                max_body: self.max_body,
                body_reserve: self.reserve,
                done: &mut self.done,
                tls: httpcap::tls::TlsContext::none(),
            };
            self.http.data(role, chunk, 1, &mut ctx);
        }
    }

    fn targets(&self) -> Vec<String> {
        self.done
            .iter()
            .filter_map(|t| t.request.as_ref())
            .map(|m| m.head.target().to_string())
            .collect()
    }
}

fn big_head(target: &str, size: usize) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "v".repeat(size)
    )
    .into_bytes()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn long_head_is_skipped_and_the_connection_goes_on() {
    for piece in [1 << 20, 700, 1] {
        let mut c = Conn::new(1024, 1 << 20, 4096);
        c.feed(Role::Request, &big_head("/too-big", 4000), piece);
        c.feed(
            Role::Request,
            b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
            piece,
        );
        c.feed(Role::Response, OK, piece);
        c.feed(Role::Response, OK, piece);
        assert_eq!(c.stats.get(Counter::HttpHeaderTooLarge), 1, "piece {piece}");
        assert_eq!(
            c.targets(),
            ["/next"],
            "piece {piece}: {:?} {:?} resync {}",
            c.done
                .iter()
                .map(|t| (t.flags, t.response.is_some()))
                .collect::<Vec<_>>(),
            c.http.pending_len(),
            c.stats.get(Counter::HttpResyncBytes)
        );
        let next = c
            .done
            .iter()
            .find(|t| t.request.is_some())
            .expect("the next request");
        assert_eq!(next.response.as_ref().expect("paired").body, b"ok");
        // The long head costs no more than the cap while it streams in.
        assert!(c.http.buffered_bytes() <= 4096, "piece {piece}");
    }
}

#[test]
fn long_response_head_is_skipped() {
    let mut c = Conn::new(1024, 1 << 20, 4096);
    c.feed(
        Role::Request,
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        64,
    );
    let long = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
        "v".repeat(3000)
    );
    c.feed(Role::Response, long.as_bytes(), 100);
    c.feed(Role::Response, OK, 100);
    assert_eq!(c.stats.get(Counter::HttpHeaderTooLarge), 1);
    let b = c
        .done
        .iter()
        .find(|t| t.request.as_ref().is_some_and(|r| r.head.target() == "/b"))
        .expect("/b emitted");
    assert_eq!(b.response.as_ref().expect("paired").body, b"ok");
}

#[test]
fn body_cap_and_up_front_reservation() {
    let mut c = Conn::new(64 * 1024, 4096, 1024);
    c.feed(
        Role::Request,
        b"POST /up HTTP/1.1\r\nContent-Length: 3000000\r\n\r\n",
        1 << 20,
    );
    // BUFFER_CAP bounds what a large Content-Length reserves before data.
    assert!(
        c.http.buffered_bytes() < 4096,
        "{}",
        c.http.buffered_bytes()
    );
    let body = vec![b'x'; 3_000_000];
    c.feed(Role::Request, &body, 65536);
    // MAX_BODY_BYTES bounds what is kept.
    assert!(
        c.http.buffered_bytes() < 16 * 1024,
        "{}",
        c.http.buffered_bytes()
    );
    c.feed(Role::Response, OK, 1 << 20);
    let t = &c.done[0];
    let r = t.request.as_ref().expect("request");
    assert_eq!(r.body.len(), 4096);
    assert_eq!(r.body_size, 3_000_000);
    assert!(r.body_truncated);
    assert_eq!(c.stats.get(Counter::HttpBodyTruncated), 1);
}
