//! Classic BPF: the capture filter (INPUT_RAW_BPF_FILTER plus the ports of
//! INPUT_RAW), compiled by libpcap, combined for IP-in-IP, attached to
//! every live socket and run in userspace on recorded input.
//!
//! With `IPIP=true` an IP-in-IP packet is judged by its *inner* packet: the
//! filter is compiled a second time for raw IP and relocated behind the
//! outer header, so `port 80` or `not host 10.0.0.1` mean the tunnelled
//! connection, exactly as the decoder sees it. Relocation needs a fixed
//! outer header length, so outer IPv4 with options falls back to the plain
//! (outer) filter.

use pcap::{Capture, Linktype};

use super::LinkType;

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
const AD_OFF: i32 = -0x1000;
const LL_OFF: i32 = -0x200000;

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

/// libpcap's link type for a frame format.
pub fn pcap_linktype(link: LinkType) -> Linktype {
    Linktype(match link {
        LinkType::Ethernet => 1,
        LinkType::LinuxSll => 113,
        LinkType::LinuxSll2 => 276,
        LinkType::RawIp => 12,
        LinkType::Null => 0,
        LinkType::Loop => 108,
        LinkType::Nflog => 239,
    })
}

/// Compiles tcpdump syntax for one link type.
pub fn compile(expr: &str, link: LinkType) -> Result<Vec<Insn>, String> {
    let cap = Capture::dead(pcap_linktype(link)).map_err(|e| e.to_string())?;
    let prog = cap.compile(expr, true).map_err(|e| e.to_string())?;
    // The crate keeps the instruction's fields private but prints them as
    // "code jt jf k".
    prog.get_instructions()
        .iter()
        .map(|i| {
            let text = i.to_string();
            let f: Vec<u32> = text
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            match f[..] {
                [code, jt, jf, k] => Ok(Insn::jump(code as u16, k, jt as u8, jf as u8)),
                _ => Err(format!("unreadable instruction '{text}'")),
            }
        })
        .collect()
}

/// The filter expression for one interface: INPUT_RAW_BPF_FILTER and the
/// interface's ports from INPUT_RAW. None when nothing is filtered.
pub fn expression(user: &str, ports: &[u16]) -> Option<String> {
    let user = user.trim();
    let ports = (!ports.is_empty()).then(|| {
        ports
            .iter()
            .map(|p| format!("tcp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ")
    });
    match (user.is_empty(), ports) {
        (true, None) => None,
        (false, None) => Some(user.to_string()),
        (true, Some(p)) => Some(p),
        (false, Some(p)) => Some(format!("({user}) and ({p})")),
    }
}

/// Where the IP header starts, and how to recognise IPv4/IPv6 there.
fn ip_layout(link: LinkType) -> Option<(u32, Option<u32>)> {
    // (IP offset, offset of a 16-bit ethertype when the link has one)
    match link {
        LinkType::Ethernet => Some((14, Some(12))),
        LinkType::LinuxSll => Some((16, Some(14))),
        LinkType::LinuxSll2 => Some((20, Some(0))),
        LinkType::RawIp => Some((0, None)),
        LinkType::Null | LinkType::Loop | LinkType::Nflog => None,
    }
}

/// Shifts every packet load of a program compiled for raw IP by `by` bytes.
fn relocate(prog: &[Insn], by: u32) -> Vec<Insn> {
    prog.iter()
        .map(|i| {
            let mut i = *i;
            let class = i.code & 0x07;
            let mode = i.code & 0xe0;
            let shifted =
                (class == LD && (mode == ABS || mode == IND)) || (class == LDX && mode == MSH);
            if shifted {
                i.k = i.k.wrapping_add(by);
            }
            i
        })
        .collect()
}

/// The complete filter for one link type. With `ipip`, IP-in-IP packets
/// are judged by their inner packet.
pub fn build(expr: &str, link: LinkType, ipip: bool) -> Result<Vec<Insn>, String> {
    let outer = compile(expr, link)?;
    let layout = ip_layout(link);
    let (Some((ip, ethertype)), true) = (layout, ipip) else {
        return Ok(outer);
    };
    let inner = compile(expr, LinkType::RawIp)?;
    let inner4 = relocate(&inner, ip + 20);
    let inner6 = relocate(&inner, ip + 40);

    // Guards, then OUTER, INNER4, INNER6. Jumps go forward only.
    let mut g: Vec<Insn> = Vec::new();
    // v4 guard: ethertype (or version), ihl 5, not a fragment, proto 4/41.
    let mut v4 = Vec::new();
    match ethertype {
        Some(off) => {
            v4.push(Insn::stmt(LD | H | ABS, off));
            v4.push(Insn::jump(JMP | JEQ | K, 0x0800, 0, 0xff)); // jf → v6 guard
        }
        None => {
            v4.push(Insn::stmt(LD | B | ABS, ip));
            v4.push(Insn::stmt(ALU | RSH | K, 4));
            v4.push(Insn::jump(JMP | JEQ | K, 4, 0, 0xff));
        }
    }
    v4.push(Insn::stmt(LD | B | ABS, ip));
    v4.push(Insn::jump(JMP | JEQ | K, 0x45, 0, 0xfe)); // jf → outer
    v4.push(Insn::stmt(LD | H | ABS, ip + 6));
    v4.push(Insn::jump(JMP | JSET | K, 0x3fff, 0xfe, 0)); // fragment → outer
    v4.push(Insn::stmt(LD | B | ABS, ip + 9));
    v4.push(Insn::jump(JMP | JEQ | K, 4, 1, 0));
    v4.push(Insn::jump(JMP | JEQ | K, 41, 0, 0xfe)); // not IPIP → outer
    v4.push(Insn::stmt(JMP | JA, 0xfffd)); // → INNER4
                                           // v6 guard: ethertype (or version), next header 4/41.
    let mut v6 = Vec::new();
    match ethertype {
        Some(off) => {
            v6.push(Insn::stmt(LD | H | ABS, off));
            v6.push(Insn::jump(JMP | JEQ | K, 0x86dd, 0, 0xfe));
        }
        None => {
            v6.push(Insn::stmt(LD | B | ABS, ip));
            v6.push(Insn::stmt(ALU | RSH | K, 4));
            v6.push(Insn::jump(JMP | JEQ | K, 6, 0, 0xfe));
        }
    }
    v6.push(Insn::stmt(LD | B | ABS, ip + 6));
    v6.push(Insn::jump(JMP | JEQ | K, 4, 1, 0));
    v6.push(Insn::jump(JMP | JEQ | K, 41, 0, 0xfe));
    v6.push(Insn::stmt(JMP | JA, 0xfffc)); // → INNER6

    // Resolve the placeholder targets now that every length is known.
    let v4_start = 0usize;
    let v6_start = v4.len();
    let outer_start = v6_start + v6.len();
    let inner4_start = outer_start + outer.len();
    let inner6_start = inner4_start + inner4.len();
    let resolve = |block: &mut Vec<Insn>, base: usize| -> Result<(), String> {
        for (n, i) in block.iter_mut().enumerate() {
            let at = base + n + 1; // jumps are relative to the next insn
            let rel = |target: usize| -> Result<u8, String> {
                u8::try_from(target - at).map_err(|_| "filter too long".to_string())
            };
            if i.code & 0x07 == JMP && i.code & 0xf0 != JA {
                for f in [&mut i.jt, &mut i.jf] {
                    *f = match *f {
                        0xff => rel(v6_start)?,
                        0xfe => rel(outer_start)?,
                        v => v,
                    };
                }
            } else if i.code == JMP | JA {
                i.k = match i.k {
                    0xfffd => (inner4_start - at) as u32,
                    0xfffc => (inner6_start - at) as u32,
                    v => v,
                };
            }
        }
        Ok(())
    };
    resolve(&mut v4, v4_start)?;
    resolve(&mut v6, v6_start)?;
    g.extend(v4);
    g.extend(v6);
    g.extend(outer);
    g.extend(inner4);
    g.extend(inner6);
    if g.len() > 4096 {
        return Err("filter too long once combined for IPIP (more than 4096 instructions)".into());
    }
    Ok(g)
}

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

/// A compiled filter per link type, for recorded input (link types can
/// differ between files).
pub struct FileFilter {
    expr: String,
    ipip: bool,
    programs: Vec<(LinkType, Vec<Insn>)>,
}

impl FileFilter {
    pub fn new(expr: &str, ipip: bool) -> Option<FileFilter> {
        let expr = expr.trim();
        (!expr.is_empty()).then(|| FileFilter {
            expr: expr.to_string(),
            ipip,
            programs: Vec::new(),
        })
    }

    /// True when the frame passes. A link type the filter cannot be
    /// compiled for passes everything (it was validated for Ethernet).
    pub fn accepts(&mut self, link: LinkType, frame: &[u8]) -> bool {
        let idx = match self.programs.iter().position(|(l, _)| *l == link) {
            Some(i) => i,
            None => {
                let prog = build(&self.expr, link, self.ipip).unwrap_or_default();
                self.programs.push((link, prog));
                self.programs.len() - 1
            }
        };
        let prog = &self.programs[idx].1;
        prog.is_empty() || run(prog, frame, Meta::default()) != 0
    }
}

#[cfg(test)]
mod tests;
