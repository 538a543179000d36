#!/usr/bin/env bash
# Live benchmark (issue 7 item 5): tcpreplay --topspeed pushes the generated
# capture through a veth pair into httpcap's af_packet engine with 2 shards.
# Both ends live in network namespaces this script creates; the replayed
# addresses exist nowhere, so the frames stop at the veth. Reports
# tcpreplay's rate, httpcap's kernel drops and its transaction count
# against the truth.
#
# Settings: PERF_TXNS (1000000), PERF_SEED (1), PERF_OUT (perf/out),
# PERF_SHARDS (2), PERF_PRELOAD (1: tcpreplay -K), PERF_PPS (unset: --topspeed; a number: replay at that
# many packets per second, for latency at a rate the machine sustains),
# PERF_GEN_ARGS (extra httpcap-loadgen flags; PERF_GEN_ARGS=dense is short
# keep-alive API calls, ~3.2 packets per transaction, so that tcpreplay's
# packet rate gives about 100k transactions/s).
# Needs root, tcpreplay, iproute2 (perf/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

TXNS=${PERF_TXNS:-1000000}
SEED=${PERF_SEED:-1}
SHARDS=${PERF_SHARDS:-2}
PPS=${PERF_PPS:-}
GEN_ARGS=${PERF_GEN_ARGS:-}
if [ "$GEN_ARGS" = dense ]; then
    GEN_ARGS="--keepalive 64 --request-body 16 --response-body uniform:100-400 --static-share 0 --gzip-share 0 --chunked-share 0 --close-share 0 --pipeline-share 0"
fi
GEN_TAG=${GEN_ARGS:+-$(cksum <<<"$GEN_ARGS" | cut -d' ' -f1)}
if [ -n "$PPS" ]; then RATE=(--pps="$PPS"); else RATE=(--topspeed); fi
# tcpreplay reads the capture into memory first (-K): ~25% more packets
# per second than reading it while sending (RAM: the capture's size).
if [ "${PERF_PRELOAD:-1}" = 1 ]; then RATE+=(--preload-pcap); fi
OUT=${PERF_OUT:-perf/out}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
tx_ns=httpcap-live-tx
rx_ns=httpcap-live-rx
cap_pid=

cleanup() {
    [ -n "$cap_pid" ] && kill "$cap_pid" 2>/dev/null || true
    ip netns del "$tx_ns" 2>/dev/null || true
    ip netns del "$rx_ns" 2>/dev/null || true
}
trap cleanup EXIT

command -v tcpreplay >/dev/null || { echo "perf/live.sh: tcpreplay not found (run perf/setup.sh)" >&2; exit 1; }
cargo build --release -q -p httpcap -p httpcap-loadgen
HTTPCAP=$(realpath target/release/httpcap)
PCAP="$OUT/http-$TXNS-s$SEED$GEN_TAG.pcap"
if [ ! -s "$PCAP.truth.json" ] || [ target/release/httpcap-loadgen -nt "$PCAP.truth.json" ]; then
    target/release/httpcap-loadgen -o "$PCAP" --transactions "$TXNS" --seed "$SEED" $GEN_ARGS
fi
truth() { awk -F': ' -v k="\"$1\"" '$1 ~ k { gsub(/,/, "", $2); print $2 }' "$PCAP.truth.json"; }
cat "$PCAP" >/dev/null

ip netns add "$tx_ns"
ip netns add "$rx_ns"
ip link add live-tx type veth peer name live-rx
ip link set live-tx netns "$tx_ns"
ip link set live-rx netns "$rx_ns"
for pair in "$tx_ns live-tx" "$rx_ns live-rx"; do
    set -- $pair
    ip -n "$1" link set "$2" mtu 9000 up
done
ip -n "$rx_ns" link set live-rx promisc on

ip netns exec "$rx_ns" /usr/bin/time -v -o "$OUT/live-httpcap.time" \
    "$HTTPCAP" --input-raw-engine af_packet --input-raw live-rx --processing-workers "$SHARDS" \
    --output-file "$OUT/live.jsonl" --input-raw-bpf-filter '' 2>"$OUT/live-httpcap.err" &
cap_pid=$!
sleep 3
kill -0 "$cap_pid" || { echo "httpcap exited early:" >&2; cat "$OUT/live-httpcap.err" >&2; exit 1; }

ip netns exec "$tx_ns" tcpreplay "${RATE[@]}" -i live-tx "$PCAP" >"$OUT/live-tcpreplay.out" 2>&1
sleep 3
# /usr/bin/time ignores SIGINT while it waits, so signal httpcap itself.
kill -INT "$(pgrep -P "$cap_pid")"
for _ in $(seq 60); do kill -0 "$cap_pid" 2>/dev/null || break; sleep 0.5; done
wait "$cap_pid" || true
cap_pid=

got=$(wc -l <"$OUT/live.jsonl")
want=$(truth non_static_transactions)
drops=$(grep -oE 'kernel_drops=[0-9]+' "$OUT/live-httpcap.err" | tail -1 | cut -d= -f2)
{
    echo "live: tcpreplay ${RATE[*]}, af_packet, $SHARDS shards, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    grep -E "Actual|Rated" "$OUT/live-tcpreplay.out" | sed 's/^ */tcpreplay: /'
    echo "httpcap records: $got of $want expected ($([ "$got" = "$want" ] && echo complete || echo INCOMPLETE))"
    echo "kernel drops:    $drops"
    echo "httpcap peak RSS MB: $(awk -F': ' '/Maximum resident/ { printf "%.0f", $2 / 1024 }' "$OUT/live-httpcap.time"), CPU s: $(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$OUT/live-httpcap.time")"
    echo "httpcap summary:"
    tail -20 "$OUT/live-httpcap.err"
} | tee "$OUT/live-results.txt"
