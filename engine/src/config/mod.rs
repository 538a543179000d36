//! The configuration contract: every parameter is an environment variable
//! with a mirrored command-line flag (clap `env`). Defaults follow the
//! product description, except values that belong to one installation
//! (broker address, SASL user and switch, collection id): the binary
//! leaves them unset, empty or off, and docker-compose.yml requires them
//! from `.env` (see `.env.example`), so the binary alone never contacts
//! anything.

pub mod cli;
pub mod error;
pub mod kafka_options;
pub mod memory;
pub mod metrics_output;
pub mod units;

pub use error::ConfigError;
pub use metrics_output::MetricsOutput;

use std::time::Duration;

use clap::{error::ContextKind, error::ContextValue, CommandFactory, Parser};

use units::{
    parse_bool, parse_duration_within, parse_extension_list, parse_header_names, parse_int,
    parse_key_list, parse_media_type_list, parse_path_list, parse_ring_bytes, parse_size,
    parse_size_within, parse_uprobe_libs, FLUSH_INTERVAL_BOUNDS, HEAP_LIMIT_BOUNDS, LINGER_BOUNDS,
    METRICS_INTERVAL_BOUNDS, UPROBE_SCAN_BOUNDS, UP_TO_A_DAY,
};

/// The product description's default capture filter: infrastructure hosts
/// whose traffic is never wanted.
pub const DEFAULT_BPF_FILTER: &str = "not (host 10.95.91.34 or host 10.131.28.43 or host 10.131.30.40 or host 10.131.1.186 or host 10.6.240.99 or host 10.93.221.189 or host 10.94.42.62 or host 10.98.134.210 or host 10.6.88.150 or host 10.112.1.22 or host 10.6.88.151 or host 10.6.88.152)";

pub const DEFAULT_BLOCK_EXTS: &str = "html,htm,css,js,map,\
jpg,jpeg,png,gif,svg,webp,ico,bmp,tiff,\
ttf,otf,woff,woff2,eot,\
mp3,wav,ogg,flac,aac,\
mp4,m4v,avi,mov,mkv,webm,ogv,flv,ts,\
pdf,doc,docx,xls,xlsx,ppt,pptx,\
zip,rar,7z,tar,gz,bz2,\
json,xml,rss,atom,manifest,txt,rtf,csv,yml,yaml,toml,ini,cfg,config,\
php,asp,aspx,jsp,cfm,m3u8,exe,msi,dmg,pkg,deb,rpm,swf,log,bak,sql";

pub const DEFAULT_BLOCK_CTYPES: &str =
    "text/html,text/css,text/javascript,text/calendar,text/vcard,\
application/javascript,application/x-javascript,application/ecmascript,application/pdf,\
application/zip,application/gzip,application/x-gzip,application/x-tar,application/x-bzip2,\
application/x-7z-compressed,application/x-rar-compressed,application/vnd.rar,\
application/x-shockwave-flash,application/vnd.ms-fontobject,application/font-woff,\
application/font-woff2,application/x-font-woff,application/x-font-ttf,application/x-font-otf,\
text/ecmascript,application/x-ecmascript,application/msword,application/vnd.ms-excel,\
application/vnd.ms-powerpoint,\
application/vnd.openxmlformats-officedocument.wordprocessingml.document,\
application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,\
application/vnd.openxmlformats-officedocument.presentationml.presentation,\
image/*,video/*,audio/*,font/*,\
text/event-stream,application/x-mpegurl,application/vnd.apple.mpegurl,video/mp2t,\
application/wasm,application/ld+json,multipart/*";

pub const DEFAULT_BLOCK_ACCEPT: &str =
    "text/css,text/javascript,application/javascript,image/*,video/*,audio/*,font/*";

pub const DEFAULT_BLOCK_MULTIPART: &str = "multipart/form-data,multipart/mixed,multipart/related";

/// Capture engines. `pcap_file` reads recorded captures; the others are live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "snake_case")]
pub enum Engine {
    AfPacket,
    Pcap,
    AfXdp,
    PcapFile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// REDACT_MODE: what a redacted value becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "lowercase")]
pub enum RedactMode {
    /// `[redacted]`.
    Mask,
    /// `hmac-sha256:` and the keyed hash's hex digits.
    Hash,
}

/// TLS_UPROBE_NETNS: whose sockets the uprobes read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "lowercase")]
pub enum UprobeNetns {
    /// Every network namespace on the host (containers, pods).
    All,
    /// Only the network namespace httpcap runs in.
    Own,
}

/// TLS_UPROBE_LIBS, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UprobeLibs {
    /// Whatever libssl files the host's processes map, found as they come.
    Auto,
    /// These files.
    Files(Vec<std::path::PathBuf>),
}

/// The sections of `--help`, in the README's order.
pub mod heading {
    pub const INPUT: &str = "Input";
    pub const PERFORMANCE: &str = "Performance";
    pub const HTTP: &str = "HTTP";
    pub const TLS: &str = "TLS";
    pub const OUTPUT: &str = "Output";
    pub const KAFKA: &str = "Kafka";
    pub const MONITORING: &str = "Monitoring";
    pub const FILTERS: &str = "Filters";
    pub const REDACTION: &str = "Redaction";
}

use heading::*;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "httpcap",
    version,
    about = "Passive HTTP capture: packets in, one JSON record per request/response pair out"
)]
pub struct Config {
    // ---- Input -------------------------------------------------------------
    /// Interfaces to capture on (`eth0`, `eth0,eth1`, `eth0:80,eth1:443`), or
    /// capture files with INPUT_RAW_ENGINE=pcap_file.
    #[arg(long, env = "INPUT_RAW", default_value = "eth0", help_heading = INPUT)]
    pub input_raw: String,

    /// Capture engine: af_packet, pcap, af_xdp or pcap_file.
    #[arg(
        long,
        env = "INPUT_RAW_ENGINE",
        value_enum,
        default_value = "af_packet",
        help_heading = INPUT
    )]
    pub input_raw_engine: Engine,

    /// Decapsulate IP-in-IP (IPv4/IPv6 in IPv4/IPv6); the inner flow is reassembled.
    #[arg(long, env = "IPIP", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", help_heading = INPUT)]
    pub ipip: bool,

    /// Header holding the real client address (x-real-ip, x-forwarded-for, forwarded, ...).
    #[arg(
        long,
        env = "REAL_IP_HEADER",
        default_value = "x-real-ip",
        help_heading = INPUT
    )]
    pub real_ip_header: String,

    /// tcpdump-syntax filter applied to every packet; the default excludes
    /// the product description's infrastructure hosts. Empty turns the
    /// filter off.
    #[arg(long, env = "INPUT_RAW_BPF_FILTER", default_value = DEFAULT_BPF_FILTER, help_heading = INPUT)]
    pub input_raw_bpf_filter: String,

    // ---- Performance -------------------------------------------------------
    /// Number of shards: pinned threads, each owning its capture socket,
    /// stream table and output.
    #[arg(long, env = "PROCESSING_WORKERS", default_value = "3", value_parser = |s: &str| parse_int::<u16>(s, 1, 1024), help_heading = PERFORMANCE)]
    pub processing_workers: u16,

    /// Accepted for compatibility; no effect under thread-per-core:
    /// reassembly runs inside each shard, so there are PROCESSING_WORKERS
    /// reassemblers.
    #[arg(long, env = "ASSEMBLER_WORKERS", default_value = "5", value_parser = |s: &str| parse_int::<u16>(s, 1, 1024), help_heading = PERFORMANCE)]
    pub assembler_workers: u16,

    /// Packets queued per shard ahead of processing: kernel ring frames live
    /// (half as many 4 KiB UMEM frames with af_xdp), reader ring for files.
    /// 1 to 1000000 (a live ring of 2 KiB frames: about 2 GiB per shard at most).
    #[arg(long, env = "ASSEMBLER_WORKER_PKT_BUF", default_value = "30000", value_parser = |s: &str| parse_int::<u32>(s, 1, units::MAX_PKT_BUF), help_heading = PERFORMANCE)]
    pub assembler_worker_pkt_buf: u32,

    /// Accepted for compatibility; no effect under thread-per-core: a shard
    /// hands each record to its outputs as soon as it is serialized; their
    /// queues are bounded by OUTPUT_KAFKA_CHANNEL_BUF (Kafka) and a fixed
    /// 64 × 256 KiB (JSON lines).
    #[arg(long, env = "ASSEMBLER_OUT_BUF", default_value = "30000", value_parser = |s: &str| parse_int::<u32>(s, 1, u32::MAX as u64), help_heading = PERFORMANCE)]
    pub assembler_out_buf: u32,

    /// How often each shard sweeps its streams (aged holes, unanswered
    /// requests, idle connections, memory). 1ms to 1d.
    #[arg(long, env = "ASSEMBLER_FLUSH_INTERVAL", default_value = "500ms", value_parser = |s: &str| parse_duration_within(s, &FLUSH_INTERVAL_BOUNDS), help_heading = PERFORMANCE)]
    pub assembler_flush_interval: Duration,

    /// How long data may wait behind a gap before it is forced out, and how
    /// long an unanswered request waits for its response (idle connections
    /// expire after 12 times this, at least 1m). 0s to 1d.
    #[arg(long, env = "ASSEMBLER_FLUSH_AGE", default_value = "5s", value_parser = |s: &str| parse_duration_within(s, &UP_TO_A_DAY), help_heading = PERFORMANCE)]
    pub assembler_flush_age: Duration,

    /// Out-of-order bytes buffered per TCP direction.
    #[arg(long, env = "ASSEMBLER_MAX_STREAM_BUFFER", default_value = "5mb", value_parser = parse_size, help_heading = PERFORMANCE)]
    pub assembler_max_stream_buffer: u64,

    /// Largest buffer reserved up front for one body, before its size is
    /// known; bodies grow past it up to MAX_BODY_BYTES. At most a shard's
    /// share of HEAP_LIMIT.
    #[arg(long, env = "BUFFER_CAP", default_value = "128KiB", value_parser = parse_size, help_heading = PERFORMANCE)]
    pub buffer_cap: u64,

    /// Hard memory budget, split across shards: streams, pending
    /// transactions, the output queues (Kafka or JSON lines) and the
    /// largest transaction a shard may be finishing (its decoded bodies and
    /// record). 16MiB to 16TiB, and enough for that transaction (README,
    /// Memory).
    #[arg(long, env = "HEAP_LIMIT", default_value = "16GiB", value_parser = |s: &str| parse_size_within(s, &HEAP_LIMIT_BOUNDS), help_heading = PERFORMANCE)]
    pub heap_limit: u64,

    // ---- HTTP --------------------------------------------------------------
    /// Cap on each body kept in a record: encoded bytes kept, and decoded
    /// bytes produced (decompression stops there). The largest transaction
    /// it allows (about 12 times this, decoded and serialized) must leave a
    /// quarter of a shard's share of HEAP_LIMIT to its connections.
    #[arg(long, env = "MAX_BODY_BYTES", default_value = "3MiB", value_parser = parse_size, help_heading = HTTP)]
    pub max_body_bytes: u64,

    /// Cap on a message's head (start line and headers).
    #[arg(long, env = "MAX_HEADER_BYTES", default_value = "64KiB", value_parser = parse_size, help_heading = HTTP)]
    pub max_header_bytes: u64,

    // ---- TLS ---------------------------------------------------------------
    /// NSS key log files (SSLKEYLOGFILE) to decrypt HTTPS with,
    /// comma-separated. Each is read at start and followed as it grows or
    /// is rotated; a file that does not exist yet is waited for. Unset:
    /// TLS connections are counted, not decrypted.
    #[arg(long, env = "TLS_KEYLOG_FILE", value_parser = parse_path_list, help_heading = TLS)]
    pub tls_keylog_file: Option<String>,

    /// How long a TLS connection's encrypted bytes are held while its keys
    /// have not arrived in a key log (then it is given up: `tls_no_key`).
    /// 0s to 1d.
    #[arg(long, env = "TLS_KEY_WAIT", default_value = "5s", value_parser = |s: &str| parse_duration_within(s, &UP_TO_A_DAY), help_heading = TLS)]
    pub tls_key_wait: Duration,

    /// Most encrypted bytes held per TLS connection while waiting for its keys.
    #[arg(long, env = "TLS_KEY_WAIT_BYTES", default_value = "256KiB", value_parser = parse_size, help_heading = TLS)]
    pub tls_key_wait_bytes: u64,

    /// Most key-log entries (connections) each shard keeps; the oldest are
    /// evicted first (`tls_keys_evicted`). Entries also expire after ten
    /// minutes: keys are needed only while a handshake is decoded.
    #[arg(long, env = "TLS_MAX_KEYS", default_value = "100000", value_parser = |s: &str| parse_int::<u32>(s, 1, 100_000_000), help_heading = TLS)]
    pub tls_max_keys: u32,

    /// Whose SSL_read/SSL_write calls are traced with uprobes: `auto`
    /// (every libssl file this host's processes map, containers' own
    /// included, found again every TLS_UPROBE_SCAN_INTERVAL; needs
    /// CAP_SYS_PTRACE too) or libssl files, comma-separated (e.g.
    /// /usr/lib/x86_64-linux-gnu/libssl.so.3). Every process that uses a
    /// probed file gives its HTTPS plaintext, no keys needed. Needs a live
    /// engine and CAP_SYS_ADMIN. Unset: off.
    #[arg(long, env = "TLS_UPROBE_LIBS", value_parser = parse_uprobe_libs, help_heading = TLS)]
    pub tls_uprobe_libs: Option<String>,

    /// With TLS_UPROBE_LIBS=auto, how often the processes' memory maps are
    /// read for libssl files to probe (and files no process maps any more
    /// are let go): a process is seen from the first scan after it mapped
    /// its libssl. 100ms to 1h.
    #[arg(long, env = "TLS_UPROBE_SCAN_INTERVAL", default_value = "2s", value_parser = |s: &str| parse_duration_within(s, &UPROBE_SCAN_BOUNDS), help_heading = TLS)]
    pub tls_uprobe_scan_interval: Duration,

    /// Whose sockets the uprobes read: all (every network namespace on the
    /// host: containers and pods too) or own (only the namespace httpcap
    /// runs in; other namespaces' calls are counted in
    /// `tls_uprobe_other_netns`).
    #[arg(
        long,
        env = "TLS_UPROBE_NETNS",
        value_enum,
        default_value = "all",
        help_heading = TLS
    )]
    pub tls_uprobe_netns: UprobeNetns,

    /// Each shard's ring for the uprobes' plaintext (twice this comes out
    /// of its share of HEAP_LIMIT when TLS_UPROBE_LIBS is set: the ring and
    /// the copy read from it): a power of two from 64KiB to 1GiB. Chunks a full ring refuses are holes (`tls_uprobe_lost`).
    #[arg(long, env = "TLS_UPROBE_RING_BYTES", default_value = "8MiB", value_parser = parse_ring_bytes, help_heading = TLS)]
    pub tls_uprobe_ring_bytes: u64,

    // ---- Output ------------------------------------------------------------
    /// Write JSON lines to this file (`-` is stdout). Defaults to stdout when
    /// no Kafka host is set.
    #[arg(long, env = "OUTPUT_FILE", help_heading = OUTPUT)]
    pub output_file: Option<String>,

    /// Kafka brokers, comma-separated. Kafka output is on when this is set.
    #[arg(long, env = "OUTPUT_KAFKA_HOST", help_heading = KAFKA)]
    pub output_kafka_host: Option<String>,

    /// Topic every record is written to.
    #[arg(
        long,
        env = "OUTPUT_KAFKA_TOPIC",
        default_value = "apifort.httpcap_logs",
        help_heading = KAFKA
    )]
    pub output_kafka_topic: String,

    /// SASL user.
    #[arg(
        long,
        env = "OUTPUT_KAFKA_USERNAME",
        default_value = "",
        help_heading = KAFKA
    )]
    pub output_kafka_username: String,

    /// SASL password; shown as *** in the startup line.
    #[arg(
        long,
        env = "OUTPUT_KAFKA_PASSWORD",
        default_value = "",
        hide_env_values = true,
        help_heading = KAFKA
    )]
    pub output_kafka_password: String,

    /// Authenticate with SASL (SASL_PLAINTEXT, or SASL_SSL with TLS).
    #[arg(long, env = "OUTPUT_KAFKA_USE_SASL", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", help_heading = KAFKA)]
    pub output_kafka_use_sasl: bool,

    /// SASL/PLAIN (or PLAIN), SCRAM-SHA-256, SCRAM-SHA-512.
    #[arg(
        long,
        env = "OUTPUT_KAFKA_SASL_MECH",
        default_value = "SASL/PLAIN",
        help_heading = KAFKA
    )]
    pub output_kafka_sasl_mech: String,

    /// Use TLS to the brokers (SSL, or SASL_SSL with SASL).
    #[arg(long, env = "OUTPUT_KAFKA_TLS", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", help_heading = KAFKA)]
    pub output_kafka_tls: bool,

    /// CA bundle (PEM) to trust for the brokers' certificates.
    #[arg(long, env = "OUTPUT_KAFKA_TLS_CA", help_heading = KAFKA)]
    pub output_kafka_tls_ca: Option<String>,

    /// Client certificate (PEM).
    #[arg(long, env = "OUTPUT_KAFKA_TLS_CERT", help_heading = KAFKA)]
    pub output_kafka_tls_cert: Option<String>,

    /// Client key (PEM).
    #[arg(long, env = "OUTPUT_KAFKA_TLS_KEY", help_heading = KAFKA)]
    pub output_kafka_tls_key: Option<String>,

    /// API catalog id, carried in every record as `collection_id`.
    #[arg(
        long,
        env = "OUTPUT_KAFKA_COLLECTION_ID",
        default_value = "",
        help_heading = KAFKA
    )]
    pub output_kafka_collection_id: String,

    /// Largest message; bigger records have their bodies trimmed to fit.
    #[arg(long, env = "OUTPUT_KAFKA_MAX_MESSAGE_BYTES", default_value = "5mb", value_parser = parse_size, help_heading = KAFKA)]
    pub output_kafka_max_message_bytes: u64,

    /// Longest a record waits for its batch to fill (linger.ms). 0s to 15m.
    #[arg(long, env = "OUTPUT_KAFKA_FLUSH_FREQUENCY", default_value = "50ms", value_parser = |s: &str| parse_duration_within(s, &LINGER_BOUNDS), help_heading = KAFKA)]
    pub output_kafka_flush_frequency: Duration,

    /// A batch is sent once it holds this many bytes (batch.size).
    #[arg(long, env = "OUTPUT_KAFKA_FLUSH_BYTES", default_value = "2mb", value_parser = parse_size, help_heading = KAFKA)]
    pub output_kafka_flush_bytes: u64,

    /// ... or this many records (batch.num.messages).
    #[arg(long, env = "OUTPUT_KAFKA_FLUSH_MESSAGES", default_value = "500", value_parser = |s: &str| parse_int::<u32>(s, 1, u32::MAX as u64), help_heading = KAFKA)]
    pub output_kafka_flush_messages: u32,

    /// Records each shard's producer may hold unacknowledged; beyond it live
    /// capture drops (and counts) records.
    #[arg(long, env = "OUTPUT_KAFKA_CHANNEL_BUF", default_value = "30000", value_parser = |s: &str| parse_int::<u32>(s, 1, u32::MAX as u64), help_heading = KAFKA)]
    pub output_kafka_channel_buf: u32,

    /// Produce requests in flight per broker connection of each shard's
    /// producer (one producer per shard), capped at 5.
    #[arg(long, env = "OUTPUT_KAFKA_PRODUCERS", default_value = "3", value_parser = |s: &str| parse_int::<u16>(s, 1, 1024), help_heading = KAFKA)]
    pub output_kafka_producers: u16,

    /// Batch compression: none, gzip, snappy, lz4 or zstd.
    #[arg(
        long,
        env = "OUTPUT_KAFKA_COMPRESSION",
        value_enum,
        default_value = "snappy",
        help_heading = KAFKA
    )]
    pub output_kafka_compression: Compression,

    /// How long shutdown waits for queued Kafka records before counting
    /// the rest as undelivered. 0s to 1d.
    #[arg(long, env = "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = |s: &str| parse_duration_within(s, &UP_TO_A_DAY), help_heading = KAFKA)]
    pub output_kafka_shutdown_timeout: Duration,

    /// librdkafka producer properties, `key=value` pairs separated by `;`
    /// (values may hold `,` and `=`), applied after httpcap's own so they
    /// override them: linger.ms, batch.size, batch.num.messages,
    /// compression.type, acks, enable.idempotence,
    /// max.in.flight.requests.per.connection, queue.buffering.max.*,
    /// message.max.bytes, client.id, security.protocol, sasl.*, ssl.*,
    /// bootstrap.servers. delivery.report.only.error is refused.
    #[arg(long, env = "OUTPUT_KAFKA_OPTIONS", default_value = "", help_heading = KAFKA)]
    pub output_kafka_options: String,

    // ---- Monitoring --------------------------------------------------------
    /// console, json, none, or prometheus:ADDR:PORT (serves /metrics and
    /// /health; its own traffic is not captured).
    #[arg(
        long,
        env = "METRICS_OUTPUT",
        default_value = "console",
        value_parser = MetricsOutput::parse,
        help_heading = MONITORING
    )]
    pub metrics_output: MetricsOutput,

    /// How often metrics are published and the health status refreshed.
    /// 100ms to 1d.
    #[arg(long, env = "METRICS_INTERVAL", default_value = "10s", value_parser = |s: &str| parse_duration_within(s, &METRICS_INTERVAL_BOUNDS), help_heading = MONITORING)]
    pub metrics_interval: Duration,

    /// Log detail on stderr: 0 errors and warnings only (what an operator
    /// must act on, such as losses); 1 adds info (startup line, shards
    /// starting and stopping, end of run, the periodic metrics line); 2 and
    /// 3 add debug (intentional drops by filters); 4 adds per-connection
    /// traces; 5 adds per-transaction traces.
    #[arg(long, env = "VERBOSE", default_value = "1", value_parser = |s: &str| parse_int::<u8>(s, 0, 5), help_heading = MONITORING)]
    pub verbose: u8,

    /// Log line format on stderr: text, or json (one object per line).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        help_heading = MONITORING
    )]
    pub log_format: LogFormat,

    /// Status file the running process refreshes and `httpcap health` reads.
    /// Empty turns it off.
    #[arg(
        long,
        env = "HEALTH_FILE",
        default_value = "/tmp/httpcap-health.json",
        help_heading = MONITORING
    )]
    pub health_file: String,

    // ---- Filters -----------------------------------------------------------
    /// Request path extensions to drop (comma-separated). Empty turns the
    /// filter off.
    #[arg(long, env = "FILTER_BLOCK_EXTS", default_value = DEFAULT_BLOCK_EXTS, value_parser = parse_extension_list, help_heading = FILTERS)]
    pub filter_block_exts: String,

    /// Response media types to drop; `type/*` matches a whole type. Empty
    /// turns the filter off.
    #[arg(long, env = "FILTER_BLOCK_CTYPES", default_value = DEFAULT_BLOCK_CTYPES, value_parser = parse_media_type_list, help_heading = FILTERS)]
    pub filter_block_ctypes: String,

    /// Requests whose preferred Accept media range is one of these are
    /// dropped. Empty turns the filter off.
    #[arg(long, env = "FILTER_BLOCK_ACCEPT", default_value = DEFAULT_BLOCK_ACCEPT, value_parser = parse_media_type_list, help_heading = FILTERS)]
    pub filter_block_accept: String,

    /// Request multipart media types to drop (file uploads). Empty turns the
    /// filter off.
    #[arg(long, env = "FILTER_BLOCK_MULTIPART", default_value = DEFAULT_BLOCK_MULTIPART, value_parser = parse_media_type_list, help_heading = FILTERS)]
    pub filter_block_multipart: String,

    // ---- Redaction ---------------------------------------------------------
    /// Header names whose values are replaced in every record (request and
    /// response headers and trailers), comma-separated, case-insensitive:
    /// authorization,cookie,set-cookie,x-api-key. Empty: none.
    #[arg(long, env = "REDACT_HEADERS", default_value = "", value_parser = parse_header_names, help_heading = REDACTION)]
    pub redact_headers: String,

    /// Keys whose values (any JSON type) are replaced at any depth of JSON
    /// bodies, comma-separated, case-insensitive: password,card_number. A
    /// body cut at MAX_BODY_BYTES is redacted as far as it goes. Empty: none.
    #[arg(long, env = "REDACT_JSON_FIELDS", default_value = "", value_parser = parse_key_list, help_heading = REDACTION)]
    pub redact_json_fields: String,

    /// What a redacted value becomes: mask ("[redacted]") or hash
    /// ("hmac-sha256:" and the HMAC-SHA256 of the value in hex, keyed by
    /// REDACT_HASH_KEY_FILE: equal values stay equal).
    #[arg(
        long,
        env = "REDACT_MODE",
        value_enum,
        default_value = "mask",
        help_heading = REDACTION
    )]
    pub redact_mode: RedactMode,

    /// File holding the HMAC key for REDACT_MODE=hash (at least 16 bytes;
    /// one trailing newline is ignored), read once at start. Only its path
    /// is ever shown.
    #[arg(long, env = "REDACT_HASH_KEY_FILE", help_heading = REDACTION)]
    pub redact_hash_key_file: Option<String>,
}

/// Exit code for bad configuration.
pub const EXIT_CONFIG: i32 = 2;

impl Config {
    /// TLS_UPROBE_LIBS: None when unset.
    pub fn uprobe_libs(&self) -> Option<UprobeLibs> {
        let v = self.tls_uprobe_libs.as_deref()?.trim();
        Some(if v.eq_ignore_ascii_case("auto") {
            UprobeLibs::Auto
        } else {
            UprobeLibs::Files(v.split(',').map(|p| p.trim().into()).collect())
        })
    }

    /// Cross-field checks that a single value parser cannot make.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mech = self.sasl_mechanism();
        if mech.is_none() {
            return Err(ConfigError::value(
                "OUTPUT_KAFKA_SASL_MECH",
                format!("invalid value '{}'", self.output_kafka_sasl_mech),
            )
            .expected("SASL/PLAIN, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"));
        }
        if self.input_raw.trim().is_empty() {
            return Err(ConfigError::value("INPUT_RAW", "empty value").expected(
                "interfaces such as eth0,eth1 or eth0:80, or capture files with INPUT_RAW_ENGINE=pcap_file",
            ));
        }
        // An empty variable is unset, but `--output-kafka-host=` (or spaces)
        // would turn Kafka on with no broker.
        if self
            .output_kafka_host
            .as_deref()
            .is_some_and(|h| h.trim().is_empty())
        {
            return Err(ConfigError::value(
                "OUTPUT_KAFKA_HOST (--output-kafka-host)",
                "empty value",
            )
            .expected(
                "brokers as host:port, comma-separated, or no value at all to leave Kafka off",
            ));
        }
        if self.tls_uprobe_libs.is_some() && self.input_raw_engine == Engine::PcapFile {
            return Err(ConfigError::value(
                "TLS_UPROBE_LIBS (--tls-uprobe-libs)",
                "set with INPUT_RAW_ENGINE=pcap_file",
            )
            .expected("a live engine (af_packet, af_xdp or pcap) to trace this host's libssl, or no value"));
        }
        self.check_body_sizes_fit()?;
        if !is_header_name(&self.real_ip_header) {
            return Err(ConfigError::value(
                "REAL_IP_HEADER",
                format!("invalid value '{}'", self.real_ip_header),
            )
            .expected("an HTTP header name such as x-real-ip or x-forwarded-for"));
        }
        if !is_topic_name(&self.output_kafka_topic) {
            return Err(ConfigError::value(
                "OUTPUT_KAFKA_TOPIC",
                format!("invalid value '{}'", self.output_kafka_topic),
            )
            .expected("1 to 249 characters of a-z, A-Z, 0-9, '.', '_' or '-'"));
        }
        if self.max_header_bytes < 64 {
            return Err(ConfigError::value(
                "MAX_HEADER_BYTES",
                format!("invalid value '{}'", self.max_header_bytes),
            )
            .expected("at least 64 bytes"));
        }
        Ok(())
    }

    /// MAX_BODY_BYTES and BUFFER_CAP must fit in what one shard's
    /// connections may hold (its share of HEAP_LIMIT, less its Kafka
    /// queue): a body larger than the budget could never be kept.
    fn check_body_sizes_fit(&self) -> Result<(), ConfigError> {
        let memory = memory::ShardMemory::of(self);
        let share = memory.streams;
        if !memory.fits() {
            let mut bigger = self.clone();
            let needed = loop {
                bigger.heap_limit = bigger.heap_limit.saturating_mul(2);
                if memory::ShardMemory::of(&bigger).fits() || bigger.heap_limit == u64::MAX {
                    break bigger.heap_limit;
                }
            };
            // The smallest HEAP_LIMIT that fits, to the MiB.
            let (mut lo, mut hi) = (self.heap_limit >> 20, needed.div_ceil(1 << 20));
            while lo + 1 < hi {
                let mid = lo + (hi - lo) / 2;
                bigger.heap_limit = mid << 20;
                if memory::ShardMemory::of(&bigger).fits() {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            return Err(ConfigError::value(
                "MAX_BODY_BYTES (--max-body-bytes)",
                format!(
                    "invalid value '{}': the largest transaction it allows ({} bytes decoded and serialized, with MAX_HEADER_BYTES={}) and the output queue ({} bytes) leave less than a quarter of a shard's share of HEAP_LIMIT ({} bytes with HEAP_LIMIT={} and PROCESSING_WORKERS={}) for connections",
                    self.max_body_bytes,
                    memory.emit,
                    self.max_header_bytes,
                    memory.output,
                    self.heap_limit / self.processing_workers.max(1) as u64,
                    self.heap_limit,
                    self.processing_workers,
                ),
            )
            .expected(format!(
                "a smaller MAX_BODY_BYTES, or HEAP_LIMIT of at least {}MiB, or fewer PROCESSING_WORKERS (README, Memory)",
                hi
            )));
        }
        for (var, value) in [
            ("MAX_BODY_BYTES (--max-body-bytes)", self.max_body_bytes),
            ("BUFFER_CAP (--buffer-cap)", self.buffer_cap),
        ] {
            if value > share {
                return Err(ConfigError::value(
                    var,
                    format!(
                        "invalid value '{value}': more than a shard's share of HEAP_LIMIT ({share} bytes with HEAP_LIMIT={} and PROCESSING_WORKERS={}{})",
                        self.heap_limit,
                        self.processing_workers,
                        if self.output_kafka_host.is_some() { ", less the Kafka queue" } else { "" },
                    ),
                )
                .expected(format!(
                    "at most {share} bytes, or a larger HEAP_LIMIT or fewer PROCESSING_WORKERS"
                )));
            }
        }
        Ok(())
    }

    /// librdkafka's name for the configured SASL mechanism.
    pub fn sasl_mechanism(&self) -> Option<&'static str> {
        match self
            .output_kafka_sasl_mech
            .trim()
            .to_ascii_uppercase()
            .as_str()
        {
            "SASL/PLAIN" | "PLAIN" => Some("PLAIN"),
            "SCRAM-SHA-256" | "SASL/SCRAM-SHA-256" => Some("SCRAM-SHA-256"),
            "SCRAM-SHA-512" | "SASL/SCRAM-SHA-512" => Some("SCRAM-SHA-512"),
            _ => None,
        }
    }

    /// Number of shards actually run.
    pub fn shards(&self) -> usize {
        self.processing_workers as usize
    }

    /// Where JSON lines go: the configured file, or stdout when Kafka is off.
    pub fn json_lines_path(&self) -> Option<&str> {
        match (&self.output_file, &self.output_kafka_host) {
            (Some(p), _) if !p.is_empty() => Some(p.as_str()),
            (_, None) => Some("-"),
            _ => None,
        }
    }

    /// Every parameter as `--flag=value`, the password redacted: the startup line.
    pub fn startup_line(&self) -> String {
        let matches = Config::command()
            .get_arguments()
            .cloned()
            .collect::<Vec<_>>();
        let mut out = String::from("httpcap");
        for arg in matches {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" || long == "version" {
                continue;
            }
            let value = self.value_of(arg.get_id().as_str());
            out.push_str(&format!(" --{long}={}", shell_quote(&value)));
        }
        out
    }

    fn value_of(&self, id: &str) -> String {
        use std::fmt::Write;
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let dur = |d: &Duration| humantime::format_duration(*d).to_string();
        let mut s = String::new();
        match id {
            "input_raw" => s = self.input_raw.clone(),
            "input_raw_engine" => {
                let _ = write!(s, "{}", engine_name(self.input_raw_engine));
            }
            "ipip" => s = self.ipip.to_string(),
            "real_ip_header" => s = self.real_ip_header.clone(),
            "input_raw_bpf_filter" => s = self.input_raw_bpf_filter.clone(),
            "processing_workers" => s = self.processing_workers.to_string(),
            "assembler_workers" => s = self.assembler_workers.to_string(),
            "assembler_worker_pkt_buf" => s = self.assembler_worker_pkt_buf.to_string(),
            "assembler_out_buf" => s = self.assembler_out_buf.to_string(),
            "assembler_flush_interval" => s = dur(&self.assembler_flush_interval),
            "assembler_flush_age" => s = dur(&self.assembler_flush_age),
            "assembler_max_stream_buffer" => s = self.assembler_max_stream_buffer.to_string(),
            "buffer_cap" => s = self.buffer_cap.to_string(),
            "heap_limit" => s = self.heap_limit.to_string(),
            "max_body_bytes" => s = self.max_body_bytes.to_string(),
            "max_header_bytes" => s = self.max_header_bytes.to_string(),
            "output_file" => s = opt(&self.output_file),
            "tls_keylog_file" => s = opt(&self.tls_keylog_file),
            "tls_key_wait" => s = dur(&self.tls_key_wait),
            "tls_key_wait_bytes" => s = self.tls_key_wait_bytes.to_string(),
            "tls_max_keys" => s = self.tls_max_keys.to_string(),
            "tls_uprobe_libs" => s = opt(&self.tls_uprobe_libs),
            "tls_uprobe_netns" => {
                s = match self.tls_uprobe_netns {
                    UprobeNetns::All => "all".into(),
                    UprobeNetns::Own => "own".into(),
                }
            }
            "tls_uprobe_ring_bytes" => s = self.tls_uprobe_ring_bytes.to_string(),
            "tls_uprobe_scan_interval" => s = dur(&self.tls_uprobe_scan_interval),
            "output_kafka_host" => s = opt(&self.output_kafka_host),
            "output_kafka_topic" => s = self.output_kafka_topic.clone(),
            "output_kafka_username" => s = self.output_kafka_username.clone(),
            "output_kafka_password" => {
                s = if self.output_kafka_password.is_empty() {
                    String::new()
                } else {
                    "***".into()
                }
            }
            "output_kafka_use_sasl" => s = self.output_kafka_use_sasl.to_string(),
            "output_kafka_sasl_mech" => s = self.output_kafka_sasl_mech.clone(),
            "output_kafka_tls" => s = self.output_kafka_tls.to_string(),
            "output_kafka_tls_ca" => s = opt(&self.output_kafka_tls_ca),
            "output_kafka_tls_cert" => s = opt(&self.output_kafka_tls_cert),
            "output_kafka_tls_key" => s = opt(&self.output_kafka_tls_key),
            "output_kafka_collection_id" => s = self.output_kafka_collection_id.clone(),
            "output_kafka_max_message_bytes" => s = self.output_kafka_max_message_bytes.to_string(),
            "output_kafka_flush_frequency" => s = dur(&self.output_kafka_flush_frequency),
            "output_kafka_flush_bytes" => s = self.output_kafka_flush_bytes.to_string(),
            "output_kafka_flush_messages" => s = self.output_kafka_flush_messages.to_string(),
            "output_kafka_channel_buf" => s = self.output_kafka_channel_buf.to_string(),
            "output_kafka_producers" => s = self.output_kafka_producers.to_string(),
            "output_kafka_compression" => s = self.output_kafka_compression.as_str().into(),
            "output_kafka_shutdown_timeout" => s = dur(&self.output_kafka_shutdown_timeout),
            "output_kafka_options" => s = kafka_options::redacted(&self.output_kafka_options),
            "metrics_output" => s = self.metrics_output.to_string(),
            "metrics_interval" => s = dur(&self.metrics_interval),
            "verbose" => s = self.verbose.to_string(),
            "log_format" => {
                s = match self.log_format {
                    LogFormat::Text => "text".into(),
                    LogFormat::Json => "json".into(),
                }
            }
            "health_file" => s = self.health_file.clone(),
            "filter_block_exts" => s = self.filter_block_exts.clone(),
            "filter_block_ctypes" => s = self.filter_block_ctypes.clone(),
            "filter_block_accept" => s = self.filter_block_accept.clone(),
            "filter_block_multipart" => s = self.filter_block_multipart.clone(),
            "redact_headers" => s = self.redact_headers.clone(),
            "redact_json_fields" => s = self.redact_json_fields.clone(),
            "redact_mode" => {
                s = match self.redact_mode {
                    RedactMode::Mask => "mask".into(),
                    RedactMode::Hash => "hash".into(),
                }
            }
            "redact_hash_key_file" => s = opt(&self.redact_hash_key_file),
            other => s = format!("<unlisted {other}>"),
        }
        s
    }

    /// Every environment variable the binary reads, in declaration order.
    pub fn env_names() -> Vec<String> {
        Config::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect()
    }
}

/// An HTTP field name: one or more token characters (RFC 9110, 5.6.2).
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Kafka's rule for topic names.
fn is_topic_name(s: &str) -> bool {
    (1..=249).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

pub fn engine_name(e: Engine) -> &'static str {
    match e {
        Engine::AfPacket => "af_packet",
        Engine::Pcap => "pcap",
        Engine::AfXdp => "af_xdp",
        Engine::PcapFile => "pcap_file",
    }
}

fn shell_quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=@+*".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// Prints a configuration error as one line and exits with code 2.
pub fn config_exit(line: &str) -> ! {
    eprintln!("httpcap: configuration error: {line}");
    std::process::exit(EXIT_CONFIG)
}

/// Turns clap's multi-line error into one line that names the environment
/// variable, the value and the accepted form.
fn one_line(e: &clap::Error) -> String {
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    // "--max-body-bytes <MAX_BODY_BYTES>" -> the arg whose long flag matches.
    let long = arg
        .trim_start_matches('-')
        .split([' ', '='])
        .next()
        .unwrap_or("")
        .to_string();
    let cmd = Config::command();
    let found = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long.as_str()));
    let name = found
        .and_then(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .map(|env| format!("{env} (--{long})"))
        .unwrap_or_else(|| {
            if arg.is_empty() {
                "arguments".into()
            } else {
                arg.clone()
            }
        });
    let accepted = match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(v)) => format!("one of {}", v.join(", ")),
        _ => {
            // Our own value parsers put the accepted form in the source error.
            let text = e.to_string();
            text.lines()
                .next()
                .and_then(|l| l.rsplit_once(": "))
                .map(|(_, form)| form.to_string())
                .unwrap_or_else(|| text.lines().next().unwrap_or("").to_string())
        }
    };
    if value.is_empty() {
        format!(
            "{name}: {}",
            e.to_string()
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
        )
    } else {
        format!("{name}: invalid value '{value}': expected {accepted}")
    }
}
