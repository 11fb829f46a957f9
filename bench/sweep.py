"""Sweep: parse overhead of the masscan output parser, lines per second, per output format.

``scanner.sweep.masscan.parse_output_line`` is timed on N generated lines of each masscan 1.3.2 output shape
(shapes from ``../shared/reference/environment.md`` §1.5 and case C40): the stdout ``Discovered open port``
line, ``-oL``, ``-oJ`` (one record per line, trailing comma), ``-oD`` (NDJSON), ``-oG`` and ``-oX``. The
streaming path is timed too: the same ``-oL`` lines fed through an ``asyncio.StreamReader`` into the
sweep's own line reader (``_read_lines``) and parsed, as ``masscan_sweep`` does with masscan's stdout.

The baseline is the cost of reading and splitting the lines alone (``str.split`` of the whole text), so
``ratio_to_split`` says how much the parser adds. For scale: masscan sends at most ~350 kpps on this
machine (environment.md §1.4), and open ports are a small fraction of probes, so even 50k lines/s is far
above what a sweep produces.

masscan itself is not run here (it runs only inside the project's lab namespaces, measured by the sweep
module's tests; see the ``masscan_lab`` note in the result).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from bench import median, run_async


def _ip(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


FORMATS: dict[str, Callable[[int], str]] = {
    "discovered": lambda i: f"Discovered open port {3333 + i % 20}/tcp on {_ip(i)}",
    "oL": lambda i: f"open tcp {3333 + i % 20} {_ip(i)} {1700000000 + i}",
    "oJ": lambda i: ('{   "ip": "%s",   "timestamp": "%d", "ports": [ {"port": %d, "proto": "tcp", '
                     '"status": "open", "reason": "syn-ack", "ttl": 64} ] },') % (_ip(i), 1700000000 + i, 3333 + i % 20),
    "oD": lambda i: ('{"ip":"%s","timestamp":"%d","port":%d,"proto":"tcp","rec_type":"status",'
                     '"data":{"status":"open","reason":"syn-ack","ttl":64}}') % (_ip(i), 1700000000 + i, 3333 + i % 20),
    "oG": lambda i: f"Timestamp: {1700000000 + i}\tHost: {_ip(i)} ()\tPorts: {3333 + i % 20}/open/tcp//unknown//",
    "oX": lambda i: ('<host endtime="%d"><address addr="%s" addrtype="ipv4"/><ports><port protocol="tcp" '
                     'portid="%d"><state state="open" reason="syn-ack" reason_ttl="64"/></port></ports></host>')
                    % (1700000000 + i, _ip(i), 3333 + i % 20),
}


def run(ctx: dict[str, Any]) -> dict[str, Any]:
    quick = ctx.get("quick", False)
    log = ctx.get("log", print)
    from scanner.sweep.masscan import _read_lines, parse_output_line

    n = 2000 if quick else 200_000
    repeats = 1 if quick else 3
    out: dict[str, Any] = {"what": "scanner.sweep.masscan.parse_output_line, lines/s per masscan output format",
                           "lines": n, "repeats": repeats, "formats": {}}
    for name, make in FORMATS.items():
        lines = [make(i) for i in range(n)]
        text = "\n".join(lines)
        if parse_output_line(lines[1]) is None:
            out["formats"][name] = {"error": f"parser returned None for {lines[1]!r}"}
            continue
        times, base = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            text.split("\n")
            base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            found = sum(1 for s in lines if parse_output_line(s) is not None)
            times.append(time.perf_counter() - t0)
        t = median(times)
        out["formats"][name] = {"lines_per_s": n / t, "parsed": found, "split_only_lines_per_s": n / median(base),
                                "ratio_to_split": median(base) / t}
        log(f"  sweep parse {name:10s} {n / t:10.0f} lines/s ({found}/{n} parsed)")

    lines = [FORMATS["oL"](i) for i in range(n)]
    data = ("\n".join(lines) + "\n").encode()

    async def stream() -> int:
        reader = asyncio.StreamReader(limit=1 << 20)
        for i in range(0, len(data), 65536):
            reader.feed_data(data[i:i + 65536])
        reader.feed_eof()
        k = 0
        async for line in _read_lines(reader):
            if parse_output_line(line) is not None:
                k += 1
        return k

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        k = run_async(stream)
        times.append(time.perf_counter() - t0)
    out["stream_oL"] = {"lines_per_s": n / median(times), "parsed": k}
    log(f"  sweep stream -oL through _read_lines + parse: {n / median(times):.0f} lines/s")
    out["masscan_lab"] = ("not run by bench: masscan runs only inside the lab namespace; rate asked vs found is "
                          "measured by the sweep helper's tests")
    return out
