//! gRPC calls over HTTP/2: the service and method from `:path`, each
//! direction's length-prefixed messages (decompressed per
//! `grpc-encoding`), and the status from the trailers (or from a
//! trailers-only response). Protobuf payloads stay opaque: without the
//! schema they are bytes, which the record carries as base64.

use crate::http::content::{decode_layer, Coding, Limits};
use crate::http::{Head, Message, Transaction};
use crate::stats::{Counter, ShardStats};

/// Bytes of a message prefix: a compressed flag and a 32-bit length.
const PREFIX_LEN: usize = 5;

/// Most messages kept per direction; more are counted, not kept.
pub const MAX_MESSAGES: usize = 1024;

/// One direction's messages.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Messages {
    /// Kept messages, decompressed when they were compressed.
    pub kept: Vec<Vec<u8>>,
    /// Messages whose prefix was seen (kept or not).
    pub count: u64,
    /// Some message was cut or not kept: the body was truncated or had a
    /// hole, the output cap was reached, or a message did not decompress.
    pub incomplete: bool,
}

/// What the record's `grpc` object holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GrpcCall {
    pub service: String,
    pub method: String,
    /// `grpc-status` (0 is OK); None when no trailers were seen.
    pub status: Option<u32>,
    /// `grpc-message`, percent-decoded.
    pub message: Option<String>,
    pub request: Messages,
    pub response: Messages,
}

/// Whether a head announces gRPC (`application/grpc`, `+proto`, ...).
pub fn is_grpc(head: &Head) -> bool {
    head.header("content-type")
        .is_some_and(|v| v.len() >= 16 && v[..16].eq_ignore_ascii_case(b"application/grpc"))
}

/// Fills `t.grpc` when the transaction is a gRPC call. Bodies are the
/// kept (and already limited) bytes; `lim` caps each direction's
/// decompressed messages together.
pub fn attach(t: &mut Transaction, lim: Limits, stats: &ShardStats) {
    let Some(req) = &t.request else { return };
    if !is_grpc(&req.head) {
        return;
    }
    let (service, method) = split_path(req.head.target());
    let mut call = GrpcCall {
        service: service.to_owned(),
        method: method.to_owned(),
        ..GrpcCall::default()
    };
    call.request = messages(req, lim, stats);
    if let Some(resp) = &t.response {
        call.response = messages(resp, lim, stats);
        // Trailers carry the status; a trailers-only response carries it
        // in its one header block.
        let status_head = resp.trailers.as_deref().unwrap_or(&resp.head);
        let fields = [status_head, &resp.head];
        call.status = fields.iter().find_map(|h| {
            let v = h.header("grpc-status")?;
            std::str::from_utf8(v).ok()?.trim().parse().ok()
        });
        call.message = fields
            .iter()
            .find_map(|h| h.header("grpc-message"))
            .map(percent_decode);
    }
    t.grpc = Some(Box::new(call));
}

/// `/package.Service/Method` → (`package.Service`, `Method`).
fn split_path(path: &str) -> (&str, &str) {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.rsplit_once('/').unwrap_or((path, ""))
}

/// The message coding a head names in `grpc-encoding`; Err for one we
/// cannot undo (snappy, a custom one).
fn coding(head: &Head) -> Result<Option<Coding>, ()> {
    match head.header("grpc-encoding").map(<[u8]>::trim_ascii) {
        None | Some(b"identity") | Some(b"") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case(b"gzip") => Ok(Some(Coding::Gzip)),
        Some(v) if v.eq_ignore_ascii_case(b"deflate") => Ok(Some(Coding::Deflate)),
        Some(v) if v.eq_ignore_ascii_case(b"zstd") => Ok(Some(Coding::Zstd)),
        Some(_) => Err(()),
    }
}

/// Splits a body into its messages.
fn messages(msg: &Message, lim: Limits, stats: &ShardStats) -> Messages {
    let mut out = Messages::default();
    let coding = coding(&msg.head);
    // Bytes after a hole are not at a message boundary we know.
    let body = &msg.body[..msg
        .body_gap_at
        .unwrap_or(msg.body.len())
        .min(msg.body.len())];
    let cut = msg.body_truncated || msg.body_gap_at.is_some() || !msg.complete;
    let mut budget = lim.max_out;
    let mut rest = body;
    while rest.len() >= PREFIX_LEN {
        let compressed = rest[0] & 1 != 0;
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        out.count += 1;
        let payload = &rest[PREFIX_LEN..];
        let whole = len <= payload.len();
        let data = &payload[..len.min(payload.len())];
        rest = &payload[data.len()..];
        if !whole {
            out.incomplete = true;
        }
        if out.kept.len() >= MAX_MESSAGES || budget == 0 {
            out.incomplete = true;
            continue;
        }
        let kept = match (compressed, coding) {
            (false, _) | (true, Ok(None)) => Some(data.to_vec()),
            (true, Ok(Some(c))) => {
                let lim = Limits {
                    max_out: budget,
                    ..lim
                };
                match decode_layer(c, data, !whole, lim) {
                    Ok(d) => {
                        out.incomplete |= d.truncated;
                        stats.inc(Counter::HttpDecoded);
                        Some(d.body)
                    }
                    Err(_) => None,
                }
            }
            (true, Err(())) => None,
        };
        match kept {
            Some(mut m) => {
                if m.len() > budget {
                    m.truncate(budget);
                    out.incomplete = true;
                }
                budget -= m.len();
                out.kept.push(m);
            }
            None => {
                // Kept as sent rather than lost: still bytes the reader can
                // decode with the right codec.
                stats.inc(Counter::HttpDecodeFailed);
                out.incomplete = true;
                let m = &data[..data.len().min(budget)];
                budget -= m.len();
                out.kept.push(m.to_vec());
            }
        }
    }
    if !rest.is_empty() || cut {
        out.incomplete = true;
    }
    out
}

/// `grpc-message` is percent-encoded (gRPC's PROTOCOL-HTTP2); bytes that
/// are not a valid escape stay as they are.
fn percent_decode(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if v[i] == b'%' && i + 2 < v.len() {
            if let (Some(h), Some(l)) = (hex(v[i + 1]), hex(v[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_and_method_from_the_path() {
        assert_eq!(split_path("/test.Echo/Unary"), ("test.Echo", "Unary"));
        assert_eq!(split_path("/a.b.C/D?x"), ("a.b.C", "D"));
        assert_eq!(split_path("odd"), ("odd", ""));
        assert_eq!(split_path(""), ("", ""));
    }

    fn head(fields: &[(&str, &str)], request: bool) -> Head {
        let mut b = crate::http::HeadBuilder::default();
        if request {
            b.method(b"POST");
            b.target(b"/pkg.Svc/Call");
        } else {
            b.status(b"200");
        }
        for (n, v) in fields {
            b.field(n.as_bytes(), v.as_bytes());
        }
        b.build(request, crate::http::Version::Http2)
    }

    fn framed(compressed: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![compressed as u8];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    const LIM: Limits = Limits {
        max_out: 1 << 20,
        reserve: 4096,
    };

    #[test]
    fn messages_status_and_compression() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a compressed reply").unwrap();
        let gz = gz.finish().unwrap();
        let mut rq = Message::new(head(&[("content-type", "application/grpc+proto")], true), 0);
        rq.body = [framed(false, b"one"), framed(false, b"")].concat();
        rq.complete = true;
        let mut rs = Message::new(
            head(
                &[
                    ("content-type", "application/grpc"),
                    ("grpc-encoding", "gzip"),
                ],
                false,
            ),
            0,
        );
        rs.body = [framed(true, &gz), framed(false, b"plain")].concat();
        rs.complete = true;
        rs.trailers = Some(Box::new(head(
            &[("grpc-status", "5"), ("grpc-message", "no%20such%20item")],
            false,
        )));
        let mut t = Transaction {
            request: Some(rq),
            response: Some(rs),
            ..Transaction::new(0)
        };
        let stats = ShardStats::default();
        attach(&mut t, LIM, &stats);
        let call = t.grpc.unwrap();
        assert_eq!(
            (call.service.as_str(), call.method.as_str()),
            ("pkg.Svc", "Call")
        );
        assert_eq!(call.status, Some(5));
        assert_eq!(call.message.as_deref(), Some("no such item"));
        assert_eq!(call.request.kept, [b"one".to_vec(), Vec::new()]);
        assert_eq!(
            call.response.kept,
            [b"a compressed reply".to_vec(), b"plain".to_vec()]
        );
        assert_eq!((call.request.count, call.response.count), (2, 2));
        assert!(!call.request.incomplete && !call.response.incomplete);
    }

    #[test]
    fn trailers_only_and_cut_bodies() {
        let mut rq = Message::new(head(&[("content-type", "application/grpc")], true), 0);
        // The second message's prefix promises more than arrived.
        rq.body = [framed(false, b"whole"), vec![0, 0, 0, 0, 50, 1, 2]].concat();
        rq.body_truncated = true;
        let rs = Message::new(
            head(
                &[("content-type", "application/grpc"), ("grpc-status", "14")],
                false,
            ),
            0,
        );
        let mut t = Transaction {
            request: Some(rq),
            response: Some(rs),
            ..Transaction::new(0)
        };
        attach(&mut t, LIM, &ShardStats::default());
        let call = t.grpc.unwrap();
        assert_eq!(call.status, Some(14));
        assert_eq!(call.request.count, 2);
        assert_eq!(call.request.kept, [b"whole".to_vec(), vec![1, 2]]);
        assert!(call.request.incomplete);
    }

    #[test]
    fn not_grpc_gets_no_object() {
        let mut t = Transaction {
            request: Some(Message::new(
                head(&[("content-type", "application/json")], true),
                0,
            )),
            ..Transaction::new(0)
        };
        attach(&mut t, LIM, &ShardStats::default());
        assert!(t.grpc.is_none());
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode(b"not%20found"), "not found");
        assert_eq!(percent_decode(b"100%"), "100%");
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
        assert_eq!(percent_decode(b"%E2%9C%93"), "\u{2713}");
    }
}
