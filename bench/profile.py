"""Profile the probe path: ``python -m bench.profile [--kind dialogue|cryptonote|probe_port|classify] [--loop L]
[--n N]``.

Runs the same client as :mod:`bench.throughput` (or ``classify`` over the lab corpus of :mod:`bench.classify`)
under a profiler and prints where the time goes: pyinstrument (``pip install pyinstrument`` into .venv) when
it is importable, else the standard library's cProfile sorted by own time. Not part of ``make bench`` (a
profiler changes the timings it measures); use it to find what to fix, then re-run ``make bench``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys

from bench import ServerProcess
from bench.fastpool import hosts_range


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile")
    ap.add_argument("--kind", choices=("dialogue", "cryptonote", "probe_port", "classify"), default="dialogue")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--cprofile", action="store_true", help="use cProfile even when pyinstrument is installed")
    a = ap.parse_args(argv)
    try:
        if a.cprofile:
            raise ImportError
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None  # noqa: N806

    def work() -> None:
        if a.kind == "classify":
            from bench.classify import make_corpus
            from scanner.fingerprint import classify, load_fingerprints

            fps = load_fingerprints()
            corpus = make_corpus("default")
            items = [corpus[i % len(corpus)] for i in range(a.n)]
            start()
            for r in items:
                classify(r.transcripts, fps)
            return
        from bench.throughput import _measure

        with ServerProcess(["-m", "bench.fastpool", "--hosts", ",".join(hosts_range("127.77", 32))]) as srv:
            _measure(a.kind, a.loop, srv, min(500, a.n), a.concurrency)  # warm-up, not profiled
            start()
            res = _measure(a.kind, a.loop, srv, a.n, a.concurrency)
            print(f"{a.kind} {a.loop} c={a.concurrency}: {res['per_s']:.0f}/s under the profiler, "
                  f"{1000 * res['client_cpu_s'] / max(1, res['ok']):.3f} ms client CPU per cycle", file=sys.stderr)

    if Profiler is not None:
        prof = Profiler(interval=0.0005)
        started = []

        def start() -> None:
            prof.start()
            started.append(1)

        work()
        if started:
            prof.stop()
        print(prof.output_text(unicode=False, color=False))
    else:
        cp = cProfile.Profile()

        def start() -> None:  # noqa: F811
            cp.enable()

        work()
        cp.disable()
        s = io.StringIO()
        pstats.Stats(cp, stream=s).sort_stats("tottime").print_stats(30)
        print(s.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
