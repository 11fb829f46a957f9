"""``poolscan scan`` — sweep, probe, classify, enrich, store and export in one run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from scanner import aio
from scanner.cli import cli
from scanner.cli.output import print_json_line, results_table, stderr, stdout
from scanner.errors import UsageError
from scanner.model import ProbeResult
from scanner.pipeline import Counters, run_scan, write_exports
from scanner.probes.engine import ProbeOptions
from scanner.transport.limits import Limits


def _open_for_resume(db_path: str, run_id: str) -> Any:
    from scanner.store import Store

    if not Path(db_path).is_file():
        raise UsageError(f"--resume {run_id}: no database at {db_path} (give the run's --db)")
    store = Store.open(db_path, create=False)
    run = store.get_run(run_id)
    if run is None or run.get("kind") != "scan":
        raise UsageError(f"--resume: no scan run {run_id!r} in {db_path} (poolscan db runs lists them)")
    return store


def _check_writable(out_dir: Path, db_path: Path) -> None:
    """Fail before any packet when the outputs cannot be written (one line, exit 2)."""
    for d, what in ((out_dir, "--out"), (db_path.parent, "--db")):
        try:
            d.mkdir(parents=True, exist_ok=True)
            probe = d / f".poolscan-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"{what}: cannot write to {d}: {exc.strerror or exc}") from None


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
@click.option("--targets", "targets_spec", multiple=True,
              help="IP, CIDR, range a-b, or a file of them (repeatable; with --resume: the run's own).")
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
@click.option("--passes", type=click.IntRange(1, 10), default=1, show_default=True,
              help="masscan: sweep this many times, results de-duplicated (recovers SYN-ACKs masscan drops "
                   "in bursts on dense targets).")
@click.option("--tarpit-threshold", type=click.IntRange(2, 65535), default=64, show_default=True,
              help="A host with more open ports than this is flagged as a tarpit and not probed further.")
@click.option("--max-targets", type=click.IntRange(1, 2**33), default=65536, show_default=True,
              help="Connect engine: refuse more addresses than this (a guard against typos such as 0.0.0.0/0).")
@click.option("--dry-run", is_flag=True, help="Send nothing: print the target count after exclusions and the "
                                              "estimated sweep duration.")
@click.option("--concurrency", type=click.IntRange(1, 20000), default=200, show_default=True,
              help="Ports probed at once.")
@click.option("--fast", is_flag=True, help="Skip the unknown-method steps of the probes.")
@click.option("--tls", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="TLS variants of the probes: on TLS ports or when a port looks like TLS (auto).")
@click.option("--timeout-scale", type=click.FloatRange(0.1, 20), default=1.0, show_default=True,
              help="Multiply every probe timeout (slow links: 2-3).")
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
         rate: int, netns: str | None, production: bool, seed: int | None, shards: str | None, passes: int, tarpit_threshold: int, max_targets: int, dry_run: bool,
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

    store = None
    if resume_run:
        # A resumed run takes its own targets and ports (the same work to finish), unless given again.
        store = _open_for_resume(db_path, resume_run)
        previous = store.get_run(resume_run) or {}
        old_args = previous.get("args") or {}
        if isinstance(old_args, str):
            old_args = json.loads(old_args)
        if not targets_spec:
            targets_spec = tuple(old_args.get("targets") or ())
            ports_spec = old_args.get("ports") or ports_spec
            allow_reserved = allow_reserved or bool(old_args.get("allow_reserved"))
            engine = old_args.get("engine") or engine
    if not targets_spec:
        raise UsageError("--targets is required (IP, CIDR, range or file)")
    targets = parse_targets(list(targets_spec), allow_reserved=allow_reserved, extra_excludes=excludes)
    ports = parse_ports(ports_spec)
    if targets.count() == 0 and not targets.pair_count:
        raise UsageError("no target left after exclusions (reserved/private ranges need --allow-reserved)")
    if dry_run:
        from scanner.cli.sweep import _estimate, _human

        est = _estimate(targets, ports, rate, engine, 2.0 if engine == "masscan" else 0.0, passes)
        click.echo(f"targets: {est['targets']} addresses (+{est['pairs']} ip:port) after exclusions "
                   f"({est['excluded']} excluded); ports: {est['ports']}; probes: {est['probes']}; "
                   f"sweep at {rate} packets/s ({engine}): about {_human(est['estimated_s'])}; nothing sent")
        return
    if engine == "connect":
        from scanner.sweep import check_connect_size

        check_connect_size(targets, max_targets)
    _check_writable(Path(out_dir), Path(db_path))
    # Lab addresses exist only inside the lab's namespaces: from anywhere else they would be routed out.
    check_socket_scope([(a, b) for a, b in _ranges(targets)])
    sweep_opts: dict[str, Any] = {}
    if engine == "masscan":
        seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
        sweep_opts.update(netns=netns, production=production, seed=seed, shards=parse_shards(shards), passes=passes)
    store = store or Store.open(db_path)
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
    from scanner.enrich import EnrichOptions

    enrich_options = EnrichOptions(mmdb=list(mmdb)) if enrich else None  # one per run: its cache is shared
    counters = Counters()
    found: list[ProbeResult] = []
    state: dict[str, Any] = {"broken_pipe": False, "main": None}

    def on_result(r: ProbeResult) -> None:
        if as_json and not state["broken_pipe"]:
            try:
                print_json_line(r.summary())
            except BrokenPipeError:
                # The reader went away (| head): stop like an interrupt; what was stored is kept.
                state["broken_pipe"] = True
                if state["main"] is not None:
                    state["main"].cancel()
        if r.verdict.is_pool is True or show_all:
            found.append(r)

    async def go() -> None:
        open_ports = sweep(targets, ports, engine=engine, rate=rate, report=report, tarpit=tarpit,
                           max_targets=max_targets, **sweep_opts)
        main = asyncio.ensure_future(run_scan(open_ports, store=store, run_id=run_id, probe_options=options,
                                              concurrency=concurrency, enrich_options=enrich_options,
                                              counters=counters, on_result=on_result,
                                              is_tarpit=tarpit.is_tarpit))
        state["main"] = main
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
        aio.run(go())
    except (KeyboardInterrupt, asyncio.CancelledError):
        status = "interrupted"
    except BaseException:
        store.finish_run(run_id, status="failed", counts=_run_counts(store, run_id, counters))
        raise
    totals = _run_counts(store, run_id, counters)  # the whole run, across resumes
    store.finish_run(run_id, status=status, counts=totals)
    exports = write_exports(store, run_id, Path(out_dir))
    summary = {"run_id": run_id, "status": status, **totals, "db": db_path, "exports": exports,
               "sweep": report.to_dict()}
    tarpits = sorted(tarpit.flagged)
    if state["broken_pipe"]:
        pass
    elif as_json:
        print_json_line({"summary": summary})
    else:
        if found:
            stdout.print(results_table(sorted(found, key=lambda r: (r.ip, r.port)), evidence=False,
                                       title=f"poolscan scan — run {run_id}"))
        d = totals
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
        click.echo(f"interrupted: finish it with: poolscan scan --resume {run_id} --db {db_path}", err=True)
        raise click.exceptions.Exit(130)


def _run_counts(store: Any, run_id: str, counters: Counters) -> dict[str, Any]:
    """Counts of the whole run from the store (so a resumed run reports its total, not its last part);
    ``elapsed_s`` is this invocation's."""
    q = store.db.query(
        "SELECT count(*) AS probed, sum(is_pool = 1) AS pools, sum(is_pool = 0) AS not_pools, "
        "sum(is_pool IS NULL) AS unknown FROM verdicts WHERE run_id = ?", [run_id])
    row = next(iter(q), {}) or {}
    opened = next(iter(store.db.query("SELECT count(*) AS n FROM open_ports WHERE run_id = ?", [run_id])), {})
    d = counters.as_dict()
    return {"open_ports": int(opened.get("n") or 0), "probed": int(row.get("probed") or 0),
            "pools": int(row.get("pools") or 0), "not_pools": int(row.get("not_pools") or 0),
            "unknown": int(row.get("unknown") or 0), "errors": d["errors"], "skipped": d["skipped"],
            "elapsed_s": d["elapsed_s"]}
