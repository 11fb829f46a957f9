"""The transport against real loopback peers: every outcome is a status, every read is bounded."""

import asyncio
import socket
import struct
import time

import pytest

from scanner.model import Status
from tls_certs import server_context
from scanner.probes.dialogue import Stratum1Dialogue, HttpDialogue
from scanner.transport.limits import Limits
from scanner.transport.run import run_dialogue

@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def loop_kind(request):
    """Every transport test runs on asyncio's loop and on uvloop (the CLI's loop when installed,
    scanner/aio.py): the transport's timers and callbacks must behave the same on both."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        old = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        try:
            yield request.param
        finally:
            asyncio.set_event_loop_policy(old)
    else:
        yield request.param


FAST = Limits(connect_s=1.0, reply_s=0.5, job_s=0.3, idle_s=0.2, session_s=3.0, max_bytes=64 * 1024, max_line=8 * 1024)


async def serve(handler, ssl_ctx=None):
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_ctx)
    return server, server.sockets[0].getsockname()[1]


def run(coro):
    return asyncio.run(coro)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_refused():
    t = run(run_dialogue("127.0.0.1", free_port(), Stratum1Dialogue(FAST), FAST))
    assert t.status is Status.CONNECTION_REFUSED and t.exchanges == ()


def test_silent_peer_is_no_reply_within_the_wait():
    async def go():
        async def h(r, w):
            await asyncio.sleep(10)
        srv, port = await serve(h)
        async with srv:
            t0 = time.monotonic()
            t = await run_dialogue("127.0.0.1", port, Stratum1Dialogue(FAST), FAST)
            return t, time.monotonic() - t0
    t, took = run(go())
    assert t.status is Status.NO_REPLY
    assert [e.dir for e in t.exchanges] == ["send"]
    assert took < FAST.reply_s + 0.5


def test_peer_closes_without_a_byte():
    async def go():
        async def h(r, w):
            await r.readline()
            w.close()
        srv, port = await serve(h)
        async with srv:
            return await run_dialogue("127.0.0.1", port, Stratum1Dialogue(FAST), FAST)
    t = run(go())
    assert t.status is Status.CLOSED and t.closed_by_peer


def test_endless_line_is_capped():
    async def go():
        async def h(r, w):
            try:
                while True:
                    w.write(b"A" * 65536)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
        srv, port = await serve(h)
        async with srv:
            return await run_dialogue("127.0.0.1", port, Stratum1Dialogue(FAST), FAST)
    t = run(go())
    assert t.status is Status.READ_LIMIT
    assert len(t.received) <= FAST.max_bytes
    assert t.truncated


def test_reset_mid_line():
    async def go():
        async def h(r, w):
            await r.readline()
            w.write(b'{"id":2,"result":[[["mining.notify","ab')
            await w.drain()
            await asyncio.sleep(0.05)  # let the half line arrive before the RST
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()
        srv, port = await serve(h)
        async with srv:
            return await run_dialogue("127.0.0.1", port, Stratum1Dialogue(FAST), FAST)
    t = run(go())
    assert t.status is Status.CONNECTION_RESET
    assert t.received == b'{"id":2,"result":[[["mining.notify","ab'  # the partial line is kept


def test_slowloris_hits_the_session_deadline():
    lim = Limits(connect_s=1, reply_s=1.0, job_s=1, idle_s=1.0, session_s=1.5, max_bytes=4096, max_line=4096)

    async def go():
        async def h(r, w):
            try:
                while True:
                    w.write(b"{")
                    await w.drain()
                    await asyncio.sleep(0.1)
            except (ConnectionError, OSError):
                pass
        srv, port = await serve(h)
        async with srv:
            t0 = time.monotonic()
            t = await run_dialogue("127.0.0.1", port, Stratum1Dialogue(lim), lim)
            return t, time.monotonic() - t0
    t, took = run(go())
    assert t.status is Status.IO_TIMEOUT
    assert took < lim.session_s + 1.0


def _self_signed(tmp_path):
    return server_context(tmp_path, "pool.example.test", ["pool.example.test", "xmr.example.test"])


def test_tls_records_certificate_names(tmp_path):
    ctx = _self_signed(tmp_path)

    async def go():
        async def h(r, w):
            await r.readline()
            w.write(b'{"id":2,"result":[[["mining.notify","ab"]],"00",4],"error":null}\n')
            await w.drain()
            await asyncio.sleep(1)
        srv, port = await serve(h, ctx)
        async with srv:
            return await run_dialogue("127.0.0.1", port, Stratum1Dialogue(FAST), FAST, tls=True)
    t = run(go())
    assert t.tls and t.tls_info["subject_cn"] == "pool.example.test"
    assert t.tls_info["san"] == ["pool.example.test", "xmr.example.test"]
    assert len(t.tls_info["sha256"]) == 64
    assert b'"mining.notify"' in t.received


def test_tls_to_plaintext_port_is_tls_error():
    async def go():
        async def h(r, w):
            await r.read(100)
            w.write(b'{"id":null,"error":"bad"}\n')
            await w.drain()
            w.close()
        srv, port = await serve(h)
        async with srv:
            return await run_dialogue("127.0.0.1", port, Stratum1Dialogue(FAST), FAST, tls=True)
    t = run(go())
    assert t.status is Status.TLS_ERROR


def test_http_dialogue_reads_to_close():
    async def go():
        async def h(r, w):
            await r.readuntil(b"\r\n\r\n")
            w.write(b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 18\n\nMining Pool Online")
            await w.drain()
            w.close()
        srv, port = await serve(h)
        async with srv:
            return await run_dialogue("127.0.0.1", port, HttpDialogue(FAST, host="127.0.0.1", port=port), FAST)
    t = run(go())
    assert t.status is Status.SUCCESS and t.received.endswith(b"Mining Pool Online")


class _FullBacklog:
    """A listening socket whose accept queue is full (backlog 0, never accepted, filled by other
    connects): Linux drops further SYNs, so a connect to it neither succeeds nor fails — a silent host."""

    def __enter__(self) -> int:
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(0)
        self.port = self.srv.getsockname()[1]
        self.fill = []
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fill.append(c)
        time.sleep(0.05)
        return self.port

    def __exit__(self, *exc) -> None:
        for c in self.fill:
            c.close()
        self.srv.close()


def test_connect_that_never_completes_ends_at_connect_s():
    lim = Limits(connect_s=0.3, reply_s=0.2, session_s=2.0)
    with _FullBacklog() as port:
        async def go():
            t0 = time.monotonic()
            t = await run_dialogue("127.0.0.1", port, Stratum1Dialogue(lim), lim)
            # the connect timeout leaves no cancellation behind in the task
            return t, time.monotonic() - t0, asyncio.current_task().cancelling()

        t, took, cancelling = run(go())
    assert t.status is Status.CONNECTION_TIMEOUT and t.error == "no answer to connect within 0.3 s"
    assert t.exchanges == () and cancelling == 0
    assert 0.25 <= took < 0.8


def test_cancel_from_outside_during_connect_propagates():
    """An outer timeout (the engine's, Ctrl-C) shorter than connect_s is the caller's, not a connect
    timeout: it propagates as the caller's TimeoutError, and the probe's own timer does not fire later."""
    lim = Limits(connect_s=2.0, reply_s=0.2, session_s=3.0)
    with _FullBacklog() as port:
        async def go():
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await run_dialogue("127.0.0.1", port, Stratum1Dialogue(lim), lim)
            took = time.monotonic() - t0
            await asyncio.sleep(0.1)  # a stray cancel from the probe's timer would land here
            return took

        took = run(go())
    assert 0.15 <= took < 0.8


def test_outer_timeout_longer_than_connect_s_sees_the_transcript():
    """The connect timeout inside an outer asyncio.timeout: the probe's status, the outer one untouched."""
    lim = Limits(connect_s=0.2, reply_s=0.2, session_s=3.0)
    with _FullBacklog() as port:
        async def go():
            async with asyncio.timeout(5.0):
                t = await run_dialogue("127.0.0.1", port, Stratum1Dialogue(lim), lim)
            return t, asyncio.current_task().cancelling()

        t, cancelling = run(go())
    assert t.status is Status.CONNECTION_TIMEOUT and cancelling == 0
