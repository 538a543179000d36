//! Content codings and chains of them, with small caps (see
//! `httpcap::fuzz_harness::decode`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::decode(data);
});
