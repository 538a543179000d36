//! A made-up transaction as a JSON record (see
//! `httpcap::fuzz_harness::record`), parsed and checked against
//! `engine/schema/record.schema.json` with the test suite's own check.
#![no_main]

#[path = "../../engine/tests/common/record_check.rs"]
mod record_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let line = httpcap::fuzz_harness::record(data);
    let line = std::str::from_utf8(&line).expect("checked by the harness");
    record_check::parse(line.trim_end());
});
