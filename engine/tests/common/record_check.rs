//! Every record a test reads comes through here: parsed, and checked
//! against the published contract, `engine/schema/record.schema.json`
//! (formats such as date-time and ipv4 included) and the rule that `id` is
//! the first key. A record that breaks the contract fails the test that
//! produced it, whatever that test was looking at.
//!
//! Included by every integration test crate that reads records (and by
//! the library's unit tests), so it stands alone.

#![allow(dead_code)]

use std::sync::LazyLock;

use serde_json::Value;

/// The schema's text, as shipped (a path from this file, so that the
/// fuzz crate, which includes this file too, finds it).
pub const SCHEMA: &str = include_str!("../../schema/record.schema.json");

/// Compiled once per test process.
static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA).expect("record.schema.json is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("record.schema.json is a valid JSON Schema")
});

/// Why `record` breaks the schema: one line per violation (the value
/// itself left out, as a record may hold megabytes of body).
pub fn violations(record: &Value) -> Vec<String> {
    VALIDATOR
        .iter_errors(record)
        .map(|e| format!("{}: {}", e.instance_path(), e.masked()))
        .collect()
}

/// Panics, naming the record and every violation, unless `record` follows
/// the schema.
pub fn validate(record: &Value) {
    let problems = violations(record);
    assert!(
        problems.is_empty(),
        "record {} breaks engine/schema/record.schema.json:\n  {}",
        record["id"],
        problems.join("\n  ")
    );
}

/// Parses one record line and validates it.
pub fn parse(line: &str) -> Value {
    let record: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("record is not JSON ({e}): {}", excerpt(line)));
    assert!(
        line.starts_with("{\"id\":"),
        "\"id\" is not the record's first key: {}",
        excerpt(line)
    );
    validate(&record);
    record
}

/// Every non-empty line of JSON-lines output, parsed and validated.
pub fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse)
        .collect()
}

fn excerpt(line: &str) -> &str {
    let mut end = line.len().min(300);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

/// The flag names the schema allows, in its order.
pub fn schema_flags() -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("record.schema.json is JSON");
    schema["properties"]["flags"]["items"]["enum"]
        .as_array()
        .expect("flags enum")
        .iter()
        .map(|v| v.as_str().expect("flag names are strings").to_owned())
        .collect()
}
