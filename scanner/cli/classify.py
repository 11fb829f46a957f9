"""``poolscan classify FILE.jsonl|-``: re-label stored probe results with the current fingerprints.

Reads ProbeResult JSON lines (``poolscan probe --json --transcripts``, i.e. ``ProbeResult.to_dict()``),
classifies each record's transcripts again without sending a packet, and reports what changed. Text mode
prints one line per changed record and a summary; ``--json`` writes every record back as a ProbeResult JSON
line with the new verdict and a ``changed`` object ``{field: [old, new]}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any, Iterator

import click

from scanner.cli import cli
from scanner.errors import UsageError
from scanner.fingerprint import classify as classify_transcripts
from scanner.fingerprint import load_fingerprints
from scanner.fingerprint.observe import preview
from scanner.model import ProbeResult, Verdict, dumps

COMPARED = ("is_pool", "protocol", "software", "coin", "algo", "label")


def _records(fh: IO[str], name: str) -> Iterator[tuple[int, ProbeResult]]:
    for n, line in enumerate(fh, 1):
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            if "transcripts" not in d:
                raise ValueError("no 'transcripts' (write it with poolscan probe --json --transcripts)")
            yield n, ProbeResult.from_dict(d)
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{name}:{n}: not a ProbeResult record: {str(exc)[:120]}") from None


def changes(old: Verdict, new: Verdict) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the verdict fields that differ."""
    return {k: [getattr(old, k), getattr(new, k)] for k in COMPARED if getattr(old, k) != getattr(new, k)}


def reclassify(result: ProbeResult, fps: Any) -> tuple[ProbeResult, dict[str, list[Any]]]:
    """The record with a fresh verdict, and what changed."""
    v = classify_transcripts(result.transcripts, fps)
    new = ProbeResult(ip=result.ip, port=result.port, status=result.status, verdict=v,
                      transcripts=result.transcripts, tls=result.tls, enrichment=result.enrichment)
    return new, changes(result.verdict, v)


@cli.command("classify")
@click.argument("source", metavar="FILE.jsonl|-")
@click.option("--json", "as_json", is_flag=True, help="Write every record as a ProbeResult JSON line with the new verdict and 'changed'.")
@click.option("--fingerprints", "fp_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Fingerprint directory (default: the repository's fingerprints/).")
def classify_command(source: str, as_json: bool, fp_dir: Path | None) -> None:
    """Re-label stored probe results with the current fingerprints (no packet is sent).

    \b
    FILE.jsonl holds ProbeResult lines from `poolscan probe --json --transcripts`; `-` reads stdin.
    Prints what changed (ip:port, field: old -> new); --json writes the updated records.
    """
    fps = load_fingerprints(fp_dir)
    if source == "-":
        fh: IO[str] = sys.stdin
        name = "<stdin>"
    else:
        p = Path(source)
        if not p.is_file():
            raise UsageError(f"{source}: no such file")
        fh = p.open(encoding="utf-8", errors="replace")
        name = source
    total = changed = 0
    try:
        for _, rec in _records(fh, name):
            total += 1
            new, diff = reclassify(rec, fps)
            changed += bool(diff)
            if as_json:
                d = new.to_dict()
                d["changed"] = diff
                click.echo(dumps(d))
            elif diff:
                parts = ", ".join(f"{k}: {preview(a, 40)} -> {preview(b, 40)}" for k, (a, b) in diff.items())
                click.echo(f"{preview(rec.ip, 64)}:{rec.port}  {parts}")
    finally:
        if fh is not sys.stdin:
            fh.close()
    if not as_json:
        click.echo(f"{total} records, {changed} changed (fingerprints {fps.version})")
