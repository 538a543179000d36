//! HPACK decoder tests: RFC 7541 Appendix C, tolerance, bounds, and
//! properties (arbitrary bytes; round trips against a reference encoder).

use proptest::prelude::*;

use super::*;

/// One example of RFC 7541 Appendix C: the encoded block, the header
/// list it decodes to, and the dynamic table after it (newest first).
struct Example {
    section: &'static str,
    hex: &'static str,
    headers: &'static [(&'static str, &'static str)],
    table: &'static [(&'static str, &'static str)],
    table_size: usize,
}

#[rustfmt::skip]
const EXAMPLES: &[Example] = &[
    Example {
        section: "C.2.1",
        hex: "400a637573746f6d2d6b65790d637573746f6d2d686561646572",
        headers: &[("custom-key", "custom-header")],
        table: &[("custom-key", "custom-header")],
        table_size: 55,
    },
    Example {
        section: "C.2.2",
        hex: "040c2f73616d706c652f70617468",
        headers: &[(":path", "/sample/path")],
        table: &[],
        table_size: 0,
    },
    Example {
        section: "C.2.3",
        hex: "100870617373776f726406736563726574",
        headers: &[("password", "secret")],
        table: &[],
        table_size: 0,
    },
    Example {
        section: "C.2.4",
        hex: "82",
        headers: &[(":method", "GET")],
        table: &[],
        table_size: 0,
    },
    Example {
        section: "C.3.1",
        hex: "828684410f7777772e6578616d706c652e636f6d",
        headers: &[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
        table: &[(":authority", "www.example.com")],
        table_size: 57,
    },
    Example {
        section: "C.3.2",
        hex: "828684be58086e6f2d6361636865",
        headers: &[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache")],
        table: &[("cache-control", "no-cache"), (":authority", "www.example.com")],
        table_size: 110,
    },
    Example {
        section: "C.3.3",
        hex: "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
        headers: &[(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")],
        table: &[("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")],
        table_size: 164,
    },
    Example {
        section: "C.4.1",
        hex: "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        headers: &[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
        table: &[(":authority", "www.example.com")],
        table_size: 57,
    },
    Example {
        section: "C.4.2",
        hex: "828684be5886a8eb10649cbf",
        headers: &[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache")],
        table: &[("cache-control", "no-cache"), (":authority", "www.example.com")],
        table_size: 110,
    },
    Example {
        section: "C.4.3",
        hex: "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        headers: &[(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")],
        table: &[("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")],
        table_size: 164,
    },
    Example {
        section: "C.5.1",
        hex: "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
        headers: &[(":status", "302"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")],
        table: &[("location", "https://www.example.com"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("cache-control", "private"), (":status", "302")],
        table_size: 222,
    },
    Example {
        section: "C.5.2",
        hex: "4803333037c1c0bf",
        headers: &[(":status", "307"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")],
        table: &[(":status", "307"), ("location", "https://www.example.com"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("cache-control", "private")],
        table_size: 222,
    },
    Example {
        section: "C.5.3",
        hex: "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
        headers: &[(":status", "200"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT"), ("location", "https://www.example.com"), ("content-encoding", "gzip"), ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")],
        table: &[("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"), ("content-encoding", "gzip"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT")],
        table_size: 215,
    },
    Example {
        section: "C.6.1",
        hex: "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
        headers: &[(":status", "302"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")],
        table: &[("location", "https://www.example.com"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("cache-control", "private"), (":status", "302")],
        table_size: 222,
    },
    Example {
        section: "C.6.2",
        hex: "4883640effc1c0bf",
        headers: &[(":status", "307"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")],
        table: &[(":status", "307"), ("location", "https://www.example.com"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("cache-control", "private")],
        table_size: 222,
    },
    Example {
        section: "C.6.3",
        hex: "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        headers: &[(":status", "200"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT"), ("location", "https://www.example.com"), ("content-encoding", "gzip"), ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")],
        table: &[("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"), ("content-encoding", "gzip"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT")],
        table_size: 215,
    },
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

type Owned = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Decodes a block, collecting owned fields.
fn decode_all(
    d: &mut Decoder,
    block: &[u8],
    max: usize,
) -> (Result<Block, HpackError>, Vec<Owned>) {
    let mut fields = Vec::new();
    let r = d.decode(block, max, |f| {
        fields.push((
            f.name.known().map(<[u8]>::to_vec),
            f.value.known().map(<[u8]>::to_vec),
        ))
    });
    (r, fields)
}

fn known(h: &[(&str, &str)]) -> Vec<Owned> {
    h.iter()
        .map(|(n, v)| (Some(n.as_bytes().to_vec()), Some(v.as_bytes().to_vec())))
        .collect()
}

fn table_of(d: &Decoder) -> Vec<Owned> {
    (0..d.table().len())
        .map(|k| {
            let (n, v) = d.table().get(k).unwrap();
            (n.map(<[u8]>::to_vec), v.map(<[u8]>::to_vec))
        })
        .collect()
}

/// Runs the examples of one section in order on one decoder.
fn run_section(prefix: &str, table_max: Option<u32>) {
    let mut d = Decoder::new();
    if let Some(max) = table_max {
        d.set_max_table_size(max);
    }
    let mut ran = 0;
    for ex in EXAMPLES.iter().filter(|e| e.section.starts_with(prefix)) {
        if prefix == "C.2" {
            d = Decoder::new();
        }
        let (r, fields) = decode_all(&mut d, &unhex(ex.hex), 64 * 1024);
        let block = r.unwrap_or_else(|e| panic!("{}: {e}", ex.section));
        assert!(!block.incomplete && !block.too_large, "{}", ex.section);
        assert_eq!(fields, known(ex.headers), "{}: header list", ex.section);
        assert_eq!(
            table_of(&d),
            known(ex.table),
            "{}: dynamic table",
            ex.section
        );
        assert_eq!(
            d.table().size(),
            ex.table_size,
            "{}: table size",
            ex.section
        );
        ran += 1;
    }
    assert!(ran >= 3, "{prefix}: {ran} examples");
    assert_eq!(d.anomalies(), Anomalies::default());
}

#[test]
fn http2_hpack_rfc7541_c2_field_representations() {
    run_section("C.2", None);
    // C.2.3 is never indexed.
    let mut d = Decoder::new();
    let mut never = Vec::new();
    d.decode(&unhex(EXAMPLES[2].hex), 1000, |f| {
        never.push(f.never_indexed)
    })
    .unwrap();
    assert_eq!(never, [true]);
}

#[test]
fn http2_hpack_rfc7541_c3_requests_without_huffman() {
    run_section("C.3", None);
}

#[test]
fn http2_hpack_rfc7541_c4_requests_with_huffman() {
    run_section("C.4", None);
}

#[test]
fn http2_hpack_rfc7541_c5_responses_with_eviction() {
    run_section("C.5", Some(256));
}

#[test]
fn http2_hpack_rfc7541_c6_responses_huffman_with_eviction() {
    run_section("C.6", Some(256));
}

#[test]
fn http2_hpack_rfc7541_c1_integers() {
    let mut pos = 0;
    assert_eq!(read_int(&[0b0000_1010], &mut pos, 5), Ok(10));
    pos = 0;
    assert_eq!(
        read_int(&[0b0001_1111, 0b1001_1010, 0b0000_1010], &mut pos, 5),
        Ok(1337)
    );
    assert_eq!(pos, 3);
    pos = 0;
    assert_eq!(read_int(&[42], &mut pos, 8), Ok(42));
    // Truncated, and endless continuation octets.
    pos = 0;
    assert_eq!(
        read_int(&[0x1f, 0x80], &mut pos, 5),
        Err(HpackError::Truncated)
    );
    pos = 0;
    let long = [
        0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
    ];
    assert_eq!(
        read_int(&long, &mut pos, 5),
        Err(HpackError::IntegerOverflow)
    );
}

// ---- encoding helpers for hand-made blocks ----

fn int(out: &mut Vec<u8>, flags: u8, prefix: u8, mut v: u64) {
    let max = (1u64 << prefix) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

fn lit(out: &mut Vec<u8>, s: &[u8], huff: bool) {
    if huff {
        let mut enc = Vec::new();
        huffman::encode(s, &mut enc);
        int(out, 0x80, 7, enc.len() as u64);
        out.extend_from_slice(&enc);
    } else {
        int(out, 0, 7, s.len() as u64);
        out.extend_from_slice(s);
    }
}

/// Literal with incremental indexing, new name.
fn insert(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x40);
    lit(out, name, false);
    lit(out, value, false);
}

#[test]
fn http2_hpack_size_update_of_4gib_is_clamped_and_counted() {
    let mut d = Decoder::new();
    let mut block = Vec::new();
    int(&mut block, 0x20, 5, 1 << 32);
    block.push(0x82);
    let (r, fields) = decode_all(&mut d, &block, 1000);
    assert_eq!(r.unwrap().fields, 1);
    assert_eq!(fields, known(&[(":method", "GET")]));
    assert_eq!(d.table().max_size(), TABLE_SIZE_CAP);
    let a = d.anomalies();
    assert_eq!((a.size_update_over_max, a.size_update_clamped), (1, 1));
    // Within the announced maximum: no anomaly; to 0 empties the table.
    let mut d = Decoder::new();
    let mut block = Vec::new();
    insert(&mut block, b"a", b"b");
    d.decode(&block, 1000, |_| {}).unwrap();
    assert_eq!(d.table().len(), 1);
    d.decode(&[0x20], 1000, |_| {}).unwrap();
    assert_eq!((d.table().len(), d.table().max_size()), (0, 0));
    // A late update is applied and counted.
    let mut block = vec![0x82];
    int(&mut block, 0x20, 5, 100);
    d.decode(&block, 1000, |_| {}).unwrap();
    assert_eq!(d.table().max_size(), 100);
    assert_eq!(d.anomalies().late_size_update, 1);
    assert_eq!(d.anomalies().size_update_over_max, 0);
    // SETTINGS larger than the cap are clamped too.
    d.set_max_table_size(u32::MAX);
    assert_eq!(d.table().max_size(), TABLE_SIZE_CAP);
}

#[test]
fn http2_hpack_invalid_huffman_is_an_unknown_field_not_the_end() {
    let mut d = Decoder::new();
    let mut block = Vec::new();
    // Literal without indexing, name "x-a", value: 'a' padded with zeros.
    block.push(0x00);
    lit(&mut block, b"x-a", false);
    block.extend_from_slice(&[0x81, 0b0001_1000]);
    // With incremental indexing, EOS inside the value: still inserted.
    block.push(0x40);
    lit(&mut block, b"x-b", false);
    block.extend_from_slice(&[0x84, 0xff, 0xff, 0xff, 0xff]);
    block.push(0x82);
    let (r, fields) = decode_all(&mut d, &block, 1000);
    let b = r.unwrap();
    assert!(b.incomplete);
    assert_eq!(b.fields, 3);
    assert_eq!(fields[0], (Some(b"x-a".to_vec()), None));
    assert_eq!(fields[1], (Some(b"x-b".to_vec()), None));
    assert_eq!(
        fields[2],
        (Some(b":method".to_vec()), Some(b"GET".to_vec()))
    );
    assert_eq!(d.anomalies().huffman_errors, 2);
    assert_eq!(table_of(&d), vec![(Some(b"x-b".to_vec()), None)]);
}

#[test]
fn http2_hpack_mid_stream_unknown_indices_keep_later_ones_aligned() {
    // The peer's table holds two entries we never saw.
    let mut d = Decoder::mid_stream();
    let mut block = Vec::new();
    block.push(0xbf); // index 63: unknown
    block.push(0x87); // static: :scheme https
                      // Incremental indexing, name = index 62 (unknown), value "v1".
    block.push(0x7e);
    lit(&mut block, b"v1", true);
    insert(&mut block, b"k2", b"v2");
    block.push(0xbf); // index 63 is now our first insertion
    block.push(0xbe); // index 62: k2
    block.push(0xc0 | 0x01); // index 65: the peer's older entries, unknown
    let (r, fields) = decode_all(&mut d, &block, 1000);
    let b = r.unwrap();
    assert!(b.incomplete);
    assert_eq!(
        fields,
        vec![
            (None, None),
            (Some(b":scheme".to_vec()), Some(b"https".to_vec())),
            (None, Some(b"v1".to_vec())),
            (Some(b"k2".to_vec()), Some(b"v2".to_vec())),
            (None, Some(b"v1".to_vec())),
            (Some(b"k2".to_vec()), Some(b"v2".to_vec())),
            (None, None),
        ]
    );
    let a = d.anomalies();
    assert_eq!((a.unknown_refs, a.invalid_refs), (3, 0));
    // The same past the end of a table seen from the start: counted as invalid.
    let mut d = Decoder::new();
    let (r, fields) = decode_all(&mut d, &[0xbe, 0x82], 1000);
    assert!(r.unwrap().incomplete);
    assert_eq!(fields[0], (None, None));
    assert_eq!(d.anomalies().invalid_refs, 1);
}

#[test]
fn http2_hpack_lost_sync_forgets_the_table() {
    let mut d = Decoder::new();
    let mut block = Vec::new();
    insert(&mut block, b"a", b"1");
    d.decode(&block, 1000, |_| {}).unwrap();
    d.lost_sync();
    let (r, fields) = decode_all(&mut d, &[0xbe], 1000);
    assert!(r.unwrap().incomplete);
    assert_eq!(fields, vec![(None, None)]);
    // A size update to 0 makes the table known again.
    let mut block = vec![0x20];
    int(&mut block, 0x20, 5, 4096);
    insert(&mut block, b"b", b"2");
    block.push(0xbe);
    let (r, fields) = decode_all(&mut d, &block, 1000);
    assert!(!r.unwrap().incomplete);
    assert_eq!(fields[1], fields[0]);
    assert_eq!(d.anomalies().invalid_refs, 0);
}

#[test]
fn http2_hpack_insert_may_evict_the_entry_its_name_references() {
    let mut d = Decoder::new();
    let mut block = Vec::new();
    int(&mut block, 0x20, 5, 70); // room for one entry of up to 38 bytes
    insert(&mut block, b"name", b"v1");
    block.push(0x7e); // incremental, name index 62 ("name"), evicted by this insert
    lit(&mut block, b"v2", false);
    let (r, fields) = decode_all(&mut d, &block, 1000);
    assert!(!r.unwrap().incomplete);
    assert_eq!(fields[1], (Some(b"name".to_vec()), Some(b"v2".to_vec())));
    assert_eq!(
        table_of(&d),
        vec![(Some(b"name".to_vec()), Some(b"v2".to_vec()))]
    );
    // An entry larger than the table empties it; a placeholder takes its place.
    let mut block = Vec::new();
    insert(&mut block, b"big", &[b'x'; 100]);
    let (r, fields) = decode_all(&mut d, &block, 1000);
    assert!(!r.unwrap().incomplete);
    assert_eq!(fields[0].1.as_deref(), Some(&[b'x'; 100][..]));
    assert_eq!(table_of(&d), vec![(None, None)]);
    assert_eq!(d.table().size(), 32);
    assert_eq!(d.anomalies().oversized_entries, 1);
}

#[test]
fn http2_hpack_too_large_block_stops_handing_out_but_keeps_the_table() {
    let mut d = Decoder::new();
    let mut block = Vec::new();
    for i in 0..10u8 {
        insert(&mut block, &[b'k', b'0' + i], &[b'v'; 20]);
    }
    let mut n = 0;
    let b = d.decode(&block, 200, |_| n += 1).unwrap();
    assert!(b.too_large);
    assert_eq!(b.fields, n);
    assert_eq!(n, 3); // 3 * (2 + 20 + 32) = 162 <= 200 < 216
    assert!(b.decoded_bytes <= 200);
    assert_eq!(d.table().len(), 10);
    // A Huffman string longer than the cap is not decoded whole.
    let mut block = vec![0x00];
    lit(&mut block, b"k", false);
    lit(&mut block, &[b'a'; 5000], true);
    let b = d.decode(&block, 1000, |_| panic!("too large")).unwrap();
    assert!(b.too_large);
    assert!(d.scratch.capacity() < 4096);
}

#[test]
fn http2_hpack_broken_blocks_are_errors_and_drop_the_table() {
    let mut d = Decoder::new();
    let mut block = Vec::new();
    insert(&mut block, b"a", b"1");
    d.decode(&block, 1000, |_| {}).unwrap();
    assert_eq!(d.decode(&[0x80], 1000, |_| {}), Err(HpackError::ZeroIndex));
    assert_eq!(d.table().len(), 0);
    // A string longer than the block.
    let mut block = vec![0x00, 0x05, b'a'];
    assert_eq!(d.decode(&block, 1000, |_| {}), Err(HpackError::Truncated));
    block.truncate(1);
    assert_eq!(d.decode(&block, 1000, |_| {}), Err(HpackError::Truncated));
    let mut huge = vec![0x00, 0x7f];
    huge.extend_from_slice(&[0xff; 9]);
    huge.push(0x01);
    assert_eq!(
        d.decode(&huge, 1000, |_| {}),
        Err(HpackError::IntegerOverflow)
    );
    assert_eq!(d.anomalies().errors, 4);
}

#[test]
fn http2_hpack_table_arena_stays_bounded() {
    let mut d = Decoder::new();
    for i in 0..2000u32 {
        let mut block = Vec::new();
        insert(
            &mut block,
            format!("name-{i}").as_bytes(),
            &vec![b'v'; (i % 300) as usize],
        );
        d.decode(&block, 64 * 1024, |_| {}).unwrap();
        assert!(d.table().size() <= DEFAULT_TABLE_SIZE);
        assert!(d.table().arena_len() <= 2 * DEFAULT_TABLE_SIZE + 400);
    }
    assert!(
        d.heap_bytes() < 4 * DEFAULT_TABLE_SIZE + 8 * 1024,
        "{}",
        d.heap_bytes()
    );
    let last = d.table().get(0).unwrap();
    assert_eq!(last.0, Some(&b"name-1999"[..]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes: no panic, and every bound holds.
    #[test]
    fn http2_hpack_arbitrary_bytes_stay_in_bounds(
        blocks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        mid in any::<bool>(),
        max in 0usize..2000,
    ) {
        let mut d = if mid { Decoder::mid_stream() } else { Decoder::new() };
        for block in &blocks {
            let mut n = 0;
            let mut bytes = 0;
            let r = d.decode(block, max, |f| {
                n += 1;
                bytes += f.name.len() + f.value.len() + 32;
            });
            if let Ok(b) = r {
                prop_assert_eq!(b.fields, n);
                prop_assert_eq!(b.decoded_bytes, bytes);
                prop_assert!(b.decoded_bytes <= max);
            }
            prop_assert!(d.table().size() <= d.table().max_size());
            prop_assert!(d.table().max_size() <= TABLE_SIZE_CAP);
            prop_assert!(d.scratch.len() <= 2 * max + TABLE_SIZE_CAP);
        }
    }

    /// Structured blocks (valid representations with arbitrary numbers):
    /// reaches deeper than raw bytes.
    #[test]
    fn http2_hpack_made_up_representations_never_panic(
        ops in proptest::collection::vec((0u8..5, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40), any::<bool>()), 0..40),
    ) {
        let mut block = Vec::new();
        for (kind, n, s, h) in &ops {
            match *kind {
                0 => int(&mut block, 0x80, 7, u64::from(*n % 200)),
                1 => int(&mut block, 0x20, 5, u64::from(*n)),
                2 => { int(&mut block, 0x40, 6, u64::from(*n % 100)); if n % 100 == 0 { lit(&mut block, s, *h) } lit(&mut block, s, *h) }
                3 => { int(&mut block, 0x10, 4, u64::from(*n % 100)); if n % 100 == 0 { lit(&mut block, s, *h) } lit(&mut block, s, *h) }
                _ => block.extend_from_slice(s),
            }
        }
        let mut d = Decoder::mid_stream();
        let _ = d.decode(&block, 4096, |_| {});
        prop_assert!(d.table().size() <= d.table().max_size());
    }
}

// ---- round trips against a reference encoder (httlib-hpack) ----

/// A header list's field: name, value, and httlib-hpack's flags (Huffman
/// name 0x1, Huffman value 0x2, incremental indexing 0x4, never indexed
/// 0x8, best representation from the tables 0x10).
type RefField = (Vec<u8>, Vec<u8>, u8);

/// Names and values from small pools, so that blocks repeat fields and
/// reference the dynamic table; arbitrary octets too.
fn ref_field() -> impl Strategy<Value = RefField> {
    let name = prop_oneof![
        3 => proptest::sample::select(vec![
            ":method", ":path", ":authority", ":status", "content-type", "user-agent",
            "x-request-id", "x-custom", "cookie", "grpc-status", "te", "accept-encoding",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..12),
    ];
    let value = prop_oneof![
        3 => proptest::sample::select(vec![
            "GET", "POST", "/", "200", "gzip, deflate", "application/grpc", "trailers", "", "v1",
            "a somewhat longer value, to fill the table sooner than the short ones do",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..80),
    ];
    (name, value, 0u8..0x20)
}

/// Header lists, each optionally preceded by a size update.
fn ref_blocks() -> impl Strategy<Value = Vec<(Option<u32>, Vec<RefField>)>> {
    let update = proptest::option::weighted(0.1, 0u32..=4096);
    proptest::collection::vec(
        (update, proptest::collection::vec(ref_field(), 0..12)),
        1..12,
    )
}

fn ref_encode(blocks: &[(Option<u32>, Vec<RefField>)]) -> Vec<Vec<u8>> {
    let mut enc = httlib_hpack::Encoder::default();
    blocks
        .iter()
        .map(|(update, fields)| {
            let mut dst = Vec::new();
            if let Some(size) = update {
                enc.update_max_dynamic_size(*size, &mut dst).unwrap();
            }
            for f in fields {
                enc.encode(f.clone(), &mut dst).unwrap();
            }
            dst
        })
        .collect()
}

fn is_static_pair(name: &[u8], value: &[u8]) -> bool {
    static_table::STATIC
        .iter()
        .any(|&(n, v)| n == name && v == value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// From the connection's start: every block decodes to exactly what
    /// was encoded, and nothing is counted as an anomaly.
    #[test]
    fn http2_hpack_round_trips_the_reference_encoder(blocks in ref_blocks()) {
        let encoded = ref_encode(&blocks);
        let mut d = Decoder::new();
        for ((_, fields), block) in blocks.iter().zip(&encoded) {
            let (r, got) = decode_all(&mut d, block, 1 << 20);
            let b = r.unwrap();
            prop_assert!(!b.incomplete && !b.too_large);
            let want: Vec<Owned> = fields.iter().map(|(n, v, _)| (Some(n.clone()), Some(v.clone()))).collect();
            prop_assert_eq!(got, want);
            prop_assert!(d.table().size() <= d.table().max_size());
        }
        // Entries larger than the table (after a size update to a small
        // size) are legitimate; nothing else is an anomaly.
        let a = d.anomalies();
        prop_assert_eq!(a, Anomalies { oversized_entries: a.oversized_entries, ..Anomalies::default() });
    }

    /// Started mid-stream (the first blocks dropped): the same number of
    /// fields, every known name or value right, static and literal fields
    /// always known, and never a panic.
    #[test]
    fn http2_hpack_mid_stream_never_decodes_wrong(blocks in ref_blocks(), drop in 1usize..6) {
        let encoded = ref_encode(&blocks);
        let mut d = Decoder::mid_stream();
        for ((_, fields), block) in blocks.iter().zip(&encoded).skip(drop) {
            let (r, got) = decode_all(&mut d, block, 1 << 20);
            let b = r.unwrap();
            prop_assert_eq!(got.len(), fields.len());
            let mut unknown = false;
            for ((name, value), (n, v, flags)) in got.iter().zip(fields) {
                if let Some(name) = name {
                    prop_assert_eq!(name, n);
                }
                if let Some(value) = value {
                    prop_assert_eq!(value, v);
                }
                unknown |= name.is_none() || value.is_none();
                if flags & 0x10 == 0 || is_static_pair(n, v) {
                    prop_assert!(name.is_some() && value.is_some(), "{:?}: {:?}", n, (name, value));
                }
            }
            prop_assert_eq!(b.incomplete, unknown);
        }
    }

    /// A lost block in the middle, reported with lost_sync: the same
    /// guarantees as a mid-stream start.
    #[test]
    fn http2_hpack_lost_block_then_lost_sync_never_decodes_wrong(blocks in ref_blocks(), lost in 0usize..6) {
        let encoded = ref_encode(&blocks);
        let mut d = Decoder::new();
        for (i, ((_, fields), block)) in blocks.iter().zip(&encoded).enumerate() {
            if i == lost {
                d.lost_sync();
                continue;
            }
            let (r, got) = decode_all(&mut d, block, 1 << 20);
            r.unwrap();
            for ((name, value), (n, v, _)) in got.iter().zip(fields) {
                prop_assert!(name.as_ref().is_none_or(|x| x == n));
                prop_assert!(value.as_ref().is_none_or(|x| x == v));
            }
        }
    }
}
