"""Run a campaign: lock -> pick or resume the run -> sweep -> probe/classify/enrich/store -> export ->
report -> push, with a progress display.

Crash safety (``kill -9`` at any moment): every probed ip:port is saved in its own SQLite transaction by
:func:`scanner.pipeline.run_scan`; the run's status stays ``running`` until the exports and the report are
written, and only then becomes ``ok``. So a killed run is always found again by
:func:`scanner.campaign.runs.unfinished_run`, and re-running it sweeps again with the saved seed (the
open ports found before the kill are found again), skips every ip:port already stored for the run, and
probes the rest: no result lost, no row duplicated (ids are deterministic per run, ip, port).

Signals: SIGINT/SIGTERM cancel the pipeline after the results already classified are stored; the run is
marked ``interrupted`` (resumed by the next run). Exit codes (:attr:`RunOutcome.exit_code`): 0 ok, 1 the
run failed or a post-scan step (export, report, push) failed, 130 interrupted; bad configuration raises
:class:`scanner.errors.UsageError` (exit 2) before anything is sent.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from scanner import aio
from scanner.campaign.lock import CampaignLock, lock_path
from scanner.campaign.runs import (diff_runs, previous_finished, require_run, run_counts, unfinished_run)
from scanner.config import Campaign
from scanner.errors import PoolscanError, RunError, UsageError

def new_seed() -> int:
    """A fresh sweep seed in [1, 2**31 - 1] (the range :mod:`scanner.sweep.masscan` draws from itself)."""
    return secrets.randbelow(2**31 - 1) + 1



#: Seconds after SIGINT/SIGTERM before the remaining tasks are cancelled again (see ``go``).
STOP_GRACE_S = 1.0


@dataclass
class RunOutcome:
    """What :func:`run_campaign` did. ``status``: ok | failed | interrupted. ``counts``: what the run
    stored (all sessions) plus this session's pipeline counters. ``post_errors``: export/report/push
    failures (the scan itself finished). ``diff``: counts of new/gone/changed against ``previous``."""

    run_id: str
    campaign: str
    status: str
    resumed: bool
    seed: int | None
    counts: dict[str, Any]
    db_path: str
    out_dir: str | None = None
    exports: dict[str, str] = field(default_factory=dict)
    report: str | None = None
    previous: str | None = None
    diff: dict[str, int] = field(default_factory=dict)
    new_pools: list[dict] = field(default_factory=list)
    post_errors: list[str] = field(default_factory=list)
    error: str | None = None
    stale_lock: dict | None = None
    elapsed_s: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return 130
        if self.status != "ok" or self.post_errors:
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "run_id", "campaign", "status", "resumed", "seed", "counts", "db_path", "out_dir", "exports", "report",
            "previous", "diff", "post_errors", "error", "stale_lock", "elapsed_s")} | {"exit_code": self.exit_code}


# ------------------------------------------------------------------------------------------ progress
@dataclass
class Progress:
    """Live state of a run, read by the displays. Times in seconds (monotonic), rates per second."""

    campaign: str
    run_id: str
    stage: str = "starting"
    total_probes: int = 0  # targets x ports (+ pairs): the sweep's work
    sweep_rate: float = 0.0  # packets/s asked
    started: float = field(default_factory=time.monotonic)
    sweep_done_at: float | None = None
    counters: Any = None  # scanner.pipeline.Counters
    sweep_report: Any = None  # scanner.sweep.SweepReport
    already_done: int = 0  # results stored by earlier sessions of a resumed run

    def snapshot(self) -> dict[str, Any]:
        """Numbers for a display: stage, elapsed_s, open, probed, pools..., rate (probed/s), eta_s (None
        when unknown), sweep_pct (None when unknown)."""
        c = self.counters
        now = time.monotonic()
        elapsed = now - self.started
        d = c.as_dict() if c is not None else {}
        probed = d.get("probed", 0)
        rate = probed / elapsed if elapsed > 0 else 0.0
        sweep_done = bool(c and c.sweep_done)
        if sweep_done and self.sweep_done_at is None:
            self.sweep_done_at = now
        sweep_est = self.total_probes / self.sweep_rate if self.sweep_rate > 0 else None
        sweep_pct = 100.0 if sweep_done else (min(99.0, 100.0 * elapsed / sweep_est) if sweep_est else None)
        eta = None
        todo = d.get("open_ports", 0) - probed
        if sweep_done:
            eta = (todo / rate) if rate > 0 else (0.0 if todo == 0 else None)
        elif sweep_est is not None:
            eta = max(0.0, sweep_est - elapsed) + ((todo / rate) if rate > 0 else 0.0)
        return {"stage": self.stage, "elapsed_s": elapsed, "open_ports": d.get("open_ports", 0), "probed": probed,
                "pools": d.get("pools", 0), "not_pools": d.get("not_pools", 0), "unknown": d.get("unknown", 0),
                "errors": d.get("errors", 0), "skipped": d.get("skipped", 0), "rate": rate, "eta_s": eta,
                "sweep_pct": sweep_pct, "total_probes": self.total_probes, "already_done": self.already_done}


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


def progress_line(p: Progress) -> str:
    """One plain-text progress line (logs, non-terminal stderr)."""
    s = p.snapshot()
    sweep = "?" if s["sweep_pct"] is None else f"{s['sweep_pct']:.0f}%"
    return (f"[{p.campaign} {p.run_id}] {s['stage']}: sweep {sweep} of {s['total_probes']} probes | open "
            f"{s['open_ports']} | probed {s['probed']} ({s['rate']:.1f}/s) | pools {s['pools']} | not pools "
            f"{s['not_pools']} | unknown {s['unknown']} | errors {s['errors']} | resumed-skip {s['skipped']} | "
            f"elapsed {_fmt_s(s['elapsed_s'])} | eta {_fmt_s(s['eta_s'])}")


def progress_renderable(p: Progress) -> Any:
    """A rich renderable of the progress (for ``rich.live.Live``)."""
    from rich.table import Table

    s = p.snapshot()
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("campaign", f"{p.campaign}  run {p.run_id}")
    t.add_row("stage", s["stage"] + (f"  (resumed: {s['already_done']} results already stored)"
                                     if s["already_done"] else ""))
    bar = ""
    if s["sweep_pct"] is not None:
        n = int(s["sweep_pct"] / 5)
        bar = "█" * n + "░" * (20 - n) + f" {s['sweep_pct']:.0f}%"
    t.add_row("sweep", f"{bar} of {s['total_probes']} probes at {p.sweep_rate:g}/s".strip())
    t.add_row("probed", f"{s['probed']} of {s['open_ports']} open ports ({s['rate']:.1f}/s)"
              + (f", {s['skipped']} already stored" if s["skipped"] else ""))
    t.add_row("found", f"[bold green]{s['pools']} pools[/]  {s['not_pools']} not pools  {s['unknown']} unknown"
              f"  {s['errors']} errors")
    t.add_row("time", f"elapsed {_fmt_s(s['elapsed_s'])}  eta {_fmt_s(s['eta_s'])}")
    return t


class _Display:
    """Shows :class:`Progress`: ``live`` (rich Live on a terminal), ``log`` (one line every ``interval``
    seconds and at each stage change) or ``none``."""

    def __init__(self, mode: str, progress: Progress, interval: float, echo: Callable[[str], None]) -> None:
        self.mode, self.p, self.interval, self.echo = mode, progress, interval, echo
        self.live: Any = None
        self.last = 0.0
        self.last_stage = ""

    def __enter__(self) -> "_Display":
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            self.live = Live(progress_renderable(self.p), console=Console(stderr=True, highlight=False),
                             refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def tick(self) -> None:
        if self.mode == "live" and self.live is not None:
            self.live.update(progress_renderable(self.p))
        elif self.mode == "log":
            now = time.monotonic()
            if self.p.stage != self.last_stage or now - self.last >= self.interval:
                self.last, self.last_stage = now, self.p.stage
                self.echo(progress_line(self.p))

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None


# ------------------------------------------------------------------------------------------ the run
def check_push_credentials(campaign: Campaign) -> None:
    """Raise :class:`UsageError` when ``[exports.push]`` names an environment variable that is not set
    (checked before the run starts, so a nightly job fails at once, exit 2)."""
    push = campaign.exports.push
    if push is None:
        return
    for key in ("username_env", "password_env"):
        var = getattr(push, key)
        if var and var not in os.environ:
            raise UsageError(f"{campaign.path}: [exports.push] {key}: environment variable {var} is not set")


def _sweep_options(campaign: Campaign, seed: int) -> dict[str, Any]:
    sw = campaign.sweep
    opts: dict[str, Any] = {}
    if sw.engine == "masscan":
        opts["seed"] = seed
        if sw.shards:
            opts["shards"] = sw.shards
        if sw.netns:
            opts["netns"] = sw.netns
        if sw.production:
            opts["production"] = True
        if sw.wait_s is not None:
            opts["wait"] = sw.wait_s
        if sw.passes != 1:
            opts["passes"] = sw.passes
    else:
        if sw.shards:
            opts["shard"] = sw.shards
        if sw.connect_timeout_s is not None:
            opts["timeout"] = sw.connect_timeout_s
        if sw.concurrency is not None:
            opts["concurrency"] = sw.concurrency
    return opts


def _enrich_options(campaign: Campaign) -> Any:
    if not campaign.enrich.enabled:
        return None
    try:
        from scanner.enrich import EnrichOptions
    except ImportError:
        return None
    return EnrichOptions(mmdb=list(campaign.enrich.mmdb), web=campaign.enrich.web)


def _check_resume(store: Any, campaign: Campaign, resume: str) -> dict:
    prior = require_run(store, resume, campaign.name)
    if prior.get("status") == "ok":
        raise UsageError(f"run {resume} is already finished (status ok); nothing to resume")
    return prior


def select_run(store: Any, campaign: Campaign, resume: str | None, new: bool) -> tuple[str, bool, int]:
    """Start or resume the campaign's run; returns ``(run_id, resumed, seed)``.

    ``resume`` given: that run (must exist, belong to the campaign and not be finished). Else, unless
    ``new``: the campaign's latest run when unfinished (``running`` after a kill, ``interrupted``). Else a
    new run with the config's seed or a fresh random one. The seed is saved with the run.
    Raises :class:`UsageError` for a bad ``resume``.
    """
    args = {"campaign_file": campaign.path, "config_sha256": campaign.source_hash, "config": campaign.to_dict()}
    prior = None
    if resume is not None:
        prior = _check_resume(store, campaign, resume)
    elif not new:
        prior = unfinished_run(store, campaign.name)
    if prior is not None:
        seed = prior.get("seed")
        if seed is None:
            seed = campaign.sweep.seed if campaign.sweep.seed is not None else new_seed()
            store.db.table("runs").update(prior["id"], {"seed": seed})
        run_id = store.start_run(kind="campaign", args=args, campaign=campaign.name, seed=seed, run_id=prior["id"])
        return run_id, True, int(seed)
    seed = campaign.sweep.seed if campaign.sweep.seed is not None else new_seed()
    run_id = store.start_run(kind="campaign", args=args, campaign=campaign.name, seed=seed)
    return run_id, False, seed


def run_campaign(campaign: Campaign, *, resume: str | None = None, new: bool = False, display: str = "none",
                 progress_interval: float = 60.0, echo: Callable[[str], None] | None = None) -> RunOutcome:
    """Run (or resume) ``campaign`` to the end and return a :class:`RunOutcome`.

    ``display``: ``live`` | ``log`` | ``none`` (see :class:`_Display`); ``echo`` prints a log line (default:
    stderr). Raises :class:`UsageError` (bad config, bad ``resume``, missing push credentials: nothing was
    sent) and :class:`scanner.campaign.lock.CampaignLocked` (another run of the campaign is alive, exit 1).
    Everything else that goes wrong ends in ``RunOutcome.status`` (failed) or ``post_errors``.
    """
    echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    check_push_credentials(campaign)
    from scanner.targets import parse_ports, parse_targets

    targets = parse_targets(campaign.targets.spec(), allow_reserved=campaign.exclusions.allow_reserved,
                            extra_excludes=campaign.exclusions.ranges, exclude_files=campaign.exclusions.files)
    ports = parse_ports(campaign.ports.spec())
    from scanner.lab.netns import check_socket_scope

    # A lab's addresses exist only inside its namespaces: from anywhere else they would be routed out.
    check_socket_scope([(str(a), str(b)) for a, b in targets.ranges] + [(str(ip), str(ip)) for ip, _ in targets.pairs])
    t0 = time.monotonic()
    with CampaignLock(lock_path(campaign.db_path, campaign.name), campaign.name) as lock:
        if lock.stale:
            echo(f"poolscan: took over the lock of campaign {campaign.name} left by pid "
                 f"{lock.stale.get('pid')} (since {lock.stale.get('since')}), which is no longer running")
        from scanner.store import Store

        store = Store.open(campaign.db_path)
        try:
            outcome = _run_locked(store, campaign, targets, ports, resume, new, display, progress_interval, echo)
        finally:
            store.close()
        outcome.stale_lock = lock.stale
    outcome.elapsed_s = round(time.monotonic() - t0, 3)
    return outcome


def _run_locked(store: Any, campaign: Campaign, targets: Any, ports: list[int], resume: str | None, new: bool,
                display: str, progress_interval: float, echo: Callable[[str], None]) -> RunOutcome:
    from scanner.pipeline import Counters, run_scan
    from scanner.probes.engine import ProbeOptions
    from scanner.sweep import SweepReport, TarpitGuard, sweep

    # Load the fingerprints and the probe plan before the event loop starts: their first load (YAML, JSON
    # Schema validation) takes seconds of CPU, which inside the loop would stall open probe connections
    # into timeouts (and wrong verdicts). A broken fingerprint file fails here, before the run is created.
    from scanner.fingerprint import load_fingerprints
    from scanner.probes.engine import load_plan

    if resume is not None:  # a bad --resume is a usage error: say so before the slow loading
        _check_resume(store, campaign, resume)
    fingerprints = load_fingerprints()
    load_plan()
    run_id, resumed, seed = select_run(store, campaign, resume, new)
    prior = store.get_run(run_id) or {}
    if resumed:
        old_hash = (prior.get("args") or {}).get("config_sha256")
        echo(f"poolscan: resuming run {run_id} of campaign {campaign.name} (seed {seed})"
             + ("; note: the campaign file changed since the run started" if old_hash and old_hash != campaign.source_hash
                else ""))
    counters = Counters()
    report = SweepReport()
    tarpit = TarpitGuard(threshold=campaign.sweep.tarpit_threshold)
    progress = Progress(campaign=campaign.name, run_id=run_id, total_probes=targets.probe_count(ports),
                        sweep_rate=float(campaign.sweep.rate), counters=counters, sweep_report=report,
                        already_done=len(store.done_targets(run_id)) if resumed else 0)
    options = ProbeOptions(limits=campaign.probe.limits(), fast=campaign.probe.fast, tls=campaign.probe.tls,
                           fingerprints=fingerprints)
    enrich_options = _enrich_options(campaign)
    out_root = campaign.out_dir
    outcome = RunOutcome(run_id=run_id, campaign=campaign.name, status="running", resumed=resumed, seed=seed,
                         counts={}, db_path=str(campaign.db_path))

    async def go() -> None:
        progress.stage = "sweep + probe"
        open_ports = sweep(targets, ports, engine=campaign.sweep.engine, rate=campaign.sweep.rate, report=report,
                           tarpit=tarpit, **_sweep_options(campaign, seed))
        main = asyncio.ensure_future(run_scan(open_ports, store=store, run_id=run_id, probe_options=options,
                                              concurrency=campaign.probe.concurrency, enrich_options=enrich_options,
                                              counters=counters, is_tarpit=tarpit.is_tarpit))
        loop = asyncio.get_running_loop()
        stop_at: list[float] = []

        def on_signal() -> None:
            stop_at.append(time.monotonic())
            progress.stage = "stopping"
            main.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, on_signal)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        with _Display(display, progress, progress_interval, echo) as disp:
            while not main.done():
                if counters.sweep_done and progress.stage == "sweep + probe":
                    progress.stage = "probe"
                if stop_at and time.monotonic() - stop_at[-1] > STOP_GRACE_S:
                    # A stage still blocked in its clean-up after the first cancel (e.g. a feeder waiting
                    # on a full queue whose consumers are gone): cancel every other task again. Every
                    # stored result is already committed, so nothing is lost.
                    stop_at.append(time.monotonic())
                    for t in asyncio.all_tasks():
                        if t is not asyncio.current_task():
                            t.cancel()
                disp.tick()
                await asyncio.wait({main}, timeout=0.25)
            progress.stage = "stored"
            disp.tick()
        await main

    status = "ok"
    try:
        aio.run(go())
    except (KeyboardInterrupt, asyncio.CancelledError):
        status = "interrupted"
    except PoolscanError as exc:
        status, outcome.error = "failed", str(exc)
    except Exception as exc:  # the run failed: record it, report one line, keep the traceback in a file
        status, outcome.error = "failed", f"{type(exc).__name__}: {exc}"
        _write_traceback(out_root / run_id, traceback.format_exc())
    counts = run_counts(store, run_id)
    counts.update({"session": counters.as_dict(), "sweep": report.to_dict(), "resumed": resumed,
                   "tarpits": sorted(tarpit.flagged)})
    outcome.counts = counts
    if status != "ok":
        store.finish_run(run_id, status=status, counts=counts)
        outcome.status = status
        return outcome

    # The scan is complete. Exports, report and push come before the status turns ok, so a kill -9 here
    # leaves the run unfinished and the next run redoes them (they are idempotent files).
    try:
        _after_scan(store, campaign, run_id, outcome, counts)
    except Exception as exc:  # never leave a complete scan unfinished because of a report or export bug
        outcome.post_errors.append(f"after the scan: {type(exc).__name__}: {exc}")
        _write_traceback(out_root / run_id, traceback.format_exc())
    if outcome.post_errors:
        counts["post_errors"] = outcome.post_errors
    store.finish_run(run_id, status="ok", counts=counts)
    outcome.status = "ok"
    return outcome


def _after_scan(store: Any, campaign: Campaign, run_id: str, outcome: RunOutcome, counts: dict[str, Any]) -> None:
    """Diff against the previous finished run, exports, report, push and the ``latest`` link (the scan
    itself is complete). Failures of single steps go to ``outcome.post_errors``."""
    out_root = campaign.out_dir
    run = store.get_run(run_id) or {"id": run_id, "campaign": campaign.name, "started_at": ""}
    prev = previous_finished(store, run)
    outcome.previous = prev["id"] if prev else None
    delta = diff_runs(store, prev["id"], run_id) if prev else None
    if delta is not None:
        outcome.diff = {k: len(delta[k]) for k in ("new", "gone", "changed")}
        new_ids = {d["id"] for d in delta["new"]}
    else:
        new_ids = None  # no previous run: every pool is new
    pools = list(store.pools(run_id=run_id))
    outcome.new_pools = [p for p in pools if new_ids is None or p["id"] in new_ids]
    counts["new"] = len(outcome.new_pools)
    counts.update({f"diff_{k}": v for k, v in outcome.diff.items()})
    out_dir = out_root / run_id
    outcome.out_dir = str(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        outcome.post_errors.append(f"{out_dir}: cannot create the output directory ({exc.strerror})")
    if not outcome.post_errors:
        exported = pools
        if campaign.exports.delta_only and delta is not None:
            keep = new_ids | {d["id"] for d in delta["changed"]}
            exported = [p for p in pools if p["id"] in keep]
        counts["exported"] = len(exported)
        outcome.exports = _write_exports(campaign, exported, out_dir, outcome.post_errors)
        if campaign.exports.report:
            try:
                from scanner.report import write_report

                path = write_report(store, run_id, out_dir / "report.html", history=campaign.exports.history,
                                    status="ok")
                outcome.report = str(path)
            except Exception as exc:  # a report failure must not lose the run
                outcome.post_errors.append(f"report: {type(exc).__name__}: {exc}")
        if campaign.exports.push is not None:
            try:
                counts["push"] = {k: v for k, v in _push(campaign, exported).items()
                                  if k in ("objects", "success_count", "failure_count", "already_present")}
            except Exception as exc:
                outcome.post_errors.append(f"push to {campaign.exports.push.taxii_url}: {type(exc).__name__}: {exc}")
        _link_latest(out_root, run_id)


def _write_traceback(directory: Path, text: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "error.txt").write_text(text, encoding="utf-8")
    except OSError:
        pass


def export_path(out_dir: Path, fmt: str, suffix: str = "") -> Path:
    """Where format ``fmt`` goes in a run directory: ``pools.jsonl``, ``pools.csv``, ``pools.stix.json``,
    ``pools.suricata.rules``... (``pools.<fmt><suffix>``, or ``pools<suffix>`` when the suffix is the name)."""
    return out_dir / (f"pools{suffix}" if suffix == f".{fmt}" else f"pools.{fmt}{suffix}")


def _write_exports(campaign: Campaign, pools: list[dict], out_dir: Path, errors: list[str]) -> dict[str, str]:
    """Write each configured format into ``out_dir`` (text formats atomically; folder formats such as
    ``misp-feed`` into ``out_dir/<format>/``). Failures are appended to ``errors``."""
    written: dict[str, str] = {}
    try:
        from scanner.export import EXPORTERS
    except ImportError as exc:
        errors.append(f"exports: scanner.export is not available ({exc})")
        return written
    for fmt in campaign.exports.formats:
        try:
            exp = EXPORTERS[fmt]
            if exp.kind == "dir":
                path = out_dir / fmt
            else:
                path = export_path(out_dir, fmt, exp.suffix)
            exp.to_path(list(pools), path)
            written[fmt] = str(path)
        except Exception as exc:
            errors.append(f"export {fmt}: {type(exc).__name__}: {exc}")
    return written


def _link_latest(out_root: Path, run_id: str) -> None:
    """Point ``out_root/latest`` at the run's directory (atomic symlink replace; best effort)."""
    link = out_root / "latest"
    tmp = out_root / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_id, tmp)
        os.replace(tmp, link)
    except OSError:
        pass


def _push(campaign: Campaign, pools: list[dict]) -> dict:
    """Push the STIX bundle of ``pools`` to the TAXII 2.1 collection of ``[exports.push]``
    (:func:`scanner.export.taxii.push`, which skips objects the collection already holds). Raises
    :class:`RunError` when the server reports failures."""
    push = campaign.exports.push
    assert push is not None
    from scanner.export import taxii

    user = os.environ.get(push.username_env) if push.username_env else None
    password = os.environ.get(push.password_env) if push.password_env else None
    result = taxii.push(pools, url=push.taxii_url, collection_id=push.collection, user=user, password=password)
    if result.get("failure_count"):
        raise RunError(f"{result['failure_count']} object(s) refused by the TAXII server")
    return result
