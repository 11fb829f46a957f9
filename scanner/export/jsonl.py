"""JSON lines of mining pools: one compact JSON object per line, keys :data:`POOL_FIELDS` in order.

Values keep their types (lists, dicts, booleans, numbers). Strings keep their content, JSON-escaped (U+0085,
U+2028 and U+2029 too, so that no line splitter breaks a record); only
lone surrogates (from undecodable input) become ``\\udcNN`` text and strings longer than 4096 characters
are cut (``…[+N]``), so every line is valid UTF-8 JSON whatever a server sent.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from scanner.export.common import POOL_FIELDS

MAX_STRING = 4096


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + f"…[+{len(value) - MAX_STRING}]"
    if isinstance(value, (bytes, bytearray)):
        return _safe(bytes(value).decode("utf-8", "backslashreplace"))
    if isinstance(value, dict):
        return {str(_safe(k)): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _safe(str(value))


def record(pool: dict) -> dict:
    """The exported object of one pool (POOL_FIELDS keys, safe values)."""
    return {k: _safe(pool.get(k)) for k in POOL_FIELDS}


#: Characters that are valid raw inside a JSON string but that line splitters (Python ``str.splitlines``,
#: JavaScript) treat as line ends: written as ``\\uXXXX`` so one record stays one line.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def line(pool: dict) -> str:
    """One pool as one JSON line (no newline at the end)."""
    text = json.dumps(record(pool), ensure_ascii=False, separators=(",", ":"))
    for ch, esc in _LINE_BREAKS.items():
        text = text.replace(ch, esc)
    return text


def render(pools: Iterable[dict]) -> str:
    """JSON lines text, one pool per line (``\\n`` after each)."""
    return "".join(line(p) + "\n" for p in pools)
