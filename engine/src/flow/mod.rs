//! TCP flows: the connection key, per-direction reassembly and the
//! per-shard stream table.

pub mod encap;
pub mod reassembly;
pub mod table;

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// One end of a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// A connection's identity, the same whichever direction a packet travels:
/// the two endpoints in a canonical order (`lo` sorts first), and the
/// context the packets came through (`decode::Segment::ctx`: VLAN ids and
/// tunnel ids folded into one value, 0 for plain traffic), so that two
/// tenants whose inner addresses and ports are equal stay two connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
    pub ctx: u64,
}

/// Hashed as three words: the derived impl fed the hasher every field and
/// enum tag separately, which cost more than the table lookup itself. The
/// context shares the ports' word: it is itself a well-mixed 64-bit hash (0
/// untunnelled), so XORing it in costs nothing and keeps keys apart as
/// well as a word of its own would.
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(a) => u32::from(a) as u128,
            IpAddr::V6(a) => u128::from(a),
        };
        state.write_u128(bits(self.lo.ip));
        state.write_u128(bits(self.hi.ip));
        let ports = (self.lo.port as u64) << 16 | self.hi.port as u64;
        state.write_u64(ports ^ self.ctx);
    }
}

/// Which way a segment travels, relative to the key's canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Sent by `lo`.
    Lo = 0,
    /// Sent by `hi`.
    Hi = 1,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

impl FlowKey {
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> FlowKey {
        let a = Endpoint {
            ip: src,
            port: sport,
        };
        let b = Endpoint {
            ip: dst,
            port: dport,
        };
        if a <= b {
            FlowKey {
                lo: a,
                hi: b,
                ctx: 0,
            }
        } else {
            FlowKey {
                lo: b,
                hi: a,
                ctx: 0,
            }
        }
    }

    /// The same endpoints in context `ctx`.
    pub fn in_context(self, ctx: u64) -> FlowKey {
        FlowKey { ctx, ..self }
    }

    /// The side that sent a segment from `src`.
    pub fn side_of(&self, src: IpAddr, sport: u16) -> Side {
        if self.lo.ip == src && self.lo.port == sport {
            Side::Lo
        } else {
            Side::Hi
        }
    }

    pub fn endpoint(&self, side: Side) -> Endpoint {
        match side {
            Side::Lo => self.lo,
            Side::Hi => self.hi,
        }
    }

    /// A hash of the canonical endpoints, so both directions agree. Used to
    /// pick a shard; stable across runs so sharding is reproducible. The
    /// context is left out, as every engine's steering leaves it out (see
    /// `capture::steer`): equal inner 5-tuples share a shard, whatever
    /// tunnel they came through, and the table tells them apart.
    pub fn symmetric_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |v: u64| {
            h ^= v;
            h = h.wrapping_mul(0x1000_0000_01b3).rotate_left(29);
        };
        for ep in [self.lo, self.hi] {
            match ep.ip {
                IpAddr::V4(a) => mix(u32::from(a) as u64),
                IpAddr::V6(a) => {
                    let v = u128::from(a);
                    mix(v as u64);
                    mix((v >> 64) as u64);
                }
            }
            mix(ep.port as u64);
        }
        // Final avalanche so the low bits (used for modulo) depend on all input.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_direction_independent() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let k1 = FlowKey::new(a, 40000, b, 80);
        let k2 = FlowKey::new(b, 80, a, 40000);
        assert_eq!(k1, k2);
        assert_eq!(k1.symmetric_hash(), k2.symmetric_hash());
        assert_eq!(k1.side_of(a, 40000), k1.side_of(b, 80).other());
    }

    #[test]
    fn context_separates_keys_but_not_shards() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let k = FlowKey::new(a, 40000, b, 80);
        let (t1, t2) = (k.in_context(7), k.in_context(9));
        assert_ne!(t1, t2);
        assert_ne!(t1, k);
        assert_eq!(t1, FlowKey::new(b, 80, a, 40000).in_context(7));
        use std::hash::BuildHasher;
        let hasher = crate::flow::table::KeyHasher::default();
        assert_ne!(hasher.hash_one(t1), hasher.hash_one(t2));
        assert_eq!(hasher.hash_one(t1), hasher.hash_one(t1.in_context(7)));
        assert_eq!(t1.symmetric_hash(), t2.symmetric_hash());
    }
}
