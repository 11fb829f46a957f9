"""``poolscan scan`` — sweep, probe, classify, enrich, store and export in one run."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from scanner.cli import cli
from scanner.cli.output import print_json_line, results_table, stderr, stdout
from scanner.model import ProbeResult
from scanner.pipeline import Counters, run_scan, write_exports
from scanner.probes.engine import ProbeOptions
from scanner.transport.limits import Limits


def _ranges(targets: Any) -> list[tuple[str, str]]:
    """(first, last) address strings of every target interval and ip:port pair (for the lab-scope check)."""
    rs = targets.ranges() if callable(targets.ranges) else targets.ranges
    return [(str(a), str(b)) for a, b in rs] + [(str(ip), str(ip)) for ip, _ in targets.pairs]


def _progress_line(c: Counters, total_hint: int | None) -> Text:
    d = c.as_dict()
    rate = d["probed"] / d["elapsed_s"] if d["elapsed_s"] > 0 else 0.0
    sweep = "sweep done" if c.sweep_done else "sweeping"
    return Text(
        f"{sweep} | open {d['open_ports']} | probed {d['probed']} ({rate:.1f}/s) | pools {d['pools']} | "
        f"not pools {d['not_pools']} | unknown {d['unknown']} | errors {d['errors']} | {d['elapsed_s']:.0f} s",
        style="dim",
    )


@cli.command()
@click.option("--targets", "targets_spec", required=True, multiple=True,
              help="IP, CIDR, range a-b, or a file of them (repeatable).")
@click.option("--ports", "ports_spec", default="pool", show_default=True,
              help="Port list (3333,4444,14000-14010), a file, or the named list 'pool' (seeds/ports.txt).")
@click.option("--exclude", "excludes", multiple=True, type=click.Path(dir_okay=False),
              help="Extra exclusion file (added to seeds/exclude.txt, never replacing it).")
@click.option("--allow-reserved", is_flag=True,
              help="Allow loopback and private lab ranges (the embedded lab uses this).")
@click.option("--engine", type=click.Choice(["connect", "masscan"]), default="connect", show_default=True,
              help="Sweep engine: TCP connect (any user) or masscan (root, SYN).")
@click.option("--rate", type=click.IntRange(1, 10_000_000), default=1000, show_default=True,
              help="Sweep rate, packets/s.")
@click.option("--netns", default=None,
              help="masscan: the lab's scanner namespace (NAME-scan, or 'auto'); inside a lab's scanner "
                   "namespace it is found by itself.")
@click.option("--production", is_flag=True,
              help="masscan on the real network of this machine (your own responsibility; exclusions apply).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None,
              help="masscan --seed (default: random; saved with the run so it can be reproduced).")
@click.option("--shards", default=None, help="masscan --shards i/N (1-based; all shards share --seed).")
@click.option("--passes", type=click.IntRange(1, 5), default=1, show_default=True,
              help="masscan: sweep this many times, results de-duplicated (recovers SYN-ACKs masscan drops "
                   "in bursts on dense targets).")
@click.option("--tarpit-threshold", type=click.IntRange(2, 65535), default=64, show_default=True,
              help="A host with more open ports than this is flagged as a tarpit and not probed further.")
@click.option("--concurrency", type=click.IntRange(1, 20000), default=200, show_default=True,
              help="Ports probed at once.")
@click.option("--fast", is_flag=True, help="Skip the unknown-method steps of the probes.")
@click.option("--tls", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
@click.option("--timeout-scale", type=click.FloatRange(0.1, 20), default=1.0, show_default=True)
@click.option("--db", "db_path", default="results/poolscan.db", show_default=True, type=click.Path(dir_okay=False),
              help="SQLite store.")
@click.option("--out", "out_dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Where the JSONL/CSV exports of confirmed pools go.")
@click.option("--resume", "resume_run", default=None, help="Finish an interrupted run (its run id).")
@click.option("--enrich/--no-enrich", default=True, show_default=True)
@click.option("--mmdb", multiple=True, type=click.Path(dir_okay=False), help="MaxMind-format database (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print every probed port as a JSON line, then a summary line.")
@click.option("--all", "show_all", is_flag=True, help="Show non-pools and unknowns in the final table too.")
def scan(targets_spec: tuple[str, ...], ports_spec: str, excludes: tuple[str, ...], allow_reserved: bool, engine: str,
         rate: int, netns: str | None, production: bool, seed: int | None, shards: str | None, passes: int, tarpit_threshold: int,
         concurrency: int, fast: bool, tls: str, timeout_scale: float, db_path: str, out_dir: str,
         resume_run: str | None, enrich: bool, mmdb: tuple[str, ...], as_json: bool, show_all: bool) -> None:
    """Sweep targets for open pool ports, probe them, classify, store and export the pools found.

    \b
    Private and reserved ranges (seeds/exclude.txt) are refused unless --allow-reserved.
    Results: the SQLite store (--db) and results/pools.jsonl + results/pools.csv of confirmed pools.
    Ctrl-C stops cleanly; what was found is kept, and --resume RUN finishes the run.
    \b
    Example (the embedded lab on loopback):
      poolscan scan --targets 127.0.0.1 --ports 3333,4444,8008 --allow-reserved
    """
    import random

    from scanner.lab.netns import check_socket_scope
    from scanner.store import Store
    from scanner.sweep import SweepReport, TarpitGuard, sweep
    from scanner.sweep.masscan import parse_shards
    from scanner.targets import parse_ports, parse_targets

    targets = parse_targets(list(targets_spec), allow_reserved=allow_reserved, extra_excludes=excludes)
    ports = parse_ports(ports_spec)
    if targets.count() == 0:
        from scanner.errors import UsageError

        raise UsageError("no target left after exclusions (reserved/private ranges need --allow-reserved)")
    # Lab addresses exist only inside the lab's namespaces: from anywhere else they would be routed out.
    check_socket_scope([(a, b) for a, b in _ranges(targets)])
    sweep_opts: dict[str, Any] = {}
    if engine == "masscan":
        seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
        sweep_opts.update(netns=netns, production=production, seed=seed, shards=parse_shards(shards), passes=passes)
    store = Store.open(db_path)
    args: dict[str, Any] = {"targets": list(targets_spec), "ports": ports_spec, "engine": engine, "rate": rate,
                            "concurrency": concurrency, "fast": fast, "tls": tls, "allow_reserved": allow_reserved,
                            "netns": netns, "production": production, "shards": shards}
    run_id = store.start_run(kind="scan", args=args, run_id=resume_run, seed=seed)
    if resume_run:
        previous = store.get_run(run_id) or {}
        if engine == "masscan" and previous.get("seed") is not None:
            sweep_opts["seed"] = int(previous["seed"])  # the same permutation as the interrupted run
    report = SweepReport()
    tarpit = TarpitGuard(threshold=tarpit_threshold)
    from scanner.fingerprint import load_fingerprints

    # Loaded before the event loop starts: a first load inside it would stall open connections.
    options = ProbeOptions(limits=Limits().scaled(timeout_scale), fast=fast, tls=tls, fingerprints=load_fingerprints())
    enrich_options = None
    if enrich:
        try:
            from scanner.enrich import EnrichOptions

            enrich_options = EnrichOptions(mmdb=list(mmdb))
        except ImportError:
            enrich_options = None
    counters = Counters()
    found: list[ProbeResult] = []

    def on_result(r: ProbeResult) -> None:
        if as_json:
            print_json_line(r.summary())
        if r.verdict.is_pool is True or show_all:
            found.append(r)

    async def go() -> None:
        open_ports = sweep(targets, ports, engine=engine, rate=rate, report=report, tarpit=tarpit, **sweep_opts)
        main = asyncio.ensure_future(run_scan(open_ports, store=store, run_id=run_id, probe_options=options,
                                              concurrency=concurrency, enrich_options=enrich_options,
                                              counters=counters, on_result=on_result,
                                              is_tarpit=tarpit.is_tarpit))
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, main.cancel)
        except (NotImplementedError, RuntimeError):
            pass
        if as_json or not stderr.is_terminal:
            await main
            return
        with Live(_progress_line(counters, None), console=stderr, refresh_per_second=4, transient=True) as live:
            while not main.done():
                live.update(_progress_line(counters, None))
                await asyncio.wait({main}, timeout=0.25)
            await main

    status = "ok"
    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        status = "interrupted"
    except asyncio.CancelledError:
        status = "interrupted"
    except BaseException:
        store.finish_run(run_id, status="failed", counts=counters.as_dict())
        raise
    store.finish_run(run_id, status=status, counts=counters.as_dict())
    exports = write_exports(store, run_id, Path(out_dir))
    summary = {"run_id": run_id, "status": status, **counters.as_dict(), "db": db_path, "exports": exports,
               "sweep": report.to_dict()}
    tarpits = sorted(tarpit.flagged)
    if as_json:
        print_json_line({"summary": summary})
    else:
        if found:
            stdout.print(results_table(sorted(found, key=lambda r: (r.ip, r.port)), evidence=False,
                                       title=f"poolscan scan — run {run_id}"))
        d = counters.as_dict()
        stdout.print(
            f"run {run_id} {status}: {d['open_ports']} open ports, {d['probed']} probed, "
            f"[bold]{d['pools']} pools[/], {d['not_pools']} not pools, {d['unknown']} unknown "
            f"in {d['elapsed_s']:.1f} s")
        stdout.print(f"results: {db_path}; pools: {exports.get('jsonl')}, {exports.get('csv')}")
        for w in report.warnings:
            stderr.print(f"[yellow]sweep: {escape(w)}[/]")
        if tarpits:
            stderr.print(f"[yellow]tarpits (more than {tarpit_threshold} open ports, probed lightly): "
                         f"{escape(', '.join(tarpits[:10]))}[/]")
    if status == "interrupted":
        stderr.print(f"interrupted: resume with  poolscan scan ... --resume {run_id}")
        raise click.exceptions.Exit(130)
