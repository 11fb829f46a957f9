"""The sweep stage: targets x ports -> a stream of open ports.

One interface for both engines::

    report = SweepReport()
    tarpit = TarpitGuard(threshold=50)
    async for op in sweep(targets, ports, engine="connect", rate=1000, report=report, tarpit=tarpit):
        ...  # OpenPort(ip, port, seen_at, source), yielded as found, so probing starts while the sweep runs

Engines:

* ``connect`` (:mod:`scanner.sweep.connect`): asyncio TCP connect, any user, loopback or small sets.
* ``masscan`` (:mod:`scanner.sweep.masscan`): SYN sweep by masscan 1.3.2, root; in lab mode only inside the
  project's own network namespace (checked before start), in production mode only with an explicit rate.

Both engines get only what the :class:`~scanner.targets.TargetSet` yields (exclusions already
subtracted) and this module re-checks every result: an address in ``targets.exclusions`` or outside the
requested probes is dropped (counted in ``report.dropped``), never yielded.

Side channels (an async generator cannot return values):

* :class:`SweepReport` — filled while the sweep runs: engine, seed (set before the first packet, so the
  run can save it), argv, passes, probes, found, duplicates, dropped, canary status, hang/kill events,
  stderr tail, duration in seconds.
* :class:`TarpitGuard` — per-host open-port counter. A host with more than ``threshold`` open ports
  (middleboxes and tarpits answer SYN on every port) is flagged: ``is_tarpit(ip)`` turns True,
  ``events`` gets a :class:`TarpitEvent`, ``on_flag`` is called once, and the sweep yields no further
  ports of that host (``suppressed`` counts them). The first ``threshold`` ports were already yielded;
  the pipeline must call ``is_tarpit(ip)`` before probing a port and probe flagged hosts lightly (e.g.
  one probe on one port). OpenPort itself carries no flag.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Sequence

from scanner.errors import UsageError
from scanner.model import OpenPort
from scanner.sweep.seen import OpenPortSet, pack_key
from scanner.targets import TargetSet

ENGINES = ("connect", "masscan")
#: Default open-port count above which a host is flagged as a tarpit.
DEFAULT_TARPIT_THRESHOLD = 64


@dataclass
class TarpitEvent:
    """A host flagged as a tarpit: ``ip``, ``open_ports`` counted when flagged, ``at`` Unix seconds."""

    ip: str
    open_ports: int
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"event": "tarpit", "ip": self.ip, "open_ports": self.open_ports, "at": self.at}


class TarpitGuard:
    """Counts open ports per host; flags hosts above ``threshold`` (see module docstring).

    ``threshold`` <= 0 disables flagging. Memory: 8 bytes per open port counted (issue 8: flat for millions of
    hosts; a dict of ``ip -> count`` costs ~115 bytes a host): the k-th open port of a host is remembered as the
    key ``(ip, k)`` of an :class:`~scanner.sweep.seen.OpenPortSet`, so a host's count is the largest k present
    (found with O(log count) lookups). Counts are per address, whatever its spelling (``0::1`` is ``::1``).
    """

    def __init__(self, threshold: int = DEFAULT_TARPIT_THRESHOLD,
                 on_flag: Callable[[TarpitEvent], None] | None = None):
        self.threshold = threshold
        self.on_flag = on_flag
        self._ranks = OpenPortSet()  # (ip, k) for k = 1..count (count <= 65535)
        self._other: dict[str, int] = {}  # counts above 65535, or of strings that are not an address
        self.flagged: dict[str, TarpitEvent] = {}
        self.events: list[TarpitEvent] = []
        self.suppressed = 0

    def is_tarpit(self, ip: str) -> bool:
        """True when ``ip`` has been flagged."""
        return ip in self.flagged

    def count(self, ip: str) -> int:
        """Open ports seen on ``ip`` so far (including suppressed ones)."""
        n = self._other.get(ip)
        if n is not None:
            return n
        try:
            base = pack_key(ip, 0)
        except (TypeError, ValueError):
            return 0
        has = self._ranks.has_key
        if not has(base + 1):
            return 0
        hi = 2  # exponential then binary search for the last k present (1..count are all present)
        while hi <= 0xFFFF and has(base + hi):
            hi *= 2
        lo, hi = hi // 2, min(hi, 0x10000)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if has(base + mid):
                lo = mid
            else:
                hi = mid
        return lo

    def _record(self, ip: str, n: int) -> None:
        """Remember that ``ip`` now has ``n`` open ports (``n`` = its previous count + 1)."""
        if n <= 0xFFFF and ip not in self._other:
            try:
                self._ranks.add_key(pack_key(ip, 0) + n)
                return
            except (TypeError, ValueError):
                pass
        self._other[ip] = n

    def admit(self, ip: str) -> bool:
        """Record one open port of ``ip``; return False when it must not be yielded (flagged host)."""
        n = self.count(ip) + 1
        self._record(ip, n)
        if self.threshold <= 0:
            return True
        if ip in self.flagged:
            self.suppressed += 1
            return False
        if n > self.threshold:
            ev = TarpitEvent(ip, n, time.time())
            self.flagged[ip] = ev
            self.events.append(ev)
            if self.on_flag is not None:
                self.on_flag(ev)
            self.suppressed += 1
            return False
        return True


@dataclass
class SweepReport:
    """What a sweep did (filled in while it runs). Times in seconds, rates in packets/s."""

    engine: str = ""
    rate: float = 0.0
    seed: int | None = None
    shards: tuple[int, int] | None = None
    argv: list[list[str]] = field(default_factory=list)
    probes: int = 0
    passes: int = 0
    found: int = 0
    duplicates: int = 0
    dropped: int = 0
    canary: str | None = None
    canary_seen: bool | None = None
    hung: int = 0
    killed: int = 0
    warnings: list[str] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)
    started_at: float = 0.0
    duration_s: float = 0.0
    namespace: str | None = None

    @property
    def verified(self) -> bool:
        """True when a canary proved the scanner sees open ports (``nothing found`` then means nothing)."""
        return bool(self.canary_seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "rate": self.rate, "seed": self.seed,
            "shards": f"{self.shards[0]}/{self.shards[1]}" if self.shards else None,
            "argv": self.argv, "probes": self.probes, "passes": self.passes, "found": self.found,
            "duplicates": self.duplicates, "dropped": self.dropped, "canary": self.canary,
            "canary_seen": self.canary_seen, "hung": self.hung, "killed": self.killed,
            "warnings": self.warnings, "started_at": self.started_at, "duration_s": round(self.duration_s, 3),
            "namespace": self.namespace,
        }


#: The connect sweep is for small target sets (one host, a lab, an organisation's few ranges): above this many
#: addresses it refuses unless the caller raises ``max_targets`` — a typo such as 0.0.0.0/0 must not start an
#: internet-wide connect scan. masscan (root) is the engine for large ranges.
CONNECT_MAX_TARGETS = 65536


def check_connect_size(targets: TargetSet, max_targets: int | None = CONNECT_MAX_TARGETS) -> None:
    """Raise UsageError when a connect sweep would cover more than ``max_targets`` addresses (None: no cap)."""
    n = targets.count() + targets.pair_count
    if max_targets is not None and n > max_targets:
        raise UsageError(
            f"--targets: {n} addresses after exclusions is more than the connect sweep's limit of {max_targets} "
            f"(--max-targets); check the range, use --engine masscan for large ranges, or raise --max-targets")


async def sweep(targets: TargetSet, ports: Sequence[int], *, engine: str = "connect", rate: int | float,
                report: SweepReport | None = None, tarpit: TarpitGuard | None = None,
                max_targets: int | None = CONNECT_MAX_TARGETS,
                **options: Any) -> AsyncIterator[OpenPort]:
    """Sweep ``targets`` x ``ports`` (+ ``targets.pairs``) and yield each open port once, as found.

    ``rate``: packets (connection attempts) per second, required. ``engine``: ``connect`` or ``masscan``.
    ``options`` go to the engine: :func:`scanner.sweep.connect.connect_sweep` (``concurrency``,
    ``timeout``, ``shard``) or :func:`scanner.sweep.masscan.masscan_sweep` (``netns``, ``seed``,
    ``shards``, ``wait``, ``passes``, ``retries``, ``canary``, ``adapter``, ``router_ip``, ``router_mac``,
    ``production``...). ``max_targets``: the connect engine refuses more addresses than this (see
    :data:`CONNECT_MAX_TARGETS`; None = no cap).

    Raises UsageError (bad engine/rate), :class:`scanner.sweep.masscan.MasscanError` (a RunError: masscan
    failed, one clear line) or :class:`scanner.sweep.masscan.UnsafeNamespace`.
    """
    if engine not in ENGINES:
        raise UsageError(f"--engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "connect":
        check_connect_size(targets, max_targets)
    if rate is None or rate <= 0:
        raise UsageError("--rate: an explicit positive rate (packets/s) is required")
    report = report if report is not None else SweepReport()
    report.engine, report.rate = engine, float(rate)
    report.started_at = time.time()
    report.probes = targets.probe_count(ports)
    tarpit = tarpit if tarpit is not None else TarpitGuard()
    if engine == "connect":
        from scanner.sweep.connect import connect_sweep

        source = connect_sweep(targets, ports, rate=rate, report=report, **options)
    else:
        from scanner.sweep.masscan import masscan_sweep

        source = masscan_sweep(targets, ports, rate=rate, report=report, **options)
    screened = screen(source, targets, ports, report=report, tarpit=tarpit)
    try:
        async for op in screened:
            yield op
    finally:
        await screened.aclose()
        await source.aclose()
        report.duration_s = time.time() - report.started_at


async def screen(source: AsyncIterator[OpenPort], targets: TargetSet, ports: Sequence[int], *,
                 report: SweepReport, tarpit: TarpitGuard,
                 seen: OpenPortSet | None = None) -> AsyncIterator[OpenPort]:
    """The checks :func:`sweep` applies to an engine's results: yield each wanted open port of ``source`` once.

    In order, for each ``OpenPort`` of ``source``: an (ip, port) already yielded counts in
    ``report.duplicates``; an address in ``targets.exclusions``, or a port that is neither one of ``ports``
    on an address of ``targets`` nor an explicit pair of ``targets.pairs``, counts in ``report.dropped`` (and
    is not remembered); otherwise it is remembered in ``seen`` (an :class:`OpenPortSet`, ~8 bytes an IPv4
    open port, so memory stays flat for millions of open ports; a new one when None), passed to
    ``tarpit.admit`` (a flagged host's port is not yielded) and yielded, counting in ``report.found``.
    An invalid address or port (the engines never yield one) counts in ``report.dropped``.
    """
    seen = seen if seen is not None else OpenPortSet()
    port_set = frozenset(ports)
    pair_set = frozenset((str(ip), p) for ip, p in targets.pairs)
    exclusions = targets.exclusions
    async for op in source:
        try:
            key = pack_key(op.ip, op.port)
        except (TypeError, ValueError):  # not an address or port: never one of ours (the engines validate)
            report.dropped += 1
            continue
        if seen.has_key(key):
            report.duplicates += 1
            continue
        if exclusions.contains(op.ip) or not (
                (op.port in port_set and op.ip in targets) or (op.ip, op.port) in pair_set):
            report.dropped += 1
            continue
        seen.add_key(key)
        if not tarpit.admit(op.ip):
            continue
        report.found += 1
        yield op
