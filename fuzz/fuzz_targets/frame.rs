//! One captured frame through the decoders, any link type.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::frame(data);
});
