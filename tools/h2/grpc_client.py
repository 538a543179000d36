#!/usr/bin/python3
"""gRPC client for httpcap's live tests (grpc_server.py's `test.Echo`), on
grpcio without generated code: raw-bytes messages, one insecure channel
(cleartext HTTP/2, prior knowledge), so every call is a stream of one
connection.

With --json, the calls are instead JSON messages to `Same` (gRPC-JSON
as a redaction test sends it), each holding a "password".

Writes one JSON line per call to --log:

  {"call": index, "service": "test.Echo", "method": "Unary",
   "status": numeric gRPC status (0 = OK), "message": the status message
   (null when empty), "request_count": n, "response_count": n,
   "request_sha256": [hex of each request message],
   "response_sha256": [hex of each response message]}
"""

import argparse
import hashlib
import json
import sys

import grpc


def sha(b):
    return hashlib.sha256(b).hexdigest()


CALLS = [
    ("Unary", "unary", b"hello"),
    ("Unary", "unary", b"second message, a little longer: " + b"0123456789" * 20),
    ("Stream", "stream", b"5"),
    ("Fail", "unary", b"item-42"),
    ("Unary", "unary", bytes(range(256))),
]

JSON_CALLS = [
    ("Same", "unary", b'{"user":"bob","password":"grpc-s3cret-1"}'),
    ("Same", "unary", b'{"items":[{"id":1,"password":"grpc-s3cret-2"}],"n":1}'),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    # An IPv4 literal target: no name resolution; no proxy from the environment.
    channel = grpc.insecure_channel(
        f"ipv4:{a.host}:{a.port}", options=[("grpc.enable_http_proxy", 0)]
    )
    grpc.channel_ready_future(channel).result(timeout=30)
    with open(a.log, "w") as out:
        for i, (method, kind, req) in enumerate(JSON_CALLS if a.json else CALLS):
            path = f"/test.Echo/{method}"
            responses = []
            code, message = grpc.StatusCode.OK, None
            try:
                if kind == "unary":
                    responses.append(channel.unary_unary(path)(req, timeout=30))
                else:
                    responses.extend(channel.unary_stream(path)(req, timeout=30))
            except grpc.RpcError as e:
                code, message = e.code(), e.details() or None
            out.write(json.dumps({
                "call": i,
                "service": "test.Echo",
                "method": method,
                "status": code.value[0],
                "message": message,
                "request_count": 1,
                "response_count": len(responses),
                "request_sha256": [sha(req)],
                "response_sha256": [sha(r) for r in responses],
            }, sort_keys=True) + "\n")
    channel.close()


if __name__ == "__main__":
    sys.exit(main())
