//! Key-log files: line splitting, parsing and the key store (see
//! `httpcap::fuzz_harness::keylog`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::keylog(data);
});
