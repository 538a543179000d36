//! Harnesses for the byte-stream layers under HTTP: TCP reassembly of one
//! direction, chunked framing, content decoding and key-log lines. Each
//! checks what the layer promises, not only that it does not panic.

use crate::flow::reassembly::{HalfStream, SeqNumber, StreamConsumer, TcpSegment};
use crate::http::chunked::{ChunkDecoder, ChunkState};
use crate::http::content::{self, Coding, DecodeError, Limits};
use crate::stats::ShardStats;
use crate::tls::follow::Followed;
use crate::tls::keylog::{self, KeyStore};

/// The byte a sender puts at stream offset `p` (from the first byte after
/// the SYN): every copy of a range carries the same bytes unless the
/// script says otherwise, so what comes out can be checked.
fn pattern(p: i64) -> u8 {
    (p.wrapping_mul(0x9e37) >> 5) as u8 ^ p as u8
}

/// Checks what a `HalfStream` delivers against `pattern`.
struct Checked {
    /// Stream offset of the next byte to be delivered, once known.
    pos: Option<i64>,
    /// Whether bytes that differ from `pattern` were sent.
    conflicts: bool,
    fins: u32,
    delivered: u64,
}

impl StreamConsumer for Checked {
    fn on_data(&mut self, data: &[u8], _ts_ns: u64) {
        assert_eq!(self.fins, 0, "data after the FIN");
        assert!(!data.is_empty(), "empty delivery");
        let pos = self.pos.expect("data before the stream was synced");
        if !self.conflicts {
            for (i, b) in data.iter().enumerate() {
                assert_eq!(
                    *b,
                    pattern(pos + i as i64),
                    "byte {} out of place",
                    pos + i as i64
                );
            }
        }
        self.pos = Some(pos + data.len() as i64);
        self.delivered += data.len() as u64;
    }
    fn on_gap(&mut self, len: u64, _ts_ns: u64) {
        assert_eq!(self.fins, 0, "gap after the FIN");
        let pos = self.pos.expect("gap before the stream was synced");
        self.pos = Some(pos + len as i64);
    }
    fn on_fin(&mut self, _ts_ns: u64) {
        self.fins += 1;
        assert_eq!(self.fins, 1, "two FINs delivered");
    }
}

/// One direction of a TCP connection through `HalfStream`.
///
/// The first byte: bits 0-1 pick the buffer cap (64 B to 4 KiB, or 0),
/// bit 2 starts without a SYN (mid-stream), bit 3 puts the initial
/// sequence number just below 2^32, so that it wraps. Then operations,
/// each a header byte `h`:
/// - `h & 3 == 0`: a segment. Two bytes of offset (big-endian, from the
///   first byte after the SYN; bit 15 makes it negative, an old copy), a
///   length byte, that many bytes are taken from the input only to be
///   replaced by the pattern, unless `h & 8` (conflicting bytes: the
///   input's own). `h & 4`: FIN after it.
/// - `h & 3 == 1`: skip the first hole.
/// - `h & 3 == 2`: flush what has waited more than a second.
/// - `h & 3 == 3`: time passes, `h >> 2` quarter seconds.
///
/// Every delivered byte must be the pattern's byte at its offset (holes
/// counted), at most one FIN, and the buffer cap holds throughout.
pub fn reassembly(data: &[u8]) {
    let Some((&first, mut ops)) = data.split_first() else {
        return;
    };
    let max_buffer = [0usize, 64, 512, 4096][usize::from(first & 3)];
    let midstream = first & 4 != 0;
    let isn = if first & 8 != 0 { 0xffff_ff00u32 } else { 1000 };
    let stats = ShardStats::default();
    let mut half = HalfStream::default();
    let mut out = Checked {
        pos: None,
        conflicts: false,
        fins: 0,
        delivered: 0,
    };
    let mut now = 1_000_000_000u64;
    let seq_at = |offset: i64| SeqNumber(isn).after(1).after(offset as u32 as usize);
    if !midstream {
        half.segment(
            TcpSegment {
                seq: SeqNumber(isn),
                syn: true,
                fin: false,
                payload: &[],
                ts_ns: now,
            },
            max_buffer,
            &stats,
            &mut out,
        );
        out.pos = Some(0);
    }
    let mut buf = Vec::new();
    while let Some((&h, rest)) = ops.split_first() {
        ops = rest;
        now += 1_000;
        match h & 3 {
            0 => {
                let [hi, lo, len, rest @ ..] = ops else {
                    break;
                };
                let raw = u16::from_be_bytes([*hi, *lo]);
                let offset = i64::from(raw & 0x7fff) * if raw & 0x8000 != 0 { -1 } else { 1 };
                let len = usize::from(*len).min(rest.len());
                let (given, rest) = rest.split_at(len);
                ops = rest;
                buf.clear();
                if h & 8 != 0 {
                    buf.extend_from_slice(given);
                    out.conflicts |= (0..len).any(|i| given[i] != pattern(offset + i as i64));
                } else {
                    buf.extend((0..len as i64).map(|i| pattern(offset + i)));
                }
                let fin = h & 4 != 0;
                if out.pos.is_none() && (len > 0 || fin) {
                    // The first segment of a mid-stream connection sets
                    // where the stream starts.
                    out.pos = Some(offset);
                }
                half.segment(
                    TcpSegment {
                        seq: seq_at(offset),
                        syn: false,
                        fin,
                        payload: &buf,
                        ts_ns: now,
                    },
                    max_buffer,
                    &stats,
                    &mut out,
                );
            }
            1 => {
                half.skip_hole(now, &stats, &mut out);
            }
            2 => half.flush_aged(now, 1_000_000_000, &stats, &mut out),
            _ => now += u64::from(h >> 2) * 250_000_000,
        }
        assert!(
            half.buffered_bytes() <= max_buffer,
            "{} bytes buffered over a cap of {max_buffer}",
            half.buffered_bytes()
        );
    }
    half.close(now, &stats, &mut out);
    assert_eq!(half.buffered_bytes(), 0, "bytes left after close");
    assert!(half.oldest_pending_ts().is_none());
}

/// Chunked framing: the first byte (times 16) is the trailer limit, the
/// second the size of the pieces the body arrives in (1 to 256); the
/// rest is the body. Fed whole and fed in pieces, the decoder must agree:
/// the same data, the same end, the same bytes consumed.
pub fn chunked(data: &[u8]) {
    let [limit, piece, body @ ..] = data else {
        return;
    };
    let max_trailer = usize::from(*limit) * 16;
    let piece = usize::from(*piece) + 1;
    let whole = run_chunked(max_trailer, body, body.len().max(1));
    let split = run_chunked(max_trailer, body, piece);
    match (&whole, &split) {
        (Ok((a, n, sa)), Ok((b, m, sb))) => {
            assert_eq!(a, b, "data differs when fed in {piece}-byte pieces");
            assert_eq!(
                n, m,
                "bytes consumed differ when fed in {piece}-byte pieces"
            );
            assert_eq!(sa, sb);
        }
        (Err(a), Err(b)) => {
            // Both failed: what came out before is the same stream.
            let n = a.len().min(b.len());
            assert_eq!(a[..n], b[..n]);
        }
        (Ok((a, ..)), Err(b)) | (Err(b), Ok((a, ..))) => {
            // One failed and the other did not: only the limits on a line
            // still being read may tell pieces from the whole (a line is
            // checked as it grows). The data before agrees.
            let n = a.len().min(b.len());
            assert_eq!(a[..n], b[..n]);
        }
    }
}

/// Data out, bytes consumed and the final state; or the data out before
/// the error.
type ChunkRun = Result<(Vec<u8>, usize, ChunkState), Vec<u8>>;

fn run_chunked(max_trailer: usize, body: &[u8], piece: usize) -> ChunkRun {
    let mut d = ChunkDecoder::new(max_trailer);
    let mut out = Vec::new();
    let mut consumed = 0;
    for p in body.chunks(piece) {
        match d.feed(p, &mut |b| out.extend_from_slice(b)) {
            Ok(n) => {
                assert!(n <= p.len());
                consumed += n;
                if n < p.len() {
                    assert!(d.is_done(), "stopped early without being done");
                    break;
                }
            }
            Err(_) => return Err(out),
        }
    }
    if d.is_done() {
        // Done stays done and takes nothing more.
        assert_eq!(
            d.feed(b"5\r\nhello\r\n", &mut |_| panic!("data after the end")),
            Ok(0)
        );
    }
    Ok((out, consumed, d.state))
}

const CODINGS: [Coding; 4] = [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd];

/// Content decoding: one coding or a chain of them, with small limits.
///
/// The first byte: bits 0-2 the number of layers (5 or more is refused),
/// bit 3 the input is cut, bit 4 round trip (below). The second byte: two
/// bits per layer pick its coding (in the order applied). The third byte
/// (times 64) is the output cap, the fourth (times 64) the reservation.
/// The rest is the input.
///
/// Round trip: the input is compressed by the chain first (brotli is left
/// out: the engine has no brotli encoder), and the decode must give it
/// back (a prefix of it when a layer hits the cap).
pub fn decode(data: &[u8]) {
    let [how, which, cap, reserve, input @ ..] = data else {
        return;
    };
    let layers = usize::from(how & 7);
    let cut = how & 8 != 0;
    let round_trip = how & 16 != 0;
    let codings: Vec<Coding> = (0..layers)
        .map(|i| CODINGS[usize::from(which >> ((i % 4) * 2)) & 3])
        .collect();
    let lim = Limits {
        max_out: usize::from(*cap) * 64,
        reserve: usize::from(*reserve) * 64,
    };
    if round_trip && layers <= content::MAX_LAYERS {
        let codings: Vec<Coding> = codings
            .into_iter()
            .map(|c| if c == Coding::Br { Coding::Gzip } else { c })
            .collect();
        let mut encoded = input.to_vec();
        // Whether every layer's output fits the cap: then the whole input
        // must come back.
        let mut fits = input.len() <= lim.max_out;
        for &c in &codings {
            encoded = encode(c, &encoded, which & 0x80 != 0);
            fits &= encoded.len() <= lim.max_out;
        }
        // The outermost layer's input is not capped. When an outer layer
        // hits the cap, an inner one gets a cut input, and a cut input that
        // yields nothing is an error by design (the raw body is then kept).
        let d = match content::decode_chain(&codings, &encoded, false, lim) {
            Ok(d) => d,
            Err(e) if fits => panic!("{codings:?} of {} bytes: {e:?}", input.len()),
            Err(_) => return,
        };
        if layers > 0 {
            check_decoded(&d, lim);
        }
        assert_eq!(
            d.body,
            input[..d.body.len()],
            "{codings:?}: not a prefix of the input"
        );
        if layers == 0 {
            assert_eq!(d.body, input);
        } else if fits {
            assert!(
                d.body.len() == input.len().min(lim.max_out),
                "{codings:?}: {} bytes back of {}",
                d.body.len(),
                input.len()
            );
        }
        return;
    }
    match content::decode_chain(&codings, input, cut, lim) {
        Ok(d) if layers == 0 => {
            // No coding: the input as it is, uncapped (the engine decodes
            // only bodies with a coding, already within MAX_BODY_BYTES).
            assert_eq!(d.body, input);
            assert_eq!(d.truncated, cut);
        }
        Ok(d) => {
            assert!(layers <= content::MAX_LAYERS);
            check_decoded(&d, lim);
            if cut {
                assert!(d.truncated || layers == 0 || d.body.len() <= lim.max_out);
            }
        }
        Err(DecodeError::Unsupported) => assert!(layers > content::MAX_LAYERS),
        Err(DecodeError::Corrupt) => {}
    }
    for &c in CODINGS.iter() {
        if let Ok(d) = content::decode_layer(c, input, cut, lim) {
            check_decoded(&d, lim);
        }
    }
}

/// The promises of `Decoded`.
fn check_decoded(d: &content::Decoded, lim: Limits) {
    assert!(
        d.body.len() <= lim.max_out,
        "{} bytes out over a cap of {}",
        d.body.len(),
        lim.max_out
    );
    if !d.truncated {
        assert_eq!(
            d.full_size,
            Some(d.body.len() as u64),
            "untruncated, size unknown"
        );
    }
    if let Some(n) = d.full_size {
        assert!(
            n >= d.body.len() as u64,
            "full size {n} below the {} kept",
            d.body.len()
        );
    }
}

pub(super) fn encode(c: Coding, data: &[u8], raw_deflate: bool) -> Vec<u8> {
    use std::io::Write as _;
    let level = flate2::Compression::fast();
    match c {
        Coding::Gzip | Coding::Br => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(data).expect("in memory");
            e.finish().expect("in memory")
        }
        Coding::Deflate if raw_deflate => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
            e.write_all(data).expect("in memory");
            e.finish().expect("in memory")
        }
        Coding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).expect("in memory");
            e.finish().expect("in memory")
        }
        Coding::Zstd => zstd::encode_all(data, 1).expect("in memory"),
    }
}

/// Key-log lines: the first byte is the store's size (1 to 16), the
/// second the size of the pieces the file is read in (1 to 256); the rest
/// is the file. Lines are split as the follower splits them, parsed, and
/// stored; a stored secret must be found under its client random at
/// once, and the store must stay within its size. Each line on its own
/// through `parse_line`, re-formatted, must parse to the same line.
pub fn keylog(data: &[u8]) {
    let [size, piece, file @ ..] = data else {
        return;
    };
    let max_entries = usize::from(size & 15) + 1;
    let stats = ShardStats::default();
    let mut store = KeyStore::new(max_entries);
    let mut followed = Followed::new("/nonexistent/fuzz-keylog");
    let mut now = 0u64;
    for p in file.chunks(usize::from(*piece) + 1) {
        followed.lines(p, &stats, &mut |line| {
            now += 1_000_000_000;
            let (cr, label, secret) = (line.client_random, line.label, line.secret.clone());
            store.insert(line, now);
            let keys = store.get(&cr).expect("just stored");
            assert_eq!(
                keys.get(label).map(|s| s.as_bytes()),
                Some(secret.as_bytes())
            );
            assert!(store.len() <= max_entries);
            if now.is_multiple_of(7_000_000_000) {
                store.expire(now, 3_000_000_000);
            }
        });
    }
    for line in file.split(|b| *b == b'\n') {
        if let Ok(Some(l)) = keylog::parse_line(line) {
            let again = format!(
                "{} {} {}",
                l.label,
                hex(&l.client_random),
                hex(l.secret.as_bytes())
            );
            let l2 = keylog::parse_line(again.as_bytes())
                .expect("a re-formatted line parses")
                .expect("and is kept");
            assert_eq!(l2.label, l.label);
            assert_eq!(l2.client_random, l.client_random);
            assert_eq!(l2.secret.as_bytes(), l.secret.as_bytes());
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
