//! The counter catalogue. Every loss and every decision the engine makes has
//! one entry here, so the console line, the Prometheus endpoint and the
//! end-of-run summary all speak of the same numbers.

macro_rules! counters {
    ($($variant:ident => $name:literal, $help:literal;)*) => {
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
        }
    };
}

counters! {
    // Capture
    Packets => "packets", "packets handed to a shard";
    Bytes => "bytes", "bytes of those packets (captured length)";
    KernelPackets => "kernel_packets", "packets the kernel ring saw (PACKET_STATISTICS; af_xdp: frames the XDP program steered to the shard)";
    KernelDrops => "kernel_drops", "packets the kernel dropped because a ring was full (af_xdp: every frame lost before the shard, itemised by the xdp_ counters)";
    KernelFreezes => "kernel_freezes", "times a TPACKET_V3 ring froze its queue";
    CaptureTruncated => "capture_truncated", "live frames the capture ring cut short (larger than a ring block or the snaplen)";
    XdpRxRingFull => "xdp_rx_ring_full", "af_xdp: frames dropped because a shard's RX ring was full (in kernel_drops)";
    XdpFillRingEmpty => "xdp_fill_ring_empty", "af_xdp: frames dropped because the shared fill ring had no free frame (in kernel_drops)";
    XdpInvalidDescs => "xdp_invalid_descs", "af_xdp: invalid RX descriptors the kernel reported";
    XdpNoSocket => "xdp_no_socket", "af_xdp: frames of an RX queue without sockets, left to the kernel stack (in kernel_drops)";
    BpfFiltered => "filter_bpf", "packets rejected by INPUT_RAW_BPF_FILTER";
    SteerMisrouted => "steer_misrouted", "live packets handed to another shard because fanout put them on the wrong one";
    SteerQueueFull => "steer_queue_full", "packets dropped because a shard's input ring was full";
    // Decode
    DecodeTruncated => "decode_truncated", "frames shorter than their headers claim";
    DecodeNotIp => "decode_not_ip", "frames that carry no IP (ARP, LLDP, ...)";
    DecodeNotTcp => "decode_not_tcp", "IP packets that are not TCP (UDP, ICMP, ...)";
    DecodeFragment => "decode_ip_fragment", "IP fragments (not reassembled; dropped)";
    DecodeBadIp => "decode_bad_ip", "IP headers with a bad version, length or header length";
    DecodeBadTcp => "decode_bad_tcp", "TCP headers with a bad data offset";
    DecodeTunnelUnsupported => "decode_tunnel_unsupported", "encapsulations not decoded (IPIP off, unknown GRE payload, ...)";
    DecodeBadLink => "decode_bad_link", "frames whose link layer could not be read";
    // TCP reassembly
    StreamsOpened => "streams_opened", "TCP connections tracked";
    StreamsClosed => "streams_closed", "connections closed by FIN or RST";
    StreamsExpired => "streams_expired", "idle connections expired after ASSEMBLER_FLUSH_AGE";
    StreamsEvicted => "streams_evicted_memory", "connections evicted because HEAP_LIMIT was reached";
    StreamsMidstream => "streams_midstream", "connections picked up without their handshake";
    TcpOutOfOrder => "tcp_out_of_order", "segments buffered because they arrived ahead of a hole";
    TcpRetransmits => "tcp_retransmits", "segments whose bytes had all been seen already";
    TcpOverlapConflicts => "tcp_overlap_conflicts", "overlapping segments whose bytes differ from the first copy";
    TcpGaps => "tcp_gaps", "holes skipped after ASSEMBLER_FLUSH_AGE or at close";
    TcpGapBytes => "tcp_gap_bytes", "bytes lost in those holes";
    TcpBufferDrops => "drop_stream_buffer", "segments dropped because a stream exceeded ASSEMBLER_MAX_STREAM_BUFFER";
    TcpBufferDropBytes => "drop_stream_buffer_bytes", "bytes in those segments";
    MemoryDrops => "drop_memory_budget", "segments dropped because HEAP_LIMIT was reached";
    // HTTP
    HttpRequests => "http_requests", "request heads parsed";
    HttpResponses => "http_responses", "response heads parsed";
    HttpInterim => "http_interim_responses", "1xx interim responses (100 Continue, 103 Early Hints)";
    HttpParseErrors => "http_parse_errors", "messages that failed to parse (the stream resyncs)";
    HttpHeaderTooLarge => "http_header_too_large", "heads longer than MAX_HEADER_BYTES (message skipped)";
    HttpResyncBytes => "http_resync_bytes", "bytes skipped while looking for the next message";
    HttpOrphanResponses => "http_orphan_responses", "responses with no request seen";
    HttpUpgrades => "http_upgrades", "connections that left HTTP/1 (Upgrade, CONNECT)";
    HttpBodyTruncated => "http_body_truncated", "bodies cut at MAX_BODY_BYTES";
    HttpDecodeFailed => "http_decode_failed", "bodies whose Content-Encoding could not be undone";
    HttpDecoded => "http_decoded", "bodies decompressed";
    // Transactions
    Transactions => "transactions", "request/response pairs emitted";
    TransactionsNoResponse => "transactions_no_response", "requests emitted without a response";
    TransactionsGap => "transactions_gap", "transactions flagged because a hole touched them";
    FilterExt => "filter_ext", "transactions dropped by FILTER_BLOCK_EXTS";
    FilterCtype => "filter_ctype", "transactions dropped by FILTER_BLOCK_CTYPES";
    FilterAccept => "filter_accept", "transactions dropped by FILTER_BLOCK_ACCEPT";
    FilterMultipart => "filter_multipart", "transactions dropped by FILTER_BLOCK_MULTIPART";
    PendingDropped => "drop_pending_requests", "requests dropped because too many were pending on one connection";
    // Output
    RecordsOut => "records_out", "records written to the JSON-lines output";
    RecordBytes => "record_bytes", "bytes of serialized records";
    OutputErrors => "output_errors", "records lost because the output failed";
    KafkaEnqueued => "kafka_enqueued", "records handed to the Kafka producer";
    KafkaQueueFull => "drop_kafka_queue", "records dropped because the producer queue was full";
    KafkaDelivered => "kafka_delivered", "records the broker acknowledged";
    KafkaFailed => "kafka_failed", "records whose delivery failed (kafka_enqueued = kafka_delivered + kafka_failed + kafka_undelivered_at_exit)";
    KafkaTrimmed => "kafka_trimmed", "records whose bodies were trimmed to fit OUTPUT_KAFKA_MAX_MESSAGE_BYTES";
    KafkaUndelivered => "kafka_undelivered_at_exit", "records still unacknowledged when the shutdown deadline passed (not in kafka_failed)";
    KafkaFailedTimeout => "kafka_failed_timeout", "failed deliveries: message.timeout.ms passed without an acknowledgement";
    KafkaFailedAuth => "kafka_failed_auth", "failed deliveries: SASL, TLS or ACL refusal";
    KafkaFailedTransport => "kafka_failed_transport", "failed deliveries: connection errors reported against the record";
    KafkaFailedTooLarge => "kafka_failed_too_large", "failed deliveries: the broker refused the message size";
    KafkaFailedPurged => "kafka_failed_purged", "records purged at shutdown after the flush bound: the kafka_undelivered_at_exit ones, not in kafka_failed";
    KafkaFailedOther => "kafka_failed_other", "failed deliveries: any other broker error";
    KafkaRefused => "drop_kafka_refused", "records the producer refused at enqueue for a reason other than a full queue";
    KafkaAuthErrors => "kafka_auth_errors", "authentication failures reported by the Kafka client (per attempt, not per record)";
    KafkaOutages => "kafka_outages", "times the Kafka brokers became unreachable";
    // Engine
    ConnectionPanics => "connection_panics", "connections dropped because processing them panicked (a bug: please report)";
}

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
