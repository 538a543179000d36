//! A TLS 1.3 connection after its handshake, keyed or not (see
//! `httpcap::fuzz_harness::tls`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::tls(data);
});
