"""``scanner.pipeline.run_scan`` with batched store writes (issue 8): a stream that goes quiet still gets its
results committed within the delay; Ctrl-C (cancellation) and a sweep failure store what was classified."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from scanner.model import OpenPort
from scanner.pipeline import run_scan
from scanner.probes.engine import ProbeOptions
from scanner.store import Store
from scanner.store.known import KnownPools
from scanner.transport.limits import Limits

QUICK = ProbeOptions(limits=Limits(connect_s=0.5, reply_s=0.3, job_s=0.2, idle_s=0.1, session_s=2.0), fast=True)


def committed(db) -> int:
    """Verdicts another process would see (a separate connection: only committed rows)."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM verdicts").fetchone()[0]
    finally:
        con.close()


async def ports(n: int, then: str = "end", gate: asyncio.Event | None = None):
    for i in range(n):
        yield OpenPort(ip="127.0.0.1", port=1 + i)  # closed ports: refused at once, one result each
    if then == "wait":
        await gate.wait()
    elif then == "block":
        await asyncio.Event().wait()
    elif then == "fail":
        raise RuntimeError("sweep broke")


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "p.db", known_pools=KnownPools())
    yield s
    s.close()


def test_quiet_stream_is_committed_within_the_delay(store):
    db = store.path
    run = store.start_run("scan", {}, run_id="r-quiet")
    seen: list[int] = []

    async def go():
        gate = asyncio.Event()
        main = asyncio.create_task(run_scan(ports(3, "wait", gate), store=store, run_id=run, probe_options=QUICK,
                                            concurrency=2, batch_results=1000, batch_delay_s=0.2))
        for _ in range(100):  # the stream is silent now: only the delay can commit the 3 results
            await asyncio.sleep(0.05)
            if committed(db) == 3:
                break
        seen.append(committed(db))
        gate.set()
        await main

    asyncio.run(go())
    assert seen == [3]
    assert committed(db) == 3 and store.db.table("open_ports").count == 3


def test_cancel_stores_the_waiting_batch(store):
    run = store.start_run("scan", {}, run_id="r-cancel")

    async def go():
        main = asyncio.create_task(run_scan(ports(5, "block"), store=store, run_id=run, probe_options=QUICK,
                                            concurrency=2, batch_results=1000, batch_delay_s=60))
        await asyncio.sleep(0.5)  # the 5 refused ports are probed by now, waiting for a commit
        assert not main.done()
        assert committed(store.path) == 0
        main.cancel()
        with pytest.raises(asyncio.CancelledError):
            await main

    asyncio.run(go())
    assert committed(store.path) == 5
    assert store.done_targets(run) == {("127.0.0.1", p) for p in range(1, 6)}


def test_sweep_failure_raises_after_storing(store):
    run = store.start_run("scan", {}, run_id="r-fail")
    with pytest.raises(RuntimeError, match="sweep broke"):
        asyncio.run(run_scan(ports(4, "fail"), store=store, run_id=run, probe_options=QUICK, concurrency=2,
                             batch_results=1000, batch_delay_s=60))
    assert committed(store.path) == 4
