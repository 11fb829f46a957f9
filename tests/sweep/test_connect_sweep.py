"""The connect engine and the sweep() front end, on real loopback sockets (127.0.0.0/8 only)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from scanner.errors import UsageError
from scanner.sweep import SweepReport, TarpitGuard, sweep
from scanner.sweep.connect import connect_sweep_host
from scanner.targets import parse_targets


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct ports that were free a moment ago (bound then released)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind((host, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Listeners:
    """Accept-and-close listeners on (host, port) pairs; counts the connections each one accepted."""

    def __init__(self, pairs):
        self.pairs = list(pairs)
        self.accepted: dict[tuple[str, int], int] = {p: 0 for p in self.pairs}
        self.servers = []

    async def __aenter__(self):
        for host, port in self.pairs:
            async def handle(r, w, key=(host, port)):
                self.accepted[key] += 1
                w.close()
            self.servers.append(await asyncio.start_server(handle, host, port))
        return self

    async def __aexit__(self, *exc):
        for s in self.servers:
            s.close()
            await s.wait_closed()


def collect(targets, ports, **kw):
    async def go():
        return [op async for op in sweep(targets, ports, **kw)]
    return asyncio.run(go())


def test_finds_exactly_the_open_ports():
    ports = free_ports(6)
    open_pairs = [("127.0.0.1", ports[0]), ("127.0.0.1", ports[3]), ("127.0.0.3", ports[5])]

    async def go():
        async with Listeners(open_pairs):
            t = parse_targets("127.0.0.1-127.0.0.4", allow_reserved=True)
            rep = SweepReport()
            got = [op async for op in sweep(t, ports, engine="connect", rate=2000, timeout=1.0, report=rep)]
            return got, rep

    got, rep = asyncio.run(go())
    assert sorted((o.ip, o.port) for o in got) == sorted(open_pairs)
    assert all(o.source == "connect" and abs(o.seen_at - time.time()) < 30 for o in got)
    assert rep.probes == 24 and rep.found == 3 and rep.engine == "connect"


def test_excluded_address_never_gets_a_connection():
    """127.0.0.2 listens, but an exclusion covers it: the sweep must not even connect to it."""
    p = free_ports(1)[0]
    pairs = [("127.0.0.1", p), ("127.0.0.2", p), ("127.0.0.3", p)]

    async def go():
        async with Listeners(pairs) as ls:
            t = parse_targets("127.0.0.1-127.0.0.3", allow_reserved=True, extra_excludes=["127.0.0.2"])
            got = [op async for op in sweep(t, [p], engine="connect", rate=1000)]
            await asyncio.sleep(0.1)
            return got, dict(ls.accepted)

    got, accepted = asyncio.run(go())
    assert sorted(o.ip for o in got) == ["127.0.0.1", "127.0.0.3"]
    assert accepted[("127.0.0.2", p)] == 0
    assert accepted[("127.0.0.1", p)] == 1 and accepted[("127.0.0.3", p)] == 1


def test_pairs_are_swept_on_their_own_port_only():
    a, b = free_ports(2)

    async def go():
        async with Listeners([("127.0.0.1", a), ("127.0.0.1", b)]) as ls:
            t = parse_targets(f"127.0.0.1:{a}", allow_loopback=True)
            got = [op async for op in sweep(t, [b], engine="connect", rate=1000)]
            await asyncio.sleep(0.1)
            return got, dict(ls.accepted)

    got, accepted = asyncio.run(go())
    assert [(o.ip, o.port) for o in got] == [("127.0.0.1", a)]
    assert accepted[("127.0.0.1", b)] == 0  # port b was asked for no range: nothing to sweep


def test_rate_limit_is_respected():
    ports = free_ports(40)
    t = parse_targets("127.0.0.1", allow_reserved=True)
    t0 = time.monotonic()
    collect(t, ports, engine="connect", rate=100)
    elapsed = time.monotonic() - t0
    # 40 attempts at 100/s with a burst of 10: at least (40 - 10) / 100 s
    assert elapsed >= 0.28, elapsed


def test_tarpit_host_is_flagged_and_capped():
    ports = free_ports(12)
    opened = ports[:10]

    async def go():
        async with Listeners([("127.0.0.1", p) for p in opened] + [("127.0.0.5", ports[0])]):
            t = parse_targets(["127.0.0.1", "127.0.0.5"], allow_reserved=True)
            events = []
            guard = TarpitGuard(threshold=4, on_flag=events.append)
            got = [op async for op in sweep(t, ports, engine="connect", rate=5000, tarpit=guard)]
            return got, guard, events

    got, guard, events = asyncio.run(go())
    on_1 = [o for o in got if o.ip == "127.0.0.1"]
    assert len(on_1) == 4  # the first `threshold` ports are yielded, the rest suppressed
    assert guard.is_tarpit("127.0.0.1") and not guard.is_tarpit("127.0.0.5")
    assert guard.count("127.0.0.1") == 10 and guard.suppressed == 6
    assert [e.ip for e in events] == ["127.0.0.1"] and events[0].open_ports == 5
    assert [(o.ip, o.port) for o in got if o.ip == "127.0.0.5"] == [("127.0.0.5", ports[0])]


def test_closing_the_stream_early_stops_the_sweep():
    ports = free_ports(3)

    async def go():
        async with Listeners([("127.0.0.1", p) for p in ports]):
            t = parse_targets("127.0.0.0/24", allow_reserved=True)
            agen = sweep(t, ports, engine="connect", rate=100000)
            first = await agen.__anext__()
            await agen.aclose()
            return first

    first = asyncio.run(asyncio.wait_for(go(), 10))
    assert first.ip == "127.0.0.1"


def test_connect_sweep_host():
    a, b, c = free_ports(3)

    async def go():
        async with Listeners([("127.0.0.1", a), ("127.0.0.1", c)]):
            return await connect_sweep_host("127.0.0.1", [c, b, a, a], timeout=1.0)

    assert asyncio.run(go()) == sorted([a, c])


@pytest.mark.parametrize("kw,msg", [
    ({"engine": "nmap", "rate": 10}, "--engine: 'nmap' is not one of connect, masscan"),
    ({"engine": "connect", "rate": 0}, "--rate: an explicit positive rate (packets/s) is required"),
])
def test_bad_engine_or_rate(kw, msg):
    t = parse_targets("127.0.0.1", allow_reserved=True)
    with pytest.raises(UsageError) as e:
        collect(t, [1], **kw)
    assert str(e.value) == msg
