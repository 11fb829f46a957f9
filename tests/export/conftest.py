"""Fixtures for the export tests: real SQLite stores built through Store.save_result.

``pool_db`` holds, over two runs: a Bitcoin ckpool (seen in both runs, with ASN/country), a Monero pool
behind TLS with certificate names (new in run 2), an IPv6 pool, plus a non-pool (Electrum) and a
can't-tell port that no export may contain. ``hostile_db`` holds pools whose every server-controlled
string is hostile.
"""

from __future__ import annotations

import pytest

from scanner.model import Exchange, ProbeResult, Status, Transcript, Verdict
from scanner.store import Store
from scanner.store.known import KnownPools

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0

HOSTILE = [
    'ck"pool";\nalert tcp any any -> any any (msg:"x"; sid:1;)',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\x1b[2J\x1b[31mred\x07\x00nul\r\n",
    "quote ' and \\ backslash and ] bracket",
    "\u202eevil\u202c rtl \x85nel \u2028ls \u2029ps",
    "lone surrogate \udcff\udcfe from bytes",
    "X" * 70_000,
    "emoji 🪙 and ünïcödé",
]


def make_result(ip: str, port: int, *, at: float, is_pool: bool | None = True, protocol: str | None = "stratum1",
                software: str | None = "ckpool", coin: str | None = "BTC", algo: str | None = "sha256d",
                confidence: float = 0.9, label: str | None = None, tls: bool = False,
                evidence: tuple[str, ...] = ("stratum1: mining.notify job with 9 params",),
                enrichment: dict | None = None) -> ProbeResult:
    """A ProbeResult as the probe + classify + enrich stages produce it (one transcript)."""
    t = Transcript(ip=ip, port=port, probe=protocol or "stratum1", status=Status.SUCCESS, tls=tls,
                   exchanges=(Exchange(0.0, "send", b'{"id":1,"method":"mining.subscribe","params":[]}\n'),
                              Exchange(0.02, "recv", b'{"id":1,"result":[[],"0800",4],"error":null}\n')),
                   started_at=at, duration_s=0.3)
    v = Verdict(is_pool=is_pool, protocol=protocol, software=software, coin=coin, algo=algo,
                confidence=confidence, label=label, evidence=evidence, fingerprints_version="fp-test")
    return ProbeResult(ip=ip, port=port, status=Status.SUCCESS, verdict=v, transcripts=(t,), tls=tls,
                       enrichment=enrichment or {})


@pytest.fixture
def pool_db(tmp_path):
    """Path of a store with 3 pools (BTC known-to-us over two runs, XMR TLS new, IPv6) + 2 non-pools."""
    path = tmp_path / "results" / "poolscan.db"
    store = Store.open(path, known_pools=KnownPools())
    run1 = store.start_run("campaign", {"targets": ["198.51.100.0/24"]}, campaign="nightly", seed=1)
    store.save_result(run1, make_result("198.51.100.7", 3333, at=T0,
                                        enrichment={"asn": 64500, "as_org": "Example Hosting", "country": "NL"}))
    store.finish_run(run1, "ok", {"pools": 1})
    run2 = store.start_run("campaign", {"targets": ["198.51.100.0/24"]}, campaign="nightly", seed=2)
    store.save_result(run2, make_result("198.51.100.7", 3333, at=T0 + DAY, confidence=0.95))
    store.save_result(run2, make_result(
        "198.51.100.20", 443, at=T0 + DAY, protocol="cryptonote", software="nodejs-pool", coin="XMR",
        algo="randomx", confidence=0.8, tls=True,
        evidence=("cryptonote: login result has job with blob, target, job_id",),
        enrichment={"cert_sans": ["xmr.pool.example.org", "*.pool.example.org"], "country": "DE",
                    "asn": 64501, "as_org": "Example Cloud", "cert_sha256": "0f" * 32}))
    store.save_result(run2, make_result("2001:db8::7", 4444, at=T0 + DAY, protocol="ethstratum",
                                        software=None, coin="ETC", algo="etchash", confidence=0.6))
    store.save_result(run2, make_result("198.51.100.30", 50001, at=T0 + DAY, is_pool=False, protocol=None,
                                        software=None, coin=None, algo=None, confidence=0.9, label="electrum"))
    store.save_result(run2, make_result("198.51.100.31", 3333, at=T0 + DAY, is_pool=None, protocol=None,
                                        software=None, coin=None, algo=None, confidence=0.0))
    store.finish_run(run2, "ok", {"pools": 3})
    store.close()
    return path


@pytest.fixture
def hostile_db(tmp_path):
    """Path of a store whose pools carry hostile strings in every server-controlled field."""
    path = tmp_path / "hostile.db"
    store = Store.open(path, known_pools=KnownPools())
    run = store.start_run("scan", {})
    for i, bad in enumerate(HOSTILE):
        store.save_result(run, make_result(
            f"203.0.113.{i + 1}", 3333 + i, at=T0 + i, protocol=bad, software=bad, coin=bad, algo=bad,
            label=bad, evidence=(bad, "ok evidence", bad[:50]),
            enrichment={"as_org": bad, "asn": 64500 + i, "country": bad[:2],
                        "cert_names": [bad, f"n{i}.example.org", "evil.example.org'] OR [ipv4-addr:value = '1.1.1.1"],
                        "domains": [bad], "web_info": {"banner": bad, bad[:10]: [bad]},
                        "cert_sha256": bad}))
    store.close()
    return path


def _pools_of(path) -> list[dict]:
    with Store.open(path, known_pools=KnownPools(), create=False) as s:
        return list(s.pools())


@pytest.fixture
def pools(pool_db) -> list[dict]:
    """The Store.pools() rows of ``pool_db``."""
    return _pools_of(pool_db)


@pytest.fixture
def hostile_pools(hostile_db) -> list[dict]:
    """The Store.pools() rows of ``hostile_db``."""
    return _pools_of(hostile_db)
