//! The counter catalogue. Every loss and every decision the engine makes has
//! one entry here, so the console line, the Prometheus endpoint and the
//! end-of-run summary all speak of the same numbers.
//!
//! Each counter declares its kind, which decides where it is reported:
//! losses are logged at WARN (once per interval, with their count) and
//! exported as `httpcap_dropped_total{kind="loss"}`; intentional drops (a
//! filter the operator configured) go to the same metric with
//! `kind="intentional"` and are never logged above DEBUG. Counters that
//! itemise another one (the `xdp_` causes inside `kernel_drops`, the
//! `kafka_failed_` reasons inside `kafka_failed`, byte totals of a drop)
//! are activity, so no loss is counted twice.

/// What a counter measures, for reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Plain activity: packets, streams, records, breakdowns.
    Activity,
    /// Dropped on purpose by a filter the operator configured.
    Intentional,
    /// Lost: something the operator would have wanted.
    Loss,
}

impl Kind {
    /// The `kind` label and log field.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Activity => "activity",
            Kind::Intentional => "intentional",
            Kind::Loss => "loss",
        }
    }
}

macro_rules! counters {
    ($($variant:ident => $name:literal, $kind:ident, $help:literal;)*) => {
        /// One named counter. Its index selects a slot in a shard's table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Counter { $($variant),* }

        impl Counter {
            pub const ALL: &'static [Counter] = &[$(Counter::$variant),*];
            pub const COUNT: usize = Counter::ALL.len();

            /// Metric name, in snake case, without prefix.
            pub fn name(self) -> &'static str {
                match self { $(Counter::$variant => $name),* }
            }

            pub fn help(self) -> &'static str {
                match self { $(Counter::$variant => $help),* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Counter::$variant => Kind::$kind),* }
            }

            /// A loss or an intentional drop: reported as a `reason`.
            pub fn is_drop(self) -> bool {
                self.kind() != Kind::Activity
            }
        }
    };
}

counters! {
    // Capture
    Packets => "packets", Activity, "packets handed to a shard";
    Bytes => "bytes", Activity, "bytes of those packets (captured length)";
    KernelPackets => "kernel_packets", Activity, "packets the kernel ring saw (PACKET_STATISTICS; af_xdp: frames the XDP program steered to the shard)";
    KernelDrops => "kernel_drops", Loss, "packets the kernel dropped because a ring was full (af_xdp: every frame lost before the shard, itemised by the xdp_ counters)";
    KernelFreezes => "kernel_freezes", Activity, "times a TPACKET_V3 ring froze its queue";
    CaptureTruncated => "capture_truncated", Loss, "frames cut short by the capture (live: larger than a ring block or the snaplen; files: cut at the snap length), processed as far as they go";
    CaptureBadRecords => "capture_bad_records", Loss, "damaged records in capture files, skipped (or ending the file when nothing plausible follows), and a last record cut short by the end of the file";
    XdpRxRingFull => "xdp_rx_ring_full", Activity, "af_xdp: frames dropped because a shard's RX ring was full (in kernel_drops)";
    XdpFillRingEmpty => "xdp_fill_ring_empty", Activity, "af_xdp: frames dropped because the shared fill ring had no free frame (in kernel_drops)";
    XdpInvalidDescs => "xdp_invalid_descs", Loss, "af_xdp: invalid RX descriptors the kernel reported";
    XdpNoSocket => "xdp_no_socket", Activity, "af_xdp: frames of an RX queue without sockets, left to the kernel stack (in kernel_drops)";
    BpfFiltered => "filter_bpf", Intentional, "packets rejected by INPUT_RAW_BPF_FILTER or the ports of INPUT_RAW (a fragmented datagram counts once, judged whole)";
    SteerMisrouted => "steer_misrouted", Activity, "live packets handed to another shard because fanout put them on the wrong one";
    SteerQueueFull => "steer_queue_full", Loss, "packets dropped because the shard that owns them could not take them: its input ring or handover inbox was full, or it had already finished at shutdown";
    // Decode
    DecodeTruncated => "decode_truncated", Loss, "frames shorter than their headers claim";
    DecodeNotIp => "decode_not_ip", Activity, "frames that carry no IP (ARP, LLDP, ...)";
    DecodeNotTcp => "decode_not_tcp", Activity, "IP packets that are not TCP (UDP, ICMP, ...)";
    DecodeFragment => "decode_ip_fragment", Loss, "IP fragments that reached a shard without passing the reassembler (dropped)";
    // IP reassembly (decode/defrag.rs)
    DefragFragments => "defrag_fragments", Activity, "IP fragments taken in for reassembly";
    DefragReassembled => "defrag_reassembled", Activity, "IP datagrams reassembled from their fragments";
    DefragTimeouts => "defrag_timeouts", Loss, "IP datagrams given up with fragments missing, 30 s after their first fragment or at the end of the input (their fragments dropped)";
    DefragEvicted => "defrag_evicted", Loss, "IP datagrams given up unfinished, oldest first, because 1024 were being reassembled or 16 MiB held";
    DefragInvalid => "defrag_invalid", Loss, "IP fragments that could not be reassembled: cut short by the capture, or of a datagram past 65,535 bytes (dropped with it)";
    DefragOverlapConflicts => "defrag_overlap_conflicts", Activity, "IP fragments overlapping bytes already held with different bytes, or giving the datagram a different end (the first copy stands)";
    DecodeBadIp => "decode_bad_ip", Loss, "IP headers with a bad version, length or header length";
    DecodeBadTcp => "decode_bad_tcp", Loss, "TCP headers with a bad data offset";
    DecodeTunnelUnsupported => "decode_tunnel_unsupported", Loss, "encapsulations not decoded (IPIP off, unknown GRE payload, ...)";
    DecodeBadLink => "decode_bad_link", Loss, "frames whose link layer could not be read";
    // TCP reassembly
    StreamsOpened => "streams_opened", Activity, "TCP connections tracked";
    StreamsClosed => "streams_closed", Activity, "connections closed by FIN or RST";
    StreamsReused => "streams_reused", Activity, "connections ended by a new connection on their addresses and ports (a SYN after a FIN, or one the server answered while the old connection looked open)";
    StreamsExpired => "streams_expired", Activity, "idle connections expired after ASSEMBLER_FLUSH_AGE";
    StreamsEvicted => "streams_evicted_memory", Loss, "connections evicted because HEAP_LIMIT was reached";
    StreamsMidstream => "streams_midstream", Activity, "connections picked up without their handshake";
    ClockSteps => "clock_steps", Activity, "steps of the capture clock (10 s or more, back; live also forward) absorbed by the shard clock";
    TcpOutOfOrder => "tcp_out_of_order", Activity, "segments buffered because they arrived ahead of a hole";
    TcpRetransmits => "tcp_retransmits", Activity, "segments whose bytes had all been seen already";
    TcpOverlapConflicts => "tcp_overlap_conflicts", Activity, "overlapping segments whose bytes differ from the first copy";
    TcpGaps => "tcp_gaps", Loss, "holes skipped after ASSEMBLER_FLUSH_AGE or at close";
    TcpGapBytes => "tcp_gap_bytes", Activity, "bytes lost in those holes";
    TcpBufferDrops => "drop_stream_buffer", Loss, "segments dropped because a stream exceeded ASSEMBLER_MAX_STREAM_BUFFER";
    TcpBufferDropBytes => "drop_stream_buffer_bytes", Activity, "bytes in those segments";
    MemoryDrops => "drop_memory_budget", Loss, "segments dropped because HEAP_LIMIT was reached";
    // HTTP
    HttpRequests => "http_requests", Activity, "request heads parsed";
    HttpResponses => "http_responses", Activity, "response heads parsed";
    HttpInterim => "http_interim_responses", Activity, "1xx interim responses (100 Continue, 103 Early Hints)";
    HttpParseErrors => "http_parse_errors", Loss, "messages that failed to parse (the stream resyncs); itemised by the http_parse_bad_ counters";
    HttpBadStart => "http_parse_bad_start", Activity, "parse errors: bytes where a message should begin that do not look like one (skipped)";
    HttpBadHead => "http_parse_bad_head", Activity, "parse errors: heads that could not be parsed (message skipped)";
    HttpBadChunk => "http_parse_bad_chunk", Activity, "parse errors: chunked bodies whose chunk framing broke (message ends there)";
    HttpBadFraming => "http_parse_bad_framing", Activity, "parse errors: unreadable or contradictory Content-Length/Transfer-Encoding (message framed by a fallback)";
    HttpHeaderLinesInvalid => "http_header_lines_invalid", Loss, "HTTP/1 heads with a header line that is not a field, left out of the record (flag header_invalid)";
    HttpRequestLinesInvalid => "http_request_lines_invalid", Activity, "HTTP/1 request lines that break the grammar in a way servers accept (a version other than HTTP/1.0 or 1.1, no target), read as HTTP/1.x (flag request_line_invalid)";
    HttpTrailersInvalid => "http_trailers_invalid", Loss, "HTTP/1 chunked trailer sections whose fields did not parse (the message is kept, its trailers are not recorded)";
    HttpHeaderTooLarge => "http_header_too_large", Loss, "heads longer than MAX_HEADER_BYTES (message skipped)";
    HttpHeadsCut => "http_heads_cut", Loss, "message heads cut short by the end of their connection direction (a request lost; a response missing from its transaction, flagged no_response)";
    HttpResyncBytes => "http_resync_bytes", Activity, "bytes skipped while looking for the next message";
    HttpOrphanResponses => "http_orphan_responses", Activity, "responses with no request seen";
    HttpBodiesAbsent => "http_bodies_absent", Activity, "responses to a request never seen whose body (declared, or until the close) was absent: a status line came where it should begin (a HEAD's answer); the response ends at its head";
    HttpUnpairedResponses => "http_unpaired_responses", Activity, "responses emitted alone (flag pairing_lost) because their request had been dropped from a full pending queue (drop_pending_requests)";
    HttpPairingUncertain => "http_pairing_uncertain", Activity, "responses paired with a request after a hole that may have held whole messages (flag pairing_uncertain)";
    HttpAnswersLostInGap => "http_answers_lost_in_gap", Loss, "requests emitted without a response because a hole in the responses began their answer (flags no_response, gap)";
    HttpUpgrades => "http_upgrades", Activity, "connections that left HTTP/1 (Upgrade, CONNECT)";
    HttpBodyTruncated => "http_body_truncated", Activity, "bodies cut at MAX_BODY_BYTES";
    HttpDecodeFailed => "http_decode_failed", Activity, "bodies whose Content-Encoding could not be undone";
    HttpDecoded => "http_decoded", Activity, "bodies decompressed";
    // HTTP/2
    Http2Connections => "http2_connections", Activity, "connections parsed as HTTP/2 (prior knowledge, h2c upgrade, or recognised mid-stream)";
    Http2Streams => "http2_streams", Activity, "HTTP/2 streams opened";
    Http2Resets => "http2_resets", Activity, "HTTP/2 streams reset (RST_STREAM; emitted with the reset flag)";
    Http2FrameErrors => "http2_frame_errors", Loss, "HTTP/2 frames that broke the protocol's rules (skipped; the connection goes on)";
    Http2ResyncBytes => "http2_resync_bytes", Activity, "bytes skipped while looking for an HTTP/2 frame boundary (mid-stream pickup, after a hole)";
    Http2HpackIncomplete => "http2_hpack_incomplete", Loss, "HTTP/2 header blocks with fields that referred to HPACK state never seen (fields missing, flag hpack_incomplete)";
    Http2HpackErrors => "http2_hpack_errors", Loss, "HTTP/2 header blocks that could not be decoded (head lost; the decoder resets)";
    Http2MalformedHeads => "http2_malformed_heads", Loss, "HTTP/2 first header blocks without their :method or a three-digit :status (malformed, or trailers after a lost head): flag request_unparsed or response_unparsed";
    Http2StreamsOverCap => "http2_streams_over_cap", Loss, "HTTP/2 streams given up (emitted as they were) because one connection had too many open";
    Http2UnattachedBytes => "http2_unattached_bytes", Activity, "HTTP/2 DATA bytes for streams whose headers were not seen";
    // TLS
    TlsConnections => "tls_connections", Activity, "connections that began with a TLS handshake";
    TlsDecrypting => "tls_decrypting", Activity, "TLS connections whose keys were found (decrypted)";
    TlsNoKey => "tls_no_key", Loss, "TLS connections not decrypted: no key-log entry within TLS_KEY_WAIT (or the handshake was not captured)";
    TlsUnsupportedCipher => "tls_unsupported_cipher", Loss, "TLS connections not decrypted: cipher suite or version not supported (CBC, TLS 1.1 and older)";
    TlsDecryptFailed => "tls_decrypt_failed", Loss, "TLS connections given up: wrong keys, a broken record layer or ServerHello, or a loss that could not be resumed";
    TlsMidstream => "tls_midstream", Loss, "TLS connections seen only after their handshake (cannot be decrypted)";
    TlsRecordsDecrypted => "tls_records_decrypted", Activity, "TLS records opened";
    TlsRecordGaps => "tls_record_gaps", Activity, "TLS records lost to capture holes or failing authentication (their transactions carry gap)";
    TlsRecordInvalid => "tls_record_invalid", Activity, "TLS record headers with a bad type, version or length (the connection is given up: in tls_decrypt_failed)";
    TlsKeyWaitOverflow => "tls_key_wait_overflow", Activity, "TLS connections that sent more than TLS_KEY_WAIT_BYTES while their keys were awaited (in tls_no_key)";
    TlsKeylogLines => "tls_keylog_lines", Activity, "key-log lines read";
    TlsKeylogMalformed => "tls_keylog_malformed", Loss, "key-log lines that could not be parsed (skipped)";
    TlsKeysEvicted => "tls_keys_evicted", Loss, "key-log entries evicted from a shard's store because TLS_MAX_KEYS was reached";
    TlsKeysDropped => "tls_keys_dropped", Loss, "key-log lines a shard missed because its key channel was full";
    // TLS plaintext from uprobes (TLS_UPROBE_LIBS)
    TlsUprobeEvents => "tls_uprobe_events", Activity, "uprobe events read from the shards' rings (plaintext chunks and closes)";
    TlsUprobeBytes => "tls_uprobe_bytes", Activity, "plaintext bytes the uprobes delivered";
    TlsUprobeConnections => "tls_uprobe_connections", Activity, "connections whose plaintext came from uprobes (their packets, if captured, are not parsed)";
    TlsUprobeLost => "tls_uprobe_lost", Loss, "plaintext bytes lost between the uprobes and the shard: a full ring, or past 128KiB in one SSL call (holes: their transactions carry gap)";
    TlsUprobeRingFull => "tls_uprobe_ring_full", Activity, "uprobe chunks a full ring refused (their bytes are in tls_uprobe_lost)";
    TlsUprobeBeyondCopy => "tls_uprobe_beyond_copy", Activity, "bytes of SSL calls past the 128KiB the program copies per call (in tls_uprobe_lost)";
    TlsUprobeNoSocket => "tls_uprobe_no_socket", Loss, "SSL calls whose socket the program could not find (no syscall of the SSL object seen yet)";
    TlsUprobeNotTcp => "tls_uprobe_not_tcp", Activity, "SSL calls on something other than a TCP/IP socket (not captured)";
    TlsUprobeCallsLost => "tls_uprobe_calls_lost", Loss, "SSL calls missed because one of the program's tables (calls in progress, sockets' offsets) had no room";
    TlsUprobeOtherNetns => "tls_uprobe_other_netns", Intentional, "SSL calls on sockets of other network namespaces (TLS_UPROBE_NETNS=own)";
    TlsUprobeDuplicate => "tls_uprobe_duplicate", Activity, "uprobe events of a connection's second process (both ends on this host): the first process's are used";
    TlsUprobeInvalid => "tls_uprobe_invalid", Loss, "ring samples that are not valid events (skipped)";
    TlsUprobeLibraries => "tls_uprobe_libraries", Activity, "libssl files probed (TLS_UPROBE_LIBS=auto: as processes mapping them are found)";
    TlsUprobeLibrariesReleased => "tls_uprobe_libraries_released", Activity, "libssl files whose probes were removed: no process had mapped them for five scans";
    TlsUprobeLibrariesFailed => "tls_uprobe_libraries_failed", Loss, "libssl files found but not probed (an SSL function missing, or 256 probed already): their processes' HTTPS is not seen";
    TlsUprobePacketsSkipped => "tls_uprobe_packets_skipped", Activity, "captured packets of connections whose plaintext comes from uprobes (not parsed)";
    // Transactions
    Transactions => "transactions", Activity, "request/response pairs emitted";
    TransactionsNoResponse => "transactions_no_response", Activity, "requests emitted without a response";
    TransactionsGap => "transactions_gap", Activity, "transactions flagged because a hole touched them";
    FilterExt => "filter_ext", Intentional, "transactions dropped by FILTER_BLOCK_EXTS";
    FilterCtype => "filter_ctype", Intentional, "transactions dropped by FILTER_BLOCK_CTYPES";
    FilterAccept => "filter_accept", Intentional, "transactions dropped by FILTER_BLOCK_ACCEPT";
    FilterMultipart => "filter_multipart", Intentional, "transactions dropped by FILTER_BLOCK_MULTIPART";
    // Redaction (REDACT_*)
    RedactedHeaders => "redacted_headers", Activity, "header and trailer values replaced by REDACT_HEADERS (each field, each set-cookie; and the userinfo of absolute-form targets when authorization is listed)";
    RedactedJsonFields => "redacted_json_fields", Activity, "JSON values replaced by REDACT_JSON_FIELDS";
    RedactedJsonCut => "redacted_json_cut", Activity, "JSON bodies redacted as a prefix: cut at MAX_BODY_BYTES, by a hole (bytes after it dropped) or an unfinished message";
    RedactedBodiesDropped => "redacted_bodies_dropped", Activity, "bodies dropped because REDACT_JSON_FIELDS could not check them (left encoded after a failed decode; a gRPC body whose messages are redacted on their own)";
    PendingDropped => "drop_pending_requests", Loss, "requests emitted at once without their response (flag pairing_lost) because more than 1,024 were pending on one HTTP/1 connection";
    // Output
    RecordsOut => "records_out", Activity, "records handed to the JSON-lines output (those it could not write count in output_errors too)";
    RecordBytes => "record_bytes", Activity, "bytes of serialized records";
    OutputErrors => "output_errors", Loss, "records lost because the output failed";
    KafkaEnqueued => "kafka_enqueued", Activity, "records handed to the Kafka producer";
    KafkaQueueFull => "drop_kafka_queue", Loss, "records dropped because the producer queue was full";
    KafkaDelivered => "kafka_delivered", Activity, "records the broker acknowledged";
    KafkaFailed => "kafka_failed", Loss, "records whose delivery failed (kafka_enqueued = kafka_delivered + kafka_failed + kafka_undelivered_at_exit)";
    KafkaTrimmed => "kafka_trimmed", Activity, "records whose bodies were trimmed to fit OUTPUT_KAFKA_MAX_MESSAGE_BYTES";
    KafkaUndelivered => "kafka_undelivered_at_exit", Loss, "records still unacknowledged when the shutdown deadline passed (not in kafka_failed)";
    KafkaFailedTimeout => "kafka_failed_timeout", Activity, "failed deliveries: message.timeout.ms passed without an acknowledgement";
    KafkaFailedAuth => "kafka_failed_auth", Activity, "failed deliveries: SASL, TLS or ACL refusal";
    KafkaFailedTransport => "kafka_failed_transport", Activity, "failed deliveries: connection errors reported against the record";
    KafkaFailedTooLarge => "kafka_failed_too_large", Activity, "failed deliveries: the broker refused the message size";
    KafkaFailedPurged => "kafka_failed_purged", Activity, "records purged at shutdown after the flush bound: the kafka_undelivered_at_exit ones, not in kafka_failed";
    KafkaFailedOther => "kafka_failed_other", Activity, "failed deliveries: any other broker error";
    KafkaRefused => "drop_kafka_refused", Loss, "records the producer refused at enqueue for a reason other than a full queue";
    KafkaAuthErrors => "kafka_auth_errors", Activity, "authentication failures reported by the Kafka client (per attempt, not per record)";
    KafkaOutages => "kafka_outages", Activity, "times the Kafka brokers became unreachable";
    // Engine
    ConnectionPanics => "connection_panics", Loss, "connections dropped because processing them panicked (a bug: please report)";
}

impl Counter {
    /// Counters that itemise another one by cause: exported as one metric
    /// with a `reason` label (family name without prefix, reason) rather
    /// than one metric per cause.
    pub fn cause(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Counter::XdpRxRingFull => ("xdp_drops", "rx_ring_full"),
            Counter::XdpFillRingEmpty => ("xdp_drops", "fill_ring_empty"),
            Counter::XdpNoSocket => ("xdp_drops", "no_socket"),
            Counter::HttpBadStart => ("http_parse_errors_by_reason", "bad_start"),
            Counter::HttpBadHead => ("http_parse_errors_by_reason", "bad_head"),
            Counter::HttpBadChunk => ("http_parse_errors_by_reason", "bad_chunk"),
            Counter::HttpBadFraming => ("http_parse_errors_by_reason", "bad_framing"),
            Counter::KafkaFailedTimeout => ("kafka_failures", "timeout"),
            Counter::KafkaFailedAuth => ("kafka_failures", "auth"),
            Counter::KafkaFailedTransport => ("kafka_failures", "transport"),
            Counter::KafkaFailedTooLarge => ("kafka_failures", "too_large"),
            Counter::KafkaFailedPurged => ("kafka_failures", "purged"),
            Counter::KafkaFailedOther => ("kafka_failures", "other"),
            _ => return None,
        })
    }
}

/// Help texts of the `cause` families.
pub const CAUSE_FAMILIES: &[(&str, &str)] = &[
    (
        "http_parse_errors_by_reason",
        "HTTP/1 parse errors by reason (together the http_parse_errors reason of httpcap_dropped_total)",
    ),
    (
        "xdp_drops",
        "af_xdp frames lost before a shard, by reason (part of kernel_drops)",
    ),
    (
        "kafka_failures",
        "Kafka delivery failures by reason (purged: the records undelivered at exit; the others together are the kafka_failed reason of httpcap_dropped_total)",
    ),
];

/// Point-in-time values, as opposed to running totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Gauge {
    ActiveStreams,
    MemoryBytes,
    KafkaQueueDepth,
    PendingRequests,
}

impl Gauge {
    pub const ALL: &'static [Gauge] = &[
        Gauge::ActiveStreams,
        Gauge::MemoryBytes,
        Gauge::KafkaQueueDepth,
        Gauge::PendingRequests,
    ];
    pub const COUNT: usize = Gauge::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            Gauge::ActiveStreams => "active_streams",
            Gauge::MemoryBytes => "memory_bytes",
            Gauge::KafkaQueueDepth => "kafka_queue_depth",
            Gauge::PendingRequests => "pending_requests",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Gauge::ActiveStreams => "TCP connections currently tracked",
            Gauge::MemoryBytes => "bytes charged to the HEAP_LIMIT budget",
            Gauge::KafkaQueueDepth => "records waiting in the Kafka producers",
            Gauge::PendingRequests => "requests waiting for their response",
        }
    }
}
