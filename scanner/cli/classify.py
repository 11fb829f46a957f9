"""``poolscan classify FILE.jsonl|-``: re-label stored probe results with the current fingerprints.

Reads ProbeResult JSON lines (``poolscan probe --json --transcripts``, i.e. ``ProbeResult.to_dict()``),
classifies each record's transcripts again without sending a packet, and reports what changed. Text mode
prints one line per changed record and a summary; ``--json`` writes every record back as a ProbeResult JSON
line with the new verdict and a ``changed`` object ``{field: [old, new]}``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from operator import attrgetter
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import click

from scanner.cli import cli
from scanner.errors import UsageError
from scanner.fingerprint import classify as classify_transcripts
from scanner.fingerprint import load_fingerprints
from scanner.fingerprint.observe import preview
from scanner.model import ProbeResult, Verdict, dumps

COMPARED = ("is_pool", "protocol", "software", "coin", "algo", "label")
#: The COMPARED fields of a Verdict as one tuple: equal tuples mean no change (one C call per verdict).
_compared = attrgetter(*COMPARED)
#: Changed results written per transaction by ``classify --db`` (memory stays flat however many change).
_WRITE_BATCH = 500


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
    if _compared(old) == _compared(new):  # the usual case: nothing changed
        return {}
    return {k: [getattr(old, k), getattr(new, k)] for k in COMPARED if getattr(old, k) != getattr(new, k)}


def reclassify(result: ProbeResult, fps: Any) -> tuple[ProbeResult, dict[str, list[Any]]]:
    """The record with a fresh verdict, and what changed."""
    v = classify_transcripts(result.transcripts, fps)
    new = ProbeResult(ip=result.ip, port=result.port, status=result.status, verdict=v,
                      transcripts=result.transcripts, tls=result.tls, enrichment=result.enrichment)
    return new, changes(result.verdict, v)


def _check_db(db: str) -> None:
    if not Path(db).is_file():
        raise UsageError(f"{db}: no such database (run poolscan scan first, or give --db)")


def _open_store(db: str) -> Any:
    from scanner.store import Store

    _check_db(db)
    return Store.open(db, create=False)


def _store_results(store: Any, run: str | None) -> Iterator[tuple[str, ProbeResult]]:
    runs = [run] if run else [r["id"] for r in store.runs()]
    for run_id in runs:
        if store.get_run(run_id) is None:
            raise UsageError(f"--run: no run {run_id!r} in the database")
        # Store.results reads a page at a time and holds no cursor open while a result is out here, so the
        # caller may write between results; memory is bounded by one page
        for r in store.results(run_id):
            yield run_id, r


#: Results per page handed to a worker by ``classify --db --jobs N``.
_JOB_PAGE = 500

# Worker state (one per worker process of ``classify --db --jobs``): the fingerprint set (inherited from the
# parent when the platform forks, else loaded once) and the worker's own read-only store connection.
_WORKER: dict[str, Any] = {}


def _worker_init(db: str, fp_dir: Path | None, fps: Any) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool, prints nothing twice
    _WORKER.update(db=db, fp_dir=fp_dir, fps=fps, store=None)


def _pool(jobs: int, db: str, fp_dir: Path | None, fps: Any) -> Any:
    """The worker processes of ``classify --db --jobs``, started before the parent opens the store (SQLite: no
    connection may cross a fork). Fork shares the loaded fingerprints; elsewhere each worker loads them."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    inherit = fps if ctx.get_start_method() == "fork" else None
    return ctx.Pool(jobs, initializer=_worker_init, initargs=(db, fp_dir, inherit))


def _classify_page(job: tuple[str, tuple[str, int] | None]) -> tuple[int, list[tuple[ProbeResult, Verdict, dict]]]:
    """In a worker: classify one page of a run; ``(results read, [(stored record, new verdict, changes)])`` for
    the records whose verdict changes (the only ones sent back to the parent)."""
    from scanner.store import Store

    run_id, after = job
    if _WORKER.get("fps") is None:
        _WORKER["fps"] = load_fingerprints(_WORKER.get("fp_dir"))
    if _WORKER.get("store") is None:
        _WORKER["store"] = Store.open(_WORKER["db"], create=False)
    page = _WORKER["store"].results_page(run_id, after, _JOB_PAGE)
    # the transcripts stay here: the parent writes verdicts only
    return len(page), [(replace(rec, transcripts=()), v, diff) for rec, v, diff in _changed(page, _WORKER["fps"])]


def _changed(records: Iterable[ProbeResult], fps: Any) -> list[tuple[ProbeResult, Verdict, dict]]:
    """``(record, new verdict, changes)`` for the records whose verdict the current fingerprints change (no new
    ProbeResult is built for the others, most of them)."""
    out = []
    for rec in records:
        v = classify_transcripts(rec.transcripts, fps)
        diff = changes(rec.verdict, v)
        if diff:
            out.append((rec, v, diff))
    return out


def _db_records(store: Any, run: str | None, fps: Any,
                pool: Any) -> Iterator[tuple[str, int, list[tuple[ProbeResult, Verdict, dict]]]]:
    """``(run id, results read, [(record, new verdict, changes)])`` per page of the store, in store order;
    with a ``pool`` (:func:`_pool`) the pages are read and classified by its worker processes (each with its
    own connection; the parent only writes), in the same order."""
    runs = [run] if run else [r["id"] for r in store.runs()]
    for run_id in runs:
        if store.get_run(run_id) is None:
            raise UsageError(f"--run: no run {run_id!r} in the database")
    if pool is None:
        for run_id in runs:
            for rec in store.results(run_id):
                yield run_id, 1, _changed((rec,), fps)
        return
    pages = [(run_id, after) for run_id in runs for after in store.page_starts(run_id, _JOB_PAGE)]
    for (run_id, _), (n, page_changes) in zip(pages, pool.imap(_classify_page, pages)):
        yield run_id, n, page_changes


def _classify_db(db: str, run: str | None, fps: Any, as_json: bool, dry_run: bool, jobs: int = 1,
                 fp_dir: Path | None = None) -> None:
    _check_db(db)
    pool = _pool(jobs, db, fp_dir, fps) if jobs > 1 else None
    try:
        _classify_store(_open_store(db), run, fps, as_json, dry_run, pool)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _classify_store(store: Any, run: str | None, fps: Any, as_json: bool, dry_run: bool, pool: Any) -> None:
    total = changed = 0
    pending: list[tuple[str, ProbeResult]] = []

    def flush() -> None:
        # One transaction per batch (Store.save_verdicts: the verdict columns and the pools rows; the
        # transcripts, unchanged, stay as stored).
        if not dry_run:
            by_run: dict[str, list[ProbeResult]] = {}
            for run_id, new in pending:
                by_run.setdefault(run_id, []).append(new)
            for run_id, news in by_run.items():
                store.save_verdicts(run_id, news)
        pending.clear()

    progress = _Progress(store, run) if sys.stderr.isatty() else None
    try:
        for run_id, n, page_changes in _db_records(store, run, fps, pool):
            total += n
            for rec, v, diff in page_changes:
                changed += 1
                pending.append((run_id, replace(rec, verdict=v)))
                if len(pending) >= _WRITE_BATCH:
                    flush()
                if as_json:
                    click.echo(dumps({"run": run_id, "ip": rec.ip, "port": rec.port, "changed": diff}))
                else:
                    parts = ", ".join(f"{k}: {preview(a, 40)} -> {preview(b, 40)}" for k, (a, b) in diff.items())
                    click.echo(f"{run_id} {preview(rec.ip, 64)}:{rec.port}  {parts}")
            if progress is not None and total - progress.shown >= 500:
                progress.update(total, changed)
    finally:
        if progress is not None:
            progress.stop()
        # Ctrl-C or an error: the verdicts already computed are written (one transaction), not lost
        flush()
    if not as_json:
        verb = "would change" if dry_run else "changed"
        click.echo(f"{total} stored results, {changed} {verb} (fingerprints {fps.version})")


class _Progress:
    """A transient progress line on a terminal's stderr (rich), for ``classify --db`` over a large store:
    results classified of the total, changed, results/s. Redrawn at most 4 times a second."""

    def __init__(self, store: Any, run: str | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from scanner.cli.output import stderr

        if run is None:
            n = store.db.conn.execute("SELECT count(*) FROM verdicts").fetchone()[0]
        else:
            n = store.db.conn.execute("SELECT count(*) FROM verdicts WHERE run_id = ?", (run,)).fetchone()[0]
        self.bar = Progress(TextColumn("classify"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[changed]} changed"), TimeRemainingColumn(),
                            console=stderr, transient=True, refresh_per_second=4)
        self.task = self.bar.add_task("classify", total=int(n), changed=0)
        self.shown = 0
        self.bar.start()

    def update(self, done: int, changed: int) -> None:
        self.shown = done
        self.bar.update(self.task, completed=done, changed=changed)

    def stop(self) -> None:
        self.bar.stop()


@cli.command("classify")
@click.argument("source", metavar="[FILE.jsonl|-]", required=False)
@click.option("--db", default=None, type=click.Path(dir_okay=False),
              help="Re-label the transcripts stored in this SQLite store instead of a file (updates verdicts "
                   "and pools).")
@click.option("--run", "run", default=None, help="With --db: only this run (default: every run).")
@click.option("--dry-run", is_flag=True, help="With --db: report what would change, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Write every record as a ProbeResult JSON line with the new verdict and 'changed'.")
@click.option("--jobs", "-j", type=click.IntRange(0, 256), default=1, show_default=True,
              help="With --db: worker processes that read and classify (0: one per CPU); the output and the "
                   "writes are the same as with one.")
@click.option("--fingerprints", "fp_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Fingerprint directory (default: the repository's fingerprints/).")
def classify_command(source: str | None, db: str | None, run: str | None, dry_run: bool, as_json: bool,
                     jobs: int, fp_dir: Path | None) -> None:
    """Re-label stored probe results with the current fingerprints (no packet is sent).

    \b
    FILE.jsonl holds ProbeResult lines from `poolscan probe --json --transcripts`; `-` reads stdin.
    --db PATH re-labels the transcripts of a store (all runs, or --run RUN) and updates it.
    Prints what changed (ip:port, field: old -> new); --json writes the updated records.
    """
    fps = load_fingerprints(fp_dir)
    if (source is None) == (db is None):
        raise UsageError("give either FILE.jsonl (or -) or --db PATH")
    if db is not None:
        import os

        _classify_db(db, run, fps, as_json, dry_run, jobs=jobs or (os.cpu_count() or 1), fp_dir=fp_dir)
        return
    if jobs != 1:
        raise UsageError("--jobs: only with --db")
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


@cli.command("unknowns")
@click.argument("source", metavar="[FILE.jsonl|-]", required=False)
@click.option("--db", default=None, type=click.Path(dir_okay=False), help="Read the results of a SQLite store.")
@click.option("--run", "run", default=None, help="With --db: only this run.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per group.")
@click.option("--fingerprints", "fp_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def unknowns_command(source: str | None, db: str | None, run: str | None, as_json: bool, fp_dir: Path | None) -> None:
    """List services that answered but match no software rule, grouped by the shape of their replies.

    \b
    Each group: how many, example ip:ports, and the reply shape per probe (JSON keys kept, values
    abstracted) — the material for a new fingerprint in fingerprints/software/.
    """
    from scanner.fingerprint.unknowns import group_unknowns

    fps = load_fingerprints(fp_dir)
    if (source is None) == (db is None):
        raise UsageError("give either FILE.jsonl (or -) or --db PATH")
    if db is not None:
        results = (reclassify(r, fps)[0] for _, r in _store_results(_open_store(db), run))
    else:
        fh = sys.stdin if source == "-" else None
        if fh is None:
            p = Path(source)
            if not p.is_file():
                raise UsageError(f"{source}: no such file")
            fh = p.open(encoding="utf-8", errors="replace")
        results = (reclassify(r, fps)[0] for _, r in _records(fh, source))
    groups = group_unknowns(results)
    for g in groups:
        if as_json:
            click.echo(dumps(g.to_dict()))
            continue
        click.echo(f"{g.count} x  is_pool={'/'.join(map(str, sorted(g.is_pool, key=str)))}  "
                   f"e.g. {', '.join(preview(e, 64) for e in g.examples)}")
        for s in g.shape:
            click.echo(f"    {preview(s, 200)}")
    if not as_json:
        click.echo(f"{sum(g.count for g in groups)} unknown results in {len(groups)} shapes")
