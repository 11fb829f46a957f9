"""Services that answer like a JSON or line server but are not pools ("any JSON reply" is never evidence)."""

from __future__ import annotations

import pytest

import fpdata
from scanner.fingerprint import classify, load_fingerprints

NON_POOLS = {
    "electrum": (False, "electrum"),
    "bitcoind-405": (False, "bitcoind-rpc"),
    "bitcoind-401": (False, "bitcoind-rpc"),
    "geth-http": (False, "ethereum-node"),
    "jsonrpc-generic": (False, "json-rpc"),
    "jsonrpc-parse-error": (False, "json-rpc"),
    "nginx": (False, "http"),
    "redis": (False, "redis"),
    "echo": (False, "echo"),
    "tarpit": (None, "tarpit"),
    "ssh": (False, "ssh"),
    "tls-alert": (None, "tls"),
    "sv2-json-reply": (False, "json-rpc"),
    "sv2-random-233": (False, "unknown"),
}


@pytest.mark.parametrize("name", sorted(NON_POOLS))
def test_not_a_pool(name: str) -> None:
    v = classify(fpdata.SYNTHETIC[name], load_fingerprints())
    assert v.is_pool is not True, v.evidence
    assert (v.is_pool, v.label) == NON_POOLS[name], v.evidence
    assert v.protocol is None and v.software is None and v.coin is None


def test_geth_getwork_triple_alone_is_not_a_pool() -> None:
    """A node's eth_getWork over HTTP, without web3_clientVersion: still not a pool."""
    v = classify(fpdata.SYNTHETIC["geth-http"][1:2], load_fingerprints())
    assert (v.is_pool, v.label) == (False, "ethereum-node")


def test_silence_everywhere_is_unknown() -> None:
    v = classify(fpdata.SYNTHETIC["tarpit"], load_fingerprints())
    assert v.is_pool is None and v.confidence == 0.0


def test_no_transcripts() -> None:
    v = classify([], load_fingerprints())
    assert (v.is_pool, v.label, v.evidence) == (None, None, ())


def test_pool_evidence_beats_a_generic_http_answer_on_the_same_port() -> None:
    """cryptonote-nodejs-pool answers GET with a banner (HTTP) and login with a pool error."""
    v = classify(fpdata.port_transcripts("cryptonote-nodejs-pool", 7777), load_fingerprints())
    assert v.is_pool is True and v.label is None


def test_tls_port_then_pool_inside_tls() -> None:
    """A TLS alert to plaintext, then a pool banner inside TLS (case C25 shape): the pool evidence decides."""
    from scanner.model import Transcript
    t = fpdata.case_transcripts("C25")
    v = classify(fpdata.SYNTHETIC["tls-alert"] + t, load_fingerprints())
    assert v.is_pool is True and v.label is None
    assert any(isinstance(x, Transcript) and x.tls for x in t)
