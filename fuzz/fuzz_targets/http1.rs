//! Both directions of an HTTP/1 connection through `HttpConn` (see
//! `httpcap::fuzz_harness::http1`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpcap::fuzz_harness::http1(data);
});
