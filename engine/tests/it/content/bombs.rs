//! Decompression bombs: 1 GiB of zeros in every coding, built here (each is
//! at most about a megabyte), must stop at MAX_BODY_BYTES with bounded memory.
//!
//! Each bomb is decoded in a child process (this test binary, running only
//! `bomb_child`), so that its peak resident memory, read from
//! /proc/self/status after resetting it through /proc/self/clear_refs,
//! belongs to that decode alone.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use httpcap::http::content::{decode_chain, Coding, Limits};

const GIB: u64 = 1 << 30;
const MIB: usize = 1 << 20;
/// MAX_BODY_BYTES's default.
const CAP: usize = 3 * MIB;
const LIM: Limits = Limits {
    max_out: CAP,
    reserve: 128 << 10,
};

/// Raw deflate of 1 GiB of zeros: one compressed MiB repeated. A sync
/// flush leaves each piece byte-aligned and not final, so the pieces
/// concatenate; an empty fixed-Huffman final block ends the stream.
fn raw_deflate_bomb() -> Vec<u8> {
    let zeros = vec![0u8; MIB];
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut piece = Vec::with_capacity(64 * 1024);
    c.compress_vec(&zeros, &mut piece, flate2::FlushCompress::Sync)
        .expect("compress");
    assert_eq!(c.total_in(), MIB as u64, "one call consumed the MiB");
    let mut out = Vec::with_capacity(piece.len() * 1024 + 2);
    for _ in 0..GIB / MIB as u64 {
        out.extend_from_slice(&piece);
    }
    out.extend_from_slice(&[0x03, 0x00]);
    out
}

fn zlib_bomb() -> Vec<u8> {
    let mut out = vec![0x78, 0xda];
    out.extend(raw_deflate_bomb());
    // Adler-32 of n zeros: a stays 1, b grows by 1 per byte.
    let adler = ((GIB % 65521) as u32) << 16 | 1;
    out.extend_from_slice(&adler.to_be_bytes());
    out
}

pub fn gzip_bomb() -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(raw_deflate_bomb());
    let mut crc = flate2::Crc::new();
    let zeros = vec![0u8; MIB];
    for _ in 0..GIB / MIB as u64 {
        crc.update(&zeros);
    }
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(GIB as u32).to_le_bytes());
    out
}

fn br_bomb() -> Vec<u8> {
    let zeros = vec![0u8; MIB];
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 1 << 16, 1, 22);
        for _ in 0..GIB / MIB as u64 {
            w.write_all(&zeros).expect("brotli");
        }
    }
    out
}

fn zstd_bomb() -> Vec<u8> {
    let zeros = vec![0u8; MIB];
    let mut e = zstd::stream::Encoder::new(Vec::new(), 1).expect("zstd");
    e.set_pledged_src_size(Some(GIB)).expect("pledge");
    e.include_contentsize(true).expect("content size");
    for _ in 0..GIB / MIB as u64 {
        e.write_all(&zeros).expect("zstd");
    }
    e.finish().expect("zstd")
}

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn bomb(name: &str) -> (Vec<Coding>, Vec<u8>, Option<u64>) {
    match name {
        "gzip" => (vec![Coding::Gzip], gzip_bomb(), Some(GIB)),
        "gzip, br" => {
            // The gzip bomb inside br: "Content-Encoding: gzip, br".
            let mut wire = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut wire, 1 << 16, 5, 22);
                w.write_all(&gzip_bomb()).expect("brotli");
            }
            (vec![Coding::Gzip, Coding::Br], wire, Some(GIB))
        }
        "deflate-zlib" => (vec![Coding::Deflate], zlib_bomb(), None),
        "deflate-raw" => (vec![Coding::Deflate], raw_deflate_bomb(), None),
        "br" => (vec![Coding::Br], br_bomb(), None),
        "zstd" => (vec![Coding::Zstd], zstd_bomb(), Some(GIB)),
        other => panic!("unknown bomb {other}"),
    }
}

/// Runs in the child: builds one bomb, decodes it, checks the result and
/// the memory it took. A no-op unless HTTPCAP_BOMB names a bomb.
#[test]
fn bomb_child() {
    let Ok(name) = std::env::var("HTTPCAP_BOMB") else {
        return;
    };
    let (codings, wire, stated) = bomb(&name);
    assert!(
        wire.len() < CAP,
        "{name}: the bomb fits in MAX_BODY_BYTES of input"
    );
    // Reset the peak resident size to the current one ("5": Linux >= 4.0).
    let measured = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let base = status_kib("VmRSS").unwrap_or(0);
    let t = Instant::now();
    let d = decode_chain(&codings, &wire, false, LIM).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let elapsed = t.elapsed();
    let peak = status_kib("VmHWM").unwrap_or(0).saturating_sub(base);
    // Informational only: no assertion on wall time.
    println!(
        "bomb {name}: {} bytes in, {} out, peak +{peak} KiB resident, {elapsed:?}",
        wire.len(),
        d.body.len(),
    );
    assert_eq!(d.body.len(), CAP, "{name}: stopped at the cap");
    assert!(d.body.iter().all(|b| *b == 0), "{name}");
    assert!(d.truncated, "{name}");
    assert_eq!(d.full_size, stated, "{name}");
    if measured {
        // The output (twice the cap at most while it grows), one discarded
        // whole-buffer try, and codec state (brotli's window is 4 MiB here).
        assert!(
            peak < (3 * CAP + 16 * MIB) as u64 / 1024,
            "{name}: peak {peak} KiB"
        );
    } else {
        println!("SKIPPED: memory bound for {name}: /proc/self/clear_refs absent");
    }
    println!("BOMB-OK {name}");
}

fn check(name: &str) {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([
            "content::bombs::bomb_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HTTPCAP_BOMB", name)
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest prints "test <name> ... " ahead of the child's first line.
    for line in stdout.lines() {
        if let Some(i) = line.find("bomb ").or_else(|| line.find("SKIPPED")) {
            println!("{}", &line[i..]);
        }
    }
    assert!(
        out.status.success() && stdout.contains(&format!("BOMB-OK {name}")),
        "{name}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gzip_bomb_stops_at_cap() {
    check("gzip");
    check("gzip, br");
}

#[test]
fn deflate_bombs_stop_at_cap() {
    check("deflate-zlib");
    check("deflate-raw");
}

#[test]
fn br_bomb_stops_at_cap() {
    check("br");
}

#[test]
fn zstd_bomb_stops_at_cap() {
    check("zstd");
}
