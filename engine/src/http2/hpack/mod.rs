//! A tolerant HPACK decoder (RFC 7541), one per direction of an HTTP/2
//! connection.
//!
//! A passive sensor sees connections from the middle and loses segments,
//! so this decoder never gives up on a connection: a reference to a table
//! entry it does not hold yields a field whose name or value is
//! [`Str::Unknown`], decoding goes on, and the block is reported
//! incomplete. Static-table fields always decode.
//!
//! **Keeping indices aligned.** Dynamic indices count from the newest
//! entry, so as long as we see every insertion the peer makes, our entry
//! `k` is the peer's entry `k`, whatever came before we started. Hence:
//!
//! - every "literal with incremental indexing" inserts an entry, even
//!   when its name is an index we do not hold or a string we cannot
//!   decode: the unknown part is stored as unknown;
//! - a dynamic index past what we hold is unknown (never an error): a
//!   decoder started mid-connection ([`Decoder::mid_stream`]) does not
//!   know how many entries the peer's table had, and does not need to;
//! - after a gap in the bytes (a lost segment may hold insertions), the
//!   caller calls [`Decoder::lost_sync`]: the table is emptied and treated
//!   as unknown, and entries inserted from then on are indexed right;
//!   a block that fails to parse does the same by itself;
//! - holding an entry longer than the peer is harmless (the peer never
//!   references past its table's end) and evicting early only turns a
//!   field unknown, so when unsure we keep more: a mid-stream decoder's
//!   table may hold up to [`TABLE_SIZE_CAP`] until the first size update;
//!   a size update to 0 tells us the peer's table is empty, which makes
//!   it fully known again.
//!
//! **Bounded.** The table never holds more than its size (at most
//! [`TABLE_SIZE_CAP`], however large a size update asks); a block's
//! decoded size (RFC 9113's measure: name + value + 32 per field) is
//! capped by the caller's `max_header_bytes`. Past the cap no more fields
//! are handed out and the block is reported [`Block::too_large`], but the
//! rest of the block is still walked so that its insertions keep the
//! table in step. Work is linear in the block's length.
//!
//! **No allocation on the common path.** Fields are handed to a callback
//! as slices of the block, of the table, or of a scratch buffer the
//! decoder owns and reuses for Huffman strings.

pub mod huffman;
pub mod static_table;
pub mod table;

use self::huffman::HuffmanError;
use self::static_table::{STATIC, STATIC_LEN};
use self::table::{DynamicTable, ENTRY_OVERHEAD};

/// The most a dynamic table may hold, whatever the peer asks for.
pub const TABLE_SIZE_CAP: usize = 64 * 1024;

/// SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// A name or value: its octets, or unknown (a table entry we never saw,
/// or a string that did not decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Str<'a> {
    Known(&'a [u8]),
    Unknown,
}

impl<'a> Str<'a> {
    pub fn known(self) -> Option<&'a [u8]> {
        match self {
            Str::Known(b) => Some(b),
            Str::Unknown => None,
        }
    }

    fn len(self) -> usize {
        self.known().map_or(0, <[u8]>::len)
    }
}

/// One decoded header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: Str<'a>,
    pub value: Str<'a>,
    /// Sent as "never indexed" (RFC 7541 §6.2.3): a sensitive value.
    pub never_indexed: bool,
}

/// What decoding one header block gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Block {
    /// Fields handed to the callback.
    pub fields: usize,
    /// Some field has an unknown name or value (`hpack_incomplete`).
    pub incomplete: bool,
    /// The decoded size passed `max_header_bytes`: fields after it were
    /// not handed out.
    pub too_large: bool,
    /// Decoded size so far (name + value + 32 per field handed out).
    pub decoded_bytes: usize,
}

/// A header block that cannot be parsed on: what follows the error is
/// not read, and the decoder has dropped its table ([`Decoder::lost_sync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("header block ends inside a field")]
    Truncated,
    #[error("HPACK integer too large")]
    IntegerOverflow,
    #[error("index 0 referenced")]
    ZeroIndex,
}

/// Anomalies a decoder met, cumulative; the caller turns them into
/// counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// References to dynamic entries we do not hold.
    pub unknown_refs: u64,
    /// Of those, references past the table of a decoder that saw it from
    /// the start (a peer's error, or a loss the caller did not report).
    pub invalid_refs: u64,
    /// Strings whose Huffman code was invalid (EOS or bad padding).
    pub huffman_errors: u64,
    /// Size updates above the maximum announced in SETTINGS.
    pub size_update_over_max: u64,
    /// Size updates above [`TABLE_SIZE_CAP`], clamped to it.
    pub size_update_clamped: u64,
    /// Size updates after the first field of a block (RFC 7541 §4.2
    /// wants them first); applied all the same.
    pub late_size_update: u64,
    /// Entries larger than the whole table.
    pub oversized_entries: u64,
    /// Blocks that failed to parse ([`HpackError`]).
    pub errors: u64,
}

/// Where a decoded name or value lives until it is handed out.
#[derive(Debug, Clone, Copy)]
enum Loc {
    /// `block[start..end]`.
    Input(usize, usize),
    /// `scratch[start..end]`.
    Scratch(usize, usize),
    StaticName(usize),
    StaticValue(usize),
    TableName(usize),
    TableValue(usize),
    Unknown,
}

/// One direction's HPACK decoding context.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// SETTINGS_HEADER_TABLE_SIZE announced by the receiving side.
    protocol_max: usize,
    /// We saw the table from its start (or from a size update to 0): a
    /// reference past its end is the peer's error, not our blind spot.
    history_known: bool,
    scratch: Vec<u8>,
    anomalies: Anomalies,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder that sees the connection from its start.
    pub fn new() -> Self {
        Decoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            protocol_max: DEFAULT_TABLE_SIZE,
            history_known: true,
            scratch: Vec::new(),
            anomalies: Anomalies::default(),
        }
    }

    /// A decoder that starts mid-connection: the peer's table may hold
    /// entries we never saw, of a size we do not know.
    pub fn mid_stream() -> Self {
        let mut d = Decoder::new();
        d.history_known = false;
        d.table.set_max_size(TABLE_SIZE_CAP);
        d
    }

    /// The SETTINGS_HEADER_TABLE_SIZE the receiving side announced
    /// (capped at [`TABLE_SIZE_CAP`]): the largest size update the peer
    /// may send, and from now on the table's size, as RFC 7541's examples
    /// (Appendix C.5) assume. The peer should confirm it with a size
    /// update; if it does not, we either keep more than it does
    /// (harmless) or evict early (those references turn unknown).
    pub fn set_max_table_size(&mut self, max: u32) {
        self.protocol_max = (max as usize).min(TABLE_SIZE_CAP);
        self.table.set_max_size(self.protocol_max);
    }

    /// Bytes of this direction were lost: entries may have been inserted
    /// that we never saw, so everything we hold is dropped and references
    /// past what is inserted from now on are unknown.
    pub fn lost_sync(&mut self) {
        self.table.clear();
        self.history_known = false;
        if self.table.max_size() < TABLE_SIZE_CAP {
            self.table.set_max_size(TABLE_SIZE_CAP);
        }
    }

    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }

    /// The dynamic table.
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Heap bytes this decoder holds (table and scratch), for the shard's
    /// memory accounting. Bounded: the table's arena holds at most three
    /// times the table's size (its capacity may double that), its entry
    /// index 40 bytes per entry
    /// (an entry costs at least 32 bytes of the size), the scratch buffer
    /// about twice the header-size limit plus one table entry.
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes() + self.scratch.capacity()
    }

    /// Decodes one complete header block (the fragments of a HEADERS or
    /// PUSH_PROMISE frame and its CONTINUATIONs, joined), handing each
    /// field to `emit` in order.
    pub fn decode<F>(
        &mut self,
        block: &[u8],
        max_header_bytes: usize,
        mut emit: F,
    ) -> Result<Block, HpackError>
    where
        F: FnMut(Field<'_>),
    {
        let mut out = Block::default();
        match self.walk(block, max_header_bytes, &mut out, &mut emit) {
            Ok(()) => Ok(out),
            Err(e) => {
                self.anomalies.errors += 1;
                self.lost_sync();
                Err(e)
            }
        }
    }

    fn walk(
        &mut self,
        block: &[u8],
        max_header_bytes: usize,
        out: &mut Block,
        emit: &mut dyn FnMut(Field<'_>),
    ) -> Result<(), HpackError> {
        let mut pos = 0;
        let mut seen_field = false;
        while pos < block.len() {
            let b = block[pos];
            if b & 0x80 != 0 {
                // Indexed header field (§6.1).
                let index = read_int(block, &mut pos, 7)?;
                let (name, value) = self.resolve(index)?;
                seen_field = true;
                self.hand_out(block, name, value, false, max_header_bytes, out, emit);
            } else if b & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                let size = read_int(block, &mut pos, 5)?;
                self.size_update(size, seen_field);
            } else {
                // Literal (§6.2): with incremental indexing (01), without
                // indexing (0000) or never indexed (0001).
                let (indexing, prefix) = if b & 0xc0 == 0x40 {
                    (true, 6)
                } else {
                    (false, 4)
                };
                let never_indexed = !indexing && b & 0x10 != 0;
                self.scratch.clear();
                let emitting = !out.too_large;
                // Strings are decoded only when handed out or inserted.
                let decode_strings = emitting || indexing;
                let index = read_int(block, &mut pos, prefix)?;
                let mut name = if index == 0 {
                    self.string(block, &mut pos, decode_strings, max_header_bytes, out)?
                } else {
                    self.resolve(index)?.0
                };
                let value = self.string(block, &mut pos, decode_strings, max_header_bytes, out)?;
                seen_field = true;
                if indexing {
                    if let Loc::TableName(k) = name {
                        // The insertion may evict entry k (§4.4): keep a copy.
                        name = match self.table.get(k).and_then(|(n, _)| n) {
                            Some(n) => {
                                let start = self.scratch.len();
                                self.scratch.extend_from_slice(n);
                                Loc::Scratch(start, self.scratch.len())
                            }
                            None => Loc::Unknown,
                        };
                    }
                    let n = literal(name, block, &self.scratch);
                    let v = literal(value, block, &self.scratch);
                    if !self.table.insert(n, v) {
                        self.anomalies.oversized_entries += 1;
                    }
                }
                self.hand_out(
                    block,
                    name,
                    value,
                    never_indexed,
                    max_header_bytes,
                    out,
                    emit,
                );
            }
        }
        Ok(())
    }

    /// Hands a field out, or, once the block is too large, only counts it.
    #[allow(clippy::too_many_arguments)]
    fn hand_out(
        &mut self,
        block: &[u8],
        name: Loc,
        value: Loc,
        never_indexed: bool,
        max_header_bytes: usize,
        out: &mut Block,
        emit: &mut dyn FnMut(Field<'_>),
    ) {
        if out.too_large {
            return;
        }
        let name = materialize(name, block, &self.scratch, &self.table);
        let value = materialize(value, block, &self.scratch, &self.table);
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        let total = out.decoded_bytes.saturating_add(size);
        if total > max_header_bytes {
            out.too_large = true;
            return;
        }
        out.decoded_bytes = total;
        out.fields += 1;
        if name == Str::Unknown || value == Str::Unknown {
            out.incomplete = true;
        }
        emit(Field {
            name,
            value,
            never_indexed,
        });
    }

    /// An index's name and value (§2.3.3).
    fn resolve(&mut self, index: u64) -> Result<(Loc, Loc), HpackError> {
        if index == 0 {
            return Err(HpackError::ZeroIndex);
        }
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        if index <= STATIC_LEN {
            return Ok((Loc::StaticName(index - 1), Loc::StaticValue(index - 1)));
        }
        let k = index - STATIC_LEN - 1;
        if k < self.table.len() {
            return Ok((Loc::TableName(k), Loc::TableValue(k)));
        }
        self.anomalies.unknown_refs += 1;
        if self.history_known {
            self.anomalies.invalid_refs += 1;
        }
        Ok((Loc::Unknown, Loc::Unknown))
    }

    /// A string literal (§5.2). Huffman strings are decoded into the
    /// scratch buffer, at most `max_header_bytes` of them; an invalid or
    /// too long one is unknown (and a too long one ends the hand-out).
    fn string(
        &mut self,
        block: &[u8],
        pos: &mut usize,
        decode: bool,
        max_header_bytes: usize,
        out: &mut Block,
    ) -> Result<Loc, HpackError> {
        let huffman = block.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
        let len = read_int(block, pos, 7)?;
        let len = usize::try_from(len).map_err(|_| HpackError::Truncated)?;
        let start = *pos;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= block.len())
            .ok_or(HpackError::Truncated)?;
        *pos = end;
        if !decode {
            return Ok(Loc::Unknown);
        }
        if !huffman {
            return Ok(Loc::Input(start, end));
        }
        let from = self.scratch.len();
        match huffman::decode(&block[start..end], &mut self.scratch, max_header_bytes) {
            Ok(()) => Ok(Loc::Scratch(from, self.scratch.len())),
            Err(e) => {
                self.scratch.truncate(from);
                if e == HuffmanError::TooLong {
                    out.too_large = true;
                } else {
                    self.anomalies.huffman_errors += 1;
                }
                Ok(Loc::Unknown)
            }
        }
    }

    fn size_update(&mut self, size: u64, late: bool) {
        if late {
            self.anomalies.late_size_update += 1;
        }
        if size > self.protocol_max as u64 {
            // Tolerated up to the cap: we may have missed the SETTINGS
            // that allowed it.
            self.anomalies.size_update_over_max += 1;
        }
        let size = if size > TABLE_SIZE_CAP as u64 {
            self.anomalies.size_update_clamped += 1;
            TABLE_SIZE_CAP
        } else {
            size as usize
        };
        self.table.set_max_size(size);
        if size == 0 {
            // The peer's table is empty too: from here on we know it all.
            self.history_known = true;
        }
    }
}

/// A name or value's octets, when they are not in the dynamic table.
fn literal<'a>(loc: Loc, block: &'a [u8], scratch: &'a [u8]) -> Option<&'a [u8]> {
    match loc {
        Loc::Input(s, e) => block.get(s..e),
        Loc::Scratch(s, e) => scratch.get(s..e),
        Loc::StaticName(i) => STATIC.get(i).map(|&(n, _)| n),
        Loc::StaticValue(i) => STATIC.get(i).map(|&(_, v)| v),
        Loc::TableName(_) | Loc::TableValue(_) | Loc::Unknown => None,
    }
}

fn materialize<'a>(
    loc: Loc,
    block: &'a [u8],
    scratch: &'a [u8],
    table: &'a DynamicTable,
) -> Str<'a> {
    let known = match loc {
        Loc::TableName(k) => table.get(k).and_then(|(n, _)| n),
        Loc::TableValue(k) => table.get(k).and_then(|(_, v)| v),
        other => literal(other, block, scratch),
    };
    known.map_or(Str::Unknown, Str::Known)
}

/// An integer with an `prefix`-bit prefix (§5.1), at most 2^63: longer
/// encodings (including runs of zero continuation octets) are refused.
pub fn read_int(block: &[u8], pos: &mut usize, prefix: u8) -> Result<u64, HpackError> {
    let first = *block.get(*pos).ok_or(HpackError::Truncated)?;
    *pos += 1;
    // prefix is 1..=8 bits.
    let mask = u8::MAX >> (8 - prefix);
    let mut value = u64::from(first & mask);
    if value < u64::from(mask) {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let b = *block.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        value = value
            .checked_add(u64::from(b & 0x7f) << shift)
            .ok_or(HpackError::IntegerOverflow)?;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 56 {
            return Err(HpackError::IntegerOverflow);
        }
    }
}

#[cfg(test)]
mod tests;
