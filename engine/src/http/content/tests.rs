use std::io::Write;

use super::*;

const LIM: Limits = Limits {
    max_out: 1 << 20,
    reserve: 128 << 10,
};

/// Text that compresses like a JSON API answer, not like zeros.
fn sample(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        write!(
            out,
            "{{\"id\":{i},\"sku\":\"SKU-{x:07}\",\"qty\":{}}},",
            x % 9
        )
        .unwrap();
        i += 1;
    }
    out.truncate(n);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn br(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

fn zstd_enc(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).unwrap()
}

fn encode(c: Coding, data: &[u8]) -> Vec<u8> {
    match c {
        Coding::Gzip => gzip(data),
        Coding::Deflate => zlib(data),
        Coding::Br => br(data),
        Coding::Zstd => zstd_enc(data),
    }
}

const ALL: [Coding; 4] = [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd];

#[test]
fn tokens() {
    assert_eq!(Coding::parse(b" GZIP "), Ok(Some(Coding::Gzip)));
    assert_eq!(Coding::parse(b"x-gzip"), Ok(Some(Coding::Gzip)));
    assert_eq!(Coding::parse(b"Deflate"), Ok(Some(Coding::Deflate)));
    assert_eq!(Coding::parse(b"br"), Ok(Some(Coding::Br)));
    assert_eq!(Coding::parse(b"zstd"), Ok(Some(Coding::Zstd)));
    assert_eq!(Coding::parse(b"identity"), Ok(None));
    assert_eq!(Coding::parse(b"compress"), Err(DecodeError::Unsupported));
    assert_eq!(Coding::parse(b"x-compress"), Err(DecodeError::Unsupported));
}

#[test]
fn round_trips() {
    for n in [1, 100, 70_000, 900_000] {
        let data = sample(n);
        for c in ALL {
            let d = decode_chain(&[c], &encode(c, &data), false, LIM).unwrap();
            assert_eq!(d.body, data, "{c:?} {n}");
            assert_eq!(d.full_size, Some(n as u64), "{c:?}");
            assert!(!d.truncated);
        }
        let d = decode_chain(&[Coding::Deflate], &raw_deflate(&data), false, LIM).unwrap();
        assert_eq!(d.body, data, "raw deflate {n}");
    }
}

#[test]
fn empty_streams() {
    for c in ALL {
        let d = decode_chain(&[c], &encode(c, b""), false, LIM).unwrap();
        assert!(d.body.is_empty(), "{c:?}");
        assert_eq!(d.full_size, Some(0));
    }
}

#[test]
fn chains_undo_in_reverse() {
    let data = sample(50_000);
    // "Content-Encoding: gzip, br": gzip applied first, then br.
    let wire = br(&gzip(&data));
    let d = decode_chain(&[Coding::Gzip, Coding::Br], &wire, false, LIM).unwrap();
    assert_eq!(d.body, data);
    let wire = gzip(&zstd_enc(&raw_deflate(&data)));
    let d = decode_chain(
        &[Coding::Deflate, Coding::Zstd, Coding::Gzip],
        &wire,
        false,
        LIM,
    )
    .unwrap();
    assert_eq!(d.body, data);
    // Wrong order fails rather than emitting garbage.
    let wire = br(&gzip(&data));
    assert!(decode_chain(&[Coding::Br, Coding::Gzip], &wire, false, LIM).is_err());
    assert_eq!(
        decode_chain(&[Coding::Gzip; 5], &wire, false, LIM),
        Err(DecodeError::Unsupported)
    );
}

/// Found by the `decode` fuzz target: with a cap of 0, deflate's
/// one-shot path used a 1-byte buffer and returned a byte over the cap.
#[test]
fn a_zero_cap_keeps_nothing() {
    let lim = Limits {
        max_out: 0,
        reserve: 0,
    };
    for c in ALL {
        let d = decode_chain(&[c], &encode(c, b"x"), false, lim).unwrap();
        assert!(d.body.is_empty(), "{c:?}");
        assert!(d.truncated, "{c:?}");
    }
    let d = decode_chain(&[Coding::Deflate], &raw_deflate(b"x"), false, lim).unwrap();
    assert!(d.body.is_empty() && d.truncated);
    // Nothing to keep, nothing cut.
    let d = decode_chain(&[Coding::Deflate], &zlib(b""), false, lim).unwrap();
    assert!(d.body.is_empty() && !d.truncated);
}

#[test]
fn output_is_capped() {
    let data = sample(600_000);
    let lim = Limits {
        max_out: 100_000,
        reserve: 4096,
    };
    for c in ALL {
        let d = decode_chain(&[c], &encode(c, &data), false, lim).unwrap();
        assert_eq!(d.body, data[..100_000], "{c:?}");
        assert!(d.truncated);
        match c {
            // The gzip trailer and the zstd frame header state the size.
            Coding::Gzip | Coding::Zstd => assert_eq!(d.full_size, Some(600_000)),
            _ => assert_eq!(d.full_size, None),
        }
    }
    let d = decode_chain(&[Coding::Deflate], &raw_deflate(&data), false, lim).unwrap();
    assert_eq!(d.body, data[..100_000]);
    // Exactly at the cap is not truncated.
    let lim = Limits {
        max_out: 600_000,
        reserve: 4096,
    };
    for c in ALL {
        let d = decode_chain(&[c], &encode(c, &data), false, lim).unwrap();
        assert_eq!(d.body.len(), 600_000);
        assert!(!d.truncated, "{c:?}");
    }
}

#[test]
fn cut_input_yields_a_prefix() {
    let data = sample(300_000);
    for c in ALL {
        let wire = encode(c, &data);
        let half = &wire[..wire.len() / 2];
        let d = decode_chain(&[c], half, true, LIM).unwrap();
        assert!(d.truncated, "{c:?}");
        assert!(!d.body.is_empty(), "{c:?}");
        assert!(data.starts_with(&d.body), "{c:?}");
        assert_eq!(d.full_size, None);
    }
}

#[test]
fn corrupt_input_fails() {
    let data = sample(20_000);
    for c in ALL {
        let mut wire = encode(c, &data);
        let garbage = b"this is not compressed at all, just text";
        assert!(decode_chain(&[c], garbage, false, LIM).is_err(), "{c:?}");
        // Flip bytes in the middle.
        let mid = wire.len() / 2;
        for b in &mut wire[mid..mid + 16] {
            *b ^= 0x5a;
        }
        if let Ok(d) = decode_chain(&[c], &wire, false, LIM) {
            // A decoder may stop early at the damage, never run past it with junk
            // reported as a whole body.
            assert!(d.truncated || d.body != data, "{c:?}");
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut x = 0x1234_5678_u32;
    for len in [0usize, 1, 2, 3, 10, 18, 100, 5000] {
        let buf: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for c in ALL {
            for cut in [false, true] {
                let _ = decode_chain(&[c], &buf, cut, LIM);
            }
        }
    }
}

fn msg(head: &str, body: Vec<u8>) -> Message {
    let head = crate::http::Head::parse(head.as_bytes(), false).expect("head");
    let mut m = Message::new(head, 0);
    m.body_size = body.len() as u64;
    m.body = body;
    m.complete = true;
    m
}

#[test]
fn messages() {
    let stats = ShardStats::default();
    let data = sample(10_000);
    let mut m = msg(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Encoding: br\r\n\r\n",
        br(&gzip(&data)),
    );
    assert_eq!(decode_message(&mut m, LIM, &stats), Outcome::Decoded);
    assert_eq!(m.body, data);
    assert_eq!(m.body_size, 10_000);
    assert_eq!(m.content_encoding.as_deref(), Some("gzip, br"));
    assert_eq!(stats.get(Counter::HttpDecoded), 1);

    // Transfer codings other than chunked are undone too.
    let mut m = msg(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        gzip(&data),
    );
    assert_eq!(decode_message(&mut m, LIM, &stats), Outcome::Decoded);
    assert_eq!(m.body, data);

    let mut m = msg(
        "HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\n\r\n",
        data.clone(),
    );
    assert_eq!(decode_message(&mut m, LIM, &stats), Outcome::Plain);
    assert_eq!(m.content_encoding, None);

    let mut m = msg(
        "HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\n\r\n",
        vec![1, 2, 3],
    );
    assert_eq!(decode_message(&mut m, LIM, &stats), Outcome::Failed);
    assert_eq!(m.body, [1, 2, 3]);
    assert_eq!(m.content_encoding, None);
    assert_eq!(stats.get(Counter::HttpDecodeFailed), 1);

    // Claims gzip, is not: left raw.
    let mut m = msg(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n",
        data.clone(),
    );
    assert_eq!(decode_message(&mut m, LIM, &stats), Outcome::Failed);
    assert_eq!(m.body, data);

    // No body, nothing to decode (HEAD, 304).
    let mut m = msg(
        "HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\n\r\n",
        vec![],
    );
    assert_eq!(decode_message(&mut m, LIM, &stats), Outcome::Plain);
}

#[test]
fn message_with_a_hole_decodes_up_to_it() {
    let stats = ShardStats::default();
    let data = sample(200_000);
    let wire = gzip(&data);
    let at = wire.len() / 2;
    let mut body = wire[..at].to_vec();
    body.extend_from_slice(&wire[at + 1000..]);
    let mut m = msg("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n", body);
    m.gap = true;
    m.body_gap_at = Some(at);
    assert_eq!(decode_message(&mut m, LIM, &stats), Outcome::Decoded);
    assert!(m.body_truncated);
    assert!(!m.body.is_empty() && data.starts_with(&m.body));
}

#[test]
fn capped_message_counts_truncation() {
    let stats = ShardStats::default();
    let data = sample(300_000);
    let lim = Limits {
        max_out: 50_000,
        reserve: 4096,
    };
    let mut m = msg(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n",
        gzip(&data),
    );
    assert_eq!(decode_message(&mut m, lim, &stats), Outcome::Decoded);
    assert!(m.body_truncated);
    assert_eq!(m.body.len(), 50_000);
    assert_eq!(m.body_size, 300_000);
    assert_eq!(stats.get(Counter::HttpBodyTruncated), 1);
}

#[test]
fn codings_content_encoding_first_whatever_the_field_order() {
    let m = msg(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Encoding: br\r\nContent-Encoding: deflate\r\n\r\n",
        Vec::new(),
    );
    assert_eq!(
        message_codings(&m),
        Ok(vec![Coding::Br, Coding::Deflate, Coding::Gzip])
    );
}

/// `parts` gzipped one by one and concatenated (RFC 1952 §2.2: a gzip
/// file is a series of members), and the parts joined.
fn gzip_members(parts: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
    let wire = parts.iter().flat_map(|p| gzip(p)).collect();
    (wire, parts.concat())
}

#[test]
fn gzip_members_are_all_decoded() {
    let data = sample(300_000);
    let two = vec![data[..100_000].to_vec(), data[100_000..].to_vec()];
    // Fifty members of uneven sizes, empty ones at the start, middle and end.
    let mut fifty: Vec<Vec<u8>> = data.chunks(6_500).map(<[u8]>::to_vec).collect();
    fifty[0].clear();
    fifty[20].clear();
    fifty.push(Vec::new());
    // Identical members: each one's trailer matches the other's output.
    let same = vec![data[..5_000].to_vec(), data[..5_000].to_vec()];
    let empty_second = vec![data[..5_000].to_vec(), Vec::new()];
    // A single member keeps the fast path; several are seen as such.
    assert!(!may_hold_members(&gzip(&data)));
    assert!(may_hold_members(&gzip_members(&two).0));
    for (name, parts) in [
        ("two", two),
        ("fifty", fifty),
        ("same", same),
        ("empty second", empty_second),
    ] {
        let (wire, whole) = gzip_members(&parts);
        let d = decode_chain(&[Coding::Gzip], &wire, false, LIM).unwrap();
        assert_eq!(d.body.len(), whole.len(), "{name}");
        assert_eq!(d.body, whole, "{name}");
        assert_eq!(d.full_size, Some(whole.len() as u64), "{name}");
        assert!(!d.truncated, "{name}");
    }
}

#[test]
fn gzip_members_in_a_message_are_not_reported_whole_when_cut_short() {
    let stats = ShardStats::default();
    let data = sample(200_000);
    let (wire, whole) = gzip_members(&[data[..50_000].to_vec(), data[50_000..].to_vec()]);
    let mut m = msg(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n",
        wire.clone(),
    );
    assert_eq!(decode_message(&mut m, LIM, &stats), Outcome::Decoded);
    assert_eq!((m.body.len(), m.body_size), (whole.len(), 200_000));
    assert!(!m.body_truncated);
    // The second member cut in its middle: the first decodes, and the
    // record says the body is cut, whether or not the cut was seen.
    let first = gzip(&data[..50_000]).len();
    let cut = &wire[..first + (wire.len() - first) / 2];
    for known in [true, false] {
        let d = decode_chain(&[Coding::Gzip], cut, known, LIM).unwrap();
        assert!(d.truncated, "known cut {known}");
        assert!(d.body.len() >= 50_000, "known cut {known}");
        assert!(whole.starts_with(&d.body), "known cut {known}");
        assert_eq!(d.full_size, None);
    }
}

#[test]
fn gzip_bomb_split_across_members_is_capped() {
    let lim = Limits {
        max_out: 100_000,
        reserve: 4096,
    };
    // Each member fits the cap; together they do not. Then members each
    // far over the cap, whose trailers state only their own size.
    for (member, count) in [(60_000, 40), (1 << 20, 20)] {
        let (wire, _) = gzip_members(&vec![vec![0u8; member]; count]);
        let d = decode_chain(&[Coding::Gzip], &wire, false, lim).unwrap();
        assert_eq!(d.body.len(), 100_000, "{member}");
        assert!(d.body.iter().all(|b| *b == 0));
        assert!(d.truncated);
        // The last trailer is not the total: unknown.
        assert_eq!(d.full_size, None, "{member}");
    }
    // A single member over the cap still reports its stated size.
    let d = decode_chain(&[Coding::Gzip], &gzip(&vec![0u8; 1 << 20]), false, lim).unwrap();
    assert_eq!((d.body.len(), d.full_size), (100_000, Some(1 << 20)));
}

#[test]
fn zstd_frames_are_all_decoded() {
    let data = sample(300_000);
    let wire = [
        zstd_enc(&data[..100_000]),
        zstd_enc(b""),
        zstd_enc(&data[100_000..]),
    ]
    .concat();
    let d = decode_chain(&[Coding::Zstd], &wire, false, LIM).unwrap();
    assert_eq!(d.body, data);
    assert_eq!(d.full_size, Some(300_000));
    assert!(!d.truncated);
    // Capped inside the first frame: its header states only its own size.
    let lim = Limits {
        max_out: 50_000,
        reserve: 4096,
    };
    let d = decode_chain(&[Coding::Zstd], &wire, false, lim).unwrap();
    assert_eq!(d.body, data[..50_000]);
    assert!(d.truncated);
    assert_eq!(d.full_size, None);
    // Cut in the second frame: the first decodes, marked cut.
    let first = zstd_enc(&data[..100_000]).len() + zstd_enc(b"").len();
    let cut = &wire[..first + (wire.len() - first) / 2];
    let d = decode_chain(&[Coding::Zstd], cut, true, LIM).unwrap();
    assert!(d.truncated && d.body.len() >= 100_000 && data.starts_with(&d.body));
}
