"""Classify what real server software answered to poolscan's own probes (tests/transcripts/real/).

Each ``tests/transcripts/real/<name>.jsonl`` is one software in one state, recorded on loopback with
``poolscan probe 127.0.0.1:PORT --json --transcripts --no-enrich``: line 1 is a header
``{"kind": "recording", "software", "version", "source", "how", "recorded", "expect": {...}}`` and every
further line is one ``ProbeResult.to_dict()``. The tests rebuild the transcripts from the JSON, run the
current fingerprints over them and compare the verdict with the header's ``expect`` (only the keys that
``expect`` names; a ``None`` there means "must not be claimed").

Where today's fingerprints get a recording wrong, the case is an ``xfail(strict=True)`` whose reason names
the wire fact that would fix it (see tests/transcripts/real/README.md); a fingerprint change that fixes it
turns the xfail into a failure, so the marker must then be removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.fingerprint import classify, load_fingerprints
from scanner.model import ProbeResult, Status, Transcript

REAL = Path(__file__).resolve().parents[1] / "transcripts" / "real"
HEADER_KEYS = {"kind", "software", "version", "source", "how", "recorded", "expect"}
VERDICT_KEYS = {"is_pool", "protocol", "software", "coin", "algo", "label"}

# Recordings the current fingerprints classify wrongly: file stem -> what is wrong and what would fix it.
KNOWN_WRONG: dict[str, str] = {
    "node-stratum": (
        "labelled software=stratum-mining from the subscription key b4b6693b72a50c7116db18d6497cac52, which "
        "node-stratum's example server hard-codes (slush's real server would answer unknown methods with "
        "\"Method 'x' not found for service 'mining'\"; node-stratum sends '\"error\":[-3,\"Method not found\",null]', "
        "which DATUM Gateway sends too); node-stratum's own mark is its HTTP answer with bare-LF headers "
        "'HTTP/1.1 200 OK\\nX-Stratum: stratum+tcp://127.0.0.1:23334\\nConnection: Close\\nContent-Length: 42' and "
        "body '{\"error\": null, \"result\": false, \"id\": 0}'; no node-stratum fingerprint exists"),
    "aiostratum-proxy-upstream": (
        "verdict is_pool=False label=json-rpc: the subscribe reply "
        "'{\"id\": 2, \"result\": [null, \"bfd00b6b01\", 7]}' "
        "(null subscription details, hex extranonce1, int extranonce2 size, no \"error\" key) and authorize "
        "'{\"id\": 3, \"result\": true}' are not taken as a stratum1 pool; aiojsonrpc2's '-32601 handler "
        "`handle_mining_configure` not found' would name the software"),
    "aiostratum-proxy-upstream-tls": (
        "same as aiostratum-proxy-upstream over TLS: subscribe result [null, \"bfd00b6b01\", 7] not recognised "
        "as stratum1, so is_pool=False label=json-rpc"),
    "aiostratum-proxy-upstream-fresh": (
        "software=ckpool: the relayed upstream job (coinb2 tag '\\nckpool') wins over the proxy's own facts: "
        "subscribe result [null, \"bfd00b6b01\", 7], Python-spaced JSON with \"jsonrpc\": \"2.0\" in pushed "
        "notifications, and '-32601 handler `handle_<method>` not found' errors"),
    "electrumx-ssl": (
        "label json-rpc instead of electrum on ElectrumX's SSL port: the electrum probe (server.version) has no "
        "TLS variant, so only the plain-text copy ran there and was closed; inside TLS the other probes got "
        "e-x's space-padded pushes '{\"jsonrpc\":\"2.0\",\"method\":\"blockchain.relayfee\"' and "
        "'\"method\":\"blockchain.estimatefee\"' (server-pushed blockchain.* methods = Electrum protocol)"),
    "datum-gateway": (
        "software=None: no fingerprint for OCEAN's DATUM Gateway; its wire facts: subscribe result "
        "'[[[\"mining.notify\",\"b14cf00d1\"],[\"mining.set_difficulty\",\"b14cf00d2\"]],\"b14cf00d\",8]' "
        "(subscription ids = extranonce1 + '1' / '2', extranonce2 size 8), replies keyed error,id,result in that "
        "order, a mining.set_version_mask push right after mining.configure, 16-hex job ids, coinbase scriptSig "
        "tags 'DATUM Gateway' / 'DATUM User', unknown methods '[-3,\"Method not found\",null]'"),
}


def _recordings() -> list[Path]:
    return sorted(REAL.glob("*.jsonl"))


def _load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[0], lines[1:]


def _params() -> list[Any]:
    out = []
    for path in _recordings():
        marks = ()
        if path.stem in KNOWN_WRONG:
            marks = (pytest.mark.xfail(strict=True, reason=KNOWN_WRONG[path.stem]),)
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


def test_recordings_exist() -> None:
    assert len(_recordings()) >= 10


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in _recordings()])
def test_recording_is_well_formed(path: Path) -> None:
    """Header with provenance, then at least one ProbeResult whose transcripts round-trip byte for byte."""
    header, results = _load(path)
    assert header["kind"] == "recording"
    assert HEADER_KEYS <= set(header), f"{path.name}: header lacks {HEADER_KEYS - set(header)}"
    assert set(header["expect"]) <= VERDICT_KEYS and "is_pool" in header["expect"]
    assert results, f"{path.name}: no probe result after the header"
    for d in results:
        result = ProbeResult.from_dict(d)
        assert result.ip == "127.0.0.1"
        assert result.transcripts, f"{path.name}: a result without transcripts"
        assert [t.to_dict() for t in result.transcripts] == d["transcripts"]
        assert all(t.sent for t in result.transcripts if t.status is not Status.TLS_ERROR), \
            "every probe past its TLS handshake wrote something"


@pytest.mark.parametrize("path", _params())
def test_recording_verdict(path: Path) -> None:
    header, results = _load(path)
    fps = load_fingerprints()
    for d in results:
        transcripts: tuple[Transcript, ...] = ProbeResult.from_dict(d).transcripts
        verdict = classify(transcripts, fps)
        got = {k: getattr(verdict, k) for k in header["expect"]}
        assert got == header["expect"], f"{path.name} port {d['port']}: {verdict.evidence}"


def test_known_wrong_names_existing_recordings() -> None:
    """No stale entry: every KNOWN_WRONG key is a recording file."""
    assert set(KNOWN_WRONG) <= {p.stem for p in _recordings()}


def test_ckpool_job_relayed_by_a_proxy_is_still_bitcoin() -> None:
    """The fresh-start aiostratum-proxy recording carries the upstream's job: coin and algo come through."""
    _, results = _load(REAL / "aiostratum-proxy-upstream-fresh.jsonl")
    verdict = classify(ProbeResult.from_dict(results[0]).transcripts, load_fingerprints())
    assert (verdict.is_pool, verdict.protocol, verdict.coin, verdict.algo) == (True, "stratum1", "BTC", "sha256d")
