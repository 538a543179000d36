//! The transaction record: one JSON object per request/response pair,
//! serialized straight from the parsed messages (no intermediate copy).
//! The schema is documented in README.md and `schema/record.schema.json`.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::flow::Endpoint;
use crate::http::{Flags, Message, Transaction};

/// The connection a transaction belongs to, oriented client → server.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// Unique per connection within a run (shard in the top bits).
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
}

/// Run-wide values every record carries.
#[derive(Clone, Debug, Default)]
pub struct RecordCtx {
    pub collection_id: String,
    /// Distinguishes runs, so ids stay unique across restarts.
    pub run_id: u32,
}

pub struct RecordView<'a> {
    pub ctx: &'a RecordCtx,
    pub conn: &'a ConnInfo,
    pub txn: &'a Transaction,
}

impl RecordView<'_> {
    /// The record id: run, connection and position within the connection.
    pub fn id(&self) -> String {
        format!(
            "{:08x}-{:016x}-{}",
            self.ctx.run_id, self.conn.id, self.txn.seq
        )
    }

    /// The Kafka message key: the connection, so its transactions stay ordered.
    pub fn key(&self) -> String {
        format!("{:08x}-{:016x}", self.ctx.run_id, self.conn.id)
    }

    /// Appends the record as one line of JSON.
    pub fn write_line(&self, out: &mut Vec<u8>) -> Result<(), simd_json::Error> {
        simd_json::to_writer(&mut *out, self)?;
        out.push(b'\n');
        Ok(())
    }
}

fn duration_us(t: &Transaction) -> Option<u64> {
    let req = t.request.as_ref()?;
    let resp = t.response.as_ref()?;
    Some(resp.end_ts_ns.saturating_sub(req.ts_ns) / 1000)
}

impl Serialize for RecordView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.txn;
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("id", &self.id())?;
        m.serialize_entry("collection_id", &self.ctx.collection_id)?;
        m.serialize_entry("conn", &ConnView(self.conn))?;
        m.serialize_entry(
            "request",
            &t.request.as_ref().map(|r| MessageView {
                msg: r,
                request: true,
            }),
        )?;
        m.serialize_entry(
            "response",
            &t.response.as_ref().map(|r| MessageView {
                msg: r,
                request: false,
            }),
        )?;
        m.serialize_entry("duration_us", &duration_us(t))?;
        m.serialize_entry("flags", &FlagsView(t.flags))?;
        m.end()
    }
}

struct ConnView<'a>(&'a ConnInfo);

impl Serialize for ConnView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("client_ip", &self.0.client.ip)?;
        m.serialize_entry("client_port", &self.0.client.port)?;
        m.serialize_entry("server_ip", &self.0.server.ip)?;
        m.serialize_entry("server_port", &self.0.server.port)?;
        m.end()
    }
}

struct FlagsView(Flags);

impl Serialize for FlagsView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The length must be exact: simd-json writes an unclosed `[` for an
        // empty sequence of unknown length.
        let mut seq = s.serialize_seq(Some(self.0.names().count()))?;
        for name in self.0.names() {
            seq.serialize_element(name)?;
        }
        seq.end()
    }
}

/// RFC 3339 UTC with microseconds.
struct Timestamp(u64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = UNIX_EPOCH + Duration::from_nanos(self.0);
        s.collect_str(&humantime::format_rfc3339_micros(t))
    }
}

struct MessageView<'a> {
    msg: &'a Message,
    request: bool,
}

impl Serialize for MessageView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let msg = self.msg;
        let h = &msg.head;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts", &Timestamp(msg.ts_ns))?;
        if self.request {
            m.serialize_entry("method", h.method())?;
            m.serialize_entry("target", h.target())?;
        } else {
            m.serialize_entry("status", &h.status())?;
            m.serialize_entry("reason", &String::from_utf8_lossy(h.reason()))?;
        }
        m.serialize_entry("version", h.version())?;
        m.serialize_entry("headers", &HeadersView(h))?;
        let (body, encoding) = body_text(&msg.body);
        m.serialize_entry("body", &body)?;
        m.serialize_entry("body_encoding", encoding)?;
        m.serialize_entry("body_size", &msg.body_size)?;
        m.serialize_entry("body_truncated", &msg.body_truncated)?;
        m.end()
    }
}

/// Text bodies go out as strings, anything else as base64.
fn body_text(body: &[u8]) -> (std::borrow::Cow<'_, str>, &'static str) {
    match std::str::from_utf8(body) {
        Ok(s) => (std::borrow::Cow::Borrowed(s), "utf8"),
        Err(_) => (
            std::borrow::Cow::Owned(base64::engine::general_purpose::STANDARD.encode(body)),
            "base64",
        ),
    }
}

/// Headers as an object: lower-case names, repeated fields joined with ", ".
struct HeadersView<'a>(&'a crate::http::Head);

impl Serialize for HeadersView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields: Vec<(&[u8], &[u8])> = self.0.headers().collect();
        let mut m = s.serialize_map(None)?;
        let mut name = String::new();
        for (i, (n, v)) in fields.iter().enumerate() {
            if fields[..i].iter().any(|(p, _)| p.eq_ignore_ascii_case(n)) {
                continue;
            }
            name.clear();
            name.push_str(&String::from_utf8_lossy(n));
            name.make_ascii_lowercase();
            let repeats = fields[i + 1..]
                .iter()
                .any(|(p, _)| p.eq_ignore_ascii_case(n));
            if repeats {
                let mut joined = String::from_utf8_lossy(v).into_owned();
                for (_, v2) in fields[i + 1..]
                    .iter()
                    .filter(|(p, _)| p.eq_ignore_ascii_case(n))
                {
                    joined.push_str(", ");
                    joined.push_str(&String::from_utf8_lossy(v2));
                }
                m.serialize_entry(&name, &joined)?;
            } else {
                m.serialize_entry(&name, &String::from_utf8_lossy(v))?;
            }
        }
        m.end()
    }
}
