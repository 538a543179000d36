#!/usr/bin/env bash
# SASL/SCRAM test broker for httpcap: Tansu built from crates.io with sqlite
# storage (the wheel behind broker.sh has memory storage only, which cannot
# keep users across the restart that turns authentication on).
#
#   scram-broker.sh build             build if missing (~13 min, cached outside the clone)
#   scram-broker.sh build-bg          same, detached; progress in $CACHE/tansu-src.log
#   scram-broker.sh wait-built SECS   wait for a build (from build-bg) to finish
#   scram-broker.sh start  [PORT]     fresh database, create users, restart with --authentication
#   scram-broker.sh open   [PORT]     fresh database, no authentication (persistent plain broker)
#   scram-broker.sh resume [PORT]     start again on the existing database, same mode
#   scram-broker.sh stop|kill|status [PORT]
#   scram-broker.sh purge  [PORT]     stop and remove its database and log
#
# Users come from $HTTPCAP_SCRAM_USERS, "name:password:scram256|scram512"
# separated by spaces; topics to pre-create from $HTTPCAP_SCRAM_TOPICS.
# Listens on 127.0.0.1 only; stopped by PID file.
set -euo pipefail

CACHE=${HTTPCAP_CACHE:-/var/cache/httpcap}
VERSION=0.6.0
ROOT=$CACHE/tansu-src
BIN=$ROOT/bin/tansu
BUILD_LOG=$CACHE/tansu-src.log
BUILD_PID=$CACHE/tansu-src.pid
RUN=$CACHE/run
USERS=${HTTPCAP_SCRAM_USERS:-"alice:alice-secret:scram256 bob:bob-secret:scram512"}
TOPICS=${HTTPCAP_SCRAM_TOPICS:-}

cmd=${1:-}
port=${2:-${HTTPCAP_SCRAM_PORT:-19192}}
state=$RUN/scram-$port
pidfile=$state/pid

die() { echo "scram-broker.sh: $*" >&2; exit 1; }

build() {
  [[ -x $BIN ]] && return 0
  mkdir -p "$CACHE"
  # flock: a foreground build and a background one never race.
  exec 9>"$CACHE/tansu-src.lock"
  flock 9
  [[ -x $BIN ]] && return 0
  # -j1: CI runs this beside the test suite on a 2-core machine; measured
  # build is ~13 min of mostly single-threaded work, so two jobs gain little.
  cargo install tansu --version "$VERSION" --locked --features libsql \
    --root "$ROOT" -j "${HTTPCAP_SCRAM_BUILD_JOBS:-1}" >>"$BUILD_LOG" 2>&1 \
    || die "build failed, see $BUILD_LOG"
}

build_bg() {
  [[ -x $BIN ]] && { echo "already built"; return 0; }
  mkdir -p "$CACHE"
  if [[ -f $BUILD_PID ]] && kill -0 "$(cat "$BUILD_PID")" 2>/dev/null; then
    echo "build already running (pid $(cat "$BUILD_PID"))"
    return 0
  fi
  setsid "$0" build </dev/null >>"$BUILD_LOG" 2>&1 &
  echo $! >"$BUILD_PID"
  echo "building in background (pid $!), log $BUILD_LOG"
}

wait_built() {
  local secs=${1:-0} i=0
  while [[ ! -x $BIN ]]; do
    if ! { [[ -f $BUILD_PID ]] && kill -0 "$(cat "$BUILD_PID")" 2>/dev/null; }; then
      [[ -x $BIN ]] && return 0
      die "no build running and $BIN missing"
    fi
    (( i >= secs )) && die "build not finished after ${secs}s"
    sleep 1; i=$((i + 1))
  done
}

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

launch() { # $1: extra broker flag (or empty)
  local url=tcp://127.0.0.1:$port
  answers && die "port $port is taken by another process"
  # sqlite://NAME is relative to the working directory.
  (
    cd "$state"
    setsid "$BIN" broker --listener-url "$url" --advertised-listener-url "$url" \
      --storage-engine sqlite://tansu.db ${1:+"$1"} >>"$state/log" 2>&1 </dev/null &
    echo $! >"$pidfile"
  )
  for _ in $(seq 1 100); do
    answers && return 0
    running || { tail -5 "$state/log" >&2; die "broker exited during start"; }
    sleep 0.1
  done
  die "broker did not answer on $port within 10 s (log: $state/log)"
}

halt() { # $1: signal
  running || { rm -f "$pidfile"; return 0; }
  local pid; pid=$(cat "$pidfile")
  kill "-$1" "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do answers || break; sleep 0.1; done
  rm -f "$pidfile"
}

fresh() { # $1: auth|open
  [[ -x $BIN ]] || die "$BIN not built (run: $0 build)"
  halt TERM
  rm -rf "$state"; mkdir -p "$state"
  echo "$1" >"$state/mode"
  launch ""
  local url=tcp://127.0.0.1:$port
  for t in $TOPICS; do
    "$BIN" topic create --broker "$url" "$t" --partitions 3 >>"$state/log" 2>&1 \
      || die "cannot create topic $t"
  done
  if [[ $1 == auth ]]; then
    # Users must exist before authentication is switched on.
    for u in $USERS; do
      IFS=: read -r name pass mech <<<"$u"
      "$BIN" user create --broker "$url" --mechanism "$mech" "$name" "$pass" >>"$state/log" 2>&1 \
        || die "cannot create user $name"
    done
    halt TERM
    launch --authentication
  fi
}

resume() {
  [[ -f $state/mode ]] || die "no database for port $port (use start or open first)"
  running && return 0
  if [[ $(cat "$state/mode") == auth ]]; then launch --authentication; else launch ""; fi
}

case $cmd in
  build) build ;;
  build-bg) build_bg ;;
  wait-built) wait_built "${2:-0}" ;;
  bin) echo "$BIN" ;;
  start) fresh auth ;;
  open) fresh open ;;
  resume) resume ;;
  stop) halt TERM ;;
  kill) halt KILL ;;
  status) running ;;
  purge) halt TERM; rm -rf "$state" ;;
  *) die "usage: scram-broker.sh build|build-bg|wait-built SECS|start|open|resume|stop|kill|status|purge [PORT]" ;;
esac
