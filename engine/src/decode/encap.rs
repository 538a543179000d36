//! What a packet came wrapped in: VLAN tags and tunnels (VXLAN, Geneve,
//! GRE, ERSPAN, ...), seen by the decoder on its way to the innermost TCP
//! segment.
//!
//! The decoder reports each wrapper to a `Trace`. On every packet the
//! trace is `Context`, which only folds the wrappers' *ids* (VLAN ids,
//! VXLAN and Geneve VNIs, GRE keys, ERSPAN sessions) into one 64-bit
//! context id that becomes part of the flow key: two tenants mirrored
//! through different VNIs keep apart even when their inner 5-tuples are
//! the same, while both directions of one flow (same ids, the outer
//! addresses swapped) share it. Untunnelled, untagged traffic never calls
//! the trace: its context is 0. When a tunnelled connection opens, the
//! shard decodes its first packet again with `Encap` as the trace, which
//! keeps the whole description (kinds, outer addresses, ids) for the
//! record.

pub use crate::flow::encap::{Encap, Tunnel, TunnelKind};

/// Wrappers followed at most around one TCP segment, nested in any order
/// (VXLAN in GRE in Geneve, ...); a deeper packet is counted as
/// `decode_tunnel_unsupported`. Each item of a description counts (ERSPAN
/// in GRE with a key is two); VLAN tags, MPLS and PPPoE do not.
pub const MAX_WRAPPERS: usize = 8;

/// VLAN tags kept at most in a connection's description (every tag still
/// counts in the context id).
const MAX_VLANS: usize = 16;

/// What the decoder tells about each wrapper it peels.
pub(super) trait Trace {
    fn vlan(&mut self, vid: u16);
    fn tunnel(&mut self, t: Tunnel);
    /// Tunnels told so far.
    fn tunnels(&self) -> usize;
    /// The segment's `ctx` and `wrapped`.
    fn context(&self) -> (u64, bool);
    /// An IP header about to be read (the reassembler's locator wants
    /// them; every other trace ignores them).
    #[inline(always)]
    fn ip(&mut self, _packet: &[u8]) {}
}

/// The trace of every packet: the context id and whether anything was
/// peeled at all.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Context {
    pub id: u64,
    pub wrapped: bool,
    tunnels: u8,
}

impl Context {
    fn mix(&mut self, v: u64) {
        let h = (self.id ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Never 0: that is the context of unwrapped traffic.
        self.id = (h ^ (h >> 29)).max(1);
    }
}

impl Trace for Context {
    fn vlan(&mut self, vid: u16) {
        // A priority tag (VID 0) names no VLAN: a host may send them while
        // its peer's frames come untagged.
        if vid != 0 {
            self.wrapped = true;
            self.mix(1 << 32 | vid as u64);
        }
    }

    fn tunnel(&mut self, t: Tunnel) {
        self.wrapped = true;
        self.tunnels = self.tunnels.saturating_add(1);
        if let Some(id) = t.id {
            self.mix((t.kind as u64 + 2) << 32 | id as u64);
        }
    }

    fn tunnels(&self) -> usize {
        self.tunnels as usize
    }

    fn context(&self) -> (u64, bool) {
        (self.id, self.wrapped)
    }
}

impl Trace for Encap {
    fn vlan(&mut self, vid: u16) {
        if vid != 0 && self.vlans.len() < MAX_VLANS {
            self.vlans.push(vid);
        }
    }

    fn tunnel(&mut self, t: Tunnel) {
        self.tunnels.push(t);
    }

    fn tunnels(&self) -> usize {
        self.tunnels.len()
    }

    fn context(&self) -> (u64, bool) {
        // Only `Context` computes the id; a description is not a segment's.
        (0, !self.tunnels.is_empty() || !self.vlans.is_empty())
    }
}
