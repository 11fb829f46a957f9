"""masscan inside the project's own lab namespaces: rate asked vs achieved, open ports found vs expected.

Runs only as root with masscan installed (otherwise the section says why it was skipped). It builds a lab of
its own with :func:`scanner.lab.netns.lab_up` (namespaces ``<name>-scan`` / ``<name>-tgt`` joined by one veth
pair, no default route: checked by the lab and again by the masscan runner before every start), opens a
sparse set of ports in the target namespace (:func:`scanner.lab.netns.spawn_listener`), sweeps with the sweep
API (``scanner.sweep.sweep(engine="masscan", netns=...)``) at several rates, and always tears the lab down.
No packet leaves the two namespaces.

Per rate: probes (targets x ports), wall seconds, achieved probes/s (probes / wall, start-up and ``--wait``
included, so a lower bound), found / expected and the missing pairs. Reference:
``../shared/reference/environment.md`` §1.4 (send ceiling ~350 kpps; answer bursts lost at dense targets).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from typing import Any

PORTS = [3333, 3334, 4444, 5555, 7777, 8008, 8888, 9999, 14433, 14444]
SUBNET = "10.76.0.0/16"  # 65,536 addresses, all inside the bench's own lab namespaces
#: (rate asked, targets): each sweep sends for a few seconds, so start-up and --wait do not dominate
PLAN = [(1000, "10.76.0.0/24"), (10000, "10.76.0.0/20"), (100000, "10.76.0.0/16"), (300000, "10.76.0.0/16")]


def run(ctx: dict[str, Any]) -> dict[str, Any]:
    quick = ctx.get("quick", False)
    log = ctx.get("log", print)
    if os.geteuid() != 0:
        return {"skipped": "not root: masscan runs only inside the project's network namespaces"}
    if shutil.which("masscan") is None:
        return {"skipped": "masscan is not installed"}
    from scanner.lab import netns
    from scanner.sweep import SweepReport, sweep
    from scanner.targets import parse_targets

    plan = PLAN[:2] if quick else PLAN
    name = f"psb{os.getpid() % 100000}"
    st = netns.lab_up(hosts=16, name=name, subnet=SUBNET, serve=False)
    out: dict[str, Any] = {"what": "masscan via scanner.sweep.sweep(engine='masscan') in the bench's own lab "
                                   "namespaces", "lab": name, "subnet": SUBNET, "ports": PORTS, "runs": []}
    listener = None
    try:
        h = st["hosts"]
        expected = sorted([(h[0], 3333), (h[0], 14444), (h[3], 4444), (h[5], 8008), (h[7], 9999), (h[11], 3334),
                           (h[12], 5555), (h[15], 7777)])
        listener = netns.spawn_listener(st["tgt_ns"], expected)
        for rate, spec in plan:
            targets = parse_targets(spec, allow_reserved=True)
            rep = SweepReport()

            async def go() -> list[tuple[str, int]]:
                return [(o.ip, o.port) async for o in sweep(targets, PORTS, engine="masscan", rate=rate,
                                                          netns=st["scan_ns"], report=rep)]

            t0 = time.monotonic()
            try:
                got = asyncio.run(go())
                err = None
            except Exception as exc:  # recorded: a failed sweep is a result too
                got, err = [], f"{type(exc).__name__}: {exc}"[:300]
            wall = time.monotonic() - t0
            found = sorted(set(got) & set(expected))
            row = {"rate_asked": rate, "targets": spec, "rate_used": rep.rate, "probes": rep.probes, "wall_s": wall,
                   "achieved_probes_per_s_lower_bound": rep.probes / wall if wall else None,
                   "found": len(found), "expected": len(expected),
                   "missing": [f"{ip}:{p}" for ip, p in expected if (ip, p) not in set(got)],
                   "unexpected": [f"{ip}:{p}" for ip, p in got if (ip, p) not in set(expected)],
                   "canary_seen": rep.canary_seen, "warnings": rep.warnings, "error": err}
            out["runs"].append(row)
            log(f"  masscan rate {rate:>7d}: {len(found)}/{len(expected)} found, {rep.probes} probes in "
                f"{wall:.1f} s{' ERROR ' + err if err else ''}")
    finally:
        if listener is not None:
            listener.terminate()
            listener.wait(10)
        netns.lab_down(name)
    return out
