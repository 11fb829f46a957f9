"""Line framing for newline-delimited protocols (Stratum v1, EthereumStratum, ETHProxy, CryptoNote login).

Sans-IO: bytes in, lines out. Never imports asyncio, socket or ssl.

Every stratum dialect sends one JSON object per line terminated by ``\\n`` (ZIP 301 "Specification";
zone117x/node-stratum-pool ``lib/stratum.js`` splits on ``\\n``; ckpool ``connector.c`` ends each message with
``JSON_EOL``). Real servers also send replies without a final newline before closing, several lines in one
read, and lines split across reads (``../shared/cases/README.md``), so the framer buffers and caps.
"""

from __future__ import annotations

DEFAULT_MAX_LINE = 64 * 1024  # bytes; stratum lines with long coinbase parts exceed h11's 16 KiB


class LineTooLong(Exception):
    """The peer sent more than ``max_line`` bytes without a newline."""


class LineFramer:
    """Split a byte stream into lines.

    ``feed(data)`` appends bytes; ``feed(b"")`` marks EOF. ``lines()`` returns the complete lines received
    so far (without the terminator; a trailing ``\\r`` is stripped). After EOF, a non-empty unterminated
    remainder is returned as a final line (servers that close without a final newline).

    Raises ``LineTooLong`` from ``feed`` once the unterminated remainder exceeds ``max_line`` bytes; the
    framer keeps at most ``max_line`` bytes buffered, so memory stays bounded whatever the peer sends.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._ready: list[bytes] = []
        self.eof = False

    def feed(self, data: bytes) -> None:
        if not data:
            self.eof = True
            if self._buf:
                self._ready.append(bytes(self._buf).rstrip(b"\r"))
                self._buf.clear()
            return
        self._buf += data
        while True:
            i = self._buf.find(b"\n")
            if i < 0:
                break
            line = bytes(self._buf[:i])
            del self._buf[: i + 1]
            if len(line) > self.max_line:
                raise LineTooLong(f"line of {len(line)} bytes exceeds cap {self.max_line}")
            self._ready.append(line.rstrip(b"\r"))
        if len(self._buf) > self.max_line:
            n = len(self._buf)
            self._buf.clear()
            raise LineTooLong(f"more than {n} bytes without a newline (cap {self.max_line})")

    def lines(self) -> list[bytes]:
        out, self._ready = self._ready, []
        return out

    @property
    def pending(self) -> int:
        """Bytes buffered in an unterminated line."""
        return len(self._buf)


def split_lines(data: bytes, max_line: int = DEFAULT_MAX_LINE) -> list[bytes]:
    """All lines of a complete byte string (EOF at the end). Lines longer than ``max_line`` are cut to the
    cap instead of raising: used by the classifier on already-capped transcripts."""
    out: list[bytes] = []
    for raw in data.split(b"\n"):
        raw = raw.rstrip(b"\r")
        if raw:
            out.append(raw[:max_line])
    return out
