//! The buffer both capture-file readers (classic pcap records, pcapng
//! blocks) read through: straight from the file, no `BufReader` in
//! between (it copied every byte once more).
//!
//! It starts small, because one is made and zeroed per file: a fixed
//! 4 MiB made a run over a hundred small captures spend three quarters of
//! its instructions zeroing (callgrind, perf/real.sh). It grows to the
//! largest piece asked for, and doubles up to [`READ_BYTES`] each time a
//! long file has been read through it, so long files are read in large
//! pieces.

use std::io::{self, Read};

/// The buffer a file starts with.
pub const START_BYTES: usize = 64 << 10;

/// What the buffer doubles to while a long file is read through it.
pub const READ_BYTES: usize = 1 << 20;

pub struct ReadBuffer<R> {
    src: R,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    position: u64,
    eof: bool,
}

impl<R: Read> ReadBuffer<R> {
    pub fn new(src: R) -> ReadBuffer<R> {
        ReadBuffer {
            src,
            buf: vec![0; START_BYTES],
            start: 0,
            end: 0,
            position: 0,
            eof: false,
        }
    }

    /// Makes at least `want` unread bytes available (fewer only at the
    /// end of the file); returns how many are.
    pub fn fill(&mut self, want: usize) -> io::Result<usize> {
        while self.end - self.start < want && !self.eof {
            if self.buf.len() - self.start < want {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < READ_BYTES {
                    self.buf.resize(self.buf.len() * 2, 0);
                }
                if self.buf.len() < want {
                    self.buf.resize(want.next_power_of_two(), 0);
                }
            }
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }

    /// The bytes made available and not yet consumed.
    pub fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Passes over `n` unread bytes.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.position += n as u64;
    }

    /// Consumes `n` unread bytes and gives them (valid until the next
    /// `fill`).
    pub fn take(&mut self, n: usize) -> &[u8] {
        let at = self.start;
        self.consume(n);
        &self.buf[at..at + n]
    }

    /// The file offset of the first unread byte.
    pub fn position(&self) -> u64 {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives at most `step` bytes a read, and is interrupted before each.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
        interrupt: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.step.min(into.len()).min(self.bytes.len());
            into[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn pieces_larger_than_the_buffer_arrive_whole_and_in_order() {
        let bytes: Vec<u8> = (0..3 * READ_BYTES as u32)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut r = ReadBuffer::new(Trickle {
            bytes: &bytes,
            step: 7_919,
            interrupt: false,
        });
        let mut at = 0;
        for want in [1, START_BYTES + 3, 10, 2 * READ_BYTES, 5] {
            assert!(r.fill(want).unwrap() >= want);
            assert_eq!(r.position(), at as u64);
            assert_eq!(r.take(want), &bytes[at..at + want]);
            at += want;
        }
        // The rest, then the end of the file.
        let rest = bytes.len() - at;
        assert_eq!(r.fill(rest + 1).unwrap(), rest);
        r.consume(rest);
        assert_eq!(r.fill(1).unwrap(), 0);
        assert_eq!(r.position(), bytes.len() as u64);
    }

    #[test]
    fn a_long_file_is_read_in_pieces_of_read_bytes() {
        let bytes = vec![0u8; 4 * READ_BYTES];
        let mut r = ReadBuffer::new(&bytes[..]);
        while r.fill(16).unwrap() > 0 {
            r.consume(r.unread().len().min(1_000));
        }
        assert_eq!(r.buf.len(), READ_BYTES);
    }
}
