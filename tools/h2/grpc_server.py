#!/usr/bin/python3
"""gRPC server for httpcap's live tests, on grpcio (Debian: python3-grpcio)
without protoc or generated code: messages are raw bytes (identity
serializers), the service is registered with a generic handler.

Service `test.Echo`:
  Unary   unary-unary: answers b"echo:" + the request.
  Stream  unary-stream: the request is an ASCII count N; answers N messages
          b"part-<i>:" followed by i+1 bytes.
  Fail    unary-unary: fails with NOT_FOUND (5), message "no such item: <request>".
  Same    unary-unary: answers the request unchanged (JSON in, JSON out).

Insecure port only: cleartext HTTP/2 with prior knowledge.
"""

import argparse
import sys
import time
from concurrent import futures

import grpc

FAIL_CODE = grpc.StatusCode.NOT_FOUND


def unary(request, context):
    return b"echo:" + request


def stream(request, context):
    for i in range(int(request.decode())):
        yield b"part-%d:" % i + bytes(b"xyz"[j % 3] for j in range(i + 1))


def fail(request, context):
    context.abort(FAIL_CODE, "no such item: " + request.decode("utf-8", "replace"))


def same(request, context):
    return request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Same": grpc.unary_unary_rpc_method_handler(same),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{a.host}:{a.port}")
    server.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
