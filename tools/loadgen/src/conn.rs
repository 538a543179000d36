//! One TCP connection's packets: handshake, request and response flights
//! cut at the MSS with the receiver's ACKs, and the FIN teardown. Packets
//! are queued so the scheduler can interleave connections packet by packet.

use std::collections::VecDeque;

use crate::content::Client;
use crate::frame::{build, Endpoint, Segment, Wrapping, ACK, FIN, PSH, SYN};
use crate::h2::Encoder;
use crate::rng::Rng;
use crate::tls::Session;

/// Frames waiting to be written, stored back to back in one buffer.
#[derive(Default)]
pub struct Queue {
    bytes: Vec<u8>,
    frames: VecDeque<(usize, usize)>,
}

impl Queue {
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn pop(&mut self) -> Option<&[u8]> {
        let (start, end) = self.frames.pop_front()?;
        Some(&self.bytes[start..end])
    }

    /// Reuses the buffer once everything in it has been written.
    pub fn reset_if_drained(&mut self) {
        if self.frames.is_empty() {
            self.bytes.clear();
        }
    }
}

/// An h2c connection's protocol state: one HPACK encoder per direction
/// and where the connection is in its life.
#[derive(Default)]
pub struct H2State {
    pub client: Encoder,
    pub server: Encoder,
    /// The last stream id opened (client streams are odd).
    pub last_stream: u32,
    /// Preface and SETTINGS exchanged.
    pub started: bool,
    /// The client has acknowledged the server's SETTINGS.
    pub acked: bool,
    /// GOAWAY sent; the TCP teardown comes next.
    pub goaway: bool,
}

/// Network trouble applied to data segments: duplicates (a retransmission
/// after a lost ACK) and adjacent segments swapped (reordering). Both leave
/// the byte stream a receiver reassembles unchanged.
pub struct Impairments {
    pub retransmit_ppm: u32,
    pub reorder_ppm: u32,
    pub rng: Rng,
    pub retransmitted: u64,
    pub reordered: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

pub struct Conn {
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub who: Client,
    /// This connection's own random stream, so its content does not depend
    /// on how connections interleave.
    pub rng: Rng,
    /// Transactions still to send on this connection.
    pub remaining: u32,
    pub pipelined: bool,
    /// The last exchange says `Connection: close` and the server closes.
    pub server_closes: bool,
    pub open: bool,
    pub closed: bool,
    pub queue: Queue,
    /// HTTP/2 state when the connection speaks h2c (or h2 over TLS).
    pub h2: Option<H2State>,
    /// Record protection when the connection is TLS (--tls).
    pub tls: Option<Session>,
    /// The TLS handshake's flights, queued after the TCP handshake.
    pub tls_pending: Vec<(Side, Vec<u8>)>,
    c_seq: u32,
    s_seq: u32,
    c_ip_id: u16,
    s_ip_id: u16,
    c_ts: u32,
    s_ts: u32,
}

/// Segment payload limit: a 1500-byte MTU minus IP and TCP headers and
/// options.
pub fn mss(wrap: &Wrapping, ipv6: bool) -> usize {
    let ip = if ipv6 { 40 } else { 20 };
    let tcp = if wrap.tcp_timestamps { 32 } else { 20 };
    1500 - ip - tcp
}

impl Conn {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        client: Endpoint,
        server: Endpoint,
        who: Client,
        remaining: u32,
        pipelined: bool,
        mut rng: Rng,
    ) -> Self {
        let (c_seq, s_seq) = (rng.next_u64() as u32, rng.next_u64() as u32);
        let (c_ip_id, s_ip_id) = (rng.next_u64() as u16, rng.next_u64() as u16);
        Conn {
            id,
            client,
            server,
            who,
            rng,
            remaining,
            pipelined,
            server_closes: false,
            open: false,
            closed: false,
            queue: Queue::default(),
            h2: None,
            tls: None,
            tls_pending: Vec::new(),
            c_seq,
            s_seq,
            c_ip_id,
            s_ip_id,
            c_ts: c_seq >> 8,
            s_ts: s_seq >> 8,
        }
    }

    /// Queues one segment from `side` carrying `payload`.
    fn push(&mut self, wrap: &Wrapping, side: Side, flags: u8, payload: &[u8], now_ms: u32) {
        let (src, dst) = match side {
            Side::Client => (&self.client, &self.server),
            Side::Server => (&self.server, &self.client),
        };
        let (seq, ack, ip_id, ts_val, ts_ecr) = match side {
            Side::Client => (
                self.c_seq,
                self.s_seq,
                self.c_ip_id,
                self.c_ts.wrapping_add(now_ms),
                self.s_ts.wrapping_add(now_ms),
            ),
            Side::Server => (
                self.s_seq,
                self.c_seq,
                self.s_ip_id,
                self.s_ts.wrapping_add(now_ms),
                self.c_ts.wrapping_add(now_ms),
            ),
        };
        let seg = Segment {
            src,
            dst,
            seq,
            ack: if flags & ACK != 0 { ack } else { 0 },
            flags,
            window: if flags & SYN != 0 { 64_240 } else { 502 },
            ip_id,
            ts_val,
            ts_ecr: if flags == SYN { 0 } else { ts_ecr },
            mss: if self.client.ip.is_ipv6() { 1440 } else { 1460 },
            payload,
        };
        let start = self.queue.bytes.len();
        build(wrap, &seg, &mut self.queue.bytes);
        self.queue.frames.push_back((start, self.queue.bytes.len()));
        // SYN and FIN each take one sequence number.
        let used = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        match side {
            Side::Client => {
                self.c_seq = self.c_seq.wrapping_add(used);
                self.c_ip_id = self.c_ip_id.wrapping_add(1);
            }
            Side::Server => {
                self.s_seq = self.s_seq.wrapping_add(used);
                self.s_ip_id = self.s_ip_id.wrapping_add(1);
            }
        }
    }

    pub fn handshake(&mut self, wrap: &Wrapping, now_ms: u32) {
        self.push(wrap, Side::Client, SYN, b"", now_ms);
        self.push(wrap, Side::Server, SYN | ACK, b"", now_ms);
        self.push(wrap, Side::Client, ACK, b"", now_ms);
        self.open = true;
    }

    /// Queues `data` from `side` cut at the MSS; the peer ACKs every second
    /// segment and the end of the flight (delayed ACK). Returns segments sent.
    pub fn flight(
        &mut self,
        wrap: &Wrapping,
        imp: &mut Impairments,
        side: Side,
        data: &[u8],
        now_ms: u32,
    ) -> usize {
        let peer = match side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let chunks = data.chunks(mss(wrap, self.client.ip.is_ipv6()));
        let n = chunks.len();
        for (i, chunk) in chunks.enumerate() {
            let last = i + 1 == n;
            self.push(
                wrap,
                side,
                if last { PSH | ACK } else { ACK },
                chunk,
                now_ms,
            );
            let at = self.queue.frames.len() - 1;
            let span = self.queue.frames[at];
            // Odd segments directly follow their predecessor (no ACK between).
            if i % 2 == 1 && imp.rng.chance_ppm(imp.reorder_ppm) {
                self.queue.frames.swap(at - 1, at);
                imp.reordered += 1;
            }
            if imp.rng.chance_ppm(imp.retransmit_ppm) {
                self.queue.frames.push_back(span);
                imp.retransmitted += 1;
            }
            if i % 2 == 1 && !last {
                self.push(wrap, peer, ACK, b"", now_ms);
            }
        }
        // A client's request is acknowledged by the response itself.
        if side == Side::Server {
            self.push(wrap, peer, ACK, b"", now_ms);
        }
        n
    }

    /// FIN from `closer`, FIN from the other side, last ACK.
    pub fn teardown(&mut self, wrap: &Wrapping, closer: Side, now_ms: u32) {
        let other = if closer == Side::Client {
            Side::Server
        } else {
            Side::Client
        };
        self.push(wrap, closer, FIN | ACK, b"", now_ms);
        self.push(wrap, other, FIN | ACK, b"", now_ms);
        self.push(wrap, closer, ACK, b"", now_ms);
        self.closed = true;
    }
}
