//! One event of the uprobe programs' rings (`struct event` in ssl.bpf.c):
//! a zero-copy view, checked once, with typed errors.
//!
//! Layout (little-endian, 64 bytes, then `len` bytes):
//!
//! | offset | size | field                                           |
//! |--------|------|-------------------------------------------------|
//! | 0      | 8    | ts_ns (CLOCK_MONOTONIC)                         |
//! | 8      | 8    | offset of the first byte in its direction       |
//! | 16     | 4    | tgid                                            |
//! | 20     | 4    | len                                             |
//! | 24     | 1    | kind: 0 data, 1 close                           |
//! | 25     | 1    | direction: 0 the process sent, 1 received       |
//! | 26     | 2    | family: 4 or 6                                  |
//! | 28     | 2    | local port                                      |
//! | 30     | 2    | remote port                                     |
//! | 32     | 16   | local address (IPv4 in the first four bytes)    |
//! | 48     | 16   | remote address                                  |

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const HEADER_LEN: usize = 64;

/// What an event says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Plaintext the process read or wrote.
    Data,
    /// The process closed the socket; the data carries where each
    /// direction ended (two u64s: sent, received).
    Close,
}

/// Which way the bytes went, seen from the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

impl Direction {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a ring's bytes are not an event (a mismatch between the program
/// and this reader: counted, never trusted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event of {0} bytes is shorter than its {HEADER_LEN}-byte header")]
    Short(usize),
    #[error("event says {declared} bytes of data but carries {carried}")]
    Length { declared: usize, carried: usize },
    #[error("event kind {0} is unknown")]
    Kind(u8),
    #[error("event direction {0} is unknown")]
    Direction(u8),
    #[error("event address family {0} is neither 4 nor 6")]
    Family(u16),
    #[error("close event without its two end offsets")]
    CloseEnds,
}

/// A checked event: every accessor is infallible.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    bytes: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("eight bytes"))
}

impl<'a> Event<'a> {
    /// Checks `bytes` (one ring sample; the ring may pad it) as an event.
    pub fn new(bytes: &'a [u8]) -> Result<Event<'a>, EventError> {
        if bytes.len() < HEADER_LEN {
            return Err(EventError::Short(bytes.len()));
        }
        let declared = u32_at(bytes, 20) as usize;
        let carried = bytes.len() - HEADER_LEN;
        if declared > carried {
            return Err(EventError::Length { declared, carried });
        }
        match bytes[24] {
            0 => {}
            1 if declared == 16 => {}
            1 => return Err(EventError::CloseEnds),
            k => return Err(EventError::Kind(k)),
        }
        if bytes[25] > 1 {
            return Err(EventError::Direction(bytes[25]));
        }
        match u16_at(bytes, 26) {
            4 | 6 => {}
            f => return Err(EventError::Family(f)),
        }
        Ok(Event {
            bytes: &bytes[..HEADER_LEN + declared],
        })
    }

    /// When the program saw the call return (CLOCK_MONOTONIC).
    pub fn monotonic_ns(&self) -> u64 {
        u64_at(self.bytes, 0)
    }

    /// The direction's bytes before the first one here.
    pub fn offset(&self) -> u64 {
        u64_at(self.bytes, 8)
    }

    pub fn tgid(&self) -> u32 {
        u32_at(self.bytes, 16)
    }

    pub fn kind(&self) -> Kind {
        if self.bytes[24] == 0 {
            Kind::Data
        } else {
            Kind::Close
        }
    }

    pub fn direction(&self) -> Direction {
        if self.bytes[25] == 0 {
            Direction::Sent
        } else {
            Direction::Received
        }
    }

    fn addr(&self, at: usize) -> IpAddr {
        let b = &self.bytes[at..at + 16];
        if u16_at(self.bytes, 26) == 4 {
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes")))
        }
    }

    /// The process's end of the connection.
    pub fn local(&self) -> (IpAddr, u16) {
        (self.addr(32), u16_at(self.bytes, 28))
    }

    /// The peer's end.
    pub fn remote(&self) -> (IpAddr, u16) {
        (self.addr(48), u16_at(self.bytes, 30))
    }

    /// Who sent the bytes: the process (`Sent`) or its peer.
    pub fn sender(&self) -> (IpAddr, u16) {
        match self.direction() {
            Direction::Sent => self.local(),
            Direction::Received => self.remote(),
        }
    }

    /// The plaintext (empty for a close).
    pub fn data(&self) -> &'a [u8] {
        match self.kind() {
            Kind::Data => &self.bytes[HEADER_LEN..],
            Kind::Close => &[],
        }
    }

    /// A close: where each direction ended, indexed by `Direction`.
    pub fn ends(&self) -> Option<[u64; 2]> {
        (self.kind() == Kind::Close).then(|| {
            [
                u64_at(self.bytes, HEADER_LEN),
                u64_at(self.bytes, HEADER_LEN + 8),
            ]
        })
    }
}

/// An event as the program writes it, for tests and fuzzing.
#[allow(clippy::too_many_arguments)]
pub fn encode(
    kind: Kind,
    direction: Direction,
    tgid: u32,
    offset: u64,
    local: (IpAddr, u16),
    remote: (IpAddr, u16),
    data: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    b[8..16].copy_from_slice(&offset.to_le_bytes());
    b[16..20].copy_from_slice(&tgid.to_le_bytes());
    b[20..24].copy_from_slice(&(data.len() as u32).to_le_bytes());
    b[24] = kind as u8;
    b[25] = direction as u8;
    let family: u16 = if local.0.is_ipv4() { 4 } else { 6 };
    b[26..28].copy_from_slice(&family.to_le_bytes());
    b[28..30].copy_from_slice(&local.1.to_le_bytes());
    b[30..32].copy_from_slice(&remote.1.to_le_bytes());
    for (at, ip) in [(32, local.0), (48, remote.0)] {
        match ip {
            IpAddr::V4(a) => b[at..at + 4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => b[at..at + 16].copy_from_slice(&a.octets()),
        }
    }
    b.extend_from_slice(data);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn data_event_round_trips() {
        let b = encode(
            Kind::Data,
            Direction::Received,
            42,
            1000,
            (ip("10.0.0.1"), 443),
            (ip("10.0.0.2"), 50000),
            b"GET / HTTP/1.1\r\n",
        );
        let e = Event::new(&b).unwrap();
        assert_eq!(e.kind(), Kind::Data);
        assert_eq!(e.direction(), Direction::Received);
        assert_eq!(e.tgid(), 42);
        assert_eq!(e.offset(), 1000);
        assert_eq!(e.local(), (ip("10.0.0.1"), 443));
        assert_eq!(e.sender(), (ip("10.0.0.2"), 50000));
        assert_eq!(e.data(), b"GET / HTTP/1.1\r\n");
        assert_eq!(e.ends(), None);
    }

    #[test]
    fn ring_padding_is_not_data() {
        let mut b = encode(
            Kind::Data,
            Direction::Sent,
            1,
            0,
            (ip("::1"), 1),
            (ip("::2"), 2),
            b"abc",
        );
        b.extend_from_slice(&[0; 5]);
        let e = Event::new(&b).unwrap();
        assert_eq!(e.data(), b"abc");
        assert_eq!(e.local().0, ip("::1"));
    }

    #[test]
    fn close_carries_both_ends() {
        let mut ends = 7u64.to_le_bytes().to_vec();
        ends.extend_from_slice(&9u64.to_le_bytes());
        let b = encode(
            Kind::Close,
            Direction::Sent,
            1,
            0,
            (ip("10.0.0.1"), 1),
            (ip("10.0.0.2"), 2),
            &ends,
        );
        let e = Event::new(&b).unwrap();
        assert_eq!(e.ends(), Some([7, 9]));
        assert!(e.data().is_empty());
    }

    #[test]
    fn malformed_events_are_typed_errors() {
        let good = encode(
            Kind::Data,
            Direction::Sent,
            1,
            0,
            (ip("10.0.0.1"), 1),
            (ip("10.0.0.2"), 2),
            b"xy",
        );
        assert_eq!(Event::new(&good[..10]).unwrap_err(), EventError::Short(10));
        assert_eq!(
            Event::new(&good[..HEADER_LEN + 1]).unwrap_err(),
            EventError::Length {
                declared: 2,
                carried: 1
            }
        );
        let mut b = good.clone();
        b[24] = 9;
        assert_eq!(Event::new(&b).unwrap_err(), EventError::Kind(9));
        let mut b = good.clone();
        b[24] = 1;
        assert_eq!(Event::new(&b).unwrap_err(), EventError::CloseEnds);
        let mut b = good.clone();
        b[25] = 2;
        assert_eq!(Event::new(&b).unwrap_err(), EventError::Direction(2));
        let mut b = good;
        b[26] = 5;
        assert_eq!(Event::new(&b).unwrap_err(), EventError::Family(5));
    }
}
