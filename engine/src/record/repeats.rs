//! Which header fields of a head repeat an earlier field's name (ASCII
//! case-insensitive), so that the record joins their values at the first
//! occurrence's place.
//!
//! The fields are sorted by name once: O(n log n) name comparisons. A head
//! may hold thousands of fields (HTTP/2 bounds a header block only by its
//! decoded size, 32 bytes a field: about 2,000 under the default 64 KiB),
//! and comparing each field with every earlier one cost the square of
//! that — millions of comparisons for one crafted block.

use crate::http::Head;

/// No further field with this name.
const NONE: u32 = u32::MAX;

/// The repeated names of one head.
pub(super) struct Repeats {
    /// For each field, the next field with its name (NONE after the last
    /// one). Empty when no name repeats.
    next: Vec<u32>,
    /// Fields whose name an earlier field already had.
    later: Vec<bool>,
}

impl Repeats {
    pub fn of(head: &Head) -> Self {
        let none = Repeats {
            next: Vec::new(),
            later: Vec::new(),
        };
        let n = head.header_count();
        // Most heads repeat no name: a 256-bit filter over a cheap
        // signature of each name rules that out without sorting or
        // allocating (searching every head for repeats once cost ~1,500
        // instructions a transaction, callgrind).
        let mut filter = [0u64; 4];
        let may_repeat = (0..n).any(|i| {
            let bit = signature(head.header_name(i)) as usize;
            let word = &mut filter[bit / 64];
            let seen = *word & 1 << (bit % 64) != 0;
            *word |= 1 << (bit % 64);
            seen
        });
        if !may_repeat {
            return none;
        }
        let name = |i: u32| head.header_name(i as usize);
        // Header counts are bounded by MAX_HEADER_BYTES (< 4 GiB).
        let mut order: Vec<u32> = (0..n as u32).collect();
        // Stable: fields of one name stay in the order they were sent.
        order.sort_by(|&a, &b| folded_order(name(a), name(b)));
        let mut repeats = Repeats {
            next: vec![NONE; n],
            later: vec![false; n],
        };
        for pair in order.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if name(a).eq_ignore_ascii_case(name(b)) {
                repeats.next[a as usize] = b;
                repeats.later[b as usize] = true;
            }
        }
        repeats
    }

    /// Whether field `i` repeats an earlier field's name (its value is
    /// joined there).
    pub fn is_later(&self, i: usize) -> bool {
        self.later.get(i).copied().unwrap_or(false)
    }

    /// The fields after field `i` with its name, in order.
    pub fn after(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let next = |i: usize| match self.next.get(i) {
            Some(&j) if j != NONE => Some(j as usize),
            _ => None,
        };
        std::iter::successors(next(i), move |&j| next(j))
    }
}

/// A total order of names in which names equal but for ASCII case are
/// equal.
fn folded_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        a.iter()
            .map(u8::to_ascii_lowercase)
            .cmp(b.iter().map(u8::to_ascii_lowercase))
    })
}

/// Eight bits from a name's length and its folded first and last bytes:
/// equal names (ignoring case) always have equal signatures.
fn signature(name: &[u8]) -> u8 {
    let (first, last) = match name {
        [] => (0, 0),
        [first, .., last] => (first.to_ascii_lowercase(), last.to_ascii_lowercase()),
        [only] => (only.to_ascii_lowercase(), only.to_ascii_lowercase()),
    };
    let sig = (name.len() as u32) << 16 | (first as u32) << 8 | last as u32;
    (sig.wrapping_mul(0x9e37_79b1) >> 24) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HeadBuilder;
    use proptest::prelude::*;

    fn head(names: &[&[u8]]) -> Head {
        let mut b = HeadBuilder::default();
        b.status(b"200");
        for name in names {
            b.field(name, b"v");
        }
        b.build(false, crate::http::Version::Http2)
    }

    /// Each field's later namesakes, found by comparing every pair.
    fn by_pairs(names: &[&[u8]]) -> Vec<Vec<usize>> {
        (0..names.len())
            .map(|i| {
                let earlier = (0..i).any(|j| names[j].eq_ignore_ascii_case(names[i]));
                if earlier {
                    return Vec::new();
                }
                (i + 1..names.len())
                    .filter(|&j| names[j].eq_ignore_ascii_case(names[i]))
                    .collect()
            })
            .collect()
    }

    fn by_repeats(names: &[&[u8]]) -> Vec<Vec<usize>> {
        let r = Repeats::of(&head(names));
        (0..names.len())
            .map(|i| {
                if r.is_later(i) {
                    Vec::new()
                } else {
                    r.after(i).collect()
                }
            })
            .collect()
    }

    #[test]
    fn names_differing_only_in_case_repeat() {
        let names: &[&[u8]] = &[b"Vary", b"x", b"VARY", b"vary", b"X", b"y"];
        assert_eq!(
            by_repeats(names),
            vec![vec![2, 3], vec![4], vec![], vec![], vec![], vec![]]
        );
        let r = Repeats::of(&head(names));
        assert!(!r.is_later(0) && r.is_later(2) && r.is_later(3) && r.is_later(4));
    }

    #[test]
    fn a_head_without_repeats_allocates_nothing() {
        let r = Repeats::of(&head(&[b"a", b"b", b"host", b"content-length"]));
        assert!(r.next.is_empty() && r.later.is_empty());
    }

    /// Thousands of distinct names sharing length, first and last byte
    /// (an HTTP/2 block may carry that many): grouped as pairwise
    /// comparison groups them.
    #[test]
    fn thousands_of_colliding_names() {
        let owned: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| format!("a{:04}b", i % 2500).into_bytes())
            .collect();
        let names: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        assert_eq!(by_repeats(&names), by_pairs(&names));
    }

    proptest! {
        #[test]
        fn groups_as_pairwise_comparison_does(
            names in prop::collection::vec(prop::sample::select(vec![
                &b"a"[..], b"A", b"b", b"ab", b"aB", b"ba", b"", b"set-cookie", b"Set-Cookie",
                b"\xff", b"a\xffb", b"A\xffB",
            ]), 0..80)
        ) {
            prop_assert_eq!(by_repeats(&names), by_pairs(&names));
        }
    }
}
