//! While the brokers stay unreachable and records wait, one reminder line
//! for the whole process at most once per METRICS_INTERVAL, with the
//! records waiting, failed and dropped across all shards.
//!
//! Each shard's producer logs the start and the end of its own outage
//! episode (`health`); what happens in between would otherwise be silent
//! in the log (or, logged per record, a flood). Shards share only these
//! counters, written on their periodic tick, never per record.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::producer::LinkState;

/// One shard's view, as of its last tick.
#[derive(Default)]
struct Slot {
    /// 0 up, 1 unreachable, 2 refused.
    state: AtomicU8,
    waiting: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// What a shard reports on each tick.
#[derive(Clone, Copy, Debug)]
pub struct ShardView {
    pub link: LinkState,
    /// Records in the producer, not yet delivered or failed.
    pub waiting: u64,
    /// `kafka_failed` so far.
    pub failed: u64,
    /// `drop_kafka_queue` so far.
    pub dropped: u64,
}

pub struct Reminders {
    interval: Duration,
    epoch: Instant,
    slots: Vec<Slot>,
    /// Milliseconds since `epoch` when the outage began; 0: no outage.
    since_ms: AtomicU64,
    /// Milliseconds since `epoch` when the next reminder is due.
    due_ms: AtomicU64,
}

impl Reminders {
    pub fn new(shards: usize, interval: Duration) -> Arc<Reminders> {
        Arc::new(Reminders {
            interval: interval.max(Duration::from_millis(1)),
            epoch: Instant::now(),
            slots: (0..shards.max(1)).map(|_| Slot::default()).collect(),
            since_ms: AtomicU64::new(0),
            due_ms: AtomicU64::new(0),
        })
    }

    /// Records shard `shard`'s view; returns the reminder line when one is
    /// due (to exactly one caller per interval).
    pub fn report(&self, shard: usize, view: ShardView, now: Instant) -> Option<String> {
        let slot = &self.slots[shard % self.slots.len()];
        let state = match view.link {
            LinkState::Up => 0,
            LinkState::Unreachable => 1,
            LinkState::Refused => 2,
        };
        slot.state.store(state, Ordering::Relaxed);
        slot.waiting.store(view.waiting, Ordering::Relaxed);
        slot.failed.store(view.failed, Ordering::Relaxed);
        slot.dropped.store(view.dropped, Ordering::Relaxed);

        // A shard counts as held up only with records waiting: a shard
        // that had nothing to send since an outage never gets a delivery
        // to mark its link up again, and has nothing to remind about.
        let down = self
            .slots
            .iter()
            .filter(|s| {
                s.state.load(Ordering::Relaxed) != 0 && s.waiting.load(Ordering::Relaxed) > 0
            })
            .count();
        // +1: 0 means "no outage" even in the first millisecond.
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64 + 1;
        let interval_ms = self.interval.as_millis().max(1) as u64;
        if down == 0 {
            self.since_ms.store(0, Ordering::Relaxed);
            return None;
        }
        if self
            .since_ms
            .compare_exchange(0, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            // The episode's own line was just logged by the producer.
            self.due_ms.store(now_ms + interval_ms, Ordering::Relaxed);
            return None;
        }
        let due = self.due_ms.load(Ordering::Relaxed);
        if now_ms < due
            || self
                .due_ms
                .compare_exchange(
                    due,
                    now_ms + interval_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return None;
        }
        let since = self.since_ms.load(Ordering::Relaxed);
        let sum = |f: fn(&Slot) -> &AtomicU64| -> u64 {
            self.slots
                .iter()
                .map(|s| f(s).load(Ordering::Relaxed))
                .sum()
        };
        let refused = self
            .slots
            .iter()
            .any(|s| s.state.load(Ordering::Relaxed) == 2);
        let after = Duration::from_secs(now_ms.saturating_sub(since) / 1000);
        Some(format!(
            "kafka: brokers still {} after {} ({down} of {} shards): {} records waiting, {} failed, {} dropped for a full queue",
            if refused { "refusing us" } else { "unreachable" },
            humantime::format_duration(after),
            self.slots.len(),
            sum(|s| &s.waiting),
            sum(|s| &s.failed),
            sum(|s| &s.dropped),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(link: LinkState, waiting: u64) -> ShardView {
        ShardView {
            link,
            waiting,
            failed: 1,
            dropped: 0,
        }
    }

    #[test]
    fn one_reminder_per_interval_for_all_shards() {
        let r = Reminders::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        let down = |w| view(LinkState::Unreachable, w);
        // The outage starts: its own line is the producer's, no reminder.
        assert_eq!(r.report(0, down(5), t0), None);
        assert_eq!(r.report(1, down(7), t0), None);
        assert_eq!(r.report(2, view(LinkState::Up, 0), t0), None);
        // Ticks within the interval say nothing.
        for s in 0..3 {
            let v = if s == 2 {
                view(LinkState::Up, 0)
            } else {
                down(5)
            };
            assert_eq!(r.report(s, v, t0 + Duration::from_secs(9)), None);
        }
        // Past it, exactly one shard gets the line, with everyone's counts.
        let t1 = t0 + Duration::from_secs(11);
        let line = r.report(1, down(7), t1).expect("a reminder is due");
        assert!(line.contains("still unreachable after 11s"), "{line}");
        assert!(line.contains("(2 of 3 shards)"), "{line}");
        assert!(line.contains("12 records waiting, 3 failed"), "{line}");
        assert_eq!(r.report(0, down(5), t1), None);
        assert_eq!(r.report(0, down(5), t1 + Duration::from_secs(5)), None);
        assert!(r.report(0, down(5), t1 + Duration::from_secs(10)).is_some());
        // A shard still marked down but with nothing waiting is not held
        // up (it may simply have had nothing to send since).
        assert_eq!(r.report(0, down(0), t1 + Duration::from_secs(14)), None);
        // Recovery ends it; a new outage starts a new episode.
        for s in 0..3 {
            assert_eq!(
                r.report(s, view(LinkState::Up, 0), t1 + Duration::from_secs(15)),
                None
            );
        }
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(r.report(0, down(1), t2), None);
        assert_eq!(r.report(0, down(1), t2 + Duration::from_secs(5)), None);
        let line = r
            .report(0, view(LinkState::Refused, 1), t2 + Duration::from_secs(10))
            .unwrap();
        assert!(line.contains("still refusing us after 10s"), "{line}");
    }
}
