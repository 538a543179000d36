//! Shared fixtures for the criterion benchmarks in `benches/benches/`:
//! a deterministic capture from the load generator, held in memory.

use clap::Parser;
use httpcap::frame::{LinkType, Packet};

/// Owned frames of a capture.
pub struct Frames {
    pub frames: Vec<(u64, Vec<u8>)>,
    pub transactions: u64,
    pub bytes: u64,
}

impl Frames {
    pub fn packets(&self) -> impl Iterator<Item = Packet<'_>> {
        self.frames.iter().map(|(ts, d)| Packet {
            ts_ns: *ts,
            link: LinkType::Ethernet,
            data: d,
        })
    }
}

#[derive(Parser)]
struct Gen {
    #[command(flatten)]
    params: httpcap_loadgen::Params,
}

/// Generates `transactions` of realistic API traffic (the load generator's
/// default mix) and returns its frames.
pub fn capture(transactions: u64, extra: &[&str]) -> Frames {
    let n = transactions.to_string();
    let mut args = vec!["gen", "--transactions", &n];
    args.extend_from_slice(extra);
    let gen = Gen::try_parse_from(args).expect("loadgen parameters");
    let mut pcap = Vec::new();
    let truth =
        httpcap_loadgen::generate(&gen.params, &mut pcap, None).expect("generate in memory");
    let mut reader = pcap_file::pcap::PcapReader::new(&pcap[..]).expect("generated pcap");
    let mut frames = Vec::new();
    let mut bytes = 0;
    while let Some(Ok(p)) = reader.next_packet() {
        bytes += p.data.len() as u64;
        frames.push((p.timestamp.as_nanos() as u64, p.data.into_owned()));
    }
    Frames {
        frames,
        transactions: truth.transactions,
        bytes,
    }
}
