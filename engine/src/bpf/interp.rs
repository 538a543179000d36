//! A classic BPF interpreter: runs a program over a packet in userspace
//! exactly as the kernel would, for recorded input and for af_xdp, whose
//! frames never pass a socket filter.

use super::*;

/// Where a packet's headers are, for loads the kernel resolves itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Meta {
    /// Offset of the network header in the data (SKF_NET_OFF loads).
    pub net: usize,
    /// skb->protocol, host order (SKF_AD_PROTOCOL).
    pub protocol: u16,
}

/// Runs a classic BPF program over `pkt` in userspace, as the kernel
/// would: out-of-bounds loads reject the packet. Returns the program's
/// result (0 = reject).
pub fn run(prog: &[Insn], pkt: &[u8], meta: Meta) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let load = |off: u32, size: usize| -> Option<u32> {
        let signed = off as i32;
        let at = if signed >= 0 {
            off as usize
        } else if signed >= AD_OFF {
            // Ancillary data: only the protocol is modelled.
            return (signed == AD_OFF).then_some(meta.protocol as u32);
        } else if signed >= NET_OFF as i32 {
            meta.net + (signed - NET_OFF as i32) as usize
        } else if signed >= LL_OFF {
            (signed - LL_OFF) as usize
        } else {
            return None;
        };
        let b = pkt.get(at..at.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |v, byte| (v << 8) | *byte as u32))
    };
    let size = |code: u16| match code & 0x18 {
        W => 4,
        H => 2,
        _ => 1,
    };
    // Every jump moves forward, so the loop ends within prog.len() steps.
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let src = if i.code & X != 0 { x } else { i.k };
        match i.code & 0x07 {
            LD => {
                a = match i.code & 0xe0 {
                    IMM => i.k,
                    ABS => match load(i.k, size(i.code)) {
                        Some(v) => v,
                        None => return 0,
                    },
                    IND => match load(x.wrapping_add(i.k), size(i.code)) {
                        Some(v) => v,
                        None => return 0,
                    },
                    MEM => mem[(i.k & 15) as usize],
                    LEN => pkt.len() as u32,
                    _ => return 0,
                }
            }
            LDX => {
                x = match i.code & 0xe0 {
                    IMM => i.k,
                    MEM => mem[(i.k & 15) as usize],
                    LEN => pkt.len() as u32,
                    MSH => match load(i.k, 1) {
                        Some(v) => (v & 0xf) * 4,
                        None => return 0,
                    },
                    _ => return 0,
                }
            }
            ST => mem[(i.k & 15) as usize] = a,
            STX => mem[(i.k & 15) as usize] = x,
            ALU => {
                a = match i.code & 0xf0 {
                    ADD => a.wrapping_add(src),
                    SUB => a.wrapping_sub(src),
                    MUL => a.wrapping_mul(src),
                    DIV if src == 0 => return 0,
                    DIV => a / src,
                    MOD if src == 0 => return 0,
                    MOD => a % src,
                    OR => a | src,
                    AND => a & src,
                    LSH => a.checked_shl(src).unwrap_or(0),
                    RSH => a.checked_shr(src).unwrap_or(0),
                    NEG => a.wrapping_neg(),
                    XOR => a ^ src,
                    _ => return 0,
                }
            }
            JMP => {
                let taken = match i.code & 0xf0 {
                    JA => {
                        pc += i.k as usize;
                        continue;
                    }
                    JEQ => a == src,
                    JGT => a > src,
                    JGE => a >= src,
                    JSET => a & src != 0,
                    _ => return 0,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            RET => {
                return match i.code & 0x18 {
                    A => a,
                    X => x,
                    _ => i.k,
                }
            }
            MISC => {
                if i.code & 0xf8 == TXA {
                    a = x
                } else {
                    x = a
                }
            }
            _ => return 0,
        }
    }
    0
}
