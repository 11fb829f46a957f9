"""A port that accepts and resets at once is open (the handshake completed): the connect sweep must say so on
both event loops, every time (the RST races the SO_ERROR check of sock_connect)."""

import asyncio
import socket
import struct
import threading

import pytest

from scanner.sweep.connect import connect_once


def _rst_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # RST at once

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return srv, stop, th


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_accept_then_reset_is_open_and_refused_is_closed(loop):
    srv, stop, th = _rst_server()
    port = srv.getsockname()[1]
    closed = _closed_port()

    async def go():
        return ([await connect_once("127.0.0.1", port, 1.0) for _ in range(50)],
                await connect_once("127.0.0.1", closed, 1.0))

    try:
        if loop == "uvloop":
            uvloop = pytest.importorskip("uvloop")
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
                opened, refused = r.run(go())
        else:
            opened, refused = asyncio.run(go())
    finally:
        stop.set()
        th.join(2)
        srv.close()
    assert opened == [True] * 50
    assert refused is False
