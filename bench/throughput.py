"""Probe throughput: complete Stratum v1 and CryptoNote pool handshakes per second against the cost floor,
same run.

Server: :mod:`bench.fastpool` in its own process (uvloop), listening on ``hosts`` 127.77.0.x addresses (the
client spreads connections over them so that loopback's ephemeral ports and TIME_WAIT never run out,
``../shared/reference/environment.md`` §7).

Client (this process), for each loop (plain asyncio, uvloop) and each concurrency C, N cycles per run,
``repeats`` runs, floor and pool runs interleaved:

* ``floor``: ``asyncio.open_connection`` -> write one 50-byte JSON line -> ``readline`` -> close (the echo
  port): the cost of any Python prober on this machine.
* ``dialogue``: the real transport and dialogue: ``scanner.transport.run.run_dialogue`` with a
  ``scanner.probes.dialogue.Stratum1Dialogue(fast=True)`` against the fast ckpool: configure + subscribe,
  reply + set_difficulty + notify, authorize, reply, close (2 round trips). A cycle counts only if the
  transcript is ``success`` and the dialogue saw the first job (``got_notify``) and the authorize answer.
* ``cryptonote``: the same for CryptoNote: ``run_dialogue`` with a
  ``scanner.probes.dialogue.CryptoNoteDialogue(fast=True)`` against the fast pool's ``cn_port`` (the recorded
  cryptonote-nodejs-pool login reply): ``login``, reply carrying the first job, close (1 round trip by
  protocol, like the floor). A cycle counts only if the transcript is ``success`` and the dialogue saw the job
  (``dialogue.job``). Measured exactly like ``dialogue`` (same levels, both loops, interleaved with the floors).
* ``probe_port`` (one concurrency, both loops): ``scanner.probes.engine.probe_port(ip, port,
  ProbeOptions(fast=True, only=("stratum1",), tls="never"))`` = the above + classify; counts when the
  verdict says ``is_pool`` true.

Reported per setting: median cycles/s over the runs, client and server CPU seconds per 1,000 cycles, and
``ratio`` = dialogue median / floor median (target >= 0.60) and the absolute target 3,000 handshakes/s.

JSON: ``rows`` holds the floors, ``dialogue`` (Stratum v1) and ``probe_port`` rows; the CryptoNote rows are
in ``cryptonote.rows`` (same row shape, kind ``cryptonote``) and ``side_by_side`` puts, per loop and
concurrency, the floor, the Stratum v1 and the CryptoNote handshake rates, ratios and client CPU together.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from bench import ServerProcess, cpu_times, median, run_async
from bench.fastpool import hosts_range

FLOOR_LINE = b'{"id":1,"method":"mining.subscribe","params":["poolscan/0.1.0"]}\n'  # 66 bytes


async def floor_cycle(host: str, port: int) -> bool:
    """connect + one line + read one line + close; True when the echo came back whole."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(FLOOR_LINE)
        line = await reader.readline()
        return line == FLOOR_LINE
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


class _FloorProtocol(asyncio.Protocol):
    """The cheapest asyncio client: write one line on connect, resolve when it has come back whole."""

    def __init__(self, done: "asyncio.Future[bool]") -> None:
        self.done = done
        self.buf = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(FLOOR_LINE)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\n" in self.buf and not self.done.done():
            self.done.set_result(self.buf == FLOOR_LINE)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(False)


async def floor_protocol_cycle(host: str, port: int) -> bool:
    """The floor without streams (``loop.create_connection`` + an ``asyncio.Protocol``), the same API as the
    transport under test: connect + one line + read it back + close; True when the echo came back whole."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()
    transport, _ = await loop.create_connection(lambda: _FloorProtocol(done), host, port)
    try:
        return await done
    finally:
        transport.close()


def make_dialogue_cycle() -> Callable[[str, int], Awaitable[bool]]:
    from scanner.model import Status
    from scanner.probes.dialogue import Stratum1Dialogue
    from scanner.transport.limits import Limits
    from scanner.transport.run import run_dialogue

    limits = Limits()

    async def cycle(host: str, port: int) -> bool:
        d = Stratum1Dialogue(limits, host=host, port=port, fast=True)
        t = await run_dialogue(host, port, d, limits)
        return t.status is Status.SUCCESS and d.got_notify and d.state == "job"

    return cycle


def make_cryptonote_cycle() -> Callable[[str, int], Awaitable[bool]]:
    from scanner.model import Status
    from scanner.probes.dialogue import CryptoNoteDialogue
    from scanner.transport.limits import Limits
    from scanner.transport.run import run_dialogue

    limits = Limits()

    async def cycle(host: str, port: int) -> bool:
        d = CryptoNoteDialogue(limits, host=host, port=port, fast=True)
        t = await run_dialogue(host, port, d, limits)
        return t.status is Status.SUCCESS and d.job is not None

    return cycle


def make_probe_cycle() -> Callable[[str, int], Awaitable[bool]]:
    from scanner.fingerprint import load_fingerprints
    from scanner.probes.engine import ProbeOptions, probe_port

    options = ProbeOptions(fast=True, only=("stratum1",), tls="never", fingerprints=load_fingerprints())

    async def cycle(host: str, port: int) -> bool:
        r = await probe_port(host, port, options)
        return r.verdict.is_pool is True

    return cycle


async def drive(cycle: Callable[[str, int], Awaitable[bool]], hosts: list[str], port: int, n: int,
                concurrency: int) -> dict[str, Any]:
    """Run ``n`` cycles, ``concurrency`` at a time, round-robin over ``hosts``; returns counts and seconds."""
    counter = iter(range(n))
    ok = 0
    failed = 0
    errors: dict[str, int] = {}
    nh = len(hosts)

    async def worker() -> None:
        nonlocal ok, failed
        for i in counter:
            try:
                good = await cycle(hosts[i % nh], port)
            except Exception as exc:  # counted, never fatal: a benchmark reports its failures
                good = False
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            if good:
                ok += 1
            else:
                failed += 1

    t0 = time.perf_counter()
    c0 = cpu_times()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    wall = time.perf_counter() - t0
    return {"n": n, "ok": ok, "failed": failed, "errors": errors, "wall_s": wall,
            "client_cpu_s": cpu_times() - c0, "per_s": ok / wall if wall > 0 else 0.0}


def _measure(kind: str, loop: str, srv: ServerProcess, n: int, concurrency: int) -> dict[str, Any]:
    hosts = srv.info["hosts"]
    port = (srv.info["echo_port"] if kind.startswith("floor") else
            srv.info["cn_port"] if kind == "cryptonote" else srv.info["pool_port"])

    async def go() -> dict[str, Any]:
        cycle = {"floor": lambda: floor_cycle, "floor_protocol": lambda: floor_protocol_cycle,
                 "dialogue": make_dialogue_cycle, "cryptonote": make_cryptonote_cycle,
                 "probe_port": make_probe_cycle}[kind]()
        return await drive(cycle, hosts, port, n, concurrency)

    s0 = srv.cpu_s()
    res = run_async(go, loop)
    s1 = srv.cpu_s()
    res["server_cpu_s"] = (s1 - s0) if s0 is not None and s1 is not None else None
    return res


def run(ctx: dict[str, Any]) -> dict[str, Any]:
    """The throughput benchmark. ``ctx``: quick (bool), log (callable). Returns the JSON section."""
    quick = ctx.get("quick", False)
    log = ctx.get("log", print)
    loops = ["asyncio", "uvloop"]
    levels = [10, 50] if quick else [10, 100, 1000]
    n = 200 if quick else 10000
    n_probe = 200 if quick else 4000
    repeats = 1 if quick else 3
    nhosts = 4 if quick else 32
    kinds = ("floor", "floor_protocol", "dialogue", "cryptonote")
    rows: list[dict[str, Any]] = []
    cn_rows: list[dict[str, Any]] = []
    side: list[dict[str, Any]] = []
    with ServerProcess(["-m", "bench.fastpool", "--loop", "uvloop",
                        "--hosts", ",".join(hosts_range("127.77", nhosts))]) as srv:
        _measure("floor", "asyncio", srv, min(n, 2000), 100)  # warm-up (server, kernel, caches)
        for loop in loops:
            for c in levels:
                runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
                for _ in range(repeats):
                    for kind in kinds:  # interleaved, so that load from elsewhere hits all kinds alike
                        runs[kind].append(_measure(kind, loop, srv, n, c))
                got = {kind: _row(kind, loop, c, rs) for kind, rs in runs.items()}
                # The floor is the faster of the two ways to do connect + send + read + close.
                floor = max(got["floor"], got["floor_protocol"], key=lambda r: r["per_s"])
                cheap = min(got["floor"]["client_cpu_ms_per_cycle"], got["floor_protocol"]["client_cpu_ms_per_cycle"])
                for hk in ("dialogue", "cryptonote"):
                    d = got[hk]
                    d["floor_kind"] = floor["kind"]
                    d["ratio_to_floor"] = (d["per_s"] / floor["per_s"]) if floor["per_s"] else None
                    d["cpu_ratio_to_floor"] = (cheap / d["client_cpu_ms_per_cycle"]
                                               if d["client_cpu_ms_per_cycle"] else None)
                d, cn = got["dialogue"], got["cryptonote"]
                rows.extend(got[k] for k in ("floor", "floor_protocol", "dialogue"))
                cn_rows.append(cn)
                side.append({
                    "loop": loop, "concurrency": c, "floor_kind": floor["kind"], "floor_per_s": floor["per_s"],
                    "floor_client_cpu_ms_per_cycle": cheap,
                    "stratum1_per_s": d["per_s"], "stratum1_ratio_to_floor": d["ratio_to_floor"],
                    "stratum1_client_cpu_ms_per_cycle": d["client_cpu_ms_per_cycle"],
                    "cryptonote_per_s": cn["per_s"], "cryptonote_ratio_to_floor": cn["ratio_to_floor"],
                    "cryptonote_client_cpu_ms_per_cycle": cn["client_cpu_ms_per_cycle"],
                })
                log(f"  throughput {loop:7s} c={c:<5d} floor {got['floor']['per_s']:7.0f}/s"
                    f"  floor_protocol {got['floor_protocol']['per_s']:7.0f}/s  dialogue {d['per_s']:7.0f}/s"
                    f"  ratio {d['ratio_to_floor'] or 0:.2f} (CPU {d['cpu_ratio_to_floor'] or 0:.2f})"
                    f"  cryptonote {cn['per_s']:7.0f}/s ratio {cn['ratio_to_floor'] or 0:.2f}"
                    f" (CPU {cn['cpu_ratio_to_floor'] or 0:.2f})")
            c = 100 if not quick else 50
            pr = [_measure("probe_port", loop, srv, n_probe, c) for _ in range(repeats)]
            row = _row("probe_port", loop, c, pr)
            floor = max((r for r in rows if r["kind"].startswith("floor") and r["loop"] == loop
                         and r["concurrency"] == c), key=lambda r: r["per_s"])
            row["ratio_to_floor"] = row["per_s"] / floor["per_s"] if floor["per_s"] else None
            rows.append(row)
            log(f"  throughput {loop:7s} c={c:<5d} probe_port {row['per_s']:8.0f}/s ratio {row['ratio_to_floor'] or 0:.2f}")
    best = max((r for r in rows if r["kind"] == "dialogue"), key=lambda r: r["per_s"])
    best_ratio = max((r for r in rows if r["kind"] == "dialogue"), key=lambda r: r.get("ratio_to_floor") or 0)
    cn_best = max(cn_rows, key=lambda r: r["per_s"])
    cn_best_ratio = max(cn_rows, key=lambda r: r.get("ratio_to_floor") or 0)
    return {
        "what": "complete Stratum v1 handshakes/s (configure+subscribe, reply+set_difficulty+notify, authorize, "
                "reply, close: two round trips) via run_dialogue(Stratum1Dialogue(fast=True)) and "
                "probe_port(fast, only stratum1), vs the floor connect + 1 line + read 1 line + close (one round "
                "trip) done two ways — asyncio streams (floor) and loop.create_connection with an asyncio.Protocol "
                "(floor_protocol, the API the transport uses) — the faster of the two is the ratio's floor; "
                "server bench.fastpool (uvloop, recorded ckpool bytes) in a separate process on the same 2 cores. "
                "cpu_ratio_to_floor = the floor's client CPU per cycle / the handshake's",
        "server": {"module": "bench.fastpool", "loop": "uvloop", "hosts": nhosts},
        "cycles_per_run": n, "repeats": repeats, "rows": rows,
        "best_dialogue": {"loop": best["loop"], "concurrency": best["concurrency"], "per_s": best["per_s"],
                          "ratio_to_floor": best.get("ratio_to_floor")},
        "best_ratio": {"loop": best_ratio["loop"], "concurrency": best_ratio["concurrency"],
                       "per_s": best_ratio["per_s"], "ratio_to_floor": best_ratio.get("ratio_to_floor"),
                       "cpu_ratio_to_floor": best_ratio.get("cpu_ratio_to_floor")},
        "targets": {"per_s": 3000, "ratio_to_floor": 0.60},
        "meets_targets": {"per_s": best["per_s"] >= 3000,
                          "ratio_to_floor": (best_ratio.get("ratio_to_floor") or 0) >= 0.60},
        "cryptonote": {
            "what": "complete CryptoNote handshakes/s (login, reply carrying the first job, close: one round trip, "
                    "like the floor) via run_dialogue(CryptoNoteDialogue(fast=True)) against bench.fastpool's "
                    "cn_port (recorded cryptonote-nodejs-pool login reply); same floors, levels, loops and "
                    "interleaving as the Stratum v1 rows",
            "rows": cn_rows,
            "best": {"loop": cn_best["loop"], "concurrency": cn_best["concurrency"], "per_s": cn_best["per_s"],
                     "ratio_to_floor": cn_best.get("ratio_to_floor")},
            "best_ratio": {"loop": cn_best_ratio["loop"], "concurrency": cn_best_ratio["concurrency"],
                           "per_s": cn_best_ratio["per_s"], "ratio_to_floor": cn_best_ratio.get("ratio_to_floor"),
                           "cpu_ratio_to_floor": cn_best_ratio.get("cpu_ratio_to_floor")},
            "meets_targets": {"per_s": cn_best["per_s"] >= 3000,
                              "ratio_to_floor": (cn_best_ratio.get("ratio_to_floor") or 0) >= 0.60},
        },
        "side_by_side": side,
    }


def _row(kind: str, loop: str, c: int, rs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sum(r["ok"] for r in rs)
    errors: dict[str, int] = {}
    for r in rs:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    srv_cpu = [r["server_cpu_s"] for r in rs if r.get("server_cpu_s") is not None]
    return {
        "kind": kind, "loop": loop, "concurrency": c, "per_s": median([r["per_s"] for r in rs]),
        "runs_per_s": [round(r["per_s"], 1) for r in rs], "ok": ok, "failed": sum(r["failed"] for r in rs),
        "errors": errors,
        "client_cpu_ms_per_cycle": 1000 * sum(r["client_cpu_s"] for r in rs) / max(1, ok),
        "server_cpu_ms_per_cycle": (1000 * sum(srv_cpu) / max(1, ok)) if srv_cpu else None,
    }
