#!/usr/bin/env bash
# Memory per idle tracked stream (issue 7 memory target: at most 512 bytes,
# measured with a million streams). Two captures with the same N one-request
# connections, squeezed into a few milliseconds of capture time so nothing
# ages out: in one every connection closes with FIN, in the other all stay
# open (httpcap-loadgen --leave-open). The difference in httpcap's peak RSS,
# divided by N, is what one idle stream costs.
#
# Settings: PERF_STREAMS (1000000), PERF_SEED (1), PERF_OUT (perf/out).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${PERF_STREAMS:-1000000}
SEED=${PERF_SEED:-1}
OUT=${PERF_OUT:-perf/out}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

cargo build --release -q -p httpcap -p httpcap-loadgen
HTTPCAP=$(realpath target/release/httpcap)
LOADGEN=$(realpath target/release/httpcap-loadgen)

declare -A RSS
for mode in closed open; do
    pcap="$OUT/streams-$mode-$N-s$SEED.pcap"
    extra=()
    [ "$mode" = open ] && extra=(--leave-open)
    if [ ! -s "$pcap.truth.json" ] || [ "$LOADGEN" -nt "$pcap.truth.json" ]; then
        "$LOADGEN" -o "$pcap" --seed "$SEED" --transactions "$N" --connections "$N" \
            --request-body 16 --response-body 64 --static-share 0 --gzip-share 0 --chunked-share 0 \
            --error-share 0 --pipeline-share 0 --pps 1000000000 "${extra[@]}" >&2
    fi
    /usr/bin/time -v -o "$OUT/streams-$mode.time" "$HTTPCAP" --input-raw-engine pcap_file --input-raw "$pcap" \
        --processing-workers 1 --output-file /dev/null --input-raw-bpf-filter '' 2>"$OUT/streams-$mode.err"
    RSS[$mode]=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/streams-$mode.time")
    echo "$mode: peak RSS $((RSS[$mode] / 1024)) MB, $(grep -oE 'records_out=[0-9]+|streams_expired=[0-9]+|streams_evicted_memory=[0-9]+' "$OUT/streams-$mode.err" | tr '\n' ' ')"
done
awk -v o="${RSS[open]}" -v c="${RSS[closed]}" -v n="$N" \
    'BEGIN { printf "idle streams: %d, peak RSS difference %.0f MB, %.0f bytes per idle stream (target <= 512)\n", n, (o - c) / 1024, (o - c) * 1024 / n }' \
    | tee "$OUT/streams-results.txt"
