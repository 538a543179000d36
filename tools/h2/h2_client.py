#!/usr/bin/python3
"""HTTP/2 prior-knowledge (cleartext) client for httpcap's live tests.

Opens ONE TCP connection to HOST:PORT and multiplexes several concurrent
streams on it: GETs, a gzip-negotiated GET, a POST with a body, a GET that
404s, and a GET of a large response read through a small flow-control
window (SETTINGS_INITIAL_WINDOW_SIZE 16384; WINDOW_UPDATEs are sent as the
data is consumed).

Writes one JSON line per stream to --log:

  {"phase": 1, "stream_id": 1, "method": "GET", "path": "/a.txt",
   "status": 200, "content_encoding": null or "gzip",
   "response_sha256": hex of the decoded body (gzip removed),
   "response_size": decoded length, "request_sha256": hex of the request
   body sent (of b"" when none), "request_size": its length,
   "reset": true when the stream was reset (status then may be null)}

With --wait-file PATH the client does phase 1, then waits (keeping the
connection open, answering PINGs) until PATH exists, then does phase 2 on
the same connection; --ready-file PATH is created when phase 1 is done.
Uses hyper-h2 (Debian: python3-h2) only.
"""

import argparse
import gzip
import hashlib
import json
import os
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

SMALL_WINDOW = 16384


def sha(b):
    return hashlib.sha256(b).hexdigest()


def plan(phase):
    """(method, path, extra headers, request body) for each stream of a phase."""
    if phase == 1:
        return [
            ("GET", "/index.html", [], b""),
            ("GET", "/a.txt", [], b""),
            ("GET", "/data.json?x=1&y=two", [], b""),
            ("GET", "/gz.txt", [("accept-encoding", "gzip")], b""),
            ("POST", "/echo", [("content-type", "application/x-www-form-urlencoded")],
             b"name=value&x=1&phase=1"),
            ("GET", "/missing-file", [], b""),
            ("GET", "/big.bin", [], b""),
        ]
    return [
        ("GET", "/a.txt", [], b""),
        ("GET", "/gz.txt", [("accept-encoding", "gzip")], b""),
        ("POST", "/echo", [("content-type", "application/x-www-form-urlencoded")],
         b"name=value&x=2&phase=2"),
        ("GET", "/missing-again", [], b""),
        ("GET", "/big.bin", [], b""),
    ]


class Client:
    def __init__(self, sock, authority):
        self.sock = sock
        self.authority = authority
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: SMALL_WINDOW,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            },
        )
        self.conn.initiate_connection()
        self.flush()
        self.streams = {}

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(self, phase, method, path, extra, body):
        sid = self.conn.get_next_available_stream_id()
        headers = [
            (":method", method),
            (":path", path),
            (":scheme", "http"),
            (":authority", self.authority),
            ("user-agent", "httpcap-h2-test/1"),
            ("accept", "*/*"),
        ] + extra
        if body:
            headers.append(("content-length", str(len(body))))
        self.conn.send_headers(sid, headers, end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)
        self.streams[sid] = {
            "phase": phase,
            "stream_id": sid,
            "method": method,
            "path": path,
            "status": None,
            "content_encoding": None,
            "body": bytearray(),
            "request_body": body,
            "done": False,
            "reset": False,
        }
        self.flush()

    def pending(self):
        return [s for s in self.streams.values() if not s["done"]]

    def pump(self, timeout):
        """Reads once (up to timeout seconds) and handles the events."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return
        data = self.sock.recv(65536)
        if not data:
            raise SystemExit("h2_client: connection closed by the server")
        for ev in self.conn.receive_data(data):
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                for k, v in ev.headers:
                    if k == ":status":
                        st["status"] = int(v)
                    elif k == "content-encoding":
                        st["content_encoding"] = v
            elif isinstance(ev, h2.events.DataReceived):
                st["body"] += ev.data
                # Gives the window back as the data is consumed: h2 sends
                # WINDOW_UPDATE frames (stream and connection) when due.
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                st["done"] = True
            elif isinstance(ev, h2.events.StreamReset):
                if st is not None:
                    st["done"] = True
                    st["reset"] = True
        self.flush()

    def run_until_done(self, deadline):
        while self.pending():
            if time.monotonic() > deadline:
                raise SystemExit(f"h2_client: streams not finished: {self.pending()}")
            self.pump(0.5)

    def log_phase(self, phase, out):
        for sid in sorted(self.streams):
            st = self.streams[sid]
            if st["phase"] != phase:
                continue
            body = bytes(st["body"])
            if st["content_encoding"] == "gzip":
                body = gzip.decompress(body)
            rec = {
                "phase": phase,
                "stream_id": sid,
                "method": st["method"],
                "path": st["path"],
                "status": st["status"],
                "content_encoding": st["content_encoding"],
                "response_sha256": sha(body),
                "response_size": len(body),
                "request_sha256": sha(st["request_body"]),
                "request_size": len(st["request_body"]),
                "reset": st["reset"],
            }
            out.write(json.dumps(rec, sort_keys=True) + "\n")
        out.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--wait-file", help="two phases; phase 2 once this file exists")
    ap.add_argument("--ready-file", help="created when phase 1 is done")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    sock = socket.create_connection((a.host, a.port), timeout=a.timeout)
    c = Client(sock, f"{a.host}:{a.port}")
    deadline = time.monotonic() + a.timeout
    with open(a.log, "w") as out:
        for req in plan(1):
            c.start(1, *req)
        c.run_until_done(deadline)
        c.log_phase(1, out)
        if a.wait_file:
            if a.ready_file:
                open(a.ready_file, "w").close()
            while not os.path.exists(a.wait_file):
                if time.monotonic() > deadline + a.timeout:
                    raise SystemExit("h2_client: wait file never appeared")
                c.pump(0.1)
            deadline = time.monotonic() + a.timeout
            for req in plan(2):
                c.start(2, *req)
            c.run_until_done(deadline)
            c.log_phase(2, out)
    c.conn.close_connection()
    c.flush()
    sock.close()


if __name__ == "__main__":
    sys.exit(main())
