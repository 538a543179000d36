//! Test support for the Kafka tests: a real Tansu broker started by
//! tools/kafka/broker.sh on a free loopback port, and the independent
//! confluent-kafka consumer tools/kafka/consume.py.
//!
//! When the broker or the consumer cannot be had, `Broker::start` returns
//! None after printing why, and the test returns early (reported as a skip
//! in its output). .ci/run installs both, so CI never skips.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::record_check;
use super::run::Run;
pub use super::run::{Finished, Running};
pub use super::scratch::Scratch;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// How long a run may take before it counts as hung (not a timing
/// assertion).
pub const RUN_BOUND: Duration = Duration::from_secs(180);

/// The shipped sample capture.
pub fn sample_pcap() -> String {
    super::pcaps::testdata("sample.pcap")
        .to_string_lossy()
        .into_owned()
}

fn script(name: &str) -> PathBuf {
    repo_root().join("tools/kafka").join(name)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Says why a test did not run. Written to the stderr descriptor directly:
/// the test harness captures println!/eprintln! of passing tests, and a
/// skip must be visible in CI's log.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// One broker process on its own port, stopped by PID on drop.
pub struct Broker {
    pub port: u16,
    script: PathBuf,
    /// Command that starts it again after `kill`/`stop`.
    restart_cmd: &'static str,
    /// consume.py flags for authenticating (SCRAM broker).
    auth: Vec<String>,
}

/// SCRAM users created on the SCRAM broker: (name, password, mechanism).
pub const SCRAM_USERS: [(&str, &str, &str); 2] = [
    ("alice", "alice-secret", "SCRAM-SHA-256"),
    ("bob", "bob-secret", "SCRAM-SHA-512"),
];

impl Broker {
    /// A handle for `script_name` on `port`; nothing started yet.
    fn new(script_name: &str, port: u16, restart_cmd: &'static str) -> Broker {
        Broker {
            port,
            script: script(script_name),
            restart_cmd,
            auth: Vec::new(),
        }
    }

    /// Runs the script's `cmd` with `env`; Some(self), or None after
    /// printing why the test is skipped (no consumer, no broker).
    fn launch(self, test: &str, cmd: &str, env: &[(&str, String)]) -> Option<Broker> {
        let ready = consumer_available().and_then(|()| {
            self.script_cmd(cmd, &self.port.to_string(), env)
                .map_err(|why| format!("broker not available: {why}"))
        });
        match ready {
            Ok(_) => Some(self),
            Err(why) => {
                skip(test, &why);
                None
            }
        }
    }

    /// Starts the memory-storage broker, or explains why it cannot.
    pub fn start(test: &str) -> Option<Broker> {
        Broker::start_with(test, "broker.sh", free_port())
    }

    pub fn start_with(test: &str, name: &str, port: u16) -> Option<Broker> {
        Broker::new(name, port, "start").launch(test, "start", &[])
    }

    /// A broker handle for a port where nothing runs yet (started later).
    pub fn not_started(test: &str) -> Option<Broker> {
        Broker::new("broker.sh", free_port(), "start").launch(test, "install", &[])
    }

    /// The sqlite-backed Tansu of scram-broker.sh, built from source: with
    /// SCRAM users and authentication on (`auth`), or open. Waits up to
    /// HTTPCAP_SCRAM_WAIT_SECS for a background build (.ci/run starts one).
    pub fn sqlite(test: &str, auth: bool, topics: &[&str]) -> Option<Broker> {
        if let Err(why) = consumer_available() {
            skip(test, &why);
            return None;
        }
        let mut b = Broker::new("scram-broker.sh", free_port(), "resume");
        let wait = std::env::var("HTTPCAP_SCRAM_WAIT_SECS").unwrap_or_else(|_| "0".into());
        if let Err(why) = b.script_cmd("wait-built", &wait, &[]) {
            skip(
                test,
                &format!(
                    "sqlite/SCRAM Tansu not built ({why}); build it with tools/kafka/scram-broker.sh build"
                ),
            );
            return None;
        }
        let users: Vec<String> = SCRAM_USERS
            .iter()
            .map(|(u, p, m)| {
                let m = if *m == "SCRAM-SHA-256" {
                    "scram256"
                } else {
                    "scram512"
                };
                format!("{u}:{p}:{m}")
            })
            .collect();
        let env = [
            ("HTTPCAP_SCRAM_USERS", users.join(" ")),
            ("HTTPCAP_SCRAM_TOPICS", topics.join(" ")),
        ];
        // Built, so it must start: a failure here is a failure, not a skip.
        let port = b.port.to_string();
        if let Err(why) = b.script_cmd(if auth { "start" } else { "open" }, &port, &env) {
            panic!("{why}");
        }
        if auth {
            let (u, p, m) = SCRAM_USERS[0];
            b.auth = ["--username", u, "--password", p, "--mechanism", m]
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        Some(b)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn run(&self, cmd: &str) -> Result<Output, String> {
        self.script_cmd(cmd, &self.port.to_string(), &[])
    }

    /// `bash <script> <cmd> <arg>` with `env`; Ok(output) or Err(why).
    fn script_cmd(&self, cmd: &str, arg: &str, env: &[(&str, String)]) -> Result<Output, String> {
        let out = Command::new("bash")
            .arg(&self.script)
            .args([cmd, arg])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.script.display()))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "{} {cmd} failed: {}",
                self.script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    pub fn restart(&self) {
        self.run(self.restart_cmd).expect("broker start");
    }

    pub fn kill(&self) {
        self.run("kill").expect("broker kill");
    }

    pub fn stop(&self) {
        self.run("stop").expect("broker stop");
    }

    pub fn create_topic(&self, topic: &str, partitions: u32) {
        consume(&[
            "create",
            "--bootstrap",
            &self.addr(),
            "--topic",
            topic,
            "--partitions",
            &partitions.to_string(),
        ])
        .expect("create topic");
    }

    /// Every message value in the topic, one String per message.
    pub fn read(&self, topic: &str) -> Vec<String> {
        let addr = self.addr();
        let mut args = vec!["read", "--bootstrap", &addr, "--topic", topic];
        args.extend(self.auth.iter().map(String::as_str));
        let out = consume(&args).expect("read topic");
        out.lines().map(checked).collect()
    }

    /// Every message as (key, value), reading until at least `expected`
    /// arrived or the consumer's bound ran out. A short read fails the
    /// caller's comparison with the consumer's diagnostics (offsets reached
    /// per partition) printed, so a slow broker can be told from a lossy one.
    pub fn read_expecting(&self, topic: &str, expected: usize) -> Vec<(String, String)> {
        let expect = expected.to_string();
        let got = self.read_keyed_with(topic, &["--expect", &expect]);
        if got.len() < expected {
            eprintln!(
                "short read of {topic}: {} of {expected} records; consumer: {}",
                got.len(),
                consume_diagnostics(&["count", "--bootstrap", &self.addr(), "--topic", topic])
                    .trim()
            );
        }
        got
    }

    /// Every message with its metadata, as consume.py --meta prints it:
    /// `key`, `timestamp_ms`, `timestamp_type`, `headers` (an object) and
    /// `value`; reads until at least `expected` arrived.
    pub fn read_meta(&self, topic: &str, expected: usize) -> Vec<serde_json::Value> {
        let addr = self.addr();
        let expect = expected.to_string();
        let mut args = vec![
            "read",
            "--meta",
            "--bootstrap",
            &addr,
            "--topic",
            topic,
            "--expect",
            &expect,
        ];
        args.extend(self.auth.iter().map(String::as_str));
        let out = consume(&args).expect("read topic");
        out.lines()
            .map(|l| serde_json::from_str(l).expect("consume.py --meta line"))
            .collect()
    }

    /// Every message as (key, value), once the topic holds some and has
    /// stopped growing (waiting at most `bound`), so that a test does not
    /// act on a request in flight.
    pub fn settled(&self, topic: &str, bound: Duration) -> Vec<(String, String)> {
        let start = std::time::Instant::now();
        let mut last = Vec::new();
        while start.elapsed() < bound {
            let now = self.read_keyed(topic);
            if !now.is_empty() && now.len() == last.len() {
                return now;
            }
            last = now;
            std::thread::sleep(Duration::from_millis(500));
        }
        last
    }

    /// Every message as (key, value).
    pub fn read_keyed(&self, topic: &str) -> Vec<(String, String)> {
        self.read_keyed_with(topic, &[])
    }

    fn read_keyed_with(&self, topic: &str, extra: &[&str]) -> Vec<(String, String)> {
        let addr = self.addr();
        let mut args = vec!["read", "--keys", "--bootstrap", &addr, "--topic", topic];
        args.extend_from_slice(extra);
        args.extend(self.auth.iter().map(String::as_str));
        let out = consume(&args).expect("read topic");
        out.lines()
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap_or(("", l));
                (k.to_string(), checked(v))
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Stop it and remove its log and data: ports are fresh every run.
        let _ = self.run("purge");
    }
}

fn consumer_available() -> Result<(), String> {
    let ok = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err("python3 module confluent_kafka missing (pip install confluent-kafka)".into())
    }
}

/// Runs consume.py; Ok(stdout) or Err(stderr).
pub fn consume(args: &[&str]) -> Result<String, String> {
    let out = Command::new("python3")
        .arg(script("consume.py"))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

// ---- Running the real binary ---------------------------------------------

/// Writes a loadgen capture; `args` are loadgen flags such as
/// `--transactions=200`.
pub fn gen_pcap(path: &str, args: &[&str]) {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        p: httpcap_loadgen::Params,
    }
    let mut argv = vec!["loadgen"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("loadgen params");
    let f = std::io::BufWriter::new(std::fs::File::create(path).expect("create pcap"));
    httpcap_loadgen::generate(&cli.p, f, None).expect("generate");
}

/// Base environment: file input, JSON lines to `jsonl`, Kafka to `addr`.
pub fn base_env(pcap: &str, jsonl: &str, addr: &str, topic: &str) -> Vec<(String, String)> {
    [
        ("INPUT_RAW_ENGINE", "pcap_file"),
        ("INPUT_RAW", pcap),
        ("OUTPUT_FILE", jsonl),
        ("OUTPUT_KAFKA_HOST", addr),
        ("OUTPUT_KAFKA_TOPIC", topic),
        ("PROCESSING_WORKERS", "2"),
        ("METRICS_INTERVAL", "1h"),
        ("VERBOSE", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn set(env: &mut Vec<(String, String)>, k: &str, v: &str) {
    env.retain(|(n, _)| n != k);
    env.push((k.into(), v.into()));
}

/// httpcap configured by `env` alone, records read back from where the
/// settings send them (see `read_lines`).
pub fn spawn(env: &[(String, String)]) -> Running {
    Run::new()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .records_elsewhere()
        .spawn()
}

/// The same, run to its end within `bound` (a hang is a failure).
pub fn run(env: &[(String, String)], bound: Duration) -> Finished {
    spawn(env).wait(bound)
}

/// The JSON-lines output, one String per record, each checked against
/// the record schema.
pub fn read_lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read JSON lines")
        .lines()
        .map(|l| {
            record_check::parse(l);
            l.to_string()
        })
        .collect()
}

/// A run's JSON lines (checked), after asserting that it exited 0 and
/// delivered each one to Kafka.
pub fn delivered_lines(done: &Finished, jsonl: &str, what: &str) -> Vec<String> {
    assert_eq!(done.code, Some(0), "{what}: {}", done.stderr);
    let lines = read_lines(jsonl);
    assert_eq!(
        done.counter("kafka_delivered"),
        lines.len() as u64,
        "{what}: delivered"
    );
    lines
}

/// A message value read from a topic. Values that are records (httpcap
/// writes nothing else; producer tests send their own payloads) are
/// checked against the record schema.
fn checked(value: &str) -> String {
    if value.starts_with("{\"id\"") {
        record_check::parse(value);
    }
    value.to_string()
}

/// consume.py's diagnostics (stderr) for a failure message.
pub fn consume_diagnostics(args: &[&str]) -> String {
    Command::new("python3")
        .arg(script("consume.py"))
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default()
}

/// A run fed through a FIFO, so it goes on (like a live link) while the
/// test takes the broker away: a generated capture of 3000 transactions
/// over 16 connections, its first half already sent.
pub struct HalfFed {
    running: Running,
    input: Option<std::fs::File>,
    rest: Vec<u8>,
    jsonl: String,
}

/// Starts httpcap on a FIFO in `dir` (Kafka to `addr`/`topic`, JSON lines
/// beside, a 120 s shutdown timeout, `extra` settings) and sends the first
/// half of the capture.
pub fn half_fed(dir: &Scratch, addr: &str, topic: &str, extra: &[(&str, &str)]) -> HalfFed {
    let pcap = dir.path("api.pcap");
    gen_pcap(
        &pcap,
        &["--transactions=3000", "--concurrency=16", "--seed=11"],
    );
    let bytes = std::fs::read(&pcap).unwrap();
    let (first, rest) = split_pcap(&bytes, 0.5);
    let fifo = dir.fifo("input.pcap");
    let jsonl = dir.path("out.jsonl");
    let mut env = base_env(&fifo, &jsonl, addr, topic);
    set(&mut env, "OUTPUT_KAFKA_SHUTDOWN_TIMEOUT", "120s");
    for (k, v) in extra {
        set(&mut env, k, v);
    }
    let running = spawn(&env);
    let mut input = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    input.write_all(first).unwrap();
    input.flush().unwrap();
    HalfFed {
        running,
        input: Some(input),
        rest: rest.to_vec(),
        jsonl,
    }
}

impl HalfFed {
    /// Sends the second half and ends the input, then waits until httpcap
    /// says the brokers are unreachable (the test has taken them away).
    pub fn feed_rest_into_outage(&mut self) {
        let mut input = self.input.take().expect("input still open");
        input.write_all(&self.rest).unwrap();
        drop(input);
        assert!(
            self.running
                .wait_for_line("brokers unreachable", Duration::from_secs(60)),
            "the outage was not noticed"
        );
    }

    /// Its end (exit 0 required) and its JSON lines.
    pub fn finish(self) -> (Finished, Vec<String>) {
        let done = self.running.wait(RUN_BOUND);
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        let lines = read_lines(&self.jsonl);
        (done, lines)
    }
}

// ---- Comparing the topic with the JSON lines -------------------------------

/// Same records, each once, and every key is the record's connection with
/// that connection's records in order.
pub fn assert_same_records(keyed: &[(String, String)], jsonl: &[String], what: &str) {
    assert!(!jsonl.is_empty(), "{what}: the run produced no records");
    let values: Vec<&String> = keyed.iter().map(|(_, v)| v).collect();
    let unique: HashSet<&String> = values.iter().copied().collect();
    assert_eq!(
        unique.len(),
        values.len(),
        "{what}: duplicates in the topic"
    );
    assert_eq!(values.len(), jsonl.len(), "{what}: record count differs");
    let mut a: Vec<&String> = values.clone();
    let mut b: Vec<&String> = jsonl.iter().collect();
    a.sort();
    b.sort();
    assert!(a == b, "{what}: topic content differs from the JSON lines");

    let mut last_seq: HashMap<&str, u64> = HashMap::new();
    for (key, value) in keyed {
        let rec = record_check::parse(value);
        let id = rec["id"].as_str().expect("id");
        let (conn, seq) = id.rsplit_once('-').expect("id form");
        assert_eq!(conn, key, "{what}: key is not the record's connection");
        let seq: u64 = seq.parse().expect("seq");
        if let Some(prev) = last_seq.insert(key, seq) {
            assert!(seq > prev, "{what}: connection {key} out of order");
        }
    }
}

/// The pcap's packet records (16-byte record header and data each), after
/// the 24-byte file header.
pub fn pcap_records(bytes: &[u8]) -> Vec<&[u8]> {
    let mut records = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap()) as usize;
        records.push(&bytes[i..i + 16 + incl]);
        i += 16 + incl;
    }
    records
}

/// A copy of a pcap record with its capture time moved `secs` later.
pub fn shifted_record(record: &[u8], secs: u32) -> Vec<u8> {
    let mut r = record.to_vec();
    let ts = u32::from_le_bytes(r[0..4].try_into().unwrap()) + secs;
    r[0..4].copy_from_slice(&ts.to_le_bytes());
    r
}

/// Pcap bytes split after the `at`-th fraction of its packets.
pub fn split_pcap(bytes: &[u8], at: f64) -> (&[u8], &[u8]) {
    let mut offsets = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        offsets.push(i);
        let incl = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap()) as usize;
        i += 16 + incl;
    }
    let cut = offsets[(offsets.len() as f64 * at) as usize];
    bytes.split_at(cut)
}

// ---- A broker whose port goes away and comes back --------------------------

/// A TCP forwarder on a loopback port in front of a broker that
/// advertises that port, so every client connection passes through it.
/// `cut` closes the port and every connection (clients see connection
/// refused, like a stopped broker) while the broker keeps its data and its
/// idempotent-producer state; `resume` opens the port again.
pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    running: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn new(port: u16, target_port: u16) -> Proxy {
        let mut p = Proxy {
            port,
            target: SocketAddr::from(([127, 0, 0, 1], target_port)),
            running: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
            acceptor: None,
        };
        p.resume();
        p
    }

    pub fn resume(&mut self) {
        if self.acceptor.is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("proxy bind");
        listener.set_nonblocking(true).unwrap();
        self.running.store(true, Ordering::SeqCst);
        let (running, conns, target) = (self.running.clone(), self.conns.clone(), self.target);
        self.acceptor = Some(std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut list = conns.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                drop(list);
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        }));
    }

    pub fn cut(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

impl Broker {
    /// A memory broker that advertises a proxy's port, and that proxy.
    pub fn behind_proxy(test: &str) -> Option<(Broker, Proxy)> {
        let proxy_port = free_port();
        let env = [("HTTPCAP_KAFKA_ADVERTISED_PORT", proxy_port.to_string())];
        let b = Broker::new("broker.sh", free_port(), "start").launch(test, "start", &env)?;
        let proxy = Proxy::new(proxy_port, b.port);
        Some((b, proxy))
    }
}
