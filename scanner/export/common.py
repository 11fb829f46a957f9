"""Helpers shared by the exporters: making untrusted strings safe, and the fixed field order of a pool.

Everything in a pool dict that came from a server (software names, labels, evidence with banner
excerpts, certificate names, pool web API text) is hostile: it may hold quotes, ``;``, newlines, escape
sequences, lone surrogates from undecodable bytes, or megabytes of text. :func:`clean` turns any value
into printable, length-capped text; :func:`hostname` accepts only a syntactically valid DNS name.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

#: Columns of CSV/JSONL, in order (every verdict field, first/last seen, new/known, enrichment).
POOL_FIELDS = (
    "id", "ip", "port", "protocol", "software", "coin", "algo", "confidence", "tls", "label", "evidence",
    "first_seen", "last_seen", "seen_count", "first_run", "last_run", "known", "new", "asn", "as_org",
    "country", "cert_names", "domains", "favicon_mmh3", "cert_sha256", "web_info",
)

#: Default cap on one exported text value (characters).
MAX_TEXT = 512

_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_HOST_RE = re.compile(r"^(?=.{1,253}$)(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")


def clean(value: Any, limit: int = MAX_TEXT) -> str:
    """Printable text for any value: bytes decoded as UTF-8 with ``\\xNN`` for invalid bytes, lone
    surrogates as ``\\udcNN``, control and bidi characters as escapes, and at most ``limit`` characters
    (a cut value ends with ``…[+N]``, N = characters dropped). None gives ``""``."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        s = bytes(value).decode("utf-8", "backslashreplace")
    else:
        s = value if isinstance(value, str) else str(value)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    s = _CTRL.sub(_escape_char, s)
    if len(s) > limit:
        s = s[:limit] + f"…[+{len(s) - limit}]"
    return s


def hostname(value: Any) -> str | None:
    """The lowercase DNS name when ``value`` is one (optionally ``*.`` wildcard, at least two labels,
    alphabetic TLD), else None. Used before a name goes into a STIX pattern, a MISP domain or an IDS rule."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower().rstrip(".")
    if not _HOST_RE.match(name):
        return None
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        return name


def pool_domains(pool: dict) -> list[str]:
    """Valid DNS names of a pool (``domains`` then ``cert_names``, wildcards dropped), deduplicated."""
    out: list[str] = []
    for v in list(pool.get("domains") or []) + list(pool.get("cert_names") or []):
        h = hostname(v)
        if h and not h.startswith("*.") and h not in out:
            out.append(h)
    return out


def cert_sha256(pool: dict) -> str | None:
    """The pool's certificate SHA-256 as 64 lowercase hex digits, or None when absent or malformed."""
    h = str(pool.get("cert_sha256") or "").strip().lower().replace(":", "")
    return h if re.fullmatch(r"[0-9a-f]{64}", h) else None


def ip_of(pool: dict) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The pool's address; raises ``ValueError`` when ``ip`` is not an IP address."""
    return ipaddress.ip_address(str(pool.get("ip")))


def port_of(pool: dict) -> int:
    """The pool's TCP port; raises ``ValueError`` when not in 1..65535."""
    port = int(pool.get("port"))
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} out of range")
    return port


def endpoint(pool: dict) -> str:
    """``ip:port`` (``[v6]:port`` for IPv6)."""
    ip = ip_of(pool)
    return f"[{ip.compressed}]:{port_of(pool)}" if ip.version == 6 else f"{ip.compressed}:{port_of(pool)}"


def summary(pool: dict) -> str:
    """One cleaned line: ``stratum1 ckpool BTC sha256d`` (unknown parts left out)."""
    parts = [clean(pool.get(k), 64) for k in ("protocol", "software", "coin", "algo") if pool.get(k)]
    return " ".join(parts) or "unknown"


def confidence_100(pool: dict) -> int:
    """Confidence on the STIX/MISP 0..100 scale (from 0..1, clamped)."""
    try:
        c = float(pool.get("confidence") or 0.0)
    except (TypeError, ValueError):
        c = 0.0
    return max(0, min(100, round(c * 100)))
