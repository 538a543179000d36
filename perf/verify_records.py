#!/usr/bin/env python3
"""Compares httpcap's JSON-lines records with the generator's per-transaction
truth (httpcap-loadgen --truth-lines): on every connection, the records
(ordered by their position in the id) must be the non-static transactions
in order, with the same method, target, host, status and request body size. Response body sizes are
compared for identity-encoded responses only (gzip bodies are reported
decoded or not depending on the engine's decoding support).

HTTP/2 truth lines (httpcap-loadgen --http2) carry the stream id: records
are then matched by stream_id rather than by their order on the connection,
and the host is the request's :authority.

With --all, static transactions are expected too (httpcap run with its
filters off).

usage: verify_records.py [--all] TRUTH_LINES RECORDS_JSONL
"""
import collections
import json
import sys


def sockaddr(ip, port):
    """The generator's form: [v6]:port or v4:port."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def main(truth_path, records_path, everything=False):
    # Per connection, the (non-static) transactions in order, or by stream.
    want = collections.defaultdict(list)
    for line in open(truth_path, encoding="utf-8"):
        t = json.loads(line)
        if t["static"] and not everything:
            continue
        resp = t["response_body"] if not t["gzip"] and t["method"] != "HEAD" else None
        want[(t["client"], t["server"])].append(
            (t.get("stream", 0), t["method"], t["path"], t["host"], t["status"],
             t["request_body"], resp))

    got = collections.defaultdict(list)
    problems = []
    for line in open(records_path, encoding="utf-8"):
        r = json.loads(line)
        c, rq, rs = r["conn"], r["request"], r["response"]
        if rq is None or rs is None:
            problems.append(f"incomplete record {r['id']} flags={r.get('flags')}")
            continue
        position = int(r["id"].rsplit("-", 1)[1])
        conn = (sockaddr(c["client_ip"], c["client_port"]), sockaddr(c["server_ip"], c["server_port"]))
        stream = r.get("stream_id") or 0
        host = rq["headers"].get("host") if not stream else rq["headers"].get(":authority")
        got[conn].append(((stream, position), stream, rq["method"], rq["target"], host,
                          rs["status"], rq["body_size"], rs["body_size"]))

    matched = 0
    for conn, expected in want.items():
        records = [g[1:] for g in sorted(got.pop(conn, []))]
        if len(records) != len(expected):
            problems.append(f"{conn}: {len(records)} records, expected {len(expected)}")
            continue
        for e, g in zip(sorted(expected, key=lambda e: e[0]), records):
            same = e[:6] == g[:6] and (e[6] is None or e[6] == g[6])
            if same:
                matched += 1
            else:
                problems.append(f"{conn}: expected {e}, got {g}")
    for conn, records in got.items():
        problems.append(f"{conn}: {len(records)} records on a connection with none expected")

    total = sum(len(v) for v in want.values())
    kind = "" if everything else "non-static "
    print(f"verify: {matched} of {total} {kind}transactions match; {len(problems)} problems")
    for p in problems[:10]:
        print("  " + p)
    return 0 if not problems and matched == total else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    everything = "--all" in args
    args = [a for a in args if a != "--all"]
    if len(args) != 2:
        sys.exit(__doc__)
    sys.exit(main(args[0], args[1], everything))
