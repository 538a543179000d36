//! What can be wrong with an HTTP/1 message, typed as Suricata's app-layers
//! type their anomaly events: each is counted under `http_parse_errors`
//! and under its own reason, and marks the transaction it touched (a
//! record flag), so a consumer sees which records were parsed around a
//! problem — request smuggling attempts among them.

use crate::stats::{Counter, ShardStats};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpAnomaly {
    /// Bytes where a message should begin do not look like one; they are
    /// skipped to the next plausible message.
    BadStart,
    /// A head that could not be parsed; its message is skipped.
    BadHead,
    /// A chunked body whose chunk framing broke; the message ends there.
    BadChunk,
    /// Framing headers that cannot be read or contradict each other
    /// (Content-Length, Transfer-Encoding); the message is framed by a
    /// fallback (a request: no body; a response: until the connection closes).
    BadFraming,
}

impl HttpAnomaly {
    /// The counter of this reason (`http_parse_errors` counts them all).
    pub fn counter(self) -> Counter {
        match self {
            HttpAnomaly::BadStart => Counter::HttpBadStart,
            HttpAnomaly::BadHead => Counter::HttpBadHead,
            HttpAnomaly::BadChunk => Counter::HttpBadChunk,
            HttpAnomaly::BadFraming => Counter::HttpBadFraming,
        }
    }

    /// Counts one occurrence: the total and its reason.
    pub fn count(self, stats: &ShardStats) {
        stats.inc(Counter::HttpParseErrors);
        stats.inc(self.counter());
    }
}
