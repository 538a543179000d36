//! HTTP content end to end: decompression bombs, shared third-party
//! captures with compressed bodies, and captures recorded from real
//! servers (nginx with gzip, a Python server sending br and zstd).

pub mod bombs;
mod common;
mod limits;
mod pcaps;
mod servers;
