"""Memory: peak RSS while streaming N open ports through probe -> classify -> store, checkpoints on the way.

Servers: the lab's emulators (``python -m scanner.lab.serve``, a separate process) for a few personas that
answer at once (:data:`PERSONAS`: ckpool, ckpool-solo, cryptonote-nodejs-pool, xmrig-proxy,
open-ethereum-pool, redis), each listening on ``hosts`` loopback addresses 127.66.0.x. The open-port list is
generated lazily, cycling over those endpoints, so N is not bounded by the number of listeners and
connections are spread over many destination addresses (no ephemeral-port exhaustion on loopback,
``../shared/reference/environment.md`` §7).

Client: one child process per N (so that VmHWM, the peak, belongs to that N alone) runs the pipeline's own
stages: ``BatchWriter.add_open_port`` -> ``scanner.pipeline.probe_stage`` (``probe_port`` full plan, fast, no
TLS: probe + classify) -> ``BatchWriter.add_result`` into a real SQLite file (``scanner.store.BatchWriter``
with the pipeline's batch size and delay: one transaction per 200 results or 0.5 s; ``--batch 1`` writes
one transaction per open port and per result, as before issue 8). This is ``scanner.pipeline.run_scan``
minus its ``skip_done`` resume filter (it drops the open ports of a resumed run; it keeps only that run's
resume set, nothing that grows with N).

The sweep stage is measured on its own (``sweep_dedup`` section; no probing, no network): N distinct open
ports, generated in a scattered order over the benchmarking range 198.18.0.0/15 (RFC 2544; addresses in
memory only, nothing is sent) x 64 pool ports 3333-3396, go through ``scanner.sweep.screen``, the very
de-duplication and exclusion/target checks ``scanner.sweep.sweep`` applies to its engine's results (an
:class:`~scanner.sweep.seen.OpenPortSet` and a ``TarpitGuard``), then the first 1% again (must count as
duplicates). One child process per N: RSS growth, MB per million open ports, VmHWM, the de-dup set's own
bytes per key, open ports/s.

Recorded: VmRSS (MB) before streaming and at 10%, 50%, 100% of N, VmHWM (peak) at the end, results/s,
verdict counts, database size. Target: peak < 300 MB and no growth with N.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator

from bench import ROOT, median, proc_status_mb, run_async

PERSONAS = "ckpool,ckpool-solo,cryptonote-nodejs-pool,xmrig-proxy,open-ethereum-pool,redis"


def _hosts(n: int) -> list[str]:
    return [f"127.66.{i // 250}.{i % 250 + 1}" for i in range(n)]


async def stream(n: int, endpoints: list[tuple[str, int]], db: str, concurrency: int,
                 batch: int | None = None) -> dict[str, Any]:
    """Run the pipeline stages over ``n`` generated open ports; returns the measurements (see module doc).
    ``batch``: results per store transaction (default the pipeline's ``BATCH_RESULTS``; 1 = the old way, a
    ``save_open_port`` and a ``save_result`` transaction each)."""
    from scanner.fingerprint import load_fingerprints
    from scanner.model import OpenPort
    from scanner.pipeline import BATCH_DELAY_S, BATCH_RESULTS, Counters, probe_stage
    from scanner.probes.engine import ProbeOptions
    from scanner.store import BatchWriter, KnownPools, Store

    fps = load_fingerprints()
    store = Store.open(db, known_pools=KnownPools())
    run_id = store.start_run("scan", {"bench": "memory", "n": n})
    options = ProbeOptions(fast=True, tls="never", fingerprints=fps)
    counters = Counters()
    marks = {max(1, n // 10): "10%", max(1, n // 2): "50%", n: "100%"}
    rss: dict[str, float | None] = {"start": proc_status_mb("VmRSS")}
    verdicts: dict[str, int] = {}
    batch = BATCH_RESULTS if batch is None else max(1, batch)
    writer = BatchWriter(store, run_id, max_results=batch, max_delay_s=BATCH_DELAY_S if batch > 1 else 0.0)

    async def open_ports() -> AsyncIterator[Any]:
        ne = len(endpoints)
        for i in range(n):
            ip, port = endpoints[i % ne]
            op = OpenPort(ip=ip, port=port, source="bench")
            writer.add_open_port(op)
            yield op

    t0 = time.perf_counter()
    done = 0
    async for result in probe_stage(open_ports(), options, concurrency=concurrency, counters=counters):
        writer.add_result(result)
        done += 1
        key = f"{result.verdict.is_pool}:{result.verdict.software or result.verdict.label}"
        verdicts[key] = verdicts.get(key, 0) + 1
        if done in marks:
            rss[marks[done]] = proc_status_mb("VmRSS")
    writer.flush()
    wall = time.perf_counter() - t0
    store.finish_run(run_id, "ok", counters.as_dict())
    store.close()
    return {"n": n, "done": done, "wall_s": wall, "results_per_s": done / wall if wall else 0.0,
            "rss_mb": rss, "peak_rss_mb": proc_status_mb("VmHWM"), "verdicts": verdicts,
            "db_mb": sum(os.path.getsize(p) for p in Path(db).parent.glob(Path(db).name + "*")) / 2 ** 20,
            "concurrency": concurrency, "batch_results": batch, "store_batches": writer.batches}


#: Pool ports of the sweep_dedup section (64 of them: 2**17 addresses x 64 ports = 8,388,608 distinct keys).
DEDUP_PORTS = tuple(range(3333, 3397))
DEDUP_NET = "198.18.0.0/15"  # RFC 2544 benchmarking range, in memory only


async def sweep_dedup_growth(n: int) -> dict[str, Any]:
    """RSS before/after ``n`` distinct generated open ports (then n // 100 repeats) through ``scanner.sweep.screen``."""
    import ipaddress

    from scanner.model import OpenPort
    from scanner.sweep import SweepReport, TarpitGuard, screen
    from scanner.sweep.seen import OpenPortSet
    from scanner.targets import TargetSet

    net = ipaddress.ip_network(DEDUP_NET)
    base, nports = int(net.network_address), len(DEDUP_PORTS)
    space = net.num_addresses * nports
    if n > space:
        raise SystemExit(f"--n {n}: at most {space} distinct open ports in {DEDUP_NET} x {nports} ports")
    targets = TargetSet(v4=[(base, int(net.broadcast_address))])
    report, tarpit, seen = SweepReport(engine="bench"), TarpitGuard(), OpenPortSet()
    mask = space - 1  # a power of two: i -> i * odd mod space is a bijection, so all n keys are distinct

    async def source(count: int) -> AsyncIterator[Any]:
        for i in range(count):
            x = (i * 0x9E3779B1) & mask
            a = base + (x >> 6)
            yield OpenPort(ip=f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}",
                           port=DEDUP_PORTS[x & 63], source="bench")

    rss0 = proc_status_mb("VmRSS") or 0.0
    t0 = time.perf_counter()
    k = 0
    async for _ in screen(source(n), targets, DEDUP_PORTS, report=report, tarpit=tarpit, seen=seen):
        k += 1
    wall = time.perf_counter() - t0
    rss1 = proc_status_mb("VmRSS") or 0.0
    seen_mb = seen.nbytes() / 2 ** 20
    async for _ in screen(source(n // 100), targets, DEDUP_PORTS, report=report, tarpit=tarpit, seen=seen):
        k += 1
    if not (k == report.found == n and report.duplicates == n // 100 and report.dropped == 0):
        raise SystemExit(f"sweep de-dup wrong: yielded {k}, found {report.found}, duplicates "
                         f"{report.duplicates} (want {n // 100}), dropped {report.dropped}")
    growth = rss1 - rss0
    return {"n": n, "rss_before_mb": rss0, "rss_at_end_mb": rss1, "growth_mb": growth,
            "mb_per_million": growth / n * 1e6, "peak_rss_mb": proc_status_mb("VmHWM"),
            "seen_mb": seen_mb, "seen_bytes_per_key": seen.nbytes() / n, "seen_runs": seen.runs,
            "found": report.found, "duplicates": report.duplicates,
            "open_ports_per_s": n / wall if wall else 0.0}


def child(argv: list[str] | None = None) -> int:
    """``python -m bench.memory --n N --endpoints JSON --db PATH`` (one measurement; prints one JSON line)."""
    ap = argparse.ArgumentParser(prog="python -m bench.memory")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--endpoints", help="JSON list of [ip, port]")
    ap.add_argument("--db")
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--batch", type=int, default=None,
                    help="results per store transaction (default: the pipeline's; 1 = one per result)")
    ap.add_argument("--sweep-dedup", action="store_true", help="measure the sweep's de-duplication growth instead")
    a = ap.parse_args(argv)
    if a.sweep_dedup:
        res = run_async(lambda: sweep_dedup_growth(a.n), a.loop)
    else:
        eps = [tuple(e) for e in json.loads(a.endpoints)]
        res = run_async(lambda: stream(a.n, eps, a.db, a.concurrency, a.batch), a.loop)
    res["loop"] = a.loop
    print(json.dumps(res), flush=True)
    return 0


def run(ctx: dict[str, Any]) -> dict[str, Any]:
    from bench.latency import stop_lab

    quick = ctx.get("quick", False)
    log = ctx.get("log", print)
    sizes = ctx.get("memory_sizes") or ([400] if quick else [100_000, 1_000_000])
    nhosts = 2 if quick else 16
    out: dict[str, Any] = {"what": "peak RSS streaming N open ports through BatchWriter.add_open_port -> probe_stage "
                                   "(probe_port fast full plan: probe + classify) -> BatchWriter.add_result "
                                   "(one store transaction per 200 results or 0.5 s)",
                           "personas": PERSONAS.split(","), "hosts": nhosts, "target_peak_mb": 300, "runs": []}
    args: list[str] = []
    for h in _hosts(nhosts):
        args += ["--host", h]
    proc, manifest, tmp = start_lab_hosts(PERSONAS, args)
    try:
        eps = sorted({(e["host"], e["port"]) for e in manifest})
        for n in sizes:
            with tempfile.TemporaryDirectory(prefix="poolscan-bench-mem-") as dbdir:
                db = str(Path(dbdir) / "mem.db")
                p = subprocess.run([sys.executable, "-m", "bench.memory", "--n", str(n), "--endpoints",
                                    json.dumps(eps), "--db", db], cwd=ROOT, capture_output=True, text=True,
                                   timeout=max(600, n // 50))
                if p.returncode != 0:
                    raise RuntimeError(f"bench.memory --n {n} failed: {p.stderr.strip()[-500:]}")
                res = json.loads(p.stdout.strip().splitlines()[-1])
            out["runs"].append(res)
            r = res["rss_mb"]
            log(f"  memory n={n:<8d} RSS start {r.get('start') or 0:.0f} / 10% {r.get('10%') or 0:.0f} / 50% "
                f"{r.get('50%') or 0:.0f} / 100% {r.get('100%') or 0:.0f} MB, peak {res['peak_rss_mb']:.0f} MB, "
                f"{res['results_per_s']:.0f} results/s")
        # The same stream with one store transaction per open port and per result (before issue 8) against
        # the batched writer, alternated, medians: what batching buys the whole pipeline.
        cmp_n, cmp_reps = (400, 1) if quick else (20_000, 3)
        rates: dict[str, list[float]] = {"batch_1": [], "batch_default": []}
        for _ in range(cmp_reps):
            for key, extra in (("batch_1", ["--batch", "1"]), ("batch_default", [])):
                with tempfile.TemporaryDirectory(prefix="poolscan-bench-mem-") as dbdir:
                    p = subprocess.run([sys.executable, "-m", "bench.memory", "--n", str(cmp_n), "--endpoints",
                                        json.dumps(eps), "--db", str(Path(dbdir) / "cmp.db"), *extra], cwd=ROOT,
                                       capture_output=True, text=True, timeout=900)
                if p.returncode != 0:
                    raise RuntimeError(f"bench.memory --n {cmp_n} {' '.join(extra)} failed: {p.stderr.strip()[-500:]}")
                rates[key].append(json.loads(p.stdout.strip().splitlines()[-1])["results_per_s"])
        b1, bd = median(rates["batch_1"]), median(rates["batch_default"])
        out["store_batching"] = {"n": cmp_n, "repeats": cmp_reps, "runs_results_per_s": rates,
                                 "one_transaction_per_result_results_per_s": b1, "batched_results_per_s": bd,
                                 "ratio": bd / b1 if b1 else None}
        log(f"  pipeline n={cmp_n}: one transaction per result {b1:.0f} results/s, batched {bd:.0f} results/s "
            f"(x{bd / b1 if b1 else 0:.2f}, medians of {cmp_reps})")
    finally:
        stop_lab(proc, tmp)
    out["sweep_dedup"] = []
    for sd_n in ([20_000] if quick else sizes):
        p = subprocess.run([sys.executable, "-m", "bench.memory", "--n", str(sd_n), "--sweep-dedup"], cwd=ROOT,
                           capture_output=True, text=True, timeout=max(600, sd_n // 500))
        if p.returncode != 0:
            out["sweep_dedup"].append({"n": sd_n, "error": (p.stderr.strip() or p.stdout.strip())[-300:]})
            continue
        sd = json.loads(p.stdout.strip().splitlines()[-1])
        out["sweep_dedup"].append(sd)
        log(f"  sweep de-dup n={sd_n}: RSS +{sd['growth_mb']:.1f} MB ({sd['mb_per_million']:.1f} MB per million open "
            f"ports; de-dup set {sd['seen_bytes_per_key']:.1f} bytes a key), peak {sd['peak_rss_mb']:.0f} MB, "
            f"{sd['open_ports_per_s']:.0f} open ports/s")
    peaks = [r["peak_rss_mb"] for r in out["runs"]]
    first, last = out["runs"][0], out["runs"][-1]
    out["meets_target"] = all(p < 300 for p in peaks)
    out["growth_mb_first_to_last_peak"] = last["peak_rss_mb"] - first["peak_rss_mb"]
    out["growth_mb_10_to_100_pct_largest_n"] = (last["rss_mb"].get("100%") or 0) - (last["rss_mb"].get("10%") or 0)
    return out


def start_lab_hosts(personas: str, host_args: list[str]) -> tuple[subprocess.Popen, list[dict[str, Any]], str]:
    """Start the lab on several hosts (``--host A --host B ...``); ephemeral ports; returns process, manifest, dir."""
    tmp = tempfile.mkdtemp(prefix="poolscan-bench-lab-")
    manifest = Path(tmp) / "manifest.json"
    proc = subprocess.Popen([sys.executable, "-m", "scanner.lab.serve", *host_args, "--personas", personas,
                             "--manifest", str(manifest)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    from bench.latency import wait_manifest

    return proc, wait_manifest(proc, manifest, tmp), tmp


if __name__ == "__main__":
    raise SystemExit(child())
