"""JSON-RPC as the mining protocols use it: requests, responses, notifications, and junk as a value.

Sans-IO. ``decode(line)`` never raises on peer data: a line that is not a JSON object comes back as
:class:`Malformed`, because "the peer sent junk" is evidence too.

Conventions seen in real servers (``../shared/reference/protocols.md`` §1.1, ``../shared/cases/``):
JSON-RPC 1.0 style stratum (``id``, ``result``, ``error`` with ``error`` an array ``[code, msg, tb]``),
JSON-RPC 2.0 objects ``{"code", "message"}``, string errors (f2pool's ``"(20, 'Bad params', None)"``),
string ids for integer requests (SRI translator, case C10), ``id: 0`` pushes (open-ethereum-pool),
notifications with ``id: null``, missing ``result``/``error`` keys, duplicate keys in one object.
"""

from __future__ import annotations

import json
import json.scanner
import re
from dataclasses import dataclass
from typing import Any

MAX_DECODE = 256 * 1024  # bytes; a longer line is Malformed without parsing
MAX_DEPTH = 100  # nesting levels of arrays/objects; a deeper line is Malformed (pool messages nest < 10)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(s: str) -> bool:
    """True when JSON text ``s`` nests arrays/objects deeper than :data:`MAX_DEPTH` (strings skipped). Called
    only for lines with more than MAX_DEPTH opening brackets, so that the decoder's recursion never gets near
    the interpreter's limit: without it a ~1,000-level line was junk or not depending on how deep the caller's
    own stack was (found by differential fuzzing, issue 8)."""
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub("", s)):
        if m.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False

# The C scanner behind json.loads, called directly (json.loads adds two Python frames and a regex per line:
# ~25 % of a stratum handshake's decode cost, measured with bench.throughput). Same decoder settings as
# json.loads; the scanner clears its memo after every call.
_scan_once = json.scanner.make_scanner(json.JSONDecoder())


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class Response:
    """A reply to a request. ``id`` as sent by the peer (may be a string for an int request).

    ``has_result``/``has_error`` tell a missing key from a null one. ``keys`` is the key order on the wire
    (a software fingerprint: miningcore ``result,error,id``; ckpool ``result,id,error``; NOMP
    ``id,result,error``)."""

    id: Any
    result: Any
    error: Any
    has_result: bool
    has_error: bool
    keys: tuple[str, ...]
    obj: dict[str, Any]


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class Notification:
    """A message with a ``method`` from the peer (server push such as ``mining.notify``, or a request)."""

    method: str
    params: Any
    id: Any
    keys: tuple[str, ...]
    obj: dict[str, Any]


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class Malformed:
    """A line that is not one JSON object (HTTP, binary, truncated JSON...). ``reason`` says why."""

    line: bytes
    reason: str


Message = Response | Notification | Malformed


def decode(line: bytes) -> Message:
    """Decode one line. Returns Response, Notification or Malformed; never raises on peer data."""
    if len(line) > MAX_DECODE:
        return Malformed(line[:256], f"line of {len(line)} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return Malformed(line[:256], "not UTF-8")
    s = text.strip()
    if not s.startswith("{"):
        return Malformed(line[:256], "not a JSON object")
    if not s.endswith("}"):
        # an object that parses to the end of the line ends with "}": a truncated or flooded line is junk
        # without scanning it (a 98 KB unterminated string cost ~70 us to scan, issue 8)
        return Malformed(line[:256], "invalid JSON: not closed by '}'")
    if s.count("{") + s.count("[") > MAX_DEPTH and _too_deep(s):
        return Malformed(line[:256], f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        # A plain dict keeps the wire order of first occurrence and the last value of a duplicated key, as
        # JavaScript and Go decoders do; the key order is a software fingerprint.
        obj, end = _scan_once(s, 0)
    except StopIteration:
        return Malformed(line[:256], "invalid JSON: Expecting value")
    except (ValueError, RecursionError) as exc:
        return Malformed(line[:256], f"invalid JSON: {str(exc)[:80]}")
    if end != len(s):
        return Malformed(line[:256], f"invalid JSON: Extra data at {end}")
    if not isinstance(obj, dict):
        return Malformed(line[:256], "not a JSON object")
    keys = tuple(obj)
    method = obj.get("method")
    if isinstance(method, str) and "result" not in obj and "error" not in obj:
        return Notification(method=method, params=obj.get("params"), id=obj.get("id"), keys=keys, obj=obj)
    if "result" in obj or "error" in obj:
        return Response(id=obj.get("id"), result=obj.get("result"), error=obj.get("error"),
                        has_result="result" in obj, has_error="error" in obj, keys=keys, obj=obj)
    if isinstance(method, str):
        return Notification(method=method, params=obj.get("params"), id=obj.get("id"), keys=keys, obj=obj)
    return Malformed(line[:256], "JSON object without method, result or error")


def decode_all(lines: list[bytes]) -> list[Message]:
    return [decode(x) for x in lines]


def same_id(a: Any, b: Any) -> bool:
    """Match a reply id with a request id, tolerating ``"3642"`` for ``3642`` (case C10)."""
    if a == b and type(a) is type(b):
        return True
    return a is not None and b is not None and str(a) == str(b)


def encode(method: str, params: Any, id: Any, *, jsonrpc: bool = False, extra: dict[str, Any] | None = None) -> bytes:
    """One request line, compact JSON + ``\\n``. ``jsonrpc=True`` adds ``"jsonrpc":"2.0"`` (CryptoNote and
    ETHProxy servers expect it; xmrig ``Client.cpp``, open-ethereum-pool ``docs/STRATUM.md``)."""
    obj: dict[str, Any] = {"id": id}
    if jsonrpc:
        obj["jsonrpc"] = "2.0"
    obj["method"] = method
    obj["params"] = params
    if extra:
        obj.update(extra)
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def error_text(error: Any) -> str | None:
    """The message of an error in any of the shapes pools use: ``[code, msg, tb]``, ``{"code","message"}``,
    a bare string. None when there is no error."""
    if error is None or error is False:
        return None
    if isinstance(error, list) and len(error) >= 2:
        return str(error[1])
    if isinstance(error, dict):
        return str(error.get("message", ""))
    return str(error)


def error_code(error: Any) -> int | None:
    """The numeric code of an error (``[code, ...]`` or ``{"code": ...}``), else None."""
    code = None
    if isinstance(error, list) and error:
        code = error[0]
    elif isinstance(error, dict):
        code = error.get("code")
    try:
        return int(code) if code is not None and not isinstance(code, bool) else None
    except (TypeError, ValueError):
        return None
