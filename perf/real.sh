#!/usr/bin/env bash
# Instructions per transaction on recorded real traffic: every capture of
# the public set (../shared/pcaps, MANIFEST.tsv: http_req > 0) read in one
# run by httpcap (1 shard, no capture filter, JSON lines to /dev/null) and
# by Suricata (eve `http` events with all headers, perf/suricata.yaml,
# single runmode), each under callgrind. The same run on an empty capture
# is subtracted, so start-up and shutdown cancel; the rest is divided by
# the transactions each reported (httpcap's `transactions` counter,
# Suricata's eve `http` events). Instruction counts do not depend on what
# else the machine is doing; wall time here would.
#
#   perf/real.sh                       release build of the working tree
#   PERF_SKIP=suricata perf/real.sh    httpcap only
#   PERF_PCAPS=DIR                     another set (default ../shared/pcaps)
#
# Prints one line per tool and the ratio, and writes callgrind's
# inclusive profile of httpcap to perf/out/real/httpcap-profile.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PCAPS=${PERF_PCAPS:-../shared/pcaps}
OUT=perf/out/real
SKIP=${PERF_SKIP:-}
[[ -f $PCAPS/MANIFEST.tsv ]] || { echo "perf/real.sh: no $PCAPS/MANIFEST.tsv (the public captures are read from ../shared, never copied)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "perf/real.sh: valgrind missing (perf/setup.sh)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

# The captures that hold HTTP, as one flat directory (Suricata reads a
# directory, and skips symbolic links: hard links or copies, outside the
# repository, removed at the end) and one comma-separated list (httpcap's
# INPUT_RAW).
SET=$(mktemp -d "${TMPDIR:-/tmp}/httpcap-real.XXXXXX")
trap 'rm -rf "$SET"' EXIT
list=()
n=0
while IFS=$'\t' read -r file _ _ _ _ contents _; do
  [[ $contents =~ http_req=([0-9]+) ]] && ((BASH_REMATCH[1] > 0)) || continue
  case $file in *.pcap | *.pcapng | *.cap) ;; *) continue ;; esac
  n=$((n + 1))
  link="$SET/$(printf '%03d' "$n")-${file//\//_}"
  ln "$PCAPS/$file" "$link" 2>/dev/null || cp "$PCAPS/$file" "$link"
  list+=("$link")
done < <(tail -n +2 "$PCAPS/MANIFEST.tsv")
inputs=$(IFS=,; echo "${list[*]}")
bytes=$(du -cb "${list[@]}" | tail -1 | cut -f1)

# An empty capture: a pcap global header (Ethernet) and no packet.
mkdir -p "$OUT/empty"
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$OUT/empty/empty.pcap"

cargo build --release -q -p httpcap
HTTPCAP=$(realpath target/release/httpcap)

callgrind() {
  local label=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$OUT/$label.callgrind" "$@" >/dev/null 2>"$OUT/$label.err" || true
  awk '/^(summary|totals):/ { print $2; exit }' "$OUT/$label.callgrind"
}
per_txn() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / n; else print "n/a" }'; }

httpcap_run() {
  # Filters off: every transaction is written, as Suricata logs all.
  callgrind "$1" "$HTTPCAP" --input-raw-engine pcap_file --input-raw "$2" --processing-workers 1 \
    --output-file /dev/null --input-raw-bpf-filter '' --metrics-output none --health-file '' \
    --filter-block-exts '' --filter-block-ctypes '' --filter-block-accept '' --filter-block-multipart ''
}
h_all=$(httpcap_run httpcap-all "$inputs")
h_empty=$(httpcap_run httpcap-empty "$OUT/empty/empty.pcap")
h_txn=$(grep -oE '(^|[^_])transactions=[0-9]+' "$OUT/httpcap-all.err" | tail -1 | cut -d= -f2)
h_per=$(per_txn "$h_empty" "$h_all" "${h_txn:-0}")
echo "captures: ${#list[@]} with HTTP from $PCAPS, $bytes bytes"
rev=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine || echo "+changes")
echo "httpcap $rev: $h_txn transactions, $((h_all - h_empty)) instructions: $h_per per transaction"
callgrind_annotate --inclusive=yes "$OUT/httpcap-all.callgrind" 2>/dev/null | head -45 >"$OUT/httpcap-profile.txt" || true

if [[ " $SKIP " != *" suricata "* ]]; then
  command -v suricata >/dev/null || { echo "perf/real.sh: suricata missing (perf/setup.sh, or PERF_SKIP=suricata)" >&2; exit 1; }
  suricata_run() {
    rm -rf "$OUT/$1" && mkdir -p "$OUT/$1"
    callgrind "cg-$1" suricata -c perf/suricata.yaml -r "$2" -k none --runmode single -l "$OUT/$1" -S /dev/null
  }
  s_all=$(suricata_run suricata-all "$SET")
  s_empty=$(suricata_run suricata-empty "$OUT/empty")
  s_txn=$(grep -c '"event_type":"http"' "$OUT/suricata-all/eve.json" || true)
  s_per=$(per_txn "$s_empty" "$s_all" "${s_txn:-0}")
  echo "$(suricata -V 2>&1 | grep -m1 -io 'suricata version [0-9.]*'): $s_txn transactions, $((s_all - s_empty)) instructions: $s_per per transaction"
  echo "ratio Suricata / httpcap instructions per transaction: $(awk -v s="$s_per" -v h="$h_per" 'BEGIN { if (h > 0) printf "%.2f", s / h; else print "n/a" }')"
fi
