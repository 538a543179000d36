//! Criterion benchmarks of the hot paths, each on the same deterministic
//! capture of realistic API traffic from the load generator:
//! decode, reassembly, HTTP parsing, record serialization and one shard's
//! whole path per packet. Throughput is reported per packet or per byte.

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use httpcap::decode::{decode, DecodeOptions};
use httpcap::flow::reassembly::{HalfStream, SeqNumber, StreamConsumer, TcpSegment};
use httpcap::http::filter::Filters;
use httpcap::http::head::Text;
use httpcap::http::parser::Role;
use httpcap::http::{HttpConn, HttpCtx};
use httpcap::output::RecordSink;
use httpcap::record::{ConnInfo, RecordCtx, RecordView};
use httpcap::shard::{Shard, ShardSettings};
use httpcap::stats::{Registry, ShardStats};
use httpcap_benches::{capture, Frames};

fn bench_decode(c: &mut Criterion, f: &Frames) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(f.frames.len() as u64));
    let opts = DecodeOptions::default();
    g.bench_function("ethernet_ipv4_tcp", |b| {
        b.iter(|| {
            for p in f.packets() {
                let _ = black_box(decode(&p, &opts));
            }
        })
    });
    g.finish();
}

/// Counts delivered bytes; stands in for the HTTP parser.
struct Sum(u64);

impl StreamConsumer for Sum {
    fn on_data(&mut self, data: &[u8], _: u64) {
        self.0 += data.len() as u64;
    }
    fn on_gap(&mut self, _: u64, _: u64) {}
    fn on_fin(&mut self, _: u64) {}
}

/// A data segment (or a SYN) at capture time 0.
fn seg(seq: u32, syn: bool, payload: &[u8]) -> TcpSegment<'_> {
    TcpSegment {
        seq: SeqNumber(seq),
        syn,
        fin: false,
        payload,
        ts_ns: 0,
    }
}

fn bench_reassembly(c: &mut Criterion) {
    let mut g = c.benchmark_group("reassembly");
    let payload = vec![0x41u8; 1448];
    let n = 1000u32;
    g.throughput(Throughput::Bytes(payload.len() as u64 * n as u64));
    let stats = ShardStats::default();
    g.bench_function("in_order_1448B", |b| {
        b.iter(|| {
            let mut h = HalfStream::default();
            let mut out = Sum(0);
            h.segment(seg(0, true, &[]), 5 << 20, &stats, &mut out);
            for i in 0..n {
                h.segment(
                    seg(1 + i * 1448, false, &payload),
                    5 << 20,
                    &stats,
                    &mut out,
                );
            }
            black_box(out.0)
        })
    });
    // Every pair of segments swapped: half the segments wait behind a hole.
    g.bench_function("pairwise_swapped_1448B", |b| {
        b.iter(|| {
            let mut h = HalfStream::default();
            let mut out = Sum(0);
            h.segment(seg(0, true, &[]), 5 << 20, &stats, &mut out);
            for i in (0..n).step_by(2) {
                h.segment(
                    seg(1 + (i + 1) * 1448, false, &payload),
                    5 << 20,
                    &stats,
                    &mut out,
                );
                h.segment(
                    seg(1 + i * 1448, false, &payload),
                    5 << 20,
                    &stats,
                    &mut out,
                );
            }
            black_box(out.0)
        })
    });
    // A crafted stream: 20,000 one-byte segments, each behind a one-byte
    // hole, then aged out at once. Each must cost log n, not n.
    let tiny = 20_000u32;
    g.throughput(Throughput::Elements(tiny.into()));
    g.bench_function("one_byte_segments_behind_holes", |b| {
        b.iter(|| {
            let mut h = HalfStream::default();
            let mut out = Sum(0);
            h.segment(seg(0, true, &[]), 5 << 20, &stats, &mut out);
            for i in 0..tiny {
                h.segment(seg(2 + 2 * i, false, b"x"), 5 << 20, &stats, &mut out);
            }
            h.flush_aged(u64::MAX, 1, &stats, &mut out);
            black_box(out.0)
        })
    });
    g.finish();
}

const REQUEST: &[u8] = b"POST /api/v1/orders?expand=items HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\nAccept: application/json\r\nAccept-Encoding: gzip, br\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig\r\nContent-Type: application/json\r\nX-Request-Id: 8d3c7f2e-1b2a-4c5d-9e8f-0a1b2c3d4e5f\r\nContent-Length: 46\r\n\r\n{\"sku\":\"A-1042\",\"qty\":2,\"note\":\"leave at door\"}";
const RESPONSE: &[u8] = b"HTTP/1.1 201 Created\r\nServer: nginx\r\nDate: Wed, 25 Nov 2026 08:00:00 GMT\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nCache-Control: no-store\r\n\r\n1a\r\n{\"id\":7,\"status\":\"created\r\n3\r\n\"}\n\r\n0\r\n\r\n";

fn new_ctx<'a>(
    stats: &'a ShardStats,
    filters: &'a Filters,
    done: &'a mut Vec<httpcap::http::Transaction>,
) -> HttpCtx<'a> {
    HttpCtx {
        stats,
        filters,
        max_body: 3 << 20,
        body_reserve: 128 << 10,
        done,
        tls: httpcap::tls::TlsContext::none(),
    }
}

fn bench_http(c: &mut Criterion) {
    let mut g = c.benchmark_group("http");
    let stats = ShardStats::default();
    let filters = Filters::none();
    let txns = 100;
    g.throughput(Throughput::Elements(txns));
    g.bench_function("parse_and_pair_keepalive", |b| {
        let mut done = Vec::with_capacity(txns as usize);
        b.iter(|| {
            let mut conn = HttpConn::new(64 << 10);
            let mut ctx = new_ctx(&stats, &filters, &mut done);
            for _ in 0..txns {
                conn.data(Role::Request, REQUEST, 1, &mut ctx);
                conn.data(Role::Response, RESPONSE, 2, &mut ctx);
            }
            let n = ctx.done.len();
            ctx.done.clear();
            black_box(n)
        })
    });
    // A crafted HTTP/2 client: 10,000 requests, none answered, so past
    // the 256th each new stream gives up the oldest open one.
    let frames = 10_000u32;
    let mut client = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0".to_vec();
    for i in 0..frames {
        // HEADERS, END_STREAM | END_HEADERS: :method GET, :scheme http, :path /.
        client.extend_from_slice(&[0, 0, 3, 1, 5]);
        client.extend_from_slice(&(2 * i + 1).to_be_bytes());
        client.extend_from_slice(&[0x82, 0x86, 0x84]);
    }
    g.throughput(Throughput::Elements(frames.into()));
    g.bench_function("h2_requests_past_the_open_stream_cap", |b| {
        let mut done = Vec::with_capacity(frames as usize);
        b.iter(|| {
            let mut conn = HttpConn::new(64 << 10);
            let mut ctx = new_ctx(&stats, &filters, &mut done);
            conn.data(Role::Request, &client, 1, &mut ctx);
            let n = ctx.done.len();
            ctx.done.clear();
            black_box(n)
        })
    });
    g.finish();
}

fn one_transaction() -> httpcap::http::Transaction {
    transaction(RESPONSE)
}

fn transaction(response: &[u8]) -> httpcap::http::Transaction {
    let stats = ShardStats::default();
    let filters = Filters::none();
    let mut done = Vec::new();
    let mut conn = HttpConn::new(64 << 10);
    let mut ctx = new_ctx(&stats, &filters, &mut done);
    conn.data(Role::Request, REQUEST, 1_764_057_600_000_000_000, &mut ctx);
    conn.data(
        Role::Response,
        response,
        1_764_057_600_000_500_000,
        &mut ctx,
    );
    done.pop().expect("one transaction")
}

/// A response with a realistic JSON body (see `api_body`).
fn api_response() -> Vec<u8> {
    let body = api_body();
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: openresty\r\nDate: Wed, 25 Nov 2026 08:00:00 GMT\r\nContent-Type: application/json; charset=utf-8\r\nVary: Accept-Encoding\r\nContent-Length: {}\r\nETag: W/\"002ec034dab3f57f\"\r\nCache-Control: private, max-age=0, must-revalidate\r\nX-Request-Id: 0734d21a-9c18-8986-4efd-4ced9a9382d8\r\nConnection: keep-alive\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

fn bench_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    let txn = one_transaction();
    let observer = httpcap::record::Observer {
        host: "sensor-07.example".into(),
        interface: "eth0".into(),
        version: "0.1.0".into(),
    };
    let rctx = RecordCtx::new("5f0c2a91-0000-4000-8000-000000000000", 0, "", observer);
    let conn = ConnInfo {
        id: 7,
        client: httpcap::flow::Endpoint {
            ip: "192.0.2.10".parse().unwrap(),
            port: 40312,
        },
        server: httpcap::flow::Endpoint {
            ip: "192.0.2.80".parse().unwrap(),
            port: 80,
        },
        tls: None,
        encap: None,
    };
    let api = transaction(&api_response());
    // A crafted HTTP/2 response head: 2,000 distinct field names that
    // share length, first and last byte (about the most a 64 KiB block
    // may decode to). Grouping repeated names must not cost the square.
    let crafted = crafted_h2_transaction(2000);
    let cases = [
        ("serialize_json_line", &txn),
        ("serialize_json_line_api_body", &api),
        ("serialize_json_line_2000_colliding_h2_fields", &crafted),
    ];
    let mut line = Vec::with_capacity(4096);
    for (name, txn) in cases {
        g.bench_function(name, |b| {
            b.iter(|| {
                line.clear();
                let view = RecordView {
                    ctx: &rctx,
                    conn: &conn,
                    txn,
                };
                view.write_line(&mut line);
                black_box(line.len())
            })
        });
    }
    g.finish();
}

fn crafted_h2_transaction(fields: u32) -> httpcap::http::Transaction {
    use httpcap::http::{HeadBuilder, Message, Version};
    let mut b = HeadBuilder::default();
    b.method(b"GET");
    b.target(b"/");
    let request = b.build(true, Version::Http2);
    b.clear();
    b.status(b"200");
    for i in 0..fields {
        b.field(format!("x{i:05}y").as_bytes(), b"1");
    }
    let response = b.build(false, Version::Http2);
    let mut txn = httpcap::http::Transaction::new(0);
    txn.request = Some(Message::new(request, 1_764_057_600_000_000_000));
    txn.response = Some(Message::new(response, 1_764_057_600_000_500_000));
    txn.stream_id = Some(1);
    txn
}

/// A JSON API body of about 3 KB from the load generator: a quote to
/// escape every few bytes, like most bodies in the benchmark capture.
fn api_body() -> String {
    let mut rng = httpcap_loadgen::rng::Rng::new(1);
    let mut body = Vec::new();
    httpcap_loadgen::content::json_body(&mut rng, 3000, 1_764_057_600, &mut body);
    String::from_utf8(body).expect("JSON is UTF-8")
}

fn bench_json(c: &mut Criterion) {
    let mut g = c.benchmark_group("json");
    let body = api_body();
    g.throughput(Throughput::Bytes(body.len() as u64));
    let mut out = Vec::with_capacity(64 * 1024);
    g.bench_function("escape_api_body", |b| {
        b.iter(|| {
            out.clear();
            httpcap::record::json::JsonWriter::new(&mut out).str(black_box(&body));
            black_box(out.len())
        })
    });
    let headers: Vec<(&str, &str)> = vec![
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Request-Id", "0734d21a-9c18-8986-4efd-4ced9a9382d8"),
        ("ETag", "W/\"002ec034dab3f57f\""),
        ("Cache-Control", "private, max-age=0, must-revalidate"),
    ];
    g.throughput(Throughput::Elements(headers.len() as u64));
    g.bench_function("header_fields", |b| {
        b.iter(|| {
            out.clear();
            let mut w = httpcap::record::json::JsonWriter::new(&mut out);
            w.begin_object();
            for (name, value) in black_box(&headers) {
                w.key_lowercase(Text::Str(name));
                w.head_text(Text::Str(value));
            }
            w.end_object();
            black_box(out.len())
        })
    });
    g.finish();
}

/// Discards records: measures the engine, not an output device.
struct Discard;

impl RecordSink for Discard {
    fn write(&mut self, _: &RecordView<'_>, line: &[u8]) {
        black_box(line.len());
    }
}

fn bench_shard(c: &mut Criterion, f: &Frames) {
    let mut g = c.benchmark_group("shard");
    g.throughput(Throughput::Elements(f.frames.len() as u64));
    g.sample_size(20);
    g.bench_function(format!("whole_path_per_packet_{}tx", f.transactions), |b| {
        b.iter_batched(
            || {
                let (reg, mut handles) = Registry::new(1);
                let (stats, hist) = handles.pop().unwrap();
                let shard = Shard::new(
                    0,
                    ShardSettings::defaults(),
                    Arc::new(Filters::none()),
                    Arc::new(RecordCtx::default()),
                    vec![Box::new(Discard)],
                    stats,
                    hist,
                );
                (reg, shard)
            },
            |(_reg, mut shard)| {
                for p in f.packets() {
                    shard.handle_packet(p);
                }
                shard.finish();
                black_box(shard.stats().get(httpcap::stats::Counter::Transactions))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    let frames = capture(2000, &[]);
    bench_decode(c, &frames);
    bench_reassembly(c);
    bench_http(c);
    bench_record(c);
    bench_json(c);
    bench_shard(c, &frames);
}

criterion_group!(benches, all);
criterion_main!(benches);
