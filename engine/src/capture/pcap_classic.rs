//! Classic pcap records, read by hand rather than with the pcap-file
//! crate: its reader cannot step over a damaged record header, and it
//! refuses records cut at the snap length (orig_len > snaplen), which
//! every `tcpdump -s N` capture holds.
//!
//! A damaged record header (lengths that cannot be, a fraction of a second
//! past one second) is skipped by looking for the next plausible header:
//! sane lengths, a timestamp within `RESYNC_WINDOW_SECS` of the last good
//! record, and a plausible header (or the end of the file) right after it.

use std::io::{self, Read};

use super::read_buffer::ReadBuffer;

/// Largest record accepted when the file header gives no usable snap
/// length (0, or more than this): libpcap's own maximum.
pub const MAX_SNAPLEN: u32 = 262_144;

/// How far (in seconds) a resynchronised record's timestamp may be from
/// the last good one.
const RESYNC_WINDOW_SECS: u64 = 86_400;

/// The 24-byte file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub big_endian: bool,
    /// Timestamps' fractions are nanoseconds (else microseconds).
    pub nanos: bool,
    pub snaplen: u32,
    /// LINKTYPE_ value (the FCS bits above it dropped).
    pub linktype: u32,
}

/// Why the file could not be read on.
#[derive(Debug, thiserror::Error)]
pub enum ClassicError {
    #[error("not a pcap file (magic {0:#010x})")]
    Magic(u32),
    #[error("pcap file header cut short")]
    ShortHeader,
    #[error("damaged record header at byte {0} and no plausible record after it")]
    Unrecoverable(u64),
    #[error("read error: {0}")]
    Io(#[from] io::Error),
}

/// One record as read.
pub struct Record<'a> {
    pub ts_ns: u64,
    /// The frame's length on the wire; more than `data.len()` when the
    /// capture cut it at its snap length.
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// What the next step of reading found.
pub enum Next<'a> {
    Record(Record<'a>),
    /// A damaged record header at `offset`; `skipped` bytes were passed
    /// over to reach the next plausible record.
    Skipped {
        offset: u64,
        skipped: u64,
    },
}

/// A record header's four fields.
#[derive(Clone, Copy)]
struct RecHeader {
    ts_sec: u32,
    ts_frac: u32,
    incl_len: u32,
    orig_len: u32,
}

pub struct ClassicReader<R> {
    input: ReadBuffer<R>,
    header: FileHeader,
    /// Seconds of the last good record, for resynchronising.
    last_sec: Option<u64>,
    /// The last record was cut short by the end of the file.
    pub cut_tail: bool,
}

impl<R: Read> ClassicReader<R> {
    /// Reads the file header.
    pub fn new(src: R) -> Result<ClassicReader<R>, ClassicError> {
        let mut input = ReadBuffer::new(src);
        if input.fill(24)? < 24 {
            return Err(ClassicError::ShortHeader);
        }
        let header = parse_file_header(input.take(24))?;
        Ok(ClassicReader {
            input,
            header,
            last_sec: None,
            cut_tail: false,
        })
    }

    pub fn header(&self) -> FileHeader {
        self.header
    }

    /// The next record, a skipped damaged stretch, or None at the end.
    pub fn next_record(&mut self) -> Result<Option<Next<'_>>, ClassicError> {
        let avail = self.input.fill(16)?;
        if avail == 0 {
            return Ok(None);
        }
        if avail < 16 {
            self.cut_tail = true;
            return Ok(None);
        }
        let h = self.rec_header(0);
        if !self.plausible(&h, None) {
            return self.resync().map(Some);
        }
        let len = 16 + h.incl_len as usize;
        if self.input.fill(len)? < len {
            self.cut_tail = true;
            return Ok(None);
        }
        self.last_sec = Some(u64::from(h.ts_sec));
        let frac_ns = if self.header.nanos { 1 } else { 1000 };
        Ok(Some(Next::Record(Record {
            ts_ns: u64::from(h.ts_sec) * 1_000_000_000 + u64::from(h.ts_frac) * frac_ns,
            orig_len: h.orig_len,
            data: &self.input.take(len)[16..],
        })))
    }

    /// Scans forward from a damaged header for one that is plausible,
    /// close in time to the last good record, and followed by another
    /// plausible header or the end of the file.
    fn resync(&mut self) -> Result<Next<'static>, ClassicError> {
        let damaged_at = self.input.position();
        let near = self.last_sec;
        loop {
            self.input.consume(1);
            let avail = self.input.fill(16)?;
            if avail < 16 {
                return Err(ClassicError::Unrecoverable(damaged_at));
            }
            let h = self.rec_header(0);
            if !self.plausible(&h, near) {
                continue;
            }
            let len = 16 + h.incl_len as usize;
            let avail = self.input.fill(len + 16)?;
            let confirmed = if avail == len {
                true // the file ends right after it
            } else if avail >= len + 16 {
                let after = self.rec_header(len);
                self.plausible(&after, Some(u64::from(h.ts_sec)))
            } else {
                false
            };
            if confirmed {
                return Ok(Next::Skipped {
                    offset: damaged_at,
                    skipped: self.input.position() - damaged_at,
                });
            }
        }
    }

    /// Whether a record header can be real: its fraction under a second,
    /// its lengths within the snap length and consistent, and (when
    /// resynchronising) its time near `near`.
    fn plausible(&self, h: &RecHeader, near: Option<u64>) -> bool {
        let frac_limit = if self.header.nanos {
            1_000_000_000
        } else {
            1_000_000
        };
        let max_incl = match self.header.snaplen {
            0 => MAX_SNAPLEN,
            s => s.min(MAX_SNAPLEN),
        };
        h.ts_frac < frac_limit
            && h.incl_len <= max_incl
            && h.orig_len >= h.incl_len
            && near.is_none_or(|n| u64::from(h.ts_sec).abs_diff(n) <= RESYNC_WINDOW_SECS)
    }

    /// The record header `at` bytes into the unread bytes.
    fn rec_header(&self, at: usize) -> RecHeader {
        let b = &self.input.unread()[at..at + 16];
        let f = |i: usize| {
            let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
            if self.header.big_endian {
                u32::from_be_bytes(v)
            } else {
                u32::from_le_bytes(v)
            }
        };
        RecHeader {
            ts_sec: f(0),
            ts_frac: f(4),
            incl_len: f(8),
            orig_len: f(12),
        }
    }
}

/// The 24-byte file header's fields (`b` holds at least 24 bytes).
pub fn parse_file_header(b: &[u8]) -> Result<FileHeader, ClassicError> {
    let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let (big_endian, nanos) = match le {
        0xa1b2_c3d4 => (false, false),
        0xa1b2_3c4d => (false, true),
        0xd4c3_b2a1 => (true, false),
        0x4d3c_b2a1 => (true, true),
        other => return Err(ClassicError::Magic(other)),
    };
    let f = |i: usize| {
        let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    };
    Ok(FileHeader {
        big_endian,
        nanos,
        snaplen: f(16),
        linktype: f(20) & 0x03ff_ffff,
    })
}

/// Whether `magic` (the file's first four bytes) starts a classic pcap.
pub fn is_pcap_magic(magic: [u8; 4]) -> bool {
    matches!(
        u32::from_le_bytes(magic),
        0xa1b2_c3d4 | 0xa1b2_3c4d | 0xd4c3_b2a1 | 0x4d3c_b2a1
    )
}
