//! The TCP header: ports, sequence numbers, flags, and the payload after options.

use super::DecodeError;

/// TCP flag bits, as on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

pub(super) struct Tcp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
}

pub(super) fn decode_tcp(b: &[u8]) -> Result<Tcp<'_>, DecodeError> {
    if b.len() < 20 {
        return Err(DecodeError::Truncated);
    }
    let data_offset = ((b[12] >> 4) as usize) * 4;
    if data_offset < 20 {
        return Err(DecodeError::BadTcp);
    }
    if b.len() < data_offset {
        return Err(DecodeError::Truncated);
    }
    Ok(Tcp {
        sport: u16::from_be_bytes([b[0], b[1]]),
        dport: u16::from_be_bytes([b[2], b[3]]),
        seq: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ack: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        flags: TcpFlags(b[13]),
        payload: &b[data_offset..],
    })
}
