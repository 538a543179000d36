//! Both directions of an HTTP/2 connection through `HttpConn` (see
//! `httpcap::fuzz_harness::h2_conn`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::h2_conn(data);
});
