#!/usr/bin/env python3
"""Compares httpcap's JSON-lines records with the generator's per-transaction
truth (httpcap-loadgen --truth-lines): on every connection, the records
(ordered by their position in the id) must be the non-static transactions
in order, with the same method, target, host, status and request body size. Response body sizes are
compared for identity-encoded responses only (gzip bodies are reported
decoded or not depending on the engine's decoding support).

usage: verify_records.py TRUTH_LINES RECORDS_JSONL
"""
import collections
import json
import sys


def sockaddr(ip, port):
    """The generator's form: [v6]:port or v4:port."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def main(truth_path, records_path):
    # Per connection, the non-static transactions in order.
    want = collections.defaultdict(list)
    for line in open(truth_path, encoding="utf-8"):
        t = json.loads(line)
        if t["static"]:
            continue
        resp = t["response_body"] if not t["gzip"] and t["method"] != "HEAD" else None
        want[(t["client"], t["server"])].append(
            (t["method"], t["path"], t["host"], t["status"], t["request_body"], resp))

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
        got[conn].append((position, rq["method"], rq["target"], rq["headers"].get("host"),
                          rs["status"], rq["body_size"], rs["body_size"]))

    matched = 0
    for conn, expected in want.items():
        records = [g[1:] for g in sorted(got.pop(conn, []))]
        if len(records) != len(expected):
            problems.append(f"{conn}: {len(records)} records, expected {len(expected)}")
            continue
        for e, g in zip(expected, records):
            same = e[:5] == g[:5] and (e[5] is None or e[5] == g[5])
            if same:
                matched += 1
            else:
                problems.append(f"{conn}: expected {e}, got {g}")
    for conn, records in got.items():
        problems.append(f"{conn}: {len(records)} records on a connection with none expected")

    total = sum(len(v) for v in want.values())
    print(f"verify: {matched} of {total} non-static transactions match; {len(problems)} problems")
    for p in problems[:10]:
        print("  " + p)
    return 0 if not problems and matched == total else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
