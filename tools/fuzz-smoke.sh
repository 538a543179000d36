#!/usr/bin/env bash
# Fuzz smoke: every libFuzzer target in fuzz/ for a bounded time, with debug
# assertions and overflow checks on (`cargo fuzz run -a`), without a
# sanitizer (-s none: the C libraries that rdkafka builds do not link
# under ASan, and the fuzzed code is safe Rust). Each target starts from
# its committed seeds (fuzz/seeds/TARGET/) and its corpus (fuzz/corpus/
# TARGET/: what earlier runs found, plus inputs extracted from the public
# captures by tools/fuzz-seeds.sh, run first when the captures are there).
# A crash fails the run and leaves its input in fuzz/artifacts/TARGET/.
# Needs the nightly toolchain (installed on the project's machines);
# cargo-fuzz is installed from crates.io when missing.
#
#   tools/fuzz-smoke.sh                  30 s per target (13 targets: 6.5 min)
#   HTTPCAP_FUZZ_SECS=600 tools/fuzz-smoke.sh
#   HTTPCAP_FUZZ_TARGETS="http1 tls" tools/fuzz-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${HTTPCAP_FUZZ_SECS:-30}
all="conversation frame defrag reassembly http1 chunked decode record hpack h2_frames h2_conn tls keylog"
targets=${HTTPCAP_FUZZ_TARGETS:-$all}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz smoke: SKIPPED: no nightly toolchain (rustup toolchain install nightly)" >&2
  exit 0
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
bash ../tools/fuzz-seeds.sh
# One build for every target (a run rebuilds only what changed).
cargo +nightly fuzz build -s none -a >&2
mkdir -p artifacts
for target in $targets; do
  mkdir -p "corpus/$target"
  seeds=()
  [[ -d seeds/$target ]] && seeds=("seeds/$target")
  echo "fuzz smoke: $target for ${secs}s" >&2
  log="artifacts/$target.log"
  if ! cargo +nightly fuzz run -s none -a "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz smoke: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$log" >&2
done
echo "fuzz smoke: every target ran ${secs}s clean" >&2
