//! The record writer: a transaction made up from the input, its bodies
//! decoded as the shard decodes them, serialized as one JSON line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::decode::{Encap, Tunnel, TunnelKind};
use crate::flow::Endpoint;
use crate::http::content::{self, Limits};
use crate::http::{Flags, Head, HeadBuilder, Message, Transaction, Version};
use crate::record::{BodyCaps, ConnInfo, Observer, RecordCtx, RecordView};
use crate::stats::ShardStats;
use crate::tls::TlsInfo;

/// The input, read front to back; missing bytes read as zero or empty.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let n = N.min(self.0.len());
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        b
    }

    /// A piece: a two-byte length (little-endian), then that many bytes.
    fn piece(&mut self) -> &'a [u8] {
        let n = usize::from(u16::from_le_bytes(self.bytes::<2>())).min(self.0.len());
        let (p, rest) = self.0.split_at(n);
        self.0 = rest;
        p
    }

    fn text(&mut self) -> String {
        String::from_utf8_lossy(self.piece()).into_owned()
    }
}

/// The versions a record can carry: only TLS 1.2 and 1.3 connections
/// are decrypted (older ones give up at the ServerHello).
const VERSIONS: [Option<&str>; 3] = [None, Some("TLS 1.2"), Some("TLS 1.3")];
const CIPHERS: [Option<&str>; 3] = [
    None,
    Some("TLS_AES_128_GCM_SHA256"),
    Some("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
];

/// A head: parsed as HTTP/1 text, or (HTTP/2) built from lines of `name
/// value` that may hold any bytes, `:method`, `:path` and `:status`
/// included. HTTP/1 text that does not parse gives a minimal head.
fn head(raw: &[u8], request: bool, h2: bool) -> Head {
    if h2 {
        let mut b = HeadBuilder::default();
        for line in raw.split(|c| *c == b'\n') {
            let at = line.iter().position(|c| *c == b' ').unwrap_or(line.len());
            let (name, value) = (&line[..at], line.get(at + 1..).unwrap_or_default());
            match name {
                b":method" => b.method(value),
                b":path" => b.target(value),
                b":status" => b.status(value),
                _ => b.field(name, value),
            }
        }
        return b.build(request, Version::Http2);
    }
    Head::parse(raw, request).unwrap_or_else(|_| {
        let fallback: &[u8] = if request {
            b"GET / HTTP/1.1\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\n\r\n"
        };
        Head::parse(fallback, request).expect("a valid head")
    })
}

fn message(r: &mut Reader<'_>, request: bool, h2: bool, ts_ns: u64) -> Message {
    let [gap, extra] = r.bytes::<2>();
    let mut m = Message::new(head(r.piece(), request, h2), ts_ns);
    m.end_ts_ns = ts_ns.saturating_add(u64::from(extra) * 1_000_000);
    let body = r.piece();
    let stats = ShardStats::default();
    m.keep_body(body, 4096, &stats);
    m.body_size = m.body.len() as u64;
    if gap & 1 != 0 {
        m.body_gap(u64::from(gap >> 1));
    }
    m.complete = extra & 1 != 0;
    m
}

/// Builds one transaction from the input and returns its record line.
///
/// Layout: a byte of switches (bit 0 a request, bit 1 a response, bit 2
/// IPv6 endpoints, bit 3 TLS, bit 4 body caps as for Kafka, bit 5
/// HTTP/2 heads, bit 6 response trailers, bit 7 an interim status), two
/// bytes of flags, eight of capture time, then pieces (a two-byte length
/// and the bytes): per message two bytes (a hole, time to its end), its
/// head and its body; then the trailers, collection id, real-IP header
/// name, observer host, SNI and ALPN.
///
/// The line must end in one newline and hold no other, be UTF-8 and
/// begin with the id (the fuzz target also parses it and checks it
/// against the schema).
/// VLAN tags and tunnels for the record, from bits of the time stamp
/// (every switch bit is taken): none, tags only, one tunnel, or nested
/// tunnels with tags.
fn encap(ts: u64, flags: u16, a: IpAddr, b: IpAddr) -> Option<Arc<Encap>> {
    let tunnel = |kind, id| Tunnel {
        kind,
        src: a,
        dst: b,
        id,
    };
    let vlans = vec![(flags & 0x0fff).max(1), 4095];
    let e = match ts % 4 {
        0 => return None,
        1 => Encap {
            tunnels: Vec::new(),
            vlans,
        },
        2 => Encap {
            tunnels: vec![tunnel(TunnelKind::Vxlan, Some(u32::from(flags)))],
            vlans: Vec::new(),
        },
        _ => Encap {
            tunnels: vec![
                tunnel(TunnelKind::Geneve, Some(0xff_ffff)),
                tunnel(TunnelKind::Ipip, None),
                tunnel(TunnelKind::Erspan, Some(1023)),
            ],
            vlans,
        },
    };
    Some(Arc::new(e))
}

pub fn record(data: &[u8]) -> Vec<u8> {
    let mut r = Reader(data);
    let [sw] = r.bytes::<1>();
    let flags = u16::from_le_bytes(r.bytes::<2>());
    // Any u64 of nanoseconds is before 2555: a four-digit year.
    let ts = u64::from_le_bytes(r.bytes::<8>());
    let h2 = sw & 32 != 0;
    let mut t = Transaction::new(u32::from(flags));
    t.flags = Flags(u32::from(flags));
    if sw & 1 != 0 {
        t.request = Some(message(&mut r, true, h2, ts));
    }
    if sw & 2 != 0 {
        let mut m = message(&mut r, false, h2, ts.saturating_add(1_000));
        if sw & 64 != 0 {
            m.trailers = Some(Box::new(head(r.piece(), false, true)));
        }
        if sw & 128 != 0 {
            m.interim_status = Some(101);
        }
        t.response = Some(m);
    }
    if h2 {
        t.stream_id = Some(u32::from(flags) * 2 + 1);
    }
    let stats = ShardStats::default();
    let lim = Limits {
        max_out: 4096,
        reserve: 512,
    };
    content::decode_transaction(&mut t, lim, &stats);
    crate::http2::grpc::attach(&mut t, lim, &stats);
    let ctx = RecordCtx::new(
        &r.text(),
        u32::from(flags),
        &r.text(),
        Observer {
            host: r.text(),
            interface: "fuzz".into(),
            version: "0".into(),
        },
    );
    let (client, server): (IpAddr, IpAddr) = if sw & 4 != 0 {
        (
            Ipv6Addr::from(u128::from(flags)).into(),
            Ipv6Addr::LOCALHOST.into(),
        )
    } else {
        (
            Ipv4Addr::from(u32::from(flags)).into(),
            Ipv4Addr::LOCALHOST.into(),
        )
    };
    let tls = (sw & 8 != 0).then(|| {
        Arc::new(TlsInfo {
            source: if flags & 0x100 != 0 {
                crate::tls::TlsSource::Uprobe
            } else {
                crate::tls::TlsSource::KeyLog
            },
            version: VERSIONS[usize::from(flags) % VERSIONS.len()],
            cipher: CIPHERS[usize::from(flags >> 2) % CIPHERS.len()],
            sni: Some(r.text().into()),
            alpn: Some(r.text().into()),
        })
    });
    let conn = ConnInfo {
        id: u64::from(flags) << 40 | ts >> 24,
        client: Endpoint {
            ip: client,
            port: flags,
        },
        server: Endpoint {
            ip: server,
            port: 443,
        },
        tls,
        encap: encap(ts, flags, client, server),
    };
    let view = RecordView {
        ctx: &ctx,
        conn: &conn,
        txn: &t,
    };
    let mut line = Vec::new();
    if sw & 16 != 0 {
        let caps = BodyCaps {
            request: usize::from(flags & 0xff) * 8,
            response: usize::from(flags >> 8) * 8,
        };
        view.write_capped(&mut line, caps);
        line.push(b'\n');
    } else {
        view.write_line(&mut line);
    }
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(
        memchr::memchr(b'\n', &line),
        Some(line.len() - 1),
        "a newline inside the record"
    );
    assert!(
        std::str::from_utf8(&line).is_ok(),
        "a record that is not UTF-8"
    );
    assert!(line.starts_with(b"{\"id\":\""));
    line
}
