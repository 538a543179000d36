//! Header blocks through one HPACK decoder (see
//! `httpcap::fuzz_harness::hpack` for the input's layout).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::hpack(data);
});
