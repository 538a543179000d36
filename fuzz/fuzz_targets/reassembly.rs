//! One TCP direction through reassembly, segments in any order (see
//! `httpcap::fuzz_harness::reassembly`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::reassembly(data);
});
