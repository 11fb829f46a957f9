"""A tolerant, capped HTTP/1.x response reader for classification, sans-IO.

Not a client: it reads what a peer sent back to poolscan's ``GET /`` or JSON-RPC ``POST`` (or to a stratum
line that an HTTP server rejected). Tolerates ``\\n`` instead of ``\\r\\n`` (nodejs-pool and
cryptonote-nodejs-pool answer ``HTTP/1.0 200 OK\\nContent-Type: text/plain\\n...``, recorded transcript
``cryptonote-nodejs-pool.jsonl`` P5; Snipa22/nodejs-pool ``lib/pool.js httpResponse``), missing reason
phrases, bodies cut by the transport cap, and chunked bodies (decoded when complete enough).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEAD = 16 * 1024  # bytes of status line + headers considered
MAX_HEADERS = 100
_STATUS = re.compile(rb"^HTTP/(\d(?:\.\d)?) +(\d{3})(?: +([^\r\n]*))?")


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class HttpResponse:
    """status (int), reason (str), version (``"1.1"``), headers (lowercase name, value) in order, body
    (bytes, possibly truncated), crlf (True when the head used CRLF line ends)."""

    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    crlf: bool

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None


def looks_like_http(data: bytes) -> bool:
    """True when ``data`` starts with an HTTP/1.x status line."""
    return bool(_STATUS.match(data[:64]))


def _dechunk(body: bytes) -> bytes | None:
    out = bytearray()
    i = 0
    while i < len(body):
        j = body.find(b"\n", i)
        if j < 0:
            return bytes(out) or None
        size_s = body[i:j].strip().split(b";")[0]
        try:
            size = int(size_s, 16)
        except ValueError:
            return None
        if size == 0:
            return bytes(out)
        out += body[j + 1:j + 1 + size]
        i = j + 1 + size
        if body[i:i + 2] == b"\r\n":
            i += 2
        elif body[i:i + 1] == b"\n":
            i += 1
    return bytes(out)


def parse_response(data: bytes) -> HttpResponse | None:
    """Parse the start of ``data`` as one HTTP/1.x response; None when it does not start with a status
    line. Never raises on peer data."""
    m = _STATUS.match(data[:256])
    if not m:
        return None
    head_end, sep = -1, b""
    for s in (b"\r\n\r\n", b"\n\n"):
        k = data.find(s, 0, MAX_HEAD)
        if k >= 0 and (head_end < 0 or k < head_end):
            head_end, sep = k, s
    head = data[:head_end] if head_end >= 0 else data[:MAX_HEAD]
    body = data[head_end + len(sep):] if head_end >= 0 else b""
    lines = head.replace(b"\r\n", b"\n").split(b"\n")[1:MAX_HEADERS + 1]
    headers: list[tuple[str, str]] = []
    for line in lines:
        if b":" not in line:
            continue
        k, v = line.split(b":", 1)
        headers.append((k.strip().decode("latin-1").lower(), v.strip().decode("latin-1")))
    resp = HttpResponse(version=m.group(1).decode(), status=int(m.group(2)),
                        reason=(m.group(3) or b"").decode("latin-1").strip(), headers=tuple(headers),
                        body=body, crlf=sep == b"\r\n")
    if (resp.header("transfer-encoding") or "").lower() == "chunked":
        dechunked = _dechunk(body)
        if dechunked is not None:
            resp = HttpResponse(resp.version, resp.status, resp.reason, resp.headers, dechunked, resp.crlf)
    return resp


def split_request(data: bytes) -> tuple[str, str, bytes] | None:
    """``(method, target, body)`` of an HTTP request poolscan sent (to read the JSON-RPC body of its own
    ``POST``); None when ``data`` is not an HTTP request."""
    m = re.match(rb"^([A-Z]{3,10}) (\S+) HTTP/\d(?:\.\d)?\r?\n", data[:2048])
    if not m:
        return None
    k = data.find(b"\r\n\r\n")
    n = 4
    if k < 0:
        k, n = data.find(b"\n\n"), 2
    body = data[k + n:] if k >= 0 else b""
    return m.group(1).decode(), m.group(2).decode("latin-1"), body
