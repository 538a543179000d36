//! Where records go. Each shard owns its sinks: a JSON-lines sink (file or
//! stdout) and, when configured, a Kafka producer. A record is serialized
//! once; every sink receives the same bytes.

pub mod json_lines;
pub mod kafka;

use crate::record::RecordView;

/// A shard-local destination for records.
pub trait RecordSink: Send {
    /// Takes one serialized record (one JSON line, newline included).
    fn write(&mut self, view: &RecordView<'_>, line: &[u8]);
    /// Periodic housekeeping from the shard loop (polling, timed flushes).
    fn tick(&mut self) {}
    /// Pushes out buffered records; called at shutdown.
    fn flush(&mut self) {}
}
