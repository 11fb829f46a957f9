"""The real probe engine against hostile peers: every probe ends with a status inside its deadline, reads are
capped, nothing is called a pool, and a sweep over hostile ports plus one pool still finds the pool."""

from __future__ import annotations

import asyncio
import time

import pytest

from scanner.model import Status
from scanner.probes.engine import ProbeOptions, probe_port
from scanner.transport.limits import Limits

LIMITS = Limits(connect_s=2.0, reply_s=1.5, job_s=1.0, idle_s=0.5, session_s=3.0, max_bytes=256 * 1024)
OPTIONS = ProbeOptions(limits=LIMITS, only=("stratum1", "cryptonote"), tls="never")

# status each hostile peer must produce on a plaintext probe (scanner/model.py Status)
ALLOWED = {
    "silent": {Status.NO_REPLY},
    "tarpit": {Status.NO_REPLY},
    "endless": {Status.READ_LIMIT},
    "bigline": {Status.READ_LIMIT},
    "reset": {Status.CONNECTION_RESET},
    "slowloris": {Status.IO_TIMEOUT},
    "garbage": {Status.READ_LIMIT, Status.PROTOCOL_ERROR, Status.SUCCESS, Status.CLOSED},
    "banner": {Status.PROTOCOL_ERROR, Status.SUCCESS, Status.CLOSED},
}


def probe(lab, name, options=OPTIONS):
    t0 = time.monotonic()
    result = asyncio.run(asyncio.wait_for(probe_port("127.0.0.1", lab.port(name), options), 60))
    return result, time.monotonic() - t0


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_hostile_peer_ends_with_a_status(lab, name):
    result, elapsed = probe(lab, f"hostile-{name}")
    assert result.transcripts
    # two probes run concurrently per phase; a phase never outlives the session deadline
    assert elapsed < 2 * (LIMITS.session_s + LIMITS.connect_s) + 1.0
    for t in result.transcripts:
        assert t.status in ALLOWED[name], (t.probe, t.status, t.error)
        assert t.duration_s <= LIMITS.session_s + LIMITS.connect_s + 0.5
        assert len(t.received) <= LIMITS.max_bytes
        if t.status is Status.READ_LIMIT:
            assert t.truncated
    assert result.verdict.is_pool is not True


def test_pool_found_among_hostile_peers(lab):
    names = ["hostile-silent", "hostile-endless", "hostile-reset", "hostile-garbage", "hostile-slowloris",
             "hostile-bigline", "hostile-banner", "hostile-tarpit", "ckpool"]
    options = ProbeOptions(limits=LIMITS)

    async def run():
        return await asyncio.gather(*(probe_port("127.0.0.1", lab.port(n), options) for n in names))

    t0 = time.monotonic()
    results = asyncio.run(asyncio.wait_for(run(), 120))
    elapsed = time.monotonic() - t0
    by_name = dict(zip(names, results))
    assert by_name["ckpool"].verdict.is_pool is True
    assert by_name["ckpool"].verdict.software == "ckpool"
    for n in names[:-1]:
        assert by_name[n].verdict.is_pool is not True, n
        assert all(len(t.received) <= LIMITS.max_bytes for t in by_name[n].transcripts)
    assert elapsed < 60
