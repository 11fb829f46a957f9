"""``poolscan export`` — IOCs from the store: STIX 2.1, MISP, MISP feed, CSV, JSONL, blocklists, Suricata;
or a push of the STIX bundle to a TAXII 2.1 collection."""

from __future__ import annotations

import json
import sys

import click

from scanner.cli import cli
from scanner.errors import RunError, UsageError
from scanner.export import EXPORTERS


@cli.command()
@click.option("--format", "fmt", type=click.Choice(sorted(EXPORTERS)), default=None,
              help="Output format (misp-feed writes a folder: give -o DIR).")
@click.option("--db", "db_path", default="results/poolscan.db", show_default=True,
              type=click.Path(dir_okay=False), help="SQLite store written by `poolscan scan`.")
@click.option("--since", default=None, metavar="DATE",
              help="Only pools seen on or after DATE (YYYY-MM-DD or ISO 8601 time, UTC by default).")
@click.option("--new-only", is_flag=True,
              help="Only new pools: not in seeds/known-pools.txt and not seen before the last run "
                   "(or, with --since, first seen since DATE).")
@click.option("--min-confidence", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Only pools whose confidence (0..1) is at least this.")
@click.option("--run", "run_id", default=None, help="Only pools seen in this run (and 'new' relative to it).")
@click.option("--known-pools", default=None, type=click.Path(dir_okay=False),
              help="Known-pools file (default seeds/known-pools.txt).")
@click.option("-o", "--output", "output", default=None, type=click.Path(),
              help="Output file (folder for misp-feed); default standard output.")
@click.option("--taxii", "taxii_url", default=None, metavar="URL",
              help="Push the STIX bundle to this TAXII 2.1 server (discovery, API root or collection URL).")
@click.option("--collection", default=None, metavar="ID", help="TAXII collection id (with --taxii).")
@click.option("--user", default=None, help="TAXII user (HTTP basic auth).")
@click.option("--password", default=None, envvar="POOLSCAN_TAXII_PASSWORD",
              help="TAXII password (or env POOLSCAN_TAXII_PASSWORD).")
@click.option("--timeout", type=click.FloatRange(1, 600), default=30.0, show_default=True,
              help="TAXII request timeout, seconds.")
def export(fmt: str | None, db_path: str, since: str | None, new_only: bool, min_confidence: float,
           run_id: str | None, known_pools: str | None, output: str | None, taxii_url: str | None,
           collection: str | None, user: str | None, password: str | None, timeout: float) -> None:
    """Export the pools in the store as IOCs, or push them to a TAXII 2.1 collection.

    \b
    Formats: stix, misp, misp-feed (folder), csv, jsonl, ips, ip-port, suricata.
    Examples:
      poolscan export --format stix -o results/pools.stix.json
      poolscan export --format suricata --new-only --min-confidence 0.8 -o pools.rules
      poolscan export --format misp-feed -o results/misp-feed
      poolscan export --taxii http://127.0.0.1:5000/taxii2/ --collection ID --user U --password P
    """
    from scanner.store import Store, parse_time

    if taxii_url is None and fmt is None:
        raise UsageError("give --format FORMAT or --taxii URL --collection ID")
    if taxii_url is not None and collection is None:
        raise UsageError("--taxii needs --collection ID")
    if collection is not None and taxii_url is None:
        raise UsageError("--collection needs --taxii URL")
    if taxii_url is not None and fmt not in (None, "stix"):
        raise UsageError(f"--taxii pushes STIX; --format {fmt} cannot be pushed")
    if fmt == "misp-feed" and not output:
        raise UsageError("--format misp-feed writes a folder: give -o DIR")
    if (user is None) != (password is None):
        raise UsageError("--user and --password go together")
    since_dt = parse_time(since) if since else None

    store = Store.open(db_path, known_pools=known_pools, create=False)
    try:
        if run_id is not None and store.get_run(run_id) is None:
            raise UsageError(f"run {run_id!r} not found in {db_path}")
        pools = list(store.pools(since=since_dt, new_only=new_only, min_confidence=min_confidence,
                                 run_id=run_id))
    finally:
        store.close()

    if taxii_url is not None:
        from scanner.export.taxii import push

        result = push(pools, taxii_url, collection, user=user, password=password, timeout=timeout)
        click.echo(f"pushed {result['objects']} STIX objects for {len(pools)} pools to collection "
                   f"{collection}: {result['success_count']} ok, {result['failure_count']} failed, "
                   f"{result['pending_count']} pending, {result['already_present']} already there", err=True)
        if fmt == "stix" and output:
            EXPORTERS["stix"].to_path(pools, output)
        if result["failure_count"]:
            raise RunError(f"TAXII server rejected {result['failure_count']} objects: "
                           + json.dumps(result["failures"][:3], default=str)[:300])
        return

    exporter = EXPORTERS[fmt]
    if output and output != "-":
        paths = exporter.to_path(pools, output)
        click.echo(f"wrote {len(pools)} pools as {fmt} to {paths[0] if exporter.kind != 'dir' else output}",
                   err=True)
    else:
        text = exporter.render(pools)
        sys.stdout.write(text)
        sys.stdout.flush()
