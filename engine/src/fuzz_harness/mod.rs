//! Entry points for the fuzzers in `fuzz/` and for the fuzz smoke test:
//! bytes in, nothing out, and no panic, arithmetic overflow or unbounded
//! buffering allowed. Each takes whatever bytes a fuzzer makes up.
//!
//! - `frame`: one captured frame through the decoders, for every link type.
//! - `conversation`: a TCP connection scripted by the input (direction,
//!   holes, reordering, FIN, time passing) through a whole shard: stream
//!   table, reassembly, HTTP parsing and pairing, body decoding and the
//!   JSON record. Sequence numbers are made right by the harness, so the
//!   fuzzer spends its time on what the engine does with the payload.
//! - `hpack`: header blocks through one HPACK decoder (from the start or
//!   mid-stream, any table and header-size limits).
//! - `h2_frames`: bytes through the HTTP/2 frame reader, header blocks
//!   joined from HEADERS/CONTINUATION into an HPACK decoder, and the
//!   mid-stream boundary heuristic at every offset.
//! - `reassembly` (`streams`): one TCP direction through `HalfStream`,
//!   segments at any offsets and in any order, every delivered byte
//!   checked against what was sent.
//! - `chunked` (`streams`): chunked framing fed whole and in pieces,
//!   which must agree.
//! - `decode` (`streams`): each content coding and chains of them, with
//!   small caps; compressed by the harness first for a round trip.
//! - `keylog` (`streams`): key-log files split into lines as the follower
//!   splits them, parsed and stored.
//! - `http1`, `h2_conn`, `tls` (`conn`): both directions of one
//!   connection through `HttpConn`: HTTP/1 parsing and pairing, HTTP/2
//!   from the first byte, and TLS 1.3 after a handshake (records sealed
//!   under the logged keys, so that decrypted bytes reach HTTP).
//! - `record` (`record`): a transaction made up from the input, written
//!   as a JSON record line.
//!
//! Each `fuzz/fuzz_targets/X.rs` calls `X` here; the tests below run every
//! one of them on their seeds and on mutated input (with overflow checks,
//! in the `ci` profile), and `fuzz/seeds/X/` holds the seeds as files.

mod conn;
mod record;
#[cfg(test)]
mod seeds;
mod streams;

pub use conn::{h2_conn, http1, tls};
pub use record::record;
pub use streams::{chunked, decode, keylog, reassembly};

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::decode::{self, DecodeOptions};
use crate::frame::{LinkType, Packet};
use crate::http::filter::Filters;
use crate::http2::frame::{self as h2frame, Frame, FrameReader};
use crate::http2::hpack as h2hpack;
use crate::output::RecordSink;
use crate::record::{RecordCtx, RecordView};
use crate::shard::{Shard, ShardSettings};
use crate::stats::{Counter, ShardHistograms, ShardStats};

const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Nflog,
];

/// The first byte picks the link type and whether IPIP is peeled.
pub fn frame(data: &[u8]) {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let pkt = Packet {
        ts_ns: 0,
        link: LINKS[pick as usize % LINKS.len()],
        data: frame,
    };
    let opts = DecodeOptions {
        ipip: pick & 0x80 != 0,
    };
    match decode::decode(&pkt, &opts) {
        Ok(seg) => {
            // The payload must lie inside the frame it came from.
            let (start, end) = (
                frame.as_ptr() as usize,
                frame.as_ptr() as usize + frame.len(),
            );
            let p = seg.payload.as_ptr() as usize;
            assert!(seg.payload.is_empty() || (p >= start && p + seg.payload.len() <= end));
            // The description of its wrappers agrees with the segment's
            // context: something was peeled exactly when it names something,
            // and a context id needs a wrapper.
            let e = decode::describe(&pkt, &opts).expect("a frame that decodes is described");
            assert_eq!(seg.wrapped, !e.tunnels.is_empty() || !e.vlans.is_empty());
            assert!(seg.ctx == 0 || seg.wrapped);
            assert!(e.tunnels.len() <= decode::MAX_WRAPPERS);
        }
        Err(e) => {
            assert!(decode::describe(&pkt, &opts).is_none());
            if e == decode::DecodeError::Fragment {
                // The reassembler takes whatever the decoder calls a
                // fragment: twice (a duplicate), then gives it up; a
                // datagram it completes must decode inside its own frame.
                let mut d = decode::defrag::Defrag::new();
                for _ in 0..2 {
                    d.take(&pkt, &opts, &mut |_, _| {}, &mut |whole, seg| {
                        if let Ok(seg) = seg {
                            let start = whole.data.as_ptr() as usize;
                            let p = seg.payload.as_ptr() as usize;
                            assert!(
                                seg.payload.is_empty()
                                    || (p >= start
                                        && p + seg.payload.len() <= start + whole.data.len())
                            );
                        }
                    });
                }
                d.finish(&mut |_, _| {});
                assert!(d.is_empty());
            }
        }
    }
    // The capture filter's view past IPv6 extension headers: the copy
    // without them is shorter and has none left to remove.
    use crate::bpf::ipv6_extensions::{extensions, Extensions};
    if let Extensions::Removed(without) = extensions(pkt.link, frame) {
        assert!(without.len() < frame.len());
        assert_eq!(extensions(pkt.link, &without), Extensions::None);
    }
}

/// Fragments of datagrams between two hosts, through one reassembler.
/// The first byte picks the wrapping (bits 0-1: IPv4 raw, IPv6 raw, IPv4
/// in a VLAN-tagged VXLAN frame, IPv6 in Ethernet). Then steps of a 4-byte
/// header (offset in 8-byte units, 13 bits, big-endian; a flags byte: bit
/// 0 more fragments, bits 1-2 which of 4 datagrams, bits 4-7 seconds
/// passing before it; the data length) and that much data. Returns the
/// datagrams completed that decoded to TCP.
pub fn defrag(data: &[u8]) -> usize {
    use crate::decode::defrag::Defrag;
    let Some((&pick, mut rest)) = data.split_first() else {
        return 0;
    };
    let mut segments = 0;
    let opts = DecodeOptions::default();
    let mut d = Defrag::new();
    let mut ts_ns = 1_700_000_000_000_000_000u64;
    while rest.len() >= 4 {
        let (h, tail) = rest.split_at(4);
        let len = (h[3] as usize).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let offset = u16::from_be_bytes([h[0], h[1]]) & 0x1fff;
        let (more, id) = (h[2] & 1 != 0, (h[2] >> 1) & 3);
        ts_ns += u64::from(h[2] >> 4) * 1_000_000_000;
        let frame = fragment_frame(pick & 3, offset, more, id, bytes);
        let pkt = Packet {
            ts_ns,
            link: if pick & 3 < 2 {
                LinkType::RawIp
            } else {
                LinkType::Ethernet
            },
            data: &frame,
        };
        if decode::decode(&pkt, &opts).err() != Some(decode::DecodeError::Fragment) {
            continue;
        }
        d.take(&pkt, &opts, &mut |_, _| {}, &mut |whole, seg| {
            let described = decode::describe(&whole, &opts);
            match seg {
                Ok(seg) => {
                    let start = whole.data.as_ptr() as usize;
                    let p = seg.payload.as_ptr() as usize;
                    assert!(
                        seg.payload.is_empty()
                            || (p >= start && p + seg.payload.len() <= start + whole.data.len())
                    );
                    assert!(described.is_some());
                    segments += 1;
                }
                Err(_) => assert!(described.is_none()),
            }
        });
        d.assert_consistent();
    }
    d.finish(&mut |_, _| {});
    assert!(d.is_empty());
    segments
}

/// One fragment (TCP, 10.9.0.1 to 10.9.0.2 or their IPv6 twins) as the
/// `defrag` harness wraps it.
fn fragment_frame(wrap: u8, offset: u16, more: bool, id: u8, data: &[u8]) -> Vec<u8> {
    let v6 = wrap % 2 == 1;
    let ip = if v6 {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[44, 64]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[6, 0]);
        p.extend_from_slice(&(offset << 3 | more as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, id]);
        p
    } else {
        let total = (20 + data.len() as u16).to_be_bytes();
        let field = (offset | if more { 0x2000 } else { 0 }).to_be_bytes();
        vec![
            0x45, 0, total[0], total[1], 0, id, field[0], field[1], 64, 6, 0, 0, 10, 9, 0, 1, 10,
            9, 0, 2,
        ]
    };
    let ip = [&ip[..], data].concat();
    let ether = |ethertype: u16, payload: &[u8]| {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    match wrap {
        0 | 1 => ip,
        3 => ether(0x86dd, &ip),
        _ => {
            // In VXLAN (VNI 42) over UDP 4789 over IPv4, on VLAN 7.
            let vx = [&[0x08, 0, 0, 0, 0, 0, 42, 0][..], &ether(0x0800, &ip)].concat();
            let ulen = (8 + vx.len() as u16).to_be_bytes();
            let udp = [&[0xc3, 0x50, 0x12, 0xb5, ulen[0], ulen[1], 0, 0][..], &vx].concat();
            let total = (20 + udp.len() as u16).to_be_bytes();
            let outer = [
                &[
                    0x45, 0, total[0], total[1], 0, 1, 0x40, 0, 64, 17, 0, 0, 192, 168, 9, 1, 192,
                    168, 9, 2,
                ][..],
                &udp,
            ]
            .concat();
            ether(0x8100, &[&[0, 7, 0x08, 0][..], &outer].concat())
        }
    }
}

/// Small limits, so that the fuzzer reaches them.
fn settings() -> ShardSettings {
    ShardSettings {
        max_stream_buffer: 4096,
        flush_interval_ns: 100_000_000,
        flush_age_ns: 1_000_000_000,
        idle_timeout_ns: 10_000_000_000,
        max_body: 2048,
        body_reserve: 512,
        max_head: 512,
        memory_budget: 1 << 20,
        // Redaction on, in hash mode, so crafted heads and bodies reach it.
        redact: std::sync::Arc::new(crate::http::redact::Redactor::new(
            "authorization,cookie,set-cookie",
            "password,a,id",
            Some(b"fuzzing-key-0123456789"),
        )),
        ..ShardSettings::defaults()
    }
}

/// Serializes every record (that is where bodies are decoded) and drops it.
struct Discard;

impl RecordSink for Discard {
    fn write(&mut self, view: &RecordView<'_>, line: &[u8]) {
        assert!(line.ends_with(b"\n"), "record {} not one line", view.id());
    }
}

/// One scripted step: a header byte, a length byte, then that many bytes.
///
/// Header bits: 0 server→client, 1 leave a hole (the bytes are skipped,
/// not sent), 2 FIN after the bytes, 3 hold the segment back and send it
/// after the next one (reordering), 4-7 time passing before it, in
/// quarter seconds (past ASSEMBLER_FLUSH_AGE forces holes and expiries).
struct Step<'a> {
    from_server: bool,
    hole: bool,
    fin: bool,
    hold: bool,
    wait_ns: u64,
    payload: &'a [u8],
}

fn steps(mut data: &[u8]) -> impl Iterator<Item = Step<'_>> {
    std::iter::from_fn(move || {
        let (&h, rest) = data.split_first()?;
        let (&n, rest) = rest.split_first().unwrap_or((&0, rest));
        let n = (n as usize).min(rest.len());
        let (payload, rest) = rest.split_at(n);
        data = rest;
        Some(Step {
            from_server: h & 1 != 0,
            hole: h & 2 != 0,
            fin: h & 4 != 0,
            hold: h & 8 != 0,
            wait_ns: (h >> 4) as u64 * 250_000_000,
            payload,
        })
    })
}

/// Ethernet, IPv4 and TCP headers around `payload` (checksums are not
/// checked by the decoders, so they are left zero).
fn tcp_frame(from_server: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let client = (Ipv4Addr::new(10, 9, 0, 2), 40_000u16);
    let server = (Ipv4Addr::new(10, 9, 0, 1), 80u16);
    let (src, dst) = if from_server {
        (server, client)
    } else {
        (client, server)
    };
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    let total = (40 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src.0.octets());
    f.extend_from_slice(&dst.0.octets());
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// Plays the script through one shard. The first byte's low bit skips the
/// handshake (a connection picked up mid-stream). Returns the number of
/// transactions the shard emitted.
pub fn conversation(data: &[u8]) -> u64 {
    let Some((&first, script)) = data.split_first() else {
        return 0;
    };
    // Latency samples are not what is fuzzed: recorders into a histogram
    // of one bucket (values outside it are refused, and the shard ignores
    // that), because zeroing `Registry`'s full-range histograms took a
    // sixth of every run.
    let sink = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 2, 1)
        .expect("one-bucket bounds")
        .into_sync();
    let hist = ShardHistograms {
        latency_us: sink.recorder(),
        duration_us: sink.recorder(),
    };
    let stats = Arc::new(ShardStats::default());
    let mut shard = Shard::new(
        0,
        settings(),
        Arc::new(Filters::none()),
        Arc::new(RecordCtx::default()),
        vec![Box::new(Discard)],
        stats.clone(),
        hist,
    );
    // Next sequence number per direction: [client, server].
    let mut next = [1_000u32, 9_000u32];
    let mut now = 1_000_000_000u64;
    let feed = |shard: &mut Shard, frame: &[u8], ts_ns: u64| {
        shard.handle_packet(Packet {
            ts_ns,
            link: LinkType::Ethernet,
            data: frame,
        });
    };
    if first & 1 == 0 {
        feed(&mut shard, &tcp_frame(false, next[0] - 1, 0, SYN, &[]), now);
        feed(
            &mut shard,
            &tcp_frame(true, next[1] - 1, next[0], SYN | ACK, &[]),
            now,
        );
    }
    let mut held: Option<(Vec<u8>, u64)> = None;
    for step in steps(script) {
        now += step.wait_ns + 1_000;
        let dir = step.from_server as usize;
        let seq = next[dir];
        next[dir] = seq.wrapping_add(step.payload.len() as u32);
        if step.hole {
            continue;
        }
        let mut flags = ACK | PSH;
        if step.fin {
            flags |= FIN;
            next[dir] = next[dir].wrapping_add(1);
        }
        let frame = tcp_frame(step.from_server, seq, next[1 - dir], flags, step.payload);
        if step.hold && held.is_none() {
            held = Some((frame, now));
            continue;
        }
        feed(&mut shard, &frame, now);
        if let Some((frame, ts)) = held.take() {
            feed(&mut shard, &frame, ts.max(now));
        }
    }
    if let Some((frame, ts)) = held.take() {
        feed(&mut shard, &frame, ts);
    }
    shard.finish();
    assert_eq!(
        stats.get(Counter::ConnectionPanics),
        0,
        "a connection panicked"
    );
    stats.get(Counter::Transactions)
}

/// The first byte: bit 0 starts mid-stream, bits 1..=7 scale the header
/// size limit. The second byte (times 256) is SETTINGS_HEADER_TABLE_SIZE.
/// Then blocks, each a length byte and that many bytes.
pub fn hpack(data: &[u8]) {
    let [first, table, rest @ ..] = data else {
        return;
    };
    let mut d = if first & 1 != 0 {
        h2hpack::Decoder::mid_stream()
    } else {
        h2hpack::Decoder::new()
    };
    d.set_max_table_size(u32::from(*table) * 256);
    let max = usize::from(first >> 1) * 64;
    let mut rest = rest;
    while let Some((&len, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        let mut bytes = 0usize;
        if let Ok(b) = d.decode(block, max, |f| {
            bytes +=
                f.name.known().map_or(0, <[u8]>::len) + f.value.known().map_or(0, <[u8]>::len) + 32;
        }) {
            assert_eq!(b.decoded_bytes, bytes);
            assert!(b.decoded_bytes <= max);
        }
        let t = d.table();
        assert!(t.size() <= t.max_size() && t.max_size() <= h2hpack::TABLE_SIZE_CAP);
    }
}

/// The first byte picks the maximum frame size and whether the HPACK
/// decoder starts mid-stream; the rest is one direction's bytes.
pub fn h2_frames(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let max_frame = if pick & 0x80 != 0 {
        h2frame::MAX_FRAME_SIZE_LIMIT
    } else {
        h2frame::DEFAULT_MAX_FRAME_SIZE
    };
    let bytes = bytes
        .strip_prefix(h2frame::PREFACE.as_slice())
        .unwrap_or(bytes);
    for at in 0..bytes.len().min(64) {
        let _ = h2frame::looks_like_frame(&bytes[at..], max_frame);
    }
    let reader = FrameReader::new(max_frame);
    let mut decoder = if pick & 1 != 0 {
        h2hpack::Decoder::mid_stream()
    } else {
        h2hpack::Decoder::new()
    };
    // The header block being joined, bounded as the engine will bound it.
    let mut block: Vec<u8> = Vec::new();
    let mut it = reader.frames(bytes);
    for f in it.by_ref() {
        let (fragment, end) = match f {
            Frame::Headers {
                fragment,
                end_headers,
                ..
            }
            | Frame::PushPromise {
                fragment,
                end_headers,
                ..
            }
            | Frame::Continuation {
                fragment,
                end_headers,
                ..
            } => (fragment, end_headers),
            Frame::Settings(s) => {
                if let Some(size) = s.header_table_size() {
                    decoder.set_max_table_size(size);
                }
                continue;
            }
            _ => continue,
        };
        if block.len() + fragment.len() <= 64 * 1024 {
            block.extend_from_slice(fragment);
        }
        if end {
            let _ = decoder.decode(&block, 16 * 1024, |_| {});
            block.clear();
        }
    }
    assert!(it.offset() <= bytes.len());
    assert!(it.stopped().is_some());
}

/// One script step as bytes (header, length, payload), for seeds and tests.
pub fn script_step(header: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![header, payload.len().min(255) as u8];
    v.extend_from_slice(&payload[..payload.len().min(255)]);
    v
}

/// Seeds for `conversation` (the fuzz smoke test and `fuzz/seeds/`): HTTP
/// shapes the engine handles specially, as scripts.
pub fn conversation_seeds() -> Vec<Vec<u8>> {
    let shapes: [&[&[u8]]; 6] = [
        &[b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
        &[b"GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"],
        &[b"GET /z HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00"],
        &[b"GET HTTP/1.1\r\nG\r\r\n\n\n", b"HTTP/1.1 204 No Content\r\n\r\n"],
        &[b"CONNECT a:443 HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01"],
        &[b"GET /u HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", b"HTTP/1.1 101 Switching\r\n\r\nPRI *"],
    ];
    let mut seeds: Vec<Vec<u8>> = shapes
        .iter()
        .map(|pieces| {
            let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
            script(&pieces)
        })
        .collect();
    seeds.extend(h2_seeds().iter().map(|pieces| script(pieces)));
    seeds
}

/// Alternating client and server pieces as a script from the start.
fn script(pieces: &[Vec<u8>]) -> Vec<u8> {
    let mut s = vec![0u8];
    for (i, p) in pieces.iter().enumerate() {
        for chunk in p.chunks(200) {
            s.extend(script_step(i as u8 & 1, chunk));
        }
    }
    s
}

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HTTP/2 conversations (client, server, client, ...): prior knowledge
/// with a gRPC call, and an h2c upgrade.
fn h2_seeds() -> Vec<Vec<Vec<u8>>> {
    use h2frame::{flags as f, kind as k};
    let settings = h2_frame(k::SETTINGS, 0, 0, &[0, 1, 0, 0, 0x10, 0]);
    // :method POST, :scheme http, :path (indexed name) /s.S/M, a
    // content-type literal with incremental indexing.
    let mut request = vec![0x83, 0x86, 0x44, 6];
    request.extend_from_slice(b"/s.S/M");
    request.extend_from_slice(b"\x40\x0ccontent-type\x10application/grpc");
    let message = [0u8, 0, 0, 0, 2, 8, 1];
    let mut client = h2frame::PREFACE.to_vec();
    client.extend(&settings);
    client.extend(h2_frame(k::HEADERS, f::END_HEADERS, 1, &request));
    client.extend(h2_frame(k::DATA, f::END_STREAM, 1, &message));
    let mut server = settings.clone();
    server.extend(h2_frame(k::HEADERS, f::END_HEADERS, 1, b"\x88\xbe"));
    server.extend(h2_frame(k::DATA, f::PADDED, 1, &[1, 0, 0, 0, 0, 0, 0]));
    server.extend(h2_frame(
        k::HEADERS,
        f::END_HEADERS | f::END_STREAM,
        1,
        b"\x00\x0bgrpc-status\x010",
    ));
    let upgrade = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n".to_vec();
    let mut switched =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    switched.extend(&settings);
    switched.extend(h2_frame(k::HEADERS, f::END_HEADERS, 1, b"\x88"));
    switched.extend(h2_frame(k::DATA, f::END_STREAM, 1, b"ok"));
    let mut preface = h2frame::PREFACE.to_vec();
    preface.extend(&settings);
    preface.extend(h2_frame(k::RST_STREAM, 0, 3, &[0, 0, 0, 8]));
    vec![vec![client, server], vec![upgrade, switched, preface]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use super::script_step as step;

    /// A target by name, as its fuzz target runs it (`record` lines are
    /// also checked against the schema, as in the fuzz target).
    fn run(target: &str, data: &[u8]) {
        match target {
            "conversation" => {
                conversation(data);
            }
            "frame" => frame(data),
            "defrag" => {
                defrag(data);
            }
            "reassembly" => reassembly(data),
            "chunked" => chunked(data),
            "decode" => decode(data),
            "keylog" => keylog(data),
            "http1" => {
                http1(data);
            }
            "h2_conn" => {
                h2_conn(data);
            }
            "tls" => {
                tls(data);
            }
            "record" => {
                let line = record(data);
                let line = std::str::from_utf8(&line).expect("UTF-8");
                crate::record::record_check::parse(line.trim_end());
            }
            "hpack" => hpack(data),
            "h2_frames" => h2_frames(data),
            other => panic!("no target {other}"),
        }
    }

    #[test]
    fn a_scripted_exchange_is_one_transaction() {
        let mut script = vec![0u8];
        script.extend(step(0, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
        script.extend(step(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        assert_eq!(conversation(&script), 1);
        // Reordered and mid-stream: still one.
        let mut script = vec![1u8];
        script.extend(step(8, b"GET /a HTTP/1.1\r\n"));
        script.extend(step(0, b"Host: x\r\n\r\n"));
        script.extend(step(1, b"HTTP/1.1 204 No Content\r\n\r\n"));
        assert_eq!(conversation(&script), 1);
    }

    #[test]
    fn http2_seeds_are_one_transaction_each() {
        for pieces in h2_seeds() {
            assert_eq!(conversation(&super::script(&pieces)), 1);
        }
    }

    #[test]
    fn every_seed_runs_clean() {
        for seed in conversation_seeds() {
            conversation(&seed);
            frame(&seed);
        }
        for target in seeds::TARGETS {
            for seed in seeds::seeds(target) {
                run(target, &seed);
            }
        }
    }

    /// Every file under `fuzz/seeds/` (generated seeds, RFC examples and
    /// the inputs that once crashed a target, kept as regressions).
    #[test]
    fn every_committed_seed_file_runs_clean() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
        let mut files = 0;
        for dir in std::fs::read_dir(&root).unwrap() {
            let dir = dir.unwrap().path();
            let target = dir.file_name().unwrap().to_str().unwrap().to_string();
            for file in std::fs::read_dir(&dir).unwrap() {
                run(&target, &std::fs::read(file.unwrap().path()).unwrap());
                files += 1;
            }
        }
        assert!(files > 40, "only {files} seed files");
    }

    #[test]
    fn seeds_reach_what_they_are_for() {
        // Decrypted and paired: the TLS seeds' keyed exchange.
        assert_eq!(tls(&seeds::seeds("tls")[0]), 1);
        // Unkeyed: nothing decrypted, nothing made up.
        assert_eq!(tls(&seeds::seeds("tls")[1]), 0);
        // Keys that come after the handshake still open the records.
        assert_eq!(tls(&seeds::seeds("tls")[2]), 1);
        // HTTP/2 inside TLS, and in the clear, with or without the
        // harness's preface.
        assert_eq!(tls(&seeds::seeds("tls")[4]), 1);
        for (i, seed) in seeds::seeds("h2_conn").iter().enumerate() {
            if i != 1 {
                assert_eq!(h2_conn(seed), 1, "h2_conn seed {i}");
            }
        }
        assert!(http1(&seeds::seeds("http1")[6]) >= 2);
        // The Hop-by-Hop seed has a header for the filter to look past.
        use crate::bpf::ipv6_extensions::{extensions, Extensions};
        let hop = &seeds::seeds("frame")[5];
        assert!(matches!(
            extensions(LinkType::RawIp, &hop[1..]),
            Extensions::Removed(_)
        ));
        // Every defrag seed is one whole datagram, whatever the order.
        for seed in seeds::seeds("defrag") {
            assert_eq!(defrag(&seed), 1, "{seed:?}");
        }
    }

    proptest! {
        // The fuzz smoke in the test suite: mutated seeds and random
        // scripts, with overflow checks on (the ci profile).
        #[test]
        fn mutated_scripts_run_clean(
            pick in 0usize..8,
            flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..12),
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut s = conversation_seeds()[pick].clone();
            for (at, b) in flips {
                let i = at % s.len();
                s[i] ^= b;
            }
            s.extend(tail);
            conversation(&s);
            frame(&s);
        }

        #[test]
        fn h2_entry_points_run_clean(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            hpack(&data);
            h2_frames(&data);
        }

        // Every other target: a seed with bytes flipped and a tail added,
        // or bytes alone.
        #[test]
        fn mutated_seeds_run_clean(
            target in 0usize..seeds::TARGETS.len(),
            pick in any::<usize>(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            tail in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let target = seeds::TARGETS[target];
            let all = seeds::seeds(target);
            let mut s = all.get(pick % all.len().max(1)).cloned().unwrap_or_default();
            for (at, b) in flips {
                if !s.is_empty() {
                    let i = at % s.len();
                    s[i] ^= b;
                }
            }
            s.extend(tail);
            run(target, &s);
            run(target, &s[s.len() / 2..]);
        }
    }
}

/// `fuzz/seeds/X/seed-N` hold the seeds generated in `seeds.rs`, so the
/// libFuzzer runs start from them; this keeps the two the same
/// (`HTTPCAP_WRITE_SEEDS=1` rewrites the files). Other files there
/// (`hpack`, `h2_frames`, regression inputs) are left alone.
#[cfg(test)]
#[test]
fn committed_seeds_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    for target in seeds::TARGETS {
        let dir = root.join(target);
        let seeds = seeds::seeds(target);
        if std::env::var_os("HTTPCAP_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            for (i, seed) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
            }
        }
        for (i, seed) in seeds.iter().enumerate() {
            let path = dir.join(format!("seed-{i}"));
            let on_disk = std::fs::read(&path).unwrap_or_default();
            assert_eq!(
                &on_disk,
                seed,
                "{} is stale: rerun with HTTPCAP_WRITE_SEEDS=1",
                path.display()
            );
        }
    }
}

#[test]
fn the_wrapped_frame_seed_goes_through_every_wrapper() {
    let seed = &seeds::seeds("frame")[2];
    let pkt = Packet {
        ts_ns: 0,
        link: LINKS[seed[0] as usize % LINKS.len()],
        data: &seed[1..],
    };
    let opts = DecodeOptions::default();
    let seg = decode::decode(&pkt, &opts).expect("decodes");
    assert_eq!(seg.payload, b"GET / HTTP/1.1\r\n\r\n");
    let e = decode::describe(&pkt, &opts).unwrap();
    let kinds: Vec<_> = e.tunnels.iter().map(|t| (t.kind, t.id)).collect();
    assert_eq!(
        kinds,
        [
            (decode::TunnelKind::Gre, Some(9)),
            (decode::TunnelKind::Geneve, Some(7))
        ]
    );
    assert_eq!(e.vlans, [5]);
}
