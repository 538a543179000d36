//! A shard's stream table: connections in a slab arena, found by key. The
//! table knows TCP only; the per-connection application state `A` (the HTTP
//! exchange) rides along.

use std::collections::HashMap;
use std::hash::BuildHasher;

use slab::Slab;

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
}

impl<A> Conn<A> {
    pub fn half(&mut self, side: Side) -> &mut HalfStream {
        &mut self.halves[side.index()]
    }
}

/// Builds hashers with per-process random keys, so crafted addresses
/// cannot force collisions (a million half-open streams stay O(1) each).
#[derive(Clone, Default)]
pub struct KeyHasher(std::collections::hash_map::RandomState);

impl BuildHasher for KeyHasher {
    type Hasher = std::collections::hash_map::DefaultHasher;
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

pub struct StreamTable<A> {
    index: HashMap<FlowKey, usize, KeyHasher>,
    conns: Slab<Conn<A>>,
    next_id: u64,
    shard: u16,
}

impl<A> StreamTable<A> {
    pub fn new(shard: u16) -> StreamTable<A> {
        StreamTable {
            index: HashMap::default(),
            conns: Slab::new(),
            next_id: 0,
            shard,
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
        });
        self.index.insert(key, slot);
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
}

#[cfg(test)]
mod size_tests {
    /// Idle streams must stay cheap (target: 512 bytes each, table entry
    /// and index included, at a million streams). Guard the entry's size.
    #[test]
    fn connection_entry_stays_small() {
        let per = super::StreamTable::<crate::http::HttpConn>::bytes_per_conn();
        assert!(per <= 400, "a tracked connection costs {per} bytes");
    }
}
