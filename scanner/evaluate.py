"""``make eval``: replay every recorded conversation through the real probe engine and measure the verdicts.

Every lab persona (``scanner.lab.personas``: the real pool software recorded on loopback, the public
real-world cases of ``../shared/cases``, the non-pools, the hostile peers) is served on a loopback port; the
real engine probes each one over real sockets; each verdict is compared with the persona's ``expect``. The
recordings of real software answering poolscan's own probes (``tests/transcripts/real``) are classified again
offline and scored with them (rows named ``real:<file>@<port>``).

Written to ``results/eval.json``:
  * ``is_pool``: confusion matrix (expected true/false/null x got true/false/null), precision and recall of
    "is a pool", the list of false pools (a negative or a can't-tell peer called a pool);
  * ``software``, ``coin``, ``algo``, ``protocol``: over the personas where the expected value is determinable
    (not null), the share right; plus "claimed" errors where the expected value is null and a value was given;
  * ``cases``: one row per persona with expected and got.
Targets (issue #4): is_pool precision >= 99.5% with no false pool, software right >= 95%, coin right >= 95%.

Usage: ``python -m scanner.evaluate [--out results/eval.json] [--personas all]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

FIELDS = ("protocol", "software", "coin", "algo")


def _key(v: Any) -> str:
    return {True: "true", False: "false", None: "null"}.get(v, str(v))


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Confusion matrices and rates from rows ``{"persona", "expect": {...}, "got": {...}}``."""
    matrix: dict[str, dict[str, int]] = {e: {g: 0 for g in ("true", "false", "null")} for e in ("true", "false", "null")}
    for r in rows:
        matrix[_key(r["expect"].get("is_pool"))][_key(r["got"].get("is_pool"))] += 1
    tp = matrix["true"]["true"]
    fp = matrix["false"]["true"] + matrix["null"]["true"]
    fn = matrix["true"]["false"] + matrix["true"]["null"]
    out: dict[str, Any] = {
        "is_pool": {
            "matrix": matrix,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "false_pools": [r["persona"] for r in rows
                            if r["got"].get("is_pool") is True and r["expect"].get("is_pool") is not True],
            "missed_pools": [r["persona"] for r in rows
                             if r["expect"].get("is_pool") is True and r["got"].get("is_pool") is not True],
        }
    }
    for f in FIELDS:
        # A field absent from an expectation is not judged (recording headers name only what they know).
        determinable = [r for r in rows if r["expect"].get("is_pool") is True and r["expect"].get(f) is not None]
        right = [r for r in determinable if r["got"].get(f) == r["expect"].get(f)]
        claimed = [r for r in rows if r["expect"].get("is_pool") is True and f in r["expect"]
                   and r["expect"][f] is None and r["got"].get(f) is not None]
        confusion: dict[str, dict[str, int]] = {}
        for r in determinable + claimed:
            e, g = _key(r["expect"].get(f)), _key(r["got"].get(f))
            confusion.setdefault(e, {}).setdefault(g, 0)
            confusion[e][g] += 1
        out[f] = {
            "determinable": len(determinable),
            "right": len(right),
            "accuracy": round(len(right) / len(determinable), 4) if determinable else None,
            "wrong": [{"persona": r["persona"], "expect": r["expect"].get(f), "got": r["got"].get(f)}
                      for r in determinable if r not in right],
            "claimed_when_not_determinable": [{"persona": r["persona"], "got": r["got"].get(f)} for r in claimed],
            "confusion": confusion,
        }
    labels = [r for r in rows if r["expect"].get("is_pool") is False and r["expect"].get("label")]
    out["label"] = {"determinable": len(labels),
                    "right": sum(1 for r in labels if r["got"].get("label") == r["expect"].get("label")),
                    "wrong": [{"persona": r["persona"], "expect": r["expect"]["label"], "got": r["got"].get("label")}
                              for r in labels if r["got"].get("label") != r["expect"].get("label")]}
    return out


RECORDINGS = Path(__file__).resolve().parents[1] / "tests" / "transcripts" / "real"


def recorded_rows(fps: Any, directory: Path = RECORDINGS) -> list[dict[str, Any]]:
    """Rows for the recordings of real software answering poolscan's own probes (``tests/transcripts/real``:
    a header line with ``expect``, then ``ProbeResult`` lines), classified again offline — the engine's
    transcripts are replayed through the classifier, no packet is sent."""
    from scanner.fingerprint import classify
    from scanner.model import ProbeResult

    rows: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else ():
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        if not lines or "expect" not in lines[0]:
            continue
        header, records = lines[0], [ProbeResult.from_dict(d) for d in lines[1:]]
        for rec in records:
            v = classify(rec.transcripts, fps)
            rows.append({
                "persona": f"real:{path.stem}@{rec.port}", "port": rec.port,
                "source": f"{header.get('software')} {header.get('version')} ({path.name}, offline classify)",
                "expect": dict(header["expect"]),
                "got": {"is_pool": v.is_pool, "label": v.label, "protocol": v.protocol, "software": v.software,
                        "coin": v.coin, "algo": v.algo, "confidence": v.confidence, "status": rec.status.value,
                        "tls": rec.tls},
                "probes": [f"{t.probe}{'+tls' if t.tls else ''}:{t.status.value}" for t in rec.transcripts],
                "evidence": list(v.evidence[:6]),
            })
    return rows


async def evaluate(personas: str = "all", fast: bool = False) -> dict[str, Any]:
    """Serve ``personas`` on loopback, probe each with the real engine, and score the verdicts."""
    from scanner.fingerprint import load_fingerprints
    from scanner.lab.serve import LoopbackLab
    from scanner.probes.engine import ProbeOptions, probe_port

    fps = load_fingerprints()
    options = ProbeOptions(fingerprints=fps, fast=fast)
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    async with LoopbackLab(personas=personas, host="127.0.0.1", real_ports=False) as lab:
        eps = [ep for ep in lab.endpoints if ep.expect is not None]
        sem = asyncio.Semaphore(16)

        async def one(ep: Any) -> None:
            async with sem:
                r = await probe_port(ep.host, ep.port, options)
            v = r.verdict
            rows.append({
                "persona": ep.persona, "port": ep.port, "source": ep.source,
                "expect": {k: ep.expect.get(k) for k in ("is_pool", "label", *FIELDS)},
                "got": {"is_pool": v.is_pool, "label": v.label, "protocol": v.protocol, "software": v.software,
                        "coin": v.coin, "algo": v.algo, "confidence": v.confidence, "status": r.status.value,
                        "tls": r.tls},
                "probes": [f"{t.probe}{'+tls' if t.tls else ''}:{t.status.value}" for t in r.transcripts],
                "evidence": list(v.evidence[:6]),
            })

        await asyncio.gather(*(one(ep) for ep in eps))
    rows += recorded_rows(fps)
    rows.sort(key=lambda r: r["persona"])
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fingerprints_version": fps.version,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "elapsed_s": round(time.monotonic() - t0, 2),
        "personas": len(rows),
        "scores": score(rows),
        "rows": rows,
    }


def render(report: dict[str, Any]) -> str:
    """A short text summary of an evaluation report."""
    s = report["scores"]
    ip = s["is_pool"]
    lines = [f"evaluated {report['personas']} personas and recordings in {report['elapsed_s']} s "
             f"(fingerprints {report['fingerprints_version']})",
             "is_pool confusion (rows = expected, columns = got: true false null):"]
    for e in ("true", "false", "null"):
        m = ip["matrix"][e]
        lines.append(f"  {e:>5}: {m['true']:>4} {m['false']:>5} {m['null']:>4}")
    lines.append(f"is_pool precision {ip['precision']}  recall {ip['recall']}  false pools: {ip['false_pools'] or 'none'}")
    if ip["missed_pools"]:
        lines.append(f"missed pools: {ip['missed_pools']}")
    for f in FIELDS:
        x = s[f]
        lines.append(f"{f:>8}: {x['right']}/{x['determinable']} right ({x['accuracy']})"
                     + (f"; wrong: {x['wrong']}" if x["wrong"] else "")
                     + (f"; claimed when not determinable: {x['claimed_when_not_determinable']}"
                        if x["claimed_when_not_determinable"] else ""))
    lb = s["label"]
    lines.append(f"non-pool labels: {lb['right']}/{lb['determinable']} right" + (f"; wrong: {lb['wrong']}" if lb["wrong"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scanner.evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/eval.json")
    ap.add_argument("--personas", default="all")
    ap.add_argument("--fast", action="store_true")
    args = ap.parse_args(argv)
    report = asyncio.run(evaluate(args.personas, args.fast))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(render(report))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
