//! Starting and stopping the engine: the file reader (for recorded input),
//! one pinned thread per shard, the output writer and the stats thread.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Sender};

use crate::bpf::FilterError;
use crate::capture::batch::{BatchSource, PacketBatch};
use crate::capture::file_feeder::FileFeeder;
use crate::capture::pcap_file::FileError;
use crate::capture::CaptureError;
use crate::capture::PacketSource;
use crate::config::{engine_name, Config, ConfigError, Engine};
use crate::decode::DecodeOptions;
use crate::http::filter::Filters;
use crate::http::redact::Redactor;
use crate::metrics::Telemetry;
use crate::output::json_lines::JsonLinesWriter;
use crate::output::kafka;
use crate::output::RecordSink;
use crate::privileges::{self, PrivilegeError};
use crate::record::{Observer, RecordCtx};
use crate::shard::{Shard, ShardSettings};
use crate::stats::{report, Counter, Registry, ShardStats, Totals};

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad configuration discovered at startup (exit code 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Live capture needs capabilities the process does not have, or they
    /// cannot be read: also the operator's to fix (exit code 2).
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
    /// Anything else (exit code 1).
    #[error(transparent)]
    Failed(#[from] Failure),
}

/// A run that could not start or finish for a reason other than its
/// configuration.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("cannot start {thread} thread: {source}")]
    Thread {
        thread: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A capture file could not be read.
    #[error(transparent)]
    Input(#[from] FileError),
    /// A live capture source could not be opened.
    #[error("{engine}: cannot capture on {iface}: {source}")]
    Capture {
        engine: &'static str,
        iface: String,
        #[source]
        source: CaptureError,
    },
    /// The TLS uprobes (TLS_UPROBE_LIBS) could not be loaded or attached.
    #[error("TLS uprobes: {0}")]
    Uprobes(#[source] crate::tls::uprobe::UprobeError),
    /// Capabilities could not be dropped once the sockets were open.
    #[error(transparent)]
    Privileges(PrivilegeError),
    #[error("writing JSON lines failed: {0}")]
    Output(#[source] std::io::Error),
    #[error("a shard thread panicked")]
    ShardPanicked,
    #[error("the reader thread panicked")]
    ReaderPanicked,
}

/// Exit code of a run that ended normally but could not get every record
/// to Kafka (failed, undelivered at exit, or dropped for a full queue):
/// distinct from 1 (failure) and 2 (bad configuration).
pub const EXIT_UNDELIVERED: i32 = 3;

/// What a finished run reports.
pub struct RunReport {
    pub totals: Totals,
    pub summary: String,
    /// The input failed part way (a capture file's read error or damage
    /// nothing could be found after): everything read before it was
    /// processed and emitted, but the run must end with exit code 1.
    pub input_failure: Option<Failure>,
    /// Writing the JSON lines failed (lost records are counted in
    /// `output_errors`): the run must end with exit code 1.
    pub output_failure: Option<Failure>,
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
    feeder: Option<JoinHandle<Result<(), FileError>>>,
    /// Kept until the shards are done (af_xdp: the attached XDP programs,
    /// detached when dropped).
    _guards: Vec<Box<dyn std::any::Any>>,
}

/// Recorded input: one reader thread (`FileFeeder`) steers each packet to
/// its shard over bounded lock-free rings of packet batches.
fn file_sources(
    cfg: &Config,
    files: Vec<String>,
    capture_filter: &str,
    shards: usize,
    shutdown: Arc<AtomicBool>,
    stats0: Arc<ShardStats>,
) -> Result<Sources, RunError> {
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
    let feeder = FileFeeder {
        files,
        // The capture filter in userspace, as the kernel would run it live.
        filter: crate::bpf::FrameFilter::new(capture_filter, cfg.ipip),
        decode: DecodeOptions { ipip: cfg.ipip },
        shards: senders,
        recycled: recycle_rx,
        pool: shards * (depth + 2),
        stats0,
        shutdown,
    };
    let feeder = std::thread::Builder::new()
        .name("httpcap-reader".into())
        .spawn(move || feeder.run())
        .map_err(|source| Failure::Thread {
            thread: "reader",
            source,
        })?;
    Ok(Sources {
        per_shard,
        feeder: Some(feeder),
        _guards: Vec::new(),
    })
}

/// INPUT_RAW's capture files, each checked (it opens, is a pcap or pcapng
/// with a supported link type) before any is read: a bad file late in the
/// list is a configuration error at start, not a failure half way.
fn input_files(cfg: &Config) -> Result<Vec<String>, ConfigError> {
    let files: Vec<String> = cfg
        .input_raw
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for f in &files {
        crate::capture::pcap_file::check_file(f).map_err(|e| {
            ConfigError::value("INPUT_RAW (--input-raw)", format!("cannot read '{f}'"))
                .caused_by(e)
                .expected(
                    "capture files (pcap or pcapng), comma-separated, with INPUT_RAW_ENGINE=pcap_file",
                )
        })?;
    }
    Ok(files)
}

/// INPUT_RAW_BPF_FILTER's compile error as a configuration error.
fn filter_error(cfg: &Config, e: FilterError) -> RunError {
    ConfigError::value(
        "INPUT_RAW_BPF_FILTER (--input-raw-bpf-filter)",
        format!("invalid filter '{}'", cfg.input_raw_bpf_filter),
    )
    .caused_by(e)
    .expected("tcpdump filter syntax")
    .into()
}

/// The TLS uprobes once started: the loaded programs (files named), or
/// the thread that owns them and keeps finding files (`auto`); and each
/// shard's ring.
#[derive(Default)]
struct StartedUprobes {
    uprobes: Option<crate::tls::uprobe::Uprobes>,
    thread: Option<std::thread::JoinHandle<()>>,
    rings: Vec<crate::tls::uprobe::ShardRing>,
}

/// The TLS uprobes: the listed files probed now, or (`auto`) a first
/// scan of the host's processes now and a thread that keeps scanning.
fn start_uprobes(
    cfg: &Config,
    libs: crate::config::UprobeLibs,
    shards: usize,
    stats: &Arc<ShardStats>,
    stop: &Arc<AtomicBool>,
) -> Result<StartedUprobes, RunError> {
    use crate::config::UprobeLibs;
    use crate::tls::uprobe::{auto::AutoProbes, UprobeSettings, Uprobes};
    let settings = UprobeSettings {
        libs: match &libs {
            UprobeLibs::Files(files) => files.clone(),
            UprobeLibs::Auto => Vec::new(),
        },
        ring_bytes: cfg.tls_uprobe_ring_bytes as u32,
        own_netns_only: cfg.tls_uprobe_netns == crate::config::UprobeNetns::Own,
    };
    let (uprobes, rings) = Uprobes::start(&settings, shards as u32).map_err(Failure::Uprobes)?;
    if libs != UprobeLibs::Auto {
        stats.add_shared(Counter::TlsUprobeLibraries, settings.libs.len() as u64);
        return Ok(StartedUprobes {
            uprobes: Some(uprobes),
            thread: None,
            rings,
        });
    }
    let mut auto = AutoProbes::new(uprobes, "/proc", stats.clone());
    auto.scan_once();
    let thread = auto
        .spawn(cfg.tls_uprobe_scan_interval, stop.clone())
        .map_err(|source| Failure::Thread {
            thread: "uprobe",
            source,
        })?;
    Ok(StartedUprobes {
        uprobes: None,
        thread: Some(thread),
        rings,
    })
}

/// Live input: per shard and per interface one kernel socket; each
/// interface's sockets form one fanout group (see `capture::steer`), or
/// with af_xdp one XDP program steers to them (see `capture::xdp`).
fn live_sources(
    cfg: &Config,
    capture_filter: &str,
    shards: usize,
    stats: &[Arc<ShardStats>],
    shutdown: Arc<AtomicBool>,
) -> Result<Sources, RunError> {
    use crate::bpf::{self, Insn};
    use crate::capture::af_packet::{join_fanout, AfPacketRing};
    use crate::capture::live::{FrameRing, LiveRing};
    use crate::capture::pcap_live::PcapRing;
    use crate::capture::{iface, steer, LinkType};

    let engine = cfg.input_raw_engine;
    let ifaces = iface::parse(&cfg.input_raw)?;
    let uprobes = match cfg.uprobe_libs() {
        None => privileges::UprobeNeeds::None,
        Some(crate::config::UprobeLibs::Files(_)) => privileges::UprobeNeeds::Files,
        Some(crate::config::UprobeLibs::Auto) => privileges::UprobeNeeds::Auto,
    };
    privileges::check_capture(engine_name(engine), uprobes)?;
    if engine == Engine::AfXdp {
        return xdp_sources(cfg, capture_filter, shards, stats, shutdown, &ifaces);
    }
    let fanout = steer::fanout_program(cfg.ipip);
    let mut rings: Vec<Vec<LiveRing>> = (0..shards).map(|_| Vec::new()).collect();
    let failed = |engine: &'static str, iface: &str, source: CaptureError| {
        RunError::from(Failure::Capture {
            engine,
            iface: iface.into(),
            source,
        })
    };
    for (n, ifc) in ifaces.iter().enumerate() {
        // The kernel passes every fragment; the source judges datagrams.
        let (kernel_expr, datagrams) =
            bpf::live_filter(capture_filter, &ifc.ports, cfg.ipip).unzip();
        let filter_for = |link: LinkType| -> Result<Option<Vec<Insn>>, FilterError> {
            kernel_expr
                .as_deref()
                .map(|e| bpf::build(e, link, cfg.ipip))
                .transpose()
        };
        // A group id per interface; another process may hold one already.
        let mut group = (std::process::id() as u16)
            .wrapping_mul(0x9e37)
            .wrapping_add(n as u16 * 17);
        for (shard, shard_rings) in rings.iter_mut().enumerate() {
            let ring: Box<dyn FrameRing> = match engine {
                Engine::Pcap => Box::new(
                    // The filter expression was validated in `run`.
                    PcapRing::open(ifc, cfg.assembler_worker_pkt_buf, &filter_for)
                        .map_err(|e| failed("pcap", &ifc.name, e))?,
                ),
                _ => {
                    let link = if ifc.index == 0 {
                        LinkType::RawIp
                    } else {
                        LinkType::Ethernet
                    };
                    let prog = filter_for(link).map_err(|e| filter_error(cfg, e))?;
                    Box::new(
                        AfPacketRing::open(ifc, cfg.assembler_worker_pkt_buf, prog.as_deref())
                            .map_err(|e| failed("af_packet", &ifc.name, e))?,
                    )
                }
            };
            if shards > 1 {
                let mut tries = 0;
                while let Err(e) = join_fanout(ring.fd(), group, shard == 0, &fanout) {
                    tries += 1;
                    if shard > 0 || tries >= 16 {
                        return Err(failed("fanout", &ifc.name, e));
                    }
                    group = group.wrapping_add(1);
                }
            }
            shard_rings.push(LiveRing {
                frames: ring,
                datagrams: datagrams.clone(),
            });
        }
    }
    Ok(Sources {
        per_shard: live_shards(cfg, rings, stats, shutdown),
        feeder: None,
        _guards: Vec::new(),
    })
}

/// af_xdp: per interface one XDP program and per shard one AF_XDP socket
/// on each RX queue. The capture filter runs in userspace on each frame.
fn xdp_sources(
    cfg: &Config,
    capture_filter: &str,
    shards: usize,
    stats: &[Arc<ShardStats>],
    shutdown: Arc<AtomicBool>,
    ifaces: &[crate::capture::iface::Iface],
) -> Result<Sources, RunError> {
    use crate::bpf;
    use crate::capture::af_xdp;
    use crate::capture::live::LiveRing;
    use crate::capture::LinkType;

    let mut rings: Vec<Vec<LiveRing>> = (0..shards).map(|_| Vec::new()).collect();
    let mut guards: Vec<Box<dyn std::any::Any>> = Vec::new();
    if ifaces.iter().any(|i| i.index == 0) {
        return Err(ConfigError::value(
            "INPUT_RAW (--input-raw)",
            "'any' cannot be used with INPUT_RAW_ENGINE=af_xdp, which attaches to real interfaces: list them (eth0,eth1)",
        )
        .into());
    }
    for ifc in ifaces {
        // Every fragment passes; the source judges datagrams.
        let (frames_expr, datagrams) =
            bpf::live_filter(capture_filter, &ifc.ports, cfg.ipip).unzip();
        let filter = frames_expr
            .map(|e| bpf::build(&e, LinkType::Ethernet, cfg.ipip))
            .transpose()
            .map_err(|e| filter_error(cfg, e))?;
        let opened = af_xdp::open_interface(
            ifc,
            shards as u32,
            cfg.assembler_worker_pkt_buf,
            cfg.ipip,
            filter,
        )
        .map_err(|source| Failure::Capture {
            engine: "af_xdp",
            iface: ifc.name.clone(),
            source,
        })?;
        for (shard, r) in opened.per_shard.into_iter().enumerate() {
            rings[shard].extend(r.into_iter().map(|r| LiveRing {
                frames: Box::new(r),
                datagrams: datagrams.clone(),
            }));
        }
        guards.push(Box::new(opened.attachment));
    }
    Ok(Sources {
        per_shard: live_shards(cfg, rings, stats, shutdown),
        feeder: None,
        _guards: guards,
    })
}

/// One live source per shard over its rings, with the handover inboxes
/// for packets steered to the wrong shard.
fn live_shards(
    cfg: &Config,
    rings: Vec<Vec<crate::capture::live::LiveRing>>,
    stats: &[Arc<ShardStats>],
    shutdown: Arc<AtomicBool>,
) -> Vec<Box<dyn PacketSource>> {
    use crate::capture::live::{LiveSource, INBOX_BATCHES};
    let shards = rings.len();
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..shards).map(|_| bounded(INBOX_BATCHES)).unzip();
    let decode = DecodeOptions { ipip: cfg.ipip };
    rings
        .into_iter()
        .zip(rxs)
        .enumerate()
        .map(|(i, (r, rx))| {
            Box::new(LiveSource::new(
                i,
                r,
                decode,
                stats[i].clone(),
                rx,
                txs.clone(),
                shutdown.clone(),
            )) as Box<dyn PacketSource>
        })
        .collect()
}

/// The sinks one shard writes to.
fn shard_sinks(
    cfg: &Config,
    shard: usize,
    stats: &Arc<ShardStats>,
    writer: Option<&JsonLinesWriter>,
    kafka_reminders: &Arc<kafka::Reminders>,
) -> Result<Vec<Box<dyn RecordSink>>, RunError> {
    let mut sinks: Vec<Box<dyn RecordSink>> = Vec::new();
    if let Some(w) = writer {
        sinks.push(Box::new(w.sink(stats.clone())));
    }
    if cfg.output_kafka_host.is_some() {
        if shard == 0 {
            tracing::info!(target: "lifecycle", "{}", kafka::startup_summary(cfg));
        }
        let k = kafka::KafkaSink::new(cfg, shard, stats.clone(), kafka_reminders.clone())?;
        sinks.push(Box::new(k));
    }
    Ok(sinks)
}

/// Checks what the configuration module cannot judge alone, because the
/// outputs own the vocabulary: librdkafka must accept OUTPUT_KAFKA_OPTIONS.
/// `check-config` and every run call it after `Config::validate`.
pub fn check_outputs(cfg: &Config) -> Result<(), ConfigError> {
    kafka::options::parse(&cfg.output_kafka_options).map(|_| ())
}

/// Key-log lines waiting for one shard (a burst of new connections fits).
const KEY_CHANNEL: usize = 65_536;

/// Runs the engine to completion (end of file input, or `shutdown`).
/// `redact` comes from `Redactor::from_config`, called before logging
/// starts so that a bad key file is one line on stderr.
pub fn run(
    cfg: &Config,
    redact: Redactor,
    shutdown: Arc<AtomicBool>,
) -> Result<RunReport, RunError> {
    let mut telemetry = Telemetry::start(cfg)?;
    run_with(cfg, redact, shutdown, &mut telemetry)
}

/// As `run`, exporting metrics through a caller-owned `Telemetry` (which
/// keeps serving the final numbers after the run).
pub fn run_with(
    cfg: &Config,
    redact: Redactor,
    shutdown: Arc<AtomicBool>,
    telemetry: &mut Telemetry,
) -> Result<RunReport, RunError> {
    let shards = cfg.shards();
    // A panic in one connection's processing drops that connection only.
    crate::panic_guard::install_hook();
    let (mut registry, handles) = Registry::new(shards);
    // Inputs first: a bad one must not truncate OUTPUT_FILE.
    let files = match cfg.input_raw_engine {
        Engine::PcapFile => input_files(cfg)?,
        _ => Vec::new(),
    };
    let writer = match cfg.json_lines_path() {
        Some(p) => {
            let in_flight = crate::config::memory::json_lines_in_flight(cfg) as usize;
            Some(JsonLinesWriter::open(p, in_flight).map_err(|e| {
                ConfigError::value("OUTPUT_FILE (--output-file)", format!("cannot open '{p}'"))
                    .caused_by(e)
            })?)
        }
        None => None,
    };
    // A bad filter is a configuration error whatever the input.
    if !cfg.input_raw_bpf_filter.trim().is_empty() {
        crate::bpf::compile(
            &cfg.input_raw_bpf_filter,
            crate::capture::LinkType::Ethernet,
        )
        .map_err(|e| filter_error(cfg, e))?;
    }
    // httpcap's own listeners (Prometheus) are not captured.
    let capture_filter = crate::capture::own_traffic::capture_filter(
        &cfg.input_raw_bpf_filter,
        telemetry.local_addr(),
    );
    let shard_stats: Vec<Arc<ShardStats>> = handles.iter().map(|(s, _)| s.clone()).collect();
    let live = cfg.input_raw_engine != Engine::PcapFile;
    let mut sources = match cfg.input_raw_engine {
        Engine::PcapFile => file_sources(
            cfg,
            files,
            &capture_filter,
            shards,
            shutdown.clone(),
            shard_stats[0].clone(),
        )?,
        _ => live_sources(cfg, &capture_filter, shards, &shard_stats, shutdown.clone())?,
    };
    let filters = Arc::new(Filters::from_config(cfg));
    let observer = Observer::new(Observer::input_label(&cfg.input_raw, !live));
    let record_ctx = Arc::new(RecordCtx::new(
        &cfg.output_kafka_collection_id,
        run_id(),
        cfg.real_ip_header.trim(),
        observer,
    ));
    let settings = ShardSettings::from_config(cfg, Arc::new(redact));
    let cores = core_affinity::get_core_ids().unwrap_or_default();

    // HTTPS plaintext from this host's libssl: loaded while privileged;
    // with `auto`, one thread keeps finding files and stays privileged.
    let uprobe_stop = Arc::new(AtomicBool::new(false));
    let StartedUprobes {
        uprobes,
        thread: uprobe_thread,
        rings: uprobe_rings,
    } = match cfg.uprobe_libs() {
        Some(libs) if live => start_uprobes(cfg, libs, shards, &shard_stats[0], &uprobe_stop)?,
        _ => StartedUprobes::default(),
    };
    let mut uprobe_rings = uprobe_rings.into_iter();
    if live {
        // Sockets are open: nothing from here on needs privilege.
        privileges::drop_all().map_err(Failure::Privileges)?;
    }
    // After the drop: librdkafka's threads start with the producers and
    // inherit nothing.
    let mut all_sinks = Vec::with_capacity(shards);
    let kafka_reminders = kafka::Reminders::new(shards, cfg.metrics_interval);
    for (i, (stats, _)) in handles.iter().enumerate() {
        all_sinks.push(shard_sinks(
            cfg,
            i,
            stats,
            writer.as_ref(),
            &kafka_reminders,
        )?);
    }

    // Key logs: read once now (every shard starts with those keys), then
    // followed by one thread that hands new lines to every shard.
    let mut key_channels = Vec::new();
    let mut keylog_thread = None;
    let keylog_stop = Arc::new(AtomicBool::new(false));
    let keylog_rounds = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut initial_keys = Vec::new();
    if let Some(list) = &cfg.tls_keylog_file {
        let mut files = crate::tls::follow::files(list);
        initial_keys = crate::tls::follow::read_all(&mut files, &shard_stats[0]);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..shards)
            .map(|_| crossbeam::channel::bounded(KEY_CHANNEL))
            .unzip();
        key_channels = receivers;
        keylog_thread = Some(
            crate::tls::follow::spawn(
                files,
                senders,
                shard_stats[0].clone(),
                [keylog_stop.clone(), shutdown.clone()],
                keylog_rounds.clone(),
            )
            .map_err(|source| Failure::Thread {
                thread: "keylog",
                source,
            })?,
        );
        tracing::info!(target: "lifecycle", files = %list, entries = initial_keys.len(), "TLS key logs read");
    }
    let mut key_channels = key_channels.into_iter();

    let mut threads = Vec::new();
    for (i, (((stats, hist), mut source), sinks)) in handles
        .into_iter()
        .zip(sources.per_shard.drain(..))
        .zip(all_sinks)
        .enumerate()
    {
        let mut shard = Shard::new(
            i as u16,
            settings.clone(),
            filters.clone(),
            record_ctx.clone(),
            sinks,
            stats,
            hist,
        );
        if let Some(rx) = key_channels.next() {
            shard = shard.with_keys(&initial_keys, rx, keylog_rounds.clone());
        }
        if let Some(ring) = uprobe_rings.next() {
            shard = shard.with_uprobe_ring(ring);
        }
        let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
        let stop = shutdown.clone();
        let t = std::thread::Builder::new()
            .name(format!("httpcap-shard-{i}"))
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                tracing::info!(target: "lifecycle", shard = i, core = core.map(|c| c.id), "shard started");
                shard.run(source.as_mut(), &stop);
                tracing::info!(target: "lifecycle", shard = i, "shard stopped");
            })
            .map_err(|source| Failure::Thread {
                thread: "shard",
                source,
            })?;
        threads.push(t);
    }

    // Periodic metrics while the shards run.
    let started = Instant::now();
    while threads.iter().any(|t| !t.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        telemetry.tick(&mut registry);
    }
    let mut shard_panicked = false;
    for t in threads {
        shard_panicked |= t.join().is_err();
    }
    let feeder_result = sources.feeder.take().map(|f| f.join());
    keylog_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = keylog_thread {
        let _ = t.join();
    }
    // The shards are done: detach XDP programs and uprobes before the summary.
    drop(sources);
    drop(uprobes);
    uprobe_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = uprobe_thread {
        let _ = t.join();
    }
    let output_failure = writer.and_then(|w| w.finish().err()).map(Failure::Output);
    telemetry.finish(&mut registry);
    let totals = registry.totals();
    let summary = report::summary(&totals, &registry, cfg.log_format);
    tracing::info!(target: "lifecycle", "run ended after {:.1}s", started.elapsed().as_secs_f64());
    if shard_panicked {
        return Err(Failure::ShardPanicked.into());
    }
    let input_failure = match feeder_result {
        Some(Ok(Err(e))) => Some(Failure::Input(e)),
        Some(Err(_)) => return Err(Failure::ReaderPanicked.into()),
        _ => None,
    };
    Ok(RunReport {
        totals,
        summary,
        input_failure,
        output_failure,
    })
}
