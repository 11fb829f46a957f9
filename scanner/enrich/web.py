"""The pool's web front: page title, ``Server`` header, favicon hash, and what its own API says.

What is fetched (HTTP GET, aiohttp, to ``result.ip`` only — never another host):

* ``/`` on the probed port, when one of its transcripts saw an HTTP answer (``HTTP/1.x`` status line);
  otherwise ``/`` on the first API port below that answered HTTP at all.
* the API endpoints the identified software family serves by default — data, not code:
  ``web_apis.yaml`` next to this module lists software -> (port, path, parser, source).
* the favicon: the page's ``<link rel="icon" href>`` when it stays on the same host and port,
  else ``/favicon.ico``; hashed with :func:`scanner.enrich.favicon.favicon_hash`.

Bounds: one request at most ``opts.timeout_s`` seconds (connect, headers and body together, enforced
by ``asyncio.timeout`` around aiohttp's own timeouts) and ``opts.max_bytes`` bytes of body (read in
chunks; a gzip/deflate body is inflated incrementally to the same cap); all requests of one result
within ``opts.budget_s`` seconds and ``opts.max_requests`` requests. No redirects are followed, no
proxy settings are read from the environment, no cookies are kept, TLS certificates are not verified
(pool web fronts on IPs are self-signed; this is observation, not trust). Header lines are capped by
aiohttp (8190 bytes each, 128 headers).

API bodies are JSON; a body cut by the byte cap is closed by :func:`close_truncated_json` so the part
that arrived is still read (real pool APIs such as cryptonote-nodejs-pool ``/stats`` carry long chart
arrays after the interesting ``config`` block).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Mapping

import aiohttp
import yaml

from . import dig, text_or_none
from .favicon import favicon_hash, same_origin_icon_url

API_MAP_FILE = Path(__file__).with_name("web_apis.yaml")
FAVICON_MAX_BYTES = 1024 * 1024  # a favicon beyond this is not hashed (Shodan's own limit is unknown)
_MAX_HEADER_VALUE = 512


# ----------------------------------------------------------------------------------------------
# the API map (data)


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint of one software family: GET ``scheme://ip:port path`` and read it with
    ``PARSERS[parser]``. ``port`` None means the probed port itself."""

    software: str
    port: int | None
    path: str
    parser: str
    scheme: str = "http"
    source: str = ""


def load_api_map(path: str | Path | None = None) -> dict[str, tuple[Endpoint, ...]]:
    """Read ``web_apis.yaml`` (or ``path``) into ``{slug: (Endpoint, ...)}``, aliases included.

    Raises ``ValueError`` naming the file and entry when an entry is malformed (unknown parser, port
    out of 1..65535, path not starting with ``/``, missing source)."""
    p = Path(path) if path else API_MAP_FILE
    return _load_api_map_cached(str(p))


@functools.lru_cache(maxsize=8)
def _load_api_map_cached(p: str) -> dict[str, tuple[Endpoint, ...]]:
    with open(p, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    out: dict[str, tuple[Endpoint, ...]] = {}
    for slug, entry in (doc.get("software") or {}).items():
        eps = []
        for i, e in enumerate(entry.get("endpoints") or []):
            where = f"{p}: software {slug} endpoint {i}"
            port = e.get("port")
            if port is not None and not (isinstance(port, int) and 0 < port < 65536):
                raise ValueError(f"{where}: port {port!r} is not in 1..65535")
            path = e.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"{where}: path {path!r} must start with '/'")
            parser = e.get("parser")
            if parser not in PARSERS:
                raise ValueError(f"{where}: unknown parser {parser!r}")
            scheme = e.get("scheme", "http")
            if scheme not in ("http", "https"):
                raise ValueError(f"{where}: scheme {scheme!r} is not http or https")
            source = str(e.get("source") or "").strip()
            if not source:
                raise ValueError(f"{where}: no source given")
            eps.append(Endpoint(str(slug), port, path, parser, scheme, source))
        for name in [slug, *(entry.get("aliases") or [])]:
            out[str(name).lower()] = tuple(eps)
    return out


# ----------------------------------------------------------------------------------------------
# bounded HTTP


@dataclass
class Fetched:
    """The outcome of one GET: ``status`` None and ``error`` set when no HTTP answer came.
    ``headers`` keys are lower case; ``body`` is at most the cap; ``truncated`` says it was cut."""

    url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    error: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").lower()

    def text(self) -> str:
        """The body decoded with the charset of Content-Type (UTF-8 when absent or unknown)."""
        m = re.search(r"charset=([\w.:-]+)", self.content_type)
        charset = m.group(1) if m else "utf-8"
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")


def _inflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    """Inflate gzip/zlib/raw-deflate ``data`` to at most ``limit`` bytes: ``(bytes, truncated)``.
    Raises ``zlib.error`` for data that is none of them."""
    for wbits in (47, -15):  # 47 = 32 + 15: gzip or zlib header, auto-detected; -15: raw deflate
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(data, limit)
        except zlib.error:
            continue
        return out, bool(d.unconsumed_tail) or len(out) >= limit and not d.eof
    raise zlib.error("not gzip or deflate data")


def _session(opts: Any) -> aiohttp.ClientSession:
    t = float(opts.timeout_s)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=False, force_close=True, limit=4, use_dns_cache=False),
        timeout=aiohttp.ClientTimeout(total=t, connect=t, sock_connect=t, sock_read=t),
        headers={"User-Agent": opts.user_agent, "Accept": "*/*", "Accept-Encoding": "identity"},
        auto_decompress=False,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        max_line_size=8190,
        max_field_size=8190,
    )


async def fetch(session: aiohttp.ClientSession, url: str, timeout_s: float, max_bytes: int) -> Fetched:
    """GET ``url`` once: at most ``timeout_s`` seconds and ``max_bytes`` body bytes (after inflating).

    Never raises except ``asyncio.CancelledError``: every failure becomes ``Fetched.error``
    (``timeout after N s``, ``connection failed``, ``bad HTTP response``, ...)."""
    f = Fetched(url)
    try:
        async with asyncio.timeout(timeout_s):
            async with session.get(url, allow_redirects=False) as resp:
                f.status = resp.status
                for k, v in list(resp.headers.items())[:64]:
                    f.headers.setdefault(k.lower(), v[:_MAX_HEADER_VALUE])
                body = bytearray()
                while len(body) < max_bytes:
                    chunk = await resp.content.read(min(65536, max_bytes - len(body)))
                    if not chunk:
                        break
                    body += chunk
                if len(body) >= max_bytes and not resp.content.at_eof():
                    f.truncated = True
                    resp.close()  # drop the connection instead of draining an endless body
                enc = f.headers.get("content-encoding", "").strip().lower()
                if enc in ("gzip", "x-gzip", "deflate"):
                    try:
                        data, cut = _inflate(bytes(body), max_bytes)
                    except zlib.error:
                        f.error = f"content-encoding {enc} does not inflate"
                        return f
                    f.body, f.truncated = data, f.truncated or cut
                elif enc not in ("", "identity"):
                    f.error = f"unsupported content-encoding {enc[:40]!r}"
                else:
                    f.body = bytes(body)
    except TimeoutError:
        f.error = f"timeout after {timeout_s:g} s"
    except aiohttp.ClientConnectorError:
        f.error = "connection failed"
    except aiohttp.ServerDisconnectedError:
        f.error = "server closed the connection"
    except aiohttp.ClientResponseError as exc:
        f.error = f"bad HTTP response ({str(exc.message)[:120]})"
    except aiohttp.ClientPayloadError as exc:
        f.error = f"bad HTTP body ({str(exc)[:120]})"
    except aiohttp.ClientError as exc:
        f.error = f"{type(exc).__name__}"
    except (OSError, ValueError, UnicodeError) as exc:
        f.error = f"{type(exc).__name__}: {str(exc)[:120]}"
    return f


# ----------------------------------------------------------------------------------------------
# reading bodies

_JSON_TOKENS = re.compile(r'[\\"{}\[\],]')
_MAX_REPAIR_DEPTH = 64


def close_truncated_json(text: str) -> str | None:
    """Make a JSON document cut short parsable by dropping the last incomplete element and closing
    the open arrays/objects: ``'{"a":1,"b":[1,2'`` -> ``'{"a":1,"b":[1]}'``. Returns None when
    there is nothing safe to keep or nesting exceeds 64 levels. Pure, linear time."""
    stack: list[str] = []
    in_str = False
    skip_to = -1
    best: tuple[int, str] | None = None
    for m in _JSON_TOKENS.finditer(text):
        i = m.start()
        if i < skip_to:
            continue
        c = m.group()
        if in_str:
            if c == "\\":
                skip_to = i + 2
            elif c == '"':
                in_str = False
            continue
        if c == '"':
            in_str = True
        elif c in "{[":
            stack.append("}" if c == "{" else "]")
            if len(stack) > _MAX_REPAIR_DEPTH:
                return None
        elif c in "}]":
            if not stack:
                return None
            stack.pop()
            best = (i + 1, "".join(reversed(stack)))
        elif c == "," and stack:
            best = (i, "".join(reversed(stack)))
    if best is None:
        return None
    cut, closers = best
    return text[:cut] + closers


def parse_json_lenient(text: str, truncated: bool = False) -> tuple[Any, bool]:
    """Parse a JSON body: ``(value, repaired)``. Leading whitespace/BOM and trailing garbage after a
    complete value are ignored; a body cut short is closed by :func:`close_truncated_json`.
    Raises ``ValueError`` when nothing parses (deep-nesting bombs included)."""
    s = text.lstrip("\ufeff \t\r\n")
    dec = json.JSONDecoder()
    try:
        value, _end = dec.raw_decode(s)
        return value, False
    except (ValueError, RecursionError):
        pass
    fixed = close_truncated_json(s)
    if fixed is None:
        raise ValueError("not JSON")
    try:
        value, _end = dec.raw_decode(fixed)
    except (ValueError, RecursionError):
        raise ValueError("not JSON") from None
    return value, True


class _PageScan(HTMLParser):
    """Collects the first ``<title>`` text and the first ``<link rel~=icon href>`` of a page.
    html.parser never raises on malformed markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.icon: str | None = None
        self._in_title = False
        self._title_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.title is None:
            self._in_title = True
        elif tag == "link" and self.icon is None:
            a = {k.lower(): (v or "") for k, v in attrs}
            rels = a.get("rel", "").lower().split()
            if "icon" in rels and a.get("href"):
                self.icon = a["href"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split())

    def handle_data(self, data: str) -> None:
        if self._in_title and sum(map(len, self._title_parts)) < 4096:
            self._title_parts.append(data)


def scan_html(text: str) -> tuple[str | None, str | None]:
    """``(title, icon_href)`` of an HTML page (each None when absent). Never raises."""
    p = _PageScan()
    try:
        p.feed(text)
        p.close()
    except Exception:  # html.parser is lenient; belt and braces for hostile input
        pass
    if p.title is None and p._title_parts:  # unterminated <title> in a truncated page
        p.title = " ".join("".join(p._title_parts).split())
    return (p.title or None), p.icon


# ----------------------------------------------------------------------------------------------
# API parsers: pure functions, JSON value in, web_api fields out. Each names its source.


def _num(v: Any) -> float | int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, str) and len(v) < 40:
        try:
            f = float(v)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _int(v: Any) -> int | None:
    n = _num(v)
    return int(n) if n is not None and n >= 0 and float(n).is_integer() else None


def _strs(values: Any) -> list[str]:
    out: list[str] = []
    for v in values if isinstance(values, (list, tuple)) else []:
        s = text_or_none(v)
        if s and s not in out:
            out.append(s)
    return out


def _ports(values: Any) -> list[int]:
    out: list[int] = []
    for v in values if isinstance(values, (list, tuple)) else []:
        n = _int(v)
        if n is not None and 0 < n < 65536 and n not in out:
            out.append(n)
    return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != ""}


def parse_nomp_stats(d: Any) -> dict[str, Any]:
    """NOMP ``/api/stats``: ``{"time", "global": {"workers", "hashrate"}, "algos": {algo: ...},
    "pools": {name: {"name", "symbol", "algorithm", "hashrate", "workerCount", ...}}}``
    (recorded: ../shared/transcripts/nomp.jsonl; zone117x/node-open-mining-portal libs/stats.js)."""
    pools = dig(d, "pools") if isinstance(dig(d, "pools"), Mapping) else {}
    algos = list(dig(d, "algos").keys()) if isinstance(dig(d, "algos"), Mapping) else []
    for p in pools.values():
        a = text_or_none(dig(p, "algorithm"))
        if a and a not in algos:
            algos.append(a)
    return _drop_none({
        "coins": _strs([dig(p, "symbol") for p in pools.values()]),
        "algos": _strs(algos),
        "hashrate": _num(dig(d, "global", "hashrate")),
        "miners": _int(dig(d, "global", "workers")),
    })


def parse_miningcore_pools(d: Any) -> dict[str, Any]:
    """miningcore ``/api/pools``: ``{"pools": [{"id", "coin": {"type", "name", "symbol",
    "algorithm"}, "ports": {"3032": {...}}, "poolFeePercent", "poolStats": {"connectedMiners",
    "poolHashrate"}}]}`` (oliverw/miningcore src/Miningcore/Api/Responses/GetPoolsResponse.cs,
    GetPoolStatsResponse.cs; camelCase JSON)."""
    pools = [p for p in (dig(d, "pools") or []) if isinstance(p, Mapping)] if isinstance(dig(d, "pools"), list) else []
    coins, algos, ports, names, fees = [], [], [], [], []
    hashrate = miners = None
    for p in pools:
        coin = text_or_none(dig(p, "coin", "symbol")) or text_or_none(dig(p, "coin", "type"))
        if coin:
            coins.append(coin)
        a = text_or_none(dig(p, "coin", "algorithm"))
        if a:
            algos.append(a)
        n = text_or_none(dig(p, "id"))
        if n:
            names.append(n)
        if isinstance(dig(p, "ports"), Mapping):
            ports += list(dig(p, "ports").keys())
        f = _num(dig(p, "poolFeePercent"))
        if f is not None:
            fees.append(f)
        h = _num(dig(p, "poolStats", "poolHashrate"))
        if h is not None:
            hashrate = (hashrate or 0) + h
        m = _int(dig(p, "poolStats", "connectedMiners"))
        if m is not None:
            miners = (miners or 0) + m
    return _drop_none({
        "pool_name": ",".join(names) or None,
        "coins": _strs(coins),
        "algos": _strs(algos),
        "ports": _ports(ports),
        "fee": max(fees) if fees else None,
        "hashrate": hashrate,
        "miners": miners,
    })


def parse_oep_stats(d: Any) -> dict[str, Any]:
    """open-ethereum-pool ``/api/stats``: ``{"candidatesTotal", "hashrate", "immatureTotal",
    "maturedTotal", "minersTotal", "nodes": [...], "now", "stats": {...}}`` (recorded:
    ../shared/transcripts/open-ethereum-pool.jsonl; sammy007/open-ethereum-pool api/server.go)."""
    return _drop_none({
        "hashrate": _num(dig(d, "hashrate")),
        "miners": _int(dig(d, "minersTotal")),
    })


def parse_cryptonote_stats(d: Any) -> dict[str, Any]:
    """cryptonote-nodejs-pool ``/stats``: ``{"config": {"poolHost", "ports": [{"port", ...}],
    "cnAlgorithm", "fee", "coin", "symbol", "version", ...}, "pool": {"hashrate", "miners",
    "workers", ...}, "charts": ...}`` (recorded: ../shared/transcripts/cryptonote-nodejs-pool.jsonl;
    dvandal/cryptonote-nodejs-pool lib/api.js)."""
    c = dig(d, "config") if isinstance(dig(d, "config"), Mapping) else {}
    ports = [dig(p, "port") for p in c.get("ports") or []] if isinstance(c.get("ports"), list) else []
    return _drop_none({
        "pool_name": text_or_none(c.get("coin")),
        "coins": _strs([c.get("symbol")]),
        "algos": _strs([c.get("cnAlgorithm")]),
        "fee": _num(c.get("fee")),
        "ports": _ports(ports),
        "pool_host": text_or_none(c.get("poolHost")),
        "software_version": text_or_none(c.get("version")),
        "hashrate": _num(dig(d, "pool", "hashrate")),
        "miners": _int(dig(d, "pool", "miners")),
        "workers": _int(dig(d, "pool", "workers")),
    })


def parse_nodejs_pool_stats(d: Any) -> dict[str, Any]:
    """nodejs-pool ``/pool/stats``: ``{"pool_list": ["pplns", ...], "pool_statistics": {"hashRate",
    "miners", ...}, "last_payment"}`` (Snipa22/nodejs-pool lib/api.js; the pool_statistics keys are
    those of the 'pool_stats_global' cache written by lib/worker.js)."""
    s = dig(d, "pool_statistics")
    return _drop_none({
        "payout_schemes": _strs(dig(d, "pool_list")),
        "hashrate": _num(dig(s, "hashRate")),
        "miners": _int(dig(s, "miners")),
    })


def parse_nodejs_pool_config(d: Any) -> dict[str, Any]:
    """nodejs-pool ``/config``: ``{"pplns_fee", "min_wallet_payout", "dev_donation",
    "maturity_depth", "coin_code", ...}`` (Snipa22/nodejs-pool lib/api.js)."""
    return _drop_none({"coins": _strs([dig(d, "coin_code")]), "fee": _num(dig(d, "pplns_fee"))})


def parse_public_pool_info(d: Any) -> dict[str, Any]:
    """public-pool ``/api/info``: ``{"blockData", "userAgents": [{"userAgent", "count",
    "totalHashRate", ...}], "highScores", "uptime"}`` (benjamin-wilson/public-pool
    src/app.controller.ts). Miners = sum of counts, hashrate = sum of totalHashRate."""
    uas = [u for u in dig(d, "userAgents") or [] if isinstance(u, Mapping)] if isinstance(dig(d, "userAgents"), list) else []
    miners = sum(_int(u.get("count")) or 0 for u in uas) if uas else None
    rates = [_num(u.get("totalHashRate")) for u in uas]
    hashrate = sum(r for r in rates if r is not None) if any(r is not None for r in rates) else None
    return _drop_none({"miners": miners, "hashrate": hashrate})


def parse_public_pool_pool(d: Any) -> dict[str, Any]:
    """public-pool ``/api/pool``: ``{"totalHashRate", "blockHeight", "totalMiners", "blocksFound",
    "fee"}`` (benjamin-wilson/public-pool src/app.controller.ts)."""
    return _drop_none({
        "hashrate": _num(dig(d, "totalHashRate")),
        "miners": _int(dig(d, "totalMiners")),
        "fee": _num(dig(d, "fee")),
    })


def parse_xmrig_summary(d: Any) -> dict[str, Any]:
    """xmrig-proxy ``/1/summary``: ``{"version", "kind": "proxy", "algo", "mode", "ua",
    "hashrate": {"total": [kH/s over 1m, 10m, 1h, 12h, 24h, uptime]}, "miners": {"now", "max"},
    "workers", "upstreams": {...}}`` (recorded: ../shared/transcripts/xmrig-proxy.jsonl; units from
    xmrig/xmrig-proxy src/proxy/Hashrate.cpp). ``algo`` "invalid" (no upstream job yet) is dropped."""
    algo = text_or_none(dig(d, "algo"))
    khs = _num(dig(d, "hashrate", "total", 0))
    return _drop_none({
        "software_version": text_or_none(dig(d, "version")),
        "algos": [algo] if algo and algo != "invalid" else None,
        "hashrate": khs * 1000 if khs is not None else None,
        "miners": _int(dig(d, "miners", "now")),
        "workers": _int(dig(d, "workers")),
    })


PARSERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "nomp_stats": parse_nomp_stats,
    "miningcore_pools": parse_miningcore_pools,
    "oep_stats": parse_oep_stats,
    "cryptonote_stats": parse_cryptonote_stats,
    "nodejs_pool_stats": parse_nodejs_pool_stats,
    "nodejs_pool_config": parse_nodejs_pool_config,
    "public_pool_info": parse_public_pool_info,
    "public_pool_pool": parse_public_pool_pool,
    "xmrig_summary": parse_xmrig_summary,
}


# ----------------------------------------------------------------------------------------------
# the stage


def _http_seen(result: Any) -> list[str]:
    """Schemes ("http"/"https") under which the probed port answered with an HTTP status line."""
    schemes: list[str] = []
    for t in getattr(result, "transcripts", ()) or ():
        try:
            head = t.received[:8]
        except Exception:
            continue
        if head.startswith(b"HTTP/1.") or head.startswith(b"HTTP/2"):
            s = "https" if getattr(t, "tls", False) else "http"
            if s not in schemes:
                schemes.append(s)
    return schemes


def _url(scheme: str, ip: str, port: int, path: str) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"{scheme}://{host}:{port}{path}"


class _Budget:
    def __init__(self, opts: Any) -> None:
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + float(opts.budget_s)
        self.left = int(opts.max_requests)
        self.timeout = float(opts.timeout_s)

    def take(self) -> float | None:
        """Seconds the next request may use, or None when the budget is spent."""
        remaining = self.deadline - self.loop.time()
        if self.left <= 0 or remaining <= 0.05:
            return None
        self.left -= 1
        return min(self.timeout, remaining)


async def _get(session: aiohttp.ClientSession, opts: Any, budget: _Budget, url: str,
               max_bytes: int) -> Fetched | None:
    key = (url, max_bytes)
    cache = opts.cache
    if key in cache:
        return cache[key]
    t = budget.take()
    if t is None:
        return None
    f = await fetch(session, url, t, max_bytes)
    if len(cache) >= getattr(opts, "CACHE_MAX", 4096):
        cache.clear()
    cache[key] = f
    return f


def _looks_html(f: Fetched) -> bool:
    if "html" in f.content_type:
        return True
    return f.body[:512].lstrip().lower().startswith((b"<!doctype html", b"<html", b"<head", b"<title"))


async def from_result(result: Any, opts: Any) -> tuple[dict[str, Any], list[str]]:
    """Web-front fields for one ProbeResult: ``(fields, errors)``.

    fields: ``web_title``, ``web_server``, ``web_api`` (with ``sources``), ``favicon_mmh3``,
    ``favicon_url``, and ``domains`` (the API's own ``pool_host`` when it is a host name).
    errors: ``"web_api: <url>: why"``, ``"web_title: ..."``, ``"favicon: ..."``, ``"web: ..."``.
    Nothing to fetch (no HTTP seen, no known API for the software) -> ``({}, [])``.
    """
    from .tls import domain_or_none

    fields: dict[str, Any] = {}
    errors: list[str] = []
    ip = str(getattr(result, "ip", ""))
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return fields, [f"web: {ip!r} is not an IP address, nothing fetched"]
    port = int(getattr(result, "port", 0) or 0)
    verdict = getattr(result, "verdict", None)
    software = (getattr(verdict, "software", None) or "").lower()
    try:
        endpoints = load_api_map().get(software, ()) if software else ()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        endpoints = ()
        errors.append(f"web_api: API map unreadable ({str(exc)[:160]})")

    page_origins: list[tuple[str, int]] = [(s, port) for s in _http_seen(result)]
    if not endpoints and not page_origins:
        return fields, errors

    web_api: dict[str, Any] = {}
    sources: list[str] = []
    server: str | None = None
    async with _session(opts) as session:
        budget = _Budget(opts)
        for ep in endpoints:
            p = ep.port or port
            p = int(opts.port_map.get(p, p)) if opts.port_map else p
            url = _url(ep.scheme, ip, p, ep.path)
            f = await _get(session, opts, budget, url, int(opts.max_bytes))
            if f is None:
                errors.append(f"web_api: {url}: not fetched, request budget spent")
                continue
            if f.status is not None:
                server = server or f.headers.get("server")
                if (ep.scheme, p) not in page_origins:
                    page_origins.append((ep.scheme, p))
            if f.error:
                errors.append(f"web_api: {url}: {f.error}")
                continue
            if f.status != 200:
                errors.append(f"web_api: {url}: HTTP {f.status}")
                continue
            try:
                value, repaired = parse_json_lenient(f.text(), f.truncated)
            except ValueError:
                errors.append(f"web_api: {url}: body is not JSON")
                continue
            try:
                got = PARSERS[ep.parser](value)
            except Exception as exc:  # a parser bug on hostile input must not end the stage
                errors.append(f"web_api: {url}: unreadable answer ({type(exc).__name__})")
                continue
            if not got:
                errors.append(f"web_api: {url}: no pool fields in the answer")
                continue
            if f.truncated:
                errors.append(f"web_api: {url}: body cut at {opts.max_bytes} bytes, read the part that came")
            elif repaired:
                errors.append(f"web_api: {url}: JSON body ends early, read the part that came")
            for k, v in got.items():
                web_api.setdefault(k, v)
            sources.append(url)

        if page_origins:
            scheme, p = page_origins[0]
            page_url = _url(scheme, ip, p, "/")
            f = await _get(session, opts, budget, page_url, int(opts.max_bytes))
            href = None
            if f is None:
                errors.append(f"web_title: {page_url}: not fetched, request budget spent")
            elif f.error:
                errors.append(f"web_title: {page_url}: {f.error}")
            else:
                server = f.headers.get("server") or server
                if f.status != 200:
                    loc = f.headers.get("location")
                    errors.append(f"web_title: {page_url}: HTTP {f.status}" + (f" to {loc[:200]}" if loc else ""))
                elif _looks_html(f):
                    title, href = scan_html(f.text())
                    if title:
                        fields["web_title"] = title
                    else:
                        errors.append(f"web_title: {page_url}: page has no <title>")
                else:
                    errors.append(f"web_title: {page_url}: not an HTML page")
            if opts.favicon and f is not None and f.status is not None:
                icon_url, note = same_origin_icon_url(page_url, href)
                if note:
                    errors.append(f"favicon_url: {note}")
                limit = min(int(opts.max_bytes), FAVICON_MAX_BYTES)
                fi = await _get(session, opts, budget, icon_url, limit)
                if fi is None:
                    errors.append(f"favicon: {icon_url}: not fetched, request budget spent")
                elif fi.error:
                    errors.append(f"favicon: {icon_url}: {fi.error}")
                elif fi.status != 200:
                    errors.append(f"favicon: {icon_url}: HTTP {fi.status}")
                elif not fi.body:
                    errors.append(f"favicon: {icon_url}: empty body")
                elif fi.truncated:
                    errors.append(f"favicon: {icon_url}: larger than {limit} bytes, not hashed")
                elif _looks_html(fi):
                    errors.append(f"favicon: {icon_url}: answer is an HTML page, not an icon")
                else:
                    fields["favicon_mmh3"] = favicon_hash(fi.body)
                    fields["favicon_url"] = icon_url

    if server:
        fields["web_server"] = server
    if web_api:
        web_api["sources"] = sources
        fields["web_api"] = web_api
        host = domain_or_none(web_api.get("pool_host"))
        if host:
            fields["domains"] = [host]
    return fields, errors
