"""Ad hoc probe latency: wall time of the real ``poolscan probe`` command, end to end (interpreter start-up
included), on an emulated pool and on a host whose 30 probed ports are all closed. Target < 1 s each.

The pool is the lab's ckpool persona (``python -m scanner.lab.serve --host 127.0.0.1 --personas ckpool``,
a separate process; recorded ckpool bytes). The 30 closed ports are 127.0.0.1 ports that were free a moment
before (bound to port 0 and released), so the kernel answers RST. Baselines in the same run: the interpreter
alone (``python -c pass``) and ``poolscan --help`` (start-up + CLI imports).

Timing: hyperfine (``--warmup 1``, ``--runs N``, JSON export; median) when it is installed, else repeated
``subprocess.run`` and the median.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT, median


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports of ``host`` that nothing listens on right now (bound then released)."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


#: a wide terminal for the table output (under pytest COLUMNS=80 makes rich wrap words across lines)
ENV = {**os.environ, "COLUMNS": "200"}


def time_command(argv: list[str], runs: int, use_hyperfine: bool = True) -> dict[str, Any]:
    """Median wall seconds of ``argv`` (hyperfine if present and ``use_hyperfine``). The command must exit 0
    (checked on the first run, whose output is kept: ``stdout_sample`` = its tail, ``names`` = whether it
    names ``ckpool`` / ``no open port``). With hyperfine the first run is a check only; without it, it is
    also the first timed run."""
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT, env=ENV)
    first = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()[-300:]}")
    out = p.stdout
    named = {w: (w in out) for w in ("ckpool", "no open port")}
    hf = shutil.which("hyperfine") if use_hyperfine else None
    if hf:
        with tempfile.TemporaryDirectory() as tmp:
            exp = Path(tmp) / "hf.json"
            cmd = " ".join(_quote(a) for a in argv)
            subprocess.run([hf, "--warmup", "1", "--runs", str(runs), "-N", "--export-json", str(exp), cmd],
                           capture_output=True, text=True, timeout=600, cwd=ROOT, check=True, env=ENV)
            res = json.loads(exp.read_text())["results"][0]
            return {"tool": "hyperfine", "median_s": res["median"], "mean_s": res["mean"], "min_s": res["min"],
                    "max_s": res["max"], "runs": len(res["times"]), "stdout_sample": out[-400:], "names": named}
    times = [first]  # the check run counts as the first timed run
    for _ in range(runs - 1):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, timeout=120, cwd=ROOT, env=ENV)
        times.append(time.perf_counter() - t0)
    return {"tool": "subprocess", "median_s": median(times), "min_s": min(times), "max_s": max(times),
            "runs": runs, "stdout_sample": out[-400:], "names": named}


def _quote(a: str) -> str:
    import shlex

    return shlex.quote(a)


def start_lab(personas: str, host: str = "127.0.0.1") -> tuple[subprocess.Popen, list[dict[str, Any]], str]:
    """Start ``python -m scanner.lab.serve`` and wait for its manifest; returns (process, manifest, tmpdir)."""
    tmp = tempfile.mkdtemp(prefix="poolscan-bench-lab-")
    manifest = Path(tmp) / "manifest.json"
    names = personas.split(",")
    # ports that were free a moment ago: never a real pool port that something else may be using
    ports = ",".join(f"{name}={p}" for name, p in zip(names, free_ports(len(names), host)))
    proc = subprocess.Popen([sys.executable, "-m", "scanner.lab.serve", "--host", host, "--personas", personas,
                             "--ports", ports, "--manifest", str(manifest)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    return proc, wait_manifest(proc, manifest, tmp), tmp


def wait_manifest(proc: subprocess.Popen, manifest: Path, tmp: str, timeout_s: float = 60.0) -> Any:
    """The lab's manifest once ``proc`` has written it; stops the lab and raises RuntimeError when the lab exits
    or ``timeout_s`` seconds pass first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if manifest.exists():
            return json.loads(manifest.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"lab did not start: {proc.stderr.read().strip()[-400:] if proc.stderr else ''}")
        time.sleep(0.1)
    stop_lab(proc, tmp)
    raise RuntimeError(f"lab did not write its manifest within {timeout_s:g} s")


def stop_lab(proc: subprocess.Popen, tmp: str) -> None:
    """Stop the lab process started by :func:`start_lab` (by its pid) and remove its directory."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    shutil.rmtree(tmp, ignore_errors=True)


def run(ctx: dict[str, Any]) -> dict[str, Any]:
    quick = ctx.get("quick", False)
    log = ctx.get("log", print)
    runs = 1 if quick else 10
    poolscan = [sys.executable, "-m", "scanner"]
    out: dict[str, Any] = {"what": "wall time of the real CLI, end to end incl. interpreter start-up",
                           "command_prefix": " ".join(poolscan), "target_s": 1.0}
    out["baseline_python"] = time_command([sys.executable, "-c", "pass"], runs, not quick)
    out["baseline_help"] = time_command([*poolscan, "--help"], runs, not quick)
    log(f"  latency python -c pass {out['baseline_python']['median_s']:.3f} s, poolscan --help "
        f"{out['baseline_help']['median_s']:.3f} s ({out['baseline_help']['tool']})")
    proc, manifest, tmp = start_lab("ckpool")
    try:
        ep = manifest[0]
        target = f"{ep['host']}:{ep['port']}"
        res = time_command([*poolscan, "probe", target], runs, not quick)
        if not res["names"]["ckpool"]:
            res["warning"] = "output does not name ckpool: " + res["stdout_sample"][-300:]
        out["pool"] = {"command": f"poolscan probe {target}", **res}
        if not quick:
            res = time_command([*poolscan, "probe", target, "--json", "--no-enrich"], runs)
            out["pool_json_no_enrich"] = {"command": f"poolscan probe {target} --json --no-enrich", **res}
            res = time_command([*poolscan, "probe", target, "--fast", "--json", "--no-enrich"], runs)
            out["pool_fast"] = {"command": f"poolscan probe {target} --fast --json --no-enrich", **res}
    finally:
        stop_lab(proc, tmp)
    closed = free_ports(30)
    spec = ",".join(map(str, closed))
    res = time_command([*poolscan, "probe", "127.0.0.1", "--ports", spec], runs, not quick)
    out["closed30"] = {"command": "poolscan probe 127.0.0.1 --ports <30 closed ports>", **res}
    for key in ("pool", "pool_json_no_enrich", "pool_fast", "closed30"):
        if key not in out:
            continue
        r = out[key]
        r["over_help_s"] = r["median_s"] - out["baseline_help"]["median_s"]
        r["meets_target"] = r["median_s"] < 1.0
        log(f"  latency {key:20s} {r['median_s']:.3f} s (target < 1 s; {r['over_help_s']:+.3f} s over --help)")
    return out
