#!/usr/bin/env bash
# rustc wrapper for the fuzz workspace (fuzz/.cargo/config.toml): builds
# the crates that only the harnesses' oracles use without libFuzzer's
# coverage instrumentation. The `record` target checks every line against
# the JSON schema with jsonschema and serde_json; instrumented, their
# edges were most of what libFuzzer scanned and scored after each run,
# and new paths through the validator (not through httpcap) were kept as
# "interesting" inputs. Every other crate is built as cargo fuzz asks.
set -euo pipefail
rustc=$1
shift
oracle=" jsonschema jsonschema_regex jsonschema_value referencing fancy_regex regex regex_automata regex_syntax aho_corasick serde_json fluent_uri email_address fraction num num_bigint num_complex num_integer num_iter num_rational num_traits num_cmp uuid_simd bit_set bit_vec bytecount micromap unicode_general_category data_encoding percent_encoding "
name=
prev=
for a in "$@"; do
  [[ $prev == --crate-name ]] && name=$a
  prev=$a
done
if [[ -n $name && $oracle == *" $name "* ]]; then
  args=()
  for a in "$@"; do
    [[ $a == -Cpasses=sancov-module ]] || args+=("$a")
  done
  exec "$rustc" "${args[@]}"
fi
exec "$rustc" "$@"
