//! TLS_UPROBE_LIBS=auto: one thread finds the libssl files this host's
//! processes map (discover.rs) every TLS_UPROBE_SCAN_INTERVAL, probes
//! each new one, and lets go of a file once no process has mapped it for
//! [`RELEASE_AFTER_SCANS`] scans in a row (containers come and go; their
//! files would otherwise pile up). It is the only thread that keeps the
//! capabilities this needs; it never touches packets or shards: the
//! probes write into the shards' rings themselves.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::discover::{self, FileId, Found};
use super::{UprobeError, Uprobes};
use crate::stats::{Counter, ShardStats};

/// What probes a file: the loaded programs ([`Uprobes`]), or a stand-in
/// in tests. Dropping what `probe` gives removes the probes.
pub trait Probe {
    type Probes: Send;
    fn probe(&mut self, path: &std::path::Path) -> Result<Self::Probes, UprobeError>;
}

impl Probe for Uprobes {
    type Probes = Vec<libbpf_rs::Link>;
    fn probe(&mut self, path: &std::path::Path) -> Result<Self::Probes, UprobeError> {
        Uprobes::probe(self, path)
    }
}

/// Most libssl files probed at once; more are counted in
/// `tls_uprobe_libraries_failed` (each once while it stays mapped).
pub const MAX_LIBRARIES: usize = 256;

/// Scans in a row without any process mapping a file before its probes
/// go (a short-lived process between two scans does not make it churn).
pub const RELEASE_AFTER_SCANS: u32 = 5;

/// A file found by a scan, probed or not.
struct Known<L> {
    /// Its probes; None when it could not be probed (not retried while it
    /// stays mapped).
    links: Option<L>,
    /// The path as its process saw it, for logs.
    mapped_as: String,
    /// Scans since a process last mapped it.
    unseen: u32,
}

/// The probes on the files found so far.
pub struct AutoProbes<P: Probe = Uprobes> {
    uprobes: P,
    proc: PathBuf,
    known: HashMap<FileId, Known<P::Probes>>,
    /// Counts go to shard 0's statistics (written here with atomic adds).
    stats: Arc<ShardStats>,
}

/// How probing a newly found file went.
enum Attempt<L> {
    Probed(L),
    Failed,
    /// The file could not be reached any more: its process has exited
    /// since the scan read its map.
    Gone,
}

/// What one scan changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScanChange {
    pub probed: u32,
    pub failed: u32,
    pub released: u32,
}

impl<P: Probe + Send + 'static> AutoProbes<P> {
    /// `proc` is where the processes are listed (normally `/proc`).
    pub fn new(uprobes: P, proc: impl Into<PathBuf>, stats: Arc<ShardStats>) -> AutoProbes<P> {
        AutoProbes {
            uprobes,
            proc: proc.into(),
            known: HashMap::new(),
            stats,
        }
    }

    /// How many files are probed now.
    pub fn probed(&self) -> usize {
        self.known.values().filter(|k| k.links.is_some()).count()
    }

    /// One scan: probes the files not seen before, lets go of those not
    /// mapped for RELEASE_AFTER_SCANS scans.
    pub fn scan_once(&mut self) -> ScanChange {
        let started = Instant::now();
        let scan = discover::scan(&self.proc);
        let mut change = ScanChange::default();
        for k in self.known.values_mut() {
            k.unseen += 1;
        }
        let mut files: Vec<(FileId, Found)> = scan.files.into_iter().collect();
        files.sort_by_key(|f| f.1.pid);
        for (id, found) in files {
            if let Some(k) = self.known.get_mut(&id) {
                k.unseen = 0;
                continue;
            }
            let links = match self.try_probe(&found) {
                Attempt::Probed(links) => Some(links),
                Attempt::Failed => None,
                // Its process has just gone: nothing to remember.
                Attempt::Gone => continue,
            };
            change.probed += u32::from(links.is_some());
            change.failed += u32::from(links.is_none());
            self.known.insert(
                id,
                Known {
                    links,
                    mapped_as: found.mapped_as,
                    unseen: 0,
                },
            );
        }
        self.known.retain(|_, k| {
            if k.unseen < RELEASE_AFTER_SCANS {
                return true;
            }
            if k.links.is_some() {
                change.released += 1;
                tracing::info!(target: "lifecycle", "TLS uprobes: no process maps {} any more; its probes removed", k.mapped_as);
            }
            false
        });
        self.stats
            .add_shared(Counter::TlsUprobeLibraries, change.probed.into());
        self.stats
            .add_shared(Counter::TlsUprobeLibrariesFailed, change.failed.into());
        self.stats
            .add_shared(Counter::TlsUprobeLibrariesReleased, change.released.into());
        tracing::debug!(
            target: "lifecycle",
            processes = scan.processes,
            unreadable = scan.unreadable,
            probed = self.probed(),
            ms = started.elapsed().as_millis() as u64,
            "TLS uprobes: processes scanned for libssl"
        );
        change
    }

    /// Probes a newly found file, unless MAX_LIBRARIES are probed.
    fn try_probe(&mut self, found: &Found) -> Attempt<P::Probes> {
        let whose = format!("{} (process {})", found.mapped_as, found.pid);
        if self.probed() >= MAX_LIBRARIES {
            tracing::warn!(target: "loss", "TLS uprobes: {whose} not probed: {MAX_LIBRARIES} libssl files are probed already (tls_uprobe_libraries_failed)");
            return Attempt::Failed;
        }
        match self.uprobes.probe(&found.path) {
            Ok(links) => {
                tracing::info!(target: "lifecycle", "TLS uprobes: probing {whose}");
                Attempt::Probed(links)
            }
            Err(_) if !found.path.exists() => Attempt::Gone,
            Err(e) => {
                tracing::warn!(target: "loss", "TLS uprobes: {whose} not probed (tls_uprobe_libraries_failed): {e}");
                Attempt::Failed
            }
        }
    }

    /// Scans every `interval` on a thread of its own until `stop`; the
    /// probes go when it ends. The thread keeps only the capabilities
    /// uprobes need (the caller's other threads drop all of theirs); it
    /// has started once this returns.
    pub fn spawn(
        mut self,
        interval: Duration,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("httpcap-uprobes".into())
            .spawn(move || {
                let kept = crate::privileges::keep_only_uprobe_capabilities();
                let failed = kept.as_ref().err().map(|e| e.to_string());
                let _ = ready_tx.send(failed);
                if kept.is_err() {
                    return;
                }
                let mut next = Instant::now() + interval;
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now >= next {
                        self.scan_once();
                        next = Instant::now() + interval;
                    } else {
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                    }
                }
            })?;
        match ready_rx.recv() {
            Ok(None) => Ok(handle),
            Ok(Some(e)) => Err(std::io::Error::other(e)),
            Err(_) => Err(std::io::Error::other("the uprobe thread ended at once")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Probes anything but files whose content is "bad"; counts live probes.
    struct Fake(Arc<std::sync::atomic::AtomicUsize>);
    struct FakeProbes(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for FakeProbes {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    impl Probe for Fake {
        type Probes = FakeProbes;
        fn probe(&mut self, path: &Path) -> Result<FakeProbes, UprobeError> {
            match std::fs::read(path) {
                Ok(content) if content != b"bad" => {}
                _ => return Err(UprobeError::NoLibrary(path.into())),
            }
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(FakeProbes(self.0.clone()))
        }
    }

    /// A /proc of its own: process `pid` with its own root holding
    /// `lib/libssl.so.3` with `content`.
    fn process(proc: &Path, pid: u32, content: &str) {
        let p = proc.join(pid.to_string());
        let root = proc.join(format!("root{pid}"));
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(root.join("lib/libssl.so.3"), content).unwrap();
        std::fs::create_dir_all(&p).unwrap();
        let _ = std::os::unix::fs::symlink(&root, p.join("root"));
        // Each process's own file: its inode is the pid.
        std::fs::write(
            p.join("maps"),
            format!("1-2 r-xp 0 08:01 {pid} /lib/libssl.so.3\n"),
        )
        .unwrap();
    }

    fn exit(proc: &Path, pid: u32) {
        std::fs::remove_dir_all(proc.join(pid.to_string())).unwrap();
    }

    #[test]
    fn files_are_probed_once_and_let_go_after_scans_unmapped() {
        let proc = std::env::temp_dir().join(format!("httpcap-auto-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&proc);
        std::fs::create_dir_all(&proc).unwrap();
        let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stats = Arc::new(ShardStats::default());
        let mut auto = AutoProbes::new(Fake(live.clone()), &proc, stats.clone());

        assert_eq!(auto.scan_once(), ScanChange::default());
        process(&proc, 10, "a");
        process(&proc, 11, "bad");
        let first = auto.scan_once();
        assert_eq!((first.probed, first.failed), (1, 1));
        assert_eq!(live.load(Ordering::Relaxed), 1);
        // Seen again: nothing new, the bad file is not retried.
        assert_eq!(auto.scan_once(), ScanChange::default());
        exit(&proc, 10);
        for _ in 1..RELEASE_AFTER_SCANS {
            assert_eq!(auto.scan_once(), ScanChange::default());
        }
        assert_eq!(live.load(Ordering::Relaxed), 1);
        assert_eq!(auto.scan_once().released, 1);
        assert_eq!(live.load(Ordering::Relaxed), 0);
        assert_eq!(auto.probed(), 0);
        // A process gone between reading its map and probing its file:
        // neither probed nor a failure.
        process(&proc, 13, "a");
        std::fs::remove_file(proc.join("13/root")).unwrap();
        assert_eq!(auto.scan_once(), ScanChange::default());
        exit(&proc, 13);
        // A file deleted from its directory (a package upgrade) while a
        // process maps it: reached through map_files.
        let p = proc.join("14");
        std::fs::create_dir_all(p.join("map_files")).unwrap();
        std::fs::write(p.join("map_files/1-2"), "old").unwrap();
        std::fs::write(
            p.join("maps"),
            "1-2 r-xp 0 08:01 14 /lib/libssl.so.3 (deleted)\n",
        )
        .unwrap();
        assert_eq!(auto.scan_once().probed, 1);
        assert_eq!(stats.get(Counter::TlsUprobeLibraries), 2);
        assert_eq!(stats.get(Counter::TlsUprobeLibrariesFailed), 1);
        assert_eq!(stats.get(Counter::TlsUprobeLibrariesReleased), 1);
        let _ = std::fs::remove_dir_all(&proc);
    }

    #[test]
    fn at_most_max_libraries_are_probed() {
        let proc = std::env::temp_dir().join(format!("httpcap-auto-max-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&proc);
        std::fs::create_dir_all(&proc).unwrap();
        for pid in 0..MAX_LIBRARIES as u32 + 3 {
            process(&proc, 100 + pid, &pid.to_string());
        }
        let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stats = Arc::new(ShardStats::default());
        let mut auto = AutoProbes::new(Fake(live.clone()), &proc, stats.clone());
        let c = auto.scan_once();
        assert_eq!((c.probed, c.failed), (MAX_LIBRARIES as u32, 3));
        assert_eq!(auto.probed(), MAX_LIBRARIES);
        assert_eq!(auto.scan_once(), ScanChange::default());
        let _ = std::fs::remove_dir_all(&proc);
    }
}
