"""``poolscan campaign`` — nightly scan campaigns from a TOML file: run (resumable), diff, list, report,
check.

Exit codes of ``campaign run``: 0 ok, 1 the run failed (or another run of the campaign holds the lock, or
an export/report/push step failed), 2 bad campaign file or arguments, 130 interrupted (the next run
resumes it). Scheduling: docs/scheduling.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from scanner.cli import cli
from scanner.cli.output import print_json_line, stderr, stdout
from scanner.errors import PoolscanError
from scanner.textsafe import safe_text


def _s(value: Any, n: int = 40) -> str:
    return escape(safe_text(value, n)) if value not in (None, "", []) else "-"


def _store_for(campaign_file: str | None, db: str | None) -> tuple[Any, str | None]:
    """Open the store named by ``--db`` or by the campaign file (else the default db); returns
    ``(store, campaign name or None)``."""
    from scanner.store import DEFAULT_DB, Store

    name = None
    path: str | Path = db or DEFAULT_DB
    if campaign_file is not None:
        from scanner.config import load_campaign

        c = load_campaign(campaign_file)
        name = c.name
        if db is None:
            path = c.db_path
    return Store.open(path, create=False), name


def _pools_table(pools: list[dict], title: str) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    for col in ("endpoint", "protocol", "software", "coin", "algo", "TLS", "country"):
        t.add_column(col, no_wrap=col == "endpoint")
    for p in pools:
        t.add_row(_s(p.get("id"), 60), _s(p.get("protocol")), _s(p.get("software")), _s(p.get("coin")),
                  _s(p.get("algo")), "TLS" if p.get("tls") else "", _s(p.get("country"), 8))
    return t


@cli.group()
def campaign() -> None:
    """Nightly scan campaigns: a TOML file says what to scan and where results go.

    \b
      poolscan campaign check campaigns/example.toml
      poolscan campaign run campaigns/lab.toml
      poolscan campaign diff --campaign campaigns/lab.toml
      poolscan campaign list --campaign campaigns/lab.toml
    """


@campaign.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def check_cmd(file: str) -> None:
    """Validate a campaign file (exit 2 with one line naming the key when it is wrong)."""
    from scanner.config import load_campaign
    from scanner.targets import parse_ports, parse_targets

    c = load_campaign(file)
    ts = parse_targets(c.targets.spec(), allow_reserved=c.exclusions.allow_reserved,
                       extra_excludes=c.exclusions.ranges, exclude_files=c.exclusions.files)
    ports = parse_ports(c.ports.spec())
    stdout.print(f"{escape(file)}: ok — campaign {escape(c.name)}: {ts.count()} addresses"
                 f"{f' + {ts.pair_count} ip:port pairs' if ts.pair_count else ''} x {len(ports)} ports = "
                 f"{ts.probe_count(ports)} probes, {c.sweep.engine} sweep at {c.sweep.rate}/s; db {escape(c.store.db)}; "
                 f"out {escape(c.exports.out_dir)}", soft_wrap=True)


@campaign.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--resume", "resume_run", default=None, metavar="RUN",
              help="Finish this run (default: the campaign's latest run when it did not finish).")
@click.option("--new", "new_run", is_flag=True, help="Start a new run even if the latest one did not finish.")
@click.option("--progress", type=click.Choice(["auto", "live", "log", "none"]), default="auto", show_default=True,
              help="auto = live display on a terminal, a log line every --progress-interval seconds otherwise.")
@click.option("--progress-interval", type=click.FloatRange(0.1, 86400), default=60.0, show_default=True,
              help="Seconds between progress lines in log mode.")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as one JSON line.")
def run_cmd(file: str, resume_run: str | None, new_run: bool, progress: str, progress_interval: float,
            as_json: bool) -> None:
    """Run a campaign: sweep -> probe -> classify -> enrich -> store -> export -> HTML report.

    \b
    A run killed in any way (kill -9, reboot) is finished by the next `campaign run` of the same file:
    the saved seed sweeps the same way, and every ip:port already stored is skipped.
    Only one run of a campaign at a time (lock file next to the database).
    Exit codes: 0 ok, 1 run failed / already running, 2 bad config, 130 interrupted.
    """
    if resume_run and new_run:
        raise click.UsageError("--resume and --new exclude each other")
    from scanner.campaign import run_campaign
    from scanner.config import load_campaign

    c = load_campaign(file)
    mode = progress
    if mode == "auto":
        mode = "log" if (as_json or not stderr.is_terminal) else "live"

    def echo(line: str) -> None:
        click.echo(line, err=True)

    out = run_campaign(c, resume=resume_run, new=new_run, display=mode, progress_interval=progress_interval,
                       echo=echo)
    if as_json:
        print_json_line(out.to_dict())
    else:
        _print_summary(out)
    if out.exit_code:
        # A PoolscanError (not click's Exit, which click swallows outside standalone mode): scanner.cli.main
        # prints the one line and exits with its code.
        raise _RunEnded(out)


class _RunEnded(PoolscanError):
    """The run did not end ok: ``exit_code`` is :attr:`RunOutcome.exit_code` (1 failed, 130 interrupted)."""

    def __init__(self, out: Any) -> None:
        self.exit_code = out.exit_code
        if out.status == "interrupted":
            msg = (f"run {out.run_id} interrupted: the next `poolscan campaign run` of this file resumes it "
                   f"(or --resume {out.run_id})")
        elif out.status != "ok":
            msg = f"run {out.run_id} failed: {out.error or 'unknown error'}"
        else:
            msg = f"run {out.run_id} finished, but: {'; '.join(out.post_errors)}"
        super().__init__(safe_text(msg, 2000))


def _print_summary(out: Any) -> None:
    k = out.counts
    if out.new_pools:
        stdout.print(_pools_table(out.new_pools[:200], f"new pools — campaign {escape(out.campaign)}"))
        if len(out.new_pools) > 200:
            stdout.print(f"... {len(out.new_pools) - 200} more new pools in the report")
    style = {"ok": "green", "failed": "red", "interrupted": "yellow"}.get(out.status, "")
    diff = (f" (new {out.diff['new']}, gone {out.diff['gone']}, changed {out.diff['changed']} vs {out.previous})"
            if out.diff else (" (all new: first finished run)" if out.status == "ok" else ""))
    stdout.print(f"campaign {escape(out.campaign)} run {out.run_id}{' (resumed)' if out.resumed else ''}: "
                 f"[{style}]{out.status}[/] in {out.elapsed_s:.1f} s, seed {out.seed}")
    stdout.print(f"  {k.get('open_ports', 0)} open ports, {k.get('probed', 0)} probed, [bold]{k.get('pools', 0)} pools[/]"
                 f"{diff}, {k.get('not_pools', 0)} not pools, {k.get('unknown', 0)} unknown")
    stdout.print(f"  db: {escape(out.db_path)}")
    if out.report:
        stdout.print(f"  report: {escape(out.report)}")
    for fmt, path in out.exports.items():
        stdout.print(f"  {fmt}: {escape(path)}")


@campaign.command("diff")
@click.argument("runs", nargs=-1, metavar="[RUN_A RUN_B]")
@click.option("--campaign", "campaign_file", type=click.Path(dir_okay=False), default=None,
              help="Campaign file (its database, and its last two finished runs by default).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None, help="SQLite store.")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as one JSON object.")
def diff_cmd(runs: tuple[str, ...], campaign_file: str | None, db_path: str | None, as_json: bool) -> None:
    """Pools new, gone and changed (protocol, software, coin, algo, TLS, certificate) between two runs.

    Without RUN_A RUN_B: the last two finished runs of the campaign (--campaign FILE), or of the campaign
    of the latest finished run in the database.
    """
    from scanner.campaign import default_diff_pair, diff_runs

    if len(runs) not in (0, 2):
        raise click.UsageError("give two runs (RUN_A RUN_B) or none")
    store, name = _store_for(campaign_file, db_path)
    try:
        a, b = runs if runs else default_diff_pair(store, name)
        d = diff_runs(store, a, b)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(d, ensure_ascii=True, sort_keys=True))
        return
    stdout.print(f"diff {escape(a)} -> {escape(b)}: {len(d['new'])} new, {len(d['gone'])} gone, "
                 f"{len(d['changed'])} changed")
    if d["new"]:
        stdout.print(_pools_table(d["new"], "new"))
    if d["gone"]:
        stdout.print(_pools_table(d["gone"], "gone"))
    if d["changed"]:
        t = Table(title="changed", title_justify="left")
        for col in ("endpoint", "what", "before", "now"):
            t.add_column(col)
        for c in d["changed"]:
            for field, (x, y) in c["changes"].items():
                t.add_row(_s(c["id"], 60), field, _s(x, 80), _s(y, 80))
        stdout.print(t)


@campaign.command("list")
@click.option("--campaign", "campaign_file", type=click.Path(dir_okay=False), default=None,
              help="Only this campaign's runs (and its database).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None, help="SQLite store.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per run.")
def list_cmd(campaign_file: str | None, db_path: str | None, as_json: bool) -> None:
    """Campaign runs in the database, oldest first: status, times, seed, counts."""
    from scanner.campaign import campaign_runs, run_counts

    store, name = _store_for(campaign_file, db_path)
    try:
        rows = [(r, run_counts(store, r["id"])) for r in campaign_runs(store, name)]
    finally:
        store.close()
    if as_json:
        for r, k in rows:
            print_json_line({"id": r["id"], "campaign": r["campaign"], "status": r["status"], "seed": r["seed"],
                             "started_at": r["started_at"], "finished_at": r["finished_at"], **k})
        return
    t = Table(title=f"campaign runs{' of ' + escape(name) if name else ''}", title_justify="left")
    for col in ("run", "campaign", "status", "started", "finished", "seed", "open", "probed", "pools"):
        t.add_column(col)
    for r, k in rows:
        t.add_row(_s(r["id"], 60), _s(r["campaign"]), _s(r["status"]), _s(r["started_at"], 30),
                  _s(r["finished_at"], 30), _s(r["seed"]), str(k["open_ports"]), str(k["probed"]), str(k["pools"]))
    stdout.print(t)


@campaign.command("report")
@click.argument("run", required=False)
@click.option("--campaign", "campaign_file", type=click.Path(dir_okay=False), default=None,
              help="Campaign file (its database; default run: its latest).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None, help="SQLite store.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: <out_dir>/<run>/report.html of the campaign, else report.html).")
@click.option("--history", type=click.IntRange(2, 1000), default=30, show_default=True, help="Runs in the chart.")
def report_cmd(run: str | None, campaign_file: str | None, db_path: str | None, out_path: str | None,
               history: int) -> None:
    """(Re)write the self-contained HTML report of a campaign run."""
    from scanner.campaign import latest_run
    from scanner.errors import UsageError
    from scanner.report import write_report

    store, name = _store_for(campaign_file, db_path)
    try:
        if run is None:
            last = latest_run(store, name) if name else None
            if last is None:
                from scanner.campaign import campaign_runs

                all_runs = campaign_runs(store)
                last = all_runs[-1] if all_runs else None
            if last is None:
                raise UsageError("no campaign run in the database")
            run = last["id"]
        if out_path is None:
            if campaign_file is not None:
                from scanner.config import load_campaign

                out_path = str(load_campaign(campaign_file).out_dir / run / "report.html")
            else:
                out_path = "report.html"
        path = write_report(store, run, out_path, history=history)
    finally:
        store.close()
    stdout.print(f"report: {escape(str(path))}")
