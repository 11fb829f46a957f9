"""The streaming pipeline: bounded, every port probed once, a sweep failure after what was found, and a
cancellation that does not hang even with full queues."""

import asyncio
import time

import pytest

from scanner.model import OpenPort
from scanner.pipeline import Counters, probe_stage
from scanner.probes.engine import ProbeOptions
from scanner.transport.limits import Limits

QUICK = ProbeOptions(limits=Limits(connect_s=0.5, reply_s=0.3, job_s=0.2, idle_s=0.1, session_s=2.0), fast=True)


async def _closed_ports(n, fail_after=None):
    for i in range(n):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("sweep broke")
        yield OpenPort(ip="127.0.0.1", port=1 + i % 3)  # closed ports: refused at once
        await asyncio.sleep(0)


def test_every_port_probed_once():
    async def go():
        c = Counters()
        out = [r async for r in probe_stage(_closed_ports(30), QUICK, concurrency=4, counters=c)]
        return out, c
    out, c = asyncio.run(go())
    assert len(out) == 30 and c.open_ports == 30 and c.probed == 30 and c.sweep_done
    assert {r.status.value for r in out} == {"connection-refused"}


def test_sweep_failure_is_raised_after_the_found_ports_are_probed():
    got = []

    async def go():
        async for r in probe_stage(_closed_ports(30, fail_after=10), QUICK, concurrency=4):
            got.append(r)
    with pytest.raises(RuntimeError, match="sweep broke"):
        asyncio.run(go())
    assert len(got) == 10


def test_cancel_with_full_queues_does_not_hang(lab):
    ep = lab.endpoint("hostile-silent") if any(e.persona == "hostile-silent" for e in lab.endpoints) else lab.endpoint("case-C29")

    async def ports():
        while True:  # an endless sweep of a port that never answers: every queue fills up
            yield OpenPort(ip=ep.host, port=ep.port)
            await asyncio.sleep(0)

    async def go():
        async def consume():
            async for _ in probe_stage(ports(), ProbeOptions(limits=Limits(reply_s=5, session_s=10)), concurrency=3):
                pass
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0
    assert asyncio.run(asyncio.wait_for(go(), 10)) < 2.0
