//! A shard's stream table: connections in a slab arena, found by key. The
//! table knows TCP only; the per-connection application state `A` (the HTTP
//! exchange) rides along.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use slab::Slab;

use super::encap::Encap;
use super::reassembly::HalfStream;
use super::{FlowKey, Side};

/// One tracked connection.
#[derive(Debug)]
pub struct Conn<A> {
    pub key: FlowKey,
    /// Unique within the run: the shard number in the top 16 bits.
    pub id: u64,
    /// Which side opened the connection (sent the request), once known.
    pub client: Option<Side>,
    /// Indexed by `Side::index()`.
    pub halves: [HalfStream; 2],
    pub app: A,
    pub last_ns: u64,
    /// Whether any payload was seen: connections without any expire sooner.
    pub has_payload: bool,
    /// An RST was seen, or both FINs were delivered.
    pub closed: bool,
    /// A SYN with a new sequence number (`new_syn_seq`) came from this
    /// side while the connection was open: when the other side answers it
    /// (a SYN-ACK acknowledging it), a new connection has taken the
    /// four-tuple over. Two fields rather than an Option of a pair, which
    /// would cost 8 bytes more per connection.
    pub new_syn_from: Option<Side>,
    pub new_syn_seq: u32,
    /// The VLAN tags and tunnels of the packet that opened the connection,
    /// for its records; only for such connections (one pointer otherwise).
    pub encap: Option<Arc<Encap>>,
    /// The process whose uprobe events give this connection's plaintext
    /// (TLS_UPROBE_LIBS); only for such connections (one pointer otherwise).
    pub uprobe: Option<Box<crate::tls::uprobe::Feed<A>>>,
}

impl<A> Conn<A> {
    pub fn half(&mut self, side: Side) -> &mut HalfStream {
        &mut self.halves[side.index()]
    }
}

/// Builds hashers with per-process random keys, so crafted addresses
/// cannot force collisions (a million half-open streams stay O(1) each).
/// aHash, keyed from the OS's random source like std's SipHash, at a
/// tenth of SipHash's cost per lookup.
#[derive(Clone, Default)]
pub struct KeyHasher(ahash::RandomState);

impl BuildHasher for KeyHasher {
    type Hasher = ahash::AHasher;
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

pub struct StreamTable<A> {
    index: HashMap<FlowKey, usize, KeyHasher>,
    conns: Slab<Conn<A>>,
    next_id: u64,
    shard: u16,
    /// Largest index capacity seen: the hash table's size without tombstones.
    index_full: usize,
}

impl<A> StreamTable<A> {
    pub fn new(shard: u16) -> StreamTable<A> {
        StreamTable {
            index: HashMap::default(),
            conns: Slab::new(),
            next_id: 0,
            shard,
            index_full: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    pub fn find(&self, key: &FlowKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub fn get_mut(&mut self, slot: usize) -> &mut Conn<A> {
        &mut self.conns[slot]
    }

    /// The connection in `slot` if there is one (a slot noted earlier may
    /// have been freed, or reused: compare `Conn::id`).
    pub fn try_get_mut(&mut self, slot: usize) -> Option<&mut Conn<A>> {
        self.conns.get_mut(slot)
    }

    pub fn insert(&mut self, key: FlowKey, app: A, ts_ns: u64) -> usize {
        let id = ((self.shard as u64) << 48) | (self.next_id & ((1 << 48) - 1));
        self.next_id += 1;
        let slot = self.conns.insert(Conn {
            key,
            id,
            client: None,
            halves: [HalfStream::default(), HalfStream::default()],
            app,
            last_ns: ts_ns,
            has_payload: false,
            closed: false,
            new_syn_from: None,
            new_syn_seq: 0,
            encap: None,
            uprobe: None,
        });
        self.index.insert(key, slot);
        self.index_full = self.index_full.max(self.index.capacity());
        slot
    }

    pub fn remove(&mut self, slot: usize) -> Conn<A> {
        let conn = self.conns.remove(slot);
        self.index.remove(&conn.key);
        conn
    }

    /// Slots of every connection, for a sweep.
    pub fn slots(&self) -> Vec<usize> {
        self.conns.iter().map(|(k, _)| k).collect()
    }

    /// Approximate bytes the table itself holds per connection (entry and
    /// index), for the memory budget.
    pub fn bytes_per_conn() -> usize {
        std::mem::size_of::<Conn<A>>() + std::mem::size_of::<(FlowKey, usize)>() + 16
    }

    /// Bytes the arena and index hold, by capacity (they never shrink),
    /// for the memory budget. The index is counted at the largest size it
    /// has had: tombstones lower its reported capacity, not its memory.
    pub fn memory_bytes(&self) -> usize {
        Self::footprint(
            self.conns.capacity(),
            buckets(self.index_full.max(self.index.capacity())),
        )
    }

    /// Whether the next insert makes the arena or the index reallocate.
    pub fn insert_grows(&self) -> bool {
        // A full index with tombstones rehashes in place while at most half
        // of its real capacity is in use; only beyond that does it grow.
        let index_full = self.index.len() >= self.index.capacity();
        self.conns.len() == self.conns.capacity()
            || (index_full && self.index.len() + 1 > self.index_full / 2)
    }

    /// Connections to keep at most so that the next insert reuses the
    /// index's memory (rehashing in place) instead of growing it.
    pub fn len_without_growth(&self) -> usize {
        (self.index_full / 2).saturating_sub(1)
    }

    /// Peak bytes while the next insert grows the table: the old and the
    /// doubled allocations are both live during the copy.
    pub fn growth_peak_bytes(&self) -> usize {
        let slots = self.conns.capacity().max(1);
        let index = buckets(self.index_full.max(self.index.capacity()).max(1));
        Self::footprint(slots * 3, index * 3)
    }

    /// Bytes the table's arena and index hold, counting their spare
    /// capacity: both grow by doubling, so their footprint can be twice
    /// the live entries.
    pub fn table_bytes(&self) -> usize {
        Self::footprint(self.conns.capacity(), buckets(self.index.capacity()))
    }

    /// What `table_bytes` will be after one more insert, including the
    /// doubling that insert may trigger.
    pub fn table_bytes_after_insert(&self) -> usize {
        let slab = match self.conns.capacity() {
            cap if self.conns.len() >= cap => (cap * 2).max(4),
            cap => cap,
        };
        let index = match buckets(self.index.capacity()) {
            b if self.index.len() >= self.index.capacity() => (b * 2).max(4),
            b => b,
        };
        Self::footprint(slab, index)
    }

    fn footprint(slab_cap: usize, index_buckets: usize) -> usize {
        // A slab entry is the connection plus a tag; a hash table bucket is
        // the pair plus a control byte.
        let slab = slab_cap * (std::mem::size_of::<Conn<A>>() + 8);
        let index = index_buckets * (std::mem::size_of::<(FlowKey, usize)>() + 1);
        slab + index
    }
}

/// Buckets behind a hash table of this capacity: a power of two, at most
/// 7/8 full (all but one for tiny tables).
fn buckets(cap: usize) -> usize {
    match cap {
        0 => 0,
        c if c < 8 => (c + 1).next_power_of_two(),
        c => (c * 8 / 7).next_power_of_two(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_counts_spare_capacity() {
        let mut t: StreamTable<()> = StreamTable::new(0);
        let ip = "192.0.2.1".parse().unwrap();
        let mut last = t.table_bytes();
        for port in 0..1000 {
            let projected = t.table_bytes_after_insert();
            t.insert(FlowKey::new(ip, port, ip, 80), (), 0);
            assert!(t.table_bytes() <= projected);
            assert!(t.table_bytes() >= last);
            last = t.table_bytes();
        }
        assert!(t.table_bytes() >= 1000 * StreamTable::<()>::bytes_per_conn() / 2);
    }
}

#[cfg(test)]
mod size_tests {
    /// Idle streams must stay cheap (target: 512 bytes each, table entry
    /// and index included, at a million streams). Guard the entry's size.
    #[test]
    fn connection_entry_stays_small() {
        let per = super::StreamTable::<crate::http::HttpConn>::bytes_per_conn();
        // 400 until HTTP/2 and TLS added a pointer each (their state lives
        // behind them, allocated only for such connections); 416 until the
        // flow key's context id (8 bytes, in the entry and in the index)
        // and the pointer to a tunnelled connection's wrappers; 440 until
        // the pointer to a uprobe-fed connection's state.
        assert!(per <= 448, "a tracked connection costs {per} bytes");
    }
}
