//! A scripted TCP connection through a whole shard (see
//! `httpcap::fuzz_harness::conversation` for the script's format).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::conversation(data);
});
