"""The matcher engine: a rule's conditions tested against one :class:`~scanner.fingerprint.observe.Observation`.

A condition selects values, then tests them; it holds when ANY selected value passes ALL its tests.

Selectors (exactly one per condition):
  ``reply: <method>|any``   the Responses answering poolscan's request(s) with that method (by id); with
                            ``path`` (dotted, list indexes as numbers: ``result.0.0.1``) or the pseudo paths
                            ``$code`` ``$text`` (error code/message in any shape), ``$keys`` (key order on
                            the wire, comma-joined), ``$id``, ``$id_type``; without path the whole object
  ``notify: <method>|any``  the peer's messages that carry ``method`` (pushes), same paths
  ``fact: <name>``          a named fact computed by :mod:`scanner.fingerprint.observe`
Combinators: ``all: [...]``, ``any: [...]``, ``not: {...}``.
Tests: ``equals``, ``in``, ``regex`` / ``not_regex`` (``re.search``), ``type``, ``len`` (int or [min,max]),
``gte``, ``lte``, ``exists`` (false: the path/fact is absent).

Pure and total: a test on a value of the wrong type is simply false.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from scanner.fingerprint.observe import Observation
from scanner.protocols.jsonrpc import Notification, Response, error_code, error_text

MISSING = object()
SELECTORS = ("reply", "notify", "fact")
TESTS = ("equals", "in", "regex", "not_regex", "type", "len", "gte", "lte", "exists")
COMBINATORS = ("all", "any", "not")

_TYPES = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, float),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


@functools.lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile (and cache) a rule regex. Raises ``re.error`` for a bad pattern (the loader reports it)."""
    return re.compile(pattern)


def _walk(obj: Any, path: str) -> Any:
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return MISSING
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                i = int(part)
            except ValueError:
                return MISSING
            if not -len(cur) <= i < len(cur):
                return MISSING
            cur = cur[i]
        else:
            return MISSING
    return cur


def _msg_value(m: Response | Notification, path: str | None) -> Any:
    if path is None:
        return m.obj
    if path == "$keys":
        return ",".join(m.keys)
    if path == "$id":
        return m.id
    if path == "$id_type":
        return type(m.id).__name__
    if isinstance(m, Response):
        if path == "$code":
            c = error_code(m.error)
            return MISSING if c is None else c
        if path == "$text":
            t = error_text(m.error)
            return MISSING if t is None else t
    return _walk(m.obj, path)


def select(cond: dict[str, Any], o: Observation) -> list[Any]:
    """The values a condition's selector picks in ``o`` (``MISSING`` stands for an absent path/fact)."""
    path = cond.get("path")
    if "reply" in cond:
        return [_msg_value(m, path) for m in o.replies(str(cond["reply"]))]
    if "notify" in cond:
        return [_msg_value(m, path) for m in o.notifications(str(cond["notify"]))]
    if "fact" in cond:
        v = o.facts.get(str(cond["fact"]), MISSING)
        return [MISSING if v is None and cond.get("exists") is False else v]
    return []


def _as_text(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return str(v)
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def test(cond: dict[str, Any], v: Any) -> bool:
    """True when value ``v`` passes every test of ``cond``."""
    if "exists" in cond:
        if (v is not MISSING) != bool(cond["exists"]):
            return False
        if v is MISSING:
            return True
    if v is MISSING:
        return False
    if "equals" in cond and not _same(v, cond["equals"]):
        return False
    if "in" in cond and not any(_same(v, x) for x in cond["in"]):
        return False
    if "type" in cond and not _TYPES.get(cond["type"], lambda _: False)(v):
        return False
    if "len" in cond:
        if not isinstance(v, (str, list)):
            return False
        want = cond["len"]
        lo, hi = (want, want) if isinstance(want, int) else (want[0], want[1])
        if not lo <= len(v) <= hi:
            return False
    for key, ok in (("gte", lambda a, b: a >= b), ("lte", lambda a, b: a <= b)):
        if key in cond:
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not ok(v, cond[key]):
                return False
    if "regex" in cond:
        s = _as_text(v)
        if s is None or not compile_regex(cond["regex"]).search(s[:65536]):
            return False
    if "not_regex" in cond:
        s = _as_text(v)
        if s is not None and compile_regex(cond["not_regex"]).search(s[:65536]):
            return False
    return True


def holds(cond: dict[str, Any], o: Observation) -> tuple[bool, Any]:
    """Evaluate one condition on ``o``: ``(holds, witness)`` where witness is the value that satisfied it
    (for evidence strings), or None."""
    if "all" in cond:
        wit = None
        for c in cond["all"]:
            ok, w = holds(c, o)
            if not ok:
                return False, None
            wit = w if wit is None else wit
        return True, wit
    if "any" in cond:
        for c in cond["any"]:
            ok, w = holds(c, o)
            if ok:
                return True, w
        return False, None
    if "not" in cond:
        ok, _ = holds(cond["not"], o)
        return (not ok), None
    for v in select(cond, o):
        if test(cond, v):
            return True, (None if v is MISSING else v)
    return False, None


def match_all(conds: list[dict[str, Any]], o: Observation) -> list[Any] | None:
    """Witness values when every condition holds on ``o``, else None."""
    out = []
    for c in conds:
        ok, w = holds(c, o)
        if not ok:
            return None
        out.append(w)
    return out
