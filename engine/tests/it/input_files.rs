//! Recorded input (issue 15): captures taken with a snap length, damaged
//! record headers, bad or failing files in `INPUT_RAW`'s list, and an
//! unwritable `OUTPUT_FILE`. The captures are built here, byte by byte.

use crate::common::scratch::Scratch;
use crate::common::{Finished, Run};

/// Transactions in the generated captures.
const TRANSACTIONS: usize = 100;

/// Response body size: its segment is longer than a 200-byte snap length.
const BODY: usize = 400;

/// One Ethernet/IPv4/TCP frame from (client index, to server?) with flags.
fn frame(conn: usize, to_server: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let client = [10, 1, (conn >> 8) as u8, conn as u8];
    let server = [10, 2, 0, 1];
    let cport = 40_000 + conn as u16;
    let (src, dst, sport, dport) = if to_server {
        (client, server, cport, 80)
    } else {
        (server, client, 80, cport)
    };
    let mut f = Vec::new();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// `n` transactions, one connection each (numbered from `first`):
/// handshake, a small GET, a response whose body segment is `BODY` bytes,
/// FIN both ways.
fn transactions_from(first: usize, n: usize) -> Vec<Vec<u8>> {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH_ACK: u8 = 0x18;
    const FIN_ACK: u8 = 0x11;
    let mut frames = Vec::new();
    for c in first..first + n {
        let req = format!("GET /item/{c} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\n\r\n").into_bytes();
        let body = vec![b'x'; BODY];
        let (ci, si) = (1000u32, 5000u32);
        let (rq, rh, rb) = (req.len() as u32, head.len() as u32, BODY as u32);
        frames.push(frame(c, true, ci, 0, SYN, &[]));
        frames.push(frame(c, false, si, ci + 1, SYN | ACK, &[]));
        frames.push(frame(c, true, ci + 1, si + 1, ACK, &[]));
        frames.push(frame(c, true, ci + 1, si + 1, PSH_ACK, &req));
        frames.push(frame(c, false, si + 1, ci + 1 + rq, ACK, &head));
        frames.push(frame(c, false, si + 1 + rh, ci + 1 + rq, PSH_ACK, &body));
        frames.push(frame(c, true, ci + 1 + rq, si + 1 + rh + rb, FIN_ACK, &[]));
        frames.push(frame(c, false, si + 1 + rh + rb, ci + 2 + rq, FIN_ACK, &[]));
        frames.push(frame(c, true, ci + 2 + rq, si + 2 + rh + rb, ACK, &[]));
    }
    frames
}

fn transactions(n: usize) -> Vec<Vec<u8>> {
    transactions_from(0, n)
}

/// A little-endian microsecond pcap of `frames`, each cut at `snaplen`
/// (0: not cut) with its original length kept; the header says
/// `header_snaplen`.
fn pcap_bytes(frames: &[Vec<u8>], snaplen: usize, header_snaplen: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&header_snaplen.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        let incl = if snaplen == 0 {
            f.len()
        } else {
            f.len().min(snaplen)
        };
        let us = i as u32 * 100;
        b.extend_from_slice(&(1_700_000_000u32 + us / 1_000_000).to_le_bytes());
        b.extend_from_slice(&(us % 1_000_000).to_le_bytes());
        b.extend_from_slice(&(incl as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&f[..incl]);
    }
    b
}

/// Byte offsets of each record header in a pcap.
fn record_offsets(b: &[u8]) -> Vec<usize> {
    let mut at = 24;
    let mut v = Vec::new();
    while at + 16 <= b.len() {
        v.push(at);
        at += 16 + u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    v
}

fn run_files(files: &str) -> Finished {
    Run::file(files)
        .no_metrics()
        .env("HEALTH_FILE", "")
        .output()
}

fn targets(done: &Finished) -> std::collections::BTreeSet<String> {
    done.records
        .iter()
        .filter_map(|r| r["request"]["target"].as_str().map(String::from))
        .collect()
}

/// `tcpdump -s 200`: every frame with a body is cut, and the header says
/// 200; a header saying 0 (no limit recorded) reads the same.
#[test]
fn a_snap_length_capture_yields_every_transaction() {
    let dir = Scratch::new("input-snaplen");
    for header_snaplen in [200, 0] {
        let path = dir.path(&format!("snap-{header_snaplen}.pcap"));
        std::fs::write(
            &path,
            pcap_bytes(&transactions(TRANSACTIONS), 200, header_snaplen),
        )
        .unwrap();
        let done = run_files(&path);
        done.assert_success();
        assert_eq!(
            targets(&done).len(),
            TRANSACTIONS,
            "snaplen {header_snaplen}: {}",
            done.stderr
        );
        assert_eq!(done.counter("capture_truncated"), TRANSACTIONS as u64);
        assert_eq!(done.counter("capture_bad_records"), 0);
    }
}

/// A record header damaged in the middle: counted, logged, and reading
/// resumes at the next record; every transaction but the damaged one's
/// comes out.
#[test]
fn a_damaged_record_header_is_skipped_and_counted() {
    let dir = Scratch::new("input-damaged");
    let mut bytes = pcap_bytes(&transactions(TRANSACTIONS), 0, 65_535);
    let offsets = record_offsets(&bytes);
    // The response head of transaction 50 (its 5th frame): incl_len garbage.
    let at = offsets[50 * 9 + 4];
    bytes[at + 8..at + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let path = dir.path("damaged.pcap");
    std::fs::write(&path, bytes).unwrap();
    let done = run_files(&path);
    done.assert_success();
    let got = targets(&done);
    assert!(
        got.len() >= TRANSACTIONS - 1,
        "{} records: {}",
        got.len(),
        done.stderr
    );
    assert_eq!(done.counter("capture_bad_records"), 1, "{}", done.stderr);
    assert!(done.stderr_has("damaged record header"), "{}", done.stderr);
}

/// A file that is not a capture, late in the list, is refused before
/// anything is read: exit 2, one line naming INPUT_RAW and the file.
#[test]
fn a_bad_file_later_in_the_list_is_refused_at_start() {
    let dir = Scratch::new("input-badlist");
    let good = dir.path("good.pcap");
    std::fs::write(&good, pcap_bytes(&transactions(TRANSACTIONS), 0, 65_535)).unwrap();
    let bad = dir.path("notapcap.pcap");
    std::fs::write(&bad, "this is not a capture\n".repeat(10)).unwrap();
    for list in [
        format!("{good},{bad}"),
        format!("{good},{}", dir.path("missing.pcap")),
    ] {
        let done = run_files(&list);
        assert_eq!(done.code, Some(2), "{list}: {}", done.stderr);
        assert!(done.stdout.trim().is_empty(), "no records: {}", done.stdout);
        let lines: Vec<&str> = done
            .stderr
            .lines()
            .filter(|l| !l.starts_with("httpcap --"))
            .collect();
        assert_eq!(lines.len(), 1, "one line: {}", done.stderr);
        let file = list.rsplit(',').next().unwrap();
        assert!(
            lines[0].contains("INPUT_RAW (--input-raw)") && lines[0].contains(file),
            "{}",
            lines[0]
        );
    }
}

/// A later file that fails part way (damage nothing plausible follows):
/// what was read is all processed and emitted, the summary printed, and
/// the run exits 1 with a line naming the file.
#[test]
fn a_file_failing_part_way_still_flushes_everything_read() {
    let dir = Scratch::new("input-failing");
    let good = dir.path("good.pcap");
    std::fs::write(&good, pcap_bytes(&transactions(TRANSACTIONS), 0, 65_535)).unwrap();
    // Ten transactions, then garbage with no plausible record header.
    let mut broken = pcap_bytes(&transactions_from(1000, 10), 0, 65_535);
    // Later than good.pcap's packets, as a capture rotated by tcpdump is.
    for at in record_offsets(&broken) {
        let sec = u32::from_le_bytes(broken[at..at + 4].try_into().unwrap()) + 60;
        broken[at..at + 4].copy_from_slice(&sec.to_le_bytes());
    }
    broken.extend(std::iter::repeat_n(0xffu8, 4096));
    let bad = dir.path("broken.pcap");
    std::fs::write(&bad, broken).unwrap();
    let done = run_files(&format!("{good},{bad}"));
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(done.stderr_has("httpcap summary"), "{}", done.stderr);
    assert_eq!(targets(&done).len(), TRANSACTIONS + 10, "{}", done.stderr);
    assert!(
        done.stderr
            .lines()
            .any(|l| l.contains("error") && l.contains(&bad)),
        "{}",
        done.stderr
    );
    assert_eq!(done.counter("capture_bad_records"), 1);
}

/// An OUTPUT_FILE that cannot be created is refused at start, not at the
/// first write, and before any input is read.
#[test]
fn an_unwritable_output_file_is_refused_at_start() {
    let dir = Scratch::new("input-unwritable");
    let good = dir.path("good.pcap");
    std::fs::write(&good, pcap_bytes(&transactions(3), 0, 65_535)).unwrap();
    let out = dir.path("no-such-dir/out.jsonl");
    let done = Run::file(&good)
        .no_metrics()
        .env("HEALTH_FILE", "")
        .env("OUTPUT_FILE", &out)
        .records_elsewhere()
        .output();
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    let lines: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| !l.starts_with("httpcap --"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", done.stderr);
    assert!(
        lines[0].contains("OUTPUT_FILE (--output-file)") && lines[0].contains(&out),
        "{}",
        lines[0]
    );
}
