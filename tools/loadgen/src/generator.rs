//! The scheduler: keeps `concurrency` connections open, advances a randomly
//! chosen one by a few packets at a time and streams the frames into the
//! pcap. Memory stays bounded by the open connections' pending flights,
//! whatever the transaction count.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use crate::conn::{Conn, Impairments, Side};
use crate::content::{Client, Content};
use crate::frame::{Endpoint, Wrapping};
use crate::h2;
use crate::params::{ppm, Params};
use crate::rng::Rng;
use crate::tls;
use crate::truth::{write_line, Truth};

/// Capture start: Mon, 05 Jan 2026 09:00:00 UTC.
pub const START_SECS: u64 = 1_767_603_600;

const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x20, 0x00, 0x01];

pub fn wrapping(p: &Params) -> Wrapping {
    Wrapping {
        vlan: p.vlan,
        ipip: p.ipip.then_some((
            Ipv4Addr::new(198, 51, 100, 250),
            Ipv4Addr::new(198, 51, 100, 251),
        )),
        tcp_timestamps: !p.no_tcp_timestamps,
    }
}

struct State {
    wrap: Wrapping,
    content: Content,
    now_ns: u64,
    truth: Truth,
    req: Vec<u8>,
    resp: Vec<u8>,
    imp: Impairments,
    leave_open: bool,
    h2_concurrent: u32,
    /// TLS records of the flight being sent.
    sealed: Vec<u8>,
}

/// Writes the capture for `p` to `out` and, if given, one truth line per
/// transaction to `lines`. Returns the totals. With `--tls` the key log is
/// discarded; [`generate_with_keylog`] keeps it.
pub fn generate<W: Write>(p: &Params, out: W, lines: Option<&mut dyn Write>) -> io::Result<Truth> {
    generate_with_keylog(p, out, lines, &mut io::sink())
}

/// [`generate`], writing the TLS secrets (`--tls`) to `keylog` as an NSS
/// key log, one connection's lines at its opening.
pub fn generate_with_keylog<W: Write>(
    p: &Params,
    out: W,
    mut lines: Option<&mut dyn Write>,
    keylog: &mut dyn Write,
) -> io::Result<Truth> {
    let suite = match p.tls {
        Some(v) => Some(
            tls::suite(v, p.tls_cipher.as_deref())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        ),
        None => None,
    };
    let header = PcapHeader {
        snaplen: 262_144,
        datalink: DataLink::ETHERNET,
        ts_resolution: if p.nanosecond {
            TsResolution::NanoSecond
        } else {
            TsResolution::MicroSecond
        },
        endianness: Endianness::Little,
        ..Default::default()
    };
    let mut pcap = PcapWriter::with_header(out, header).map_err(io::Error::other)?;

    let mut root = Rng::new(p.seed);
    // Separate streams: which connection moves next (and the clock) must not
    // change what the connections carry.
    let mut sched = root.fork();
    let mut opener = root.fork();
    let mut st = State {
        wrap: wrapping(p),
        content: Content::new(p.mix()),
        now_ns: START_SECS * 1_000_000_000,
        truth: Truth {
            seed: p.seed,
            first_ts_ns: START_SECS * 1_000_000_000,
            ..Default::default()
        },
        req: Vec::new(),
        resp: Vec::new(),
        imp: Impairments {
            retransmit_ppm: ppm(p.retransmit_share),
            reorder_ppm: ppm(p.reorder_share),
            rng: root.fork(),
            retransmitted: 0,
            reordered: 0,
        },
        leave_open: p.leave_open,
        h2_concurrent: p.h2_concurrent_streams.max(1),
        sealed: Vec::new(),
    };
    // Drawn after the other streams, so that a TLS capture carries the
    // same connections and exchanges as the cleartext one of its seed.
    let mut tls_rng = root.fork();
    let mean_gap = 1_000_000_000 / p.pps.max(1);
    let planned_conns = p.connections.map(|c| c.clamp(1, p.transactions.max(1)));
    let pipeline_ppm = ppm(p.pipeline_share);
    let close_ppm = ppm(p.close_share);
    let ipv6_ppm = ppm(p.ipv6_share);

    let mut unassigned = p.transactions;
    let mut next_id = 0u64;
    let mut active: Vec<Conn> = Vec::with_capacity(p.concurrency);
    loop {
        while active.len() < p.concurrency.max(1) && unassigned > 0 {
            let depth = match planned_conns {
                Some(m) => p.transactions / m + u64::from(next_id < p.transactions % m),
                None if p.http2 => {
                    let lo = u64::from(p.h2_min_streams.max(1));
                    opener.range(lo, u64::from(p.h2_max_streams).max(lo))
                }
                None => opener.range(1, p.keepalive.max(1) as u64),
            }
            .min(unassigned);
            unassigned -= depth;
            let pipelined = opener.chance_ppm(pipeline_ppm);
            // IPIP carries IPv4 only, so tunnelled captures stay IPv4.
            let v6 = opener.chance_ppm(ipv6_ppm) && !p.ipip;
            let pipelined = pipelined && !p.http2;
            let mut conn = open(&mut opener, next_id, depth as u32, pipelined, v6);
            conn.server_closes = !conn.pipelined && opener.chance_ppm(close_ppm) && !p.leave_open;
            if p.http2 {
                conn.h2 = Some(Default::default());
                st.truth.http2_connections += 1;
            }
            if let Some(suite) = &suite {
                let sni = conn.who.host.split(':').next().unwrap_or(conn.who.host);
                let alpn = if p.http2 { "h2" } else { "http/1.1" };
                let hs = tls::handshake(suite, &mut tls_rng.fork(), sni, alpn, keylog)?;
                conn.tls = Some(hs.session);
                conn.tls_pending = hs.flights;
                st.truth.tls_connections += 1;
            }
            active.push(conn);
            next_id += 1;
        }
        if active.is_empty() {
            break;
        }
        let i = sched.below(active.len() as u64) as usize;
        let conn = &mut active[i];
        if conn.queue.is_empty() {
            conn.queue.reset_if_drained();
            advance(&mut st, conn, &mut lines)?;
        }
        for _ in 0..sched.range(1, 4) {
            let Some(frame) = conn.queue.pop() else { break };
            st.now_ns += sched.below(2 * mean_gap + 1);
            let ts = Duration::from_nanos(st.now_ns);
            pcap.write_packet(&PcapPacket::new(ts, frame.len() as u32, frame))
                .map_err(io::Error::other)?;
            st.truth.packets += 1;
            st.truth.bytes += frame.len() as u64;
        }
        if conn.closed && conn.queue.is_empty() {
            active.swap_remove(i);
        }
    }
    st.truth.connections = next_id;
    st.truth.last_ts_ns = st.now_ns;
    st.truth.retransmitted_segments = st.imp.retransmitted;
    st.truth.reordered_segments = st.imp.reordered;
    pcap.into_writer().flush()?;
    Ok(st.truth)
}

/// A new connection from a documentation-range client. Ports advance with
/// the connection number, so a 4-tuple repeats only after millions of
/// connections, long after the earlier one closed.
fn open(opener: &mut Rng, id: u64, depth: u32, pipelined: bool, v6: bool) -> Conn {
    let mut rng = opener.fork();
    let who = Client::new(&mut rng);
    let host = 10 + (id % 240) as u8;
    let client = Endpoint {
        mac: CLIENT_MAC,
        ip: if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x100, 0, 0, 0, host as u16))
        } else {
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, host))
        },
        port: 32_768 + ((id / 240) % 28_232) as u16,
    };
    let host_ix = crate::words::API_HOSTS
        .iter()
        .position(|h| *h == who.host)
        .unwrap_or(0);
    let server = Endpoint {
        mac: SERVER_MAC,
        ip: if v6 {
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0x200,
                0,
                0,
                0,
                10 + host_ix as u16,
            ))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + host_ix as u8))
        },
        port: if who.host.ends_with(":8080") {
            8080
        } else {
            80
        },
    };
    Conn::new(id, client, server, who, depth, pipelined, rng)
}

/// Queues the connection's next flight: handshake, one exchange (or a
/// pipelined group) or the teardown.
fn advance(st: &mut State, conn: &mut Conn, lines: &mut Option<&mut dyn Write>) -> io::Result<()> {
    let now_ms = ((st.now_ns / 1_000_000) % (1 << 32)) as u32;
    if !conn.open {
        conn.handshake(&st.wrap, now_ms);
        return Ok(());
    }
    if let Some(session) = conn.tls.as_mut() {
        if !session.started {
            session.started = true;
            for (side, bytes) in std::mem::take(&mut conn.tls_pending) {
                st.truth.tcp_payload_bytes += bytes.len() as u64;
                conn.flight(&st.wrap, &mut st.imp, side, &bytes, now_ms);
            }
            return Ok(());
        }
    }
    if conn.h2.is_some() {
        return advance_h2(st, conn, lines, now_ms);
    }
    if conn.remaining == 0 && st.leave_open {
        // Idle from here on: the capture ends with the connection tracked.
        conn.closed = true;
        st.truth.left_open_connections += 1;
        return Ok(());
    }
    if conn.remaining == 0 {
        let closer = if conn.server_closes {
            Side::Server
        } else {
            Side::Client
        };
        if !close_notify(st, conn, closer, now_ms) {
            conn.teardown(&st.wrap, closer, now_ms);
        }
        return Ok(());
    }
    let group = if conn.pipelined && conn.remaining >= 2 {
        conn.rng.range(2, conn.remaining.min(4) as u64) as u32
    } else {
        1
    };
    st.req.clear();
    st.resp.clear();
    let secs = st.now_ns / 1_000_000_000;
    for _ in 0..group {
        conn.remaining -= 1;
        let close = conn.server_closes && conn.remaining == 0;
        let info = st.content.exchange(
            &mut conn.rng,
            &conn.who,
            secs,
            close,
            &mut st.req,
            &mut st.resp,
        );
        st.truth.count(&info, group > 1, false);
        if let Some(out) = lines.as_mut() {
            let client = std::net::SocketAddr::new(conn.client.ip, conn.client.port).to_string();
            let server = std::net::SocketAddr::new(conn.server.ip, conn.server.port).to_string();
            write_line(out, conn.id, &client, &server, &info, group > 1, None)?;
        }
    }
    emit(st, conn, Side::Client, now_ms);
    emit(st, conn, Side::Server, now_ms);
    Ok(())
}

/// The h2c counterpart of [`advance`]: after the TCP handshake, the
/// preface and SETTINGS exchange; then rounds of 1..=`h2_concurrent`
/// streams whose frames interleave (the client's in stream order, the
/// server's in a random order); then GOAWAY from the closing side and the
/// TCP teardown.
fn advance_h2(
    st: &mut State,
    conn: &mut Conn,
    lines: &mut Option<&mut dyn Write>,
    now_ms: u32,
) -> io::Result<()> {
    let h2s = conn.h2.as_mut().expect("an h2c connection");
    st.req.clear();
    st.resp.clear();
    if !h2s.started {
        h2s.started = true;
        h2::client_preface(&mut st.req);
        h2::server_preface(&mut st.resp);
        emit(st, conn, Side::Client, now_ms);
        emit(st, conn, Side::Server, now_ms);
        return Ok(());
    }
    if conn.remaining == 0 && st.leave_open {
        conn.closed = true;
        st.truth.left_open_connections += 1;
        return Ok(());
    }
    let closer = if conn.server_closes {
        Side::Server
    } else {
        Side::Client
    };
    if conn.remaining == 0 && h2s.goaway {
        if !close_notify(st, conn, closer, now_ms) {
            conn.teardown(&st.wrap, closer, now_ms);
        }
        return Ok(());
    }
    if conn.remaining == 0 {
        h2s.goaway = true;
        // A server names the last stream it handled; a client, the last
        // stream the server may have pushed (none).
        let last = if closer == Side::Server {
            h2s.last_stream
        } else {
            0
        };
        h2::goaway(&mut st.req, last);
        if closer == Side::Server {
            std::mem::swap(&mut st.req, &mut st.resp);
        }
        emit(st, conn, closer, now_ms);
        return Ok(());
    }
    let group = conn
        .rng
        .range(1, u64::from(conn.remaining.min(st.h2_concurrent))) as u32;
    if !h2s.acked {
        h2s.acked = true;
        h2::settings_ack(&mut st.req);
    }
    let secs = st.now_ns / 1_000_000_000;
    let mut client_frames = Vec::with_capacity(group as usize);
    let mut exchanges = Vec::with_capacity(group as usize);
    for _ in 0..group {
        conn.remaining -= 1;
        let (mut req, mut resp) = (Vec::new(), Vec::new());
        let mut info =
            st.content
                .exchange(&mut conn.rng, &conn.who, secs, false, &mut req, &mut resp);
        h2s.last_stream += if h2s.last_stream == 0 { 1 } else { 2 };
        let id = h2s.last_stream;
        // Requests go out in stream order, so they are encoded in it.
        client_frames.push(h2::request(id, &mut h2s.client, &req));
        // No chunked framing on the wire: the chunks became DATA frames.
        info.chunked = false;
        st.truth.count(&info, false, true);
        if let Some(out) = lines.as_mut() {
            let client = std::net::SocketAddr::new(conn.client.ip, conn.client.port).to_string();
            let server = std::net::SocketAddr::new(conn.server.ip, conn.server.port).to_string();
            write_line(out, conn.id, &client, &server, &info, false, Some(id))?;
        }
        exchanges.push((id, resp, info.method == "HEAD"));
    }
    let in_order: Vec<usize> = (0..group as usize).collect();
    h2::interleave(client_frames, &in_order, &mut st.req);
    // The server answers in its own order; its header blocks are encoded
    // in that order, the order they go on the wire.
    let order = h2::shuffled(&mut conn.rng, group as usize);
    let mut server_frames = vec![Vec::new(); group as usize];
    for &i in &order {
        let (id, resp, head) = &exchanges[i];
        server_frames[i] = h2::response(*id, &mut h2s.server, resp, *head);
    }
    h2::interleave(server_frames, &order, &mut st.resp);
    emit(st, conn, Side::Client, now_ms);
    emit(st, conn, Side::Server, now_ms);
    Ok(())
}

/// Queues `st.req` (client) or `st.resp` (server) from `side`, sealed in
/// TLS records when the connection is TLS.
fn emit(st: &mut State, conn: &mut Conn, side: Side, now_ms: u32) {
    let data = match side {
        Side::Client => &st.req,
        Side::Server => &st.resp,
    };
    let bytes = match conn.tls.as_mut() {
        Some(session) => {
            st.sealed.clear();
            session.sealer(side).seal_data(data, &mut st.sealed);
            &st.sealed
        }
        None => data,
    };
    st.truth.tcp_payload_bytes += bytes.len() as u64;
    conn.flight(&st.wrap, &mut st.imp, side, bytes, now_ms);
}

/// On a TLS connection, queues the closing side's close_notify alert once,
/// before the TCP teardown. Returns whether it did.
fn close_notify(st: &mut State, conn: &mut Conn, closer: Side, now_ms: u32) -> bool {
    let Some(session) = conn.tls.as_mut() else {
        return false;
    };
    if session.closed {
        return false;
    }
    session.closed = true;
    st.sealed.clear();
    session.sealer(closer).close_notify(&mut st.sealed);
    st.truth.tcp_payload_bytes += st.sealed.len() as u64;
    conn.flight(&st.wrap, &mut st.imp, closer, &st.sealed, now_ms);
    true
}
