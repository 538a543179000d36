//! `httpcap-loadgen -o FILE.pcap [options]`: writes the capture and
//! FILE.pcap.truth.json next to it (and with --tls, the key log).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use httpcap_loadgen::{generate_with_keylog, Params};

#[derive(Parser)]
#[command(
    name = "httpcap-loadgen",
    version,
    about = "Writes deterministic pcaps of HTTP/1.1 or HTTP/2 API traffic, in the clear or in TLS with a key log, with ground truth"
)]
struct Cli {
    /// Capture to write; the truth goes to <output>.truth.json.
    #[arg(short, long)]
    output: PathBuf,
    /// Also write one JSON line per transaction (method, path, status...) here.
    #[arg(long)]
    truth_lines: Option<PathBuf>,
    /// With --tls: the NSS key log to write (default <output>.keys).
    #[arg(long)]
    keylog: Option<PathBuf>,
    #[command(flatten)]
    params: Params,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("httpcap-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> std::io::Result<()> {
    let started = Instant::now();
    let out = BufWriter::with_capacity(1 << 20, File::create(&cli.output)?);
    let mut lines = match &cli.truth_lines {
        Some(path) => Some(BufWriter::with_capacity(1 << 20, File::create(path)?)),
        None => None,
    };
    let mut keylog: Box<dyn Write> = match (&cli.params.tls, &cli.keylog) {
        (None, _) => Box::new(std::io::sink()),
        (Some(_), Some(path)) => Box::new(BufWriter::new(File::create(path)?)),
        (Some(_), None) => {
            let mut path = cli.output.clone().into_os_string();
            path.push(".keys");
            Box::new(BufWriter::new(File::create(path)?))
        }
    };
    let truth = generate_with_keylog(
        &cli.params,
        out,
        lines.as_mut().map(|w| w as &mut dyn Write),
        &mut keylog,
    )?;
    if let Some(mut w) = lines {
        w.flush()?;
    }
    keylog.flush()?;
    let mut truth_path = cli.output.clone().into_os_string();
    truth_path.push(".truth.json");
    truth.write_json(BufWriter::new(File::create(&truth_path)?))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "httpcap-loadgen: {} transactions, {} connections, {} packets, {:.1} MB in {:.1}s ({:.0} tx/s)",
        truth.transactions,
        truth.connections,
        truth.packets,
        truth.bytes as f64 / 1e6,
        secs,
        truth.transactions as f64 / secs
    );
    Ok(())
}
