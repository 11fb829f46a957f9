"""Enrichment: who hosts a pool, what names it answers to, what its web front says.

The enrich stage runs after classification and never changes the verdict. It adds one flat,
JSON-serialisable dict to each :class:`scanner.model.ProbeResult` (``result.enrichment``)::

    from scanner.enrich import EnrichOptions, enrich
    opts = EnrichOptions(mmdb=["results/geodb/asn-ipv4.mmdb", "results/geodb/geo-whois-asn-country.mmdb"],
                         web=True, timeout_s=3.0, max_bytes=256 * 1024, user_agent="poolscan/0.1.0")
    data = await enrich(result, opts)

Keys of the returned dict (each present only when its lookup succeeded, except ``errors`` which is
always there):

==================  =========================================================================
``asn``             int, the autonomous system number (``scanner.enrich.geo``)
``as_org``          str, the AS organisation
``country``         str, ISO 3166-1 alpha-2 code (upper case)
``geo_source``      str, comma-separated file names of the databases that gave the fields above
``cert_subject``    str, RFC 4514 subject of the peer certificate (``scanner.enrich.tls``)
``cert_issuer``     str, RFC 4514 issuer
``cert_sans``       list[str], subjectAltName DNS names and IP addresses, as written
``cert_not_before`` str, ISO 8601 UTC; ``cert_not_after`` likewise
``cert_sha256``     str, lower-case hex SHA-256 of the DER certificate
``domains``         list[str], candidate pool domains (certificate CN/SAN DNS names, the pool's own
                    ``poolHost`` from its API); wildcards are kept as written (``*.pool.example``),
                    the leading ``*.`` is the mark
``web_title``       str, the ``<title>`` of the web front page (``scanner.enrich.web``)
``web_server``      str, the ``Server`` response header
``web_api``         dict, what the pool's own API said: ``pool_name``, ``coins``, ``algos``,
                    ``hashrate`` (H/s), ``miners``, ``workers``, ``fee`` (percent), ``ports``,
                    ``software_version``, ``pool_host``, ``payout_schemes``, ``sources`` (URLs read)
``favicon_mmh3``    int, Shodan-compatible favicon hash (``scanner.enrich.favicon``)
``favicon_url``     str, where the favicon was read
``errors``          list[str], ``"field: why"`` for every lookup that failed
==================  =========================================================================

Guarantees: :func:`enrich` never raises (except ``asyncio.CancelledError``, so Ctrl-C works); every
network read is bounded in bytes (``max_bytes``) and seconds (``timeout_s`` per request,
``budget_s`` for the whole web part of one result); only ``result.ip`` is ever contacted (no
redirects, no off-host links, no proxies from the environment); every value from a peer is stored
as text (never ``bytes``), each string capped at :data:`MAX_STR` characters and each list/dict at
:data:`MAX_ITEMS` items.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

MAX_STR = 512  # characters kept of any string value
MAX_ITEMS = 50  # items kept of any list, keys kept of any dict
MAX_DEPTH = 4  # nesting kept inside web_api
_INT64 = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")

#: The keys :func:`enrich` may return, in display order (``errors`` always present).
KEYS = (
    "asn", "as_org", "country", "geo_source",
    "cert_subject", "cert_issuer", "cert_sans", "cert_not_before", "cert_not_after", "cert_sha256",
    "domains", "web_title", "web_server", "web_api", "favicon_mmh3", "favicon_url", "errors",
)


@dataclass(frozen=True)
class EnrichOptions:
    """How to enrich.

    mmdb: paths of MaxMind-format databases (GeoLite2-ASN/-Country/-City, DB-IP Lite, IPinfo Lite,
      ip-location-db); looked up in this order, the first database that has a field wins.
    web: fetch the pool's web front and API (HTTP GETs to ``result.ip`` only).
    timeout_s: seconds allowed for one HTTP request (connect + headers + body).
    budget_s: seconds allowed for all HTTP requests of one result together.
    max_bytes: bytes read of one HTTP body at most (after decompression).
    max_requests: HTTP requests made for one result at most.
    user_agent: the User-Agent header sent.
    favicon: fetch and hash the favicon (needs ``web``).
    port_map: ``{documented port: port to use}`` — the lab and the tests run pool APIs on other
      loopback ports than the software's defaults listed in ``web_apis.yaml``.
    cache: per-run memo of HTTP answers keyed by (ip, scheme, port, path), so the several ports of
      one pool host fetch its API once; bounded to ``CACHE_MAX`` entries.
    """

    mmdb: Sequence[str] = ()
    web: bool = True
    timeout_s: float = 3.0
    budget_s: float = 10.0
    max_bytes: int = 256 * 1024
    max_requests: int = 8
    user_agent: str = "poolscan/0.1.0"
    favicon: bool = True
    port_map: Mapping[int, int] = field(default_factory=dict)
    cache: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    CACHE_MAX = 4096

    def __post_init__(self) -> None:
        if isinstance(self.mmdb, (str, bytes)):
            object.__setattr__(self, "mmdb", (str(self.mmdb),))
        else:
            object.__setattr__(self, "mmdb", tuple(str(p) for p in self.mmdb))


def clean(value: Any, depth: int = 0) -> Any:
    """Make a value from a peer safe to store: JSON types only, strings capped at MAX_STR characters,
    lists and dicts at MAX_ITEMS items, nesting at MAX_DEPTH, bytes decoded as UTF-8 with
    replacement, NaN/inf dropped (None), ints beyond int64 turned into floats. Never raises."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value <= _INT64 else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value[: MAX_STR * 4]).decode("utf-8", "replace")
    if isinstance(value, str):
        # lone surrogates (from JSON "\ud800") cannot be encoded to UTF-8 later: replace them
        s = value[:MAX_STR]
        return s if s.isascii() else _SURROGATE.sub("\ufffd", s)
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if len(out) >= MAX_ITEMS:
                break
            out[clean(str(k) if not isinstance(k, (bytes, bytearray)) else k)] = clean(v, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [clean(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    return clean(str(value))


def dig(d: Any, *path: Any) -> Any:
    """``d[path[0]][path[1]]...`` through dicts (string keys) and lists (int indexes); None as soon
    as a step does not fit. For reading untrusted JSON and database records without try/except."""
    for key in path:
        if isinstance(d, Mapping):
            d = d.get(key)
        elif isinstance(d, list) and isinstance(key, int) and -len(d) <= key < len(d):
            d = d[key]
        else:
            return None
    return d


def text_or_none(v: Any) -> str | None:
    """``v`` stripped when it is a non-blank string, else None."""
    return (v.strip() or None) if isinstance(v, str) else None


def _add_error(errors: list[str], text: str) -> None:
    if len(errors) < MAX_ITEMS:
        errors.append(text)


async def enrich(result: Any, opts: EnrichOptions | None = None) -> dict[str, Any]:
    """Enrich one probe result; return the enrichment dict (keys in :data:`KEYS`).

    ``result`` is a :class:`scanner.model.ProbeResult` (only ``ip``, ``port``, ``tls``, ``verdict``
    and ``transcripts`` are read; nothing is modified). Geo/ASN lookups are local file reads; TLS
    fields come from ``transcripts[i].tls_info``; the web part makes at most ``opts.max_requests``
    bounded HTTP GETs to ``result.ip``. Never raises except ``asyncio.CancelledError``.
    """
    from . import geo, tls, web

    opts = opts or EnrichOptions()
    out: dict[str, Any] = {}
    errors: list[str] = []

    try:
        fields, errs = geo.lookup(str(getattr(result, "ip", "")), opts.mmdb)
        out.update(fields)
        for e in errs:
            _add_error(errors, e)
    except Exception as exc:  # a bug must not take the run down
        _add_error(errors, f"geo: internal error ({type(exc).__name__})")

    try:
        fields, errs = tls.from_result(result)
        out.update(fields)
        for e in errs:
            _add_error(errors, e)
    except Exception as exc:
        _add_error(errors, f"cert: internal error ({type(exc).__name__})")

    if opts.web:
        try:
            fields, errs = await web.from_result(result, opts)
            domains = fields.pop("domains", None)
            out.update(fields)
            if domains:
                merged = list(out.get("domains") or [])
                merged += [d for d in domains if d not in merged]
                out["domains"] = merged
            for e in errs:
                _add_error(errors, e)
        except Exception as exc:
            _add_error(errors, f"web: internal error ({type(exc).__name__})")

    out["errors"] = errors
    cleaned = clean({k: out[k] for k in KEYS if k in out})
    # clean() caps nesting; web_api is the only nested value and sits at depth 1
    return cleaned


__all__ = ["EnrichOptions", "enrich", "clean", "dig", "text_or_none", "KEYS", "MAX_STR", "MAX_ITEMS"]
