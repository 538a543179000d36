//! Frame reader tests: each type, the bad input of issue 13, the
//! mid-stream heuristic, and arbitrary bytes (proptest).

use proptest::prelude::*;

use super::*;

fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn read_one(buf: &[u8]) -> Result<Read<'_>, FrameError> {
    FrameReader::default().read(buf)
}

fn only(buf: &[u8]) -> Frame<'_> {
    match read_one(buf) {
        Ok(Read::Frame { frame, len }) => {
            assert_eq!(len, buf.len());
            frame
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn http2_frame_header_view() {
    let f = frame(kind::HEADERS, 0x25, 0x8000_0003, b"abcde");
    let h = FrameHeader::new_checked(&f[..]).unwrap();
    assert_eq!(
        (h.length(), h.kind(), h.flags(), h.stream_id()),
        (5, 1, 0x25, 3)
    );
    assert!(h.reserved());
    assert_eq!(h.frame_len(), 14);
    assert!(FrameHeader::new_checked(&f[..8]).is_none());
    assert_eq!(PREFACE.len(), 24);
}

#[test]
fn http2_frame_types_parse() {
    // DATA, padded: 2 octets of padding removed.
    let f = frame(
        kind::DATA,
        flags::PADDED | flags::END_STREAM,
        1,
        b"\x02hi\0\0",
    );
    assert_eq!(
        only(&f),
        Frame::Data {
            stream_id: 1,
            end_stream: true,
            data: b"hi"
        }
    );
    // HEADERS with padding and priority.
    let f = frame(
        kind::HEADERS,
        flags::PADDED | flags::PRIORITY | flags::END_HEADERS,
        3,
        b"\x01\x80\0\0\x01\x10\x82\x84\0",
    );
    assert_eq!(
        only(&f),
        Frame::Headers {
            stream_id: 3,
            end_stream: false,
            end_headers: true,
            priority: Some(Priority {
                exclusive: true,
                depends_on: 1,
                weight: 16
            }),
            fragment: b"\x82\x84",
        }
    );
    assert_eq!(
        only(&frame(kind::CONTINUATION, flags::END_HEADERS, 3, b"\x86")),
        Frame::Continuation {
            stream_id: 3,
            end_headers: true,
            fragment: b"\x86"
        }
    );
    // SETTINGS: header table size and max frame size, the last one wins.
    let mut p = Vec::new();
    for (id, v) in [(1u16, 4096u32), (5, 1 << 20), (1, 65536), (9, 1)] {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    let f = frame(kind::SETTINGS, 0, 0, &p);
    let Frame::Settings(s) = only(&f) else {
        panic!()
    };
    assert!(!s.ack);
    assert_eq!(s.iter().count(), 4);
    assert_eq!(s.header_table_size(), Some(65536));
    assert_eq!(s.max_frame_size(), Some(1 << 20));
    let f = frame(kind::SETTINGS, 0, 0, &[0, 5, 0, 0, 0, 1]);
    let Frame::Settings(s) = only(&f) else {
        panic!()
    };
    assert_eq!(s.max_frame_size(), None, "below 16384 is invalid");
    let f = frame(kind::SETTINGS, flags::ACK, 0, b"");
    assert!(matches!(
        only(&f),
        Frame::Settings(Settings { ack: true, .. })
    ));
    assert_eq!(
        only(&frame(kind::RST_STREAM, 0, 5, &[0, 0, 0, 8])),
        Frame::RstStream {
            stream_id: 5,
            error_code: 8
        }
    );
    assert_eq!(
        only(&frame(kind::GOAWAY, 0, 0, b"\x80\0\0\x07\0\0\0\x01bye")),
        Frame::GoAway {
            last_stream_id: 7,
            error_code: 1,
            debug: b"bye"
        }
    );
    assert_eq!(
        only(&frame(kind::WINDOW_UPDATE, 0, 0, &[0x80, 0, 1, 0])),
        Frame::WindowUpdate {
            stream_id: 0,
            increment: 256
        }
    );
    assert_eq!(
        only(&frame(kind::PING, flags::ACK, 0, b"12345678")),
        Frame::Ping {
            ack: true,
            data: *b"12345678"
        }
    );
    assert_eq!(
        only(&frame(kind::PRIORITY, 0, 5, &[0, 0, 0, 3, 200])),
        Frame::Priority {
            stream_id: 5,
            priority: Priority {
                exclusive: false,
                depends_on: 3,
                weight: 200
            }
        }
    );
    assert_eq!(
        only(&frame(
            kind::PUSH_PROMISE,
            flags::END_HEADERS,
            1,
            b"\0\0\0\x02\x82"
        )),
        Frame::PushPromise {
            stream_id: 1,
            end_headers: true,
            promised_stream_id: 2,
            fragment: b"\x82"
        }
    );
    // Unknown types are returned to be skipped, and skipped by `frames`.
    let mut buf = frame(0xfa, 0xff, 9, b"whatever");
    buf.extend(frame(kind::PING, 0, 0, b"abcdefgh"));
    assert!(matches!(
        only(&buf[..17]),
        Frame::Unknown { kind: 0xfa, .. }
    ));
    let reader = FrameReader::default();
    let mut it = reader.frames(&buf);
    assert!(matches!(it.next(), Some(Frame::Ping { ack: false, .. })));
    assert_eq!(it.next(), None);
    assert_eq!(it.offset(), buf.len());
    assert_eq!(
        it.stopped(),
        Some(Ok(Read::Incomplete { needed: HEADER_LEN }))
    );
}

#[test]
fn http2_frame_bad_input_is_a_typed_error() {
    // A 2^24 - 1 length (the most 24 bits hold) beyond the maximum: an
    // error from the header alone, nothing waited for.
    let mut f = frame(kind::DATA, 0, 1, b"");
    f[..3].copy_from_slice(&[0xff, 0xff, 0xff]);
    assert_eq!(
        read_one(&f),
        Err(FrameError::TooLarge {
            length: (1 << 24) - 1,
            max: 16384
        })
    );
    // With the largest maximum it is simply incomplete.
    let big = FrameReader::new(u32::MAX);
    assert_eq!(big.max_frame_size(), MAX_FRAME_SIZE_LIMIT);
    assert_eq!(
        big.read(&f),
        Ok(Read::Incomplete {
            needed: (1 << 24) - 1 + 9
        })
    );
    // Padding longer than the payload.
    let f = frame(kind::DATA, flags::PADDED, 1, b"\x05abc");
    assert_eq!(
        read_one(&f),
        Err(FrameError::PaddingTooLong { pad: 5, payload: 4 })
    );
    let f = frame(kind::HEADERS, flags::PADDED, 1, b"");
    assert!(matches!(
        read_one(&f),
        Err(FrameError::PaddingTooLong { .. })
    ));
    // Padding equal to what follows the pad length is allowed (empty data).
    let f = frame(kind::DATA, flags::PADDED, 1, b"\x03abc");
    assert_eq!(
        only(&f),
        Frame::Data {
            stream_id: 1,
            end_stream: false,
            data: b""
        }
    );
    // HEADERS with PRIORITY but too short once padding is removed.
    let f = frame(
        kind::HEADERS,
        flags::PRIORITY | flags::PADDED,
        1,
        b"\x02abcd\0\0",
    );
    assert!(matches!(
        read_one(&f),
        Err(FrameError::BadLength { kind: 1, .. })
    ));
    // SETTINGS not a multiple of 6; SETTINGS ACK with a payload.
    let f = frame(kind::SETTINGS, 0, 0, &[0; 7]);
    assert_eq!(read_one(&f), Err(FrameError::SettingsLength(7)));
    let f = frame(kind::SETTINGS, flags::ACK, 0, &[0; 6]);
    assert!(matches!(read_one(&f), Err(FrameError::BadLength { .. })));
    // Fixed sizes.
    for (k, n) in [
        (kind::PING, 7),
        (kind::RST_STREAM, 5),
        (kind::PRIORITY, 4),
        (kind::WINDOW_UPDATE, 3),
        (kind::GOAWAY, 7),
    ] {
        let sid = if matches!(k, kind::PING | kind::GOAWAY) {
            0
        } else {
            1
        };
        let f = frame(k, 0, sid, &vec![0; n]);
        assert!(
            matches!(read_one(&f), Err(FrameError::BadLength { .. })),
            "type {k}"
        );
    }
    // Stream 0 for a stream's frame, a stream for the connection's.
    let f = frame(kind::DATA, 0, 0, b"x");
    assert_eq!(
        read_one(&f),
        Err(FrameError::BadStreamId {
            kind: 0,
            stream_id: 0
        })
    );
    let f = frame(kind::SETTINGS, 0, 3, b"");
    assert!(matches!(read_one(&f), Err(FrameError::BadStreamId { .. })));
}

#[test]
fn http2_frame_headers_without_end_headers_then_garbage() {
    let mut buf = frame(kind::HEADERS, flags::END_STREAM, 1, b"\x82\x86");
    buf.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let reader = FrameReader::default();
    let mut it = reader.frames(&buf);
    assert_eq!(
        it.next(),
        Some(Frame::Headers {
            stream_id: 1,
            end_stream: true,
            end_headers: false,
            priority: None,
            fragment: b"\x82\x86"
        })
    );
    assert_eq!(it.next(), None);
    assert_eq!(it.offset(), 11);
    // "GET" as a length is 4.6 MB: reported as too large, not waited for.
    assert!(matches!(
        it.stopped(),
        Some(Err(FrameError::TooLarge {
            length: 0x474554,
            ..
        }))
    ));
    assert!(!looks_like_frame(&buf[11..], 16384));
}

#[test]
fn http2_frame_looks_like_frame_heuristic() {
    let yes = [
        frame(kind::HEADERS, flags::END_HEADERS, 1, b"\x82"),
        frame(kind::DATA, flags::PADDED, 3, b"\x01a\0"),
        frame(kind::SETTINGS, 0, 0, &[0, 1, 0, 0, 0x10, 0]),
        frame(kind::SETTINGS, flags::ACK, 0, b""),
        frame(kind::PING, 0, 0, b"12345678"),
        frame(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]),
        frame(kind::WINDOW_UPDATE, 0, 5, &[0, 0, 1, 0]),
        frame(kind::PUSH_PROMISE, flags::END_HEADERS, 1, b"\0\0\0\x02\x82"),
        frame(kind::GOAWAY, 0, 0, &[0; 8]),
    ];
    for f in &yes {
        assert!(looks_like_frame(f, 16384), "{f:?}");
        // The header alone is enough to judge.
        assert!(looks_like_frame(&f[..9], 16384), "{f:?}");
    }
    let no = [
        frame(0x0b, 0, 1, b""),                         // unknown type
        frame(kind::DATA, 0x02, 1, b""),                // undefined flag
        frame(kind::DATA, 0, 0, b"a"),                  // stream 0
        frame(kind::SETTINGS, 0, 1, b""),               // stream not 0
        frame(kind::SETTINGS, 0, 0, &[0; 5]),           // not a multiple of 6
        frame(kind::PING, 0, 0, &[0; 4]),               // wrong size
        frame(kind::DATA, flags::PADDED, 1, b"\x05a"),  // padding past the end
        frame(kind::PUSH_PROMISE, 0, 2, b"\0\0\0\x02"), // push on an even stream
        frame(kind::PUSH_PROMISE, 0, 1, b"\0\0\0\x03"), // odd promised stream
        frame(kind::HEADERS, 0, 0x8000_0001, b"\x82"),  // reserved bit
        frame(kind::DATA, 0, 1, &[0; 20_000]),          // beyond the maximum
    ];
    for f in &no {
        assert!(!looks_like_frame(f, 16384), "{:?}", &f[..9]);
    }
    assert!(!looks_like_frame(b"PRI * HT", 16384));
    assert!(!looks_like_frame(PREFACE, 16384));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Arbitrary bytes: no panic; every frame returned lies inside the
    /// input and within the maximum; the iterator always ends.
    #[test]
    fn http2_frame_arbitrary_bytes_stay_in_bounds(
        buf in proptest::collection::vec(any::<u8>(), 0..400),
        max in any::<u32>(),
    ) {
        let reader = FrameReader::new(max);
        match reader.read(&buf) {
            Ok(Read::Frame { len, .. }) => {
                prop_assert!(len <= buf.len());
                prop_assert!(len <= HEADER_LEN + reader.max_frame_size() as usize);
            }
            Ok(Read::Incomplete { needed }) => {
                prop_assert!(needed > buf.len());
                prop_assert!(needed <= HEADER_LEN + reader.max_frame_size() as usize);
            }
            Err(_) => {}
        }
        let _ = looks_like_frame(&buf, max);
        let mut it = reader.frames(&buf);
        let mut n = 0;
        for _ in it.by_ref() {
            n += 1;
            prop_assert!(n <= buf.len() / HEADER_LEN);
        }
        prop_assert!(it.offset() <= buf.len());
        prop_assert!(it.stopped().is_some());
    }

    /// A stream of well-formed frames of random types reads back whole.
    #[test]
    fn http2_frame_valid_sequences_read_back(
        frames in proptest::collection::vec((0u8..12, any::<u8>(), 1u32..100, proptest::collection::vec(any::<u8>(), 0..64)), 0..20),
    ) {
        let mut buf = Vec::new();
        let mut expected = 0;
        for (k, fl, sid, p) in &frames {
            let (f, ok) = match *k {
                kind::DATA => (frame(*k, fl & 1, *sid, p), true),
                kind::HEADERS | kind::CONTINUATION => (frame(*k, fl & 5, *sid, p), true),
                kind::SETTINGS => (frame(*k, 0, 0, &p[..p.len() / 6 * 6]), true),
                kind::PING => (frame(*k, fl & 1, 0, &[7; 8]), true),
                kind::WINDOW_UPDATE | kind::RST_STREAM => (frame(*k, 0, *sid, &[0, 0, 0, 1]), true),
                kind::PRIORITY => (frame(*k, 0, *sid, &[0, 0, 0, 1, 1]), true),
                kind::GOAWAY => (frame(*k, 0, 0, &[0; 8]), true),
                _ => (frame(0x20 + *k, *fl, *sid, p), false),
            };
            expected += usize::from(ok);
            buf.extend(f);
        }
        let reader = FrameReader::default();
        let mut it = reader.frames(&buf);
        prop_assert_eq!(it.by_ref().count(), expected);
        prop_assert_eq!(it.offset(), buf.len());
    }
}
