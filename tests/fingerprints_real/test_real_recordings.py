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
# Empty since node-stratum, aiostratum-proxy (steady, TLS, fresh), datum-gateway and electrumx-ssl got their
# fingerprints (fingerprints/software/{node-stratum,aiostratum-proxy,datum-gateway}.yaml,
# nonpools/electrum.yaml electrum.blockchain-push, and own replies before relayed job content in verdict.py).
KNOWN_WRONG: dict[str, str] = {}


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
