"""Responsive services that no software rule names, grouped by the shape of what they answered.

This is nmap's "unrecognised service" idea (``nmap-service-probes`` fingerprint submission): the transcripts
poolscan could not fully label are grouped by a *shape* — the structure of the first reply of each probe with
the variable parts (hex runs, numbers, string contents) abstracted — so that a new fingerprint can be written
for a whole group at once from its examples.

A result is an "unknown" when it answered something and either looks like a pool whose software no rule
names (``is_pool`` true, ``software`` null), or matched no rule at all (``is_pool`` false with label
``unknown``, or ``is_pool`` null with bytes received).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from scanner.model import ProbeResult, Transcript
from scanner.protocols.framing import split_lines

_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{6,}$")


def _skeleton(v: Any, depth: int = 0) -> Any:
    if depth > 6:
        return "…"
    if isinstance(v, dict):
        return {k: _skeleton(x, depth + 1) for k, x in list(v.items())[:12]}
    if isinstance(v, list):
        return [_skeleton(x, depth + 1) for x in v[:6]] + (["…"] if len(v) > 6 else [])
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return "<num>"
    if isinstance(v, str):
        if _HEX.match(v):
            return f"<hex{len(v)}>"
        if v.isdigit():
            return f"<digits{len(v)}>"
        return "<str>" if len(v) > 24 else v
    return "<?>"


def line_shape(line: bytes) -> str:
    """The shape of one reply line: a JSON skeleton (keys kept, values abstracted) or, for non-JSON, the first
    24 bytes with digits and hex runs abstracted."""
    try:
        obj = json.loads(line.decode("utf-8"))
        return json.dumps(_skeleton(obj), separators=(",", ":"), sort_keys=False)[:300]
    except (ValueError, UnicodeDecodeError, RecursionError):
        text = line[:24].decode("latin-1")
        text = re.sub(r"[0-9a-fA-F]{6,}", "<hex>", text)
        text = re.sub(r"\d+", "<n>", text)
        return "raw:" + "".join(c if c.isprintable() else "." for c in text)


def _binary(data: bytes) -> bool:
    sample = data[:512]
    odd = sum(1 for b in sample if b < 9 or 13 < b < 32 or b > 126)
    return bool(sample) and odd > len(sample) // 4


def transcript_shape(t: Transcript) -> str | None:
    """``probe[+tls]: <shape of the first reply line>`` or None when the probe got nothing back. Binary
    answers are shaped by their total size (a Stratum V2 act 2 is always 234 bytes)."""
    data = t.received
    if not data:
        return None
    name = f"{t.probe}{'+tls' if t.tls else ''}"
    if _binary(data):
        return f"{name}: binary {len(data)} bytes{' (truncated)' if t.truncated else ''}"
    lines = split_lines(data[:65536])
    return f"{name}: {line_shape(lines[0])}" if lines else None


def is_unknown(r: ProbeResult) -> bool:
    """True for a result that answered but no software or service rule names it (see module docstring)."""
    v = r.verdict
    answered = any(t.received for t in r.transcripts)
    if not answered:
        return False
    if v.is_pool is True:
        return v.software is None
    return v.label in (None, "unknown")


@dataclass
class Group:
    """Unknown results with the same shape: ``count``, up to five ``examples`` (``ip:port``) and the verdict
    fields seen (``is_pool`` values, protocols)."""

    shape: tuple[str, ...]
    count: int = 0
    examples: list[str] = field(default_factory=list)
    is_pool: set[Any] = field(default_factory=set)
    protocols: set[Any] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "count": self.count, "examples": self.examples,
                "is_pool": sorted(self.is_pool, key=str), "protocols": sorted(self.protocols, key=str)}


def group_unknowns(results: Iterable[ProbeResult]) -> list[Group]:
    """Group the unknown results by shape (the sorted shapes of all their probes); largest group first."""
    groups: dict[tuple[str, ...], Group] = {}
    for r in results:
        if not is_unknown(r):
            continue
        shape = tuple(sorted({s for s in (transcript_shape(t) for t in r.transcripts) if s}))
        g = groups.setdefault(shape, Group(shape))
        g.count += 1
        if len(g.examples) < 5:
            g.examples.append(f"[{r.ip}]:{r.port}" if ":" in r.ip else f"{r.ip}:{r.port}")
        g.is_pool.add(r.verdict.is_pool)
        g.protocols.add(r.verdict.protocol)
    return sorted(groups.values(), key=lambda g: (-g.count, g.shape))
