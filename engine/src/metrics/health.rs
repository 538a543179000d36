//! Health: the running process judges itself every METRICS_INTERVAL and
//! writes the verdict to HEALTH_FILE (and serves it at `/health` when the
//! Prometheus listener is on); `httpcap health` reads the file and exits
//! 0 or 1, which is what the compose health check runs.
//!
//! Unhealthy means one of:
//! - `done`: the run has ended (the file keeps its exit status);
//! - `gone`: the process that wrote the file is no longer alive;
//! - `stale`: the status file was not refreshed for 3 intervals (the stats
//!   thread, hence probably the process, is stuck or gone);
//! - `stalled`: live capture and no packet for `stall_after`;
//! - `kafka_unreachable`: Kafka output on, records waiting or failing, and
//!   no delivery acknowledged for `stall_after`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Snapshot;
use crate::config::{Config, Engine};
use crate::stats::{Counter, Gauge};

/// The verdict, as written to the status file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub updated_unix_s: f64,
    pub interval_s: f64,
    /// `ok`, `stalled`, `kafka_unreachable` or `done`.
    pub state: String,
    pub reason: String,
    pub packets: u64,
    pub transactions: u64,
    pub since_last_packet_s: f64,
    pub kafka: bool,
    pub kafka_queue_depth: u64,
    pub since_last_delivery_s: f64,
    pub pid: u32,
    /// The process's exit status, once the run has ended and it is known.
    #[serde(default)]
    pub exit_code: Option<i32>,
}

/// Remembers when things last moved.
pub struct Tracker {
    path: Option<PathBuf>,
    live: bool,
    kafka: bool,
    interval_s: f64,
    stall_after_s: f64,
    packets: u64,
    packets_at: f64,
    delivered: u64,
    failed: u64,
    delivered_at: f64,
}

/// Quiet time after which capture or Kafka counts as stuck.
pub fn stall_after_s(interval_s: f64) -> f64 {
    (6.0 * interval_s).max(60.0)
}

impl Tracker {
    pub fn new(cfg: &Config, live: bool) -> Tracker {
        let now = super::unix_now();
        let interval_s = cfg.metrics_interval.as_secs_f64();
        Tracker {
            path: (!cfg.health_file.is_empty()).then(|| PathBuf::from(&cfg.health_file)),
            live: live && cfg.input_raw_engine != Engine::PcapFile,
            kafka: cfg
                .output_kafka_host
                .as_deref()
                .is_some_and(|h| !h.is_empty()),
            interval_s,
            stall_after_s: stall_after_s(interval_s),
            packets: 0,
            packets_at: now,
            delivered: 0,
            failed: 0,
            delivered_at: now,
        }
    }

    /// Judges a fresh snapshot and refreshes the status file.
    pub fn update(&mut self, snap: &Snapshot) -> Status {
        let now = snap.unix_s;
        let packets = snap.counter(Counter::Packets);
        if packets != self.packets {
            self.packets = packets;
            self.packets_at = now;
        }
        let delivered = snap.counter(Counter::KafkaDelivered);
        let failed = snap.counter(Counter::KafkaFailed);
        let depth = snap.gauge(Gauge::KafkaQueueDepth);
        let waiting = depth > 0 || failed != self.failed;
        if delivered != self.delivered || !waiting {
            // Progress, or nothing to deliver: Kafka is not holding us up.
            self.delivered_at = now;
        }
        self.delivered = delivered;
        self.failed = failed;
        let since_packet = now - self.packets_at;
        let since_delivery = now - self.delivered_at;
        let (state, reason) = if snap.done {
            ("done", "the run has ended".to_string())
        } else if self.live && since_packet >= self.stall_after_s {
            (
                "stalled",
                format!("no packet captured for {since_packet:.0}s"),
            )
        } else if self.kafka && since_delivery >= self.stall_after_s {
            (
                "kafka_unreachable",
                format!(
                    "no Kafka delivery for {since_delivery:.0}s with {depth} records queued and {failed} failed"
                ),
            )
        } else {
            ("ok", String::new())
        };
        let status = Status {
            updated_unix_s: now,
            interval_s: self.interval_s,
            state: state.into(),
            reason,
            packets,
            transactions: snap.counter(Counter::Transactions),
            since_last_packet_s: since_packet,
            kafka: self.kafka,
            kafka_queue_depth: depth,
            since_last_delivery_s: since_delivery,
            pid: std::process::id(),
            exit_code: None,
        };
        if let Some(p) = &self.path {
            if let Err(e) = write_atomically(p, &status) {
                tracing::warn!(target: "health", "cannot write {}: {e}", p.display());
            }
        }
        status
    }
}

/// Replaces the status file in one step: written to a new temporary file
/// in the same directory, then renamed over the old one. HEALTH_FILE
/// defaults to a path in the shared `/tmp` and httpcap often runs as root,
/// so nothing there may be trusted: the temporary name is unpredictable,
/// created with O_EXCL and O_NOFOLLOW (a file or symlink planted in advance
/// makes the write fail instead of being followed), mode 0644; `rename`
/// replaces a symlink planted at HEALTH_FILE itself rather than writing
/// through it.
fn write_atomically(path: &std::path::Path, status: &Status) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text = simd_json::to_string(status).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.{}.tmp", std::process::id(), random_hex()?));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    let written = file
        .write_all((text + "\n").as_bytes())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// 16 random hex digits from the system's generator, for temporary names.
fn random_hex() -> std::io::Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| std::io::Error::other("no system randomness"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A verdict for humans and exit codes.
pub struct Verdict {
    pub ok: bool,
    pub line: String,
}

/// Judges a status read back at `now_unix_s`.
pub fn judge(status: &Status, now_unix_s: f64) -> Verdict {
    let age = now_unix_s - status.updated_unix_s;
    let stale_after = 3.0 * status.interval_s + 5.0;
    let summary = format!(
        "packets={} transactions={} since_last_packet={:.0}s kafka_queue={}",
        status.packets, status.transactions, status.since_last_packet_s, status.kafka_queue_depth
    );
    let unhealthy = |line: String| Verdict { ok: false, line };
    if status.state == "done" {
        let exit = status
            .exit_code
            .map(|c| format!(", exit status {c}"))
            .unwrap_or_default();
        return unhealthy(format!(
            "unhealthy: done: {} (pid {}{exit}); {summary}",
            status.reason, status.pid
        ));
    }
    if !pid_alive(status.pid) {
        return unhealthy(format!(
            "unhealthy: gone: process {} that wrote the status is no longer running; {summary}",
            status.pid
        ));
    }
    if age > stale_after {
        return unhealthy(format!(
            "unhealthy: stale: status not refreshed for {age:.0}s (pid {}); {summary}",
            status.pid
        ));
    }
    match status.state.as_str() {
        "ok" => Verdict {
            ok: true,
            line: format!("healthy: {summary}"),
        },
        other => unhealthy(format!("unhealthy: {other}: {}; {summary}", status.reason)),
    }
}

/// Whether a process with this pid exists in our PID namespace (the one
/// `httpcap health` shares with the process it judges).
fn pid_alive(pid: u32) -> bool {
    pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// At exit: records the exit status in this process's status file, so
/// `httpcap health` can say how the run ended. Leaves a file written by
/// another process alone.
pub fn record_exit(health_file: &str, code: i32) {
    if health_file.is_empty() {
        return;
    }
    let Some(mut status) = read(health_file)
        .ok()
        .filter(|s| s.pid == std::process::id())
    else {
        return;
    };
    status.state = "done".into();
    if status.reason.is_empty() {
        status.reason = "the run has ended".into();
    }
    status.exit_code = Some(code);
    if let Err(e) = write_atomically(std::path::Path::new(health_file), &status) {
        tracing::warn!(target: "health", "cannot write {health_file}: {e}");
    }
}

/// Why HEALTH_FILE could not be read back.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a status file: {source}")]
    NotStatus {
        path: String,
        #[source]
        source: simd_json::Error,
    },
}

/// Reads the status file, not through a symlink: someone else's link in
/// `/tmp` must not make `httpcap health` (often root) read another file.
fn read(path: &str) -> Result<Status, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| ReadError::Io {
        path: path.into(),
        source,
    };
    let mut text = String::new();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .and_then(|f| f.take(1 << 20).read_to_string(&mut text))
        .map_err(io)?;
    let mut bytes = text.into_bytes();
    simd_json::from_slice(&mut bytes).map_err(|source| ReadError::NotStatus {
        path: path.into(),
        source,
    })
}

/// The verdict the `/health` endpoint serves, from the latest snapshot.
pub fn verdict_of(snap: &Snapshot) -> Verdict {
    match &snap.health {
        Some(s) => judge(s, super::unix_now()),
        None => Verdict {
            ok: false,
            line: "unhealthy: no status yet".into(),
        },
    }
}

/// `httpcap health`: reads HEALTH_FILE, prints one line, returns the exit code.
pub fn check(cfg: &Config) -> i32 {
    if cfg.health_file.is_empty() {
        println!("unhealthy: HEALTH_FILE is empty, so no status is written");
        return 1;
    }
    let status = match read(&cfg.health_file) {
        Ok(s) => s,
        Err(e) => {
            println!("unhealthy: {e}");
            return 1;
        }
    };
    let v = judge(&status, super::unix_now());
    println!("{}", v.line);
    if v.ok {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str, updated: f64) -> Status {
        Status {
            updated_unix_s: updated,
            interval_s: 10.0,
            state: state.into(),
            reason: "why".into(),
            packets: 1,
            transactions: 1,
            since_last_packet_s: 0.0,
            kafka: false,
            kafka_queue_depth: 0,
            since_last_delivery_s: 0.0,
            pid: std::process::id(),
            exit_code: None,
        }
    }

    #[test]
    fn fresh_ok_is_healthy_and_stale_or_stalled_is_not() {
        assert!(judge(&status("ok", 100.0), 110.0).ok);
        let stale = judge(&status("ok", 100.0), 140.0);
        assert!(!stale.ok && stale.line.contains("stale"), "{}", stale.line);
        let stalled = judge(&status("stalled", 100.0), 101.0);
        assert!(!stalled.ok && stalled.line.contains("stalled"));
        assert!(!judge(&status("kafka_unreachable", 100.0), 101.0).ok);
    }

    /// A scratch directory of its own under the system's temporary one.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "httpcap-health-{name}-{}-{}",
            std::process::id(),
            random_hex().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn planted_symlinks_are_not_followed() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let target = dir.join("health.json");
        // At the old predictable temporary name, and at the file itself.
        let old_tmp = dir.join(format!("health.json.{}.tmp", std::process::id()));
        symlink(&victim, &old_tmp).unwrap();
        symlink(&victim, &target).unwrap();
        // Reading does not go through the link.
        assert!(read(target.to_str().unwrap()).is_err());
        write_atomically(&target, &status("ok", 1.0)).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.file_type().is_file(), "the link was replaced");
        assert_eq!(
            meta.permissions().mode() & 0o777 & !0o644,
            0,
            "at most 0644"
        );
        assert_eq!(read(target.to_str().unwrap()).unwrap().state, "ok");
        // Written twice: each temporary is new, none is left behind.
        write_atomically(&target, &status("done", 2.0)).unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_ended_run_or_a_dead_writer_is_unhealthy() {
        let mut done = status("done", 100.0);
        done.exit_code = Some(3);
        let v = judge(&done, 101.0);
        assert!(
            !v.ok && v.line.contains("done") && v.line.contains("exit status 3"),
            "{}",
            v.line
        );
        let mut gone = status("ok", 100.0);
        // Past the largest pid Linux hands out (4194304).
        gone.pid = 4_194_305;
        let v = judge(&gone, 101.0);
        assert!(!v.ok && v.line.contains("gone"), "{}", v.line);
    }
}
