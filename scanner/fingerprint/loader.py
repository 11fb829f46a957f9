"""Load and validate the fingerprint set (``fingerprints/``): YAML files -> :class:`FingerprintSet`.

Layout (see ``fingerprints/README.md``): ``software/<id>.yaml``, ``protocols/<id>.yaml`` and
``nonpools/<id>.yaml`` hold rules (schema ``rules.schema.json``); ``coins/<id>.yaml`` hold coin/algo knowledge
(schema ``coins.schema.json``). ``probes/`` belongs to the probe engine and is not read here.

Every problem raises :class:`scanner.errors.FingerprintError` whose message starts with ``file:line:``
(line numbers from the YAML node marks, 1-based).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scanner.errors import FingerprintError

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "fingerprints"
RULE_DIRS = ("protocols", "software", "nonpools")
COIN_DIR = "coins"
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Rule:
    """One fingerprint rule. ``probes`` is None for ``any``; ``when`` the conditions (all must hold on one
    transcript); ``verdict`` the fields it supports; ``line`` where it starts in ``file``; ``relayed`` True when
    the rule only reads job content a proxy relays from its upstream (the rule's ``relayed:`` key, else derived
    with :func:`is_job_condition`)."""

    id: str
    file: str
    line: int
    kind: str
    probes: tuple[str, ...] | None
    when: tuple[dict[str, Any], ...]
    verdict: dict[str, Any]
    confidence: float
    evidence: str
    examples: tuple[str, ...]
    near_misses: tuple[str, ...]
    source: str | None = None
    relayed: bool = False


# Job content: what a stratum proxy passes on unchanged from its upstream (coinbase, job ids, merkle branches,
# ethash seeds, CryptoNote blobs). A rule that tests nothing else speaks about the upstream's software, not
# about the server that answered (tests/transcripts/real/aiostratum-proxy-upstream-fresh.jsonl: aiostratum-proxy
# relays ckpool's '\nckpool' coinbase).
JOB_FACT_PREFIXES = ("job.", "eth.", "cn.job_", "cn.algo", "cn.height", "cn.major_version", "cn.seed_hash",
                     "cn.next_seed_hash", "cn.target_hexlen")
JOB_NOTIFY_METHODS = ("mining.notify", "job")


def is_job_condition(cond: Any) -> bool:
    """True when a condition (with its combinators) only selects job content: ``fact: job.*``/``eth.*``/the
    CryptoNote job facts, or ``notify: mining.notify``/``notify: job``. A ``not`` counts as job content when
    its operand does."""
    if not isinstance(cond, dict):
        return False
    for key in ("all", "any"):
        if key in cond:
            subs = cond.get(key) or ()
            return bool(subs) and all(is_job_condition(c) for c in subs)
    if "not" in cond:
        return is_job_condition(cond["not"])
    if "fact" in cond:
        return str(cond["fact"]).startswith(JOB_FACT_PREFIXES)
    if "notify" in cond:
        return cond["notify"] in JOB_NOTIFY_METHODS
    return False


@dataclass(frozen=True)
class FingerprintSet:
    """All rules and coin data. ``version`` is a short hash of every file's path and bytes."""

    root: Path
    version: str
    rules: tuple[Rule, ...]
    coins: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()


@functools.lru_cache(maxsize=4)
def _schema(name: str) -> dict[str, Any]:
    return json.loads((_HERE / name).read_text(encoding="utf-8"))


def _node_at(node: yaml.Node | None, path: list[Any]) -> yaml.Node | None:
    """The YAML node at a JSON path (keys and indexes); the deepest existing node on the way."""
    cur = node
    for part in path:
        if isinstance(cur, yaml.MappingNode):
            nxt = None
            for k, v in cur.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    break
            if nxt is None:
                return cur
            cur = nxt
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(cur.value):
            cur = cur.value[part]
        else:
            return cur
    return cur


def _line(node: yaml.Node | None, path: list[Any]) -> int:
    n = _node_at(node, path)
    return (n.start_mark.line + 1) if n is not None else 1


def _read(path: Path, rel: str) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FingerprintError(f"{rel}:1: cannot read: {exc}") from None
    try:
        # One parse with libyaml when available (pure-Python PyYAML costs ~1.5 s for the whole set): compose
        # the node tree (kept for file:line messages), then construct the data from it.
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise FingerprintError(f"{rel}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return data, node


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _validated_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "poolscan" / "fingerprints-validated.txt"


def _already_validated(version: str) -> bool:
    """True when this exact fingerprint set (by content hash) passed schema validation before on this machine.
    Importing jsonschema costs ~2 s here (rfc3987_syntax), too much for an ad hoc probe; the semantic checks
    (ids, kinds, regexes) still run on every load."""
    try:
        return version in _validated_cache().read_text().split()
    except OSError:
        return False


def _remember_validated(version: str) -> None:
    path = _validated_cache()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text().split() if path.exists() else []
        path.write_text("\n".join((old + [version])[-20:]) + "\n")
    except OSError:
        pass


def validate(data: Any, node: yaml.Node | None, rel: str, schema_name: str) -> None:
    """Validate one file's data against a schema; raise FingerprintError ``file:line: message`` for the
    first error (the deepest, most specific one)."""
    import jsonschema  # deferred: importing it costs ~2 s on this machine (rfc3987_syntax)

    validator = jsonschema.Draft202012Validator(_schema(schema_name))
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(list(e.absolute_path)), str(e.message)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise FingerprintError(f"{rel}:{_line(node, list(err.absolute_path))}: {where}: {err.message[:300]}")


def _check_regexes(cond: Any, rel: str, node: yaml.Node | None, path: list[Any]) -> None:
    if not isinstance(cond, dict):
        return
    for key in ("regex", "not_regex"):
        if key in cond:
            try:
                re.compile(cond[key])
            except re.error as exc:
                raise FingerprintError(f"{rel}:{_line(node, path + [key])}: bad {key}: {exc}") from None
    for key in ("all", "any"):
        for i, c in enumerate(cond.get(key) or ()):
            _check_regexes(c, rel, node, path + [key, i])
    if "not" in cond:
        _check_regexes(cond["not"], rel, node, path + ["not"])


def _load_rule_file(path: Path, rel: str, seen: dict[str, str], check_schema: bool = True) -> list[Rule]:
    data, node = _read(path, rel)
    if check_schema:
        validate(data, node, rel, "rules.schema.json")
    if data["id"] != path.stem:
        raise FingerprintError(f"{rel}:{_line(node, ['id'])}: id {data['id']!r} must equal the file stem {path.stem!r}")
    expected_kind = {"software": "software", "protocols": "protocol", "nonpools": "nonpool"}[path.parent.name]
    if data["kind"] != expected_kind:
        raise FingerprintError(f"{rel}:{_line(node, ['kind'])}: kind must be {expected_kind!r} in {path.parent.name}/")
    out = []
    for i, r in enumerate(data["rules"]):
        rp = ["rules", i]
        rid = r["id"]
        if not rid.startswith(data["id"] + "."):
            raise FingerprintError(f"{rel}:{_line(node, rp + ['id'])}: rule id {rid!r} must start with {data['id'] + '.'!r}")
        if rid in seen:
            raise FingerprintError(f"{rel}:{_line(node, rp + ['id'])}: rule id {rid!r} already defined in {seen[rid]}")
        seen[rid] = rel
        sw = r["verdict"].get("software")
        if data["kind"] == "software" and sw not in (None, data["id"]):
            raise FingerprintError(f"{rel}:{_line(node, rp + ['verdict', 'software'])}: software {sw!r} must be the file id {data['id']!r}")
        if data["kind"] == "nonpool" and r["verdict"].get("is_pool") is True:
            raise FingerprintError(f"{rel}:{_line(node, rp + ['verdict', 'is_pool'])}: a nonpool rule cannot say is_pool: true")
        for j, c in enumerate(r["when"]):
            _check_regexes(c, rel, node, rp + ["when", j])
        out.append(Rule(
            id=rid, file=rel, line=_line(node, rp), kind=data["kind"],
            probes=None if r["probe"] == "any" else tuple(r["probe"]),
            when=tuple(r["when"]), verdict=dict(r["verdict"]), confidence=float(r["confidence"]),
            evidence=r["evidence"], examples=tuple(r["examples"]), near_misses=tuple(r.get("near_misses") or ()),
            source=r.get("source"),
            relayed=bool(r["relayed"]) if "relayed" in r else all(is_job_condition(c) for c in r["when"]),
        ))
    return out


def _merge_coins(coins: dict[str, Any], data: dict[str, Any], rel: str, node: yaml.Node | None) -> None:
    for key, value in data.items():
        if key in ("id", "kind", "info"):
            continue
        if key == "coinbase_tags":
            for i, t in enumerate(value):
                try:
                    re.compile(t["regex"])
                except re.error as exc:
                    raise FingerprintError(f"{rel}:{_line(node, [key, i, 'regex'])}: bad regex: {exc}") from None
        if isinstance(value, dict):
            coins.setdefault(key, {}).update(value)
        else:
            for i, v in enumerate(value):
                entry = dict(v, _file=rel)
                if isinstance(v, dict) and "clock" in v:
                    entry["_clock"] = _clock_tuple(v["clock"], rel, _line(node, [key, i, "clock"]))
                coins.setdefault(key, []).append(entry)


def _clock_tuple(clock: dict[str, Any], rel: str, line: int) -> tuple[int, int, float, float, float, int]:
    """A height window's ``clock`` (``fingerprints/coins``: ``{height, time, block_time, drift: [lo, hi], margin}``)
    as the hashable tuple ``(height, time, block_time, lo, hi, margin)`` that
    :func:`scanner.fingerprint.verdict.timed_window` caches on. Raises FingerprintError ``file:line`` when the
    drift range is not ``lo <= 0 <= hi`` with ``lo > -1`` or the block time is not positive."""
    try:
        lo, hi = (float(x) for x in clock["drift"])
        out = (int(clock["height"]), int(clock["time"]), float(clock["block_time"]), lo, hi, int(clock.get("margin", 0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise FingerprintError(f"{rel}:{line}: bad clock: {exc}") from None
    if not (-1.0 < lo <= 0.0 <= hi) or out[2] <= 0 or out[5] < 0:
        raise FingerprintError(f"{rel}:{line}: bad clock: need -1 < drift[0] <= 0 <= drift[1], block_time > 0, margin >= 0")
    return out


def load_uncached(root: Path | str | None = None, *, check_schema: bool | None = None) -> FingerprintSet:
    """Read and validate every fingerprint file under ``root`` (default: the repository's
    ``fingerprints/``). Raises FingerprintError (``file:line: message``).

    ``check_schema``: True = always validate against the JSON Schemas; None (default) = unless this exact set
    (content hash) was validated before on this machine; False = never (semantic checks still run)."""
    base = Path(root) if root is not None else DEFAULT_ROOT
    if not base.is_dir():
        raise FingerprintError(f"{base}:1: fingerprint directory not found")
    digest = hashlib.sha256()
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    files: list[str] = []
    for sub in RULE_DIRS + (COIN_DIR,):
        for path in sorted((base / sub).glob("*.yaml")) if (base / sub).is_dir() else ():
            rel = f"{base.name}/{sub}/{path.name}"
            files.append(rel)
            digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    version = digest.hexdigest()[:12]
    if check_schema is None:
        check_schema = not _already_validated(digest.hexdigest())
    coins: dict[str, Any] = {}
    for sub in RULE_DIRS:
        for path in sorted((base / sub).glob("*.yaml")) if (base / sub).is_dir() else ():
            rules += _load_rule_file(path, f"{base.name}/{sub}/{path.name}", seen, check_schema)
    for path in sorted((base / COIN_DIR).glob("*.yaml")) if (base / COIN_DIR).is_dir() else ():
        rel = f"{base.name}/{COIN_DIR}/{path.name}"
        data, node = _read(path, rel)
        if check_schema:
            validate(data, node, rel, "coins.schema.json")
        if data["id"] != path.stem:
            raise FingerprintError(f"{rel}:{_line(node, ['id'])}: id {data['id']!r} must equal the file stem {path.stem!r}")
        _merge_coins(coins, data, rel, node)
    if not rules:
        raise FingerprintError(f"{base}:1: no rule files found under {', '.join(RULE_DIRS)}")
    if check_schema:
        _remember_validated(digest.hexdigest())
    return FingerprintSet(root=base, version=version, rules=tuple(rules), coins=coins, files=tuple(files))


@functools.lru_cache(maxsize=8)
def _cached(root: str) -> FingerprintSet:
    return load_uncached(root)


def load_fingerprints(root: Path | str | None = None) -> FingerprintSet:
    """The fingerprint set under ``root`` (default ``<repo>/fingerprints``), cached per directory for the
    life of the process (``load_fingerprints.cache_clear()`` to re-read). Raises FingerprintError
    ``file:line: message`` on any invalid file."""
    base = Path(root) if root is not None else DEFAULT_ROOT
    return _cached(str(base.resolve()))


load_fingerprints.cache_clear = _cached.cache_clear  # type: ignore[attr-defined]
