//! Chunked framing, fed whole and in pieces (see
//! `httpcap::fuzz_harness::chunked`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::chunked(data);
});
