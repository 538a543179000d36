//! Decompression bombs: 1 GiB of zeros in every coding, built here (each is
//! at most about a megabyte), must stop at MAX_BODY_BYTES with bounded memory.

use std::io::Write;
use std::time::Instant;

use httpcap::http::content::{decode_chain, Coding, Limits};

use super::alloc::peak_during;

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

fn gzip_bomb() -> Vec<u8> {
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

fn check(name: &str, codings: &[Coding], wire: &[u8], stated: Option<u64>) {
    assert!(
        wire.len() < CAP,
        "{name}: the bomb fits in MAX_BODY_BYTES of input"
    );
    let t = Instant::now();
    let (d, peak) = peak_during(|| decode_chain(codings, wire, false, LIM));
    let d = d.unwrap_or_else(|e| panic!("{name}: {e:?}"));
    // Informational only: no assertion on wall time.
    println!(
        "bomb {name}: {} bytes in, {} out, peak {} KiB, {:?}",
        wire.len(),
        d.body.len(),
        peak / 1024,
        t.elapsed()
    );
    assert_eq!(d.body.len(), CAP, "{name}: stopped at the cap");
    assert!(d.body.iter().all(|b| *b == 0), "{name}");
    assert!(d.truncated, "{name}");
    assert_eq!(d.full_size, stated, "{name}");
    // Output buffer growth (at most twice the cap), one discarded
    // whole-buffer try, and codec state (brotli's window is 4 MiB here).
    assert!(peak < 3 * CAP + 16 * MIB, "{name}: peak {peak} bytes");
}

#[test]
fn gzip_bomb_stops_at_cap() {
    let wire = gzip_bomb();
    check("gzip", &[Coding::Gzip], &wire, Some(GIB));
    // The same bomb inside br: "Content-Encoding: gzip, br".
    let mut inner = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut inner, 1 << 16, 5, 22);
        w.write_all(&wire).expect("brotli");
    }
    check("gzip, br", &[Coding::Gzip, Coding::Br], &inner, Some(GIB));
}

#[test]
fn deflate_bombs_stop_at_cap() {
    check("deflate (zlib)", &[Coding::Deflate], &zlib_bomb(), None);
    check(
        "deflate (raw)",
        &[Coding::Deflate],
        &raw_deflate_bomb(),
        None,
    );
}

#[test]
fn br_bomb_stops_at_cap() {
    check("br", &[Coding::Br], &br_bomb(), None);
}

#[test]
fn zstd_bomb_stops_at_cap() {
    check("zstd", &[Coding::Zstd], &zstd_bomb(), Some(GIB));
}
