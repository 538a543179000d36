//! httpcap: a passive HTTP capture engine.
//!
//! A packet's path through the engine, one module per step:
//! `capture` (files, kernel rings) → `decode` (link, IP, tunnels, TCP) →
//! `flow` (stream table, reassembly) → `http` (parsing, pairing, filters) →
//! `record` (JSON) → `output` (JSON lines, Kafka), with `tls` (key logs
//! and record decryption, or plaintext from uprobes) before `http` for
//! HTTPS and `http2` (frames, HPACK, streams) beside it. `shard` drives
//! that path on one pinned core; `runtime` starts the shards;
//! `privileges` checks and drops capabilities; `stats` is the only state
//! they share.

// unsafe only where a kernel interface needs it: the capture modules that
// map rings and open sockets opt out, each with SAFETY comments.
#![deny(unsafe_code)]

pub mod allocator;
pub mod bpf;
pub mod capture;
pub mod config;
pub mod decode;
pub mod flow;
pub mod frame;
pub mod fuzz_harness;
pub mod http;
pub mod http2;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod panic_guard;
pub mod privileges;
pub mod record;
pub mod runtime;
pub mod shard;
pub mod stats;
pub mod tls;

#[cfg(test)]
mod layering;
