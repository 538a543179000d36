//! Classic BPF, the kernel's packet-filter language, in one place: the
//! instruction set (here), the capture filter compiled from tcpdump syntax
//! (`filter`), a userspace interpreter that runs a program as the kernel
//! would (`interp`, for recorded input and af_xdp), how it sees IPv6
//! extension headers (`ipv6_extensions`), and a small assembler
//! for programs written by hand (`asm`, the fanout steering program).

pub mod asm;
pub mod filter;
pub mod interp;
pub mod ipv6_extensions;

pub use filter::{
    build, compile, expression, frame_expression, live_filter, pcap_linktype, FilterError,
    FrameFilter,
};
pub use interp::{run, Meta};

// Instruction classes and fields (linux/filter.h, pcap/bpf.h).
pub const LD: u16 = 0x00;
pub const LDX: u16 = 0x01;
pub const ST: u16 = 0x02;
pub const STX: u16 = 0x03;
pub const ALU: u16 = 0x04;
pub const JMP: u16 = 0x05;
pub const RET: u16 = 0x06;
pub const MISC: u16 = 0x07;
pub const W: u16 = 0x00;
pub const H: u16 = 0x08;
pub const B: u16 = 0x10;
pub const IMM: u16 = 0x00;
pub const ABS: u16 = 0x20;
pub const IND: u16 = 0x40;
pub const MEM: u16 = 0x60;
pub const LEN: u16 = 0x80;
pub const MSH: u16 = 0xa0;
pub const ADD: u16 = 0x00;
pub const SUB: u16 = 0x10;
pub const MUL: u16 = 0x20;
pub const DIV: u16 = 0x30;
pub const OR: u16 = 0x40;
pub const AND: u16 = 0x50;
pub const LSH: u16 = 0x60;
pub const RSH: u16 = 0x70;
pub const NEG: u16 = 0x80;
pub const MOD: u16 = 0x90;
pub const XOR: u16 = 0xa0;
pub const JA: u16 = 0x00;
pub const JEQ: u16 = 0x10;
pub const JGT: u16 = 0x20;
pub const JGE: u16 = 0x30;
pub const JSET: u16 = 0x40;
pub const K: u16 = 0x00;
pub const X: u16 = 0x08;
pub const A: u16 = 0x10;
pub const TAX: u16 = 0x00;
pub const TXA: u16 = 0x80;

/// Linux: loads at this offset and above (as i32) are relative to the
/// network header.
pub const NET_OFF: u32 = (-0x100000i32) as u32;
pub(crate) const AD_OFF: i32 = -0x1000;
pub(crate) const LL_OFF: i32 = -0x200000;

/// What libpcap returns for an accepted packet: the whole packet.
pub const ACCEPT: u32 = 262_144;

/// One instruction, laid out as `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }
}

#[cfg(test)]
mod tests;
