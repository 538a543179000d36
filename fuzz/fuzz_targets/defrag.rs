//! IP fragments of a few datagrams, raw or in tunnels, through one reassembler.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::defrag(data);
});
