//! The one way tests start the httpcap binary. `Run` says how: input,
//! namespace or wrapper, settings, where records and stderr go. `spawn`
//! gives a `Running` process; `output` (or `Running::wait`) a `Finished`
//! one: exit status, stdout, records (each through `record_check`),
//! stderr, summary counters and peak RSS.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::load::{self, Kind, Pass};
use super::record_check;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_httpcap");

/// Environment that turns the content filters off, so every exchange is
/// recorded.
pub const NO_FILTERS: &[(&str, &str)] = &[
    ("FILTER_BLOCK_EXTS", ""),
    ("FILTER_BLOCK_CTYPES", ""),
    ("FILTER_BLOCK_ACCEPT", ""),
    ("FILTER_BLOCK_MULTIPART", ""),
];

/// GNU time, which measures a run's peak RSS: the kernel's figure for a
/// process counts the memory of the process that started it (exec keeps
/// the old address space's high-water mark), and the test process is
/// large; GNU time forks the binary from its own small process.
const GNU_TIME: &str = "/usr/bin/time";

/// Marks GNU time's line in stderr.
const PEAK_RSS_MARK: &str = "peak-rss-kib-by-gnu-time=";

/// How long `output` lets a run take before calling it hung: a guard
/// against stalling CI, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(1200);

/// Where a run's records are read from.
#[derive(Clone)]
enum Records {
    /// None expected: stdout is kept as text (help, check-config, ...).
    None,
    /// JSON lines on stdout.
    Stdout,
    /// JSON lines in a file (`--output-file`).
    File(PathBuf),
}

/// How to run httpcap once.
pub struct Run {
    /// Commands the binary runs under (`ip netns exec ns`, `setpriv ...`).
    prefix: Vec<OsString>,
    args: Vec<OsString>,
    /// In order; `None` removes a variable.
    env: Vec<(OsString, Option<OsString>)>,
    clear_env: bool,
    records: Records,
    /// Only records this keeps are held (all are checked).
    keep: fn(&Value) -> bool,
    stderr_file: Option<PathBuf>,
    measure_rss: bool,
    /// Its own process group, signalled as a whole (a wrapper such as
    /// `unshare --fork` does not pass signals on).
    own_group: bool,
}

impl Default for Run {
    fn default() -> Run {
        Run::new()
    }
}

impl Run {
    /// The binary alone, in the test's environment minus any `INPUT_*` or
    /// `OUTPUT_*` variable: a test sees only the settings it gives.
    pub fn new() -> Run {
        let mut run = Run {
            prefix: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            clear_env: false,
            records: Records::None,
            keep: |_| true,
            stderr_file: None,
            measure_rss: false,
            own_group: false,
        };
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("OUTPUT_") || name.starts_with("INPUT_") {
                run.env.push((k, None));
            }
        }
        run
    }

    /// A capture file as input, content filters off, records on stdout.
    pub fn file(capture: impl AsRef<OsStr>) -> Run {
        let mut run = Run::new()
            .args(["--input-raw-engine", "pcap_file", "--input-raw"])
            .arg(capture)
            .envs(NO_FILTERS.iter().copied());
        run.records = Records::Stdout;
        run
    }

    /// Inside network namespace `ns` (`ip netns exec`).
    pub fn in_netns(mut self, ns: &str) -> Run {
        let mut prefix: Vec<OsString> = ["ip", "netns", "exec", ns].map(OsString::from).into();
        prefix.append(&mut self.prefix);
        self.prefix = prefix;
        self
    }

    /// Under a wrapper command given as one whitespace-separated line
    /// (`setpriv --inh-caps=-net_raw`); nested inside any namespace.
    pub fn wrapped(mut self, wrapper: &str) -> Run {
        self.prefix
            .extend(wrapper.split_whitespace().map(OsString::from));
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Run {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn envs<I, K, V>(self, vars: I) -> Run
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        vars.into_iter().fold(self, |run, (k, v)| run.env(k, v))
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Run {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Nothing from the test's environment, only what is set here.
    pub fn env_clear(mut self) -> Run {
        self.clear_env = true;
        self.env.retain(|(_, v)| v.is_some());
        self
    }

    /// The content filters at their defaults (`file` turns them off).
    pub fn default_filters(self) -> Run {
        NO_FILTERS
            .iter()
            .fold(self, |run, (k, _)| run.env_remove(k))
    }

    /// `PROCESSING_WORKERS`.
    pub fn shards(self, n: usize) -> Run {
        self.arg("--processing-workers").arg(n.to_string())
    }

    /// No periodic metrics line or endpoint.
    pub fn no_metrics(self) -> Run {
        self.args(["--metrics-output", "none"])
    }

    /// Records to Kafka at `addr`, topic `topic`.
    pub fn kafka(self, addr: &str, topic: &str) -> Run {
        self.env("OUTPUT_KAFKA_HOST", addr)
            .env("OUTPUT_KAFKA_TOPIC", topic)
    }

    /// Records as JSON lines to `path`, read from there when it ends.
    pub fn output_file(mut self, path: impl AsRef<Path>) -> Run {
        let path = path.as_ref().to_path_buf();
        self = self.arg("--output-file").arg(&path);
        self.records = Records::File(path);
        self
    }

    /// Records go where the settings say (Kafka, a file in the
    /// environment); none are read back here.
    pub fn records_elsewhere(mut self) -> Run {
        self.records = Records::None;
        self
    }

    /// Holds only the records `keep` accepts (each one is still checked):
    /// for runs with more records than the test needs in memory.
    pub fn keep_records(mut self, keep: fn(&Value) -> bool) -> Run {
        self.keep = keep;
        self
    }

    /// Measures its peak RSS (`Finished::peak_rss_kib`) with GNU time, when
    /// `peak_rss_measurable` says it can be.
    pub fn measure_peak_rss(mut self) -> Run {
        self.measure_rss = peak_rss_measurable();
        self
    }

    /// Stderr to `path` (read back when it ends) instead of a pipe.
    /// In a process group of its own, which signals go to.
    pub fn signal_group(mut self) -> Run {
        self.own_group = true;
        self
    }

    pub fn stderr_to(mut self, path: impl AsRef<Path>) -> Run {
        self.stderr_file = Some(path.as_ref().to_path_buf());
        self
    }

    fn command(&self) -> Command {
        let mut argv = self.prefix.clone();
        if self.measure_rss {
            // Innermost, so that what it forks is the binary itself.
            argv.extend([GNU_TIME, "-f", &format!("{PEAK_RSS_MARK}%M"), "--"].map(OsString::from));
        }
        argv.push(BIN.into());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        if self.measure_rss || self.own_group {
            // GNU time does not pass signals on: they go to the group.
            cmd.process_group(0);
        }
        if self.clear_env {
            cmd.env_clear();
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.args(&self.args).stdin(Stdio::null());
        cmd
    }

    /// Starts it, once no load-sensitive live test is running.
    pub fn spawn(self) -> Running {
        let pass = load::enter(Kind::Offline);
        let mut cmd = self.command();
        cmd.stdout(match self.records {
            Records::File(_) => Stdio::null(),
            _ => Stdio::piped(),
        });
        match &self.stderr_file {
            Some(p) => cmd.stderr(std::fs::File::create(p).expect("stderr file")),
            None => cmd.stderr(Stdio::piped()),
        };
        let mut child = cmd.spawn().expect("start httpcap");
        let stdout = child
            .stdout
            .take()
            .map(|s| std::thread::spawn(move || std::io::read_to_string(s).unwrap_or_default()));
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = child.stderr.take().map(|err| {
            let sink = stderr_lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            })
        });
        Running {
            child,
            group: self.measure_rss || self.own_group,
            pass: Some(pass),
            stdout,
            stderr_lines,
            stderr_reader,
            stderr_file: self.stderr_file,
            records: self.records,
            keep: self.keep,
        }
    }

    /// Runs it to its end.
    pub fn output(self) -> Finished {
        self.spawn().wait(HANG_GUARD)
    }
}

/// A started httpcap. Killed and reaped on drop if still running.
pub struct Running {
    child: Child,
    /// Whether signals go to its process group (under GNU time).
    group: bool,
    /// Released when it has ended.
    pass: Option<Pass>,
    stdout: Option<JoinHandle<String>>,
    stderr_lines: Arc<Mutex<Vec<String>>>,
    stderr_reader: Option<JoinHandle<()>>,
    stderr_file: Option<PathBuf>,
    records: Records,
    keep: fn(&Value) -> bool,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has a stderr line containing `needle` yet.
    pub fn stderr_has(&self, needle: &str) -> bool {
        match &self.stderr_file {
            Some(p) => std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle)),
            None => self
                .stderr_lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle)),
        }
    }

    /// Waits (bounded, only against hangs) for a stderr line containing
    /// `needle`; false when the bound passed first.
    pub fn wait_for_line(&self, needle: &str, bound: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < bound {
            if self.stderr_has(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn signal(&mut self, sig: i32) {
        if self.exited() {
            return; // reaped: its pid may belong to another process now
        }
        let pid = self.child.id() as libc::pid_t;
        let target = if self.group { -pid } else { pid };
        // SAFETY: kill(2) on our own child (or its process group), not yet
        // reaped.
        unsafe {
            libc::kill(target, sig);
        }
    }

    /// SIGINT, then its end.
    pub fn stop(mut self) -> Finished {
        self.signal(libc::SIGINT);
        self.wait(HANG_GUARD)
    }

    /// SIGKILL: no clean-up of any kind.
    pub fn kill(mut self) -> Finished {
        self.signal(libc::SIGKILL);
        self.wait(HANG_GUARD)
    }

    /// Waits for its end; kills it and fails if `bound` passes first (a
    /// hang is a failure, not a timing result).
    pub fn wait(mut self, bound: Duration) -> Finished {
        let reaped = self.reap(Instant::now() + bound);
        if reaped.is_none() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
        let stdout = self
            .stdout
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default();
        if let Some(r) = self.stderr_reader.take() {
            let _ = r.join();
        }
        self.pass = None;
        let mut stderr = match &self.stderr_file {
            Some(p) => std::fs::read_to_string(p).unwrap_or_default(),
            None => self.stderr_lines.lock().unwrap().join("\n"),
        };
        let peak_rss_kib = take_peak_rss(&mut stderr);
        let Some(status) = reaped else {
            panic!("httpcap did not exit within {bound:?}:\n{stderr}");
        };
        let records = match &self.records {
            Records::None => Vec::new(),
            Records::Stdout => kept_records(stdout.as_bytes(), self.keep),
            Records::File(p) => match std::fs::File::open(p) {
                Ok(f) => kept_records(BufReader::new(f), self.keep),
                Err(_) => Vec::new(),
            },
        };
        Finished {
            code: status.code(),
            status,
            stdout,
            records,
            stderr,
            peak_rss_kib,
        }
    }

    /// Its exit status; None if it is still running at `deadline`.
    fn reap(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for httpcap") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Every record line of `text`, checked; those `keep` accepts.
fn kept_records(text: impl BufRead, keep: fn(&Value) -> bool) -> Vec<Value> {
    text.lines()
        .map(|l| l.expect("read records"))
        .filter(|l| !l.trim().is_empty())
        .map(|l| record_check::parse(&l))
        .filter(keep)
        .collect()
}

/// Whether GNU time is there to measure peak RSS; prints why not.
pub fn peak_rss_measurable() -> bool {
    let there = Path::new(GNU_TIME).exists();
    if !there {
        println!(
            "SKIPPED: peak RSS not measured: {GNU_TIME} absent (package time, tools/setup.sh)"
        );
    }
    there
}

/// Removes GNU time's line from `stderr`; its figure (KiB).
fn take_peak_rss(stderr: &mut String) -> Option<u64> {
    let at = stderr.rfind(PEAK_RSS_MARK)?;
    let line_end = stderr[at..].find('\n').map_or(stderr.len(), |e| at + e);
    let kib = stderr[at + PEAK_RSS_MARK.len()..line_end]
        .trim()
        .parse()
        .ok();
    let line_start = stderr[..at].rfind('\n').map_or(0, |s| s);
    stderr.replace_range(line_start..line_end, "");
    kib
}

/// What a finished run left behind.
pub struct Finished {
    pub status: ExitStatus,
    /// The exit code; None when a signal ended it.
    pub code: Option<i32>,
    /// Stdout as text (empty when records went to a file).
    pub stdout: String,
    /// Its records, each checked by `record_check`.
    pub records: Vec<Value>,
    pub stderr: String,
    /// Peak resident memory (KiB), when measured (`measure_peak_rss`).
    pub peak_rss_kib: Option<u64>,
}

impl Finished {
    /// Fails, showing stderr, unless it exited 0.
    pub fn assert_success(&self) -> &Finished {
        assert!(
            self.status.success(),
            "httpcap failed ({}):\n{}",
            self.status,
            self.stderr
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> bool {
        self.stderr.contains(needle)
    }

    /// Every `name=value` line of stderr with a number for a value (the
    /// end-of-run summary's counters).
    /// Prints, for the test's output, the number of records and the
    /// summary's counters.
    pub fn note(&self, test: &str) {
        let counters: Vec<String> = self
            .summary()
            .into_iter()
            .filter(|(k, _)| !k.contains(' '))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        eprintln!(
            "{test}: {} records; {}",
            self.records.len(),
            counters.join(" ")
        );
    }

    pub fn summary(&self) -> BTreeMap<String, u64> {
        self.stderr
            .lines()
            .filter_map(|l| {
                let (k, v) = l.trim().split_once('=')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    }

    /// A counter from the summary, which omits zero counters.
    pub fn counter(&self, name: &str) -> u64 {
        assert!(
            self.stderr.contains("httpcap summary"),
            "no summary in:\n{}",
            self.stderr
        );
        self.summary().get(name).copied().unwrap_or(0)
    }

    /// Packets per shard, from the summary.
    pub fn per_shard_packets(&self) -> Vec<u64> {
        let line = self
            .stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("per_shard_packets="))
            .expect("per_shard_packets in summary");
        line.trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    }
}
