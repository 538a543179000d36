//! What the three oracle comparisons share: finding the corpus, running
//! the real binary on a capture, and the committed scoreboards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::pcaps::corpus;

/// One run of httpcap over a capture: its records as JSON values.
pub struct Run {
    pub values: Vec<serde_json::Value>,
    pub stderr: String,
}

/// httpcap on `capture` with two shards, no capture filter and the content
/// filters off (IPIP on for the tunnel captures); Err with the last stderr
/// line when it fails.
pub fn run_engine(capture: &Path) -> Result<Run, String> {
    let ipip = capture.components().any(|c| c.as_os_str() == "tunnels");
    // A hang guard, not a timing assertion: a stalled engine must not
    // stall CI.
    let done = crate::common::Run::file(capture)
        .args(["--input-raw-bpf-filter", ""])
        .shards(2)
        .no_metrics()
        .env("IPIP", if ipip { "true" } else { "false" })
        .spawn()
        .wait(Duration::from_secs(120));
    if !done.status.success() {
        let last = done.stderr.lines().last().unwrap_or("");
        return Err(format!("httpcap failed ({}): {last}", done.status));
    }
    Ok(Run {
        values: done.records,
        stderr: done.stderr,
    })
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
