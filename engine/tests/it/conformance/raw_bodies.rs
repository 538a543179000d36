//! Bodies as captured, before their Content-Encoding is undone: what
//! Arkime hashes (its `md5` of a gzip body is the MD5 of the gzip bytes,
//! and its `bodyMagic` says `application/x-gzip`). Records carry decoded
//! bodies, so the Arkime comparison gets the encoded ones from here: the
//! capture is read again, each TCP direction put in order (first copy of
//! a byte wins; a direction stops at its first hole), and httpcap's own
//! HTTP/1 parser frames the messages (de-chunking included) with a sink
//! that keeps their bodies as they came.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::path::Path;

use httpcap::decode::{decode, DecodeOptions};
use httpcap::http::parser::{
    request_framing, response_framing, Ending, Framing, MessageParser, MessageSink, Role,
};
use httpcap::http::Head;
use httpcap::stats::ShardStats;

type End = (IpAddr, u16);

/// One direction's segments: where its bytes start and what was seen.
#[derive(Default)]
struct Direction {
    isn: Option<u32>,
    first_seq: Option<u32>,
    segments: Vec<(u32, Vec<u8>)>,
}

impl Direction {
    /// The bytes in order from the start, up to the first hole.
    fn bytes(&self) -> Vec<u8> {
        let Some(base) = self.isn.map(|s| s.wrapping_add(1)).or(self.first_seq) else {
            return Vec::new();
        };
        let mut segs: Vec<(i64, &[u8])> = self
            .segments
            .iter()
            .map(|(seq, p)| (seq.wrapping_sub(base) as i32 as i64, &p[..]))
            .collect();
        segs.sort_by_key(|(at, _)| *at);
        let mut out: Vec<u8> = Vec::new();
        for (at, p) in segs {
            let end = at + p.len() as i64;
            let have = out.len() as i64;
            if at > have {
                break;
            }
            if end > have {
                out.extend_from_slice(&p[(have - at) as usize..]);
            }
        }
        out
    }
}

/// Collects each message's body as it came, and whether its head named a
/// Content-Encoding.
struct Collect {
    role: Role,
    /// Request methods in order, for the responses' framing (HEAD, CONNECT).
    methods: VecDeque<String>,
    encoded: bool,
    interim: bool,
    body: Vec<u8>,
    /// Bodies of messages that named a Content-Encoding and completed.
    out: Vec<Vec<u8>>,
}

impl MessageSink for Collect {
    fn on_head(&mut self, head: Head, _ts_ns: u64) -> Framing {
        self.encoded = head.header("content-encoding").is_some();
        self.body.clear();
        self.interim = false;
        match self.role {
            Role::Request => {
                self.methods.push_back(head.method().to_string());
                request_framing(&head).unwrap_or(Framing::None)
            }
            Role::Response => {
                self.interim = (100..200).contains(&head.status()) && head.status() != 101;
                let method = self.methods.front().cloned();
                response_framing(&head, method.as_deref()).unwrap_or(Framing::UntilClose)
            }
        }
    }
    fn on_body(&mut self, data: &[u8]) {
        self.body.extend_from_slice(data);
    }
    fn on_body_gap(&mut self, _len: u64) {
        self.encoded = false;
    }
    fn on_complete(&mut self, ending: Ending, _ts_ns: u64) {
        if self.role == Role::Response && !self.interim {
            self.methods.pop_front();
        }
        if ending == Ending::Complete && self.encoded && !self.body.is_empty() {
            self.out.push(std::mem::take(&mut self.body));
        }
        self.encoded = false;
    }
    fn on_skipped(&mut self, _ts_ns: u64) {}
}

fn parse(role: Role, bytes: &[u8], methods: VecDeque<String>, stats: &ShardStats) -> Collect {
    let mut sink = Collect {
        role,
        methods,
        encoded: false,
        interim: false,
        body: Vec::new(),
        out: Vec::new(),
    };
    let mut p = MessageParser::new(role, 64 * 1024);
    p.feed(bytes, 0, stats, &mut sink);
    p.eof(0, stats, &mut sink);
    sink
}

/// The bodies in `capture` (both directions) whose message named a
/// Content-Encoding, as captured; messages cut by a hole or the capture's
/// end are left out, as the comparison leaves out truncated bodies.
pub fn encoded_bodies(capture: &Path) -> Vec<Vec<u8>> {
    let stats = ShardStats::default();
    let opts = DecodeOptions::default();
    let mut dirs: BTreeMap<(End, End), Direction> = BTreeMap::new();
    let path = capture.to_string_lossy();
    let _ = httpcap::capture::pcap_file::read_file(&path, &stats, |pkt| {
        let Ok(seg) = decode(&pkt, &opts) else {
            return;
        };
        let d = dirs
            .entry(((seg.src, seg.sport), (seg.dst, seg.dport)))
            .or_default();
        if seg.flags.syn() {
            d.isn = Some(seg.seq);
        }
        if !seg.payload.is_empty() {
            d.first_seq.get_or_insert(seg.seq);
            d.segments.push((seg.seq, seg.payload.to_vec()));
        }
    });
    let mut out = Vec::new();
    for ((from, to), d) in &dirs {
        let bytes = d.bytes();
        if !bytes.starts_with(b"HTTP/1.") {
            continue;
        }
        // A server's direction: its client's requests give the methods.
        let requests = dirs.get(&(*to, *from)).map(Direction::bytes);
        let methods = requests
            .map(|r| parse(Role::Request, &r, VecDeque::new(), &stats))
            .map(|c| {
                out.extend(c.out);
                c.methods
            })
            .unwrap_or_default();
        out.extend(parse(Role::Response, &bytes, methods, &stats).out);
    }
    out
}
