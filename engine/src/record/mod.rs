//! The transaction record: one JSON object per request/response pair,
//! serialized straight from the parsed messages (no intermediate copy).
//! The schema is documented in README.md and `schema/record.schema.json`.

pub mod json;
pub mod observer;
pub mod real_ip;
mod repeats;

use crate::flow::Endpoint;
use crate::http::{Flags, Message, Transaction, Version};
use json::JsonWriter;
pub use observer::Observer;
use repeats::Repeats;

/// Version of the record's shape (`schema/record.schema.json`): carried in
/// every record as `schema_version` and in every Kafka message's headers.
/// Raised when a field changes meaning or type, not when one is added.
/// 3: `response.status` and `reason` may be null (an HTTP/0.9 answer has no
/// status line).
pub const SCHEMA_VERSION: u32 = 3;

/// The connection a transaction belongs to, oriented client → server.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// Unique per connection within a run (shard in the top bits).
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Set when the connection's HTTP was decrypted from TLS.
    pub tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    /// The VLAN tags and tunnels the connection came through, when any.
    pub encap: Option<std::sync::Arc<crate::decode::Encap>>,
}

/// Run-wide values every record carries.
#[derive(Clone, Debug)]
pub struct RecordCtx {
    /// Distinguishes runs, so ids stay unique across restarts.
    pub run_id: u32,
    /// REAL_IP_HEADER: the request header naming the client behind proxies.
    pub real_ip_header: String,
    collection_id: String,
    observer: Observer,
    /// The members that are the same in every record of the run
    /// (`"schema_version":…,"collection_id":…,"observer":{…}`), serialized
    /// once: a record copies them instead of escaping them again.
    constant: Box<[u8]>,
}

impl RecordCtx {
    pub fn new(
        collection_id: &str,
        run_id: u32,
        real_ip_header: &str,
        observer: Observer,
    ) -> RecordCtx {
        let mut constant = Vec::new();
        let mut w = JsonWriter::new(&mut constant);
        w.begin_object();
        w.key("schema_version");
        w.u64(SCHEMA_VERSION as u64);
        w.key("collection_id");
        w.str(collection_id);
        w.key("observer");
        w.begin_object();
        w.key("host");
        w.str(&observer.host);
        w.key("interface");
        w.str(&observer.interface);
        w.key("version");
        w.str(&observer.version);
        w.end_object();
        w.end_object();
        // Keep the members, without the enclosing braces.
        let members = constant[1..constant.len() - 1].into();
        RecordCtx {
            run_id,
            real_ip_header: real_ip_header.to_string(),
            collection_id: collection_id.to_string(),
            observer,
            constant: members,
        }
    }

    /// OUTPUT_KAFKA_COLLECTION_ID, copied into every record.
    pub fn collection_id(&self) -> &str {
        &self.collection_id
    }

    pub fn observer(&self) -> &Observer {
        &self.observer
    }
}

impl Default for RecordCtx {
    /// An empty collection id, run 0, no real-IP header and an empty
    /// observer: for tests and benchmarks.
    fn default() -> RecordCtx {
        RecordCtx::new("", 0, "", Observer::default())
    }
}

pub struct RecordView<'a> {
    pub ctx: &'a RecordCtx,
    pub conn: &'a ConnInfo,
    pub txn: &'a Transaction,
}

impl RecordView<'_> {
    /// The record id: run, connection and position within the connection.
    pub fn id(&self) -> RecordId {
        let mut id = RecordId::default();
        id.hex(self.ctx.run_id as u64, 8);
        id.push(b'-');
        id.hex(self.conn.id, 16);
        let key_len = id.len;
        id.push(b'-');
        id.decimal(self.txn.seq as u64);
        id.key_len = key_len;
        id
    }

    /// The Kafka message key: the connection, so its transactions stay ordered.
    pub fn key(&self) -> RecordId {
        let mut id = self.id();
        id.len = id.key_len;
        id
    }

    /// Appends the record as one line of JSON.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        self.write_capped(out, BodyCaps::NONE);
        out.push(b'\n');
    }

    /// Kept body lengths (request, response), before any cap.
    pub fn body_lens(&self) -> (usize, usize) {
        let len = |m: &Option<Message>| m.as_ref().map_or(0, |m| m.recorded_body().len());
        (len(&self.txn.request), len(&self.txn.response))
    }

    /// Appends the record (no newline) with each body cut to at most its cap
    /// in bytes, for outputs with a size limit. A cut body is marked
    /// `body_truncated` and the record gets the `body_trimmed_for_kafka` flag.
    pub fn write_capped(&self, out: &mut Vec<u8>, caps: BodyCaps) {
        let t = self.txn;
        let cut = |m: &Option<Message>, cap: usize| {
            m.as_ref().is_some_and(|m| m.recorded_body().len() > cap)
        };
        let mut flags = t.flags;
        if cut(&t.request, caps.request) || cut(&t.response, caps.response) {
            flags.set(Flags::BODY_TRIMMED);
        }
        let mut w = JsonWriter::new(out);
        w.begin_object();
        w.key("id");
        w.plain(self.id().as_bytes());
        w.members(&self.ctx.constant);
        w.key("conn");
        write_conn(&mut w, self.conn);
        w.key("tls");
        match &self.conn.tls {
            Some(tls) => write_tls(&mut w, tls),
            None => w.null(),
        }
        if let Some(id) = t.stream_id {
            w.key("stream_id");
            w.u64(id as u64);
        }
        w.key("real_ip");
        let real_ip = t
            .request
            .as_ref()
            .and_then(|r| real_ip::real_ip(&r.head, &self.ctx.real_ip_header));
        match real_ip {
            Some(ip) => w.ip(&ip),
            None => w.null(),
        }
        w.key("request");
        match &t.request {
            Some(m) => write_message(&mut w, m, true, caps.request),
            None => w.null(),
        }
        w.key("response");
        match &t.response {
            Some(m) => write_message(&mut w, m, false, caps.response),
            None => w.null(),
        }
        w.key("duration_us");
        match duration_us(t) {
            Some(d) => w.u64(d),
            None => w.null(),
        }
        if let Some(call) = &t.grpc {
            w.key("grpc");
            write_grpc(&mut w, call);
        }
        w.key("flags");
        w.begin_array();
        for name in flags.names() {
            w.plain(name.as_bytes());
        }
        w.end_array();
        w.end_object();
    }
}

/// Per-message body caps for `RecordView::write_capped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyCaps {
    pub request: usize,
    pub response: usize,
}

impl BodyCaps {
    pub const NONE: BodyCaps = BodyCaps {
        request: usize::MAX,
        response: usize::MAX,
    };
}

/// A record id or key, formatted on the stack (no allocation per record).
#[derive(Clone, Copy)]
pub struct RecordId {
    buf: [u8; 40],
    len: usize,
    key_len: usize,
}

impl Default for RecordId {
    fn default() -> Self {
        RecordId {
            buf: [0; 40],
            len: 0,
            key_len: 0,
        }
    }
}

impl RecordId {
    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn hex(&mut self, v: u64, digits: u32) {
        for i in (0..digits).rev() {
            self.push(b"0123456789abcdef"[((v >> (i * 4)) & 0xf) as usize]);
        }
    }

    fn decimal(&mut self, v: u64) {
        let mut tmp = itoa::Buffer::new();
        for b in tmp.format(v).bytes() {
            self.push(b);
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits, '-' and decimal digits are ever pushed.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn duration_us(t: &Transaction) -> Option<u64> {
    let req = t.request.as_ref()?;
    let resp = t.response.as_ref()?;
    Some(resp.end_ts_ns.saturating_sub(req.ts_ns) / 1000)
}

fn write_conn(w: &mut JsonWriter<'_>, c: &ConnInfo) {
    w.begin_object();
    w.key("client_ip");
    w.ip(&c.client.ip);
    w.key("client_port");
    w.u64(c.client.port as u64);
    w.key("server_ip");
    w.ip(&c.server.ip);
    w.key("server_port");
    w.u64(c.server.port as u64);
    if let Some(e) = &c.encap {
        write_encap(w, e);
    }
    w.end_object();
}

/// `conn.tunnel` and `conn.vlan`, each only when there is something to
/// name (like `stream_id` and `grpc`, absent otherwise): the wrappers
/// outermost first, each with its kind, the addresses of the IP header
/// that carried it and its id (null for kinds without one), and the VLAN
/// ids outermost first.
fn write_encap(w: &mut JsonWriter<'_>, e: &crate::decode::Encap) {
    if !e.tunnels.is_empty() {
        w.key("tunnel");
        w.begin_array();
        for t in &e.tunnels {
            w.begin_object();
            w.key("kind");
            w.plain(t.kind.name().as_bytes());
            w.key("src");
            w.ip(&t.src);
            w.key("dst");
            w.ip(&t.dst);
            w.key("id");
            match t.id {
                Some(id) => w.u64(id as u64),
                None => w.null(),
            }
            w.end_object();
        }
        w.end_array();
    }
    if !e.vlans.is_empty() {
        w.key("vlan");
        w.begin_array();
        for v in &e.vlans {
            w.u64(*v as u64);
        }
        w.end_array();
    }
}

fn write_message(w: &mut JsonWriter<'_>, msg: &Message, request: bool, cap: usize) {
    let h = &msg.head;
    let mut ts = [0u8; 27];
    w.begin_object();
    w.key("ts");
    w.plain(fill_rfc3339_micros(msg.ts_ns, &mut ts));
    if request {
        let (method, target) = h.method_and_target_lossy();
        let (method, target) = (method.as_ref(), target.as_ref());
        w.key("method");
        w.str(method);
        w.key("target");
        let verbatim = w.str_verbatim(target);
        let parts = crate::http::target::split(target, method.eq_ignore_ascii_case("CONNECT"));
        // Path and query are parts of the target: when it needed no
        // escaping (nearly always), neither do they.
        let part = |w: &mut JsonWriter<'_>, s: Option<&str>| match s {
            Some(s) if verbatim => w.unescaped(s),
            Some(s) => w.str(s),
            None => w.null(),
        };
        w.key("path");
        part(w, parts.path);
        w.key("query");
        part(w, parts.query);
        w.key("host");
        // HTTP/2 names the host in `:authority`, which a server must take
        // over a `host` field (RFC 9113 §8.3.1): a request naming two hosts
        // is recorded as the server reads it (both stay in `headers`).
        let authority = if h.version == Version::Http2 {
            h.header_text_of(":authority")
        } else {
            None
        };
        match (parts.authority, authority, h.header_text_of("host")) {
            (Some(authority), ..) => w.str(authority),
            (None, Some(authority), _) | (None, None, Some(authority)) => w.head_text(authority),
            (None, None, None) => w.null(),
        }
    } else {
        w.key("status");
        if h.has_status_line() {
            w.u64(h.status() as u64);
            w.key("reason");
            w.head_text(h.reason_text());
        } else {
            // An HTTP/0.9 answer (flag no_status_line).
            w.null();
            w.key("reason");
            w.null();
        }
    }
    w.key("version");
    w.plain(h.version().as_bytes());
    w.key("headers");
    write_headers(w, h);
    let body = msg.recorded_body();
    let kept = cap_body(body, cap);
    w.key("body");
    let encoding = write_body(w, kept);
    w.key("body_encoding");
    w.plain(encoding.as_bytes());
    w.key("body_size");
    w.u64(msg.body_size);
    w.key("body_truncated");
    w.bool(msg.recorded_body_cut() || kept.len() < body.len());
    w.key("content_encoding");
    match &msg.content_encoding {
        Some(c) => w.str(c),
        None => w.null(),
    }
    if let Some(status) = msg.interim_status {
        w.key("interim_status");
        w.u64(status as u64);
    }
    if let Some(trailers) = &msg.trailers {
        w.key("trailers");
        write_headers(w, trailers);
    }
    w.end_object();
}

/// The `tls` object: what the handshake said.
fn write_tls(w: &mut JsonWriter<'_>, tls: &crate::tls::TlsInfo) {
    let opt = |w: &mut JsonWriter<'_>, v: Option<&str>| match v {
        Some(s) => w.str(s),
        None => w.null(),
    };
    w.begin_object();
    w.key("source");
    w.str(tls.source.name());
    w.key("version");
    opt(w, tls.version);
    w.key("cipher");
    opt(w, tls.cipher);
    w.key("sni");
    opt(w, tls.sni.as_deref());
    w.key("alpn");
    opt(w, tls.alpn.as_deref());
    w.end_object();
}

/// The `grpc` object: the call, its status and each direction's messages
/// (base64: protobuf without its schema is bytes).
fn write_grpc(w: &mut JsonWriter<'_>, call: &crate::http2::grpc::GrpcCall) {
    w.begin_object();
    w.key("service");
    w.str(&call.service);
    w.key("method");
    w.str(&call.method);
    w.key("status");
    match call.status {
        Some(s) => w.u64(s as u64),
        None => w.null(),
    }
    w.key("message");
    match &call.message {
        Some(m) => w.str(m),
        None => w.null(),
    }
    let directions = [
        (
            "request_messages",
            "request_message_count",
            "request_messages_incomplete",
            &call.request,
        ),
        (
            "response_messages",
            "response_message_count",
            "response_messages_incomplete",
            &call.response,
        ),
    ];
    for (messages, count, incomplete, msgs) in directions {
        w.key(messages);
        w.begin_array();
        for m in &msgs.kept {
            w.base64(m);
        }
        w.end_array();
        w.key(count);
        w.u64(msgs.count);
        w.key(incomplete);
        w.bool(msgs.incomplete);
    }
    w.end_object();
}

/// Formats nanoseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
/// Done by hand because formatting through `fmt` cost more than the rest
/// of the record (callgrind); checked against humantime in the tests.
pub fn format_rfc3339_micros(ts_ns: u64, buf: &mut [u8; 27]) -> &str {
    std::str::from_utf8(fill_rfc3339_micros(ts_ns, buf)).unwrap_or("")
}

/// `format_rfc3339_micros` as bytes (digits and punctuation only).
fn fill_rfc3339_micros(ts_ns: u64, buf: &mut [u8; 27]) -> &[u8] {
    let secs = ts_ns / 1_000_000_000;
    let micros = (ts_ns / 1_000) % 1_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut put = |at: usize, v: u64, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year.clamp(0, 9999) as u64, 4);
    put(5, month as u64, 2);
    put(8, day as u64, 2);
    put(11, rem / 3600, 2);
    put(14, (rem / 60) % 60, 2);
    put(17, rem % 60, 2);
    put(20, micros, 6);
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    buf[19] = b'.';
    buf[26] = b'Z';
    buf
}

/// The first `cap` bytes of a body; a text body is cut on a character
/// boundary so that it stays text (and does not turn into longer base64).
fn cap_body(body: &[u8], cap: usize) -> &[u8] {
    if body.len() <= cap {
        return body;
    }
    let mut end = cap;
    if simdutf8::basic::from_utf8(body).is_ok() {
        // UTF-8 continuation bytes are 0b10xx_xxxx.
        while end > 0 && body[end] & 0xC0 == 0x80 {
            end -= 1;
        }
    }
    &body[..end]
}

/// A text body whose escaped string would be longer than this many times
/// its bytes (mostly control characters: `\u0000` is six bytes for one)
/// goes out as base64 instead, so a record's length stays within a known
/// multiple of its bodies' (README, Memory).
pub const TEXT_BODY_MAX_GROWTH: usize = 2;

/// Writes the body: text as a string, anything else (and text that would
/// escape to more than TEXT_BODY_MAX_GROWTH times its size) as base64.
/// Returns the encoding's name.
fn write_body(w: &mut JsonWriter<'_>, body: &[u8]) -> &'static str {
    if let Ok(s) = simdutf8::basic::from_utf8(body) {
        if w.str_within(s, TEXT_BODY_MAX_GROWTH * s.len() + 2) {
            return "utf8";
        }
    }
    w.base64(body);
    "base64"
}

/// Headers as an object: lower-case names, repeated fields joined with
/// ", " at the first occurrence's place (RFC 9110 §5.3). `set-cookie` is
/// the exception the RFC names: its values may hold commas (`Expires`
/// dates), so it is always an array of its values, in order, even when
/// there is one.
fn write_headers(w: &mut JsonWriter<'_>, head: &crate::http::Head) {
    let repeats = Repeats::of(head);
    w.begin_object();
    for i in 0..head.header_count() {
        if repeats.is_later(i) {
            continue; // joined into its first occurrence
        }
        let (key, value) = head.header_text(i);
        w.key_lowercase(key);
        let name = head.header_name(i);
        if name.eq_ignore_ascii_case(b"set-cookie") {
            w.begin_array();
            w.head_text(value);
            for j in repeats.after(i) {
                w.head_text(head.header_text(j).1);
            }
            w.end_array();
            continue;
        }
        let mut later = repeats.after(i).peekable();
        if later.peek().is_none() {
            w.head_text(value);
            continue;
        }
        // Cookie crumbs join with "; " (RFC 9113 §8.2.3, the form a
        // cookie parser reads); other fields with ", " (RFC 9110 §5.3).
        let sep = if name.eq_ignore_ascii_case(b"cookie") {
            "; "
        } else {
            ", "
        };
        let mut joined = String::from_utf8_lossy(head.header_value(i)).into_owned();
        for j in later {
            joined.push_str(sep);
            joined.push_str(&String::from_utf8_lossy(head.header_value(j)));
        }
        w.str(&joined);
    }
    w.end_object();
}

/// The test suite's record check (schema and key order), shared with the
/// integration tests.
#[cfg(test)]
#[path = "../../tests/common/record_check.rs"]
pub(crate) mod record_check;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Head;
    use std::time::{Duration, UNIX_EPOCH};

    fn message(raw: &[u8], request: bool) -> Message {
        let head = Head::parse(raw, request).expect("head parses");
        let mut m = Message::new(head, 1_764_057_600_000_000_000);
        m.complete = true;
        m
    }

    /// The record of one exchange, checked against the schema: its line
    /// and its parsed value.
    fn record_line(
        ctx: &RecordCtx,
        request: &[u8],
        response: &[u8],
    ) -> (String, serde_json::Value) {
        let txn = Transaction {
            request: Some(message(request, true)),
            response: Some(message(response, false)),
            ..Transaction::new(0)
        };
        txn_line(ctx, &txn)
    }

    /// `txn`'s record on a plain connection: the line and its checked value.
    fn txn_line(ctx: &RecordCtx, txn: &Transaction) -> (String, serde_json::Value) {
        let ep = crate::flow::Endpoint {
            ip: "192.0.2.1".parse().unwrap(),
            port: 80,
        };
        let conn = ConnInfo {
            id: 1,
            client: ep,
            server: ep,
            tls: None,
            encap: None,
        };
        let mut line = Vec::new();
        RecordView {
            ctx,
            conn: &conn,
            txn,
        }
        .write_line(&mut line);
        let line = String::from_utf8(line).expect("records are UTF-8");
        let value = record_check::parse(line.trim_end());
        (line, value)
    }

    fn record(request: &[u8], response: &[u8]) -> serde_json::Value {
        record_line(&RecordCtx::default(), request, response).1
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    /// A flag the schema does not list breaks every record carrying it.
    #[test]
    fn schema_lists_every_flag() {
        let names: Vec<String> = crate::http::Flags::NAMES
            .iter()
            .map(|(_, n)| n.to_string())
            .collect();
        assert_eq!(names, record_check::schema_flags());
    }

    #[test]
    fn set_cookie_values_with_expires_dates_stay_apart() {
        let (line, r) = record_line(
            &RecordCtx::default(),
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/; HttpOnly\r\n\
              Vary: Accept\r\nSET-COOKIE: theme=dark; Expires=Thu, 01 Jan 2027 00:00:00 GMT\r\n\
              Vary: Origin\r\nset-cookie: lang=en\r\nContent-Length: 0\r\n\r\n",
        );
        let headers = &r["response"]["headers"];
        assert_eq!(
            headers["set-cookie"],
            serde_json::json!([
                "sid=abc; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/; HttpOnly",
                "theme=dark; Expires=Thu, 01 Jan 2027 00:00:00 GMT",
                "lang=en"
            ])
        );
        // Other repeated fields keep RFC 9110's joining.
        assert_eq!(headers["vary"], "Accept, Origin");
        // The array stands at the first field's place.
        assert!(
            line.contains(r#""headers":{"set-cookie":["sid=abc; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/; HttpOnly","theme=dark; Expires=Thu, 01 Jan 2027 00:00:00 GMT","lang=en"],"vary":"Accept, Origin","content-length":"0"}"#),
            "{line}"
        );
    }

    /// Found by the `record` fuzz target: trailers are written like
    /// headers (set-cookie as an array), which the schema did not allow.
    #[test]
    fn trailers_with_set_cookie_follow_the_schema() {
        let mut response = message(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false);
        response.trailers = Some(Box::new(
            Head::parse(
                b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\ngrpc-status: 0\r\n\r\n",
                false,
            )
            .unwrap(),
        ));
        let txn = Transaction {
            request: Some(message(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true)),
            response: Some(response),
            ..Transaction::new(0)
        };
        let (_, r) = txn_line(&RecordCtx::default(), &txn);
        assert_eq!(
            r["response"]["trailers"]["set-cookie"],
            serde_json::json!(["a=1"])
        );
    }

    #[test]
    fn tunnels_and_vlans_are_named_in_conn_only_when_there_are_some() {
        use crate::decode::{Encap, Tunnel, TunnelKind};
        let txn = Transaction {
            request: Some(message(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true)),
            response: Some(message(OK, false)),
            ..Transaction::new(0)
        };
        let ep = |ip: &str, port| crate::flow::Endpoint {
            ip: ip.parse().unwrap(),
            port,
        };
        let tunnel = |kind, src: &str, dst: &str, id| Tunnel {
            kind,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            id,
        };
        let line = |encap: Option<Encap>| {
            let conn = ConnInfo {
                id: 1,
                client: ep("10.0.0.1", 40000),
                server: ep("10.0.0.2", 80),
                tls: None,
                encap: encap.map(std::sync::Arc::new),
            };
            let mut line = Vec::new();
            RecordView {
                ctx: &RecordCtx::default(),
                conn: &conn,
                txn: &txn,
            }
            .write_line(&mut line);
            record_check::parse(std::str::from_utf8(&line).unwrap().trim_end())
        };
        let plain = line(None);
        assert!(plain["conn"].get("tunnel").is_none() && plain["conn"].get("vlan").is_none());
        let nested = line(Some(Encap {
            tunnels: vec![
                tunnel(TunnelKind::Geneve, "198.51.100.1", "198.51.100.2", Some(7)),
                tunnel(TunnelKind::Ipip, "2001:db8::1", "2001:db8::2", None),
            ],
            vlans: vec![100, 10],
        }));
        assert_eq!(
            nested["conn"]["tunnel"],
            serde_json::json!([
                {"kind": "geneve", "src": "198.51.100.1", "dst": "198.51.100.2", "id": 7},
                {"kind": "ipip", "src": "2001:db8::1", "dst": "2001:db8::2", "id": null}
            ])
        );
        assert_eq!(nested["conn"]["vlan"], serde_json::json!([100, 10]));
        assert_eq!(nested["conn"]["server_port"], 80);
        // Tags alone: no tunnel member.
        let tagged = line(Some(Encap {
            tunnels: vec![],
            vlans: vec![42],
        }));
        assert!(tagged["conn"].get("tunnel").is_none());
        assert_eq!(tagged["conn"]["vlan"], serde_json::json!([42]));
    }

    #[test]
    fn a_single_set_cookie_is_an_array_too() {
        let r = record(
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=\"q\\\"x\"\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(
            r["response"]["headers"]["set-cookie"],
            serde_json::json!(["a=\"q\\\"x\""])
        );
        // Names of the same length and ends are not mistaken for it.
        let r = record(
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nSame-Shape: 1\r\nSame-Shape: 2\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(r["response"]["headers"]["same-shape"], "1, 2");
    }

    #[test]
    fn repeated_fields_are_joined_in_long_heads_too() {
        // 70 fields: repeats before and after the 48th (stack) and 64th
        // (filter) field, and one repeat spanning both.
        let mut head = b"HTTP/1.1 200 OK\r\nVary: a\r\n".to_vec();
        for i in 1..70 {
            let field = match i {
                40 | 69 => "Vary: b".to_string(),
                47 | 50 | 66 => format!("X-Late: {i}"),
                _ => format!("X-F{i}: {i}"),
            };
            head.extend_from_slice(field.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let r = record(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", &head);
        let headers = &r["response"]["headers"];
        assert_eq!(headers["vary"], "a, b, b");
        assert_eq!(headers["x-late"], "47, 50, 66");
        assert_eq!(headers["x-f68"], "68");
        assert_eq!(headers.as_object().unwrap().len(), 70 - 4 + 1);
    }

    /// A field whose only repeat comes after the 64th field (which the
    /// repeat filter does not cover) keeps both values: a second Host
    /// there is a smuggling sign and must not vanish.
    #[test]
    fn a_repeat_past_the_64th_field_is_kept() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..62 {
            req.extend_from_slice(b"A: 1\r\n");
        }
        req.extend_from_slice(b"Host: good.example\r\nB: 1\r\nHost: evil.example\r\n\r\n");
        let r = record(&req, OK);
        let headers = &r["request"]["headers"];
        assert_eq!(headers["host"], "good.example, evil.example");
        assert_eq!(headers["b"], "1");
        assert_eq!(headers.as_object().unwrap().len(), 3);
    }

    /// Cookie crumbs (HTTP/2 sends one field per cookie) join the way a
    /// cookie parser reads them.
    #[test]
    fn cookie_fields_join_with_semicolons() {
        let r = record(
            b"GET / HTTP/1.1\r\nHost: h\r\nCookie: sid=abc\r\nCookie: theme=dark\r\n\r\n",
            OK,
        );
        assert_eq!(r["request"]["headers"]["cookie"], "sid=abc; theme=dark");
    }

    /// The record of an HTTP/2 GET of `target` with `fields`, answered 200.
    fn http2_get(target: &[u8], fields: &[(&[u8], &[u8])]) -> serde_json::Value {
        let mut b = crate::http::HeadBuilder::default();
        b.method(b"GET");
        b.target(target);
        for (name, value) in fields {
            b.field(name, value);
        }
        let head = b.build(true, crate::http::Version::Http2);
        let txn = Transaction {
            request: Some(Message::new(head, 1_764_057_600_000_000_000)),
            response: Some(message(OK, false)),
            ..Transaction::new(0)
        };
        txn_line(&RecordCtx::default(), &txn).1
    }

    /// A target with a byte that is not UTF-8 (HTTP/2 carries any byte)
    /// is written lossily, never as an empty field that would hide the URL.
    #[test]
    fn a_target_that_is_not_utf8_is_kept_lossily() {
        let r = http2_get(b"/admin\xff?cmd=id", &[(b":authority", b"h")]);
        let q = &r["request"];
        assert_eq!(q["method"], "GET");
        assert_eq!(q["target"], "/admin\u{fffd}?cmd=id");
        assert_eq!(q["path"], "/admin\u{fffd}");
        assert_eq!(q["query"], "cmd=id");
    }

    /// A body with a hole shows the bytes before it, never the bytes after
    /// it spliced on; it and a body the capture ended are truncated.
    #[test]
    fn a_body_with_a_hole_or_cut_short_is_truncated() {
        let mut resp = message(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false);
        resp.body.extend_from_slice(b"0123");
        resp.body_size = 4;
        resp.body_gap(4);
        resp.body.extend_from_slice(b"89");
        resp.body_size += 2;
        resp.complete = true;
        let mut req = message(
            b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\n",
            true,
        );
        req.body.extend_from_slice(b"abc");
        req.body_size = 3;
        req.complete = false;
        let txn = Transaction {
            request: Some(req),
            response: Some(resp),
            ..Transaction::new(0)
        };
        let (_, r) = txn_line(&RecordCtx::default(), &txn);
        let rs = &r["response"];
        assert_eq!(rs["body"], "0123");
        assert_eq!(rs["body_size"], 10);
        assert_eq!(rs["body_truncated"], true);
        assert_eq!(r["request"]["body"], "abc");
        assert_eq!(r["request"]["body_truncated"], true);
        // A whole body is not.
        let (_, r) = record_line(
            &RecordCtx::default(),
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            OK,
        );
        assert_eq!(r["response"]["body_truncated"], false);
    }

    /// HTTP/2: `:authority` names the host, whatever a `host` field says.
    #[test]
    fn http2_host_is_the_authority() {
        let r = http2_get(
            b"/",
            &[
                (b":authority", b"admin.internal"),
                (b"host", b"www.example"),
            ],
        );
        assert_eq!(r["request"]["host"], "admin.internal");
        assert_eq!(r["request"]["headers"]["host"], "www.example");
    }

    /// (path, query, host) of a request.
    fn parts(request: &[u8]) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
        let r = record(request, OK);
        let q = &r["request"];
        (q["path"].clone(), q["query"].clone(), q["host"].clone())
    }

    #[test]
    fn path_query_and_host_of_each_target_form() {
        use serde_json::{json, Value::Null};
        // Origin form.
        assert_eq!(
            parts(b"GET /api/orders?x=1&y=%22 HTTP/1.1\r\nHost: shop.test:8080\r\n\r\n"),
            (
                json!("/api/orders"),
                json!("x=1&y=%22"),
                json!("shop.test:8080")
            )
        );
        // No query, and an empty one.
        assert_eq!(
            parts(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"),
            (json!("/a"), Null, json!("h"))
        );
        assert_eq!(
            parts(b"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n"),
            (json!("/a"), json!(""), json!("h"))
        );
        // Absolute form: the target's authority wins over Host.
        assert_eq!(
            parts(b"GET http://h.test/p?q HTTP/1.1\r\nHost: other\r\n\r\n"),
            (json!("/p"), json!("q"), json!("h.test"))
        );
        assert_eq!(
            parts(b"GET http://h.test HTTP/1.1\r\n\r\n"),
            (json!("/"), Null, json!("h.test"))
        );
        // No Host at all (HTTP/1.0).
        assert_eq!(parts(b"GET /x HTTP/1.0\r\n\r\n"), (json!("/x"), Null, Null));
        // CONNECT's authority form and OPTIONS' asterisk form.
        assert_eq!(
            parts(b"CONNECT h.test:443 HTTP/1.1\r\nHost: h.test:443\r\n\r\n"),
            (Null, Null, json!("h.test:443"))
        );
        assert_eq!(
            parts(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
            (json!("*"), Null, json!("h"))
        );
    }

    #[test]
    fn parts_of_a_target_that_needs_escaping_are_escaped() {
        let (path, query, _) = parts(b"GET /a\"b\\c?d=\"e\" HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(path, "/a\"b\\c");
        assert_eq!(query, "d=\"e\"");
    }

    #[test]
    fn every_record_carries_version_collection_and_observer() {
        let observer = Observer {
            host: "sensor \"7\"".into(),
            interface: "eth0,eth1".into(),
            version: "1.2.3".into(),
        };
        let ctx = RecordCtx::new("cat\\log", 9, "x-real-ip", observer.clone());
        let (line, r) = record_line(&ctx, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", OK);
        assert_eq!(r["schema_version"], SCHEMA_VERSION);
        assert_eq!(r["collection_id"], "cat\\log");
        assert_eq!(
            r["observer"],
            serde_json::json!({"host": "sensor \"7\"", "interface": "eth0,eth1", "version": "1.2.3"})
        );
        // Constant members come right after the id, pre-escaped.
        let after_id = line.split_once(r#"-0","#).expect("id").1;
        assert!(
            after_id.starts_with(
                r#""schema_version":3,"collection_id":"cat\\log","observer":{"host":"sensor \"7\"","interface":"eth0,eth1","version":"1.2.3"},"conn":{"#
            ),
            "{line}"
        );
        assert_eq!(ctx.collection_id(), "cat\\log");
        assert_eq!(ctx.observer(), &observer);
    }

    #[test]
    fn the_running_binary_reports_its_own_version() {
        let o = Observer::new("eth0".into());
        assert_eq!(o.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(o.interface, "eth0");
    }

    #[test]
    fn rfc3339_matches_humantime() {
        for ts in [
            0u64,
            951_782_400_123_456_789,
            1_764_057_600_000_500_000,
            4_102_444_799_999_999_000,
        ] {
            let mut buf = [0u8; 27];
            let ours = format_rfc3339_micros(ts, &mut buf).to_string();
            let theirs =
                humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ts)).to_string();
            assert_eq!(ours, theirs);
        }
    }
}
