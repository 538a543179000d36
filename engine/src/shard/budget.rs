//! A shard's share of HEAP_LIMIT, and what is charged against it.
//!
//! The share covers the stream table (arena and index, by capacity, since
//! they never shrink) and every connection's buffers (out-of-order
//! segments, partial heads, pending transactions). The table may use at
//! most half of it; buffers the rest. Charges are updated after every
//! segment, so the budget holds between sweeps too, and sweeps recompute
//! them exactly. The shard decides whom to evict; this type keeps the
//! account and says when and how much.

/// Bytes charged per connection slot, and their sum.
#[derive(Debug)]
pub struct MemoryBudget {
    /// This shard's share of HEAP_LIMIT.
    limit: usize,
    /// Bytes charged to each slot's buffers, indexed like the table.
    charges: Vec<usize>,
    /// Sum of `charges`.
    buffered: usize,
    /// Memory use above which the next packet triggers an eviction pass.
    evict_above: usize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            limit,
            charges: Vec::new(),
            buffered: 0,
            evict_above: usize::MAX,
        }
    }

    /// Bytes held in connections' buffers.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Sets what one slot's buffers hold now.
    pub fn charge(&mut self, slot: usize, bytes: usize) {
        if self.charges.len() <= slot {
            self.charges.resize(slot + 1, 0);
        }
        // `buffered` is the sum of `charges`, so it holds charges[slot].
        self.buffered = self.buffered - self.charges[slot] + bytes;
        self.charges[slot] = bytes;
    }

    /// The slot's connection is gone: nothing is charged to it any more.
    pub fn discharge(&mut self, slot: usize) {
        if let Some(c) = self.charges.get_mut(slot) {
            self.buffered -= *c;
            *c = 0;
        }
    }

    /// Whether use (table plus buffers) calls for an eviction pass now.
    pub fn over_threshold(&self, table_bytes: usize) -> bool {
        table_bytes + self.buffered > self.evict_above
    }

    /// Whether the table may grow to `table_peak` bytes: at most half the
    /// share, and room left for what is buffered.
    pub fn table_may_grow_to(&self, table_peak: usize) -> bool {
        table_peak <= self.limit / 2 && table_peak + self.buffered <= self.limit
    }

    /// Whether use is above what an eviction pass brings it down to.
    pub fn above_target(&self, table_bytes: usize) -> bool {
        table_bytes + self.buffered > self.target()
    }

    /// Eviction down to 90% of the share: of `candidates` (last activity,
    /// slot), least recently active first, the slots to evict so that
    /// enough buffered bytes are freed. Only slots holding buffers free
    /// anything here.
    pub fn eviction_plan(
        &self,
        table_bytes: usize,
        candidates: impl Iterator<Item = (u64, usize)>,
    ) -> Vec<usize> {
        let target = self.target();
        let mut needed = (table_bytes + self.buffered).saturating_sub(target);
        if needed == 0 {
            return Vec::new();
        }
        let charge = |slot: usize| self.charges.get(slot).copied().unwrap_or(0);
        let mut order: Vec<(u64, usize)> = candidates.filter(|(_, s)| charge(*s) > 0).collect();
        order.sort_unstable();
        let mut plan = Vec::new();
        for (_, slot) in order {
            if needed == 0 {
                break;
            }
            needed = needed.saturating_sub(charge(slot));
            plan.push(slot);
        }
        plan
    }

    /// After a pass: check again only once use has grown by a tenth of
    /// the share.
    pub fn rearm(&mut self, table_bytes: usize) {
        self.evict_above = (table_bytes + self.buffered)
            .max(self.target())
            .saturating_add(self.limit / 10)
            .min(self.limit);
    }

    /// What an eviction pass brings use down to.
    fn target(&self) -> usize {
        self.limit / 10 * 9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_sum_and_the_plan_frees_the_oldest_first() {
        let mut b = MemoryBudget::new(1000);
        b.charge(0, 300);
        b.charge(2, 500);
        b.charge(2, 400);
        assert_eq!(b.buffered(), 700);
        b.discharge(0);
        assert_eq!(b.buffered(), 400);
        b.charge(0, 300);
        b.charge(1, 250);
        // 950 used, 900 is the target: free 50 from the oldest holder.
        let plan = b.eviction_plan(0, [(5, 0), (1, 2), (3, 1), (0, 7)].into_iter());
        assert_eq!(plan, vec![2]);
        assert!(b.eviction_plan(0, std::iter::empty()).is_empty());
        b.rearm(0);
        assert!(!b.over_threshold(40));
        assert!(b.over_threshold(60));
        assert!(b.table_may_grow_to(50) && !b.table_may_grow_to(501));
    }
}
