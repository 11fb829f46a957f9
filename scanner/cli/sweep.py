"""``poolscan sweep``: find open ports (the sweep stage alone), as JSON lines or a table.

    poolscan sweep --targets 127.0.0.1 --ports 3333,4444 --allow-reserved --rate 500 --json
    poolscan sweep --targets 10.77.0.0/24 --ports pool --allow-reserved --engine masscan --netns psl-scan --rate 1000
    poolscan sweep --targets 198.51.100.0/24,192.0.2.0/24 --ports pool --rate 10000 --dry-run

``--json`` prints one ``OpenPort.to_dict()`` per line as found (pipe it into ``poolscan probe -``), then,
on stderr, one summary line (``{"event":"sweep-summary", ...}`` from :class:`scanner.sweep.SweepReport`:
seed, argv, found, duplicates, canary...). Tarpit hosts are reported on stderr as
``{"event":"tarpit","ip":...,"open_ports":N}``. ``--dry-run`` sends nothing: it prints the target count
after exclusions, the probe count and the estimated duration at the rate.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from scanner import aio
from scanner.cli import cli
from scanner.errors import UsageError


def _estimate(targets: Any, ports: list[int], rate: int, engine: str, wait: float, passes: int) -> dict[str, Any]:
    from scanner.targets import estimate_duration

    probes = targets.probe_count(ports)
    extra = (3.0 + wait) * passes if engine == "masscan" else 0.0  # masscan start-up + --wait per pass
    return {
        "targets": targets.count(), "pairs": targets.pair_count, "excluded": targets.excluded_count,
        "ports": len(ports), "probes": probes, "rate": rate, "engine": engine, "passes": passes,
        "estimated_s": round(estimate_duration(probes, rate, passes=passes) + extra, 1),
    }


def _human(seconds: float) -> str:
    """``93.0`` -> ``"93 s"``, ``5400`` -> ``"5400 s (1.5 h)"``, ``1176037`` -> ``"1176037 s (13.6 d)"``."""
    s = f"{seconds:.0f} s"
    if seconds >= 86400:
        return f"{s} ({seconds / 86400:.1f} d)"
    if seconds >= 3600:
        return f"{s} ({seconds / 3600:.1f} h)"
    if seconds >= 60:
        return f"{s} ({seconds / 60:.1f} min)"
    return f"{seconds:.1f} s"


@cli.command()
@click.option("--targets", "targets_spec", required=True, multiple=True,
              help="IP, CIDR, range a-b, ip:port, @file or a file path (repeatable, comma lists allowed).")
@click.option("--ports", "ports_spec", default="pool", show_default=True,
              help="Ports: 3333,4444,14000-14010, a file, or the named list 'pool' (seeds/ports.txt).")
@click.option("--exclude", "excludes", multiple=True, help="Extra exclude file or range (repeatable; adds to seeds/exclude.txt).")
@click.option("--allow-reserved", is_flag=True,
              help="Lift only the loopback/private/CGNAT exclusions (your own lab or network).")
@click.option("--engine", type=click.Choice(["connect", "masscan"]), default="connect", show_default=True)
@click.option("--rate", type=click.IntRange(1, 10_000_000), default=None,
              help="Packets (connects) per second. Required for masscan; connect default 500.")
@click.option("--concurrency", type=click.IntRange(1, 20000), default=512, show_default=True,
              help="connect: connections in flight.")
@click.option("--timeout", "connect_timeout", type=click.FloatRange(0.05, 60), default=1.5, show_default=True,
              help="connect: seconds per connect.")
@click.option("--netns", default=None,
              help="masscan lab mode: the lab's scanner namespace, or 'auto' (the one lab that is up).")
@click.option("--production", is_flag=True,
              help="masscan on this machine's real network (your choice, your machine; exclusions always apply).")
@click.option("--seed", type=int, default=None, help="masscan --seed (random when omitted; printed in the summary).")
@click.option("--shards", default=None, help="i/N: sweep only shard i of N (1-based, as masscan).")
@click.option("--wait", "wait_s", type=click.FloatRange(0, 120), default=2.0, show_default=True,
              help="masscan: seconds to wait for answers after the last packet.")
@click.option("--passes", type=click.IntRange(1, 10), default=1, show_default=True,
              help="masscan: run the sweep this many times (results de-duplicated).")
@click.option("--retries", type=click.IntRange(0, 5), default=0, show_default=True, help="masscan --retries.")
@click.option("--canary", default="auto", show_default=True,
              help="masscan: IP:PORT known to be open, 'auto' (lab) or 'none'.")
@click.option("--adapter", default=None, help="masscan --adapter (found automatically in the lab).")
@click.option("--router-ip", default=None, help="masscan --router-ip.")
@click.option("--router-mac", default=None, help="masscan --router-mac.")
@click.option("--tarpit-threshold", type=click.IntRange(0, 65535), default=64, show_default=True,
              help="Flag a host with more open ports than this (0 = never).")
@click.option("--max-targets", type=click.IntRange(1, 2**33), default=65536, show_default=True,
              help="Connect engine: refuse more addresses than this (a guard against typos such as 0.0.0.0/0).")
@click.option("--dry-run", is_flag=True, help="Send nothing: print the target count and estimated duration.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per open port (OpenPort).")
def sweep(targets_spec: tuple[str, ...], ports_spec: str, excludes: tuple[str, ...], allow_reserved: bool,
          engine: str, rate: int | None, concurrency: int, connect_timeout: float, netns: str | None,
          production: bool, seed: int | None, shards: str | None, wait_s: float, passes: int, retries: int,
          canary: str, adapter: str | None, router_ip: str | None, router_mac: str | None,
          tarpit_threshold: int, max_targets: int, dry_run: bool, as_json: bool) -> None:
    """Sweep targets for open ports (no probing). Prints open ports as found."""
    from scanner.sweep import SweepReport, TarpitGuard
    from scanner.sweep import sweep as run_sweep
    from scanner.sweep.masscan import parse_shards
    from scanner.targets import parse_ports, parse_targets

    targets = parse_targets(list(targets_spec), allow_reserved=allow_reserved, extra_excludes=excludes)
    ports = parse_ports(ports_spec)
    shard = parse_shards(shards)
    if engine == "masscan" and rate is None and not dry_run:
        raise UsageError("--rate: masscan needs an explicit rate (packets/s), e.g. --rate 1000")
    rate = rate or 500
    if targets.count() == 0 and targets.pair_count == 0:
        raise UsageError("targets: nothing left after exclusions")
    if engine == "connect" and not dry_run:
        from scanner.sweep import check_connect_size

        check_connect_size(targets, max_targets)
    if dry_run:
        est = _estimate(targets, ports, rate, engine, wait_s, passes)
        if as_json:
            click.echo(json.dumps(est))
        else:
            click.echo(f"targets: {est['targets']} addresses (+{est['pairs']} ip:port) after exclusions "
                       f"({est['excluded']} excluded); ports: {est['ports']}; probes: {est['probes']}; "
                       f"at {rate} packets/s ({engine}): about {_human(est['estimated_s'])}")
        return
    report = SweepReport()

    def on_tarpit(ev: Any) -> None:
        click.echo(json.dumps(ev.to_dict()), err=True)

    tarpit = TarpitGuard(tarpit_threshold, on_flag=on_tarpit)
    options: dict[str, Any]
    if engine == "connect":
        options = {"concurrency": concurrency, "timeout": connect_timeout, "shard": shard}
    else:
        options = {"netns": netns, "production": production, "seed": seed, "shards": shard, "wait": wait_s,
                   "passes": passes, "retries": retries, "canary": None if canary == "none" else canary,
                   "adapter": adapter, "router_ip": router_ip, "router_mac": router_mac}
    rows: list[Any] = []

    async def go() -> None:
        async for op in run_sweep(targets, ports, engine=engine, rate=rate, report=report, tarpit=tarpit,
                                  max_targets=max_targets, **options):
            if as_json:
                sys.stdout.write(json.dumps(op.to_dict(), separators=(",", ":")) + "\n")
                sys.stdout.flush()
            else:
                rows.append(op)

    try:
        aio.run(go())
    finally:
        summary = {"event": "sweep-summary", **report.to_dict()}
        if as_json:
            click.echo(json.dumps(summary, separators=(",", ":")), err=True)
    if not as_json:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"open ports ({engine}, {rate}/s)", header_style="bold")
        for col in ("ip", "port", "seen", "tarpit"):
            t.add_column(col)
        import time as _t

        for op in rows:
            t.add_row(op.ip, str(op.port), _t.strftime("%H:%M:%S", _t.localtime(op.seen_at)),
                      "yes" if tarpit.is_tarpit(op.ip) else "")
        Console(highlight=False).print(t)
        click.echo(f"found {report.found} open ports in {report.duration_s:.1f} s"
                   + (f"; seed {report.seed}" if report.seed is not None else "")
                   + (f"; canary {report.canary} {'seen' if report.canary_seen else 'NOT seen'}"
                      if report.canary else "")
                   + (f"; {len(tarpit.flagged)} tarpit host(s)" if tarpit.flagged else ""), err=True)
        for w in report.warnings:
            click.echo(f"warning: {w}", err=True)
