"""Joins the stages: sweep -> probe -> classify -> enrich -> store -> export, streaming.

Each stage is an async iterator; stages are joined by bounded ``asyncio.Queue``s, so memory does not grow
with the number of targets (a /8 sweep streams through a few thousand slots), and probing starts while the
sweep still runs. Only the per-target boundary here catches ``Exception``: a bug or a surprise on one
target becomes an ``unknown-error`` result for that target and the run goes on. Results are written to the
store in batches (:class:`scanner.store.BatchWriter`: one transaction per ``BATCH_RESULTS`` results or
``BATCH_DELAY_S`` seconds, whichever comes first), so Ctrl-C loses nothing (the last batch is written on the
way out), a ``kill -9`` loses at most the last uncommitted batch, and a re-run of the same run id skips the
ip:port pairs already stored (resume: exactly the lost batch is probed again) without duplicating a row.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AsyncIterable, AsyncIterator, Callable

from scanner.model import OpenPort, ProbeResult, Status, Verdict
from scanner.probes.engine import ProbeOptions, probe_port

_END = object()

#: Results per store transaction, and the longest a classified result waits for its commit (seconds).
#: Measured (2 cores, see scanner.store.BatchWriter): the store alone 589 results/s with one transaction
#: per result, ~4,600/s with 200; the whole pipeline 285 -> 606 results/s (bench/memory.py, 20,000 ports).
BATCH_RESULTS = 200
BATCH_DELAY_S = 0.5


@dataclass
class Counters:
    """Progress of a run (read by the progress display; written only by the pipeline)."""

    started: float = field(default_factory=time.monotonic)
    open_ports: int = 0
    probed: int = 0
    pools: int = 0
    not_pools: int = 0
    unknown: int = 0
    errors: int = 0
    skipped: int = 0
    sweep_done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "open_ports": self.open_ports, "probed": self.probed, "pools": self.pools,
            "not_pools": self.not_pools, "unknown": self.unknown, "errors": self.errors,
            "skipped": self.skipped, "elapsed_s": round(time.monotonic() - self.started, 3),
        }


async def _safe_probe(op: OpenPort, options: ProbeOptions,
                      is_tarpit: Callable[[str], bool] | None = None) -> ProbeResult:
    if is_tarpit is not None and is_tarpit(op.ip):
        # A host answering SYN on every port: one light probe (stratum1, fast mode) instead of the full plan.
        options = replace(options, only=("stratum1",), fast=True, tls="never")
    try:
        return await probe_port(op.ip, op.port, options)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the per-target boundary: never crash the run
        return ProbeResult(ip=op.ip, port=op.port, status=Status.UNKNOWN_ERROR,
                           verdict=Verdict(evidence=(f"engine: {type(exc).__name__}: {str(exc)[:200]}",)))


async def probe_stage(open_ports: AsyncIterable[OpenPort], options: ProbeOptions, *, concurrency: int = 200,
                      counters: Counters | None = None,
                      is_tarpit: Callable[[str], bool] | None = None) -> AsyncIterator[ProbeResult]:
    """Probe every open port as it arrives, ``concurrency`` ports at a time; yield results as they finish.

    Memory is bounded by ``concurrency`` (the input queue holds at most ``2 * concurrency`` open ports).
    Results come out in completion order, not input order. Hosts for which ``is_tarpit(ip)`` is True (the
    sweep's :class:`scanner.sweep.TarpitGuard`) get one light probe instead of the whole plan.
    """
    counters = counters or Counters()
    inq: asyncio.Queue[Any] = asyncio.Queue(maxsize=2 * concurrency)
    outq: asyncio.Queue[Any] = asyncio.Queue(maxsize=2 * concurrency)

    sweep_error: list[BaseException] = []

    async def feed() -> None:
        # On cancellation nothing more is queued (the workers are being cancelled too: a blocking put here
        # would hang Ctrl-C). On a sweep failure the ports already queued are still probed and stored, then
        # the error is raised to the caller.
        try:
            async for op in open_ports:
                counters.open_ports += 1
                await inq.put(op)
        except Exception as exc:
            sweep_error.append(exc)
        finally:
            counters.sweep_done = True
        for _ in range(concurrency):
            await inq.put(_END)

    async def work() -> None:
        while True:
            op = await inq.get()
            if op is _END:
                await outq.put(_END)
                return
            await outq.put(await _safe_probe(op, options, is_tarpit))

    tasks = [asyncio.create_task(feed())] + [asyncio.create_task(work()) for _ in range(concurrency)]
    finished = 0
    try:
        while finished < concurrency:
            item = await outq.get()
            if item is _END:
                finished += 1
                continue
            counters.probed += 1
            v = item.verdict
            if item.status is Status.UNKNOWN_ERROR and not item.transcripts:
                counters.errors += 1
            elif v.is_pool is True:
                counters.pools += 1
            elif v.is_pool is False:
                counters.not_pools += 1
            else:
                counters.unknown += 1
            yield item
        await tasks[0]
        if sweep_error:
            raise sweep_error[0]  # e.g. masscan failed: after what it found was probed and stored
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def enrich_stage(results: AsyncIterable[ProbeResult], enrich_options: Any | None) -> AsyncIterator[ProbeResult]:
    """Add enrichment to confirmed pools (``scanner.enrich``). Enrichment never changes a verdict; a failed
    lookup is recorded in ``enrichment["errors"]``. With ``enrich_options`` None, results pass unchanged."""
    if enrich_options is None:
        async for r in results:
            yield r
        return
    from scanner.enrich import enrich

    async for r in results:
        if r.verdict.is_pool is True:
            try:
                data = await enrich(r, enrich_options)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # enrichment never un-detects
                data = {"errors": [f"enrich: {type(exc).__name__}: {str(exc)[:200]}"]}
            r = replace(r, enrichment=data)
        yield r


async def skip_done(open_ports: AsyncIterable[OpenPort], done: set[tuple[str, int]],
                    counters: Counters) -> AsyncIterator[OpenPort]:
    """Drop the ip:port pairs already stored for this run (resume). Memory: only the resume set; the sweep
    stage de-duplicates what it yields (``scanner.sweep.sweep``)."""
    async for op in open_ports:
        if done and (op.ip, op.port) in done:
            counters.skipped += 1
            continue
        yield op


@dataclass
class ScanSummary:
    run_id: str
    status: str
    counters: Counters
    db_path: str
    exports: dict[str, str]
    seed: int | None = None


async def run_scan(
    open_ports: AsyncIterable[OpenPort],
    *,
    store: Any,
    run_id: str,
    probe_options: ProbeOptions,
    concurrency: int = 200,
    enrich_options: Any | None = None,
    counters: Counters | None = None,
    on_result: Callable[[ProbeResult], None] | None = None,
    is_tarpit: Callable[[str], bool] | None = None,
    batch_results: int = BATCH_RESULTS,
    batch_delay_s: float = BATCH_DELAY_S,
) -> Counters:
    """Run probe -> classify -> enrich -> store over a stream of open ports, for run ``run_id`` of ``store``
    (a :class:`scanner.store.Store`). Returns the counters. Resumable: ports already stored for the run are
    skipped. Cancellation (Ctrl-C) propagates after the results already classified are stored.

    Store writes are batched (``batch_results`` results or ``batch_delay_s`` seconds per transaction, see
    the module docstring); ``on_result`` sees each result when it is queued for the next commit."""
    from scanner.store import BatchWriter

    counters = counters or Counters()
    done = store.done_targets(run_id)
    writer = BatchWriter(store, run_id, max_results=batch_results, max_delay_s=batch_delay_s)

    async def recorded(ops: AsyncIterable[OpenPort]) -> AsyncIterator[OpenPort]:
        async for op in ops:
            writer.add_open_port(op)
            yield op

    async def ticker() -> None:
        # a stream that goes quiet (slow peers) still gets its last results committed within the delay
        while True:
            await asyncio.sleep(max(0.01, batch_delay_s / 2))
            if writer.due():
                writer.flush()

    tick = asyncio.create_task(ticker())
    stream = probe_stage(recorded(skip_done(open_ports, done, counters)), probe_options,
                         concurrency=concurrency, counters=counters, is_tarpit=is_tarpit)
    try:
        async for result in enrich_stage(stream, enrich_options):
            writer.add_result(result)
            if on_result is not None:
                on_result(result)
            if tick.done():
                tick.result()  # a store error in a timed flush: raise it here, in the run
    finally:
        tick.cancel()
        writer.flush()  # Ctrl-C, a sweep failure, a bug: what was classified is stored
    return counters


def write_exports(store: Any, run_id: str, out_dir: Path) -> dict[str, str]:
    """Write the confirmed pools of ``run_id`` as JSONL and CSV into ``out_dir``; returns {format: path}."""
    from scanner.export import EXPORTERS

    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    pools = list(store.pools(run_id=run_id))
    for fmt, name in (("jsonl", "pools.jsonl"), ("csv", "pools.csv")):
        EXPORTERS[fmt].to_path(pools, out_dir / name)
        written[fmt] = str(out_dir / name)
    return written
