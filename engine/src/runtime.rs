//! Starting and stopping the engine: the file reader (for recorded input),
//! one pinned thread per shard, the output writer and the stats thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Sender};

use crate::capture::batch::{BatchSource, PacketBatch};
use crate::capture::{pcap_file, PacketSource};
use crate::config::{engine_name, Config, Engine};
use crate::decode::{flow_hash, DecodeOptions};
use crate::http::filter::Filters;
use crate::output::json_lines::JsonLinesWriter;
use crate::output::kafka;
use crate::output::RecordSink;
use crate::record::RecordCtx;
use crate::shard::{Shard, ShardSettings};
use crate::stats::{report, Registry, ShardStats, Totals};

/// Why a run could not start or finish.
#[derive(Debug)]
pub enum RunError {
    /// Bad configuration discovered at startup (exit code 2).
    Config(String),
    /// Anything else (exit code 1).
    Failed(String),
}

/// What a finished run reports.
pub struct RunReport {
    pub totals: Totals,
    pub summary: String,
}

fn run_id() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    ((t ^ (t >> 32)) as u32) ^ std::process::id().rotate_left(16)
}

/// A source per shard, and the threads that feed them (file input only).
struct Sources {
    per_shard: Vec<Box<dyn PacketSource>>,
    feeder: Option<JoinHandle<Result<(), String>>>,
}

/// Recorded input: one reader thread steers each packet to its shard by a
/// hash of the innermost 5-tuple that both directions share, over bounded
/// lock-free rings of packet batches.
fn file_sources(
    cfg: &Config,
    shards: usize,
    shutdown: Arc<AtomicBool>,
) -> Result<Sources, RunError> {
    let files: Vec<String> = cfg
        .input_raw
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for f in &files {
        if std::fs::metadata(f).is_err() {
            return Err(RunError::Config(format!(
                "INPUT_RAW (--input-raw): cannot read '{f}': expected capture files (pcap or pcapng), comma-separated, with INPUT_RAW_ENGINE=pcap_file"
            )));
        }
    }
    // Ring depth in batches, from the per-shard packet buffer.
    let depth = (cfg.assembler_worker_pkt_buf as usize / PacketBatch::MAX_PACKETS).max(4);
    let mut senders: Vec<Sender<PacketBatch>> = Vec::new();
    let mut per_shard: Vec<Box<dyn PacketSource>> = Vec::new();
    let (recycle_tx, recycle_rx) = bounded::<PacketBatch>(depth * shards + shards);
    for _ in 0..shards {
        let (tx, rx) = bounded(depth);
        senders.push(tx);
        per_shard.push(Box::new(BatchSource::new(rx, recycle_tx.clone())));
    }
    let opts = DecodeOptions { ipip: cfg.ipip };
    let feeder = std::thread::Builder::new()
        .name("httpcap-reader".into())
        .spawn(move || -> Result<(), String> {
            let mut batches: Vec<PacketBatch> =
                (0..shards).map(|_| PacketBatch::with_capacity()).collect();
            let fresh = || {
                recycle_rx
                    .try_recv()
                    .unwrap_or_else(|_| PacketBatch::with_capacity())
            };
            for f in &files {
                let mut stop = false;
                let mut on_packet = |p: crate::capture::Packet<'_>| {
                    if stop {
                        return;
                    }
                    // Frames that don't decode go to shard 0, which counts them.
                    let shard = flow_hash(&p, &opts)
                        .map(|h| (h % shards as u64) as usize)
                        .unwrap_or(0);
                    let b = &mut batches[shard];
                    b.push(p);
                    if b.is_full() {
                        let full = std::mem::replace(b, fresh());
                        if senders[shard].send(full).is_err() || shutdown.load(Ordering::Relaxed) {
                            stop = true;
                        }
                    }
                };
                pcap_file::read_file(f, &mut on_packet).map_err(|e| e.to_string())?;
                if stop {
                    break;
                }
            }
            for (i, b) in batches.into_iter().enumerate() {
                if !b.is_empty() {
                    let _ = senders[i].send(b);
                }
            }
            Ok(())
        })
        .map_err(|e| RunError::Failed(format!("cannot start reader thread: {e}")))?;
    Ok(Sources {
        per_shard,
        feeder: Some(feeder),
    })
}

fn live_sources(
    cfg: &Config,
    _shards: usize,
    _shutdown: Arc<AtomicBool>,
) -> Result<Sources, RunError> {
    Err(RunError::Config(format!(
        "INPUT_RAW_ENGINE (--input-raw-engine): '{}' is not available in this build: expected pcap_file",
        engine_name(cfg.input_raw_engine)
    )))
}

/// The sinks one shard writes to.
fn shard_sinks(
    cfg: &Config,
    shard: usize,
    stats: &Arc<ShardStats>,
    writer: Option<&JsonLinesWriter>,
) -> Result<Vec<Box<dyn RecordSink>>, RunError> {
    let mut sinks: Vec<Box<dyn RecordSink>> = Vec::new();
    if let Some(w) = writer {
        sinks.push(Box::new(w.sink(stats.clone())));
    }
    if cfg.output_kafka_host.is_some() {
        if shard == 0 {
            tracing::warn!(target: "lifecycle", "{}", kafka::startup_summary(cfg));
        }
        let k = kafka::KafkaSink::new(cfg, shard, stats.clone()).map_err(|e| {
            RunError::Config(format!("OUTPUT_KAFKA_*: cannot create producer: {e}"))
        })?;
        sinks.push(Box::new(k));
    }
    Ok(sinks)
}

/// Runs the engine to completion (end of file input, or `shutdown`).
pub fn run(cfg: &Config, shutdown: Arc<AtomicBool>) -> Result<RunReport, RunError> {
    let shards = cfg.shards();
    let (mut registry, handles) = Registry::new(shards);
    let writer = match cfg.json_lines_path() {
        Some(p) => Some(JsonLinesWriter::open(p).map_err(|e| {
            RunError::Config(format!(
                "OUTPUT_FILE (--output-file): cannot open '{p}': {e}"
            ))
        })?),
        None => None,
    };
    let mut sources = match cfg.input_raw_engine {
        Engine::PcapFile => file_sources(cfg, shards, shutdown.clone())?,
        _ => live_sources(cfg, shards, shutdown.clone())?,
    };
    let filters = Arc::new(Filters::from_config(cfg));
    let record_ctx = Arc::new(RecordCtx {
        collection_id: cfg.output_kafka_collection_id.clone(),
        run_id: run_id(),
        real_ip_header: cfg.real_ip_header.trim().to_string(),
    });
    let settings = ShardSettings::from_config(cfg);
    let cores = core_affinity::get_core_ids().unwrap_or_default();

    let mut threads = Vec::new();
    for (i, ((stats, hist), mut source)) in handles
        .into_iter()
        .zip(sources.per_shard.drain(..))
        .enumerate()
    {
        let sinks = shard_sinks(cfg, i, &stats, writer.as_ref())?;
        let mut shard = Shard::new(
            i as u16,
            settings.clone(),
            filters.clone(),
            record_ctx.clone(),
            sinks,
            stats,
            hist,
        );
        let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
        let stop = shutdown.clone();
        let t = std::thread::Builder::new()
            .name(format!("httpcap-shard-{i}"))
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                shard.run(source.as_mut(), &stop);
            })
            .map_err(|e| RunError::Failed(format!("cannot start shard thread: {e}")))?;
        threads.push(t);
    }

    // Periodic metrics while the shards run.
    let started = Instant::now();
    let mut last = registry.totals();
    let mut last_at = Instant::now();
    let console = cfg.metrics_output == "console";
    while threads.iter().any(|t| !t.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if last_at.elapsed() >= cfg.metrics_interval {
            registry.refresh_histograms(Duration::from_millis(10));
            let now = registry.totals();
            if console {
                tracing::warn!(target: "metrics", "{}", report::console_line(&now, &last, last_at.elapsed().as_secs_f64(), &registry));
            }
            last = now;
            last_at = Instant::now();
        }
    }
    let mut shard_panicked = false;
    for t in threads {
        shard_panicked |= t.join().is_err();
    }
    let feeder_result = sources.feeder.take().map(|f| f.join());
    if let Some(w) = writer {
        w.finish()
            .map_err(|e| RunError::Failed(format!("writing JSON lines failed: {e}")))?;
    }
    registry.refresh_histograms(Duration::from_millis(100));
    let totals = registry.totals();
    let summary = report::summary(&totals, &registry);
    tracing::debug!("run took {:?}", started.elapsed());
    if shard_panicked {
        return Err(RunError::Failed("a shard thread panicked".into()));
    }
    match feeder_result {
        Some(Ok(Err(e))) => return Err(RunError::Failed(e)),
        Some(Err(_)) => return Err(RunError::Failed("the reader thread panicked".into())),
        _ => {}
    }
    Ok(RunReport { totals, summary })
}
