#!/usr/bin/env bash
# Instructions per transaction with redaction off and on (callgrind, the
# method of perf/ir.sh: 1 shard, (instructions for 10,000 transactions -
# those for 2,000) / 8,000, so start-up cost cancels out), with the
# release binary of this tree.
#
#   perf/redact.sh            # builds target/release/httpcap if needed
#   PERF_REDACT_RUNS=2 perf/redact.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=perf/out
mkdir -p "$out"
n=2000 seed=1 runs=${PERF_REDACT_RUNS:-1}
bin=target/release/httpcap
[[ -x $bin ]] || cargo build -q --release -p httpcap
for t in $n $((n * 5)); do
  pcap="$out/ir-$t-s$seed.pcap"
  if [[ ! -f $pcap ]]; then
    cargo build -q --release -p httpcap-loadgen
    target/release/httpcap-loadgen -o "$pcap" --transactions "$t" --seed "$seed"
  fi
done
key="$out/redact.key"
[[ -f $key ]] || head -c 32 /dev/urandom >"$key"

instructions() {
  local pcap=$1 cg
  shift
  cg=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$cg" "$bin" --input-raw-engine pcap_file \
    --input-raw "$pcap" --processing-workers 1 --output-file /dev/null --input-raw-bpf-filter '' \
    --metrics-output none --health-file '' "$@" >/dev/null 2>&1 || true
  awk '/^(summary|totals):/ { print $2; exit }' "$cg"
  rm -f "$cg"
}

per_txn() {
  local small large
  small=$(instructions "$out/ir-$n-s$seed.pcap" "$@")
  large=$(instructions "$out/ir-$((n * 5))-s$seed.pcap" "$@")
  awk -v a="$small" -v b="$large" -v n=$((n * 4)) 'BEGIN { printf "%.0f", (b - a) / n }'
}

headers=(--redact-headers authorization,cookie)
for run in $(seq "$runs"); do
  echo "run $run: off: $(per_txn)"
  echo "run $run: headers authorization,cookie + json password (mask): $(per_txn "${headers[@]}" --redact-json-fields password)"
  echo "run $run: same, hash mode: $(per_txn "${headers[@]}" --redact-json-fields password --redact-mode hash --redact-hash-key-file "$key")"
  echo "run $run: headers + json password,email,id (hash; values present in the bodies): $(per_txn "${headers[@]}" --redact-json-fields password,email,id --redact-mode hash --redact-hash-key-file "$key")"
done
