//! The HPACK dynamic table (RFC 7541 §2.3.2, §4): one per direction of a
//! connection, newest entry at index 0.
//!
//! Entries live in one byte arena, oldest first; evicting the oldest moves
//! a start offset, and the arena is compacted (one move of the live
//! bytes) once more than half of it is dead, so an insertion costs
//! amortised O(its length) and a warm table does not allocate. The arena
//! holds at most twice the table's size plus one entry.
//!
//! A name or value we could not read (an index we never saw, a Huffman
//! string that did not decode) is stored as unknown: the entry still takes
//! its place, so the indices of later entries stay right. Unknown parts
//! count zero bytes in the size: we may then keep an entry a little longer
//! than the peer, which is harmless, since the peer never references an
//! index past its own table's end.

use std::collections::VecDeque;

/// RFC 7541 §4.1: every entry costs its name and value plus 32 octets.
pub const ENTRY_OVERHEAD: usize = 32;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Offset of the name in the arena; the value follows it.
    start: usize,
    /// `None`: unknown.
    name_len: Option<usize>,
    value_len: Option<usize>,
}

impl Entry {
    fn stored(&self) -> usize {
        self.name_len.unwrap_or(0) + self.value_len.unwrap_or(0)
    }

    fn size(&self) -> usize {
        self.stored() + ENTRY_OVERHEAD
    }
}

/// A table entry's name and value, `None` where unknown.
pub type EntryRef<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// The dynamic table of one decoding context.
#[derive(Debug, Default)]
pub struct DynamicTable {
    arena: Vec<u8>,
    /// Arena bytes before this offset belong to evicted entries.
    dead: usize,
    /// Newest first.
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    pub fn new(max_size: usize) -> Self {
        DynamicTable {
            max_size,
            ..Default::default()
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Current size by RFC 7541 §4.1 (unknown parts count zero).
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Entry `k` (0 = newest): its name and value, `None` where unknown.
    pub fn get(&self, k: usize) -> Option<EntryRef<'_>> {
        let e = self.entries.get(k)?;
        let name_end = e.start + e.name_len.unwrap_or(0);
        let name = e.name_len.map(|_| &self.arena[e.start..name_end]);
        let value = e.value_len.map(|n| &self.arena[name_end..name_end + n]);
        Some((name, value))
    }

    /// Sets the maximum size, evicting the oldest entries until it fits
    /// (RFC 7541 §4.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Drops every entry (the arena's capacity is kept).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.arena.clear();
        self.dead = 0;
        self.size = 0;
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(old) = self.entries.pop_back() else {
                break;
            };
            self.size -= old.size();
            self.dead = old.start + old.stored();
        }
        if self.entries.is_empty() {
            self.arena.clear();
            self.dead = 0;
            self.size = 0;
        }
    }

    /// Adds an entry at index 0 (RFC 7541 §4.4): older entries are evicted
    /// to make room. Returns false when the entry is larger than the whole
    /// table: the table is then emptied, and an unknown placeholder (32
    /// bytes, when the table can hold that much) takes the entry's place,
    /// in case the peer's table is larger than we think. Where our size is
    /// right, the peer's table is empty and the placeholder stays just
    /// past its newest entries, where the peer never references it.
    pub fn insert(&mut self, name: Option<&[u8]>, value: Option<&[u8]>) -> bool {
        let entry_size =
            name.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD;
        if entry_size > self.max_size {
            self.clear();
            if ENTRY_OVERHEAD <= self.max_size {
                self.entries.push_front(Entry {
                    start: 0,
                    name_len: None,
                    value_len: None,
                });
                self.size = ENTRY_OVERHEAD;
            }
            return false;
        }
        self.evict_to(self.max_size - entry_size);
        if self.dead > 0 && self.dead * 2 > self.arena.len() {
            self.compact();
        }
        let start = self.arena.len();
        if let Some(n) = name {
            self.arena.extend_from_slice(n);
        }
        if let Some(v) = value {
            self.arena.extend_from_slice(v);
        }
        self.entries.push_front(Entry {
            start,
            name_len: name.map(<[u8]>::len),
            value_len: value.map(<[u8]>::len),
        });
        self.size += entry_size;
        true
    }

    /// Moves the live bytes to the arena's start.
    fn compact(&mut self) {
        let dead = self.dead;
        self.arena.drain(..dead);
        for e in &mut self.entries {
            e.start -= dead;
        }
        self.dead = 0;
    }

    /// Heap bytes reserved (arena and entry index), for the shard's
    /// memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// Arena bytes in use, evicted ones included (tests: the bound).
    #[cfg(test)]
    pub fn arena_len(&self) -> usize {
        self.arena.len()
    }
}
