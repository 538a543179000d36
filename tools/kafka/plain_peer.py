#!/usr/bin/env python3
"""A minimal Kafka-protocol peer for SASL/PLAIN: no PLAIN-capable broker
installs here, so this answers just enough of the protocol (ApiVersions,
SaslHandshake, SaslAuthenticate) for a client to send its PLAIN
credentials, records them, and refuses them with SASL_AUTHENTICATION_FAILED.

  plain_peer.py PORT CAPTURE_FILE

Listens on 127.0.0.1 only. Each credential received is appended to
CAPTURE_FILE as "mechanism<TAB>user<TAB>password". Runs until killed.
"""
import socket
import struct
import sys
import threading

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
SUPPORTED = [(API_VERSIONS, 0, 0), (SASL_HANDSHAKE, 0, 1), (SASL_AUTHENTICATE, 0, 0)]


def kstring(b):
    return struct.pack(">h", len(b)) + b


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def api_versions_body(error):
    body = struct.pack(">hi", error, len(SUPPORTED))
    for key, lo, hi in SUPPORTED:
        body += struct.pack(">hhh", key, lo, hi)
    return body


def serve(conn, capture, lock):
    mechanism = b""
    with conn:
        while True:
            try:
                size = struct.unpack(">i", read_exact(conn, 4))[0]
                req = read_exact(conn, size)
            except (EOFError, OSError):
                return
            key, version, corr = struct.unpack(">hhi", req[:8])
            client_len = struct.unpack(">h", req[8:10])[0]
            body = req[10 + max(client_len, 0):]
            if key == API_VERSIONS:
                # Unsupported newer versions get the v0 answer with error 35,
                # and the client retries with a version we list.
                resp = api_versions_body(35 if version > 0 else 0)
            elif key == SASL_HANDSHAKE:
                n = struct.unpack(">h", body[:2])[0]
                mechanism = body[2:2 + n]
                resp = struct.pack(">h", 0 if mechanism == b"PLAIN" else 33)
                resp += struct.pack(">i", 1) + kstring(b"PLAIN")
            elif key == SASL_AUTHENTICATE:
                n = struct.unpack(">i", body[:4])[0]
                token = body[4:4 + n]
                parts = token.split(b"\0")
                user, password = (parts + [b"", b""])[1:3]
                with lock, open(capture, "ab") as f:
                    f.write(mechanism + b"\t" + user + b"\t" + password + b"\n")
                msg = b"plain_peer: credentials recorded, access refused"
                resp = struct.pack(">h", 58) + kstring(msg) + struct.pack(">i", 0)
            else:
                return
            out = struct.pack(">i", corr) + resp
            conn.sendall(struct.pack(">i", len(out)) + out)


def main():
    port, capture = int(sys.argv[1]), sys.argv[2]
    lock = threading.Lock()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print(f"plain_peer listening on 127.0.0.1:{port}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, capture, lock), daemon=True).start()


if __name__ == "__main__":
    main()
