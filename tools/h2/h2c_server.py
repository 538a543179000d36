#!/usr/bin/python3
"""Small HTTP server on hyper-h2 for httpcap's live tests: HTTP/1.1 with
`Upgrade: h2c` (RFC 7540 section 3.2), and HTTP/2 with prior knowledge.

An HTTP/1.1 request carrying `Upgrade: h2c` and `HTTP2-Settings` gets
`101 Switching Protocols`; the upgraded request is stream 1 and is answered
over HTTP/2, as are any further streams on the connection. A request
without the upgrade gets a plain HTTP/1.1 answer.

Resources: /hello (text), /data/N (N deterministic bytes), POST /echo (the
body back), anything else 404.

Writes one JSON line per answered request to --log:

  {"stream_id": 1, "upgraded": true, "request_version": "HTTP/1.1",
   "method": "GET", "path": "/hello", "status": 200,
   "request_sha256": hex of the request body (of b"" when none),
   "response_sha256": hex of the response body, "response_size": N}

`stream_id` is null for a plain HTTP/1.1 exchange; `request_version` is
"HTTP/1.1" for the upgraded request and for plain ones, else "HTTP/2".
Uses hyper-h2 (Debian: python3-h2) only.
"""

import argparse
import hashlib
import json
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events

LOCK = threading.Lock()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def answer(method, path, body):
    """(status, content-type, response body) for a request."""
    if path == "/hello":
        return 200, "text/plain", b"hello over h2c\n"
    if path.startswith("/data/"):
        try:
            n = int(path[len("/data/"):].split("?")[0])
        except ValueError:
            n = -1
        if 0 <= n <= 10_000_000:
            return 200, "text/plain", bytes(b"abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37] for i in range(n))
    if path == "/echo" and method == "POST":
        return 200, "application/octet-stream", body
    return 404, "text/plain", b"not found\n"


def log(out, rec):
    with LOCK:
        out.write(json.dumps(rec, sort_keys=True) + "\n")
        out.flush()


def read_http1_head(sock, buf):
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return (method, target, version, headers), rest


class H2:
    """One HTTP/2 connection (after an upgrade or with prior knowledge)."""

    def __init__(self, sock, out):
        self.sock = sock
        self.out = out
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.requests = {}
        self.peer_settings_seen = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def respond(self, sid, method, path, body, upgraded):
        status, ctype, resp = answer(method, path, body)
        self.conn.send_headers(
            sid,
            [(":status", str(status)), ("content-type", ctype),
             ("content-length", str(len(resp))), ("server", "h2c-test")],
            end_stream=not resp,
        )
        self.send_body(sid, resp)
        log(self.out, {
            "stream_id": sid, "upgraded": upgraded,
            "request_version": "HTTP/1.1" if upgraded else "HTTP/2",
            "method": method, "path": path, "status": status,
            "request_sha256": sha(body), "response_sha256": sha(resp),
            "response_size": len(resp),
        })

    def send_body(self, sid, data):
        # Within the peer's flow-control window; waits for WINDOW_UPDATEs.
        while data:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                self.read_once()
                continue
            piece, data = data[:window], data[window:]
            self.conn.send_data(sid, piece, end_stream=not data)
        self.flush()

    def read_once(self):
        data = self.sock.recv(65536)
        if not data:
            return False
        return self.feed(data)

    def feed(self, data):
        """Handles received bytes; False once the peer ended the connection."""
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                h = dict(ev.headers)
                self.requests[ev.stream_id] = [h[":method"], h[":path"], bytearray()]
            elif isinstance(ev, h2.events.DataReceived):
                self.requests[ev.stream_id][2] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                # Also reported for a HEADERS frame with END_STREAM.
                self.finish(ev.stream_id)
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                self.peer_settings_seen = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.flush()
                return False
        self.flush()
        return True

    def finish(self, sid):
        method, path, body = self.requests.pop(sid)
        self.respond(sid, method, path, bytes(body), upgraded=False)

    def serve(self):
        try:
            while self.read_once():
                pass
        except (ConnectionError, OSError):
            pass


def handle(sock, out):
    try:
        buf = sock.recv(65536)
        if buf.startswith(b"PRI * HTTP/2.0"):
            c = H2(sock, out)
            c.conn.initiate_connection()
            c.flush()
            if c.feed(buf):
                c.serve()
            return
        while True:
            req, buf = read_http1_head(sock, buf)
            if req is None:
                return
            method, target, version, headers = req
            n = int(headers.get("content-length", "0"))
            while len(buf) < n:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            body, buf = buf[:n], buf[n:]
            upgrade = headers.get("upgrade", "").lower()
            if upgrade == "h2c" and "http2-settings" in headers:
                sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\n"
                             b"Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                c = H2(sock, out)
                c.conn.initiate_upgrade_connection(headers["http2-settings"])
                c.flush()
                # Answer stream 1 only after the client's preface: curl
                # 7.88 fails ("connection buffer size is too small") when
                # more than 32 KiB of HTTP/2 arrive with the 101.
                if buf and not c.feed(buf):
                    return
                while not c.peer_settings_seen:
                    if not c.read_once():
                        return
                c.respond(1, method, target, body, upgraded=True)
                c.serve()
                return
            status, ctype, resp = answer(method, target, body)
            sock.sendall(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(resp)}\r\n\r\n".encode() + resp
            )
            log(out, {
                "stream_id": None, "upgraded": False, "request_version": version,
                "method": method, "path": target, "status": status,
                "request_sha256": sha(body), "response_sha256": sha(resp),
                "response_size": len(resp),
            })
    except (ConnectionError, OSError):
        pass
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    out = open(a.log, "a")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.host, a.port))
    srv.listen(64)
    while True:
        s, _ = srv.accept()
        threading.Thread(target=handle, args=(s, out), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
