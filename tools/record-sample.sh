#!/usr/bin/env bash
# Records engine/testdata/sample.pcap: real nginx and curl traffic between
# two network namespaces joined by a veth pair. The addresses exist only
# inside those namespaces, so nothing leaves the machine. Also keeps nginx's
# access log of the run (engine/testdata/sample.access.log) for comparison.
#
# Needs root, nginx, curl, tcpdump, ethtool, iproute2. Run from the repo root:
#   sudo tools/record-sample.sh [OUTDIR]
set -euo pipefail

out_dir=$(realpath "${1:-engine/testdata}")
srv_ns=httpcap-rec-srv
cli_ns=httpcap-rec-cli
srv_ip=10.77.0.1
cli_ip=10.77.0.2
work=$(mktemp -d /tmp/httpcap-rec.XXXXXX)
dump_pid=

cleanup() {
    [ -n "$dump_pid" ] && kill "$dump_pid" 2>/dev/null || true
    if [ -f "$work/nginx.pid" ]; then
        ip netns exec "$srv_ns" nginx -p "$work" -c "$work/nginx.conf" -s quit 2>/dev/null || true
        sleep 0.3
    fi
    ip netns del "$srv_ns" 2>/dev/null || true
    ip netns del "$cli_ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# --- network: two namespaces, one veth pair, no offloads so the capture
# holds wire-sized segments rather than 64 KB super-packets.
. "$(dirname "$0")/netns.sh"
netns_pair "$srv_ns" rec-srv "$srv_ip" "$cli_ns" rec-cli "$cli_ip"
for pair in "$srv_ns rec-srv" "$cli_ns rec-cli"; do
    set -- $pair
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off >/dev/null 2>&1 || true
done

# --- content: a JSON API plus static assets.
mkdir -p "$work/root/api/v1/users" "$work/root/api/v1/products" "$work/root/static" "$work/logs"
cat >"$work/root/api/v1/users/42" <<'JSON'
{"id":42,"name":"Ines Kowalska","email":"ines.kowalska@example.com","roles":["admin","billing"],"created_at":"2025-11-02T10:15:00Z","active":true}
JSON
python3 - "$work/root/api/v1/products/index" <<'PY'
import json, sys
items = [{"id": i, "sku": f"SKU-{i:05d}", "name": f"Product {i}", "price": round(3.5 * i, 2),
          "tags": ["demo", "sample"], "stock": i * 7 % 50} for i in range(1, 160)]
open(sys.argv[1], "w").write(json.dumps({"data": items, "page": 2, "total": 640}))
PY
head -c 20000 /dev/zero | tr '\0' 'x' | fold -w 99 | sed 's/^/\/\/ /' >"$work/root/static/app.js"
python3 - "$work/root/static/logo.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
raw = b"".join(b"\0" + bytes((x * 7 + y * 3) % 256 for x in range(48)) for y in range(48))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 48, 48, 8, 0, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY

cat >"$work/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format sample '\$remote_addr \$connection \$connection_requests "\$request" \$status \$body_bytes_sent \$request_length "\$http_user_agent" "\$http_x_real_ip"';
    access_log $work/logs/access.log sample;
    server_tokens on;
    keepalive_timeout 30s;
    gzip on;
    gzip_min_length 64;
    gzip_types application/json text/plain;
    server {
        listen $srv_ip:80;
        server_name api.example.com;
        root $work/root;
        location /api/v1/users/ { default_type application/json; }
        location = /api/v1/products { default_type application/json; try_files /api/v1/products/index =404; }
        location = /api/v1/orders { default_type application/json; return 201 '{"id":1001,"status":"created"}\n'; }
        location /api/v1/sessions/ { return 204; }
        # APIs answer errors in JSON (nginx's own 404 page is text/html, which the filters drop).
        location = /api/v1/missing { default_type application/json; return 404 '{"error":"not_found"}\n'; }
        # sub_filter drops Content-Length, so this answer goes out chunked without gzip.
        location = /api/v1/report {
            default_type text/plain;
            gzip off;
            sub_filter_types text/plain;
            sub_filter 'PLACEHOLDER' 'filled';
            sub_filter_once off;
            try_files /api/v1/users/42 =404;
        }
        location /static/ { }
    }
}
CONF
ip netns exec "$srv_ns" nginx -p "$work" -c "$work/nginx.conf"

ip netns exec "$srv_ns" tcpdump -i rec-srv -s 262144 -U -w "$work/sample.pcap" "tcp port 80" 2>"$work/tcpdump.log" &
dump_pid=$!
sleep 1

base="http://$srv_ip"
host=(-H "Host: api.example.com")
ua=(-A "httpcap-sample/1.0 (curl)")
fwd=(-H "X-Real-IP: 203.0.113.7" -H "X-Forwarded-For: 203.0.113.7, 198.51.100.1")
auth=(-H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.c2FtcGxl.c2lnbmF0dXJl")
c() { ip netns exec "$cli_ns" curl -sS --http1.1 "${host[@]}" "${ua[@]}" "${fwd[@]}" -o /dev/null "$@"; }

# Keep-alive: four requests on one connection (gzip JSON, gzip+chunked list, 404, plain JSON).
c --compressed -H "Accept: application/json" -b "sid=5f2b9c; theme=dark" \
    "$base/api/v1/users/42" -o /dev/null "$base/api/v1/products?page=2" \
    -o /dev/null "$base/api/v1/missing" -o /dev/null "$base/api/v1/users/42"
# POST with a small JSON body, then one large enough to span several segments.
c "${auth[@]}" -X POST -H "Content-Type: application/json" --data '{"sku":"SKU-00042","qty":2}' "$base/api/v1/orders"
big=$(python3 -c 'import json; print(json.dumps({"items":[{"sku":"SKU-%05d"%i,"qty":i%5+1,"note":"gift wrap"} for i in range(120)]}))')
c "${auth[@]}" -X POST -H "Content-Type: application/json" --data "$big" "$base/api/v1/orders"
# HEAD, DELETE (204), chunked without gzip, uncompressed large JSON.
c -I "$base/api/v1/users/42"
c "${auth[@]}" -X DELETE "$base/api/v1/sessions/5f2b9c"
c "$base/api/v1/report"
c -H "Accept: application/json" "$base/api/v1/products?page=3"
# Static assets, which httpcap's default filters drop.
c -H "Accept: */*" "$base/static/app.js" -o /dev/null "$base/static/logo.png"

sleep 1
kill "$dump_pid"
wait "$dump_pid" 2>/dev/null || true
dump_pid=
ip netns exec "$srv_ns" nginx -p "$work" -c "$work/nginx.conf" -s quit
sleep 0.5

mkdir -p "$out_dir"
cp "$work/sample.pcap" "$out_dir/sample.pcap"
cp "$work/logs/access.log" "$out_dir/sample.access.log"
echo "wrote $out_dir/sample.pcap ($(stat -c %s "$out_dir/sample.pcap") bytes) and sample.access.log ($(wc -l <"$out_dir/sample.access.log") requests)"
