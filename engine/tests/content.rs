//! HTTP content end to end: decompression bombs, shared third-party
//! captures with compressed bodies, and captures recorded from real
//! servers (nginx with gzip, a Python server sending br and zstd).

#[path = "common/record_check.rs"]
mod record_check;

mod content {
    pub mod bombs;
    pub mod common;
    pub mod limits;
    pub mod pcaps;
    pub mod servers;
}
