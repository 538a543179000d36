//! A zero-copy HTTP/2 frame reader (RFC 9113 §4, §6), in the style of
//! smoltcp's `wire`: [`FrameHeader`] is a view over the 9 header octets,
//! [`Frame`] the typed payload, every part a slice of the input.
//!
//! The reader reports what it sees and keeps no state: padding and
//! priority fields are removed, sizes checked against the maximum frame
//! size it is told (the receiver's SETTINGS_MAX_FRAME_SIZE), and anything
//! malformed is a typed [`FrameError`]. Whether a CONTINUATION belongs to
//! the HEADERS before it, or a DATA frame to an open stream, is the stream
//! state machine's business (a later stage). Frames of unknown types are
//! returned as [`Frame::Unknown`] for the caller to skip (RFC 9113 §4.1).
//!
//! [`looks_like_frame`] is the heuristic that a connection picked up
//! mid-stream uses to find a frame boundary.

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Octets of a frame header.
pub const HEADER_LEN: usize = 9;

/// SETTINGS_MAX_FRAME_SIZE's initial value, and its smallest allowed one.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest frame length a header can carry (2^24 - 1), the largest
/// SETTINGS_MAX_FRAME_SIZE allowed.
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113 §6).
pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameters (RFC 9113 §6.5.2, RFC 8441).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
}

/// Why a frame could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {length} beyond SETTINGS_MAX_FRAME_SIZE {max}")]
    TooLarge { length: u32, max: u32 },
    #[error("padding of {pad} octets in a payload of {payload}")]
    PaddingTooLong { pad: usize, payload: usize },
    #[error("frame type {kind:#x} payload of {length} octets has the wrong size")]
    BadLength { kind: u8, length: u32 },
    #[error("SETTINGS payload of {0} octets, not a multiple of 6")]
    SettingsLength(u32),
    #[error("frame type {kind:#x} on stream {stream_id} (0 is the connection)")]
    BadStreamId { kind: u8, stream_id: u32 },
}

/// A view over a frame header: `buffer` holds at least [`HEADER_LEN`]
/// octets once checked.
#[derive(Debug, Clone, Copy)]
pub struct FrameHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FrameHeader<T> {
    /// Wraps `buffer` without checking its length (accessors may panic).
    pub fn new_unchecked(buffer: T) -> Self {
        FrameHeader { buffer }
    }

    /// Wraps `buffer`, or `None` when it is shorter than a header.
    pub fn new_checked(buffer: T) -> Option<Self> {
        (buffer.as_ref().len() >= HEADER_LEN).then_some(FrameHeader { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Payload length (24 bits).
    pub fn length(&self) -> u32 {
        let b = self.b();
        u32::from_be_bytes([0, b[0], b[1], b[2]])
    }

    pub fn kind(&self) -> u8 {
        self.b()[3]
    }

    pub fn flags(&self) -> u8 {
        self.b()[4]
    }

    /// Stream identifier, the reserved bit masked.
    pub fn stream_id(&self) -> u32 {
        let b = self.b();
        u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff
    }

    /// The reserved bit (senders leave it unset).
    pub fn reserved(&self) -> bool {
        self.b()[5] & 0x80 != 0
    }

    /// Header and payload octets.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.length() as usize
    }
}

/// One SETTINGS parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub id: u16,
    pub value: u32,
}

/// A SETTINGS frame's parameters (a multiple of 6 octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings<'a> {
    pub ack: bool,
    payload: &'a [u8],
}

impl<'a> Settings<'a> {
    /// The parameters in a SETTINGS payload (or in h2c's HTTP2-Settings
    /// header, which carries one); octets past the last whole parameter
    /// are ignored.
    pub fn from_payload(payload: &'a [u8]) -> Settings<'a> {
        Settings {
            ack: false,
            payload,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Setting> + 'a {
        self.payload.chunks_exact(6).map(|c| Setting {
            id: u16::from_be_bytes([c[0], c[1]]),
            value: u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
        })
    }

    fn last(&self, id: u16) -> Option<u32> {
        self.iter().filter(|s| s.id == id).last().map(|s| s.value)
    }

    /// SETTINGS_HEADER_TABLE_SIZE (the last one, if sent twice).
    pub fn header_table_size(&self) -> Option<u32> {
        self.last(setting::HEADER_TABLE_SIZE)
    }

    /// SETTINGS_MAX_FRAME_SIZE, when within its allowed range.
    pub fn max_frame_size(&self) -> Option<u32> {
        self.last(setting::MAX_FRAME_SIZE)
            .filter(|v| (DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(v))
    }
}

/// A stream dependency (HEADERS with PRIORITY, or PRIORITY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub exclusive: bool,
    pub depends_on: u32,
    pub weight: u8,
}

fn priority(b: &[u8]) -> Priority {
    let dep = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Priority {
        exclusive: dep & 0x8000_0000 != 0,
        depends_on: dep & 0x7fff_ffff,
        weight: b[4],
    }
}

/// A frame's typed payload; every slice is part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        stream_id: u32,
        end_stream: bool,
        /// Padding removed.
        data: &'a [u8],
    },
    Headers {
        stream_id: u32,
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
        /// Header block fragment, padding and priority removed.
        fragment: &'a [u8],
    },
    Priority {
        stream_id: u32,
        priority: Priority,
    },
    RstStream {
        stream_id: u32,
        error_code: u32,
    },
    Settings(Settings<'a>),
    PushPromise {
        stream_id: u32,
        end_headers: bool,
        promised_stream_id: u32,
        fragment: &'a [u8],
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    GoAway {
        last_stream_id: u32,
        error_code: u32,
        debug: &'a [u8],
    },
    WindowUpdate {
        stream_id: u32,
        increment: u32,
    },
    Continuation {
        stream_id: u32,
        end_headers: bool,
        fragment: &'a [u8],
    },
    /// A type this reader does not know: to be skipped.
    Unknown {
        kind: u8,
        flags: u8,
        stream_id: u32,
        payload: &'a [u8],
    },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Removes padding (RFC 9113 §6.1): the pad length octet and the padding.
fn unpad(payload: &[u8], padded: bool) -> Result<&[u8], FrameError> {
    if !padded {
        return Ok(payload);
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(FrameError::PaddingTooLong { pad: 1, payload: 0 });
    };
    let pad = pad as usize;
    if pad > rest.len() {
        return Err(FrameError::PaddingTooLong {
            pad,
            payload: payload.len(),
        });
    }
    Ok(&rest[..rest.len() - pad])
}

impl<'a> Frame<'a> {
    /// Parses a frame's payload (exactly its `length` octets) given its
    /// header.
    pub fn parse<T: AsRef<[u8]>>(
        header: &FrameHeader<T>,
        payload: &'a [u8],
    ) -> Result<Frame<'a>, FrameError> {
        let (k, f, sid) = (header.kind(), header.flags(), header.stream_id());
        let length = payload.len() as u32;
        let bad_length = || FrameError::BadLength { kind: k, length };
        let need_stream = |zero_ok: bool| {
            if (sid == 0) != zero_ok {
                Err(FrameError::BadStreamId {
                    kind: k,
                    stream_id: sid,
                })
            } else {
                Ok(())
            }
        };
        Ok(match k {
            kind::DATA => {
                need_stream(false)?;
                Frame::Data {
                    stream_id: sid,
                    end_stream: f & flags::END_STREAM != 0,
                    data: unpad(payload, f & flags::PADDED != 0)?,
                }
            }
            kind::HEADERS => {
                need_stream(false)?;
                let mut rest = unpad(payload, f & flags::PADDED != 0)?;
                let mut prio = None;
                if f & flags::PRIORITY != 0 {
                    if rest.len() < 5 {
                        return Err(bad_length());
                    }
                    prio = Some(priority(rest));
                    rest = &rest[5..];
                }
                Frame::Headers {
                    stream_id: sid,
                    end_stream: f & flags::END_STREAM != 0,
                    end_headers: f & flags::END_HEADERS != 0,
                    priority: prio,
                    fragment: rest,
                }
            }
            kind::PRIORITY => {
                need_stream(false)?;
                if payload.len() != 5 {
                    return Err(bad_length());
                }
                Frame::Priority {
                    stream_id: sid,
                    priority: priority(payload),
                }
            }
            kind::RST_STREAM => {
                need_stream(false)?;
                if payload.len() != 4 {
                    return Err(bad_length());
                }
                Frame::RstStream {
                    stream_id: sid,
                    error_code: be32(payload),
                }
            }
            kind::SETTINGS => {
                need_stream(true)?;
                let ack = f & flags::ACK != 0;
                if ack && !payload.is_empty() {
                    return Err(bad_length());
                }
                if !payload.len().is_multiple_of(6) {
                    return Err(FrameError::SettingsLength(length));
                }
                Frame::Settings(Settings { ack, payload })
            }
            kind::PUSH_PROMISE => {
                need_stream(false)?;
                let rest = unpad(payload, f & flags::PADDED != 0)?;
                if rest.len() < 4 {
                    return Err(bad_length());
                }
                Frame::PushPromise {
                    stream_id: sid,
                    end_headers: f & flags::END_HEADERS != 0,
                    promised_stream_id: be32(rest) & 0x7fff_ffff,
                    fragment: &rest[4..],
                }
            }
            kind::PING => {
                need_stream(true)?;
                let data: [u8; 8] = payload.try_into().map_err(|_| bad_length())?;
                Frame::Ping {
                    ack: f & flags::ACK != 0,
                    data,
                }
            }
            kind::GOAWAY => {
                need_stream(true)?;
                if payload.len() < 8 {
                    return Err(bad_length());
                }
                Frame::GoAway {
                    last_stream_id: be32(payload) & 0x7fff_ffff,
                    error_code: be32(&payload[4..]),
                    debug: &payload[8..],
                }
            }
            kind::WINDOW_UPDATE => {
                if payload.len() != 4 {
                    return Err(bad_length());
                }
                Frame::WindowUpdate {
                    stream_id: sid,
                    increment: be32(payload) & 0x7fff_ffff,
                }
            }
            kind::CONTINUATION => {
                need_stream(false)?;
                Frame::Continuation {
                    stream_id: sid,
                    end_headers: f & flags::END_HEADERS != 0,
                    fragment: payload,
                }
            }
            _ => Frame::Unknown {
                kind: k,
                flags: f,
                stream_id: sid,
                payload,
            },
        })
    }
}

/// What reading at the start of a buffer gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read<'a> {
    /// A whole frame, `len` octets of the buffer (header included).
    Frame { frame: Frame<'a>, len: usize },
    /// The buffer ends inside a frame: at least `needed` octets in all
    /// are needed (never more than a header and the maximum frame size).
    Incomplete { needed: usize },
}

/// Reads frames, given the receiver's SETTINGS_MAX_FRAME_SIZE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameReader {
    max_frame_size: u32,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameReader {
    /// `max_frame_size` is clamped to the protocol's range.
    pub fn new(max_frame_size: u32) -> Self {
        FrameReader {
            max_frame_size: max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT),
        }
    }

    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// A new SETTINGS_MAX_FRAME_SIZE (clamped to the protocol's range).
    pub fn set_max_frame_size(&mut self, max: u32) {
        *self = FrameReader::new(max);
    }

    /// Reads the frame at the start of `buf`. A frame longer than the
    /// maximum is an error as soon as its header is seen, before any of
    /// its payload is waited for; the caller may skip its
    /// [`FrameHeader::frame_len`] octets or look for the next boundary.
    pub fn read<'a>(&self, buf: &'a [u8]) -> Result<Read<'a>, FrameError> {
        let Some(header) = FrameHeader::new_checked(buf) else {
            return Ok(Read::Incomplete { needed: HEADER_LEN });
        };
        let length = header.length();
        if length > self.max_frame_size {
            return Err(FrameError::TooLarge {
                length,
                max: self.max_frame_size,
            });
        }
        let len = header.frame_len();
        let Some(payload) = buf.get(HEADER_LEN..len) else {
            return Ok(Read::Incomplete { needed: len });
        };
        let frame = Frame::parse(&header, payload)?;
        Ok(Read::Frame { frame, len })
    }

    /// Iterates over the whole frames at the start of `buf`, skipping
    /// unknown types; it stops at the first incomplete frame or error
    /// ([`Frames::stopped`] tells which, [`Frames::offset`] where).
    pub fn frames<'a>(&self, buf: &'a [u8]) -> Frames<'a> {
        Frames {
            reader: *self,
            buf,
            offset: 0,
            stopped: None,
        }
    }
}

/// See [`FrameReader::frames`].
#[derive(Debug)]
pub struct Frames<'a> {
    reader: FrameReader,
    buf: &'a [u8],
    offset: usize,
    stopped: Option<Result<Read<'a>, FrameError>>,
}

impl<'a> Frames<'a> {
    /// Octets consumed by the frames returned (and unknown ones skipped).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Why iteration ended: `Incomplete` or an error (`None` while going).
    pub fn stopped(&self) -> Option<Result<Read<'a>, FrameError>> {
        self.stopped
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        while self.stopped.is_none() {
            let rest = &self.buf[self.offset..];
            match self.reader.read(rest) {
                Ok(Read::Frame { frame, len }) => {
                    self.offset += len;
                    if !matches!(frame, Frame::Unknown { .. }) {
                        return Some(frame);
                    }
                }
                other => self.stopped = Some(other),
            }
        }
        None
    }
}

/// Flags defined for a frame type; `None` for an unknown type.
fn defined_flags(kind: u8) -> Option<u8> {
    Some(match kind {
        kind::DATA => flags::END_STREAM | flags::PADDED,
        kind::HEADERS => flags::END_STREAM | flags::END_HEADERS | flags::PADDED | flags::PRIORITY,
        kind::SETTINGS | kind::PING => flags::ACK,
        kind::PUSH_PROMISE => flags::END_HEADERS | flags::PADDED,
        kind::CONTINUATION => flags::END_HEADERS,
        kind::PRIORITY | kind::RST_STREAM | kind::GOAWAY | kind::WINDOW_UPDATE => 0,
        _ => return None,
    })
}

/// Whether `bytes` plausibly start a frame header: for picking up a
/// connection mid-stream, where a later stage looks for a frame boundary.
/// Strict on purpose (a false boundary costs more than a skipped one): a
/// known type, only that type's flags, the reserved bit clear, a length
/// within `max_frame_size` and the type's fixed or minimum size, stream
/// 0 exactly for the connection-level types (SETTINGS, PING, GOAWAY),
/// PUSH_PROMISE only on a client-initiated (odd) stream, and a first
/// payload that the frame's type allows when it is at hand (a pad length
/// within the payload, a promised stream that is even and not 0).
pub fn looks_like_frame(bytes: &[u8], max_frame_size: u32) -> bool {
    let Some(h) = FrameHeader::new_checked(bytes) else {
        return false;
    };
    let (k, f, sid, len) = (h.kind(), h.flags(), h.stream_id(), h.length());
    let Some(allowed) = defined_flags(k) else {
        return false;
    };
    if f & !allowed != 0 || h.reserved() || len > max_frame_size.min(MAX_FRAME_SIZE_LIMIT) {
        return false;
    }
    let connection_level = matches!(k, kind::SETTINGS | kind::PING | kind::GOAWAY);
    if k != kind::WINDOW_UPDATE && (sid == 0) != connection_level {
        return false;
    }
    let size_ok = match k {
        kind::PRIORITY => len == 5,
        kind::RST_STREAM | kind::WINDOW_UPDATE => len == 4,
        kind::PING => len == 8,
        kind::GOAWAY => len >= 8,
        kind::SETTINGS => len.is_multiple_of(6) && (f & flags::ACK == 0 || len == 0),
        kind::PUSH_PROMISE => len >= 4 && sid % 2 == 1,
        kind::HEADERS => f & flags::PRIORITY == 0 || len >= 5,
        _ => true,
    };
    if !size_ok {
        return false;
    }
    let payload = &bytes[HEADER_LEN..];
    let padded =
        f & flags::PADDED != 0 && matches!(k, kind::DATA | kind::HEADERS | kind::PUSH_PROMISE);
    if padded {
        match payload.first() {
            Some(&pad) if u32::from(pad) >= len => return false,
            _ if len == 0 => return false,
            _ => {}
        }
    }
    if k == kind::PUSH_PROMISE {
        let at = usize::from(padded);
        if let Some(p) = payload.get(at..at + 4) {
            let promised = be32(p) & 0x7fff_ffff;
            if promised == 0 || promised % 2 == 1 {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests;
