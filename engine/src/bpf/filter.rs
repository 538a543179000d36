//! The capture filter (INPUT_RAW_BPF_FILTER plus the ports of
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

use super::ipv6_extensions::{extensions, Extensions, EXTENDED};
use super::*;
use crate::frame::LinkType;

/// Why a capture filter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// libpcap refused the expression (or the link type).
    #[error(transparent)]
    Pcap(#[from] pcap::Error),
    /// libpcap printed an instruction we could not read back.
    #[error("unreadable instruction '{0}'")]
    UnreadableInsn(String),
    /// A jump of the IPIP guards does not fit in 8 bits.
    #[error("filter too long")]
    JumpTooFar,
    /// The combined IPIP filter exceeds the kernel's program limit.
    #[error("filter too long once combined for IPIP (more than {MAX_INSNS} instructions)")]
    TooLong,
}

/// The kernel's limit on a classic BPF program (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

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
pub fn compile(expr: &str, link: LinkType) -> Result<Vec<Insn>, FilterError> {
    let cap = Capture::dead(pcap_linktype(link))?;
    let prog = cap.compile(expr, true)?;
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
                _ => Err(FilterError::UnreadableInsn(text)),
            }
        })
        .collect()
}

/// IP fragments: IPv4 with more-fragments set or an offset, IPv6 whose
/// first extension header is a Fragment header.
const FRAGMENTS: &str = "(ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)";

/// What a capture program runs: `expr`, or any packet `expr` cannot
/// judge as captured. A fragment after the first carries no ports, so
/// `port 80` would drop it and lose its datagram (tcpdump's behaviour):
/// every fragment is passed, and `expr` judges the datagram once it is
/// reassembled (`FrameFilter::accepts_datagram`). libpcap's `port` does
/// not read past IPv6 extension headers: such packets are passed too, and
/// judged without them (`FrameFilter::accepts_extended`).
pub fn frame_expression(expr: &str) -> String {
    format!("({expr}) or {FRAGMENTS} or {EXTENDED}")
}

/// A live interface's capture filter in its two parts: the expression its
/// frame program runs (`frame_expression`) and the filter that judges
/// what that program passed unjudged (datagrams reassembled from
/// fragments, packets with IPv6 extension headers). None when nothing is
/// filtered.
pub fn live_filter(user: &str, ports: &[u16], ipip: bool) -> Option<(String, FrameFilter)> {
    let expr = expression(user, ports)?;
    let datagrams = FrameFilter::new(&expr, ipip)?;
    Some((frame_expression(&expr), datagrams))
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
pub(super) fn ip_layout(link: LinkType) -> Option<(u32, Option<u32>)> {
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
pub fn build(expr: &str, link: LinkType, ipip: bool) -> Result<Vec<Insn>, FilterError> {
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
    let resolve = |block: &mut Vec<Insn>, base: usize| -> Result<(), FilterError> {
        for (n, i) in block.iter_mut().enumerate() {
            let at = base + n + 1; // jumps are relative to the next insn
            let rel = |target: usize| -> Result<u8, FilterError> {
                u8::try_from(target - at).map_err(|_| FilterError::JumpTooFar)
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
    if g.len() > MAX_INSNS {
        return Err(FilterError::TooLong);
    }
    Ok(g)
}

/// A capture filter run in userspace, compiled per link type when first
/// needed (link types can differ between files): on recorded input's
/// frames as the kernel would run it live (`frame_expression`), and on
/// what that program passes unjudged, live or recorded: datagrams
/// reassembled from fragments, and packets with IPv6 extension headers.
#[derive(Clone)]
pub struct FrameFilter {
    expr: String,
    /// `frame_expression(expr)`, made once.
    frame_expr: String,
    ipip: bool,
    /// For frames: the expression, or what it cannot judge as captured.
    frames: Vec<(LinkType, Vec<Insn>)>,
    /// For whole packets: the expression.
    packets: Vec<(LinkType, Vec<Insn>)>,
}

impl FrameFilter {
    pub fn new(expr: &str, ipip: bool) -> Option<FrameFilter> {
        let expr = expr.trim();
        (!expr.is_empty()).then(|| FrameFilter {
            expr: expr.to_string(),
            frame_expr: frame_expression(expr),
            ipip,
            frames: Vec::new(),
            packets: Vec::new(),
        })
    }

    /// True when a captured frame passes (recorded input: the kernel's
    /// part too). An IP fragment passes, to be judged once reassembled. A
    /// link type the filter cannot be compiled for passes everything (it
    /// was validated for Ethernet).
    pub fn accepts(&mut self, link: LinkType, frame: &[u8]) -> bool {
        Self::run(&mut self.frames, &self.frame_expr, self.ipip, link, frame)
            && self.accepts_extended(link, frame)
    }

    /// For a frame the frame program passed: true unless its IPv6 header
    /// has extension headers (Hop-by-Hop, Routing, Destination Options)
    /// and the expression refuses it both as captured and without them.
    pub fn accepts_extended(&mut self, link: LinkType, frame: &[u8]) -> bool {
        match extensions(link, frame) {
            Extensions::Removed(without) => {
                self.accepts_packet(link, frame) || self.accepts_packet(link, &without)
            }
            Extensions::None | Extensions::Fragment => true,
        }
    }

    /// True when a datagram reassembled from fragments (a whole frame)
    /// passes: as it is, or without its IPv6 extension headers.
    pub fn accepts_datagram(&mut self, link: LinkType, frame: &[u8]) -> bool {
        self.accepts_packet(link, frame)
            || match extensions(link, frame) {
                Extensions::Removed(without) => self.accepts_packet(link, &without),
                Extensions::None | Extensions::Fragment => false,
            }
    }

    fn accepts_packet(&mut self, link: LinkType, frame: &[u8]) -> bool {
        Self::run(&mut self.packets, &self.expr, self.ipip, link, frame)
    }

    fn run(
        programs: &mut Vec<(LinkType, Vec<Insn>)>,
        expr: &str,
        ipip: bool,
        link: LinkType,
        frame: &[u8],
    ) -> bool {
        let idx = match programs.iter().position(|(l, _)| *l == link) {
            Some(i) => i,
            None => {
                let prog = build(expr, link, ipip).unwrap_or_else(|e| {
                    // Once per link type: the operator must know the filter
                    // does not apply to these frames.
                    tracing::warn!(
                        "INPUT_RAW_BPF_FILTER cannot be compiled for link type {link:?} ({e}): \
                         its frames all pass"
                    );
                    Vec::new()
                });
                programs.push((link, prog));
                programs.len() - 1
            }
        };
        let prog = &programs[idx].1;
        prog.is_empty() || interp::run(prog, frame, interp::Meta::default()) != 0
    }
}
