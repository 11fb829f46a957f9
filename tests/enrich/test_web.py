"""The web front and pool APIs, against real HTTP servers on 127.0.0.1: the recorded answers of
real pool software (tests/transcripts/recorded/*.jsonl, `HTTP GET <path>` records), plus slow,
endless, compressed-bomb, garbage and hostile-JSON servers."""

from __future__ import annotations

import asyncio
import gzip
import json
import time

import pytest
from aiohttp import web as aioweb

from scanner.enrich import EnrichOptions, MAX_ITEMS, MAX_STR, enrich
from scanner.enrich import web
from scanner.enrich.favicon import favicon_hash

from .conftest import RawServer, Served, probe_result, recorded_http, run

_SKIP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive", "date"}
ICON = bytes(range(256)) * 3 + b"\x89PNG-ish tail"


def replay(software: str, path: str, port: int | None = None):
    """An aiohttp handler that answers what the real software answered (status, headers, body)."""
    rec = recorded_http(software, path, port)

    async def handler(request):
        headers = {k: v for k, v in rec["headers"] if k.lower() not in _SKIP_HEADERS}
        return aioweb.Response(status=rec["status"], body=rec["body_prefix"].encode("utf-8"), headers=headers)
    return handler


def body(data, status=200, content_type="application/json", headers=None):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()

    async def handler(request):
        return aioweb.Response(status=status, body=raw, content_type=None,
                               headers={"Content-Type": content_type, **(headers or {})})
    return handler


def opts(port_map, **kw) -> EnrichOptions:
    kw.setdefault("timeout_s", 2.0)
    return EnrichOptions(web=True, port_map=port_map, **kw)


# ---------------------------------------------------------------------------------------------
# recorded answers of real pool software


def test_cryptonote_nodejs_pool_stats_recorded() -> None:
    async def main():
        async with Served({"/stats": replay("cryptonote-nodejs-pool", "/stats")}) as s:
            r = probe_result(port=3333, software="cryptonote-nodejs-pool")
            return await enrich(r, opts({8117: s.port})), s
    data, s = run(main)
    url = f"http://127.0.0.1:{s.port}/stats"
    # the recorded body is the first 2048 bytes of 2765: the part that came is still read
    assert data["web_api"] == {
        "pool_name": "monero", "coins": ["XMR"], "algos": ["randomx"], "fee": 0.8,
        "ports": [3333, 4444, 5555, 7777], "pool_host": "127.0.0.1", "software_version": "v2.0.0",
        "hashrate": 0, "miners": 0, "workers": 0, "sources": [url]}
    base = f"http://127.0.0.1:{s.port}"
    assert data["errors"] == [f"web_api: {url}: JSON body ends early, read the part that came",
                              # the API port answered HTTP, so its front page and favicon were tried
                              f"web_title: {base}/: HTTP 404", f"favicon: {base}/favicon.ico: HTTP 404"]
    assert "domains" not in data  # poolHost 127.0.0.1 is an address, not a domain
    assert s.hits["/stats"] == 1
    assert s.last_headers["User-Agent"] == "poolscan/0.1.0"


def test_nomp_api_page_title_and_favicon_recorded() -> None:
    async def main():
        async with Served({"/api/stats": replay("nomp", "/api/stats"), "/": replay("nomp", "/"),
                           "/static/favicon.png": body(ICON, content_type="image/png")}) as s:
            r = probe_result(port=3008, software="nomp")
            return await enrich(r, opts({80: s.port})), s
    data, s = run(main)
    base = f"http://127.0.0.1:{s.port}"
    assert data["web_api"] == {"coins": ["BTC"], "algos": ["sha256"], "hashrate": 0, "miners": 0,
                               "sources": [base + "/api/stats"]}
    assert data["web_title"] == "NOMP"  # recorded page: <title>NOMP</title>
    assert data["favicon_url"] == base + "/static/favicon.png"  # from <link rel="icon">
    assert data["favicon_mmh3"] == favicon_hash(ICON)
    assert data["web_server"].startswith("Python/") and "aiohttp" in data["web_server"]
    assert data["errors"] == []


def test_open_ethereum_pool_stats_recorded() -> None:
    async def main():
        async with Served({"/api/stats": replay("open-ethereum-pool", "/api/stats", 8080)}) as s:
            return await enrich(probe_result(port=8008, software="open-ethereum-pool"),
                                opts({8080: s.port}, favicon=False)), s
    data, s = run(main)
    assert data["web_api"] == {"hashrate": 0, "miners": 0, "sources": [f"http://127.0.0.1:{s.port}/api/stats"]}
    # the API port answered HTTP, so its "/" was read too: 404 recorded as a reason, not a crash
    assert any(e.startswith("web_title: ") and "404" in e for e in data["errors"])


def test_xmrig_proxy_summary_recorded() -> None:
    async def main():
        async with Served({"/1/summary": replay("xmrig-proxy", "/1/summary")}) as s:
            return await enrich(probe_result(port=3335, software="xmrig-proxy"), opts({8181: s.port})), s
    data, s = run(main)
    assert data["web_api"] == {"software_version": "6.26.0", "hashrate": 0.0, "miners": 0, "workers": 1,
                               "sources": [f"http://127.0.0.1:{s.port}/1/summary"]}  # algo "invalid" dropped


# ---------------------------------------------------------------------------------------------
# answers shaped from the software's source (no recording exists yet)


def test_miningcore_nodejs_pool_public_pool_parsers() -> None:
    mc = {"pools": [{"id": "xmr1", "coin": {"type": "XMR", "name": "Monero", "symbol": "XMR", "algorithm": "RandomX"},
                     "ports": {"3032": {"difficulty": 1000}, "3033": {}}, "poolFeePercent": 1.0,
                     "poolStats": {"connectedMiners": 12, "poolHashrate": 34567.5}},
                    {"id": "ltc1", "coin": {"type": "LTC"}, "ports": {"3042": {}}, "poolFeePercent": 0.5,
                     "poolStats": {"connectedMiners": 3, "poolHashrate": 100}}]}
    assert web.parse_miningcore_pools(mc) == {
        "pool_name": "xmr1,ltc1", "coins": ["XMR", "LTC"], "algos": ["RandomX"], "ports": [3032, 3033, 3042],
        "fee": 1.0, "hashrate": 34667.5, "miners": 15}
    assert web.parse_nodejs_pool_stats({"pool_list": ["pplns", "solo"], "pool_statistics": {
        "hashRate": 1.5e6, "miners": 321}, "last_payment": 0}) == {
        "payout_schemes": ["pplns", "solo"], "hashrate": 1.5e6, "miners": 321}
    assert web.parse_nodejs_pool_config({"pplns_fee": 0.6, "coin_code": "XMR", "dev_donation": 3}) == {
        "coins": ["XMR"], "fee": 0.6}
    assert web.parse_public_pool_info({"blockData": [], "uptime": "x", "userAgents": [
        {"userAgent": "bitaxe/BM1366", "count": "3", "totalHashRate": "1000.5"},
        {"userAgent": "cpuminer", "count": 2, "totalHashRate": 20}]}) == {"miners": 5, "hashrate": 1020.5}
    assert web.parse_public_pool_pool({"totalHashRate": 5e12, "totalMiners": 40, "fee": 0}) == {
        "hashrate": 5e12, "miners": 40, "fee": 0}


@pytest.mark.parametrize("name", sorted(web.PARSERS))
@pytest.mark.parametrize("value", [None, 0, "x", [], {}, [1, [2]], {"pools": "x", "config": [1],
                                    "userAgents": {"a": 1}, "pool_statistics": 5, "hashrate": {"total": "x"}}])
def test_parsers_survive_any_json(name, value) -> None:
    out = web.PARSERS[name](value)
    assert isinstance(out, dict)
    json.dumps(out, allow_nan=False)


def test_api_map_is_valid_data_with_sources() -> None:
    m = web.load_api_map()
    for slug in ["nomp", "miningcore", "open-ethereum-pool", "cryptonote-nodejs-pool", "nodejs-pool",
                 "public-pool", "xmrig-proxy"]:
        assert m[slug], slug
        for ep in m[slug]:
            assert ep.parser in web.PARSERS and ep.path.startswith("/") and ep.source
    assert [(e.port, e.path) for e in m["miningcore"]] == [(4000, "/api/pools")]
    assert [(e.port, e.path) for e in m["cryptonote-nodejs-pool"]] == [(8117, "/stats")]
    assert [(e.port, e.path) for e in m["xmrig-proxy"]] == [(8181, "/1/summary")]
    assert m["s-nomp"] == m["nomp"]


def test_api_map_rejects_bad_entries(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("software:\n  x:\n    endpoints:\n      - {port: 70000, path: /a, parser: oep_stats, source: s}\n")
    with pytest.raises(ValueError, match="port 70000"):
        web.load_api_map(bad)
    bad.write_text("software:\n  x:\n    endpoints:\n      - {port: 80, path: /a, parser: nope, source: s}\n")
    with pytest.raises(ValueError, match="unknown parser"):
        web.load_api_map(bad)


# ---------------------------------------------------------------------------------------------
# what is (not) fetched


def test_nothing_is_fetched_without_http_or_known_software() -> None:
    async def main():
        async with Served({"/": body(b"<title>x</title>", content_type="text/html")}) as s:
            data = await enrich(probe_result(port=s.port, software="ckpool"), opts({}))
            return data, s
    data, s = run(main)
    assert data == {"errors": []}
    assert s.hits == {}


def test_http_port_gives_title_server_favicon() -> None:
    page = b'<html><head><title>  My\n  Pool  </title><link rel="shortcut icon" href="/i.ico"></head></html>'

    async def main():
        async with Served({"/": body(page, content_type="text/html; charset=utf-8", headers={"Server": "nginx/1.25"}),
                           "/i.ico": body(ICON, content_type="image/x-icon")}) as s:
            r = probe_result(port=s.port, http_seen=True)
            return await enrich(r, opts({})), s
    data, s = run(main)
    assert data == {"web_title": "My Pool", "web_server": "nginx/1.25", "favicon_mmh3": favicon_hash(ICON),
                    "favicon_url": f"http://127.0.0.1:{s.port}/i.ico", "errors": []}


def test_off_host_icon_link_is_not_followed() -> None:
    page = b'<title>p</title><link rel=icon href="http://203.0.113.9/evil.ico">'

    async def main():
        async with Served({"/": body(page, content_type="text/html"),
                           "/favicon.ico": body(ICON, content_type="image/x-icon")}) as s:
            return await enrich(probe_result(port=s.port, http_seen=True), opts({})), s
    data, s = run(main)
    assert data["favicon_url"] == f"http://127.0.0.1:{s.port}/favicon.ico"
    assert "favicon_url: icon link points off-host, not fetched" in data["errors"]


def test_redirects_are_not_followed_and_html_favicon_not_hashed() -> None:
    async def main():
        async with Served({"/": body(b"", status=302, content_type="text/html",
                                     headers={"Location": "/elsewhere"}),
                           "/elsewhere": body(b"<title>no</title>", content_type="text/html"),
                           "/favicon.ico": body(b"<!DOCTYPE html><html>404</html>", content_type="text/html")}) as s:
            return await enrich(probe_result(port=s.port, http_seen=True), opts({})), s
    data, s = run(main)
    assert "elsewhere" not in str(s.hits)
    assert "web_title" not in data and "favicon_mmh3" not in data
    assert f"web_title: http://127.0.0.1:{s.port}/: HTTP 302 to /elsewhere" in data["errors"]
    assert any(e.startswith("favicon: ") and "HTML page" in e for e in data["errors"])


def test_api_of_one_host_is_fetched_once_per_run() -> None:
    async def main():
        async with Served({"/stats": replay("cryptonote-nodejs-pool", "/stats")}) as s:
            o = opts({8117: s.port}, favicon=False)
            a = await enrich(probe_result(port=3333, software="cryptonote-nodejs-pool"), o)
            b = await enrich(probe_result(port=5555, software="cryptonote-nodejs-pool"), o)
            return a, b, s
    a, b, s = run(main)
    assert a["web_api"] == b["web_api"] and a["web_api"]["coins"] == ["XMR"]
    assert s.hits["/stats"] == 1


def test_request_budget() -> None:
    async def main():
        async with Served({"/pool/stats": body({"pool_statistics": {"hashRate": 5, "miners": 1}}),
                           "/config": body({"coin_code": "XMR"})}) as s:
            return await enrich(probe_result(software="nodejs-pool"), opts({8001: s.port}, max_requests=1)), s
    data, s = run(main)
    assert data["web_api"]["miners"] == 1 and "coins" not in data["web_api"]
    assert f"web_api: http://127.0.0.1:{s.port}/config: not fetched, request budget spent" in data["errors"]
    assert s.hits == {"/pool/stats": 1}


# ---------------------------------------------------------------------------------------------
# hostile peers: slow, endless, bombs, garbage, lies


async def _stall(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"config\":")
    await writer.drain()
    await asyncio.sleep(30)


async def _silent(reader, writer):
    await asyncio.sleep(30)


async def _garbage(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 4)
    await writer.drain()


async def _drip(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<title>drip</title>")
    for _ in range(300):
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("handler,why", [
    (_stall, "timeout after 0.5 s"),
    (_silent, "timeout after 0.5 s"),
    (_drip, "timeout after 0.5 s"),
    (_garbage, "bad HTTP response"),
])
def test_slow_silent_and_garbage_servers_are_bounded(handler, why) -> None:
    async def main():
        async with RawServer(handler) as s:
            t0 = time.monotonic()
            data = await enrich(probe_result(software="cryptonote-nodejs-pool"),
                                opts({8117: s.port}, timeout_s=0.5, budget_s=3.0, favicon=False))
            return data, time.monotonic() - t0, s
    data, elapsed, s = run(main)
    assert elapsed < 2.5
    assert "web_api" not in data
    url = f"http://127.0.0.1:{s.port}/stats"
    assert data["errors"][0].startswith(f"web_api: {url}: ")
    assert why in data["errors"][0]


def test_whole_web_stage_within_budget() -> None:
    async def main():
        async with RawServer(_silent) as s:
            t0 = time.monotonic()
            data = await enrich(probe_result(port=s.port, http_seen=True, software="nodejs-pool"),
                                opts({8001: s.port}, timeout_s=0.4, budget_s=0.7))
            return data, time.monotonic() - t0
    data, elapsed = run(main)
    assert elapsed < 1.3
    assert any("request budget spent" in e for e in data["errors"])


def test_endless_body_is_capped() -> None:
    async def endless(request):
        resp = aioweb.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        await resp.write(b"<html><title>big</title>")
        chunk = b"A" * 65536
        for _ in range(2000):  # 128 MiB if nobody stopped reading
            await resp.write(chunk)
        return resp

    async def main():
        async with Served({"/": endless, "/favicon.ico": endless}) as s:
            t0 = time.monotonic()
            data = await enrich(probe_result(port=s.port, http_seen=True),
                                opts({}, max_bytes=128 * 1024, timeout_s=3.0))
            return data, time.monotonic() - t0, s
    data, elapsed, s = run(main)
    assert data["web_title"] == "big"
    assert elapsed < 3.0
    assert f"favicon: http://127.0.0.1:{s.port}/favicon.ico: larger than 131072 bytes, not hashed" in data["errors"]


def test_fetch_caps_body_and_inflates_bombs_boundedly() -> None:
    bomb = gzip.compress(b"0" * (32 * 1024 * 1024), compresslevel=9)

    async def main():
        async with Served({"/bomb": body(bomb, headers={"Content-Encoding": "gzip"}),
                           "/big": body(b"x" * 500_000), "/small": body(b"{}")}) as s:
            async with web._session(EnrichOptions()) as sess:
                base = f"http://127.0.0.1:{s.port}"
                return [await web.fetch(sess, base + p, 2.0, 65536) for p in ("/bomb", "/big", "/small")]
    b, big, small = run(main)
    assert len(b.body) == 65536 and b.truncated and b.error is None
    assert len(big.body) == 65536 and big.truncated
    assert small.body == b"{}" and not small.truncated and small.status == 200


def test_hostile_json_is_capped_and_serialisable() -> None:
    evil = {"config": {"coin": "C" * 100_000, "symbol": "X\ud800<script>alert(1)</script>",
                       "cnAlgorithm": ["not", "a", "string"], "fee": "NaN",
                       "ports": [{"port": p} for p in range(1, 10_000)], "poolHost": "pool.evil.example"},
            "pool": {"hashrate": 1e400 if False else 10**30, "miners": -5, "workers": "7"}}
    raw = json.dumps(evil).encode("utf-8", "surrogatepass")

    async def main():
        async with Served({"/stats": body(raw)}) as s:
            return await enrich(probe_result(software="cryptonote-nodejs-pool"),
                                opts({8117: s.port}, favicon=False, max_bytes=4 * 1024 * 1024))
    data = run(main)
    api = data["web_api"]
    assert api["pool_name"] == "C" * MAX_STR
    assert api["coins"] == ["X\ufffd<script>alert(1)</script>"]  # stored raw, lone surrogate replaced
    assert "algos" not in api and "fee" not in api and "miners" not in api
    assert api["workers"] == 7
    assert len(api["ports"]) == MAX_ITEMS
    assert api["hashrate"] == float(10**30)  # beyond int64: kept as a float
    assert data["domains"] == ["pool.evil.example"]
    text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogates left


@pytest.mark.parametrize("payload", [
    b"[" * 200_000,
    b"\xff\xfe garbage \x00\x01",
    b'{"config": {"coin": "unterminated',
    b"<html>not json</html>",
])
def test_unparsable_api_bodies_are_reasons(payload) -> None:
    async def main():
        async with Served({"/stats": body(payload)}) as s:
            return await enrich(probe_result(software="cryptonote-nodejs-pool"), opts({8117: s.port}, favicon=False)), s
    data, s = run(main)
    assert "web_api" not in data
    assert f"web_api: http://127.0.0.1:{s.port}/stats: body is not JSON" in data["errors"]


def test_truncated_json_is_closed_not_guessed() -> None:
    assert web.close_truncated_json('{"a":1,"b":[1,2') == '{"a":1,"b":[1]}'
    assert web.close_truncated_json('{"a":"x\\",y","b":{"c":[1,{"d":2}') == '{"a":"x\\",y","b":{"c":[1,{"d":2}]}}'
    assert web.close_truncated_json('{"a":') is None
    assert web.close_truncated_json("[" * 100 + "1,") is None  # deeper than 64: refused
    assert web.parse_json_lenient('\ufeff {"a": 1} trailing') == ({"a": 1}, False)
    with pytest.raises(ValueError):
        web.parse_json_lenient("")


def test_enrich_never_raises_and_never_touches_the_verdict(tmp_path) -> None:
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"\x00" * 100)
    r = probe_result(ip="not-an-ip", software="nomp", tls_info={"cert_der_b64": 12345})
    before = r.to_dict()
    data = run(lambda: enrich(r, EnrichOptions(mmdb=[str(junk)], timeout_s=0.2)))
    assert r.to_dict() == before
    assert set(data) == {"errors"}
    assert data["errors"] == ["geo: 'not-an-ip' is not an IP address", "cert: cert_der_b64 is not a string",
                              "web: 'not-an-ip' is not an IP address, nothing fetched"]


def test_closed_port_is_a_reason() -> None:
    async def main():
        async with RawServer(_silent) as s:
            port = s.port
        # the server is gone: the port refuses
        return await enrich(probe_result(software="xmrig-proxy"), opts({8181: port}, timeout_s=1.0)), port
    data, port = run(main)
    assert data["errors"] == [f"web_api: http://127.0.0.1:{port}/1/summary: connection failed"]


def test_https_front_over_real_tls(tmp_path) -> None:
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.pool.example")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    async def main():
        async with Served({"/": body(b"<title>TLS Pool</title>", content_type="text/html"),
                           "/favicon.ico": body(ICON, content_type="image/x-icon")}, ssl_context=ctx) as s:
            return await enrich(probe_result(port=s.port, http_seen=True, http_tls=True), opts({})), s
    data, s = run(main)
    # self-signed is the norm on pool ports: described, not trusted, not refused
    assert data["web_title"] == "TLS Pool"
    assert data["favicon_url"] == f"https://127.0.0.1:{s.port}/favicon.ico"
    assert data["favicon_mmh3"] == favicon_hash(ICON)
