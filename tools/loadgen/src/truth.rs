//! Ground truth: what the capture contains, so a benchmark or test can check
//! a tool's output without parsing the capture itself.

use std::io::{self, Write};

use crate::content::TxnInfo;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    pub seed: u64,
    /// Every HTTP request/response pair in the capture.
    pub transactions: u64,
    /// Transactions httpcap keeps with its default filters (static assets dropped).
    pub non_static_transactions: u64,
    pub static_transactions: u64,
    pub connections: u64,
    pub packets: u64,
    /// Frame bytes as captured (no pcap record headers).
    pub bytes: u64,
    pub tcp_payload_bytes: u64,
    pub gzip_responses: u64,
    pub chunked_responses: u64,
    pub pipelined_transactions: u64,
    pub head_requests: u64,
    pub error_responses: u64,
    pub retransmitted_segments: u64,
    pub reordered_segments: u64,
    /// Transactions sent as HTTP/2 streams (--http2), and their connections.
    pub http2_transactions: u64,
    pub http2_connections: u64,
    /// Connections carried in TLS (--tls); each has one client random in
    /// the key log.
    pub tls_connections: u64,
    /// Connections never closed (`--leave-open`).
    pub left_open_connections: u64,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
}

impl Truth {
    pub fn count(&mut self, t: &TxnInfo, pipelined: bool, http2: bool) {
        self.transactions += 1;
        self.http2_transactions += u64::from(http2);
        if t.is_static {
            self.static_transactions += 1;
        } else {
            self.non_static_transactions += 1;
        }
        self.gzip_responses += u64::from(t.gzip);
        self.chunked_responses += u64::from(t.chunked);
        self.pipelined_transactions += u64::from(pipelined);
        self.head_requests += u64::from(t.method == "HEAD");
        self.error_responses += u64::from(t.status >= 400);
    }

    pub fn write_json(&self, mut out: impl Write) -> io::Result<()> {
        let fields: [(&str, u64); 21] = [
            ("seed", self.seed),
            ("transactions", self.transactions),
            ("non_static_transactions", self.non_static_transactions),
            ("static_transactions", self.static_transactions),
            ("connections", self.connections),
            ("packets", self.packets),
            ("bytes", self.bytes),
            ("tcp_payload_bytes", self.tcp_payload_bytes),
            ("gzip_responses", self.gzip_responses),
            ("chunked_responses", self.chunked_responses),
            ("pipelined_transactions", self.pipelined_transactions),
            ("head_requests", self.head_requests),
            ("error_responses", self.error_responses),
            ("retransmitted_segments", self.retransmitted_segments),
            ("reordered_segments", self.reordered_segments),
            ("left_open_connections", self.left_open_connections),
            ("http2_transactions", self.http2_transactions),
            ("http2_connections", self.http2_connections),
            ("tls_connections", self.tls_connections),
            ("first_ts_ns", self.first_ts_ns),
            ("last_ts_ns", self.last_ts_ns),
        ];
        writeln!(out, "{{")?;
        for (i, (k, v)) in fields.iter().enumerate() {
            let comma = if i + 1 < fields.len() { "," } else { "" };
            writeln!(out, "  \"{k}\": {v}{comma}")?;
        }
        writeln!(out, "}}")
    }
}

/// One line of the optional per-transaction truth (JSON lines); `stream`
/// is the HTTP/2 stream id.
#[allow(clippy::too_many_arguments)]
pub fn write_line(
    out: &mut impl Write,
    conn: u64,
    client: &str,
    server: &str,
    t: &TxnInfo,
    pipelined: bool,
    stream: Option<u32>,
) -> io::Result<()> {
    write!(out, "{{\"conn\":{conn},")?;
    if let Some(id) = stream {
        write!(out, "\"stream\":{id},")?;
    }
    write!(out, "\"client\":\"{client}\",\"server\":\"{server}\",\"method\":\"{}\",\"host\":\"{}\",\"path\":\"", t.method, t.host)?;
    for &b in t.path.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.write_all(b"\\")?;
        }
        out.write_all(&[b])?;
    }
    writeln!(
        out,
        "\",\"status\":{},\"static\":{},\"gzip\":{},\"chunked\":{},\"pipelined\":{pipelined},\"request_body\":{},\"response_body\":{}}}",
        t.status, t.is_static, t.gzip, t.chunked, t.request_body, t.response_body
    )
}
