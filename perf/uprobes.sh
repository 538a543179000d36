#!/usr/bin/env bash
# What TLS uprobes cost the processes they read: nginx serving HTTPS
# (TLS 1.3, keep-alive, one worker) to wrk, each in a network namespace
# this script creates, in rounds that alternate
#
#   off      nothing traced (the peer: the same server and client alone),
#   bare     the kernel's own uprobe events (perf probe, tracing off) on
#            the five functions httpcap probes, entry and return: what the
#            traps alone cost on this machine, with no program of ours,
#   uprobes  httpcap reading both ends' libssl (TLS_UPROBE_LIBS=<file>,
#            af_packet on the server's veth, JSON lines to a file).
#
# Per request it reports the CPU time (user + system, from
# /proc/PID/stat) of nginx's worker and of wrk: a uprobe is a trap into
# the kernel on every SSL_read/SSL_write and its BPF program runs there,
# so the traced process pays it, in system time. Also httpcap's own CPU
# per record, and its records against wrk's request count (nothing lost:
# tls_uprobe_lost and kernel_drops are printed). Medians over the rounds.
# CPU time, not wall time: this machine is shared and wall time is noisy.
#
# Settings: PERF_UPROBE_ROUNDS (3), PERF_UPROBE_SECS (10, per phase),
# PERF_UPROBE_CONNS (8), PERF_UPROBE_BODY (1024 bytes per response),
# PERF_UPROBE_LIBSSL (/usr/lib/x86_64-linux-gnu/libssl.so.3), PERF_OUT
# (perf/out). Needs root, nginx, wrk, openssl, iproute2 (perf/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${PERF_UPROBE_ROUNDS:-3}
SECS=${PERF_UPROBE_SECS:-10}
CONNS=${PERF_UPROBE_CONNS:-8}
BODY=${PERF_UPROBE_BODY:-1024}
LIBSSL=${PERF_UPROBE_LIBSSL:-/usr/lib/x86_64-linux-gnu/libssl.so.3}
OUT=${PERF_OUT:-perf/out}/uprobes
for tool in nginx wrk openssl ip perf; do
    command -v "$tool" >/dev/null || { echo "perf/uprobes.sh: $tool not found (run perf/setup.sh)" >&2; exit 1; }
done
[[ -f $LIBSSL ]] || { echo "perf/uprobes.sh: $LIBSSL not found (PERF_UPROBE_LIBSSL)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
srv_ns=httpcap-up-srv
cli_ns=httpcap-up-cli
srv_ip=10.233.7.1
cli_ip=10.233.7.2
cap_pid=

TRACING=/sys/kernel/tracing
[[ -d $TRACING/events ]] || mount -t tracefs nodev "$TRACING"
FUNCS="SSL_read SSL_write SSL_read_ex SSL_write_ex SSL_do_handshake"

bare_off() {
    [[ -d $TRACING/events/httpcap_bare ]] || return 0
    echo 0 >"$TRACING/events/httpcap_bare/enable"
    perf probe -q -d 'httpcap_bare:*' 2>/dev/null || true
}

bare_on() {
    local f
    for f in $FUNCS; do
        perf probe -q -x "$LIBSSL" -a "httpcap_bare:${f}=$f" -a "httpcap_bare:${f}_ret=$f%return"
    done
    echo 0 >"$TRACING/tracing_on"
    echo 1 >"$TRACING/events/httpcap_bare/enable"
}

cleanup() {
    bare_off
    echo 1 >"$TRACING/tracing_on" 2>/dev/null || true
    [[ -n $cap_pid ]] && kill "$cap_pid" 2>/dev/null || true
    [[ -f $OUT/nginx.pid ]] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true
    ip netns del "$srv_ns" 2>/dev/null || true
    ip netns del "$cli_ns" 2>/dev/null || true
}
trap cleanup EXIT
cleanup

cargo build --release -q -p httpcap
HTTPCAP=$(realpath target/release/httpcap)

# Addresses that exist only inside these two namespaces.
. tools/netns.sh
netns_pair "$srv_ns" up-srv "$srv_ip" "$cli_ns" up-cli "$cli_ip"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$srv_ip" \
    -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
body=$(head -c "$BODY" /dev/zero | tr '\0' 'x')
cat >"$OUT/nginx.conf" <<EOF
daemon on; pid $OUT/nginx.pid; error_log $OUT/error.log; worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $OUT/body; proxy_temp_path $OUT/proxy; fastcgi_temp_path $OUT/fcgi;
  uwsgi_temp_path $OUT/uwsgi; scgi_temp_path $OUT/scgi;
  keepalive_requests 1000000;
  server {
    listen $srv_ip:443 ssl;
    ssl_certificate $OUT/cert.pem;
    ssl_certificate_key $OUT/key.pem;
    ssl_protocols TLSv1.3;
    location / { default_type text/plain; return 200 '$body'; }
  }
}
EOF
rm -f "$OUT/nginx.pid"
ip netns exec "$srv_ns" nginx -c "$OUT/nginx.conf"
for _ in $(seq 50); do [[ -s $OUT/nginx.pid ]] && break; sleep 0.1; done
worker=$(pgrep -P "$(cat "$OUT/nginx.pid")" | head -1)
[[ -n $worker ]] || { echo "perf/uprobes.sh: nginx did not start" >&2; cat "$OUT/error.log" >&2; exit 1; }

# CPU seconds (user + system) of a process so far.
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12] + f[13]) / hz }' "/proc/$1/stat"
}

# One phase: wrk for SECS seconds; prints "requests nginx_cpu wrk_cpu".
load() {
    local before after
    before=$(cpu_of "$worker")
    ip netns exec "$cli_ns" /usr/bin/time -f '%U %S' -o "$OUT/wrk.time" \
        wrk -t1 -c"$CONNS" -d"${SECS}s" "https://$srv_ip/" >"$OUT/wrk.out"
    after=$(cpu_of "$worker")
    local reqs
    reqs=$(awk '/requests in/ { print $1 }' "$OUT/wrk.out")
    echo "$reqs $(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }') $(awk '{ printf "%.2f", $1 + $2 }' "$OUT/wrk.time")"
}

start_httpcap() {
    ip netns exec "$srv_ns" "$HTTPCAP" --input-raw-engine af_packet --input-raw up-srv \
        --processing-workers 1 --tls-uprobe-libs "$LIBSSL" \
        --output-file "$OUT/records.jsonl" 2>"$OUT/httpcap.err" &
    cap_pid=$!
    for _ in $(seq 100); do
        grep -q "TLS uprobes attached" "$OUT/httpcap.err" 2>/dev/null && break
        kill -0 "$cap_pid" 2>/dev/null || { echo "httpcap exited:" >&2; cat "$OUT/httpcap.err" >&2; exit 1; }
        sleep 0.1
    done
    sleep 0.5
}

# Stops httpcap (its records flushed); its CPU seconds in hcpu.
stop_httpcap() {
    hcpu=$(cpu_of "$cap_pid")
    kill -INT "$cap_pid"
    wait "$cap_pid" || true
    cap_pid=
}

counter() { grep -oE "\b$1=[0-9]+" "$OUT/httpcap.err" | tail -1 | cut -d= -f2; }

results=$OUT/rounds.tsv
printf 'round\tphase\trequests\tnginx_cpu_s\twrk_cpu_s\thttpcap_cpu_s\trecords\ttls_uprobe_lost\tkernel_drops\n' >"$results"
load >/dev/null # warm-up: sessions, caches
for round in $(seq "$ROUNDS"); do
    read -r reqs ncpu wcpu < <(load)
    printf '%s\toff\t%s\t%s\t%s\t-\t-\t-\t-\n' "$round" "$reqs" "$ncpu" "$wcpu" >>"$results"
    bare_on
    read -r reqs ncpu wcpu < <(load)
    bare_off
    printf '%s\tbare\t%s\t%s\t%s\t-\t-\t-\t-\n' "$round" "$reqs" "$ncpu" "$wcpu" >>"$results"
    rm -f "$OUT/records.jsonl"
    start_httpcap
    read -r reqs ncpu wcpu < <(load)
    stop_httpcap
    records=$(wc -l <"$OUT/records.jsonl")
    printf '%s\tuprobes\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$reqs" "$ncpu" "$wcpu" "$hcpu" \
        "$records" "$(counter tls_uprobe_lost)" "$(counter kernel_drops)" >>"$results"
done

{
    echo "uprobes: nginx (1 worker, TLS 1.3, ${BODY}-byte responses) and wrk (-c$CONNS), ${SECS}s phases, $ROUNDS rounds, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short HEAD)"
    column -t -s $'\t' "$results"
    # Medians of microseconds per request, per phase.
    awk -F'\t' 'NR > 1 {
        n[$2]++; k = $2 SUBSEP n[$2]
        nginx[k] = 1e6 * $4 / $3; wrk[k] = 1e6 * $5 / $3
        if ($2 == "uprobes") { cap[n[$2]] = 1e6 * $6 / $7; rec[n[$2]] = $7 / $3 }
    }
    function median(a, p, m,   v, i, j, t, c) {
        c = 0; for (i = 1; i <= m; i++) v[++c] = a[p SUBSEP i]
        for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
    }
    END {
        m = n["off"]
        no = median(nginx, "off", m); nb = median(nginx, "bare", m); nu = median(nginx, "uprobes", m)
        wo = median(wrk, "off", m); wb = median(wrk, "bare", m); wu = median(wrk, "uprobes", m)
        for (i = 1; i <= m; i++) { c["x" SUBSEP i] = cap[i]; r["x" SUBSEP i] = rec[i] }
        printf "nginx worker CPU per request: %.1f us off, %.1f us bare uprobes (+%.1f), %.1f us httpcap (+%.1f, %.2fx off; %.2fx bare)\n", no, nb, nb - no, nu, nu - no, nu / no, (nu - no) / (nb - no)
        printf "wrk CPU per request:          %.1f us off, %.1f us bare uprobes (+%.1f), %.1f us httpcap (+%.1f, %.2fx off; %.2fx bare)\n", wo, wb, wb - wo, wu, wu - wo, wu / wo, (wu - wo) / (wb - wo)
        printf "httpcap CPU per record:       %.1f us; records per request %.4f\n", median(c, "x", m), median(r, "x", m)
    }' "$results"
} | tee "$OUT/results.txt"
