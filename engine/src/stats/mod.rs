//! Statistics: the one thing shards share. Each shard writes its own slots
//! (single writer, relaxed stores: no locked instructions on the hot path);
//! a stats thread reads every shard's slots and merges them with the
//! shards' HDR histograms.

mod counters;
pub mod report;

pub use counters::{Counter, Gauge, Kind, CAUSE_FAMILIES};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

/// One shard's counters and gauges, padded so shards never share a cache line.
#[repr(align(128))]
pub struct ShardStats {
    counters: [AtomicU64; Counter::COUNT],
    gauges: [AtomicU64; Gauge::COUNT],
}

impl Default for ShardStats {
    fn default() -> Self {
        ShardStats {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            gauges: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl ShardStats {
    /// Adds to a counter. Only the owning shard calls this, so a load and a
    /// store are enough; readers may see a value one update old.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        let slot = &self.counters[c as usize];
        slot.store(
            slot.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    /// For counters written from more than one thread (Kafka delivery
    /// callbacks run on the producer's poll thread).
    #[inline]
    pub fn add_shared(&self, c: Counter, n: u64) {
        self.counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize].load(Ordering::Relaxed)
    }

    #[inline]
    pub fn set_gauge(&self, g: Gauge, v: u64) {
        self.gauges[g as usize].store(v, Ordering::Relaxed);
    }

    pub fn gauge(&self, g: Gauge) -> u64 {
        self.gauges[g as usize].load(Ordering::Relaxed)
    }
}

/// Latency histograms recorded by a shard: packet-to-record latency and
/// transaction duration, both in microseconds.
pub struct ShardHistograms {
    pub latency_us: hdrhistogram::sync::Recorder<u64>,
    pub duration_us: hdrhistogram::sync::Recorder<u64>,
}

/// Latency quantiles from a merged HDR histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Quantiles {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Quantiles {
        Quantiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Everything the stats thread reads: one `ShardStats` per shard, plus the
/// merged histograms.
pub struct Registry {
    pub shards: Vec<Arc<ShardStats>>,
    pub latency_us: hdrhistogram::sync::SyncHistogram<u64>,
    pub duration_us: hdrhistogram::sync::SyncHistogram<u64>,
}

/// Every counter and gauge summed over the shards, and each shard's
/// packet count (to show imbalance).
pub struct Totals {
    pub counters: [u64; Counter::COUNT],
    pub gauges: [u64; Gauge::COUNT],
    pub per_shard_packets: Vec<u64>,
}

impl Totals {
    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }
    pub fn gauge(&self, g: Gauge) -> u64 {
        self.gauges[g as usize]
    }
}

fn new_histogram() -> hdrhistogram::Histogram<u64> {
    // 1 µs to 1 hour, 3 significant digits.
    hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds")
}

impl Registry {
    pub fn new(shards: usize) -> (Registry, Vec<(Arc<ShardStats>, ShardHistograms)>) {
        let latency: hdrhistogram::sync::SyncHistogram<u64> = new_histogram().into_sync();
        let duration: hdrhistogram::sync::SyncHistogram<u64> = new_histogram().into_sync();
        let mut handles = Vec::with_capacity(shards);
        let mut all = Vec::with_capacity(shards);
        for _ in 0..shards {
            let s = Arc::new(ShardStats::default());
            all.push(s.clone());
            handles.push((
                s,
                ShardHistograms {
                    latency_us: latency.recorder(),
                    duration_us: duration.recorder(),
                },
            ));
        }
        (
            Registry {
                shards: all,
                latency_us: latency,
                duration_us: duration,
            },
            handles,
        )
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            counters: [0; Counter::COUNT],
            gauges: [0; Gauge::COUNT],
            per_shard_packets: Vec::with_capacity(self.shards.len()),
        };
        for s in &self.shards {
            for c in Counter::ALL {
                t.counters[*c as usize] += s.get(*c);
            }
            for g in Gauge::ALL {
                t.gauges[*g as usize] += s.gauge(*g);
            }
            t.per_shard_packets.push(s.get(Counter::Packets));
        }
        t
    }

    /// Pulls the shards' latest histogram samples in, waiting at most `wait`.
    pub fn refresh_histograms(&mut self, wait: std::time::Duration) {
        self.latency_us.refresh_timeout(wait);
        self.duration_us.refresh_timeout(wait);
    }
}
