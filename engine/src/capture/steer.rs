//! Which shard owns a connection, and the kernel program that agrees.
//!
//! A live shard's socket is one member of a PACKET_FANOUT group whose
//! classic BPF program (PACKET_FANOUT_CBPF) returns `steer_hash` of the
//! innermost TCP 5-tuple; the kernel picks member `hash % shards`. The hash
//! is symmetric (XOR of the two endpoints), so both directions of a
//! connection land on one shard, and it looks through IP-in-IP (when
//! `IPIP=true`), VXLAN and Geneve, where the kernel's own flow hash would
//! not (their outer source port differs per direction).
//!
//! The shard recomputes the same hash from the decoded packet. A packet
//! the kernel program could not parse (GRE, MPLS, IPv6 extension headers,
//! QinQ) lands on shard 0 and is handed over through a bounded
//! ring to its owner, counted as `steer_misrouted`.
//!
//! The tunnel context of the flow key (VLAN ids, VNIs, GRE keys, ERSPAN
//! sessions: `decode::Segment::ctx`) is not hashed, here nor in the XDP
//! program nor by the file reader. Both directions of a flow share their
//! inner 5-tuple, so they meet on one shard without it; tenants whose
//! inner 5-tuples are equal share a shard, whose table keeps them apart by
//! the context. Hashing it would gain nothing in correctness and would
//! need what the kernel programs cannot see reliably: VLAN tags the NIC
//! moved into metadata, and the wrappers they do not parse.

use std::net::IpAddr;

use crate::bpf::{self, asm::Asm, Insn};
use crate::capture::Packet;
use crate::decode::{self, DecodeOptions, Segment};

const MIX: u32 = 0x045d_9f3b;

fn fold(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let o = a.octets();
            (0..4).fold(0, |h, i| {
                h ^ u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            })
        }
    }
}

/// The symmetric connection hash that the fanout program computes.
pub fn steer_hash(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> u32 {
    let mut h = fold(src) ^ fold(dst) ^ (sport ^ dport) as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(MIX);
    h ^= h >> 16;
    h = h.wrapping_mul(MIX);
    h ^ (h >> 16)
}

/// The shard that owns this packet's connection; None when the packet
/// does not decode to TCP (it stays where it is and is counted there).
pub fn owner(pkt: &Packet<'_>, opts: &DecodeOptions, shards: usize) -> Option<usize> {
    let s = decode::decode(pkt, opts).ok()?;
    Some(owner_of(&s, shards))
}

/// The shard that owns a decoded packet's connection.
pub fn owner_of(s: &Segment<'_>, shards: usize) -> usize {
    (steer_hash(s.src, s.sport, s.dst, s.dport) % shards as u32) as usize
}

/// Tunnels followed below the outermost IP header.
const LEVELS: usize = 3;

/// The fanout program: returns `steer_hash` of the innermost TCP 5-tuple,
/// or 0 for anything it cannot parse. X holds the current header's offset
/// from the network header; M[0] the folded addresses, M[1] a saved X,
/// M[2] scratch.
pub fn fanout_program(ipip: bool) -> Vec<Insn> {
    use bpf::{
        ADD, ALU, AND, B, H, IND, LD, LDX, LSH, MEM, MISC, MUL, RET, RSH, ST, STX, TAX, TXA, W, XOR,
    };
    let net = bpf::NET_OFF;
    let mut a = Asm::default();
    let fail = a.label();
    let tcp = a.label();
    let ip: Vec<usize> = (0..=LEVELS).map(|_| a.label()).collect();
    let ldx_mem = LDX | W | MEM;

    a.op(LDX | W | bpf::IMM, 0);
    for lvl in 0..LEVELS {
        let (v4, v6, udp, dispatch) = (a.label(), a.label(), a.label(), a.label());
        // Conditional jumps reach 255 instructions: far targets go through
        // trampolines at the end of the level.
        let (far_fail, far_tcp, far_next) = (fail, tcp, ip[lvl + 1]);
        let (fail, tcp, next) = (a.label(), a.label(), a.label());
        let deeper = (lvl + 1 < LEVELS).then_some(next);
        a.bind(ip[lvl]);
        a.op(LD | B | IND, net);
        a.op(ALU | RSH | bpf::K, 4);
        a.jif(bpf::JEQ, 4, Some(v4), None);
        a.jif(bpf::JEQ, 6, Some(v6), Some(fail));

        // IPv4: no fragments; fold addresses; X += ihl.
        a.bind(v4);
        a.op(LD | H | IND, net + 6);
        a.jif(bpf::JSET, 0x3fff, Some(fail), None);
        a.op(STX, 1);
        a.op(LD | W | IND, net + 16);
        a.op(ST, 2);
        a.op(LD | W | IND, net + 12);
        a.op(ldx_mem, 2);
        a.op(ALU | XOR | bpf::X, 0);
        a.op(ST, 0);
        a.op(ldx_mem, 1);
        a.op(LD | B | IND, net + 9);
        a.op(ST, 2);
        a.op(LD | B | IND, net);
        a.op(ALU | AND | bpf::K, 0x0f);
        a.op(ALU | LSH | bpf::K, 2);
        a.op(ALU | ADD | bpf::X, 0);
        a.op(MISC | TAX, 0);
        a.ja(dispatch);

        // IPv6: fold the eight address words; X += 40.
        a.bind(v6);
        a.op(STX, 1);
        a.op(LD | W | IND, net + 8);
        a.op(ST, 0);
        for w in 1..8u32 {
            a.op(ldx_mem, 1);
            a.op(LD | W | IND, net + 8 + 4 * w);
            a.op(ldx_mem, 0);
            a.op(ALU | XOR | bpf::X, 0);
            a.op(ST, 0);
        }
        a.op(ldx_mem, 1);
        a.op(LD | B | IND, net + 6);
        a.op(ST, 2);
        a.op(MISC | TXA, 0);
        a.op(ALU | ADD | bpf::K, 40);
        a.op(MISC | TAX, 0);

        // Protocol in M[2], X at the next header.
        a.bind(dispatch);
        a.op(LD | W | MEM, 2);
        a.jif(bpf::JEQ, 6, Some(tcp), None);
        a.jif(bpf::JEQ, 17, Some(udp), None);
        match (ipip, deeper) {
            (true, Some(d)) => {
                a.jif(bpf::JEQ, 4, Some(d), None);
                a.jif(bpf::JEQ, 41, Some(d), Some(fail));
            }
            _ => a.ja(fail),
        }

        // VXLAN on 4789 with the I flag: inner Ethernet, then IP. Geneve
        // on 6081: inner Ethernet or IP.
        a.bind(udp);
        match deeper {
            Some(d) => {
                let (vxlan, geneve, teb) = (a.label(), a.label(), a.label());
                a.op(LD | H | IND, net + 2);
                a.jif(bpf::JEQ, 4789, Some(vxlan), None);
                a.jif(bpf::JEQ, 6081, Some(geneve), Some(fail));

                // Geneve, version 0, not a control packet: X past its
                // options (length in 4-byte words), then by its protocol
                // an Ethernet frame (TEB) or IP.
                a.bind(geneve);
                a.op(LD | B | IND, net + 8);
                a.jif(bpf::JSET, 0xc0, Some(fail), None);
                a.op(LD | B | IND, net + 9);
                a.jif(bpf::JSET, 0x80, Some(fail), None);
                a.op(LD | H | IND, net + 10);
                a.op(ST, 2);
                a.op(LD | B | IND, net + 8);
                a.op(ALU | AND | bpf::K, 0x3f);
                a.op(ALU | LSH | bpf::K, 2);
                a.op(ALU | ADD | bpf::X, 0);
                a.op(ALU | ADD | bpf::K, 16);
                a.op(MISC | TAX, 0);
                a.op(LD | W | MEM, 2);
                a.jif(bpf::JEQ, 0x6558, Some(teb), None);
                a.jif(bpf::JEQ, 0x0800, Some(d), None);
                a.jif(bpf::JEQ, 0x86dd, Some(d), Some(fail));
                a.bind(teb);
                a.op(LD | H | IND, net + 12);
                a.op(ST, 2);
                a.op(MISC | TXA, 0);
                a.op(ALU | ADD | bpf::K, 14);
                a.op(MISC | TAX, 0);
                a.op(LD | W | MEM, 2);
                a.jif(bpf::JEQ, 0x0800, Some(d), None);
                a.jif(bpf::JEQ, 0x86dd, Some(d), Some(fail));

                a.bind(vxlan);
                a.op(LD | B | IND, net + 8);
                a.jif(bpf::JSET, 0x08, None, Some(fail));
                a.op(LD | H | IND, net + 28);
                a.op(ST, 2);
                a.op(MISC | TXA, 0);
                a.op(ALU | ADD | bpf::K, 30);
                a.op(MISC | TAX, 0);
                a.op(LD | W | MEM, 2);
                a.jif(bpf::JEQ, 0x0800, Some(d), None);
                a.jif(bpf::JEQ, 0x86dd, Some(d), Some(fail));
            }
            None => a.ja(fail),
        }
        a.bind(fail);
        a.ja(far_fail);
        a.bind(tcp);
        a.ja(far_tcp);
        a.bind(next);
        a.ja(far_next);
    }
    a.bind(ip[LEVELS]);
    a.ja(fail);

    // TCP: fold the ports into the addresses, then mix.
    a.bind(tcp);
    a.op(LD | W | IND, net);
    a.op(ST, 2);
    a.op(ALU | RSH | bpf::K, 16);
    a.op(MISC | TAX, 0);
    a.op(LD | W | MEM, 2);
    a.op(ALU | AND | bpf::K, 0xffff);
    a.op(ALU | XOR | bpf::X, 0);
    a.op(ldx_mem, 0);
    a.op(ALU | XOR | bpf::X, 0);
    for round in 0..3 {
        // h ^= h >> 16, then (twice) h *= MIX.
        a.op(ST, 2);
        a.op(ALU | RSH | bpf::K, 16);
        a.op(MISC | TAX, 0);
        a.op(LD | W | MEM, 2);
        a.op(ALU | XOR | bpf::X, 0);
        if round < 2 {
            a.op(ALU | MUL | bpf::K, MIX);
        }
    }
    a.op(RET | bpf::A, 0);
    a.bind(fail);
    a.op(RET | bpf::K, 0);
    a.finish()
}

#[cfg(test)]
mod tests;
