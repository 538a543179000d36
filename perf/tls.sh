#!/usr/bin/env bash
# TLS benchmark (issue 14): httpcap decrypting TLS captures against httpcap
# on the cleartext capture of the same traffic (same generator, seed and
# options; only --tls differs, so the connections and HTTP bytes are the
# same and only the TLS framing and encryption are added), and the AEAD
# throughput against `openssl speed` on this machine. In one invocation:
#
#   1. checks, on a capture of 5 x PERF_CALLGRIND_TXNS transactions per
#      variant: the record count against the truth, every record with a
#      `tls` object (version, cipher, sni, alpn), the records' content with
#      perf/verify_records.py, the records equal to the cleartext run's
#      except for ids, timestamps, durations, capture file name and `tls`,
#      and the counters tls_decrypting = connections, tls_no_key = 0,
#      tls_decrypt_failed = 0;
#   2. instructions per transaction with callgrind, perf/ir.sh's method:
#      captures of N and 5N transactions, (large - small) / 4N, 1 shard,
#      JSON lines to /dev/null, all filters off;
#   3. CPU seconds (user + sys, /usr/bin/time) on a larger capture, the
#      median of several runs, as transactions per CPU second, and the
#      ratio of each TLS variant to the cleartext figure (target >= 0.70);
#   4. AEAD throughput: `cargo bench --bench tls` (the engine's Decrypter
#      on 16 KiB records) against `openssl speed -evp` with 16 KiB blocks,
#      one after the other (target >= 0.80 for AES-128-GCM).
#
# Variants: plain (HTTP/1.1 cleartext), tls13 (TLS 1.3 AES-128-GCM), tls12
# (TLS 1.2 ECDHE-RSA AES-128-GCM), chacha (TLS 1.3 ChaCha20-Poly1305).
#
# Settings (environment):
#   PERF_TLS_TXNS        transactions in the CPU-time captures  (200000)
#   PERF_CALLGRIND_TXNS  small capture for callgrind            (2000; a 5x one too)
#   PERF_RUNS            CPU-time runs per variant, median kept (5)
#   PERF_AEAD_ROUNDS     AEAD rounds (ours then OpenSSL's), median kept (3)
#   PERF_SEED            generator seed                         (1)
#   PERF_LOADGEN_ARGS    extra generator options for every capture
#   PERF_OUT             work directory, gitignored             (perf/out)
#   PERF_SKIP            space-separated: callgrind cpu aead chacha
set -euo pipefail
cd "$(dirname "$0")/.."

TXNS=${PERF_TLS_TXNS:-200000}
CG=${PERF_CALLGRIND_TXNS:-2000}
RUNS=${PERF_RUNS:-5}
AEAD_ROUNDS=${PERF_AEAD_ROUNDS:-3}
SEED=${PERF_SEED:-1}
GEN_ARGS=${PERF_LOADGEN_ARGS:-}
OUT=${PERF_OUT:-perf/out}/tls
SKIP=" ${PERF_SKIP:-} "
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
RESULTS="$OUT/results.txt"

skipping() { [[ "$SKIP" == *" $1 "* ]]; }
need() { command -v "$1" >/dev/null || { echo "perf/tls.sh: $1 not found (run perf/setup.sh)" >&2; exit 1; }; }
need /usr/bin/time
need python3
skipping callgrind || need valgrind
skipping aead || need openssl

VARIANTS="plain tls13 tls12"
skipping chacha || VARIANTS="$VARIANTS chacha"

cargo build --release -q -p httpcap -p httpcap-loadgen
HTTPCAP=$(realpath target/release/httpcap)
LOADGEN=$(realpath target/release/httpcap-loadgen)

flags() {
    case $1 in
    plain) echo "" ;;
    tls13) echo "--tls 1.3 --tls-cipher TLS_AES_128_GCM_SHA256" ;;
    tls12) echo "--tls 1.2 --tls-cipher TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" ;;
    chacha) echo "--tls 1.3 --tls-cipher TLS_CHACHA20_POLY1305_SHA256" ;;
    esac
}
# capture VARIANT TXNS: generates (once per generator build) and prints the
# path; a TLS capture's key log is PATH.keys.
capture() {
    local v=$1 n=$2
    local name="$OUT/$v-$n-s$SEED.pcap"
    if [ ! -s "$name.truth.json" ] || [ "$LOADGEN" -nt "$name.truth.json" ]; then
        echo "generating $v, $n transactions -> $name" >&2
        # shellcheck disable=SC2046,SC2086 # options are meant to split
        "$LOADGEN" -o "$name" --transactions "$n" --seed "$SEED" --truth-lines "$name.lines" \
            --keylog "$name.keys" $(flags "$v") $GEN_ARGS 2>/dev/null
    fi
    echo "$name"
}
truth() { awk -F': ' -v k="\"$2\"" '$1 ~ k { gsub(/,/, "", $2); print $2 }' "$1.truth.json"; }
# counter FILE NAME: a counter from httpcap's exit summary (absent: 0).
counter() {
    local v
    v=$(grep -oE "(^|[^a-z_])$2=[0-9]+" "$1" | tail -1 | cut -d= -f2 || true)
    echo "${v:-0}"
}

# hc PCAP OUTPUT: sets CMD to httpcap's command line, every filter off (the
# default filters drop static assets; here every transaction is a record),
# with the capture's key log if it has one.
hc() {
    CMD=("$HTTPCAP" --input-raw-engine pcap_file --input-raw "$1" --processing-workers 1
        --output-file "$2" --metrics-output none --health-file '' --input-raw-bpf-filter ''
        --filter-block-exts '' --filter-block-ctypes '' --filter-block-accept ''
        --filter-block-multipart '')
    [ -s "$1.keys" ] && CMD+=(--tls-keylog-file "$1.keys")
    return 0
}

: >"$RESULTS"
say() { echo "$*" | tee -a "$RESULTS"; }
say "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Counts, content, counters.
for v in $VARIANTS; do
    f=$(capture "$v" $((CG * 5)))
    hc "$f" "$OUT/check-$v.jsonl"
    "${CMD[@]}" 2>"$OUT/check-$v.err"
    conns=$(truth "$f" connections)
    say "records check ($v, $(truth "$f" transactions) tx, $conns connections): $(wc -l <"$OUT/check-$v.jsonl") records; $(python3 perf/verify_records.py --all "$f.lines" "$OUT/check-$v.jsonl" | head -3)"
    [ "$v" = plain ] && continue
    say "  counters: tls_connections=$(counter "$OUT/check-$v.err" tls_connections) tls_decrypting=$(counter "$OUT/check-$v.err" tls_decrypting) (connections $conns) tls_no_key=$(counter "$OUT/check-$v.err" tls_no_key) tls_decrypt_failed=$(counter "$OUT/check-$v.err" tls_decrypt_failed) tls_records_decrypted=$(counter "$OUT/check-$v.err" tls_records_decrypted)"
    say "  $(python3 - "$OUT/check-plain.jsonl" "$OUT/check-$v.jsonl" <<'EOF'
import json, sys

def load(path):
    out, tls = {}, {}
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        key = (json.dumps(r["conn"], sort_keys=True), r["id"].rsplit("-", 1)[1])
        t = r.pop("tls", None)
        if t and all(t.get(k) for k in ("version", "cipher", "sni", "alpn")):
            d = (t["version"], t["cipher"], t["alpn"])
            tls[d] = tls.get(d, 0) + 1
        for k in ("id", "duration_us"):
            r.pop(k, None)
        r["observer"].pop("interface", None)
        for m in ("request", "response"):
            if r.get(m):
                r[m].pop("ts", None)
        out[key] = r
    return out, tls

plain, _ = load(sys.argv[1])
enc, tls = load(sys.argv[2])
same = sum(1 for k, r in enc.items() if plain.get(k) == r)
print(f"records with a full tls object: {tls}; equal to the cleartext run's "
      f"(ids, timestamps, durations, tls aside): {same} of {len(plain)}")
EOF
)"
done
rm -f "$OUT"/check-*.jsonl

# 2. Instructions per transaction.
callgrind_ir() { # LABEL command...
    local label=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$label.callgrind" "$@" >/dev/null 2>"$OUT/$label.valgrind" || true
    awk '/^(summary|totals):/ { print $2; exit }' "$OUT/$label.callgrind"
}
per_txn() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (a && b) printf "%.0f", (b - a) / n; else print "n/a" }'; }
declare -A IR
if ! skipping callgrind; then
    for v in $VARIANTS; do
        hc "$(capture "$v" "$CG")" /dev/null
        a=$(callgrind_ir "cg-$v-small" "${CMD[@]}")
        hc "$(capture "$v" $((CG * 5)))" /dev/null
        b=$(callgrind_ir "cg-$v-large" "${CMD[@]}")
        IR[$v]=$(per_txn "$a" "$b" $((CG * 4)))
        say "instructions per transaction, $v: ${IR[$v]}"
    done
fi

# 3. CPU seconds, median of RUNS, on the larger captures.
cpu() { # LABEL command... : prints user+sys seconds
    local label=$1
    shift
    /usr/bin/time -f '%U %S' -o "$OUT/$label.time" "$@" >/dev/null 2>"$OUT/$label.err"
    awk '{ printf "%.3f", $1 + $2 }' "$OUT/$label.time"
}
median() { tr ' ' '\n' | awk NF | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A CPU COUNT
if ! skipping cpu; then
    for v in $VARIANTS; do
        f=$(capture "$v" "$TXNS")
        cat "$f" "$f.keys" >/dev/null 2>&1 || true
    done
    # Interleaved rounds, so that a change in the machine's load touches
    # every variant alike.
    declare -A SAMPLES
    for _ in $(seq "$RUNS"); do
        for v in $VARIANTS; do
            hc "$(capture "$v" "$TXNS")" /dev/null
            SAMPLES[$v]="${SAMPLES[$v]:-} $(cpu "cpu-$v" "${CMD[@]}")"
        done
    done
    for v in $VARIANTS; do
        CPU[$v]=$(echo "${SAMPLES[$v]}" | median)
        COUNT[$v]=$(counter "$OUT/cpu-$v.err" records_out)
        say "cpu seconds, $v:${SAMPLES[$v]} (median ${CPU[$v]})"
    done
fi
txps() { awk -v n="$TXNS" -v c="${CPU[$1]:-0}" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print "n/a" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

# 4. AEAD throughput: ours, then OpenSSL's, back to back, AEAD_ROUNDS times;
# the median of each is kept. OpenSSL's figure is for encryption (its
# default, the issue's command) and, for reference, decryption.
declare -A OURS SSL
if ! skipping aead; then
    cargo bench --profile ci -q -p httpcap-benches --bench tls --no-run 2>/dev/null
    declare -A OURS_S SSL_S
    for round in $(seq "$AEAD_ROUNDS"); do
        cargo bench --profile ci -q -p httpcap-benches --bench tls -- --warm-up-time 2 --measurement-time 5 \
            >"$OUT/bench-tls-$round.txt" 2>&1
        # Criterion: "tls_open_16k/NAME" then "thrpt: [low mid high]"; mid in GB/s (1e9).
        while read -r name gbps; do OURS_S[$name]="${OURS_S[$name]:-} $gbps"; done < <(awk '
            /^tls_open_16k\// { split($1, p, "/"); name = p[2] }
            /thrpt:/ && name != "" {
                v = $4; u = $5
                f = (u ~ /^GiB/) ? 1.073741824 : (u ~ /^MiB/) ? 0.001048576 : (u ~ /^KiB/) ? 0.000001024 : 1
                printf "%s %.3f\n", name, v * f; name = "" }' "$OUT/bench-tls-$round.txt")
        for alg in aes-128-gcm chacha20-poly1305 decrypt-aes-128-gcm; do
            case $alg in
            decrypt-*) openssl speed -decrypt -evp "${alg#decrypt-}" -bytes 16384 -seconds 3 >"$OUT/openssl-$alg-$round.txt" 2>/dev/null ;;
            *) openssl speed -evp "$alg" -bytes 16384 -seconds 3 >"$OUT/openssl-$alg-$round.txt" 2>/dev/null ;;
            esac
            # Last line: "ALG  <k bytes/s>k" (OpenSSL's k is 1000 bytes).
            SSL_S[$alg]="${SSL_S[$alg]:-} $(awk 'END { v = $NF; sub(/k$/, "", v); printf "%.3f", v * 1000 / 1e9 }' "$OUT/openssl-$alg-$round.txt")"
        done
    done
    for k in "${!OURS_S[@]}"; do
        OURS[$k]=$(echo "${OURS_S[$k]}" | median)
        say "AEAD ours $k GB/s:${OURS_S[$k]} (median ${OURS[$k]})"
    done
    for k in "${!SSL_S[@]}"; do
        SSL[$k]=$(echo "${SSL_S[$k]}" | median)
        say "AEAD openssl $k GB/s:${SSL_S[$k]} (median ${SSL[$k]})"
    done
fi

say ""
printf '%-34s %9s %9s %12s %14s %9s\n' run records truth instr_per_tx tx_per_cpu_s vs_plain | tee -a "$RESULTS"
for v in $VARIANTS; do
    label=$v
    case $v in
    plain) label="HTTP/1.1 cleartext" ;;
    tls13) label="TLS 1.3 AES-128-GCM" ;;
    tls12) label="TLS 1.2 ECDHE-RSA AES-128-GCM" ;;
    chacha) label="TLS 1.3 ChaCha20-Poly1305" ;;
    esac
    printf '%-34s %9s %9s %12s %14s %9s\n' "$label" "${COUNT[$v]:-}" "$TXNS" "${IR[$v]:-}" "$(txps "$v")" \
        "$(ratio "$(txps "$v")" "$(txps plain)")" | tee -a "$RESULTS"
done
say "(vs_plain: decrypted / cleartext transactions per CPU second; target >= 0.70 for AES-128-GCM)"
if ! skipping aead; then
    say ""
    say "AEAD, 16 KiB records, GB/s (1e9 bytes of plaintext per second):"
    say "  ours TLS 1.3 AES-128-GCM   ${OURS[tls13_aes128gcm]:-n/a}   openssl aes-128-gcm       ${SSL[aes-128-gcm]}   ratio $(ratio "${OURS[tls13_aes128gcm]:-}" "${SSL[aes-128-gcm]}") (target >= 0.80)"
    say "  ours TLS 1.2 AES-128-GCM   ${OURS[tls12_aes128gcm]:-n/a}   openssl aes-128-gcm       ${SSL[aes-128-gcm]}   ratio $(ratio "${OURS[tls12_aes128gcm]:-}" "${SSL[aes-128-gcm]}")"
    say "  ours TLS 1.3 AES-128-GCM   ${OURS[tls13_aes128gcm]:-n/a}   openssl -decrypt aes-128-gcm ${SSL[decrypt-aes-128-gcm]}   ratio $(ratio "${OURS[tls13_aes128gcm]:-}" "${SSL[decrypt-aes-128-gcm]}")"
    say "  ours TLS 1.3 AES-256-GCM   ${OURS[tls13_aes256gcm]:-n/a}"
    say "  ours TLS 1.3 ChaCha20      ${OURS[tls13_chacha20poly1305]:-n/a}   openssl chacha20-poly1305 ${SSL[chacha20-poly1305]}   ratio $(ratio "${OURS[tls13_chacha20poly1305]:-}" "${SSL[chacha20-poly1305]}")"
    say "  ours TLS 1.2 ChaCha20      ${OURS[tls12_chacha20poly1305]:-n/a}   openssl chacha20-poly1305 ${SSL[chacha20-poly1305]}   ratio $(ratio "${OURS[tls12_chacha20poly1305]:-}" "${SSL[chacha20-poly1305]}")"
fi
say ""
say "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "machine: $(lscpu | awk -F': +' '/^Model name/ { print $2 }'), $(nproc) cores; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
say "httpcap: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine tools || echo ' (with uncommitted changes)')"
skipping aead || say "openssl: $(openssl version)"
for v in $VARIANTS; do
    f="$OUT/$v-$TXNS-s$SEED.pcap"
    [ -s "$f.truth.json" ] || continue
    say "capture: $(basename "$f"): $(truth "$f" transactions) tx, $(truth "$f" connections) connections, $(truth "$f" packets) packets, $(truth "$f" bytes) bytes"
done
