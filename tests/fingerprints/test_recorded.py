"""Verdicts for the five pool softwares recorded on loopback (../shared/transcripts)."""

from __future__ import annotations

import pytest

import fpdata
from scanner.fingerprint import classify, is_confident, load_fingerprints


def _v(software: str, port: int, notes: str | None = None, exclude: str | None = None):
    return classify(fpdata.port_transcripts(software, port, notes, exclude), load_fingerprints())


@pytest.mark.parametrize("port,notes,exclude", [(3333, None, None), (3334, None, "fake bitcoind began")])
def test_ckpool(port: int, notes: str | None, exclude: str | None) -> None:
    v = _v("ckpool", port, notes, exclude)
    assert (v.is_pool, v.protocol, v.software, v.coin, v.algo) == (True, "stratum1", "ckpool", "BTC", "sha256d")
    assert any("coins.bip34-height: BIP34 height 900001 + witness commitment -> BTC" in e for e in v.evidence)
    assert is_confident(v)


def test_ckpool_subscribe_only_still_names_software() -> None:
    v = _v("ckpool", 3334, "P1 repeated")
    assert (v.is_pool, v.software, v.coin) == (True, "ckpool", None)


@pytest.mark.parametrize("port", [3008, 3032])
def test_nomp(port: int) -> None:
    v = _v("nomp", port)
    assert (v.is_pool, v.protocol, v.software, v.coin, v.algo) == (True, "stratum1", "nomp", "BTC", "sha256d")


def test_nomp_website_is_not_a_pool_port() -> None:
    v = _v("nomp", 80)
    assert (v.is_pool, v.label) == (False, "http")


def test_cryptonote_nodejs_pool() -> None:
    v = _v("cryptonote-nodejs-pool", 3333)
    assert (v.is_pool, v.protocol, v.software, v.coin, v.algo) == (True, "cryptonote", "cryptonote-nodejs-pool", "XMR", "randomx")


def test_cryptonote_nodejs_pool_without_a_job() -> None:
    v = _v("cryptonote-nodejs-pool", 7777)
    assert (v.is_pool, v.protocol, v.software, v.coin, v.algo) == (True, "cryptonote", "cryptonote-nodejs-pool", None, None)


def test_xmrig_proxy_with_upstream() -> None:
    v = _v("xmrig-proxy", 3335, "state B")
    assert (v.is_pool, v.protocol, v.software, v.coin, v.algo) == (True, "cryptonote", "xmrig-proxy", "XMR", "randomx")


def test_xmrig_proxy_without_upstream_cannot_be_told() -> None:
    """State A: it closes every non-login line and stays silent after a login: nothing to go on."""
    v = _v("xmrig-proxy", 3335, "state A")
    assert v.is_pool is None and v.software is None


def test_open_ethereum_pool_stratum() -> None:
    v = _v("open-ethereum-pool", 8008)
    assert (v.is_pool, v.protocol, v.software, v.algo) == (True, "ethproxy", "open-ethereum-pool", "ethash")
    assert v.coin is None  # the fake geth's seed hash is in no epoch
    assert any("ethproxy.getwork-job" in e for e in v.evidence)


def test_open_ethereum_pool_http_proxy() -> None:
    v = _v("open-ethereum-pool", 8888)
    assert (v.is_pool, v.protocol, v.algo) == (True, "getwork", "ethash")


@pytest.mark.parametrize("software,port", [("open-ethereum-pool", 8080), ("cryptonote-nodejs-pool", 8117),
                                           ("xmrig-proxy", 8181)])
def test_pool_apis_are_http_not_pools(software: str, port: int) -> None:
    v = _v(software, port)
    assert (v.is_pool, v.label) == (False, "http")


def test_port_convention_is_evidence_only() -> None:
    v = _v("ckpool", 3333)
    assert any(e.startswith("coins.port: port 3333") for e in v.evidence)
    from scanner.fingerprint import load_fingerprints
    from scanner.model import Status, Transcript
    silent = Transcript(ip="192.0.2.1", port=3333, probe="stratum1", status=Status.CLOSED, closed_by_peer=True)
    w = classify([silent], load_fingerprints())
    assert (w.is_pool, w.protocol, w.software, w.algo) == (None, None, None, None)
