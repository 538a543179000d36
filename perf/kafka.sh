#!/usr/bin/env bash
# Kafka end to end (issue 7 item 4). In one invocation, on one generated
# capture and one local Tansu broker (127.0.0.1 only):
#   1. httpcap, pcap_file mode, 2 shards, snappy, into topic A, also writing
#      JSON lines to a file; rate = records / wall time until it exits
#      (bounded flush included);
#   2. baseline: a plain librdkafka producer (perf/kafka_baseline.py, same
#      settings and keys) sends exactly those JSON lines into topic B;
#   3. both topics are read back (tools/kafka/consume.py) and compared with
#      the file: same count, no duplicates, same values.
# It also times httpcap without Kafka on the same capture, to separate the
# cost of producing from that of parsing the capture.
# Prints the ratio httpcap / baseline (target >= 0.60) and the loss.
#
# Settings: PERF_KAFKA_TXNS (100000), PERF_SEED (1), PERF_OUT (perf/out),
# PERF_KAFKA_PORT (19500), PERF_KAFKA_PARTITIONS (3).
# Needs tools/kafka/setup.sh (confluent-kafka, Tansu) and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

TXNS=${PERF_KAFKA_TXNS:-100000}
SEED=${PERF_SEED:-1}
PORT=${PERF_KAFKA_PORT:-19500}
PARTS=${PERF_KAFKA_PARTITIONS:-3}
OUT=${PERF_OUT:-perf/out}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
BOOT=127.0.0.1:$PORT
RUN_ID=$(date +%s)
TOPIC_H=perf-httpcap-$RUN_ID
TOPIC_B=perf-baseline-$RUN_ID
RESULTS="$OUT/kafka-results.txt"

command -v /usr/bin/time >/dev/null || { echo "perf/kafka.sh: /usr/bin/time not found" >&2; exit 1; }
bash tools/kafka/setup.sh
cargo build --release -q -p httpcap -p httpcap-loadgen
HTTPCAP=$(realpath target/release/httpcap)
LOADGEN=$(realpath target/release/httpcap-loadgen)

PCAP="$OUT/http-$TXNS-s$SEED.pcap"
if [ ! -s "$PCAP.truth.json" ] || [ "$LOADGEN" -nt "$PCAP.truth.json" ]; then
    "$LOADGEN" -o "$PCAP" --transactions "$TXNS" --seed "$SEED" >&2
fi
truth() { awk -F': ' -v k="\"$1\"" '$1 ~ k { gsub(/,/, "", $2); print $2 }' "$PCAP.truth.json"; }
KEPT=$(truth non_static_transactions)
cat "$PCAP" >/dev/null

# A fresh broker per run: memory storage, so nothing from earlier runs.
bash tools/kafka/broker.sh start "$PORT"
trap 'bash tools/kafka/broker.sh purge "$PORT"' EXIT
for t in "$TOPIC_H" "$TOPIC_B"; do
    python3 tools/kafka/consume.py create --bootstrap "$BOOT" --topic "$t" --partitions "$PARTS"
done

: >"$RESULTS"
say() { echo "$*" | tee -a "$RESULTS"; }
say "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared with other work)"

# 1. httpcap into the broker.
JSONL="$OUT/kafka-httpcap.jsonl"
t0=$(date +%s.%N)
OUTPUT_KAFKA_HOST=$BOOT OUTPUT_KAFKA_TOPIC=$TOPIC_H OUTPUT_KAFKA_COMPRESSION=snappy \
    /usr/bin/time -v -o "$OUT/kafka-httpcap.time" \
    "$HTTPCAP" --input-raw-engine pcap_file --input-raw "$PCAP" --processing-workers 2 \
    --output-file "$JSONL" --input-raw-bpf-filter '' 2>"$OUT/kafka-httpcap.err"
t1=$(date +%s.%N)
counter() { grep -oE "$1=[0-9]+" "$OUT/kafka-httpcap.err" | tail -1 | cut -d= -f2; }
H_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
H_CPU=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$OUT/kafka-httpcap.time")
H_RSS=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$OUT/kafka-httpcap.time")
LINES=$(wc -l <"$JSONL")
# The rate counts records the broker acknowledged, not records produced.
H_RPS=$(awk -v n="$(counter kafka_delivered)" -v w="$H_WALL" 'BEGIN { printf "%.0f", n / w }')
say "httpcap 2 shards: records=$LINES (truth $KEPT) kafka_delivered=$(counter kafka_delivered) kafka_failed=$(counter kafka_failed) drop_kafka_queue=$(counter drop_kafka_queue) wall_s=$H_WALL cpu_s=$H_CPU rss_MB=$H_RSS rec_per_s=$H_RPS"

# For reading the figures: the same run without Kafka, so the cost of the
# capture itself (parse, reassembly, JSON) is known apart from producing.
/usr/bin/time -f '%e %U %S' -o "$OUT/kafka-nokafka.time" \
    "$HTTPCAP" --input-raw-engine pcap_file --input-raw "$PCAP" --processing-workers 2 \
    --output-file /dev/null --input-raw-bpf-filter '' 2>/dev/null
read -r N_WALL N_USR N_SYS <"$OUT/kafka-nokafka.time"
say "httpcap 2 shards without Kafka (reference): wall_s=$N_WALL cpu_s=$(awk -v u="$N_USR" -v s="$N_SYS" 'BEGIN { printf "%.2f", u + s }')"

# 2. The baseline producer, same records.
B_LINE=$(python3 perf/kafka_baseline.py --bootstrap "$BOOT" --topic "$TOPIC_B" --input "$JSONL" --compression snappy)
B_RPS=$(sed -E 's/.*rec_per_s=([0-9]+).*/\1/' <<<"$B_LINE")
say "baseline producer: $B_LINE"

# 3. Read both topics back and compare with the file.
verify() {
    python3 tools/kafka/consume.py read --bootstrap "$BOOT" --topic "$1" --timeout 600 --expect "$(wc -l <"$JSONL")" >"$OUT/kafka-$1.read"
    python3 - "$JSONL" "$OUT/kafka-$1.read" <<'EOF'
import collections, hashlib, sys
def digests(path):
    with open(path, "rb") as f:
        return collections.Counter(hashlib.blake2b(l.rstrip(b"\n"), digest_size=16).digest() for l in f if l.strip())
want, got = digests(sys.argv[1]), digests(sys.argv[2])
dups = sum(n - 1 for n in got.values() if n > 1)
lost = sum((want - got).values())
extra = sum((got - want).values()) - dups
print(f"read={sum(got.values())} expected={sum(want.values())} lost={lost} duplicates={dups} unexpected={max(extra, 0)}",
      "ok" if lost == 0 and dups == 0 and extra <= 0 else "FAIL")
EOF
    rm -f "$OUT/kafka-$1.read"
}
say "check httpcap topic:  $(verify "$TOPIC_H")"
say "check baseline topic: $(verify "$TOPIC_B")"
STATUS=0
grep -q FAIL "$RESULTS" && STATUS=1
say "ratio httpcap / baseline records per second: $(awk -v a="$H_RPS" -v b="$B_RPS" 'BEGIN { printf "%.2f", a / b }') (target >= 0.60)"
{
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(lscpu | awk -F': +' '/^Model name/ { print $2 }'), $(nproc) cores"
    echo "httpcap: $(git rev-parse --short HEAD); librdkafka $(python3 -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])'); broker Tansu (memory storage), $PARTS partitions per topic"
    echo "capture: $PCAP, $(truth transactions) transactions ($KEPT non-static), $(truth bytes) bytes"
} | tee -a "$RESULTS"
rm -f "$JSONL"
exit $STATUS
