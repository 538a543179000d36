//! What the three oracle comparisons share: finding the corpus, running
//! the real binary on a capture, and the committed scoreboards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn corpus() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HTTPCAP_PCAPS").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps")),
        Some(PathBuf::from("/work/shared/pcaps")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

/// One run of httpcap over a capture: its records as JSON values.
pub struct Run {
    pub values: Vec<serde_json::Value>,
    pub stderr: String,
}

pub fn run_engine(capture: &Path) -> Result<Run, String> {
    let bin = env!("CARGO_BIN_EXE_httpcap");
    let ipip = capture.components().any(|c| c.as_os_str() == "tunnels");
    let mut child = Command::new(bin)
        .args(["--input-raw-engine", "pcap_file", "--input-raw"])
        .arg(capture)
        .args(["--input-raw-bpf-filter", "", "--processing-workers", "2"])
        .args(["--metrics-output", "none"])
        .env("IPIP", if ipip { "true" } else { "false" })
        .env("FILTER_BLOCK_EXTS", "")
        .env("FILTER_BLOCK_CTYPES", "")
        .env("FILTER_BLOCK_ACCEPT", "")
        .env("FILTER_BLOCK_MULTIPART", "")
        .env_remove("OUTPUT_KAFKA_HOST")
        .env_remove("OUTPUT_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn httpcap");
    // A hang guard, not a timing assertion: a stalled engine must not
    // stall CI.
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_t = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{}: httpcap did not finish", capture.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_t.join().unwrap();
    let stderr = err_t.join().unwrap();
    if !status.success() {
        let last = stderr.lines().last().unwrap_or("").to_string();
        return Err(format!("httpcap failed ({status}): {last}"));
    }
    let mut values = Vec::new();
    for l in out.lines().filter(|l| !l.trim().is_empty()) {
        values.push(crate::record_check::parse(l));
    }
    Ok(Run { values, stderr })
}

#[derive(Clone, Debug, Default)]
pub struct Score {
    pub expected: usize,
    pub matched: usize,
    pub missing: usize,
    pub extra: usize,
    pub reason: String,
}

fn read_scoreboard(path: &Path) -> BTreeMap<String, Score> {
    let mut m = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return m;
    };
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let c: Vec<&str> = line.splitn(6, '\t').collect();
        if c.len() < 5 {
            continue;
        }
        let n = |i: usize| c[i].trim().parse().unwrap_or(0);
        m.insert(
            c[0].to_string(),
            Score {
                expected: n(1),
                matched: n(2),
                missing: n(3),
                extra: n(4),
                reason: c.get(5).unwrap_or(&"").to_string(),
            },
        );
    }
    m
}

/// A capture's score may not fall below the committed one: fewer matches
/// or more extras than before is a failure, and so is a capture missing
/// from the scoreboard.
fn check_score(
    committed: &BTreeMap<String, Score>,
    name: &str,
    score: &Score,
    failures: &mut Vec<String>,
) {
    match committed.get(name) {
        Some(c) if score.matched < c.matched || score.extra > c.extra => failures.push(format!(
            "{name}: matched {} (was {}), extra {} (was {})",
            score.matched, c.matched, score.extra, c.extra
        )),
        Some(_) => {}
        None => failures.push(format!("{name}: not in the scoreboard")),
    }
}

fn write_scoreboard(path: &Path, title: &str, rows: &BTreeMap<String, Score>) {
    let mut s = format!(
        "# {title}\n\
         # Written by tests/conformance.rs with HTTPCAP_UPDATE_SCOREBOARD=1;\n\
         # the reason column is kept by hand.\n\
         # oracle\texpected\tmatched\tmissing\textra\treason\n",
    );
    for (name, r) in rows {
        s.push_str(&format!(
            "{name}\t{}\t{}\t{}\t{}\t{}\n",
            r.expected, r.matched, r.missing, r.extra, r.reason
        ));
    }
    std::fs::write(path, s).expect("write scoreboard");
}

/// One scoreboard being scored: the committed rows, this run's rows and
/// the oracles that fell below the board.
pub struct Board {
    path: PathBuf,
    committed: BTreeMap<String, Score>,
    pub now: BTreeMap<String, Score>,
    failures: Vec<String>,
}

impl Board {
    /// The corpus root and the board at `rel` (relative to the engine
    /// crate); None, after printing SKIPPED, when the corpus is absent.
    pub fn open(rel: &str) -> Option<(PathBuf, Board)> {
        let Some(root) = corpus() else {
            println!("SKIPPED: shared pcap corpus absent (set HTTPCAP_PCAPS)");
            return None;
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        let committed = read_scoreboard(&path);
        let board = Board {
            path,
            committed,
            now: BTreeMap::new(),
            failures: Vec::new(),
        };
        Some((root, board))
    }

    /// Records one oracle's score (keeping the committed reason) and
    /// checks it against the board.
    pub fn score(
        &mut self,
        name: String,
        expected: usize,
        matched: usize,
        missing: usize,
        extra: usize,
    ) {
        let reason = self
            .committed
            .get(&name)
            .map(|s| s.reason.clone())
            .unwrap_or_default();
        let score = Score {
            expected,
            matched,
            missing,
            extra,
            reason,
        };
        check_score(&self.committed, &name, &score, &mut self.failures);
        self.now.insert(name, score);
    }

    /// Ends the test: with `HTTPCAP_UPDATE_SCOREBOARD` set, rewrites the
    /// board from this run; otherwise fails on any score below it.
    pub fn settle(self, title: &str) {
        if std::env::var_os("HTTPCAP_UPDATE_SCOREBOARD").is_some() {
            write_scoreboard(&self.path, title, &self.now);
            return;
        }
        let board = self.path.file_name().unwrap_or_default().to_string_lossy();
        assert!(
            self.failures.is_empty(),
            "below the committed scoreboard {board}:\n{}",
            self.failures.join("\n")
        );
    }
}

pub fn truncate(s: &str) -> String {
    if s.len() > 160 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(160).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s.to_string()
    }
}
