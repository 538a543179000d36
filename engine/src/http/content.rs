//! Content codings: undoing `Content-Encoding` (and any transfer coding
//! other than chunked) on a finished message's body, within MAX_BODY_BYTES.
//!
//! Runs once per message, when its transaction is handed to output, so a
//! filtered transaction (never handed over) is never decoded.
//!
//! Limits, and why they hold against bombs:
//! - every layer writes at most `max_out + 1` bytes (the extra byte tells
//!   "there was more"), so memory and CPU are bounded by the cap, whatever
//!   the compression ratio;
//! - a chain has at most [`MAX_LAYERS`] codings;
//! - zstd frames may not ask for a window beyond 8 MiB (RFC 9659's limit
//!   for HTTP), brotli's window is at most 16 MiB by format.
//!
//! gzip and deflate go through libdeflater when the output fits the cap:
//! it is the fastest inflater but decodes whole buffers only, into an
//! output buffer sized up front. A gzip trailer states the size; for zlib
//! and raw deflate the buffer grows from a guess. When the output would
//! exceed the cap, or the input was cut short, a streaming inflater
//! (flate2) yields the prefix instead.
//!
//! A gzip body may be several members (RFC 1952 §2.2), and a zstd body
//! several frames: all are decoded, their outputs joined. libdeflate
//! stops after one member (ignoring what follows), so it only gets bodies
//! that cannot hold a second one; a size stated by a trailer or frame
//! header is trusted only when it covers the whole body.

use std::cell::RefCell;
use std::io::{ErrorKind, Read};

use super::{Flags, Message, Transaction};
use crate::stats::{Counter, ShardStats};

/// Most codings one body may carry ("gzip, br" is two).
pub const MAX_LAYERS: usize = 4;

/// zstd window limit: 2^23 = 8 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Br,
    Zstd,
}

impl Coding {
    /// A coding token; `Ok(None)` for identity, `Err` for codings we cannot undo.
    pub fn parse(token: &[u8]) -> Result<Option<Coding>, DecodeError> {
        let t = token.trim_ascii();
        let is = |s: &str| t.eq_ignore_ascii_case(s.as_bytes());
        Ok(Some(if is("gzip") || is("x-gzip") {
            Coding::Gzip
        } else if is("deflate") {
            Coding::Deflate
        } else if is("br") {
            Coding::Br
        } else if is("zstd") {
            Coding::Zstd
        } else if is("identity") || t.is_empty() {
            return Ok(None);
        } else {
            return Err(DecodeError::Unsupported);
        }))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A coding we do not implement (compress, exi, ...), or too many layers.
    Unsupported,
    /// The data is not valid in its coding.
    Corrupt,
}

/// Bounds for one decode.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most bytes of output kept (MAX_BODY_BYTES).
    pub max_out: usize,
    /// Largest output buffer reserved before the size is known (BUFFER_CAP).
    pub reserve: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// At most `max_out` bytes.
    pub body: Vec<u8>,
    /// The full decoded size, when known: the decode finished, or the
    /// format states it (gzip trailer, zstd frame header).
    pub full_size: Option<u64>,
    /// Output was cut at the cap, or the input ended before the coding did.
    pub truncated: bool,
}

/// Undoes `codings` (in the order they were applied) on `input`.
/// `input_cut` says the input is known to be incomplete (a hole, the
/// wire-side cap, a connection cut mid-body): the decodable prefix is then
/// the result, not an error.
pub fn decode_chain(
    codings: &[Coding],
    input: &[u8],
    input_cut: bool,
    lim: Limits,
) -> Result<Decoded, DecodeError> {
    if codings.len() > MAX_LAYERS {
        return Err(DecodeError::Unsupported);
    }
    let mut cur: Option<Decoded> = None;
    for &c in codings.iter().rev() {
        let (data, cut) = match &cur {
            Some(d) => (d.body.as_slice(), d.truncated),
            None => (input, input_cut),
        };
        cur = Some(decode_layer(c, data, cut, lim)?);
    }
    Ok(cur.unwrap_or_else(|| Decoded {
        body: input.to_vec(),
        full_size: Some(input.len() as u64),
        truncated: input_cut,
    }))
}

/// One coding.
pub fn decode_layer(
    c: Coding,
    input: &[u8],
    input_cut: bool,
    lim: Limits,
) -> Result<Decoded, DecodeError> {
    // First guess at the output: eight times the input, within BUFFER_CAP.
    let lim = Limits {
        reserve: input
            .len()
            .saturating_mul(8)
            .clamp(4096, lim.reserve.max(4096)),
        ..lim
    };
    match c {
        Coding::Gzip => gzip(input, input_cut, lim),
        Coding::Deflate => deflate(input, input_cut, lim),
        Coding::Br => {
            let r = brotli_decompressor::Decompressor::new(input, 16 * 1024);
            stream(r, input_cut, lim, None)
        }
        Coding::Zstd => {
            let mut r = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|_| DecodeError::Corrupt)?;
            r.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|_| DecodeError::Corrupt)?;
            // The frame header may state the size; it only matters once
            // the output outgrows the cap, and only if that frame is the
            // whole body (a header states its own frame's size).
            let one_frame = zstd::zstd_safe::find_frame_compressed_size(input) == Ok(input.len());
            let stated = zstd::zstd_safe::get_frame_content_size(input)
                .ok()
                .flatten()
                .filter(|n| one_frame && *n > lim.max_out as u64);
            stream(r, input_cut, lim, stated)
        }
    }
}

thread_local! {
    // One libdeflate state per shard thread, reused for every body.
    static INFLATER: RefCell<libdeflater::Decompressor> =
        RefCell::new(libdeflater::Decompressor::new());
}

/// Whether a second gzip member may follow the first: a member starts
/// with ID1 ID2 CM (1f 8b 08) and a flag byte whose reserved bits are
/// clear, and none can start before the first one's smallest end (a
/// 10-byte header, 2 bytes of empty deflate, an 8-byte trailer). A match
/// inside compressed data only costs the slower decoder.
fn may_hold_members(input: &[u8]) -> bool {
    const FIRST_END: usize = 20;
    let Some(rest) = input.get(FIRST_END..) else {
        return false;
    };
    memchr::memmem::find_iter(rest, &[0x1f, 0x8b, 0x08])
        .any(|i| rest.get(i + 3).is_some_and(|flg| flg & 0xe0 == 0))
}

fn gzip(input: &[u8], input_cut: bool, lim: Limits) -> Result<Decoded, DecodeError> {
    let one_member = !may_hold_members(input);
    // ISIZE, the trailer's size modulo 2^32: a hint, since a sender can
    // lie, and with several members only the last one's size.
    let isize = (!input_cut && one_member && input.len() >= 18).then(|| {
        let t = &input[input.len() - 4..]; // len >= 18, checked above
        u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as u64
    });
    if let Some(n) = isize.filter(|n| *n as usize <= lim.max_out) {
        let mut out = vec![0u8; n as usize];
        let r = INFLATER.with(|d| d.borrow_mut().gzip_decompress(input, &mut out));
        // libdeflate checked the member's own trailer: the one at the end
        // of the input is it unless bytes follow the member.
        if r.is_ok_and(|len| len as u64 == n) {
            return Ok(Decoded {
                full_size: Some(n),
                body: out,
                truncated: false,
            });
        }
        // A lying trailer or trailing bytes: stream it.
    }
    let stated = isize.filter(|n| *n as usize > lim.max_out);
    // Every member, one after the other.
    stream(
        flate2::read::MultiGzDecoder::new(input),
        input_cut,
        lim,
        stated,
    )
}

/// RFC 9110's "deflate" is zlib-wrapped, but many servers send raw
/// deflate; the two-byte zlib header tells them apart.
fn is_zlib(input: &[u8]) -> bool {
    input.len() >= 2
        && input[0] & 0x0f == 8
        && input[0] >> 4 <= 7
        && (u16::from(input[0]) << 8 | u16::from(input[1])) % 31 == 0
}

fn deflate(input: &[u8], input_cut: bool, lim: Limits) -> Result<Decoded, DecodeError> {
    let zlib = is_zlib(input);
    if !input_cut {
        match inflate_whole(input, zlib, lim) {
            Whole::Done(body) => return Ok(whole(body)),
            // A raw stream whose first bytes happen to look like zlib.
            Whole::Bad if zlib => {
                if let Whole::Done(body) = inflate_whole(input, false, lim) {
                    return Ok(whole(body));
                }
            }
            // Too big for the cap, or damaged: the streaming inflater
            // yields the prefix, or the error.
            Whole::TooBig | Whole::Bad => {}
        }
    }
    if zlib {
        stream(flate2::read::ZlibDecoder::new(input), input_cut, lim, None)
    } else {
        stream(
            flate2::read::DeflateDecoder::new(input),
            input_cut,
            lim,
            None,
        )
    }
}

fn whole(body: Vec<u8>) -> Decoded {
    Decoded {
        full_size: Some(body.len() as u64),
        body,
        truncated: false,
    }
}

enum Whole {
    Done(Vec<u8>),
    /// More than `max_out` bytes of output.
    TooBig,
    Bad,
}

/// libdeflater into a buffer that starts at a guess and grows 4x per try,
/// up to the cap: the retries cost at most a third more than one decode.
fn inflate_whole(input: &[u8], zlib: bool, lim: Limits) -> Whole {
    // At most the cap, even a cap of 0: more output than that is
    // `TooBig`, and the streaming path keeps the prefix.
    let ceiling = lim.max_out;
    let mut size = input
        .len()
        .saturating_mul(8)
        .clamp(4096, lim.reserve.max(4096))
        .min(ceiling);
    INFLATER.with(|d| {
        let mut d = d.borrow_mut();
        loop {
            let mut out = vec![0u8; size];
            let r = if zlib {
                d.zlib_decompress(input, &mut out)
            } else {
                d.deflate_decompress(input, &mut out)
            };
            match r {
                Ok(n) => {
                    out.truncate(n);
                    return Whole::Done(out);
                }
                Err(libdeflater::DecompressionError::InsufficientSpace) if size < ceiling => {
                    size = size.saturating_mul(4).min(ceiling);
                }
                Err(libdeflater::DecompressionError::InsufficientSpace) => return Whole::TooBig,
                Err(libdeflater::DecompressionError::BadData) => return Whole::Bad,
            }
        }
    })
}

/// Reads a streaming decoder until it ends or yields `max_out + 1` bytes.
fn stream<R: Read>(
    r: R,
    input_cut: bool,
    lim: Limits,
    stated: Option<u64>,
) -> Result<Decoded, DecodeError> {
    let mut out = Vec::with_capacity(lim.reserve.min(lim.max_out + 1));
    let res = r.take(lim.max_out as u64 + 1).read_to_end(&mut out);
    let over = out.len() > lim.max_out;
    out.truncate(lim.max_out);
    match res {
        Ok(_) if over => Ok(Decoded {
            body: out,
            full_size: stated,
            truncated: true,
        }),
        Ok(_) => Ok(Decoded {
            full_size: (!input_cut).then_some(out.len() as u64),
            body: out,
            truncated: input_cut,
        }),
        // The data stopped before the coding's end: what came out is a
        // valid prefix. Corrupt data fails unless the input is known cut.
        Err(e) if !out.is_empty() && (input_cut || e.kind() == ErrorKind::UnexpectedEof) => {
            Ok(Decoded {
                body: out,
                full_size: None,
                truncated: true,
            })
        }
        Err(_) => Err(DecodeError::Corrupt),
    }
}

/// The codings applied to a message's body, in order: Content-Encoding,
/// then Transfer-Encoding without chunked. Empty when there are none.
pub fn message_codings(msg: &Message) -> Result<Vec<Coding>, DecodeError> {
    // One pass over the fields; Transfer-Encoding's codings go after all
    // of Content-Encoding's whatever the field order.
    let mut out = Vec::new();
    let mut transfer = Vec::new();
    for (n, v) in msg.head.headers() {
        let te = n.eq_ignore_ascii_case(b"transfer-encoding");
        if !te && !n.eq_ignore_ascii_case(b"content-encoding") {
            continue;
        }
        for token in v.split(|b| *b == b',') {
            if te && token.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                continue;
            }
            if let Some(c) = Coding::parse(token)? {
                if te {
                    transfer.push(c);
                } else {
                    out.push(c);
                }
            }
        }
    }
    out.append(&mut transfer);
    Ok(out)
}

fn coding_name(c: Coding) -> &'static str {
    match c {
        Coding::Gzip => "gzip",
        Coding::Deflate => "deflate",
        Coding::Br => "br",
        Coding::Zstd => "zstd",
    }
}

/// What happened to one message's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No coding to undo (or no body).
    Plain,
    Decoded,
    /// Left as captured.
    Failed,
}

/// Decodes a message's body in place. On success `body` holds the decoded
/// bytes, `body_size` the full decoded size (or, when unknown after the
/// cap stopped decoding, the bytes decoded), and `content_encoding` the
/// codings removed. On failure the body stays as captured.
pub fn decode_message(msg: &mut Message, lim: Limits, stats: &ShardStats) -> Outcome {
    if msg.body.is_empty() {
        return Outcome::Plain;
    }
    let codings = match message_codings(msg) {
        Ok(c) if c.is_empty() => return Outcome::Plain,
        Ok(c) => c,
        Err(_) => {
            stats.inc(Counter::HttpDecodeFailed);
            return Outcome::Failed;
        }
    };
    // Bytes after a hole belong to the middle of the stream: decode only
    // what precedes it.
    let end = msg
        .body_gap_at
        .unwrap_or(msg.body.len())
        .min(msg.body.len());
    let cut = msg.body_truncated || !msg.complete || msg.gap || msg.body_gap_at.is_some();
    match decode_chain(&codings, &msg.body[..end], cut, lim) {
        Ok(d) => {
            if d.truncated && !msg.body_truncated && d.body.len() >= lim.max_out {
                stats.inc(Counter::HttpBodyTruncated);
            }
            msg.body_size = d.full_size.unwrap_or(d.body.len() as u64);
            msg.body_truncated = d.truncated;
            msg.body = d.body;
            let names: Vec<&str> = codings.iter().map(|c| coding_name(*c)).collect();
            msg.content_encoding = Some(names.join(", "));
            stats.inc(Counter::HttpDecoded);
            Outcome::Decoded
        }
        Err(_) => {
            stats.inc(Counter::HttpDecodeFailed);
            Outcome::Failed
        }
    }
}

/// Decodes both messages of a transaction; flags a failure.
pub fn decode_transaction(t: &mut Transaction, lim: Limits, stats: &ShardStats) {
    for m in [t.request.as_mut(), t.response.as_mut()]
        .into_iter()
        .flatten()
    {
        if decode_message(m, lim, stats) == Outcome::Failed {
            t.flags.set(Flags::BODY_DECODE_FAILED);
        }
    }
}

#[cfg(test)]
mod tests;
