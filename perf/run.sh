#!/usr/bin/env bash
# End-to-end offline benchmark (issue 7 item 3). In one invocation, on the
# same generated capture: httpcap with 1 then 2 shards (pcap_file mode, JSON
# lines to /dev/null), Suricata 7, and tshark on a smaller slice. Checks each
# tool's transaction count against the generator's truth and prints tx/s,
# Gbit/s, peak RSS and CPU seconds, the ratios, and instructions per
# transaction from callgrind on small captures.
#
# Settings (environment):
#   PERF_TXNS            transactions in the main capture   (1000000)
#   PERF_SLICE_TXNS      transactions in tshark's slice     (50000)
#   PERF_CALLGRIND_TXNS  small capture for callgrind        (2000; a 5x one is also used)
#   PERF_SEED            generator seed                     (1)
#   PERF_LOADGEN_ARGS    extra generator options, e.g. "--ipv6-share 0.3 --vlan 10"
#   PERF_OUT             work directory, gitignored         (perf/out)
#   PERF_SKIP            space-separated: suricata tshark callgrind
# Install the peers first with perf/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

TXNS=${PERF_TXNS:-1000000}
SLICE=${PERF_SLICE_TXNS:-50000}
CG=${PERF_CALLGRIND_TXNS:-2000}
SEED=${PERF_SEED:-1}
OUT=${PERF_OUT:-perf/out}
SKIP=" ${PERF_SKIP:-} "
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
RESULTS="$OUT/results.txt"

skipping() { [[ "$SKIP" == *" $1 "* ]]; }
need() { command -v "$1" >/dev/null || { echo "perf/run.sh: $1 not found (run perf/setup.sh)" >&2; exit 1; }; }
need /usr/bin/time
skipping suricata || need suricata
skipping tshark || need tshark
skipping callgrind || need valgrind

cargo build --release -q -p httpcap -p httpcap-loadgen
HTTPCAP=$(realpath target/release/httpcap)
LOADGEN=$(realpath target/release/httpcap-loadgen)

# Captures are deterministic, so one generated earlier with the same size
# and seed is reused unless the generator was rebuilt since.
GEN_ARGS=${PERF_LOADGEN_ARGS:-}
GEN_TAG=""
[ -n "$GEN_ARGS" ] && GEN_TAG="-$(printf '%s' "$GEN_ARGS" | md5sum | cut -c1-8)"
capture() {
    local name="$OUT/http-$1-s$SEED$GEN_TAG.pcap"
    if [ ! -s "$name.truth.json" ] || [ "$LOADGEN" -nt "$name.truth.json" ]; then
        echo "generating $1 transactions -> $name" >&2
        # shellcheck disable=SC2086 # options are meant to split
        "$LOADGEN" -o "$name" --transactions "$1" --seed "$SEED" $GEN_ARGS >&2
    fi
    echo "$name"
}
truth() { awk -F': ' -v k="\"$2\"" '$1 ~ k { gsub(/,/, "", $2); print $2 }' "$1.truth.json"; }

MAIN=$(capture "$TXNS")
skipping tshark || SLICE_PCAP=$(capture "$SLICE")

# Read the capture once so every tool starts from the page cache.
cat "$MAIN" >/dev/null

: >"$RESULTS"
row() { printf '%-16s %10s %10s %-8s %9s %12s %8s %9s %9s %12s\n' "$@" | tee -a "$RESULTS"; }
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (wall-clock figures assume an otherwise idle machine)" | tee -a "$RESULTS"
row tool count expected check wall_s tx_per_s Gbit_s rss_MB cpu_s tx_per_cpu_s

# measure LABEL EXPECTED PCAP COUNT_FN -- command...
# Runs the command under /usr/bin/time -v; COUNT_FN LABEL prints the count.
declare -A TPS
measure() {
    local label=$1 expected=$2 pcap=$3 count_fn=$4
    shift 5
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$OUT/$label.time" "$@" >"$OUT/$label.out" 2>"$OUT/$label.err" || {
        echo "perf/run.sh: $label failed; see $OUT/$label.err" >&2
        tail -5 "$OUT/$label.err" >&2
        return 0
    }
    t1=$(date +%s.%N)
    local count wall rss cpu bytes
    count=$($count_fn "$label")
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$OUT/$label.time")
    cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$OUT/$label.time")
    bytes=$(truth "$pcap" bytes)
    local check=ok
    [ "$count" = "$expected" ] || check=MISMATCH
    # Rates count every transaction in the capture: each tool parses them
    # all, httpcap's filters only decide which become records.
    TPS[$label]=$(awk -v n="$(truth "$pcap" transactions)" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
    row "$label" "$count" "$expected" "$check" "$wall" "${TPS[$label]}" \
        "$(awk -v b="$bytes" -v w="$wall" 'BEGIN { printf "%.2f", b * 8 / w / 1e9 }')" "$rss" "$cpu" \
        "$(awk -v n="$(truth "$pcap" transactions)" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print "n/a" }')"
}

# httpcap prints its summary on stderr; take the record count from it.
httpcap_count() {
    grep -oE 'records_out=[0-9]+' "$OUT/$1.err" | tail -1 | cut -d= -f2 || echo "?"
}
suricata_count() {
    local n
    n=$(grep -c '"event_type":"http"' "$OUT/$1/eve.json" || true)
    rm -f "$OUT/$1/eve.json" # about 2 KB per transaction with all headers
    echo "$n"
}
tshark_count() {
    awk '/HTTP Request Packets/ { print $4 }' "$OUT/$1.out"
}

KEPT=$(truth "$MAIN" non_static_transactions)
ALL=$(truth "$MAIN" transactions)
for shards in 1 2; do
    measure "httpcap-${shards}shard" "$KEPT" "$MAIN" httpcap_count -- \
        "$HTTPCAP" --input-raw-engine pcap_file --input-raw "$MAIN" --processing-workers "$shards" \
        --output-file /dev/null --input-raw-bpf-filter ''
done

if ! skipping suricata; then
    mkdir -p "$OUT/suricata"
    measure suricata "$ALL" "$MAIN" suricata_count -- \
        suricata -c perf/suricata.yaml -r "$MAIN" -k none --runmode single -l "$OUT/suricata" -S /dev/null
fi

if ! skipping tshark; then
    # -z http,tree counts every request message, pipelined ones included.
    measure tshark-slice "$(truth "$SLICE_PCAP" transactions)" "$SLICE_PCAP" tshark_count -- \
        tshark -r "$SLICE_PCAP" -Y http -z http,tree
fi

ratio() { awk -v a="${TPS[$1]:-0}" -v b="${TPS[$2]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
{
    echo
    echo "httpcap is checked against non-static transactions (its default filters drop static assets);"
    echo "the peers against all transactions. tx/s is all transactions in the capture / wall time."
    echo "ratio 2-shard / 1-shard:        $(ratio httpcap-2shard httpcap-1shard)"
    skipping suricata || echo "ratio httpcap 1-shard / Suricata: $(ratio httpcap-1shard suricata)"
    skipping suricata || echo "ratio httpcap 2-shard / Suricata: $(ratio httpcap-2shard suricata)"
    skipping tshark || echo "ratio httpcap 2-shard / tshark:   $(ratio httpcap-2shard tshark-slice) (tshark on the $SLICE-transaction slice)"
} | tee -a "$RESULTS"

# Record content, not just counts: per connection, httpcap's records must be
# the truth's non-static transactions in order, on a clean slice and on one
# with 1% retransmitted and 1% reordered segments.
if command -v python3 >/dev/null; then
    for variant in clean rough; do
        v="$OUT/verify-$variant-$SLICE-s$SEED.pcap"
        impair=()
        [ "$variant" = rough ] && impair=(--retransmit-share 0.01 --reorder-share 0.01)
        # shellcheck disable=SC2086
        "$LOADGEN" -o "$v" --transactions "$SLICE" --seed "$SEED" --truth-lines "$v.lines" $GEN_ARGS "${impair[@]}" 2>/dev/null
        "$HTTPCAP" --input-raw-engine pcap_file --input-raw "$v" --processing-workers 2 \
            --output-file "$v.jsonl" --input-raw-bpf-filter '' 2>/dev/null
        echo "records check ($variant, $SLICE tx): $(python3 perf/verify_records.py "$v.lines" "$v.jsonl" | head -3)" | tee -a "$RESULTS"
        rm -f "$v.jsonl"
    done
fi

# Instructions per transaction: the difference between a capture and one
# five times larger, so start-up and shutdown cancel out.
callgrind_ir() {
    local label=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$label.callgrind" "$@" >/dev/null 2>"$OUT/$label.valgrind" || true
    awk '/^(summary|totals):/ { print $2; exit }' "$OUT/$label.callgrind"
}
if ! skipping callgrind; then
    SMALL=$(capture "$CG")
    LARGE=$(capture $((CG * 5)))
    per_txn() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (a && b) printf "%.0f", (b - a) / n; else print "n/a" }'; }
    hs=$(callgrind_ir cg-httpcap-small "$HTTPCAP" --input-raw-engine pcap_file --input-raw "$SMALL" \
        --processing-workers 1 --output-file /dev/null --input-raw-bpf-filter '')
    hl=$(callgrind_ir cg-httpcap-large "$HTTPCAP" --input-raw-engine pcap_file --input-raw "$LARGE" \
        --processing-workers 1 --output-file /dev/null --input-raw-bpf-filter '')
    h_ir=$(per_txn "$hs" "$hl" $((CG * 4)))
    echo "instructions per transaction, httpcap 1 shard (callgrind, ${CG} vs $((CG * 5)) tx): $h_ir" | tee -a "$RESULTS"
    if ! skipping suricata; then
        mkdir -p "$OUT/cg-suricata"
        ss=$(callgrind_ir cg-suricata-small suricata -c perf/suricata.yaml -r "$SMALL" -k none --runmode single -l "$OUT/cg-suricata" -S /dev/null)
        sl=$(callgrind_ir cg-suricata-large suricata -c perf/suricata.yaml -r "$LARGE" -k none --runmode single -l "$OUT/cg-suricata" -S /dev/null)
        s_ir=$(per_txn "$ss" "$sl" $((CG * 4)))
        echo "instructions per transaction, Suricata (same captures):                  $s_ir" | tee -a "$RESULTS"
        awk -v h="$h_ir" -v s="$s_ir" 'BEGIN { if (h > 0 && s > 0) printf "ratio Suricata / httpcap instructions per transaction: %.1f\n", s / h }' | tee -a "$RESULTS"
        rm -rf "$OUT/cg-suricata"
    fi
fi

{
    echo
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(lscpu | awk -F': +' '/^Model name/ { print $2 }'), $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GB RAM"
    echo "httpcap: $(git rev-parse --short HEAD)"
    skipping suricata || echo "peer:    $(suricata -V 2>&1 | grep -m1 -i version)"
    skipping tshark || echo "peer:    $(tshark -v 2>/dev/null | head -1)"
    [ -n "$GEN_ARGS" ] && echo "options: $GEN_ARGS"
    echo "capture: $MAIN, $ALL transactions ($KEPT non-static), $(truth "$MAIN" packets) packets, $(truth "$MAIN" bytes) bytes"
} | tee -a "$RESULTS"
