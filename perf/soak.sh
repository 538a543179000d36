#!/usr/bin/env bash
# Soak (issue 15 item 5): a long live run at a steady rate. tcpreplay loops
# a generated capture through a veth pair into httpcap's af_packet engine
# (2 shards) for SOAK_MINUTES; every minute the script records httpcap's
# RSS (from /proc), its records, kernel drops and the memory it charges to
# HEAP_LIMIT. At the end: RSS must be flat after warm-up, and records must
# match what tcpreplay sent (every loop's transactions, as tcpreplay's
# --unique-ip makes each loop's flows new).
#
# Both ends live in network namespaces this script creates; the replayed
# addresses exist nowhere else, so the frames stop at the veth.
#
# Settings: SOAK_MINUTES (30), SOAK_PPS (20000), SOAK_TXNS (20000 per loop),
# SOAK_HEAP (256MiB), SOAK_BIN (httpcap binary; default: a release build),
# PERF_OUT (perf/out). Writes $PERF_OUT/soak.tsv (one row per minute) and
# $PERF_OUT/soak-results.txt. Needs root, tcpreplay, iproute2.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${SOAK_MINUTES:-30}
PPS=${SOAK_PPS:-20000}
TXNS=${SOAK_TXNS:-20000}
HEAP=${SOAK_HEAP:-256MiB}
OUT=${PERF_OUT:-perf/out}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
tx_ns=httpcap-soak-tx
rx_ns=httpcap-soak-rx
cap_pid=
replay_pid=

cleanup() {
    [ -n "$replay_pid" ] && kill "$replay_pid" 2>/dev/null || true
    [ -n "$cap_pid" ] && kill "$cap_pid" 2>/dev/null || true
    ip netns del "$tx_ns" 2>/dev/null || true
    ip netns del "$rx_ns" 2>/dev/null || true
}
trap cleanup EXIT

command -v tcpreplay >/dev/null || { echo "perf/soak.sh: tcpreplay not found (run perf/setup.sh)" >&2; exit 1; }
if [ -n "${SOAK_BIN:-}" ]; then
    HTTPCAP=$(realpath "$SOAK_BIN")
    cargo build --profile ci -q -p httpcap-loadgen
    LOADGEN=target/ci/httpcap-loadgen
else
    cargo build --release -q -p httpcap -p httpcap-loadgen
    HTTPCAP=$(realpath target/release/httpcap)
    LOADGEN=target/release/httpcap-loadgen
fi
PCAP="$OUT/soak-$TXNS.pcap"
[ -s "$PCAP.truth.json" ] || "$LOADGEN" -o "$PCAP" --transactions "$TXNS" --seed 7 >/dev/null
truth() { awk -F': ' -v k="\"$1\"" '$1 ~ k { gsub(/,/, "", $2); print $2 }' "$PCAP.truth.json"; }
per_loop_txns=$(truth non_static_transactions)
per_loop_pkts=$(tcpdump -r "$PCAP" -nn 2>/dev/null | wc -l)
loops=$(( (MINUTES * 60 * PPS + per_loop_pkts - 1) / per_loop_pkts ))

ip netns add "$tx_ns"
ip netns add "$rx_ns"
ip link add soak-tx type veth peer name soak-rx
ip link set soak-tx netns "$tx_ns"
ip link set soak-rx netns "$rx_ns"
ip -n "$tx_ns" link set soak-tx mtu 9000 up
ip -n "$rx_ns" link set soak-rx mtu 9000 up
ip -n "$rx_ns" link set soak-rx promisc on

ip netns exec "$rx_ns" "$HTTPCAP" --input-raw-engine af_packet --input-raw soak-rx \
    --processing-workers 2 --heap-limit "$HEAP" --output-file "$OUT/soak.jsonl" \
    --input-raw-bpf-filter '' --metrics-output json --metrics-interval 60s \
    2>"$OUT/soak-httpcap.err" &
cap_pid=$!
sleep 3
kill -0 "$cap_pid" || { echo "httpcap exited early:" >&2; cat "$OUT/soak-httpcap.err" >&2; exit 1; }

ip netns exec "$tx_ns" tcpreplay --pps="$PPS" --loop="$loops" --unique-ip -i soak-tx "$PCAP" \
    >"$OUT/soak-tcpreplay.out" 2>&1 &
replay_pid=$!

printf 'minute\trss_mib\trecords\tkernel_drops\tmemory_bytes\n' >"$OUT/soak.tsv"
minute=0
while kill -0 "$replay_pid" 2>/dev/null; do
    sleep 60
    minute=$((minute + 1))
    rss=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$cap_pid/status")
    records=$(wc -l <"$OUT/soak.jsonl")
    last=$(grep -E '^\{' "$OUT/soak-httpcap.err" | tail -1 || true)
    field() { grep -oE "\"$1\":[0-9]+" <<<"$last" | head -1 | cut -d: -f2; }
    printf '%s\t%s\t%s\t%s\t%s\n' "$minute" "$rss" "$records" "$(field kernel_drops)" \
        "$(field memory_bytes)" >>"$OUT/soak.tsv"
done
wait "$replay_pid" || true
replay_pid=
sleep 8 # ASSEMBLER_FLUSH_AGE and a sweep: the last connections end
kill -INT "$cap_pid"
for _ in $(seq 60); do kill -0 "$cap_pid" 2>/dev/null || break; sleep 0.5; done
wait "$cap_pid" || true
cap_pid=

sent=$(grep -oE 'Actual: [0-9]+ packets' "$OUT/soak-tcpreplay.out" | grep -oE '[0-9]+' | head -1)
records=$(wc -l <"$OUT/soak.jsonl")
want=$(( sent / per_loop_pkts * per_loop_txns ))
{
    echo "soak: $MINUTES min, tcpreplay --pps=$PPS --loop=$loops --unique-ip, af_packet, 2 shards, HEAP_LIMIT=$HEAP, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "binary: $HTTPCAP"
    grep -E "Actual|Rated" "$OUT/soak-tcpreplay.out" | sed 's/^ */tcpreplay: /'
    echo "records: $records; whole loops sent: $((sent / per_loop_pkts)) x $per_loop_txns = $want"
    echo "per minute (rss MiB, records, kernel drops, charged bytes):"
    column -t "$OUT/soak.tsv"
    echo "httpcap summary:"
    sed -n '/httpcap summary/,$p' "$OUT/soak-httpcap.err"
} | tee "$OUT/soak-results.txt"
