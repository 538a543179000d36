//! Generator parameters, shared by the command line and the tests.

use clap::Args;

use crate::content::Mix;
use crate::dist::SizeDist;

#[derive(Args, Clone, Debug)]
pub struct Params {
    /// HTTP transactions (request/response pairs) to generate.
    #[arg(long, default_value_t = 10_000)]
    pub transactions: u64,
    /// Number of TCP connections; without it each connection carries
    /// 1..=keepalive transactions.
    #[arg(long)]
    pub connections: Option<u64>,
    /// Largest number of transactions on one keep-alive connection.
    #[arg(long, default_value_t = 8)]
    pub keepalive: u32,
    /// Connections open at the same time; their packets interleave.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Request body size for POST/PUT/PATCH (N, uniform:A-B or log:A-B).
    #[arg(long, default_value = "log:16-2048")]
    pub request_body: SizeDist,
    /// API response body size before compression.
    #[arg(long, default_value = "log:32-8192")]
    pub response_body: SizeDist,
    /// Static asset body size.
    #[arg(long, default_value = "log:256-32768")]
    pub static_body: SizeDist,
    /// Share of transactions that fetch static assets (scripts, styles, images, fonts).
    #[arg(long, default_value_t = 0.15)]
    pub static_share: f64,
    /// Share of responses with a body sent gzip-encoded.
    #[arg(long, default_value_t = 0.25)]
    pub gzip_share: f64,
    /// Share of responses with a body sent chunked.
    #[arg(long, default_value_t = 0.15)]
    pub chunked_share: f64,
    /// Share of API calls answered with a 4xx/5xx error.
    #[arg(long, default_value_t = 0.04)]
    pub error_share: f64,
    /// Share of connections whose client pipelines 2-4 requests at a time.
    #[arg(long, default_value_t = 0.05)]
    pub pipeline_share: f64,
    /// Share of connections ended by `Connection: close` (server closes);
    /// the others are closed by the client after the last exchange.
    #[arg(long, default_value_t = 0.3)]
    pub close_share: f64,
    /// Share of data segments sent twice (retransmissions).
    #[arg(long, default_value_t = 0.0)]
    pub retransmit_share: f64,
    /// Share of data segments swapped with the one before (reordering).
    #[arg(long, default_value_t = 0.0)]
    pub reorder_share: f64,
    /// Never close connections: after their last exchange they stay idle,
    /// so every connection is still tracked when the capture ends.
    #[arg(long)]
    pub leave_open: bool,
    /// libdeflate level for gzip bodies (1 is nginx's default).
    #[arg(long, default_value_t = 1)]
    pub gzip_level: i32,
    /// Share of connections over IPv6 (2001:db8::/32); ignored with --ipip.
    #[arg(long, default_value_t = 0.0)]
    pub ipv6_share: f64,
    /// Wrap every packet in IPv4-in-IPv4.
    #[arg(long)]
    pub ipip: bool,
    /// Tag every frame with this 802.1Q VLAN id.
    #[arg(long)]
    pub vlan: Option<u16>,
    /// Nanosecond timestamps (pcap magic a1b23c4d).
    #[arg(long)]
    pub nanosecond: bool,
    /// Leave out the TCP timestamps option.
    #[arg(long)]
    pub no_tcp_timestamps: bool,
    /// HTTP/2 over cleartext TCP with prior knowledge (h2c) instead of
    /// HTTP/1.1: the same exchanges, as streams multiplexed on each
    /// connection, HPACK with the dynamic table.
    #[arg(long)]
    pub http2: bool,
    /// With --http2 and without --connections: streams per connection,
    /// uniform between these two (inclusive).
    #[arg(long, default_value_t = 10)]
    pub h2_min_streams: u32,
    #[arg(long, default_value_t = 50)]
    pub h2_max_streams: u32,
    /// With --http2: the most streams a client opens at once; each round
    /// opens 1..=this many, whose frames interleave in both directions.
    #[arg(long, default_value_t = 8)]
    pub h2_concurrent_streams: u32,
    /// Carry every connection in TLS of this version (1.2 or 1.3): a
    /// synthetic handshake, then the same exchanges in records sealed
    /// under random secrets from the seed, which go to the key log
    /// (httpcap-loadgen --keylog; default <output>.keys).
    #[arg(long, value_name = "VERSION")]
    pub tls: Option<crate::tls::TlsVersion>,
    /// With --tls: the cipher suite, by IANA name or code point (0x1301).
    /// Defaults to TLS_AES_128_GCM_SHA256 for 1.3 and
    /// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 for 1.2.
    #[arg(long, value_name = "SUITE")]
    pub tls_cipher: Option<String>,
    /// Mean packets per second, which spaces the capture timestamps.
    #[arg(long, default_value_t = 200_000)]
    pub pps: u64,
}

pub fn ppm(share: f64) -> u32 {
    (share.clamp(0.0, 1.0) * 1_000_000.0).round() as u32
}

impl Params {
    pub fn mix(&self) -> Mix {
        Mix {
            static_ppm: ppm(self.static_share),
            gzip_ppm: ppm(self.gzip_share),
            chunked_ppm: ppm(self.chunked_share),
            error_ppm: ppm(self.error_share),
            request_body: self.request_body,
            response_body: self.response_body,
            static_body: self.static_body,
            gzip_level: self.gzip_level,
        }
    }
}

#[derive(clap::Parser)]
struct Only {
    #[command(flatten)]
    params: Params,
}

impl Default for Params {
    /// The command line's defaults.
    fn default() -> Self {
        <Only as clap::Parser>::parse_from(["loadgen"]).params
    }
}
