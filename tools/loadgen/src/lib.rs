//! Deterministic pcap generator of HTTP/1.1 or HTTP/2 (h2c) API traffic, in
//! the clear or in TLS with a key log, with ground truth,
//! for httpcap's tests and benchmarks.

pub mod conn;
pub mod content;
pub mod dist;
pub mod frame;
pub mod generator;
pub mod h2;
pub mod params;
pub mod rng;
pub mod tls;
pub mod truth;
pub mod words;

pub use generator::{generate, generate_with_keylog};
pub use params::Params;
pub use truth::Truth;
