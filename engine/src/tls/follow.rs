//! Key-log files followed as they grow: read whole at start, then polled
//! for new lines (like `tail -F`: a file that is replaced or truncated is
//! read again from its start, one that does not exist yet is waited for).
//! A replaced (rotated) file is read to its end first, and a last line
//! left without its newline when a file is left or the follower stops is
//! taken as it is (counted as malformed when it does not parse).
//! New lines go to every shard over a bounded channel each; key material
//! is never logged.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{Sender, TrySendError};

use super::keylog::{parse_line, KeyLogLine};
use crate::stats::{Counter, ShardStats};

/// Longest line kept while waiting for its end; longer ones are malformed.
const MAX_LINE: usize = 1024;

/// How often the files are looked at.
pub const POLL: Duration = Duration::from_millis(100);

/// One followed file.
#[derive(Debug)]
pub struct Followed {
    path: PathBuf,
    file: Option<File>,
    inode: u64,
    offset: u64,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
    /// Bytes of an overlong line still to skip up to its newline.
    skipping: bool,
}

impl Followed {
    pub fn new(path: impl Into<PathBuf>) -> Followed {
        Followed {
            path: path.into(),
            file: None,
            inode: 0,
            offset: 0,
            partial: Vec::new(),
            skipping: false,
        }
    }

    /// Reads what was appended since the last call; each complete line is
    /// parsed and handed to `each`; malformed ones are counted.
    pub fn poll(&mut self, stats: &ShardStats, each: &mut dyn FnMut(KeyLogLine)) {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return; // not there (yet, or any more)
        };
        let replaced = self.file.is_some() && meta.ino() != self.inode;
        if self.file.is_none() || replaced || meta.len() < self.offset {
            if let Some(mut old) = self.file.take().filter(|_| replaced) {
                // Rotated: what was written to it since the last look.
                self.read_on(&mut old, stats, each);
            }
            self.end_partial(stats, each);
            // New, replaced or truncated: from the start.
            let Ok(file) = File::open(&self.path) else {
                return;
            };
            self.file = Some(file);
            self.inode = meta.ino();
            self.offset = 0;
            self.partial.clear();
            self.skipping = false;
        }
        let Some(mut file) = self.file.take() else {
            return;
        };
        if meta.len() > self.offset {
            self.read_on(&mut file, stats, each);
        }
        self.file = Some(file);
    }

    /// Reads `file` from where the last read ended to its end.
    fn read_on(&mut self, file: &mut File, stats: &ShardStats, each: &mut dyn FnMut(KeyLogLine)) {
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut chunk = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = file.read(&mut chunk) {
            self.offset += n as u64;
            self.lines(&chunk[..n], stats, each);
        }
    }

    /// The file is left: a last line without its newline is taken as it is.
    pub fn end_partial(&mut self, stats: &ShardStats, each: &mut dyn FnMut(KeyLogLine)) {
        let partial = std::mem::take(&mut self.partial);
        if !partial.is_empty() && !self.skipping {
            Self::line(&partial, stats, each);
        }
        self.skipping = false;
    }

    pub(crate) fn lines(
        &mut self,
        mut data: &[u8],
        stats: &ShardStats,
        each: &mut dyn FnMut(KeyLogLine),
    ) {
        while let Some(nl) = memchr::memchr(b'\n', data) {
            let (line, rest) = data.split_at(nl);
            data = &rest[1..];
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            if self.partial.is_empty() {
                Self::line(line, stats, each);
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                Self::line(&whole, stats, each);
            }
        }
        if self.skipping {
            return;
        }
        if self.partial.len() + data.len() > MAX_LINE {
            stats.add_shared(Counter::TlsKeylogMalformed, 1);
            self.partial.clear();
            self.skipping = true;
            return;
        }
        self.partial.extend_from_slice(data);
    }

    fn line(line: &[u8], stats: &ShardStats, each: &mut dyn FnMut(KeyLogLine)) {
        match parse_line(line) {
            Ok(Some(l)) => {
                stats.add_shared(Counter::TlsKeylogLines, 1);
                each(l);
            }
            Ok(None) => {}
            Err(_) => stats.add_shared(Counter::TlsKeylogMalformed, 1),
        }
    }
}

/// The files of `TLS_KEYLOG_FILE`.
pub fn files(list: &str) -> Vec<Followed> {
    list.split(',').map(|p| Followed::new(p.trim())).collect()
}

/// Reads every file once: the lines present at start.
pub fn read_all(files: &mut [Followed], stats: &ShardStats) -> Vec<KeyLogLine> {
    let mut lines = Vec::new();
    for f in files.iter_mut() {
        f.poll(stats, &mut |l| lines.push(l));
    }
    lines
}

/// Follows the files, handing each new line to every shard (a shard
/// whose channel is full loses the line: `tls_keys_dropped`), until one
/// of `stops` is set; then reads them a last time, so keys written just
/// before a shutdown still reach the shards as they close their
/// connections. `rounds` counts finished passes over the files (and is
/// set to `u64::MAX` when the thread ends) for [`await_round`].
pub fn spawn(
    mut files: Vec<Followed>,
    shards: Vec<Sender<KeyLogLine>>,
    stats: Arc<ShardStats>,
    stops: [Arc<AtomicBool>; 2],
    rounds: Arc<AtomicU64>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("httpcap-keylog".into())
        .spawn(move || loop {
            let stopping = stops.iter().any(|s| s.load(Ordering::Relaxed));
            let mut send = |line: KeyLogLine| {
                for tx in &shards {
                    if let Err(TrySendError::Full(_)) = tx.try_send(line.clone()) {
                        stats.add_shared(Counter::TlsKeysDropped, 1);
                    }
                }
            };
            for f in files.iter_mut() {
                f.poll(&stats, &mut send);
                if stopping {
                    f.end_partial(&stats, &mut send);
                }
            }
            if stopping {
                rounds.store(u64::MAX, Ordering::Release);
                return;
            }
            rounds.fetch_add(1, Ordering::Release);
            std::thread::sleep(POLL);
        })
}

/// Waits (at most about a second) until the follower has read the files
/// once more from now: a shard about to close its connections gets the
/// keys written up to this moment.
pub fn await_round(rounds: &AtomicU64) {
    let start = rounds.load(Ordering::Acquire);
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    // Two passes: the one under way may have begun before the call.
    while rounds.load(Ordering::Acquire) < start.saturating_add(2)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line() -> String {
        format!("CLIENT_RANDOM {} {}\n", "01".repeat(32), "02".repeat(48))
    }

    #[test]
    fn follows_growth_partial_lines_truncation_and_rotation() {
        let dir = std::env::temp_dir().join(format!("httpcap-keylog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.log");
        let _ = std::fs::remove_file(&path);
        let stats = ShardStats::default();
        let mut f = Followed::new(&path);
        let mut got = 0;
        let mut count = |_: KeyLogLine| got += 1;
        f.poll(&stats, &mut count); // not there yet
        let mut w = std::fs::File::create(&path).unwrap();
        w.write_all(line().as_bytes()).unwrap();
        w.write_all(&line().as_bytes()[..40]).unwrap();
        f.poll(&stats, &mut count);
        w.write_all(&line().as_bytes()[40..]).unwrap();
        w.write_all(b"# a comment\ngarbage line\n").unwrap();
        f.poll(&stats, &mut count);
        // Truncated and rewritten: read again from the start.
        let mut w = std::fs::File::create(&path).unwrap();
        w.write_all(line().as_bytes()).unwrap();
        f.poll(&stats, &mut count);
        // Replaced by another file (rotation), after the old one got a
        // line and a last line without its newline: both read, then the
        // new file from its start.
        let moved = dir.join("keys.log.1");
        std::fs::rename(&path, &moved).unwrap();
        w.write_all(format!("{}{}", line(), line().trim_end()).as_bytes())
            .unwrap();
        std::fs::write(&path, format!("{0}{0}", line())).unwrap();
        f.poll(&stats, &mut count);
        // An overlong line is skipped up to its end.
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(&vec![b'x'; 5000]).unwrap();
        f.poll(&stats, &mut count);
        w.write_all(format!("\n{}", line()).as_bytes()).unwrap();
        f.poll(&stats, &mut count);
        // A line cut by the writer's stop is taken as it is: malformed.
        w.write_all(&line().as_bytes()[..30]).unwrap();
        f.poll(&stats, &mut count);
        f.end_partial(&stats, &mut count);
        assert_eq!(got, 8);
        assert_eq!(stats.get(Counter::TlsKeylogMalformed), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
