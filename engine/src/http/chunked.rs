//! Chunked transfer coding (RFC 9112 §7.1), as an explicit state machine
//! that accepts input in pieces of any size.

/// Where the decoder is within a chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkState {
    /// Reading a chunk-size line (hex size, optional extensions, CRLF).
    Size,
    /// Inside chunk data with this many bytes left.
    Data(u64),
    /// After chunk data: expecting its CRLF.
    DataEnd,
    /// After the last chunk: reading trailer lines until an empty one.
    Trailers,
    Done,
}

/// Longest chunk-size line accepted (size plus extensions).
const MAX_SIZE_LINE: usize = 4096;

#[derive(Debug)]
pub struct ChunkDecoder {
    pub state: ChunkState,
    line: Vec<u8>,
    /// The trailer section's lines so far (each ending in LF), for the
    /// record; within `max_trailer_bytes`.
    trailers: Vec<u8>,
    trailer_bytes: usize,
    max_trailer_bytes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    BadSize,
    LineTooLong,
}

impl ChunkDecoder {
    pub fn new(max_trailer_bytes: usize) -> ChunkDecoder {
        ChunkDecoder {
            state: ChunkState::Size,
            line: Vec::new(),
            trailers: Vec::new(),
            trailer_bytes: 0,
            max_trailer_bytes,
        }
    }

    /// Consumes input, handing chunk data to `on_data`. Returns the number
    /// of bytes consumed: all of `input`, or fewer once the body is done.
    pub fn feed(
        &mut self,
        input: &[u8],
        on_data: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, ChunkError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                ChunkState::Size => {
                    let rest = &input[pos..];
                    match memchr::memchr(b'\n', rest) {
                        Some(nl) => {
                            self.line.extend_from_slice(&rest[..nl]);
                            pos += nl + 1;
                            let size = parse_size_line(&self.line)?;
                            self.line.clear();
                            self.state = if size == 0 {
                                ChunkState::Trailers
                            } else {
                                ChunkState::Data(size)
                            };
                        }
                        None => {
                            self.line.extend_from_slice(rest);
                            pos = input.len();
                        }
                    }
                    if self.line.len() > MAX_SIZE_LINE {
                        return Err(ChunkError::LineTooLong);
                    }
                }
                ChunkState::Data(left) => {
                    // `pos < input.len()` (the loop's condition) and
                    // `take <= left`: neither subtraction can underflow.
                    let take = (left.min((input.len() - pos) as u64)) as usize;
                    on_data(&input[pos..pos + take]);
                    pos += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => {
                    // Tolerate a missing CR; anything else starts the next size line.
                    match input[pos] {
                        b'\r' => pos += 1,
                        b'\n' => {
                            pos += 1;
                            self.state = ChunkState::Size;
                        }
                        _ => self.state = ChunkState::Size,
                    }
                }
                ChunkState::Trailers => {
                    let rest = &input[pos..];
                    match memchr::memchr(b'\n', rest) {
                        Some(nl) => {
                            self.line.extend_from_slice(&rest[..nl]);
                            pos += nl + 1;
                            self.trailer_bytes += self.line.len() + 1;
                            let empty = self.line.iter().all(|b| *b == b'\r');
                            if !empty {
                                self.trailers.extend_from_slice(&self.line);
                                self.trailers.push(b'\n');
                            }
                            self.line.clear();
                            if empty {
                                self.state = ChunkState::Done;
                                return Ok(pos);
                            }
                        }
                        None => {
                            self.line.extend_from_slice(rest);
                            pos = input.len();
                        }
                    }
                    if self.trailer_bytes + self.line.len() > self.max_trailer_bytes {
                        return Err(ChunkError::LineTooLong);
                    }
                }
                ChunkState::Done => return Ok(pos),
            }
        }
        Ok(pos)
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Bytes held for a partial line and the trailer section (charged to
    /// the connection's memory).
    pub fn buffered_bytes(&self) -> usize {
        self.line.capacity() + self.trailers.capacity()
    }

    /// The trailer section's field lines, once the body is done (empty
    /// when it had none).
    pub fn take_trailers(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.trailers)
    }
}

/// Parses "1a2b;ext=1\r" into 0x1a2b. Sizes that overflow 64 bits are errors.
fn parse_size_line(line: &[u8]) -> Result<u64, ChunkError> {
    let mut size: u64 = 0;
    let mut digits = 0;
    for &b in line.iter().skip_while(|b| **b == b' ' || **b == b'\t') {
        let v = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b';' | b' ' | b'\t' | b'\r' => break,
            _ => return Err(ChunkError::BadSize),
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(v as u64))
            .ok_or(ChunkError::BadSize)?;
        digits += 1;
    }
    if digits == 0 {
        return Err(ChunkError::BadSize);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(pieces: &[&[u8]]) -> (Vec<u8>, bool, Result<(), ChunkError>) {
        let mut d = ChunkDecoder::new(1024);
        let mut out = Vec::new();
        for p in pieces {
            if let Err(e) = d.feed(p, &mut |b| out.extend_from_slice(b)) {
                return (out, d.is_done(), Err(e));
            }
        }
        (out, d.is_done(), Ok(()))
    }

    #[test]
    fn extensions_and_trailers() {
        let body = b"4;name=v\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n";
        let (out, done, r) = decode_all(&[body]);
        assert_eq!(r, Ok(()));
        assert!(done);
        assert_eq!(out, b"Wikipedia");
    }

    #[test]
    fn trailer_lines_are_kept_in_any_pieces() {
        let body = b"1\r\na\r\n0\r\nExpires: never\r\nX-Sum: 9\n\r\nnext";
        for n in 1..body.len() {
            let mut d = ChunkDecoder::new(1024);
            let mut used = 0;
            for piece in body.chunks(n) {
                used += d.feed(piece, &mut |_| {}).unwrap();
                if d.is_done() {
                    break;
                }
            }
            assert_eq!(used, body.len() - 4, "pieces of {n}");
            assert_eq!(
                d.take_trailers(),
                b"Expires: never\r\nX-Sum: 9\n",
                "pieces of {n}"
            );
        }
        let mut d = ChunkDecoder::new(1024);
        d.feed(b"0\r\n\r\n", &mut |_| {}).unwrap();
        assert!(d.is_done() && d.take_trailers().is_empty());
        // What is held counts toward the connection's memory.
        let mut d = ChunkDecoder::new(1024);
        d.feed(b"0\r\nX-A: 1\r\nX-B", &mut |_| {}).unwrap();
        assert!(d.buffered_bytes() >= b"X-A: 1\r\nX-B".len());
    }

    #[test]
    fn overflow_is_an_error() {
        let (_, done, r) = decode_all(&[b"10000000000000000\r\nx"]);
        assert!(!done);
        assert_eq!(r, Err(ChunkError::BadSize));
    }

    #[test]
    fn stops_at_end_of_body() {
        let mut d = ChunkDecoder::new(1024);
        let input = b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let used = d.feed(input, &mut |_| {}).unwrap();
        assert_eq!(&input[used..], b"GET / HTTP/1.1\r\n");
    }

    fn encode(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut v = Vec::new();
        for c in chunks {
            if c.is_empty() {
                continue;
            }
            v.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            v.extend_from_slice(c);
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(b"0\r\n\r\n");
        v
    }

    proptest! {
        // Whatever the chunk sizes and however the input is split, the
        // decoded body is the concatenation of the chunks.
        #[test]
        fn any_split_decodes_the_same(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            cuts in proptest::collection::vec(0usize..2000, 0..10),
        ) {
            let wire = encode(&chunks);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
            points.sort();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points {
                pieces.push(&wire[last..p]);
                last = p;
            }
            pieces.push(&wire[last..]);
            let (out, done, r) = decode_all(&pieces);
            prop_assert_eq!(r, Ok(()));
            prop_assert!(done);
            prop_assert_eq!(out, chunks.concat());
        }
    }
}
