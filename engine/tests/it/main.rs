//! Every integration test of the engine, in one test binary: each former
//! test crate is a module here (`cargo test --test it live_capture::`), and
//! the binary links the engine, librdkafka and libbpf once instead of once
//! per file. Tests run on parallel threads, so each one keeps its own
//! namespaces (`Pair` numbers), ports, scratch directories and topics;
//! nothing here changes process-wide state such as environment variables.
//!
//! Tests that need root, tools or a broker skip with a "SKIPPED" line when
//! those are missing, so one binary serves both kinds.

#[path = "../common/mod.rs"]
mod common;

mod adversarial;
mod config_contract;
mod conformance;
mod container;
pub mod content;
mod faults;
mod fragments;
mod http09;
mod image;
mod input_files;
mod kafka_e2e;
mod kafka_producer;
mod kafka_scram;
mod kubernetes;
mod live_capture;
mod live_h2;
mod live_tls;
mod live_xdp;
mod memory_budget;
mod metrics_export;
mod redaction;
mod sample_capture;
mod tunnels;
