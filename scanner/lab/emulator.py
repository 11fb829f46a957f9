"""The lab's emulator engine: an asyncio server that answers like a recorded pool (or non-pool) would.

A :class:`Persona` is data (see :mod:`scanner.lab.personas` for how each one is derived from recordings and
cases). The engine runs one task per connection and answers **by method**: poolscan's probes do not send the
very bytes of the recorded clients, so a persona says, for each JSON method, which reply lines to send (with
the request's ``id`` substituted into the recorded bytes, everything else byte for byte), which notifications
follow, and whether the connection then closes.

Persona kinds (``Persona.kind``):

* ``lines`` — newline-delimited JSON (Stratum v1, EthereumStratum, ETHProxy, CryptoNote, Electrum...).
  Rules per method (``methods``; ``"*"`` = any other method), for non-JSON lines (``non_json``), for a first
  line that is an HTTP request line (``http``), and for the first request of a recv-only case
  (``first_request``).
* ``http`` — an HTTP/1.x server (bitcoind RPC, Ethereum node, nginx-like, Go ``net/http``): ``routes``
  matched on request method, path and JSON-RPC method of the body; ``non_http`` answers bytes that are not an
  HTTP request.
* ``sv2`` — a Stratum V2 responder: after 64 bytes (Noise NX act 1) it writes 234 random bytes (act 2;
  ``protocols.md`` §4, SRI ``INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE``) and closes on any further bytes.
* ``hostile:<name>`` — a hostile peer from :mod:`scanner.lab.hostile`.

Templates inside reply bytes: ``{{id}}`` (the request's id as compact JSON), ``{{id_str}}`` (the id as a JSON
string, for servers that answer integer ids with strings, case C10), ``{{method}}`` (the request's method,
JSON-string-escaped without quotes).

Limits: a connection's unterminated input is capped at ``Persona.max_line`` bytes (then the emulator closes,
as NOMP does above 10 KB); a connection with no input for ``Persona.idle_timeout_s`` seconds is closed; HTTP
bodies are capped at 1 MiB.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import struct
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_HTTP_BODY = 1 << 20
HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ")
_HTTP_REQUEST_LINE = re.compile(rb"^([A-Z]{3,10}) (\S+) HTTP/(\d)\.(\d)\r?$")


@dataclass
class Rule:
    """What the emulator does when a request matches.

    action: ``reply`` (write ``lines`` then ``then``), ``silent`` (no answer, keep the connection),
      ``close`` (FIN without answering), ``reset`` (RST without answering).
    lines: byte strings (as ``str``, UTF-8) written in one write, each with its own terminator exactly as
      recorded (a line without ``\\n`` stays without it). Templates ``{{id}}``/``{{id_str}}``/``{{method}}``.
    then: notifications written after ``then_delay_s`` seconds (one write).
    delay_s: seconds to wait before writing ``lines``.
    close_after: close (FIN) after writing.
    after / before: the rule applies only if the method named was (``after``) / was not (``before``) seen
      earlier on this connection; rules of a method are tried in order, the first that applies wins.
    source: where these bytes or this behaviour come from (recording, case, or reference with section).
    """

    action: str = "reply"
    lines: list[str] = field(default_factory=list)
    then: list[str] = field(default_factory=list)
    then_delay_s: float = 0.0
    delay_s: float = 0.0
    close_after: bool = False
    after: str | None = None
    before: str | None = None
    source: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Rule":
        """Inverse of ``dataclasses.asdict``; raises ``TypeError`` on an unknown key."""
        return cls(**d)


@dataclass
class Route:
    """One HTTP route of an ``http`` persona.

    method: request method or ``*``; path: exact path, ``*``, or ``re:<regex>`` (full match, for routers with
    path parameters such as open-ethereum-pool's ``/{login}/{worker}``); rpc_method: JSON-RPC method of the body,
    ``*`` (any body) or None (not looked at); the first matching route answers.
    response: the full response bytes (status line, headers, body) as ``str``, templates as in
    :class:`Rule` plus ``{{length}}`` (Content-Length of the body after ``\\r\\n\\r\\n``).
    """

    response: str
    method: str = "*"
    path: str = "*"
    rpc_method: str | None = None
    close_after: bool = True
    source: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Route":
        """Inverse of ``dataclasses.asdict``; raises ``TypeError`` on an unknown key."""
        return cls(**d)


@dataclass
class WriteStyle:
    """How bytes go on the wire, to exercise a client's framing.

    chunk: split every write into pieces of at most this many bytes (None = one write);
    chunk_delay_s: seconds between pieces; split_lines: write each line of a reply separately
    (``line_delay_s`` apart) instead of all lines in one write; strip_final_newline: drop the ``\\n`` of the
    last line of every write.
    """

    chunk: int | None = None
    chunk_delay_s: float = 0.0
    split_lines: bool = False
    line_delay_s: float = 0.0
    strip_final_newline: bool = False


@dataclass
class Persona:
    """How one emulated server answers (data; serialises with :meth:`to_dict`).

    name: persona id (``ckpool``, ``case-C08``...); source: provenance of the whole persona.
    expect: the right verdict for this server: ``{"is_pool","protocol","software","coin","algo","label"}``.
    port: preferred TCP port (None = any); tls: wrap in TLS with a self-signed certificate for ``tls_cn``.
    kind: ``lines`` | ``http`` | ``sv2`` | ``hostile:<name>``.
    methods: method -> rules (``"*"`` = default); non_json / http / first_request / non_http: rules.
    require_brace: close at once when the first byte of a line is not ``{`` or the line is shorter than
      32 bytes (xmrig-proxy ``Miner::read``, protocols.md §6.10).
    routes: for ``http`` personas.
    """

    name: str
    source: str
    expect: dict[str, Any]
    kind: str = "lines"
    port: int | None = None
    tls: bool = False
    tls_cn: str = "pool.example.test"
    methods: dict[str, list[Rule]] = field(default_factory=dict)
    non_json: Rule = field(default_factory=lambda: Rule(action="close", source="default: close on non-JSON"))
    http: Rule | None = None
    first_request: Rule | None = None
    require_brace: bool = False
    routes: list[Route] = field(default_factory=list)
    non_http: Rule | None = None
    write: WriteStyle = field(default_factory=WriteStyle)
    max_line: int = 65536
    idle_timeout_s: float = 60.0
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The persona as plain JSON-able data (``python -m scanner.lab.personas NAME`` prints this)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Persona":
        """Inverse of :meth:`to_dict`; raises ``TypeError`` on an unknown key."""
        d = dict(d)
        d["methods"] = {k: [Rule.from_dict(r) for r in v] for k, v in (d.get("methods") or {}).items()}
        for key in ("non_json", "http", "first_request", "non_http"):
            if d.get(key) is not None:
                d[key] = Rule.from_dict(d[key])
        if "non_json" in d and d["non_json"] is None:
            del d["non_json"]
        d["routes"] = [Route.from_dict(r) for r in d.get("routes") or ()]
        d["write"] = WriteStyle(**(d.get("write") or {}))
        return cls(**d)


# --------------------------------------------------------------------------------------------- templates
def find_top_level_id(line: str) -> tuple[int, int] | None:
    """Return ``(start, end)`` of the value of the top-level ``"id"`` key of a JSON object line, or None.

    Works on the raw text (no re-serialisation), so a template keeps the recorded bytes: nested ``"id"`` keys
    (CryptoNote ``result.id``) are skipped by tracking depth and strings."""
    depth = 0
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == '"':
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            key = line[i + 1:j]
            k = j + 1
            if depth == 1 and key == "id":
                while k < n and line[k] in " \t":
                    k += 1
                if k < n and line[k] == ":":
                    k += 1
                    while k < n and line[k] in " \t":
                        k += 1
                    start = k
                    if k < n and line[k] == '"':
                        k += 1
                        while k < n and line[k] != '"':
                            k += 2 if line[k] == "\\" else 1
                        return start, k + 1
                    while k < n and line[k] not in ",}] \t\r\n":
                        k += 1
                    return start, k
            i = j + 1
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return None


def template_id(line: str, recorded_id: Any = None, *, as_string: bool = False) -> str:
    """Put ``{{id}}`` (or ``{{id_str}}``) in place of the top-level id value of ``line`` when that value
    equals ``recorded_id`` (any non-null id when ``recorded_id`` is None); other lines are returned as is."""
    span = find_top_level_id(line)
    if span is None:
        return line
    raw = line[span[0]:span[1]]
    try:
        value = json.loads(raw)
    except ValueError:
        return line
    if value is None:
        return line
    if recorded_id is not None and value != recorded_id and str(value) != str(recorded_id):
        return line
    return line[:span[0]] + ("{{id_str}}" if as_string else "{{id}}") + line[span[1]:]


def render(text: str, req_id: Any = None, method: str | None = None) -> bytes:
    """Fill the templates of ``text`` for one request and return the bytes to write."""
    if "{{" in text:
        text = text.replace("{{id}}", json.dumps(req_id, separators=(",", ":")))
        text = text.replace("{{id_str}}", json.dumps("" if req_id is None else str(req_id)))
        if method is not None:
            text = text.replace("{{method}}", json.dumps(method)[1:-1])
    return text.encode("utf-8")


# --------------------------------------------------------------------------------------------- connection
class _Conn:
    """One accepted connection (internal)."""

    def __init__(self, persona: Persona, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.p = persona
        self.reader = reader
        self.writer = writer
        self.seen: set[str] = set()
        self.requests = 0
        self.closed = False

    async def send(self, data: bytes, *, lines: int = 1) -> None:
        w = self.p.write
        if not data or self.closed:
            return
        if w.strip_final_newline and data.endswith(b"\n"):
            data = data[:-1]
        pieces = [data]
        if w.split_lines and lines > 1:
            pieces = [ln for ln in data.splitlines(keepends=True)]
        for i, piece in enumerate(pieces):
            if i and w.line_delay_s:
                await asyncio.sleep(w.line_delay_s)
            if w.chunk:
                for j in range(0, len(piece), w.chunk):
                    if j and w.chunk_delay_s:
                        await asyncio.sleep(w.chunk_delay_s)
                    self.writer.write(piece[j:j + w.chunk])
                    await self.writer.drain()
            else:
                self.writer.write(piece)
                await self.writer.drain()

    async def run_rule(self, rule: Rule, req_id: Any = None, method: str | None = None) -> None:
        if rule.action == "silent":
            return
        if rule.action == "close":
            self.closed = True
            return
        if rule.action == "reset":
            _abort(self.writer)
            self.closed = True
            return
        if rule.delay_s:
            await asyncio.sleep(rule.delay_s)
        if rule.lines:
            await self.send(b"".join(render(x, req_id, method) for x in rule.lines), lines=len(rule.lines))
        if rule.then:
            if rule.then_delay_s:
                await asyncio.sleep(rule.then_delay_s)
            await self.send(b"".join(render(x, req_id, method) for x in rule.then), lines=len(rule.then))
        if rule.close_after:
            self.closed = True

    def pick(self, method: str) -> Rule | None:
        for key in (method, "*"):
            for rule in self.p.methods.get(key, ()):
                if rule.after and rule.after not in self.seen:
                    continue
                if rule.before and rule.before in self.seen:
                    continue
                return rule
        return None

    async def handle_line(self, line: bytes) -> None:
        p = self.p
        stripped = line.strip()
        if not stripped:
            return
        if self.requests == 0 and p.http is not None and stripped.startswith(HTTP_METHODS):
            self.requests += 1
            await self.run_rule(p.http)
            return
        if p.require_brace and (not stripped.startswith(b"{") or len(line) < 32):
            self.closed = True
            return
        try:
            msg = json.loads(stripped)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            self.requests += 1
            await self.run_rule(p.non_json)
            return
        method = msg.get("method")
        req_id = msg.get("id")
        if p.require_brace and (not isinstance(req_id, int) or not isinstance(method, str)):
            self.closed = True
            return
        method = method if isinstance(method, str) else ""
        first = self.requests == 0
        self.requests += 1
        if first and p.first_request is not None:
            await self.run_rule(p.first_request, req_id, method)
        else:
            rule = self.pick(method)
            if rule is not None:
                await self.run_rule(rule, req_id, method)
        self.seen.add(method)

    async def serve_lines(self) -> None:
        buf = bytearray()
        p = self.p
        while not self.closed:
            data = await asyncio.wait_for(self.reader.read(65536), p.idle_timeout_s)
            if not data:
                return
            if p.require_brace and not buf and not data.lstrip().startswith(b"{"):
                return
            if self.requests == 0 and p.http is not None and not buf and data.startswith(HTTP_METHODS):
                self.requests += 1
                await self.run_rule(p.http)
                if p.http.action == "silent":
                    continue
                return
            buf += data
            while not self.closed:
                i = buf.find(b"\n")
                if i < 0:
                    break
                line = bytes(buf[:i])
                del buf[: i + 1]
                await self.handle_line(line)
            if len(buf) > p.max_line:
                return

    async def serve_http(self) -> None:
        p = self.p
        buf = bytearray()
        while not self.closed:
            while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
                if b"\n" in buf and not _HTTP_REQUEST_LINE.match(bytes(buf.split(b"\n", 1)[0])):
                    await self.run_rule(p.non_http or Rule(action="close"))
                    return
                if len(buf) > p.max_line:
                    return
                data = await asyncio.wait_for(self.reader.read(65536), p.idle_timeout_s)
                if not data:
                    return
                buf += data
            sep = b"\r\n\r\n" if b"\r\n\r\n" in buf else b"\n\n"
            head, _, rest = bytes(buf).partition(sep)
            buf = bytearray(rest)
            lines = head.split(b"\n")
            m = _HTTP_REQUEST_LINE.match(lines[0])
            if not m:
                await self.run_rule(p.non_http or Rule(action="close"))
                return
            headers = {}
            for h in lines[1:]:
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            try:
                length = min(int(headers.get("content-length", "0") or 0), MAX_HTTP_BODY)
            except ValueError:
                length = 0
            while len(buf) < length:
                data = await asyncio.wait_for(self.reader.read(65536), p.idle_timeout_s)
                if not data:
                    break
                buf += data
            body, buf = bytes(buf[:length]), buf[length:]
            method, path = m.group(1).decode(), m.group(2).decode("latin-1")
            req_id: Any = None
            rpc_method: str | None = None
            try:
                msg = json.loads(body) if body else None
                if isinstance(msg, dict):
                    req_id = msg.get("id")
                    rpc_method = msg.get("method") if isinstance(msg.get("method"), str) else None
            except ValueError:
                pass
            route = self.route(method, path, rpc_method, body, headers)
            if route is None:
                return
            out = render(route.response, req_id, rpc_method)
            if b"{{length}}" in out:
                body_len = len(out.partition(b"\r\n\r\n")[2])
                out = out.replace(b"{{length}}", str(body_len).encode())
            await self.send(out)
            keep = headers.get("connection", "").lower() != "close" and m.group(4) == b"1"
            if route.close_after or not keep:
                return

    def route(self, method: str, path: str, rpc_method: str | None, body: bytes,
              headers: dict[str, str]) -> Route | None:
        for r in self.p.routes:
            if r.method not in ("*", method):
                continue
            if r.path.startswith("re:"):
                if re.fullmatch(r.path[3:], path) is None:
                    continue
            elif r.path not in ("*", path):
                continue
            if r.rpc_method == "*" and not body:
                continue
            if r.rpc_method not in (None, "*") and r.rpc_method != rpc_method:
                continue
            return r
        return None

    async def serve_sv2(self) -> None:
        buf = bytearray()
        while len(buf) < 64:
            data = await asyncio.wait_for(self.reader.read(64 - len(buf)), self.p.idle_timeout_s)
            if not data:
                return
            buf += data
        await self.send(os.urandom(234))
        # any further byte would be an encrypted frame whose MAC cannot verify: the responder drops the peer
        await asyncio.wait_for(self.reader.read(1), self.p.idle_timeout_s)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER (on, 0 s) then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport = writer.transport
    transport.abort()


async def handle_connection(persona: Persona, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one connection as ``persona`` until it ends; never raises (peer errors just end it)."""
    conn = _Conn(persona, reader, writer)
    try:
        if persona.kind == "lines":
            await conn.serve_lines()
        elif persona.kind == "http":
            await conn.serve_http()
        elif persona.kind == "sv2":
            await conn.serve_sv2()
        elif persona.kind.startswith("hostile:"):
            from scanner.lab import hostile

            await hostile.serve(persona.kind.split(":", 1)[1], reader, writer)
        else:
            raise ValueError(f"unknown persona kind {persona.kind!r}")
    except (asyncio.TimeoutError, ConnectionError, OSError, asyncio.IncompleteReadError):
        pass
    except asyncio.CancelledError:
        _abort(writer)
        raise
    finally:
        if not writer.is_closing():
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - closing a broken transport must not raise out of the server
                pass
