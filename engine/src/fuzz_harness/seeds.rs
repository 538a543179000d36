//! Hand-made seeds for the targets, small and our own: `fuzz/seeds/X/`
//! holds them as files (the test `committed_seeds_are_current` keeps the
//! two the same), and the tests run every target on them and on their
//! mutations. Corpora extracted from public captures are made at run time
//! by `tools/fuzz-seeds.sh`, never committed.

use super::streams::encode;
use super::{conversation_seeds, h2_frame, h2_seeds, script, script_step as step, tcp_frame};
use crate::http::content::Coding;
use crate::http2::frame as h2frame;

/// The seeds of a target generated here (`hpack` and `h2_frames` have
/// their own files, taken from RFC 7541).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "conversation" => conversation_seeds(),
        "frame" => frame(),
        "defrag" => defrag(),
        "reassembly" => reassembly(),
        "chunked" => chunked(),
        "decode" => decode(),
        "keylog" => keylog(),
        "http1" => http1(),
        "h2_conn" => h2_conn(),
        "tls" => tls(),
        "record" => record(),
        _ => Vec::new(),
    }
}

/// The targets whose seeds are generated here.
pub const TARGETS: [&str; 11] = [
    "conversation",
    "frame",
    "defrag",
    "reassembly",
    "chunked",
    "decode",
    "keylog",
    "http1",
    "h2_conn",
    "tls",
    "record",
];

fn frame() -> Vec<Vec<u8>> {
    let f = tcp_frame(false, 1, 2, 0x18, b"GET / HTTP/1.1\r\n\r\n");
    // Ethernet as is; the same IP packet as raw IP (link type 3); and the
    // frame tagged (VLAN 5) inside Geneve (VNI 7, one option) inside GRE
    // (key 9), on raw IP.
    let tagged = [&f[..12], &[0x81, 0, 0, 5], &f[12..]].concat();
    let geneve = [&[1, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 8, 1, 0][..], &tagged].concat();
    let udp_len = (8 + geneve.len() as u16).to_be_bytes();
    let udp = [
        &[0xc3, 0x50, 0x17, 0xc1, udp_len[0], udp_len[1], 0, 0][..],
        &geneve,
    ]
    .concat();
    let gre = [&[0x20, 0, 0x08, 0x00, 0, 0, 0, 9][..], &ipv4(17, &udp)].concat();
    let mut seeds = vec![
        [&[0u8][..], &f].concat(),
        [&[3u8][..], &f[14..]].concat(),
        [&[3u8][..], &ipv4(47, &gre)].concat(),
    ];
    // Its first IPv4 fragment (more fragments), for the reassembler.
    let mut v4 = f[14..].to_vec();
    v4[6] = 0x20;
    seeds.push([&[3u8][..], &v4].concat());
    // The segment as the first IPv6 fragment (a Fragment header, M set).
    let tcp = &f[34..];
    let mut v6 = vec![0x60, 0, 0, 0];
    v6.extend_from_slice(&((8 + tcp.len()) as u16).to_be_bytes());
    v6.extend_from_slice(&[44, 64]);
    v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v6.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 7]);
    v6.extend_from_slice(tcp);
    seeds.push([&[3u8][..], &v6].concat());
    // The whole segment behind a Hop-by-Hop header (PadN), which the
    // capture filter looks past (`bpf::ipv6_extensions`).
    let mut hop = v6[..40].to_vec();
    hop[6] = 0;
    hop.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    hop.extend_from_slice(tcp);
    seeds.push([&[3u8][..], &hop].concat());
    seeds
}

/// An IPv4 header (198.18.0.1 to 198.18.0.2) around `payload`.
fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len() as u16).to_be_bytes();
    let head = [
        0x45, 0, total[0], total[1], 0, 1, 0x40, 0, 64, proto, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
    ];
    [&head[..], payload].concat()
}

/// A TCP segment (ports 40000 to 80) of a request, cut in three, for
/// each wrapping: in order, and reversed with a duplicate.
fn defrag() -> Vec<Vec<u8>> {
    let f = tcp_frame(
        false,
        1,
        2,
        0x18,
        b"GET /fragmented HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let tcp = &f[34..];
    let piece = |off: usize, end: usize, more: bool, secs: u8| {
        let end = end.min(tcp.len());
        let flags = more as u8 | secs << 4;
        let mut s = vec![0, (off / 8) as u8, flags, (end - off) as u8];
        s.extend_from_slice(&tcp[off..end]);
        s
    };
    let mut seeds = Vec::new();
    for wrap in 0..4u8 {
        seeds.push(
            [
                vec![wrap],
                piece(0, 24, true, 0),
                piece(24, 48, true, 0),
                piece(48, 99, false, 1),
            ]
            .concat(),
        );
        seeds.push(
            [
                vec![wrap],
                piece(48, 99, false, 0),
                piece(24, 48, true, 0),
                piece(24, 48, true, 0),
                piece(0, 24, true, 0),
            ]
            .concat(),
        );
    }
    seeds
}

fn segment(flags: u8, offset: i16, len: u8) -> Vec<u8> {
    let raw = if offset < 0 {
        0x8000 | offset.unsigned_abs()
    } else {
        offset as u16
    };
    let mut v = vec![flags & !3];
    v.extend(raw.to_be_bytes());
    v.push(len);
    v.extend(std::iter::repeat_n(0, usize::from(len)));
    v
}

fn reassembly() -> Vec<Vec<u8>> {
    vec![
        // In order, then a FIN.
        [vec![3], segment(0, 0, 10), segment(4, 10, 5)].concat(),
        // Reordered with a retransmit overlapping both.
        [
            vec![2],
            segment(0, 20, 10),
            segment(0, 0, 10),
            segment(0, 5, 20),
        ]
        .concat(),
        // A hole skipped, an old copy, time passing and a flush; wrapping.
        [
            vec![8 | 3],
            segment(0, 30, 30),
            vec![1],
            segment(0, -5, 10),
            segment(0, 100, 10),
            vec![0xff],
            vec![2],
        ]
        .concat(),
        // Mid-stream, conflicting bytes, a FIN before the data.
        [
            vec![4 | 1],
            segment(4, 40, 0),
            segment(8, 0, 8),
            segment(0, 8, 32),
        ]
        .concat(),
    ]
}

fn chunked() -> Vec<Vec<u8>> {
    let bodies: [&[u8]; 4] = [
        b"5\r\nhello\r\n0\r\n\r\n",
        b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\nnext",
        b"4\nwxyz\n0\n\n",
        b"ffffffffffffffff\r\nab",
    ];
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| [&[4u8, [0, 2, 6, 255][i]][..], b].concat())
        .collect()
}

fn decode() -> Vec<Vec<u8>> {
    let text: &[u8] = b"{\"hello\":\"world\",\"list\":[1,2,3,4,5,6,7,8,9,10]}";
    // Round trips through gzip, zlib, raw deflate, zstd and a chain.
    let mut seeds = vec![
        [&[16 | 1, 0, 8, 1][..], text].concat(),
        [&[16 | 1, 1, 8, 1][..], text].concat(),
        [&[16 | 1, 0x81, 8, 1][..], text].concat(),
        [&[16 | 1, 3, 8, 1][..], text].concat(),
        [&[16 | 2, 0b0001_1100, 1, 0][..], text].concat(),
    ];
    // Compressed input as it comes off the wire: gzip, deflate, zstd.
    for (pick, c) in [(0u8, Coding::Gzip), (1, Coding::Deflate), (3, Coding::Zstd)] {
        let enc = encode(c, text, false);
        seeds.push([&[1, pick, 2, 1][..], &enc].concat());
        // The same, cut.
        seeds.push([&[8 | 1, pick, 2, 1][..], &enc[..enc.len() / 2]].concat());
    }
    seeds
}

fn keylog() -> Vec<Vec<u8>> {
    let cr = "11".repeat(32);
    let s32 = "ab".repeat(32);
    let s48 = "cd".repeat(48);
    let file = format!(
        "# comment\nCLIENT_RANDOM {cr} {s48}\r\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {s32}\n\
         SERVER_HANDSHAKE_TRAFFIC_SECRET {cr} {s32}\nCLIENT_TRAFFIC_SECRET_0 {} {s32}\n\
         SERVER_TRAFFIC_SECRET_0 {cr} {s48}\nEXPORTER_SECRET {cr} {s32}\n\nbad line\n",
        "22".repeat(32)
    );
    vec![
        [&[3u8, 255][..], file.as_bytes()].concat(),
        [&[0u8, 6][..], file.as_bytes()].concat(),
    ]
}

/// HTTP/1 shapes as scripts for `http1` (a 576-byte head limit).
fn http1() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = conversation_seeds()
        .into_iter()
        .take(6)
        .map(|mut s| {
            s[0] = 32 << 1 & 0xfe;
            s
        })
        .collect();
    // Pipelined, a 100 Continue, a hole in a body, then a close; and a
    // connection picked up mid-stream.
    let mut s = vec![32 << 1 & 0xfe];
    s.extend(step(
        0,
        b"POST /a HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
    ));
    s.extend(step(1, b"HTTP/1.1 100 Continue\r\n\r\n"));
    s.extend(step(2, b"01234"));
    s.extend(step(0, b"GET /b HTTP/1.0\r\n\r\n"));
    s.extend(step(
        1,
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.0 404 Not Found\r\n\r\nbody",
    ));
    s.extend(step(5, b"gone"));
    seeds.push(s);
    let mut s = vec![1];
    s.extend(step(
        0,
        b"tail of a body\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n",
    ));
    s.extend(step(
        0x31,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ));
    seeds.push(s);
    // HTTP/0.9: a request line alone answered by raw bytes, a hole in
    // them, then the server's close.
    let mut s = vec![32 << 1 & 0xfe];
    s.extend(step(0, b"GET /zero-nine\r\n"));
    s.extend(step(1, b"\r\n<html>raw</html>"));
    s.extend(step(3, b"lost"));
    s.extend(step(5, b"\r\nmore"));
    seeds.push(s);
    seeds
}

/// The prior-knowledge gRPC call, and a connection picked up mid-stream.
fn h2_conn() -> Vec<Vec<u8>> {
    let call = &h2_seeds()[0];
    let mut seeds = vec![script(call)];
    let mut mid = vec![1u8];
    let server = &call[1];
    mid.extend(step(1, &server[server.len() / 2..]));
    mid.extend(step(0, &h2_frame(h2frame::kind::PING, 0, 0, &[0; 8])));
    seeds.push(mid);
    // The preface added by the harness.
    let mut s = script(call);
    s[0] = 2;
    let cut = h2frame::PREFACE.len();
    s[2] = s[2].wrapping_sub(cut as u8);
    s.drain(3..3 + cut);
    seeds.push(s);
    seeds
}

/// Keyed with an exchange sealed in records; unkeyed; keys late; HTTP/2.
fn tls() -> Vec<Vec<u8>> {
    let request = b"GET /secret HTTP/1.1\r\nHost: fuzz.test\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let exchange = |first: u8| {
        let mut s = vec![first];
        s.extend(step(8, request));
        s.extend(step(9, response));
        s
    };
    let call = &h2_seeds()[0];
    let mut h2 = vec![1 | 4];
    for (i, p) in call.iter().enumerate() {
        for chunk in p.chunks(200) {
            h2.extend(step(8 | i as u8 & 1, chunk));
        }
    }
    vec![exchange(1), exchange(0), exchange(3), exchange(1 | 8), h2]
}

fn piece(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_le_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn record() -> Vec<Vec<u8>> {
    let ts = 1_764_057_600_000_000_000u64.to_le_bytes();
    let plain = [
        &[1 | 2 | 8][..],
        &[0, 0],
        &ts,
        &[0, 7],
        &piece(b"GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.9\r\n\r\n"),
        &piece(b""),
        &[0, 3],
        &piece(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\r\n"),
        &piece(b"body\xff\x00"),
        &piece(b"collection"),
        &piece(b"x-forwarded-for"),
        &piece(b"host"),
        &piece(b"sni.test"),
        &piece(b"h2"),
    ]
    .concat();
    let h2 = [
        &[1 | 2 | 4 | 32 | 64 | 16][..],
        &[0x20, 1],
        &ts,
        &[3, 1],
        &piece(
            b":method POST\n:path /pkg.Svc/Call\ncontent-type application/grpc\nx-bin \x00\x01\"\\",
        ),
        &piece(&[0, 0, 0, 0, 2, 8, 1]),
        &[0, 1],
        &piece(b":status 200\ncontent-type application/grpc+proto"),
        &piece(&[0, 0, 0, 0, 1, 7]),
        &piece(b"grpc-status 3\ngrpc-message bad%20thing"),
    ]
    .concat();
    let gzip = [
        &[1 | 2 | 128][..],
        &[0, 0],
        &ts,
        &[0, 0],
        &piece(b"GET / HTTP/1.1\r\n\r\n"),
        &piece(b""),
        &[0, 1],
        &piece(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n"),
        &piece(&encode(Coding::Gzip, b"\"quoted\" \x01 text", false)),
    ]
    .concat();
    vec![plain, h2, gzip]
}
