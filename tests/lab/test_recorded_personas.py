"""Each persona built from a recording answers the recorded requests with the recorded bytes.

The recorded client's own writes (``sent`` of tests/transcripts/recorded/*.jsonl) are replayed over a real
loopback socket to the emulator, and the bytes that come back must equal the recorded ``received`` bytes,
and the connection must end the way it did (``closed_by_server``).
"""

from __future__ import annotations

import asyncio
import filecmp
import json
from pathlib import Path

import pytest

from scanner.lab import personas as P
from scanner.lab.client import exchange

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "transcripts" / "recorded"

# (persona, recording file, port, probe_id, note substring or None)
CASES = [
    ("ckpool", "ckpool", 3333, "P1", None),
    ("ckpool", "ckpool", 3333, "P3", None),
    ("ckpool", "ckpool", 3333, "P4", None),
    ("ckpool", "ckpool", 3333, "P5", None),
    ("ckpool", "ckpool", 3333, "P6", None),
    ("ckpool-solo", "ckpool", 3334, "X1_btc_addr_authorize", None),
    ("ckpool-solo", "ckpool", 3334, "P6", None),
    ("nomp", "nomp", 3032, "P1", None),
    ("nomp", "nomp", 3032, "P3", None),
    ("nomp", "nomp", 3032, "P4", None),
    ("nomp", "nomp", 3032, "P5", None),
    ("nomp", "nomp", 3032, "P6", None),
    ("cryptonote-nodejs-pool", "cryptonote-nodejs-pool", 3333, "P1", None),
    ("cryptonote-nodejs-pool", "cryptonote-nodejs-pool", 3333, "P2", None),
    ("cryptonote-nodejs-pool", "cryptonote-nodejs-pool", 3333, "P3", None),
    ("cryptonote-nodejs-pool", "cryptonote-nodejs-pool", 3333, "P5", None),
    ("cryptonote-nodejs-pool", "cryptonote-nodejs-pool", 3333, "P6", None),
    ("cryptonote-nodejs-pool", "cryptonote-nodejs-pool", 3333, "X4_xmr_valid_login", None),
    ("xmrig-proxy", "xmrig-proxy", 3335, "P1", "state B"),
    ("xmrig-proxy", "xmrig-proxy", 3335, "P2", "state B"),
    ("xmrig-proxy", "xmrig-proxy", 3335, "P3", "state B"),
    ("xmrig-proxy", "xmrig-proxy", 3335, "P5", "state B"),
    ("xmrig-proxy", "xmrig-proxy", 3335, "P6", "state B"),
    ("xmrig-proxy", "xmrig-proxy", 3335, "X4_xmr_valid_login", "state B"),
    ("open-ethereum-pool", "open-ethereum-pool", 8008, "P1", None),
    ("open-ethereum-pool", "open-ethereum-pool", 8008, "P2", None),
    ("open-ethereum-pool", "open-ethereum-pool", 8008, "P4", None),
    ("open-ethereum-pool", "open-ethereum-pool", 8008, "P5", None),
    ("open-ethereum-pool", "open-ethereum-pool", 8008, "P6", None),
    ("open-ethereum-pool", "open-ethereum-pool", 8008, "X3_eth_valid_login", None),
    ("open-ethereum-pool-http", "open-ethereum-pool", 8888, "P1", None),
    ("open-ethereum-pool-http", "open-ethereum-pool", 8888, "P2", None),
    ("open-ethereum-pool-http", "open-ethereum-pool", 8888, "P3", None),
    ("open-ethereum-pool-http", "open-ethereum-pool", 8888, "P4", None),
    ("open-ethereum-pool-http", "open-ethereum-pool", 8888, "P6", None),
    ("redis", "redis", 16379, "stratum1", None),
    ("redis", "redis", 16379, "cryptonote", None),
    ("redis", "redis", 16379, "http", None),
]


@pytest.mark.parametrize("persona,software,port,probe_id,note", CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_persona_replays_recording(lab, persona, software, port, probe_id, note):
    rec = P.record(software, port, probe_id, note=note)
    steps = [s.encode() for s in rec["sent"]]
    res = asyncio.run(exchange("127.0.0.1", lab.port(persona), steps, idle_s=0.35))
    want = "".join(c["data"] for c in rec["received"]).encode()
    assert res.data == want
    assert (res.closed or res.reset) == bool(rec["closed_by_server"])


def test_ckpool_framing_matches_recording(lab):
    """ckpool's subscribe reply, set_difficulty and notify leave in one write, as recorded at t=0.8 ms."""
    rec = P.record("ckpool", 3333, "P1")
    res = asyncio.run(exchange("127.0.0.1", lab.port("ckpool"), [rec["sent"][0].encode()], idle_s=0.3))
    assert len(res.chunks) == 1
    assert res.data.count(b"\n") == 3


def test_package_copy_of_recordings_is_identical():
    pkg = P.DATA / "recorded"
    names = sorted(p.name for p in RECORDED.glob("*.jsonl"))
    assert names == sorted(p.name for p in pkg.glob("*.jsonl"))
    assert "redis.jsonl" in names
    for name in names:
        assert filecmp.cmp(RECORDED / name, pkg / name, shallow=False), name


def test_recordings_have_provenance():
    for path in RECORDED.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            assert rec["software"] and rec["software_version_or_commit"], path.name
    readme = (ROOT / "tests" / "transcripts" / "README.md").read_text()
    for fact in ("60768aeb", "b1b4daaa", "fa3bbb67", "0dc23f69", "bcfc0eb0", "7.0.15"):
        assert fact in readme
