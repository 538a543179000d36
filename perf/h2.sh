#!/usr/bin/env bash
# HTTP/2 benchmark (issue 13): httpcap on an h2c capture against httpcap on
# an HTTP/1.1 capture with the same content mix (same generator, seed and
# options, only --http2 differs; "h1c" is HTTP/1.1 on as many connections
# as the h2c capture), and Suricata 7's HTTP/2 parser on the h2c capture.
# In one invocation:
#
#   1. checks the record count against the truth on the h2c capture (and
#      the HTTP/1.1 one), every record "HTTP/2" with a stream_id and no
#      hpack_incomplete flag, and the records' content with
#      perf/verify_records.py;
#   2. instructions per transaction with callgrind, perf/ir.sh's method:
#      a capture of N and one of 5N transactions, (large - small) / 4N,
#      1 shard, JSON lines to /dev/null, all filters off so that every
#      transaction becomes a record in both protocols;
#   3. CPU seconds (user + sys, /usr/bin/time) on a larger capture, the
#      median of several runs, as transactions per CPU second;
#   4. Suricata on the same h2c captures: its count of HTTP/2 transactions
#      (eve `http` events with a non-zero stream_id), CPU seconds and
#      instructions per transaction.
#
# Settings (environment):
#   PERF_H2_TXNS         transactions in the CPU-time captures  (200000)
#   PERF_CALLGRIND_TXNS  small capture for callgrind            (2000; a 5x one too)
#   PERF_RUNS            CPU-time runs per tool, median kept     (5)
#   PERF_SEED            generator seed                         (1)
#   PERF_LOADGEN_ARGS    extra generator options for both captures
#   PERF_OUT             work directory, gitignored             (perf/out)
#   PERF_SKIP            space-separated: suricata callgrind h1c
set -euo pipefail
cd "$(dirname "$0")/.."

TXNS=${PERF_H2_TXNS:-200000}
CG=${PERF_CALLGRIND_TXNS:-2000}
RUNS=${PERF_RUNS:-5}
SEED=${PERF_SEED:-1}
GEN_ARGS=${PERF_LOADGEN_ARGS:-}
OUT=${PERF_OUT:-perf/out}/h2
SKIP=" ${PERF_SKIP:-} "
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
RESULTS="$OUT/results.txt"

skipping() { [[ "$SKIP" == *" $1 "* ]]; }
need() { command -v "$1" >/dev/null || { echo "perf/h2.sh: $1 not found (run perf/setup.sh)" >&2; exit 1; }; }
need /usr/bin/time
need python3
skipping suricata || need suricata
skipping callgrind || need valgrind

cargo build --release -q -p httpcap -p httpcap-loadgen
HTTPCAP=$(realpath target/release/httpcap)
LOADGEN=$(realpath target/release/httpcap-loadgen)

# capture PROTO TXNS: generates (once per generator build) and prints the
# path. h1c is HTTP/1.1 on as many connections as the h2 capture of the
# same size (so as many transactions per connection: 10-50, not 1-8).
capture() {
    local proto=$1 n=$2 flag=""
    [ "$proto" = h2 ] && flag=--http2
    [ "$proto" = h1c ] && flag="--connections $(truth "$(capture h2 "$n")" connections)"
    local name="$OUT/$proto-$n-s$SEED.pcap"
    if [ ! -s "$name.truth.json" ] || [ "$LOADGEN" -nt "$name.truth.json" ]; then
        echo "generating $proto, $n transactions -> $name" >&2
        # shellcheck disable=SC2086 # options are meant to split
        "$LOADGEN" -o "$name" --transactions "$n" --seed "$SEED" --truth-lines "$name.lines" $flag $GEN_ARGS 2>/dev/null
    fi
    echo "$name"
}
truth() { awk -F': ' -v k="\"$2\"" '$1 ~ k { gsub(/,/, "", $2); print $2 }' "$1.truth.json"; }

# hc PCAP OUTPUT / sc PCAP LOGDIR: set CMD to httpcap's or Suricata's
# command line. httpcap runs with every filter off: the default filters
# drop static assets, and here every transaction must be a record.
hc() {
    CMD=("$HTTPCAP" --input-raw-engine pcap_file --input-raw "$1" --processing-workers 1
        --output-file "$2" --metrics-output none --health-file '' --input-raw-bpf-filter ''
        --filter-block-exts '' --filter-block-ctypes '' --filter-block-accept ''
        --filter-block-multipart '')
}
sc() {
    mkdir -p "$2"
    rm -f "$2/eve.json"
    CMD=(suricata -c perf/suricata-h2.yaml -r "$1" -k none --runmode single -l "$2" -S /dev/null)
}
# Suricata logs an HTTP/2 connection's stream-0 frames (SETTINGS, GOAWAY)
# as `http` events with stream_id 0; the transactions are the others.
suricata_count() {
    python3 - "$1" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    h = e.get("http") or {}
    if e.get("event_type") == "http" and str(h.get("version")) in ("2", "HTTP/2") \
            and (h.get("http2") or {}).get("stream_id", 0) != 0:
        n += 1
print(n)
EOF
}

: >"$RESULTS"
say() { echo "$*" | tee -a "$RESULTS"; }
say "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Counts and content (h1c only for its count).
CHECK=$(capture h2 $((CG * 5)))
CHECK1=$(capture h1 $((CG * 5)))
hc "$CHECK" "$OUT/check-h2.jsonl"
"${CMD[@]}" 2>"$OUT/check-h2.err"
hc "$CHECK1" "$OUT/check-h1.jsonl"
"${CMD[@]}" 2>"$OUT/check-h1.err"
for p in h1 h2; do
    f=$CHECK
    [ $p = h1 ] && f=$CHECK1
    say "records check ($p, $(truth "$f" transactions) tx): $(wc -l <"$OUT/check-$p.jsonl") records; $(python3 perf/verify_records.py --all "$f.lines" "$OUT/check-$p.jsonl" | head -3)"
done
say "h2 records: $(python3 - "$OUT/check-h2.jsonl" <<'EOF'
import json, sys
n = v = s = inc = 0
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    n += 1
    v += r["request"]["version"] == "HTTP/2"
    s += r.get("stream_id") is not None
    inc += "hpack_incomplete" in (r.get("flags") or [])
print(f"{n} records, {v} with version HTTP/2, {s} with stream_id, {inc} hpack_incomplete")
EOF
)"
rm -f "$OUT"/check-*.jsonl
if ! skipping suricata; then
    sc "$CHECK" "$OUT/suricata-check"
    "${CMD[@]}" >/dev/null 2>&1
    say "Suricata on the h2c check capture: $(suricata_count "$OUT/suricata-check/eve.json") HTTP/2 transactions, truth $(truth "$CHECK" transactions)"
    rm -rf "$OUT/suricata-check"
fi

# 2. Instructions per transaction.
callgrind_ir() { # LABEL command...
    local label=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$label.callgrind" "$@" >/dev/null 2>"$OUT/$label.valgrind" || true
    awk '/^(summary|totals):/ { print $2; exit }' "$OUT/$label.callgrind"
}
per_txn() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (a && b) printf "%.0f", (b - a) / n; else print "n/a" }'; }
declare -A IR
cg_httpcap() { # LABEL PCAP
    hc "$2" /dev/null
    callgrind_ir "$1" "${CMD[@]}"
}
if ! skipping callgrind; then
    for p in h1 h1c h2; do
        a=$(cg_httpcap "cg-$p-small" "$(capture $p "$CG")")
        b=$(cg_httpcap "cg-$p-large" "$(capture $p $((CG * 5)))")
        IR[$p]=$(per_txn "$a" "$b" $((CG * 4)))
    done
    if ! skipping suricata; then
        sc "$(capture h2 "$CG")" "$OUT/cg-suricata"
        a=$(callgrind_ir cg-suricata-small "${CMD[@]}")
        sc "$(capture h2 $((CG * 5)))" "$OUT/cg-suricata"
        b=$(callgrind_ir cg-suricata-large "${CMD[@]}")
        IR[suricata]=$(per_txn "$a" "$b" $((CG * 4)))
        rm -rf "$OUT/cg-suricata"
    fi
fi

# 3. CPU seconds, median of RUNS, on the larger captures.
BIG1=$(capture h1 "$TXNS")
BIG2=$(capture h2 "$TXNS")
BIG1C=$(capture h1c "$TXNS")
cat "$BIG1" "$BIG2" "$BIG1C" >/dev/null
cpu() { # LABEL command... : prints user+sys seconds
    local label=$1
    shift
    /usr/bin/time -f '%U %S' -o "$OUT/$label.time" "$@" >/dev/null 2>"$OUT/$label.err"
    awk '{ printf "%.3f", $1 + $2 }' "$OUT/$label.time"
}
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A CPU COUNT
for tool in h1 h1c h2 suricata; do
    skipping "$tool" && continue
    samples=()
    for _ in $(seq "$RUNS"); do
        case $tool in
        h1) hc "$BIG1" /dev/null ;;
        h1c) hc "$BIG1C" /dev/null ;;
        h2) hc "$BIG2" /dev/null ;;
        suricata) sc "$BIG2" "$OUT/suricata" ;;
        esac
        samples+=("$(cpu "cpu-$tool" "${CMD[@]}")")
    done
    CPU[$tool]=$(echo "${samples[*]}" | median)
    say "cpu seconds, $tool: ${samples[*]} (median ${CPU[$tool]})"
    case $tool in
    h1 | h1c | h2) COUNT[$tool]=$(grep -oE 'records_out=[0-9]+' "$OUT/cpu-$tool.err" | tail -1 | cut -d= -f2 || echo "?") ;;
    suricata)
        COUNT[$tool]=$(suricata_count "$OUT/suricata/eve.json")
        rm -rf "$OUT/suricata"
        ;;
    esac
done
txps() { awk -v n="$TXNS" -v c="${CPU[$1]:-0}" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print "n/a" }'; }

say ""
printf '%-26s %10s %10s %12s %14s\n' run count truth instr_per_tx tx_per_cpu_s | tee -a "$RESULTS"
printf '%-26s %10s %10s %12s %14s\n' "httpcap HTTP/1.1" "${COUNT[h1]:-}" "$TXNS" "${IR[h1]:-}" "$(txps h1)" | tee -a "$RESULTS"
printf '%-26s %10s %10s %12s %14s\n' "httpcap HTTP/1.1 h2conns" "${COUNT[h1c]:-}" "$TXNS" "${IR[h1c]:-}" "$(txps h1c)" | tee -a "$RESULTS"
printf '%-26s %10s %10s %12s %14s\n' "httpcap HTTP/2" "${COUNT[h2]:-}" "$TXNS" "${IR[h2]:-}" "$(txps h2)" | tee -a "$RESULTS"
skipping suricata || printf '%-26s %10s %10s %12s %14s\n' "Suricata HTTP/2" "${COUNT[suricata]:-}" "$TXNS" "${IR[suricata]:-}" "$(txps suricata)" | tee -a "$RESULTS"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
say ""
say "HTTP/2 / HTTP/1.1 tx per CPU second: $(ratio "$(txps h2)" "$(txps h1)") (target >= 0.80); instructions per tx HTTP/1.1 / HTTP/2: $(ratio "${IR[h1]:-}" "${IR[h2]:-}")"
say "HTTP/2 / HTTP/1.1 on as many connections: tx per CPU second $(ratio "$(txps h2)" "$(txps h1c)"); instructions per tx HTTP/1.1 / HTTP/2: $(ratio "${IR[h1c]:-}" "${IR[h2]:-}")"
skipping suricata || say "httpcap / Suricata on HTTP/2, tx per CPU second: $(ratio "$(txps h2)" "$(txps suricata)"); Suricata / httpcap instructions per tx: $(ratio "${IR[suricata]:-}" "${IR[h2]:-}")"
say ""
say "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "machine: $(lscpu | awk -F': +' '/^Model name/ { print $2 }'), $(nproc) cores"
say "httpcap: $(git rev-parse --short HEAD)"
skipping suricata || say "peer:    $(suricata -V 2>&1 | grep -m1 -i version)"
for f in "$BIG1" "$BIG1C" "$BIG2"; do
    say "capture: $(basename "$f"): $(truth "$f" transactions) tx, $(truth "$f" connections) connections, $(truth "$f" packets) packets, $(truth "$f" bytes) bytes"
done
