//! JSON lines to a file or stdout. Shards fill private buffers and hand
//! whole buffers (ending at a line boundary) to one writer thread over a
//! bounded ring, so lines never interleave and no lock is taken per record.
//! The ring is bounded in bytes as well as in buffers: a shard whose
//! buffer would take the bytes in flight past the writer's share of
//! HEAP_LIMIT (config::memory) waits for the writer. Back-pressure, never
//! loss: with file input the reader waits too; live, the kernel's ring
//! fills and its drops are counted. The writer is only slow if the
//! destination is.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, Sender};

use super::RecordSink;
use crate::record::RecordView;
use crate::stats::{Counter, ShardStats};
use std::sync::Arc;

const BUF_BYTES: usize = crate::config::memory::JSON_LINES_BUF_BYTES as usize;
/// Emptied buffers kept for reuse (each at most BUF_BYTES): part of the
/// fixed overhead, not of the budget.
const RECYCLED: usize = 8;
/// Free space a buffer lent for direct serialization must have: a larger
/// record regrows it (copying what it holds), which is rare but works.
const LEND_ROOM: usize = 64 * 1024;

/// The writer thread and the ring that feeds it.
pub struct JsonLinesWriter {
    tx: Sender<Batch>,
    recycle_rx: Receiver<Vec<u8>>,
    in_flight: Arc<InFlight>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

/// A buffer of whole lines, and the shard whose records they are (lines
/// that cannot be written are counted there).
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
    stats: Arc<ShardStats>,
}

/// Where the lines go. A write that fails (a full disk, a closed pipe)
/// loses that buffer's records, counted in `output_errors`; a file is cut
/// back to the end of the last whole buffer, so a reader never meets half
/// a line, and later buffers are tried again (space may come back).
struct Destination {
    out: Out,
    /// Bytes of whole buffers written to a file.
    written: u64,
    /// The first failure, reported when the run ends (exit 1).
    first_error: Option<std::io::Error>,
    /// Lines lost since the last log line about them.
    lost_since_log: u64,
    last_log: Option<std::time::Instant>,
}

enum Out {
    Stdout(std::io::Stdout),
    File { file: File, path: String },
}

/// Failures are logged at most this often (with the lines lost between).
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Destination {
    fn write(&mut self, batch: &Batch) {
        let result = match &mut self.out {
            Out::Stdout(s) => s.write_all(&batch.bytes),
            Out::File { file, .. } => {
                let r = file.write_all(&batch.bytes);
                if r.is_err() {
                    // Drop the part of this buffer that did get written.
                    use std::io::Seek;
                    let _ = file.set_len(self.written);
                    let _ = file.seek(std::io::SeekFrom::Start(self.written));
                }
                r
            }
        };
        match result {
            Ok(()) => {
                self.written += batch.bytes.len() as u64;
                if self.lost_since_log > 0 || self.last_log.is_some() {
                    self.log_recovery();
                }
            }
            Err(e) => {
                batch.stats.add(Counter::OutputErrors, batch.lines);
                self.lost_since_log += batch.lines;
                let due = self
                    .last_log
                    .is_none_or(|t| t.elapsed() >= FAILURE_LOG_INTERVAL);
                if due {
                    tracing::error!(
                        target: "output",
                        "writing JSON lines to {} failed: {e}; {} records lost (output_errors), later records are tried again",
                        self.name(),
                        self.lost_since_log
                    );
                    self.lost_since_log = 0;
                    self.last_log = Some(std::time::Instant::now());
                }
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn log_recovery(&mut self) {
        tracing::warn!(
            target: "output",
            "writing JSON lines to {} works again ({} more records were lost before)",
            self.name(),
            self.lost_since_log
        );
        self.lost_since_log = 0;
        self.last_log = None;
    }

    fn name(&self) -> &str {
        match &self.out {
            Out::Stdout(_) => "stdout",
            Out::File { path, .. } => path,
        }
    }

    fn finish(mut self) -> std::io::Result<()> {
        let flushed = match &mut self.out {
            Out::Stdout(s) => s.flush(),
            Out::File { file, .. } => file.flush(),
        };
        if self.lost_since_log > 0 {
            tracing::error!(
                target: "output",
                "writing JSON lines to {} failed: {} more records lost (output_errors)",
                self.name(),
                self.lost_since_log
            );
        }
        match self.first_error {
            Some(e) => Err(e),
            None => flushed,
        }
    }
}

impl JsonLinesWriter {
    /// Opens `path` (`-` for stdout) and starts the writer thread, which
    /// holds at most `max_bytes` of buffers handed to it (at least one).
    pub fn open(path: &str, max_bytes: usize) -> std::io::Result<JsonLinesWriter> {
        let out = if path == "-" {
            Out::Stdout(std::io::stdout())
        } else {
            Out::File {
                file: File::create(path)?,
                path: path.to_string(),
            }
        };
        let mut dest = Destination {
            out,
            written: 0,
            first_error: None,
            lost_since_log: 0,
            last_log: None,
        };
        let (tx, rx) = bounded::<Batch>(64);
        let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(RECYCLED);
        let in_flight = Arc::new(InFlight {
            bytes: AtomicUsize::new(0),
            max: max_bytes,
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        let held = in_flight.clone();
        let closing = CloseOnDrop(in_flight.clone());
        let thread = std::thread::Builder::new()
            .name("httpcap-jsonl".into())
            .spawn(move || -> std::io::Result<()> {
                let _closing = closing;
                // Writing needs no privilege (the file is open).
                if let Err(e) = crate::privileges::drop_all() {
                    tracing::warn!(target: "lifecycle", "JSON-lines writer: {e}");
                }
                for batch in rx {
                    dest.write(&batch);
                    let mut buf = batch.bytes;
                    let charged = buf.capacity();
                    buf.clear();
                    // A buffer a huge record made grow is not kept at that size.
                    buf.shrink_to(BUF_BYTES);
                    let _ = recycle_tx.try_send(buf);
                    held.release(charged);
                }
                dest.finish()
            })?;
        Ok(JsonLinesWriter {
            tx,
            recycle_rx,
            in_flight,
            thread: Some(thread),
        })
    }

    /// A shard's handle.
    pub fn sink(&self, stats: Arc<ShardStats>) -> JsonLinesSink {
        JsonLinesSink {
            tx: self.tx.clone(),
            recycle: self.recycle_rx.clone(),
            in_flight: self.in_flight.clone(),
            buf: Vec::with_capacity(BUF_BYTES),
            lines: 0,
            stats,
        }
    }

    /// Waits for every shard's buffers to be written. Shards must have
    /// dropped their sinks first.
    pub fn finish(mut self) -> std::io::Result<()> {
        drop(self.tx);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("JSON-lines writer panicked")),
            None => Ok(()),
        }
    }
}

/// Bytes of buffers handed to the writer and not yet written, against
/// the writer's share of HEAP_LIMIT.
struct InFlight {
    bytes: AtomicUsize,
    max: usize,
    /// The writer thread is gone (even by a panic): nobody waits for it.
    closed: std::sync::atomic::AtomicBool,
}

/// Marks `InFlight` closed when the writer thread ends, however it ends.
struct CloseOnDrop(Arc<InFlight>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
    }
}

impl InFlight {
    /// Charges `n` bytes, waiting while they would take the total past
    /// the limit. One buffer is always let through, so a record larger
    /// than the whole limit still goes out (configuration keeps the
    /// limit above the largest record, see config::memory).
    fn acquire(&self, n: usize) {
        let mut cur = self.bytes.load(Ordering::Acquire);
        loop {
            if cur != 0 && cur.saturating_add(n) > self.max && !self.closed.load(Ordering::Acquire)
            {
                std::thread::sleep(Duration::from_micros(100));
                cur = self.bytes.load(Ordering::Acquire);
                continue;
            }
            match self.bytes.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    fn release(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::AcqRel);
    }
}

pub struct JsonLinesSink {
    tx: Sender<Batch>,
    recycle: Receiver<Vec<u8>>,
    in_flight: Arc<InFlight>,
    buf: Vec<u8>,
    /// Records in `buf`.
    lines: u64,
    stats: Arc<ShardStats>,
}

impl JsonLinesSink {
    fn send(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let fresh = self
            .recycle
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUF_BYTES));
        let full = std::mem::replace(&mut self.buf, fresh);
        let lines = std::mem::take(&mut self.lines);
        let charged = full.capacity();
        self.in_flight.acquire(charged);
        let batch = Batch {
            bytes: full,
            lines,
            stats: self.stats.clone(),
        };
        if self.tx.send(batch).is_err() {
            self.in_flight.release(charged);
            self.stats.add(Counter::OutputErrors, lines);
        }
    }
}

impl RecordSink for JsonLinesSink {
    fn write(&mut self, _view: &RecordView<'_>, line: &[u8]) {
        // Hand the buffer over before it would have to grow: regrowing
        // copies everything in it (callgrind: 1.6% of all instructions).
        if self.buf.len() + line.len() > self.buf.capacity() {
            self.send();
        }
        self.buf.extend_from_slice(line);
        self.lines += 1;
        self.stats.inc(Counter::RecordsOut);
        if self.buf.len() >= BUF_BYTES {
            self.send();
        }
    }

    fn line_buffer(&mut self) -> Option<&mut Vec<u8>> {
        if self.buf.capacity() - self.buf.len() < LEND_ROOM {
            self.send();
        }
        Some(&mut self.buf)
    }

    fn appended(&mut self, _view: &RecordView<'_>) {
        self.lines += 1;
        self.stats.inc(Counter::RecordsOut);
        if self.buf.len() >= BUF_BYTES {
            self.send();
        }
    }

    fn tick(&mut self) {
        // Live capture: don't let a quiet shard sit on records.
        self.send();
    }

    fn flush(&mut self) {
        self.send();
    }
}

impl Drop for JsonLinesSink {
    fn drop(&mut self) {
        self.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_flight_wait_for_the_writer_and_never_for_a_dead_one() {
        let f = Arc::new(InFlight {
            bytes: AtomicUsize::new(0),
            max: 100,
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        // One buffer always goes through, even larger than the limit.
        f.acquire(150);
        let waiter = {
            let f = f.clone();
            std::thread::spawn(move || f.acquire(10))
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished(), "over the limit: it waits");
        f.release(150);
        waiter.join().unwrap();
        assert_eq!(f.bytes.load(Ordering::Acquire), 10);
        // A writer that is gone lets everyone through.
        drop(CloseOnDrop(f.clone()));
        f.acquire(95);
        f.acquire(95);
    }
}
