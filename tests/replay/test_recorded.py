"""The real probe engine against the personas built from recordings of real software, and the non-pools."""

from __future__ import annotations

import pytest

from scanner.lab import personas as P

POOLS = ["ckpool", "ckpool-solo", "nomp", "cryptonote-nodejs-pool", "xmrig-proxy", "open-ethereum-pool",
         "cryptonote-nodejs-pool-tls", "nomp-chunked", "ckpool-split-lines", "cryptonote-nofinalnl"]
NON_POOLS = list(P.NON_POOLS)


@pytest.mark.parametrize("name", POOLS)
def test_recorded_pool_software(replay, name):
    want = P.get(name).expect
    v = replay(name).verdict
    assert v.is_pool is True, list(v.evidence)
    assert v.software == want["software"], list(v.evidence)
    assert v.protocol == want["protocol"]
    assert (v.coin, v.algo) == (want["coin"], want["algo"])


def test_tls_pool_reports_certificate(replay):
    r = replay("cryptonote-nodejs-pool-tls")
    assert r.tls
    infos = [t.tls_info for t in r.transcripts if t.tls and t.tls_info]
    assert infos and infos[0]["subject_cn"] == "pool.example.test"
    assert "pool.example.test" in infos[0]["san"]


@pytest.mark.parametrize("name", NON_POOLS)
def test_non_pools_are_not_pools(replay, name):
    want = P.get(name).expect
    v = replay(name).verdict
    assert v.is_pool is False, list(v.evidence)
    assert v.label == want["label"]
    assert v.software is None


def test_getwork_proxy_is_found_at_the_address_path(replay):
    """open-ethereum-pool's HTTP getwork proxy answers GET / and POST / with Go's 404, but serves work at
    /<address>/<worker> (proxy/proxy.go); the getwork probe posts there, so the proxy is found as a pool."""
    r = replay("open-ethereum-pool-http")
    v = r.verdict
    assert (v.is_pool, v.protocol, v.software, v.algo) == (True, "getwork", "open-ethereum-pool", "ethash")
    getwork = [t for t in r.transcripts if t.probe == "getwork"]
    assert getwork and getwork[0].sent.startswith(b"POST /0x000000000000000000000000000000000000dEaD/poolscan ")


def test_electrum_is_asked_inside_tls(replay):
    """A JSON-RPC service that answers only inside TLS (ElectrumX's SSL port) gets the electrum probe inside TLS."""
    r = replay("electrum-tls")
    assert (r.verdict.is_pool, r.verdict.label) == (False, "electrum")
    assert any(t.probe == "electrum" and t.tls and t.received for t in r.transcripts)
    assert not any(t.probe == "electrum" and not t.tls for t in r.transcripts)
