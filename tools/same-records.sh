#!/usr/bin/env bash
# Are the records the same as another revision's? Builds REV (ci profile)
# in a temporary worktree, runs it and the working tree's httpcap on the
# shipped sample and on every capture under ../shared/pcaps (HTTPCAP_PCAPS
# elsewhere), with 1 and 2 shards, and compares the JSON lines byte for
# byte with the per-run part of record ids masked. For refactors that must
# not change behaviour.
#
#   tools/same-records.sh REV            exit 0 when every output is equal
#   SAME_RECORDS_IGNORE='observer,request.path' tools/same-records.sh REV
#                                        also drop these fields (dotted
#                                        paths); then records are compared
#                                        as re-serialized JSON
#   SAME_RECORDS_IGNORE_FLAGS='chunked_invalid'  drop these flags
#   SAME_RECORDS_JOIN_SET_COOKIE=1       set-cookie arrays joined with ", "
#                                        (the shape before schema 2)
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: tools/same-records.sh REV}
pcaps=${HTTPCAP_PCAPS:-../shared/pcaps}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git worktree add -q --detach "$work/tree" "$rev"
echo "building $rev and the working tree" >&2
# Release without fat LTO: fast to build, and older revisions may lack the
# ci profile. Optimisation does not change what a correct program prints.
(cd "$work/tree" && CARGO_TARGET_DIR="$work/target" CARGO_PROFILE_RELEASE_LTO=off \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo build -q --release -p httpcap)
cargo build -q --profile ci -p httpcap
old="$work/target/release/httpcap"
new=target/ci/httpcap

captures=(engine/testdata/sample.pcap)
if [[ -d $pcaps ]]; then
  mapfile -t more < <(find "$pcaps" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) | sort)
  captures+=("${more[@]}")
else
  echo "no corpus at $pcaps: comparing the sample only" >&2
fi

# Records sorted (shards interleave) with the run id masked; compared as
# bytes unless fields are to be ignored (then as re-serialized JSON).
normalise() {
  if [[ -z ${SAME_RECORDS_IGNORE:-}${SAME_RECORDS_IGNORE_FLAGS:-}${SAME_RECORDS_JOIN_SET_COOKIE:-} ]]; then
    sed -E 's/^\{"id":"[0-9a-f]{8}-/{"id":"RUN-/' | sort
    return
  fi
  python3 -c '
import json, os, sys
drop = [f.split(".") for f in os.environ.get("SAME_RECORDS_IGNORE", "").split(",") if f]
drop_flags = set(f for f in os.environ.get("SAME_RECORDS_IGNORE_FLAGS", "").split(",") if f)
join = os.environ.get("SAME_RECORDS_JOIN_SET_COOKIE") == "1"
out = []
for line in sys.stdin:
    line = line.rstrip("\n")
    try:
        r = json.loads(line)
    except ValueError:
        out.append(line)
        continue
    if isinstance(r, dict):
        r["id"] = "RUN" + r.get("id", "")[8:]
        for path in drop:
            node = r
            for key in path[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(path[-1], None)
        if drop_flags and isinstance(r.get("flags"), list):
            r["flags"] = [f for f in r["flags"] if f not in drop_flags]
        for side in ("request", "response"):
            headers = (r.get(side) or {}).get("headers") or {}
            if join and isinstance(headers.get("set-cookie"), list):
                headers["set-cookie"] = ", ".join(headers["set-cookie"])
        line = json.dumps(r, separators=(",", ":"))
    out.append(line)
print("\n".join(sorted(out)))
'
}

run() {
  "$1" --input-raw-engine pcap_file --input-raw "$2" --processing-workers "$3" \
    --input-raw-bpf-filter '' --metrics-output none --health-file '' 2>/dev/null | normalise || true
}

differ=0
compared=0
for c in "${captures[@]}"; do
  for shards in 1 2; do
    if ! cmp -s <(run "$old" "$c" "$shards") <(run "$new" "$c" "$shards"); then
      echo "DIFFERENT: $c ($shards shards)"
      differ=$((differ + 1))
    fi
    compared=$((compared + 1))
  done
done
echo "$((compared - differ)) of $compared outputs the same as $rev's" >&2
((differ == 0))
