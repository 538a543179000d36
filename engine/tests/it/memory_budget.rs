//! HEAP_LIMIT is a hard budget: a SYN flood plus slowloris-style partial
//! requests, over a million streams in all, against HEAP_LIMIT=256MiB.
//! The process's peak RSS (from the kernel, via wait4) stays under the
//! limit plus the documented fixed overhead, evictions are counted, and
//! every complete transaction mixed into the flood is still emitted.
//!
//! The capture is generated here and streamed through a FIFO, so nothing
//! large touches the disk. Addresses are documentation ranges; the
//! packets exist only in the pipe.

use std::io::{BufWriter, Write};

use serde_json::Value;

use crate::common::{Run, Scratch};

const MIB: u64 = 1 << 20;
const HEAP_LIMIT: u64 = 256 * MIB;
/// The documented fixed overhead (README, "Memory"): code, allocator,
/// thread stacks, the file reader's packet rings and the output queue.
const FIXED_OVERHEAD: u64 = 96 * MIB;

/// Steps of the generator: each sends one flood SYN, slowloris and
/// legitimate packets are interleaved at fixed strides.
const STEPS: u32 = 1_500_000;
/// Every this many steps a new slowloris connection starts (5 packets).
const SLOW_STRIDE: u32 = 10;
/// Bytes of each of a slowloris connection's two partial-head segments.
const SLOW_SEG: usize = 1000;
/// A legitimate transaction's packets are this many steps apart.
const LEGIT_GAP: u32 = 40;
const LEGIT_PACKETS: u32 = 8;

struct Pcap<W: Write> {
    w: W,
    ts_us: u64,
}

impl<W: Write> Pcap<W> {
    fn new(mut w: W) -> std::io::Result<Self> {
        // Classic pcap, microseconds, Ethernet.
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&[0; 8])?;
        w.write_all(&65535u32.to_le_bytes())?;
        w.write_all(&1u32.to_le_bytes())?;
        Ok(Pcap {
            w,
            ts_us: 1_700_000_000_000_000,
        })
    }

    /// One Ethernet/IPv4/TCP frame. Checksums are not checked by the engine.
    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> std::io::Result<()> {
        self.ts_us += 2;
        let ip_len = 20 + 20 + payload.len();
        let frame_len = 14 + ip_len;
        let mut f = Vec::with_capacity(16 + frame_len);
        f.extend_from_slice(&((self.ts_us / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((self.ts_us % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(frame_len as u32).to_le_bytes());
        f.extend_from_slice(&(frame_len as u32).to_le_bytes());
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        f.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        self.w.write_all(&f)
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;
const SYN_ACK: u8 = 0x12;
const SERVER: [u8; 4] = [192, 0, 2, 1]; // TEST-NET-1

/// The n-th client of a group: 50,000 ports per address, addresses from
/// the benchmarking range 198.18.0.0/15.
fn client(n: u32, group: u8) -> ([u8; 4], u16) {
    let host = n / 50_000;
    (
        [
            198,
            18 + group / 128,
            group % 128 + (host >> 8) as u8,
            host as u8,
        ],
        10_000 + (n % 50_000) as u16,
    )
}

/// Writes the whole capture; returns how many complete transactions it holds.
fn generate<W: Write>(w: W) -> std::io::Result<u32> {
    let mut p = Pcap::new(w)?;
    let slow_head = {
        let mut h = b"GET /slow HTTP/1.1\r\nHost: victim.test\r\nX-Pad: ".to_vec();
        h.resize(2 * SLOW_SEG, b'a');
        h
    };
    let mut legit = 0;
    for step in 0..STEPS {
        // The flood: a SYN from a new address and port every step.
        let (c, port) = client(step, 0);
        p.tcp(c, port, SERVER, 80, step.wrapping_mul(7919), 0, SYN, &[])?;

        // Slowloris: handshake, then a head that never ends.
        let phase = step % SLOW_STRIDE;
        if phase < 5 {
            let (c, port) = client(step / SLOW_STRIDE, 64);
            let (cs, ss) = (1000u32, 5000u32);
            match phase {
                0 => p.tcp(c, port, SERVER, 80, cs, 0, SYN, &[])?,
                1 => p.tcp(SERVER, 80, c, port, ss, cs + 1, SYN_ACK, &[])?,
                2 => p.tcp(c, port, SERVER, 80, cs + 1, ss + 1, ACK, &[])?,
                3 => p.tcp(
                    c,
                    port,
                    SERVER,
                    80,
                    cs + 1,
                    ss + 1,
                    PSH_ACK,
                    &slow_head[..SLOW_SEG],
                )?,
                _ => p.tcp(
                    c,
                    port,
                    SERVER,
                    80,
                    cs + 1 + SLOW_SEG as u32,
                    ss + 1,
                    PSH_ACK,
                    &slow_head[SLOW_SEG..],
                )?,
            }
        }

        // A complete transaction, its packets spread through the flood.
        if step % LEGIT_GAP == 0 {
            let n = step / LEGIT_GAP;
            let (txn, k) = (n / LEGIT_PACKETS, n % LEGIT_PACKETS);
            let (c, port) = client(txn, 128);
            let req = format!("GET /ok/{txn} HTTP/1.1\r\nHost: api.test\r\n\r\n");
            let body = format!("{{\"txn\":{txn}}}");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let (cs, ss) = (7000u32, 9000u32);
            let (rq, rs) = (req.len() as u32, resp.len() as u32);
            match k {
                0 => p.tcp(c, port, SERVER, 80, cs, 0, SYN, &[])?,
                1 => p.tcp(SERVER, 80, c, port, ss, cs + 1, SYN_ACK, &[])?,
                2 => p.tcp(c, port, SERVER, 80, cs + 1, ss + 1, ACK, &[])?,
                3 => p.tcp(c, port, SERVER, 80, cs + 1, ss + 1, PSH_ACK, req.as_bytes())?,
                4 => p.tcp(
                    SERVER,
                    80,
                    c,
                    port,
                    ss + 1,
                    cs + 1 + rq,
                    PSH_ACK,
                    resp.as_bytes(),
                )?,
                5 => p.tcp(c, port, SERVER, 80, cs + 1 + rq, ss + 1 + rs, FIN_ACK, &[])?,
                6 => p.tcp(SERVER, 80, c, port, ss + 1 + rs, cs + 2 + rq, FIN_ACK, &[])?,
                _ => {
                    p.tcp(c, port, SERVER, 80, cs + 2 + rq, ss + 2 + rs, ACK, &[])?;
                    legit += 1;
                }
            }
        }
    }
    p.w.flush()?;
    Ok(legit)
}

/// A record of one of the legitimate transactions mixed into the flood.
fn is_ok(r: &Value) -> bool {
    r["request"]["target"]
        .as_str()
        .is_some_and(|t| t.starts_with("/ok/"))
}

/// httpcap reading the capture fed into `fifo`: HEAP_LIMIT=256MiB, two
/// shards, no filters, no metrics.
fn under_heap_limit(fifo: &str) -> Run {
    Run::new()
        .env_clear()
        .env("INPUT_RAW_ENGINE", "pcap_file")
        .env("INPUT_RAW", fifo)
        .env("HEAP_LIMIT", "256MiB")
        .env("PROCESSING_WORKERS", "2")
        .env("METRICS_OUTPUT", "none")
        .env("HEALTH_FILE", "")
        .envs(crate::common::run::NO_FILTERS.iter().copied())
}

#[test]
fn syn_flood_and_slowloris_stay_within_heap_limit() {
    if !crate::common::run::peak_rss_measurable() {
        return;
    }
    let dir = Scratch::new("mem");
    let fifo = dir.fifo("flood.pcap");
    let running = under_heap_limit(&fifo)
        .output_file(dir.0.join("records.jsonl"))
        // Evicted connections' records are records too: each is checked,
        // the legitimate ones kept.
        .keep_records(is_ok)
        .measure_peak_rss()
        .spawn();

    let writer = std::thread::spawn(move || {
        let f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        generate(BufWriter::with_capacity(1 << 20, f)).unwrap()
    });
    let legit = writer.join().expect("generator");

    // A hang guard only.
    let done = running.wait(std::time::Duration::from_secs(3600));
    done.assert_success();
    let peak_rss = done.peak_rss_kib.expect("peak RSS measured") * 1024;

    let summary_value = |name: &str| {
        *done
            .summary()
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from summary"))
    };
    let opened = summary_value("streams_opened");
    let evicted = summary_value("streams_evicted_memory");
    let complete = |r: &&Value| {
        r["response"]["status"] == 200 && r["flags"].as_array().is_some_and(|f| f.is_empty())
    };
    let ok_records = done.records.len() as u32;
    let complete_ok = done.records.iter().filter(complete).count() as u32;
    println!(
        "streams_opened={opened} evicted={evicted} peak_rss={} MiB (bound {} MiB) legit={legit} emitted={ok_records} complete={complete_ok}",
        peak_rss / MIB,
        (HEAP_LIMIT + FIXED_OVERHEAD) / MIB
    );
    for r in done.records.iter().filter(|r| !complete(r)).take(3) {
        println!("incomplete: {} flags={}", r["id"], r["flags"]);
    }

    assert!(opened >= 1_000_000, "a million streams at least: {opened}");
    assert!(
        evicted > 0,
        "the budget was reached, so streams were evicted"
    );
    assert!(
        peak_rss <= HEAP_LIMIT + FIXED_OVERHEAD,
        "peak RSS {} MiB over HEAP_LIMIT + overhead {} MiB",
        peak_rss / MIB,
        (HEAP_LIMIT + FIXED_OVERHEAD) / MIB
    );
    // The generator's last transaction may be cut off by the end of the
    // capture: it is emitted too, flagged, so count only complete ones.
    assert_eq!(
        complete_ok, legit,
        "every complete transaction emitted, complete and unflagged"
    );
    assert!(ok_records <= legit + 1, "none emitted twice");
}

/// What an idle tracked connection costs: its arena slot plus its index
/// bucket (the table charges exactly this; an idle connection allocates
/// nothing else). Target: at most 512 bytes.
#[test]
fn idle_stream_costs_at_most_512_bytes() {
    use httpcap::flow::table::Conn;
    use httpcap::flow::FlowKey;
    use httpcap::http::HttpConn;
    let slot = std::mem::size_of::<Conn<HttpConn>>() + 8;
    let bucket = (std::mem::size_of::<(FlowKey, usize)>() + 1) * 8 / 7;
    println!(
        "idle stream: {} bytes (arena slot {slot}, index bucket {bucket}; HttpConn {}, HalfStream {})",
        slot + bucket,
        std::mem::size_of::<HttpConn>(),
        std::mem::size_of::<httpcap::flow::reassembly::HalfStream>()
    );
    assert!(
        slot + bucket <= 512,
        "{} bytes per idle stream",
        slot + bucket
    );
}

/// Writes a connection from client port `port` to SERVER:80: handshake,
/// the client's bytes, the server's bytes (either may be empty), FINs.
fn exchange<W: Write>(
    p: &mut Pcap<W>,
    port: u16,
    request: &[u8],
    response: &[u8],
) -> std::io::Result<()> {
    let c = [198, 51, 100, 7]; // TEST-NET-2
    let (mut cs, mut ss) = (1_000u32, 9_000u32);
    p.tcp(c, port, SERVER, 80, cs, 0, SYN, &[])?;
    p.tcp(SERVER, 80, c, port, ss, cs + 1, SYN_ACK, &[])?;
    cs += 1;
    ss += 1;
    for piece in request.chunks(1400) {
        p.tcp(c, port, SERVER, 80, cs, ss, PSH_ACK, piece)?;
        cs = cs.wrapping_add(piece.len() as u32);
    }
    for piece in response.chunks(1400) {
        p.tcp(SERVER, 80, c, port, ss, cs, PSH_ACK, piece)?;
        ss = ss.wrapping_add(piece.len() as u32);
    }
    p.tcp(c, port, SERVER, 80, cs, ss, FIN_ACK, &[])?;
    p.tcp(SERVER, 80, c, port, ss, cs + 1, FIN_ACK, &[])?;
    Ok(())
}

const BOMBS: u16 = 300;
const LARGE_BODIES: u16 = 40;
const PIPELINED: usize = 100;

/// Bombs and large bodies, as the issue tried them: 300 responses that
/// are 1 GiB gzip bombs, 40 exchanges whose bodies are 3 MiB of control
/// bytes both ways (each would escape to 18 MiB of JSON), and one
/// connection of 100 pipelined requests whose bodies are gzip bombs, cut
/// off unanswered so that all 100 finish at once. Returns the records
/// expected.
fn generate_bombs<W: Write>(w: W) -> std::io::Result<u64> {
    let mut p = Pcap::new(w)?;
    let bomb = crate::content::bombs::gzip_bomb();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    response.extend_from_slice(&bomb);
    drop(bomb);
    for i in 0..BOMBS {
        let request = format!("GET /bomb/{i} HTTP/1.1\r\nHost: sensor.test\r\n\r\n");
        exchange(&mut p, 20_000 + i, request.as_bytes(), &response)?;
    }
    drop(response);

    let control = vec![1u8; 3 << 20];
    let with_body = |head: String| {
        let mut m = head.into_bytes();
        m.extend_from_slice(&control);
        m
    };
    for i in 0..LARGE_BODIES {
        let request = with_body(format!(
            "POST /large/{i} HTTP/1.1\r\nHost: sensor.test\r\nContent-Length: {}\r\n\r\n",
            control.len()
        ));
        let response = with_body(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            control.len()
        ));
        exchange(&mut p, 30_000 + i, &request, &response)?;
    }

    let small_bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..16 {
            e.write_all(&zeros)?;
        }
        e.finish()?
    };
    let mut pipeline = Vec::new();
    for i in 0..PIPELINED {
        pipeline.extend_from_slice(
            format!(
                "POST /pipelined/{i} HTTP/1.1\r\nHost: sensor.test\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                small_bomb.len()
            )
            .as_bytes(),
        );
        pipeline.extend_from_slice(&small_bomb);
    }
    exchange(&mut p, 40_000, &pipeline, &[])?;
    p.w.flush()?;
    Ok(BOMBS as u64 + LARGE_BODIES as u64 + PIPELINED as u64)
}

/// HEAP_LIMIT holds for what transactions carry, not only for how many
/// connections there are: decoded bodies, the records they make and the
/// output queue are within the budget (README, Memory). Records go to
/// /dev/null (they total over a gigabyte); the summary counts them.
#[test]
fn bombs_and_large_bodies_stay_within_heap_limit() {
    if !crate::common::run::peak_rss_measurable() {
        return;
    }
    let dir = Scratch::new("mem-bombs");
    let fifo = dir.fifo("bombs.pcap");
    let running = under_heap_limit(&fifo)
        .env("OUTPUT_FILE", "/dev/null")
        .records_elsewhere()
        .measure_peak_rss()
        .spawn();
    let writer = std::thread::spawn(move || {
        let f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        generate_bombs(BufWriter::with_capacity(1 << 20, f)).unwrap()
    });
    let expected = writer.join().expect("generator");
    let done = running.wait(std::time::Duration::from_secs(3600));
    done.assert_success();
    let peak_rss = done.peak_rss_kib.expect("peak RSS measured") * 1024;
    let out = done.counter("records_out");
    println!(
        "records_out={out} (expected {expected}) peak_rss={} MiB (bound {} MiB) summary={:?}",
        peak_rss / MIB,
        (HEAP_LIMIT + FIXED_OVERHEAD) / MIB,
        done.summary()
    );
    assert_eq!(out, expected, "every transaction emitted");
    assert!(
        peak_rss <= HEAP_LIMIT + FIXED_OVERHEAD,
        "peak RSS {} MiB over HEAP_LIMIT + overhead {} MiB",
        peak_rss / MIB,
        (HEAP_LIMIT + FIXED_OVERHEAD) / MIB
    );
}

/// The option index httpcap sets (`allocator::return_freed_memory_promptly`)
/// is mimalloc's purge delay: mimalloc reads MIMALLOC_PURGE_DELAY from the
/// environment into it. Checked in a child process (this test binary),
/// since the option is read once per process.
#[test]
fn allocator_option_index_is_purge_delay() {
    if std::env::var_os("HTTPCAP_PURGE_CHILD").is_some() {
        assert_eq!(httpcap::allocator::purge_delay_ms(), 777);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "memory_budget::allocator_option_index_is_purge_delay",
            "--nocapture",
        ])
        .env("HTTPCAP_PURGE_CHILD", "1")
        .env("MIMALLOC_PURGE_DELAY", "777")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
