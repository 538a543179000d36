#!/usr/bin/env bash
# Instructions per transaction of one or more revisions, by perf/run.sh's
# method: callgrind on a generated capture of N and of 5N transactions
# (1 shard, JSON lines to /dev/null), (large - small) / 4N, so start-up and
# shutdown cancel out. Each revision is built with the release profile in
# its own worktree; the captures come from the working tree's generator, so
# every revision reads the same bytes. Instruction counts do not depend on
# what else the machine is doing.
#
#   perf/ir.sh 9e8f296 HEAD            one line per revision
#   PERF_CALLGRIND_TXNS=2000 PERF_SEED=1 (defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "perf/ir.sh: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
((${#@})) || { echo "usage: perf/ir.sh REV [REV...]" >&2; exit 2; }
n=${PERF_CALLGRIND_TXNS:-2000}
seed=${PERF_SEED:-1}
out=${PERF_OUT:-perf/out}
mkdir -p "$out"
out=$(realpath "$out")

cargo build --release -q -p httpcap-loadgen
loadgen=$(realpath target/release/httpcap-loadgen)
for size in "$n" $((n * 5)); do
  [[ -s $out/ir-$size-s$seed.pcap ]] || "$loadgen" -o "$out/ir-$size-s$seed.pcap" --transactions "$size" --seed "$seed" >/dev/null 2>&1
done

instructions() {
  local bin=$1 pcap=$2 cg
  cg=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$cg" "$bin" --input-raw-engine pcap_file \
    --input-raw "$pcap" --processing-workers 1 --output-file /dev/null --input-raw-bpf-filter '' \
    --metrics-output none --health-file '' >/dev/null 2>&1 || true
  awk '/^(summary|totals):/ { print $2; exit }' "$cg"
  rm -f "$cg"
}

for rev in "$@"; do
  sha=$(git rev-parse --short "$rev")
  tree="$out/ir-tree-$sha"
  if [[ ! -x $out/ir-bin-$sha ]]; then
    git worktree add -q --detach "$tree" "$sha"
    (cd "$tree" && CARGO_TARGET_DIR="$out/ir-target" cargo build -q --release -p httpcap)
    cp "$out/ir-target/release/httpcap" "$out/ir-bin-$sha"
    git worktree remove --force "$tree"
  fi
  small=$(instructions "$out/ir-bin-$sha" "$out/ir-$n-s$seed.pcap")
  large=$(instructions "$out/ir-bin-$sha" "$out/ir-$((n * 5))-s$seed.pcap")
  per=$(awk -v a="$small" -v b="$large" -v n=$((n * 4)) 'BEGIN { printf "%.0f", (b - a) / n }')
  echo "$sha $(git log -1 --format=%s "$sha" | cut -c1-60): $per instructions per transaction"
done
