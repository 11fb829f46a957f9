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


# ------------------------------------------------------------------------------------------ compiled form
#
# The interpreter above (:func:`holds`, :func:`match_all`) is the reference semantics. For speed, the
# verdict module evaluates each rule through the closures below, built once per rule: they compute exactly
# what :func:`holds` computes (same selectors, same tests, same witnesses), without re-reading the condition
# dict on every call. A compiled condition returns its witness (possibly None) when it holds, else ``FAIL``.

FAIL = object()


def _compile_path(path: str | None) -> Any:
    """A getter ``message -> value`` equal to ``_msg_value(message, path)``."""
    if path is None:
        return lambda m: m.obj
    if path == "$keys":
        return lambda m: ",".join(m.keys)
    if path == "$id":
        return lambda m: m.id
    if path == "$id_type":
        return lambda m: type(m.id).__name__
    parts: list[tuple[str, int | None]] = []
    for part in path.split("."):
        try:
            idx: int | None = int(part)
        except ValueError:
            idx = None
        parts.append((part, idx))

    def walk(obj: Any) -> Any:
        cur = obj
        for key, idx in parts:
            if isinstance(cur, dict):
                if key not in cur:
                    return MISSING
                cur = cur[key]
            elif isinstance(cur, list):
                if idx is None or not -len(cur) <= idx < len(cur):
                    return MISSING
                cur = cur[idx]
            else:
                return MISSING
        return cur

    if path in ("$code", "$text"):
        extract = error_code if path == "$code" else error_text

        def get_error(m: Any) -> Any:
            if isinstance(m, Response):
                v = extract(m.error)
                return MISSING if v is None else v
            return walk(m.obj)
        return get_error
    if len(parts) == 1:
        key, idx = parts[0]

        def walk1(m: Any) -> Any:
            cur = m.obj
            if isinstance(cur, dict):
                return cur[key] if key in cur else MISSING
            if isinstance(cur, list):
                if idx is None or not -len(cur) <= idx < len(cur):
                    return MISSING
                return cur[idx]
            return MISSING
        return walk1
    return lambda m: walk(m.obj)


def _equals_test(x: Any) -> Any:
    """``v -> _same(v, x)`` for a value that is not MISSING."""
    if isinstance(x, bool):
        return lambda v: v is x
    if isinstance(x, str) or x is None:
        return lambda v: v == x and not isinstance(v, bool)
    return lambda v: not isinstance(v, bool) and v == x


def _compile_test(cond: dict[str, Any]) -> Any:
    """A predicate ``v -> bool`` equal to ``test(cond, v)``; every test a condition carries, in the same
    order (so that a value of an unexpected type fails, or raises, exactly where :func:`test` does)."""
    checks: list[Any] = []
    if "equals" in cond:
        checks.append(_equals_test(cond["equals"]))
    if "in" in cond:
        opts = cond["in"]
        checks.append(lambda v: any(_same(v, x) for x in opts))
    if "type" in cond:
        checks.append(_TYPES.get(cond["type"], lambda _: False))
    if "len" in cond:
        want = cond["len"]

        def len_ok(v: Any) -> bool:
            if not isinstance(v, (str, list)):
                return False
            lo, hi = (want, want) if isinstance(want, int) else (want[0], want[1])
            return lo <= len(v) <= hi
        checks.append(len_ok)
    if "gte" in cond:
        lo_ = cond["gte"]
        checks.append(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= lo_)
    if "lte" in cond:
        hi_ = cond["lte"]
        checks.append(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v <= hi_)
    if "regex" in cond:
        rx = compile_regex(cond["regex"]).search

        def rx_ok(v: Any) -> bool:
            s = v if isinstance(v, str) else _as_text(v)
            return s is not None and rx(s[:65536]) is not None
        checks.append(rx_ok)
    if "not_regex" in cond:
        nrx = compile_regex(cond["not_regex"]).search

        def nrx_ok(v: Any) -> bool:
            s = v if isinstance(v, str) else _as_text(v)
            return s is None or nrx(s[:65536]) is None
        checks.append(nrx_ok)
    has_exists = "exists" in cond
    want_exists = bool(cond["exists"]) if has_exists else False
    if len(checks) == 1:
        only = checks[0]
        if not has_exists:
            return lambda v: v is not MISSING and only(v)
    checks_t = tuple(checks)

    def run(v: Any) -> bool:
        if has_exists:
            if (v is not MISSING) != want_exists:
                return False
            if v is MISSING:
                return True
        if v is MISSING:
            return False
        for c in checks_t:
            if not c(v):
                return False
        return True
    return run


_SCALARS = (str, int, float, type(None))


def value_key(name: str, v: Any) -> tuple[str, str, str, Any] | None:
    """``("=", fact, kind, value)`` for a scalar fact value: two keys are equal exactly when
    ``_same(a, b)`` (bools apart from numbers; 1 and 1.0 alike); None for other values (lists, dicts)."""
    if isinstance(v, bool):
        return ("=", name, "bool", v)
    if type(v) in _SCALARS:
        return ("=", name, "val", v)
    return None


def _is_fact_regex(cond: dict[str, Any]) -> bool:
    """A leaf ``{fact: X, regex: R}`` and nothing else."""
    return set(cond) == {"fact", "regex"}


_NO_CACHE: dict[Any, Any] = {}


def _cached_values(o: Observation, key: tuple[str, str], method: str, get: Any) -> list[Any] | None:
    """``[get(m) for m in o.replies(method)]``, kept on the observation for the other rules (the
    observation is built per transcript and dropped after classification: no cross-transcript state).
    None when a getter raised (the caller then runs the plain loop)."""
    try:
        cache = o.__dict__.setdefault("_rule_values", {})
    except AttributeError:  # an observation without a __dict__: no caching
        cache = _NO_CACHE
    try:
        return cache[key]
    except KeyError:
        pass
    try:
        vals: list[Any] | None = [get(m) for m in o.replies(method)]
    except Exception:  # noqa: BLE001 - the plain loop reproduces the failure at the same place
        vals = None
    if cache is not _NO_CACHE:
        cache[key] = vals
    return vals


def compile_condition(cond: dict[str, Any]) -> tuple[Any, frozenset[Any]]:
    """Compile one condition: ``(fn, needs)``. ``fn(observation)`` returns the witness :func:`holds` would
    give when the condition holds, else :data:`FAIL`. ``needs`` is a set of keys that must all be present in
    :meth:`Observation.present` for the condition to be able to hold (``("reply", m)``, ``("notify", m)``,
    ``("reply-error", m)``, a fact name, or :func:`value_key` of a fact that a leaf tests with ``equals``
    alone): a condition whose needs are absent is false without being evaluated."""
    if "all" in cond:
        parts = [compile_condition(c) for c in cond["all"]]
        fns = tuple(p[0] for p in parts)
        needs = frozenset().union(*(p[1] for p in parts)) if parts else frozenset()

        def all_fn(o: Observation) -> Any:
            wit = None
            for fn in fns:
                w = fn(o)
                if w is FAIL:
                    return FAIL
                if wit is None:
                    wit = w
            return wit
        return all_fn, needs
    if "any" in cond:
        aparts = [compile_condition(c) for c in cond["any"]]
        afns = tuple(p[0] for p in aparts)
        # what every alternative needs, the alternation needs too
        any_needs = frozenset.intersection(*(p[1] for p in aparts)) if aparts else frozenset()
        alts = cond["any"]
        if alts and all(isinstance(c, dict) and _is_fact_regex(c) for c in alts):
            # ``any`` of ``fact: X, regex: R`` leaves (banner rules tried on every observation): one loop, no
            # nested calls; the same order and witness as any_fn below
            pairs = tuple((str(c["fact"]), compile_regex(c["regex"]).search) for c in alts)

            def any_fact_regex(o: Observation) -> Any:
                facts = o.facts
                for name, rx in pairs:
                    v = facts.get(name, MISSING)
                    if v is MISSING:
                        continue
                    s = v if isinstance(v, str) else _as_text(v)
                    if s is not None and rx(s[:65536]) is not None:
                        return v
                return FAIL
            return any_fact_regex, any_needs

        def any_fn(o: Observation) -> Any:
            for fn in afns:
                w = fn(o)
                if w is not FAIL:
                    return w
            return FAIL
        return any_fn, any_needs
    if "not" in cond:
        inner = compile_condition(cond["not"])[0]
        return (lambda o: None if inner(o) is FAIL else FAIL), frozenset()
    ok = _compile_test(cond)
    if "reply" in cond or "notify" in cond:
        is_reply = "reply" in cond
        method = str(cond["reply"] if is_reply else cond["notify"])
        get = _compile_path(cond.get("path"))
        need = ("reply" if is_reply else "notify", method)

        path_ = cond.get("path")
        if is_reply and path_ in ("$code", "$text"):
            # The error code/text of every reply, computed once per observation and shared by the rules
            # that read it (a dozen error rules read $code/$text of the same replies). A getter that raises
            # is not cached: the plain loop then raises exactly where it would have.
            ckey = (method, path_)

            def msg_fn(o: Observation) -> Any:
                vals = _cached_values(o, ckey, method, get)
                if vals is None:
                    for m in o.replies(method):
                        v = get(m)
                        if ok(v):
                            return None if v is MISSING else v
                    return FAIL
                for v in vals:
                    if ok(v):
                        return None if v is MISSING else v
                return FAIL
        elif is_reply:
            def msg_fn(o: Observation) -> Any:
                for m in o.replies(method):
                    v = get(m)
                    if ok(v):
                        return None if v is MISSING else v
                return FAIL
        else:
            def msg_fn(o: Observation) -> Any:
                for m in o.notified(method):
                    v = get(m)
                    if ok(v):
                        return None if v is MISSING else v
                return FAIL
        # an empty selection never holds, whatever the tests
        needs = {need}
        path = cond.get("path")
        if is_reply and "exists" not in cond and isinstance(path, str) and (
                path in ("$code", "$text") or path.startswith("error.")
                or (path == "error" and not ok(None) and not ok(False))):
            # error code/text/parts of replies whose error is null/false/absent are MISSING (or fail)
            needs.add(("reply-error", method))
        return msg_fn, frozenset(needs)
    if "fact" in cond:
        name = str(cond["fact"])
        null_missing = cond.get("exists") is False
        tests = [k for k in TESTS if k in cond]
        fact_need = frozenset() if "exists" in cond else frozenset((name,))
        if tests == ["regex"]:
            rx = compile_regex(cond["regex"]).search

            def fact_regex(o: Observation) -> Any:
                v = o.facts.get(name, MISSING)
                if v is MISSING:
                    return FAIL
                s = v if isinstance(v, str) else _as_text(v)
                return v if s is not None and rx(s[:65536]) is not None else FAIL
            return fact_regex, fact_need
        if tests == ["equals"]:
            want = cond["equals"]
            eq = _equals_test(want)

            def fact_equals(o: Observation) -> Any:
                v = o.facts.get(name, MISSING)
                return v if v is not MISSING and eq(v) else FAIL
            gate = value_key(name, want)
            return fact_equals, (fact_need | {gate} if gate is not None and type(want) is not float else fact_need)

        def fact_fn(o: Observation) -> Any:
            v = o.facts.get(name, MISSING)
            if v is None and null_missing:
                v = MISSING
            if ok(v):
                return None if v is MISSING else v
            return FAIL
        # an absent fact fails every test but ``exists`` (a leaf with ``exists`` may hold without it)
        return fact_fn, (frozenset() if "exists" in cond else frozenset((name,)))
    return (lambda o: FAIL), frozenset()


def compile_when(conds: Any) -> tuple[Any, frozenset[Any]]:
    """Compile a rule's ``when`` list: ``(fn, needs)``; ``fn(observation)`` returns the witness list
    :func:`match_all` would return, else None."""
    parts = [compile_condition(c) for c in conds]
    fns = tuple(p[0] for p in parts)
    needs = frozenset().union(*(p[1] for p in parts)) if parts else frozenset()
    if len(fns) == 1:
        f0 = fns[0]

        def one(o: Observation) -> list[Any] | None:
            w = f0(o)
            return None if w is FAIL else [w]
        return one, needs

    def many(o: Observation) -> list[Any] | None:
        out = []
        for fn in fns:
            w = fn(o)
            if w is FAIL:
                return None
            out.append(w)
        return out
    return many, needs
