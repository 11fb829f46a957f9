"""poolscan benchmarks (issue 8): ``python -m bench.run --out results [--quick] [--only NAME]``.

Every benchmark is a module of this package with ``run(ctx) -> dict``; :mod:`bench.run` calls them, prints
a short table and writes ``results/bench-<date>.json``. Only loopback (127.0.0.0/8) is ever contacted.

Helpers shared by the benchmarks live here: the machine description, medians, the resident set size
(``/proc/self/status``: VmRSS = now, VmHWM = peak, kilobytes -> MB), a loop factory for plain asyncio or
uvloop, and :class:`ServerProcess`, which starts a benchmark server in its own process (so the client and
the server do not share one event loop on a 2-core machine) and waits for its ``READY <json>`` line.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict[str, Any]:
    """The machine a run measured: cores, CPU model, Python, uvloop version (or None), kernel, sysctls."""
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import uvloop

        uv = uvloop.__version__
    except ImportError:
        uv = None
    sysctls = {}
    for name in ("net/ipv4/ip_local_port_range", "net/ipv4/tcp_tw_reuse", "net/core/somaxconn",
                 "net/ipv4/tcp_max_tw_buckets"):
        try:
            sysctls[name.replace("/", ".")] = " ".join(Path("/proc/sys", name).read_text().split())
        except OSError:
            pass
    return {
        "cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
        "implementation": platform.python_implementation(), "uvloop": uv, "kernel": platform.release(),
        "sysctl": sysctls,
    }


def median(values: Sequence[float]) -> float | None:
    """Median of ``values`` (None when empty)."""
    return statistics.median(values) if values else None


def proc_status_mb(key: str = "VmRSS", pid: int | str = "self") -> float | None:
    """``key`` (VmRSS = resident now, VmHWM = peak resident) of process ``pid`` from /proc, in MB (2**20 B)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A loop factory for ``asyncio.Runner``: ``asyncio`` (the default selector loop) or ``uvloop``.

    Raises ``RuntimeError`` when uvloop is asked for and not installed."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError as exc:  # pragma: no cover - uvloop is a declared dependency
            raise RuntimeError("uvloop is not installed") from exc
        return uvloop.new_event_loop
    if kind == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"loop {kind!r}: use 'asyncio' or 'uvloop'")


def run_async(coro_fn: Callable[[], Any], loop: str = "asyncio") -> Any:
    """Run ``coro_fn()`` on a fresh event loop of kind ``loop`` and return its result."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(coro_fn())


@dataclass
class ServerProcess:
    """A benchmark server in a child process: ``argv`` is run with the project's Python, and must print one
    line ``READY {json}`` on stdout once listening (the JSON is kept in ``info``). Stopped with SIGTERM (then
    SIGKILL after ``grace_s``); only this child is signalled, by its pid."""

    argv: list[str]
    ready_timeout_s: float = 30.0
    grace_s: float = 5.0
    info: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def __enter__(self) -> "ServerProcess":
        self.proc = subprocess.Popen([sys.executable, *self.argv], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + self.ready_timeout_s
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                if line.startswith("READY "):
                    self.info = json.loads(line[6:])
                    return self
                if not line and self.proc.poll() is not None:
                    break
            elif self.proc.poll() is not None:
                break
        err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        self.stop()
        raise RuntimeError(f"benchmark server {' '.join(self.argv)} did not start: {err.strip()[-500:]}")

    def cpu_s(self) -> float | None:
        """User + system CPU seconds used so far by the server process (from /proc/PID/stat)."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def cpu_times() -> float:
    """User + system CPU seconds of this process."""
    t = os.times()
    return t.user + t.system
