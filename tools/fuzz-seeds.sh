#!/usr/bin/env bash
# Fuzz corpora from the public captures: reads every pcap/pcapng under
# HTTPCAP_PCAPS (default ../shared/pcaps next to the repository, as on
# the project's machines) and writes inputs in each target's layout to
# fuzz/corpus/TARGET/ (gitignored; nothing from the captures enters the
# repository):
#   frame         each frame, with the byte that picks its link type
#   conversation  each TCP connection's payloads as a script, in capture order
#   http1         the same scripts, for HttpConn alone
#   h2_conn       scripts of connections that start with the HTTP/2 preface
#   h2_frames     the client bytes of those connections
#   chunked       bodies after a `Transfer-Encoding: chunked` head
#   reassembly    each direction's segments at their real offsets, in
#                 capture order (retransmits and reordering included)
# Inputs are capped in size and number per target, and named by their
# hash, so reruns add nothing twice. The committed seeds (fuzz/seeds/) are
# hand-made and separate.
#
#   tools/fuzz-seeds.sh                 ../shared/pcaps -> fuzz/corpus/
#   HTTPCAP_PCAPS=/some/dir tools/fuzz-seeds.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pcaps=${HTTPCAP_PCAPS:-$root/../shared/pcaps}
if [[ ! -d $pcaps ]]; then
  echo "fuzz seeds: SKIPPED: no captures at $pcaps (set HTTPCAP_PCAPS)" >&2
  exit 0
fi
exec python3 - "$pcaps" "$root/fuzz/corpus" <<'PY'
import hashlib, os, struct, sys
from collections import OrderedDict

pcaps, out = sys.argv[1], sys.argv[2]
MAX_INPUT = 16 * 1024
MAX_PER_TARGET = 3000
# pcap link types -> the index the `frame` harness's first byte picks.
LINKS = {1: 0, 113: 1, 276: 2, 101: 3, 12: 3, 228: 3, 0: 4, 108: 5, 239: 6}
counts = {}

def save(target, data):
    if not data or len(data) > MAX_INPUT or counts.get(target, 0) >= MAX_PER_TARGET:
        return
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "pcap-" + hashlib.sha1(data).hexdigest()[:20])
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        counts[target] = counts.get(target, 0) + 1

def frames(path):
    """(linktype, frame bytes) of a pcap or pcapng file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xd4, 0x4d) else ">"
        link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
        at = 24
        while at + 16 <= len(data):
            incl = struct.unpack(e + "I", data[at + 8:at + 12])[0]
            yield link, data[at + 16:at + 16 + incl]
            at += 16 + incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        at, e, links = 0, "<", []
        while at + 12 <= len(data):
            kind = struct.unpack(e + "I", data[at:at + 4])[0]
            if kind == 0x0A0D0D0A:
                e = "<" if data[at + 8:at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            blen = struct.unpack(e + "I", data[at + 4:at + 8])[0]
            if blen < 12:
                return
            body = data[at + 8:at + blen - 4]
            if kind == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif kind == 6 and len(body) >= 20:
                iface, _, _, cap = struct.unpack(e + "IIII", body[:16])
                if iface < len(links):
                    yield links[iface], body[20:20 + cap]
            elif kind == 3 and links:
                yield links[0], body[4:]
            at += blen

def ip_of(link, frame):
    """The IP packet inside a frame (no VLAN stacks or tunnels), or None."""
    if link == 1:
        at, ether = 12, None
        while at + 2 <= len(frame):
            ether = struct.unpack(">H", frame[at:at + 2])[0]
            if ether in (0x8100, 0x88A8):
                at += 4
                continue
            break
        return frame[at + 2:] if ether in (0x0800, 0x86DD) else None
    if link == 113:
        return frame[16:]
    if link == 276:
        return frame[20:]
    if link in (101, 12, 228):
        return frame
    if link in (0, 108):
        return frame[4:]
    return None

def tcp_of(pkt):
    """(src, dst, seq, flags, payload) of a TCP segment, or None."""
    if not pkt:
        return None
    v = pkt[0] >> 4
    if v == 4 and len(pkt) >= 20:
        ihl = (pkt[0] & 15) * 4
        total = struct.unpack(">H", pkt[2:4])[0]
        if pkt[9] != 6:
            return None
        src, dst = pkt[12:16], pkt[16:20]
        seg = pkt[ihl:total] if total >= ihl else pkt[ihl:]
    elif v == 6 and len(pkt) >= 40:
        if pkt[6] != 6:
            return None
        plen = struct.unpack(">H", pkt[4:6])[0]
        src, dst = pkt[8:24], pkt[24:40]
        seg = pkt[40:40 + plen]
    else:
        return None
    if len(seg) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", seg[:8])
    off = (seg[12] >> 4) * 4
    return (src, sport), (dst, dport), seq, seg[13], seg[off:]

def step(header, payload):
    return bytes([header, len(payload)]) + payload

def script(first, pieces):
    s = bytearray([first])
    for from_server, p in pieces:
        for i in range(0, len(p), 255):
            s += step(int(from_server), p[i:i + 255])
    return bytes(s)

def reassembly_input(segs):
    """One direction's segments at their offsets from the first, as the
    `reassembly` harness's operations (mid-stream, real bytes)."""
    if not segs:
        return None
    base = segs[0][0]
    ops = bytearray([4 | 3])
    for seq, fin, p in segs:
        off = (seq - base) & 0xFFFFFFFF
        if off >= 0x8000:
            continue
        for i in range(0, max(len(p), 1), 255):
            chunk = p[i:i + 255]
            ops += bytes([(4 if fin else 0) | 8]) + struct.pack(">H", off + i) + bytes([len(chunk)]) + chunk
    return bytes(ops)

files = []
for d, _, names in os.walk(pcaps):
    for n in sorted(names):
        if n.endswith((".pcap", ".pcapng", ".cap")):
            files.append(os.path.join(d, n))
for path in sorted(files):
    conns = OrderedDict()
    try:
        for link, frame in frames(path):
            if link in LINKS:
                save("frame", bytes([LINKS[link]]) + frame[:MAX_INPUT - 1])
            t = tcp_of(ip_of(link, frame))
            if t is None:
                continue
            src, dst, seq, flags, payload = t
            key = tuple(sorted([src, dst]))
            c = conns.setdefault(key, {"client": None, "pieces": [], "segs": {}})
            if c["client"] is None and (flags & 0x12 == 0x02 or payload):
                # The SYN's sender, else the first to send bytes (port 80 or
                # 443 rarely sends first).
                c["client"] = dst if (flags & 0x12 != 0x02 and src[1] in (80, 443, 8080)) else src
            if payload or flags & 1:
                c["pieces"].append((src != c["client"], payload))
                c["segs"].setdefault(src, []).append((seq, bool(flags & 1), payload))
    except (struct.error, IndexError):
        pass
    for c in conns.values():
        pieces = [p for p in c["pieces"] if p[1]]
        if not pieces:
            continue
        s = script(0, pieces)
        save("conversation", s[:MAX_INPUT])
        save("http1", bytes([0x40]) + s[1:MAX_INPUT])
        client = b"".join(p for srv, p in pieces if not srv)
        if client.startswith(b"PRI * HTTP/2.0"):
            save("h2_conn", s[:MAX_INPUT])
            save("h2_frames", bytes([0]) + client[:MAX_INPUT - 1])
        for srv in (False, True):
            stream = b"".join(p for s2, p in pieces if s2 == srv)
            at = 0
            while True:
                i = stream.lower().find(b"transfer-encoding: chunked", at)
                if i < 0:
                    break
                end = stream.find(b"\r\n\r\n", i)
                if end < 0:
                    break
                save("chunked", bytes([16, 255]) + stream[end + 4:end + 4 + 4096])
                at = end
        for segs in c["segs"].values():
            r = reassembly_input(segs[:200])
            if r:
                save("reassembly", r[:MAX_INPUT])
print("fuzz seeds: " + ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
      + f" new inputs from {len(files)} captures in {out}", file=sys.stderr)
PY
