//! One direction of an HTTP/2 connection through the frame reader and
//! HPACK (see `httpcap::fuzz_harness::h2_frames`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::h2_frames(data);
});
