"""The connect sweep: asyncio TCP connect to every (ip, port), any user, no raw sockets.

For loopback, small target sets and machines without root. Each probe is a non-blocking ``connect()``
with a timeout; a completed handshake means open (the socket is then closed with RST, SO_LINGER 0,
so no TIME_WAIT piles up and nothing is sent or read); refused, unreachable and timed-out mean not open.

Limits (all bounded):

* ``rate``: connection attempts started per second (a token bucket with a burst of ``rate/10``, at least 1);
* ``concurrency``: connections in flight at once (default 512, capped by the file-descriptor limit);
* ``timeout``: seconds per connect (default 1.5).

Only addresses that the :class:`~scanner.targets.TargetSet` yields are tried (exclusions are already
subtracted) and each address is re-checked against ``targets.exclusions`` just before the connect, so an
excluded address never gets a SYN from this engine. Addresses of a namespace lab that is up are refused
unless this process runs inside that lab's scanner namespace
(:func:`scanner.lab.netns.check_socket_scope`): from the root namespace they would be routed out.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import struct
import time
from typing import TYPE_CHECKING, AsyncIterator, Sequence

from scanner.model import OpenPort
from scanner.targets import TargetSet

if TYPE_CHECKING:  # pragma: no cover
    from scanner.sweep import SweepReport

DEFAULT_CONCURRENCY = 512
DEFAULT_TIMEOUT = 1.5


class TokenBucket:
    """Rate limiter: ``take()`` waits until one token is available. ``rate`` tokens/s, ``burst`` max."""

    def __init__(self, rate: float, burst: float | None = None):
        self.rate = float(rate)
        self.burst = max(1.0, burst if burst is not None else self.rate / 10)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


async def connect_once(ip: str, port: int, timeout: float) -> bool:
    """True when a TCP handshake to ``ip:port`` completes within ``timeout`` seconds; never raises for
    network outcomes. Refused, unreachable and timeout give False. A reset gives True: Linux reports a RST
    answering the SYN as ECONNREFUSED, so ECONNRESET means the handshake completed and the peer then dropped
    the connection (a port that accepts and resets at once is open, as masscan's SYN-ACK would say)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (ip, port)), timeout)
        return True
    except ConnectionResetError:
        return True
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()


def _fd_budget(wanted: int) -> int:
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ValueError, OSError):  # pragma: no cover
        return wanted
    return max(1, min(wanted, soft - 64))


async def connect_sweep(targets: TargetSet, ports: Sequence[int], *, rate: float,
                        concurrency: int = DEFAULT_CONCURRENCY, timeout: float = DEFAULT_TIMEOUT,
                        shard: tuple[int, int] | None = None, report: "SweepReport | None" = None,
                        queue_size: int = 1024) -> AsyncIterator[OpenPort]:
    """Yield ``OpenPort(ip, port, seen_at, source="connect")`` for each port that accepts a connection.

    Memory is bounded: probes are drawn lazily from ``targets.probes()``, at most ``concurrency`` tasks
    exist, and results pass through a queue of ``queue_size``. Closing the generator cancels the rest.
    """
    from scanner.lab.netns import check_socket_scope

    # lab addresses only from inside the lab's scanner namespace (else they would be routed out)
    check_socket_scope(targets.ranges + [(ip, ip) for ip, _p in targets.pairs])
    concurrency = _fd_budget(concurrency)
    bucket = TokenBucket(rate)
    sem = asyncio.Semaphore(concurrency)
    results: asyncio.Queue[OpenPort | None] = asyncio.Queue(queue_size)
    exclusions = targets.exclusions
    if report is not None:
        report.passes = 1
        report.shards = shard

    async def probe(ip: str, port: int) -> None:
        try:
            if await connect_once(ip, port, timeout):
                await results.put(OpenPort(ip=ip, port=port, seen_at=time.time(), source="connect"))
        finally:
            sem.release()

    async def produce() -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            for addr, port in targets.probes(ports, shard=shard):
                if exclusions.contains(addr):  # defence in depth: never reached when TargetSet is right
                    continue
                await sem.acquire()
                await bucket.take()
                t = asyncio.create_task(probe(str(addr), port))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await results.put(None)
        finally:
            for t in list(tasks):
                t.cancel()

    producer = asyncio.create_task(produce())
    try:
        while True:
            if results.empty() and producer.done():
                producer.result()  # re-raise a producer failure
                break
            getter = asyncio.ensure_future(results.get())
            await asyncio.wait({getter, producer}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                continue
            item = getter.result()
            if item is None:
                break
            yield item
        await producer
    finally:
        if not producer.done():
            producer.cancel()
            try:
                await producer
            except (asyncio.CancelledError, Exception):
                pass


__all__ = ["connect_sweep", "connect_sweep_host", "connect_once", "TokenBucket"]


async def connect_sweep_host(ip: str, ports: Sequence[int], *, timeout: float = DEFAULT_TIMEOUT,
                             concurrency: int = 64) -> list[int]:
    """Open ports of one host (an ad hoc ``poolscan probe HOST`` without a port): connect to each port
    with ``timeout`` seconds, ``concurrency`` at once. The caller has already checked ``ip`` against the
    exclusions. Returns the open ports, ascending."""
    from scanner.lab.netns import check_socket_scope

    check_socket_scope([(ip, ip)])
    sem = asyncio.Semaphore(max(1, _fd_budget(concurrency)))

    async def one(p: int) -> int | None:
        async with sem:
            return p if await connect_once(ip, p, timeout) else None

    found = await asyncio.gather(*(one(p) for p in dict.fromkeys(ports)))
    return sorted(p for p in found if p is not None)
