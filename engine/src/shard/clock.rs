//! The shard's clock: capture time, kept steady when the clock behind it
//! steps.
//!
//! Packets carry the capture's timestamps: a file's, or, live, the
//! kernel's realtime clock. That clock can step: NTP correcting it, an
//! operator setting it, a capture spliced from two runs. Everything that
//! ages (ASSEMBLER_FLUSH_AGE, idle expiry, key waits, sweeps) runs on the
//! shard's engine time instead: capture time plus an offset that absorbs
//! each step, so a step back does not stall sweeps until the clock catches
//! up and a step forward (live) does not expire every connection at once.
//! Records still show capture time: the steps are remembered, and
//! `to_capture` maps an engine time back.
//!
//! A step is seen when a packet's time falls more than `STEP` behind the
//! clock (any source), or, live, when the realtime clock moves more than
//! `STEP` away from the monotonic clock between two ticks. Smaller
//! disorder (packets from several queues, merged captures) is not a step:
//! the clock just does not go back.

use std::time::Instant;

/// The least jump taken for a step of the clock.
pub const STEP_NS: u64 = 10_000_000_000;
/// Steps remembered for mapping record times back; older ones are
/// forgotten (their records are long written).
const MAX_STEPS: usize = 64;

#[derive(Debug, Default)]
pub struct ShardClock {
    /// Added to capture time to make engine time.
    offset: i64,
    /// The newest engine time seen.
    now: u64,
    /// (engine time from which it holds, offset), oldest first.
    steps: Vec<(u64, i64)>,
    /// The offset before the first step in `steps` (older ones forgotten).
    before: i64,
    /// Live: the monotonic instant and realtime (ns) of the last tick.
    anchor: Option<(Instant, u64)>,
}

/// A step the clock absorbed: how far, and which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Back(u64),
    Forward(u64),
}

impl ShardClock {
    /// Engine time now (the newest seen).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The engine time of a packet stamped `capture_ns`, and the step it
    /// revealed, if any.
    pub fn packet(&mut self, capture_ns: u64) -> (u64, Option<Step>) {
        let t = self.engine(capture_ns);
        if t.saturating_add(STEP_NS) < self.now {
            let back = self.now - t;
            self.shift(back as i64);
            return (self.now, Some(Step::Back(back)));
        }
        self.now = self.now.max(t);
        (t, None)
    }

    /// Live: a tick with the realtime clock reading `wall_ns`. Compares it
    /// with the monotonic clock since the last tick; moves engine time on
    /// to the wall's. Returns the step, if the wall clock stepped.
    pub fn tick(&mut self, wall_ns: u64, mono: Instant) -> Option<Step> {
        let mut step = None;
        if let Some((then, wall_then)) = self.anchor {
            let expected = wall_then.saturating_add(mono.duration_since(then).as_nanos() as u64);
            if wall_ns.saturating_add(STEP_NS) < expected {
                let back = expected - wall_ns;
                self.shift(back as i64);
                step = Some(Step::Back(back));
            } else if wall_ns > expected.saturating_add(STEP_NS) {
                let ahead = wall_ns - expected;
                self.shift(-(ahead as i64));
                step = Some(Step::Forward(ahead));
            }
        }
        self.anchor = Some((mono, wall_ns));
        self.now = self.now.max(self.engine(wall_ns));
        step
    }

    /// The capture time of engine time `t`, under the offset that held
    /// when `t` was reached.
    pub fn to_capture(&self, t: u64) -> u64 {
        let offset = match self.steps.iter().rev().find(|(from, _)| *from <= t) {
            Some((_, o)) => *o,
            None => self.before,
        };
        (t as i64 - offset).max(0) as u64
    }

    /// Whether engine time and capture time have always been the same (no
    /// step): records need no mapping.
    pub fn steady(&self) -> bool {
        self.steps.is_empty()
    }

    fn engine(&self, capture_ns: u64) -> u64 {
        (capture_ns as i64).saturating_add(self.offset).max(0) as u64
    }

    fn shift(&mut self, by: i64) {
        self.offset = self.offset.saturating_add(by);
        if self.steps.len() == MAX_STEPS {
            self.before = self.steps.remove(0).1;
        }
        self.steps.push((self.now, self.offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: u64 = 1_000_000_000;

    #[test]
    fn small_disorder_is_not_a_step() {
        let mut c = ShardClock::default();
        assert_eq!(c.packet(1000 * S), (1000 * S, None));
        assert_eq!(c.packet(999 * S), (999 * S, None));
        assert_eq!(c.now(), 1000 * S);
        assert!(c.steady());
    }

    #[test]
    fn a_step_back_keeps_engine_time_going_and_records_in_capture_time() {
        let mut c = ShardClock::default();
        c.packet(10_000 * S);
        // The clock steps back an hour.
        let (t, step) = c.packet(6_400 * S);
        assert_eq!(step, Some(Step::Back(3_600 * S)));
        assert_eq!(t, 10_000 * S);
        // Time goes on from there.
        assert_eq!(c.packet(6_405 * S), (10_005 * S, None));
        assert_eq!(c.now(), 10_005 * S);
        // Records: before the step as they were, after it as captured.
        assert_eq!(c.to_capture(9_999 * S), 9_999 * S);
        assert_eq!(c.to_capture(10_005 * S), 6_405 * S);
    }

    #[test]
    fn live_steps_are_seen_against_the_monotonic_clock() {
        let mut c = ShardClock::default();
        let t0 = Instant::now();
        assert_eq!(c.tick(50_000 * S, t0), None);
        // One second later by the monotonic clock, the wall says a day on.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            c.tick(50_001 * S + 86_400 * S, t1),
            Some(Step::Forward(86_400 * S))
        );
        assert_eq!(c.now(), 50_001 * S);
        // A packet stamped by the stepped clock is in step with it.
        let (t, step) = c.packet(50_001 * S + 86_400 * S + S / 2);
        assert_eq!((t, step), (50_001 * S + S / 2, None));
        assert_eq!(c.to_capture(t), 50_001 * S + 86_400 * S + S / 2);
        // Then back by an hour.
        let t2 = t1 + Duration::from_secs(2);
        let wall = 50_003 * S + 86_400 * S - 3_600 * S;
        assert_eq!(c.tick(wall, t2), Some(Step::Back(3_600 * S)));
        assert_eq!(c.now(), 50_003 * S);
        // Small drift between ticks is not a step.
        assert_eq!(c.tick(wall + 3 * S, t2 + Duration::from_secs(2)), None);
    }

    #[test]
    fn steps_are_bounded() {
        let mut c = ShardClock::default();
        let mut t = 1_000_000 * S;
        for _ in 0..1000 {
            c.packet(t);
            t -= 20 * S;
        }
        assert!(c.steps.len() <= MAX_STEPS);
    }
}
