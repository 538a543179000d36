//! The h2c mode's frames are well formed: every connection starts with the
//! preface and SETTINGS, every frame parses (engine's `http2::frame`),
//! every header block decodes with the dynamic table fully known (engine's
//! `http2::hpack`), and the streams are the truth's transactions: method,
//! path, authority, status and body sizes.

use std::collections::HashMap;

use httpcap::http2::frame::{Frame, FrameReader};
use httpcap::http2::hpack::{Decoder, Str};
use httpcap_loadgen::{generate, Params};
use pcap_file::pcap::PcapReader;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Per connection (client address and port), the reassembled client and
/// server byte streams. IPv4 over Ethernet, no impairments.
fn streams(pcap: &[u8]) -> HashMap<String, (Vec<u8>, Vec<u8>)> {
    let mut reader = PcapReader::new(pcap).unwrap();
    let mut out: HashMap<String, (Vec<u8>, Vec<u8>)> = HashMap::new();
    while let Some(pkt) = reader.next_packet() {
        let data = pkt.unwrap().data.into_owned();
        assert_eq!(&data[12..14], &[0x08, 0x00]);
        let ip = &data[14..];
        let tcp = &ip[(ip[0] & 0xf) as usize * 4..];
        let payload = &tcp[(tcp[12] >> 4) as usize * 4..];
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let from_client = sport != 80 && sport != 8080;
        let (addr, port) = if from_client {
            (&ip[12..16], sport)
        } else {
            (&ip[16..20], u16::from_be_bytes([tcp[2], tcp[3]]))
        };
        let key = format!("{}.{}.{}.{}:{port}", addr[0], addr[1], addr[2], addr[3]);
        let entry = out.entry(key).or_default();
        if from_client {
            entry.0.extend_from_slice(payload);
        } else {
            entry.1.extend_from_slice(payload);
        }
    }
    out
}

#[derive(Default, Debug)]
struct Seen {
    fields: Vec<(String, String)>,
    body: usize,
    ended: bool,
}

/// Walks one direction's frames; returns per stream its header fields,
/// DATA octets and whether END_STREAM came, plus the header block octets
/// that referenced the dynamic table.
fn walk(bytes: &[u8], dec: &mut Decoder, dynamic_refs: &mut usize) -> HashMap<u32, Seen> {
    let reader = FrameReader::default();
    let mut frames = reader.frames(bytes);
    let mut seen: HashMap<u32, Seen> = HashMap::new();
    let mut settings = 0;
    let mut first = true;
    for frame in frames.by_ref() {
        if first {
            assert!(matches!(frame, Frame::Settings(_)), "first frame {frame:?}");
            first = false;
        }
        match frame {
            Frame::Settings(_) => settings += 1,
            Frame::Headers {
                stream_id,
                end_stream,
                end_headers,
                fragment,
                ..
            } => {
                assert!(end_headers, "header blocks fit one frame");
                assert_eq!(stream_id % 2, 1);
                *dynamic_refs += fragment
                    .iter()
                    .filter(|&&b| b & 0x80 != 0 && (b & 0x7f) > 61 && b != 0xff)
                    .count();
                let s = seen.entry(stream_id).or_default();
                assert!(s.fields.is_empty(), "second HEADERS on {stream_id}");
                let block = dec
                    .decode(fragment, 1 << 16, |f| {
                        let text = |v: Str| match v.known() {
                            Some(b) => String::from_utf8(b.to_vec()).unwrap(),
                            None => panic!("unknown field"),
                        };
                        s.fields.push((text(f.name), text(f.value)));
                    })
                    .expect("header block decodes");
                assert!(!block.incomplete && !block.too_large);
                s.ended |= end_stream;
            }
            Frame::Data {
                stream_id,
                end_stream,
                data,
            } => {
                let s = seen.get_mut(&stream_id).expect("DATA after HEADERS");
                assert!(!s.ended, "DATA after END_STREAM on {stream_id}");
                assert!(data.len() <= 16_384);
                s.body += data.len();
                s.ended |= end_stream;
            }
            Frame::WindowUpdate { stream_id, .. } => assert_eq!(stream_id, 0),
            Frame::GoAway { error_code, .. } => assert_eq!(error_code, 0),
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert_eq!(frames.offset(), bytes.len(), "trailing bytes");
    assert_eq!(settings, 2, "SETTINGS and the ACK of the peer's");
    assert_eq!(dec.anomalies().errors, 0);
    assert_eq!(dec.anomalies().unknown_refs, 0);
    seen
}

fn field<'a>(s: &'a Seen, name: &str) -> Option<&'a str> {
    s.fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn h2c_capture_is_well_formed_and_matches_truth() {
    let p = Params {
        transactions: 800,
        http2: true,
        seed: 7,
        chunked_share: 0.3,
        ..Params::default()
    };
    let (mut pcap, mut lines) = (Vec::new(), Vec::new());
    let truth = generate(&p, &mut pcap, Some(&mut lines)).unwrap();
    assert_eq!(truth.http2_transactions, 800);
    assert_eq!(truth.chunked_responses, 0);

    let conns = streams(&pcap);
    assert_eq!(conns.len() as u64, truth.http2_connections);
    let mut got = HashMap::new();
    let mut dynamic_refs = 0;
    for (key, (client, server)) in &conns {
        let rest = client.strip_prefix(PREFACE).expect("client preface");
        let requests = walk(rest, &mut Decoder::new(), &mut dynamic_refs);
        let responses = walk(server, &mut Decoder::new(), &mut dynamic_refs);
        assert_eq!(requests.len(), responses.len());
        for (id, rq) in requests {
            assert!(rq.ended, "request {id} not ended");
            let rs = &responses[&id];
            assert!(rs.ended, "response {id} not ended");
            got.insert(
                (key.clone(), id),
                (rq, responses[&id].body, rs.fields.clone()),
            );
        }
    }
    assert!(
        dynamic_refs > 10 * 800,
        "few dynamic-table references: {dynamic_refs}"
    );

    let lines = String::from_utf8(lines).unwrap();
    assert_eq!(lines.lines().count(), 800);
    for line in lines.lines() {
        let t: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            t["client"].as_str().unwrap().to_string(),
            t["stream"].as_u64().unwrap() as u32,
        );
        let (rq, resp_body, rs_fields) = got.remove(&key).expect("a stream per transaction");
        assert_eq!(field(&rq, ":method"), t["method"].as_str());
        assert_eq!(field(&rq, ":path"), t["path"].as_str());
        assert_eq!(field(&rq, ":authority"), t["host"].as_str());
        assert_eq!(field(&rq, ":scheme"), Some("http"));
        assert_eq!(rq.body as u64, t["request_body"].as_u64().unwrap());
        let rs = Seen {
            fields: rs_fields,
            ..Default::default()
        };
        assert_eq!(
            field(&rs, ":status").map(str::to_string),
            Some(t["status"].to_string())
        );
        assert!(field(&rs, "transfer-encoding").is_none());
        assert!(field(&rs, "connection").is_none());
        if t["method"] == "HEAD" {
            assert_eq!(resp_body, 0);
        } else if t["gzip"] == false {
            assert_eq!(resp_body as u64, t["response_body"].as_u64().unwrap());
        }
    }
    assert!(got.is_empty());
}

#[test]
fn h2c_same_seed_same_bytes() {
    let p = Params {
        transactions: 300,
        http2: true,
        ..Params::default()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    generate(&p, &mut a, None).unwrap();
    generate(&p, &mut b, None).unwrap();
    assert!(a == b);
}
