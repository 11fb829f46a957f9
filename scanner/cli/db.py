"""``poolscan db`` — look at the SQLite store: ``stats`` (runs, pools, counts), ``runs``."""

from __future__ import annotations

import json

import click

from scanner.cli import cli


@cli.group()
def db() -> None:
    """Inspect the SQLite store (results/poolscan.db by default; it also opens in Datasette)."""


_db_option = click.option("--db", "db_path", default="results/poolscan.db", show_default=True,
                          type=click.Path(dir_okay=False), help="SQLite store.")


@db.command()
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats(db_path: str, as_json: bool) -> None:
    """Runs, rows per table, pools (total, known, new in the last run), pools by coin and software."""
    from scanner.store import Store

    with Store.open(db_path, create=False) as store:
        s = store.stats()
    if as_json:
        click.echo(json.dumps(s, sort_keys=False, default=str))
        return
    click.echo(f"database   {s['path']} (schema {s['schema_version']})")
    click.echo("tables     " + ", ".join(f"{k} {v}" for k, v in s["tables"].items()))
    click.echo("runs       " + (", ".join(f"{k} {v}" for k, v in s["runs_by_status"].items()) or "none"))
    p = s["pools"]
    click.echo(f"pools      {p['total']} (known {p['known']}, new in last run {p['new_in_last_run']})")
    if s["pools_by_coin"]:
        click.echo("by coin    " + ", ".join(f"{k} {v}" for k, v in s["pools_by_coin"].items()))
    if s["pools_by_software"]:
        click.echo("by software " + ", ".join(f"{k} {v}" for k, v in s["pools_by_software"].items()))
    last = s["last_run"]
    if last:
        click.echo(f"last run   {last['id']} {last['kind']} {last['status']} started {last['started_at']}"
                   + (f" finished {last['finished_at']}" if last["finished_at"] else ""))


@db.command()
@_db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def runs(db_path: str, as_json: bool) -> None:
    """List the runs, oldest first."""
    from scanner.store import Store

    with Store.open(db_path, create=False) as store:
        rows = store.runs()
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, default=str))
        else:
            counts = " ".join(f"{k}={v}" for k, v in (r["counts"] or {}).items())
            click.echo(f"{r['id']}  {r['kind']:<8} {r['status']:<11} {r['started_at']}  {counts}")
