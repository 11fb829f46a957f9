"""``python -m bench.run --out results [--quick] [--only NAME[,NAME]] [--memory-sizes N,N]``

Runs the benchmarks of issue 8 in order (:data:`BENCHMARKS`), prints the machine and a short table, and
writes ``<out>/bench-<UTC date>.json`` (``bench-<date>-quick.json`` with ``--quick``). A benchmark that fails
is recorded with its error and the others still run; the exit code is then 1. ``--quick`` uses tiny sizes
(the smoke test, tens of seconds). Only loopback addresses are ever contacted.

JSON shape: ``{"machine": {...}, "started_at", "finished_at", "quick", "load_avg": [before, after],
"benchmarks": {name: {..., "seconds": s} | {"error": "..."}}, "summary": [{"benchmark", "metric",
"value", "unit", "target", "ok"}]}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import machine

BENCHMARKS = ("throughput", "classify", "latency", "sweep", "masscan_lab", "memory")


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def summarise(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per headline number: benchmark, metric, value, unit, target, ok (None when no target)."""
    rows: list[dict[str, Any]] = []

    def add(bench: str, metric: str, value: Any, unit: str, target: str | None = None, ok: bool | None = None) -> None:
        rows.append({"benchmark": bench, "metric": metric, "value": value, "unit": unit, "target": target, "ok": ok})

    t = results.get("throughput") or {}
    for r in (*t.get("rows", ()), *(t.get("cryptonote") or {}).get("rows", ())):
        name = f"{r['kind']} {r['loop']} c={r['concurrency']}"
        if r["kind"].startswith("floor"):
            add("throughput", name, round(r["per_s"]), "cycles/s")
        else:
            ratio = r.get("ratio_to_floor")
            add("throughput", name, round(r["per_s"]), "handshakes/s", ">= 3000 and >= 0.60 x floor",
                r["per_s"] >= 3000 and (ratio or 0) >= 0.60)
            add("throughput", name + " / floor", round(ratio or 0, 3), "ratio")
            if r.get("cpu_ratio_to_floor") is not None:
                add("throughput", name + " CPU floor/handshake", round(r["cpu_ratio_to_floor"], 3), "ratio")
    c = results.get("classify") or {}
    if "in_memory" in c:
        add("classify", "in memory", round(c["in_memory"]["transcripts_per_s"]), "transcripts/s", ">= 20000",
            c["in_memory"]["transcripts_per_s"] >= 20000)
        calm = c["in_memory"].get("without_floods")
        if calm:
            add("classify", "in memory, without the flood results", round(calm["transcripts_per_s"]), "transcripts/s")
        add("classify", "from SQLite store", round(c["from_store"]["transcripts_per_s"]), "transcripts/s",
            ">= 20000", c["from_store"]["transcripts_per_s"] >= 20000)
        if "cli_db" in c:
            add("classify", "poolscan classify --db", round(c["cli_db"]["transcripts_per_s"]),
                "transcripts/s (end to end)", ">= 20000", c["cli_db"]["transcripts_per_s"] >= 20000)
        jobs = c.get("cli_db_all_cores") or {}
        if "transcripts_per_s" in jobs:
            add("classify", f"poolscan classify --db --jobs {jobs['jobs']}", round(jobs["transcripts_per_s"]),
                "transcripts/s (all cores)")
        add("classify", "store read (Store.results)", round(c["from_store"]["read_only_transcripts_per_s"]),
            "transcripts/s")
        add("classify", f"store write (batches of {c['from_store'].get('write_batch', 1)})",
            round(c["from_store"]["write_results_per_s"]), "results/s")
        if "write_single_results_per_s" in c["from_store"]:
            add("classify", "store write (one transaction per result)",
                round(c["from_store"]["write_single_results_per_s"]), "results/s")
        if "transcripts_per_s" in c.get("cli_jsonl", {}):
            add("classify", "poolscan classify FILE.jsonl", round(c["cli_jsonl"]["transcripts_per_s"]),
                "transcripts/s (end to end)")
    la = results.get("latency") or {}
    for key in ("baseline_python", "baseline_help", "pool", "pool_json_no_enrich", "pool_fast", "closed30"):
        if key in la:
            target = "< 1 s" if key in ("pool", "pool_json_no_enrich", "pool_fast", "closed30") else None
            add("latency", la[key].get("command", key), round(la[key]["median_s"], 3), "s median", target,
                (la[key]["median_s"] < 1.0) if target else None)
    s = results.get("sweep") or {}
    for name, f in (s.get("formats") or {}).items():
        if "lines_per_s" in f:
            add("sweep", f"parse {name}", round(f["lines_per_s"]), "lines/s")
    if "stream_oL" in s:
        add("sweep", "stream -oL (_read_lines + parse)", round(s["stream_oL"]["lines_per_s"]), "lines/s")
    ml = results.get("masscan_lab") or {}
    for r in ml.get("runs", ()):
        add("sweep", f"masscan in lab rate {r['rate_asked']}", f"{r['found']}/{r['expected']}", "open ports found",
            "all", r["found"] == r["expected"])
        if r.get("achieved_probes_per_s_lower_bound"):
            add("sweep", f"masscan in lab rate {r['rate_asked']} achieved",
                round(r["achieved_probes_per_s_lower_bound"]), "probes/s (incl. start-up)")
    m = results.get("memory") or {}
    for r in m.get("runs", ()):
        add("memory", f"peak RSS n={r['n']}", round(r["peak_rss_mb"], 1), "MB", "< 300", r["peak_rss_mb"] < 300)
        rss = r["rss_mb"]
        add("memory", f"RSS 10%/50%/100% n={r['n']}",
            "/".join(f"{rss.get(k) or 0:.0f}" for k in ("10%", "50%", "100%")), "MB")
        add("memory", f"pipeline rate n={r['n']}", round(r["results_per_s"]), "results/s")
    sb = m.get("store_batching") or {}
    if "batched_results_per_s" in sb:
        add("memory", f"pipeline n={sb['n']} one transaction per result",
            round(sb["one_transaction_per_result_results_per_s"]), "results/s")
        add("memory", f"pipeline n={sb['n']} batched store writes", round(sb["batched_results_per_s"]), "results/s")
    for sd in m.get("sweep_dedup") or ():
        if "growth_mb" in sd:
            add("memory", f"sweep de-dup RSS growth n={sd['n']}", round(sd["mb_per_million"], 1),
                "MB per million open ports")
            add("memory", f"sweep de-dup peak RSS n={sd['n']}", round(sd["peak_rss_mb"], 1), "MB", "< 300",
                sd["peak_rss_mb"] < 300)
    return rows


def print_table(mach: dict[str, Any], rows: list[dict[str, Any]], errors: dict[str, str]) -> None:
    print(f"machine: {mach['cores']} cores, {mach.get('cpu')}, Python {mach['python']}, "
          f"uvloop {mach.get('uvloop') or 'not installed'}")
    w = max([len(r["metric"]) for r in rows] + [10])
    print(f"{'benchmark':11s} {'metric':{w}s} {'value':>12s}  {'unit':22s} target")
    for r in rows:
        ok = "" if r["ok"] is None else (" ok" if r["ok"] else " MISSED")
        print(f"{r['benchmark']:11s} {r['metric']:{w}s} {str(r['value']):>12s}  {r['unit']:22s} "
              f"{r['target'] or ''}{ok}")
    for name, err in errors.items():
        print(f"{name}: FAILED: {err}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description="poolscan benchmarks (issue 8)")
    ap.add_argument("--out", default="results", help="directory for bench-<date>.json")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--only", help=f"comma list of: {', '.join(BENCHMARKS)}")
    ap.add_argument("--memory-sizes", help="comma list of open-port counts for the memory benchmark "
                                           "(default 100000,1000000; quick 400)")
    args = ap.parse_args(argv)
    chosen = list(BENCHMARKS)
    if args.only:
        chosen = [x.strip() for x in args.only.split(",") if x.strip()]
        bad = [x for x in chosen if x not in BENCHMARKS]
        if bad:
            print(f"error: --only: unknown benchmark {', '.join(bad)} (known: {', '.join(BENCHMARKS)})",
                  file=sys.stderr)
            return 2
    sizes = None
    if args.memory_sizes:
        try:
            sizes = [int(x) for x in args.memory_sizes.split(",") if x.strip()]
            if not sizes or min(sizes) < 1:
                raise ValueError
        except ValueError:
            print(f"error: --memory-sizes {args.memory_sizes!r}: positive integers separated by commas",
                  file=sys.stderr)
            return 2
    os.environ.setdefault("POOLSCAN_NO_INTERNET", "1")
    mach = machine()
    print(f"poolscan bench: {', '.join(chosen)}{' (quick)' if args.quick else ''} on {mach['cores']} cores, "
          f"Python {mach['python']}, uvloop {mach.get('uvloop') or 'not installed'}, load {_loadavg()}", flush=True)
    started = datetime.now(timezone.utc)
    load_before = _loadavg()
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    ctx = {"quick": args.quick, "log": lambda s: print(s, flush=True), "memory_sizes": sizes}
    for name in chosen:
        print(f"[{name}]", flush=True)
        t0 = time.perf_counter()
        if name == "masscan_lab" and args.quick and not args.only:
            results[name] = {"skipped": "quick mode (builds network namespaces; run --only masscan_lab)",
                             "seconds": 0.0}
            continue
        try:
            mod = importlib.import_module(f"bench.{name}")
            res = mod.run(ctx)
            res["seconds"] = round(time.perf_counter() - t0, 2)
            results[name] = res
        except Exception as exc:  # one failed benchmark never hides the others
            errors[name] = f"{type(exc).__name__}: {exc}"[:500]
            results[name] = {"error": errors[name], "traceback": traceback.format_exc()[-2000:],
                             "seconds": round(time.perf_counter() - t0, 2)}
    rows = summarise(results)
    doc = {"machine": mach, "started_at": started.isoformat(timespec="seconds"),
           "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
           "load_avg": [load_before, _loadavg()], "benchmarks": results, "summary": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{started:%Y-%m-%d}{'-quick' if args.quick else ''}.json"
    if args.only and path.exists():
        # a partial run adds to (and replaces its own sections of) the same day's file
        try:
            old = json.loads(path.read_text())
            old_b = old.get("benchmarks", {})
            old_b.update(results)
            doc["benchmarks"] = old_b
            doc["summary"] = summarise(old_b)
        except (ValueError, OSError):
            pass
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)
    print()
    print_table(mach, rows, errors)
    print(f"\nwritten: {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
