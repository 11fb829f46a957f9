"""The hostile peers behave as specified (scanner/lab/hostile.py), measured with a bounded plain client."""

from __future__ import annotations

import asyncio
import time

from scanner.lab import probelines as L
from scanner.lab.client import exchange


def talk(lab, name, steps, **kw):
    return asyncio.run(exchange("127.0.0.1", lab.port(f"hostile-{name}"), steps, **kw))


def test_silent_never_answers_never_closes(lab):
    res = talk(lab, "silent", [L.STRATUM1_A + L.STRATUM1_B], idle_s=1.0)
    assert res.data == b"" and not res.closed and not res.reset


def test_endless_line_has_no_newline_and_does_not_stop(lab):
    res = talk(lab, "endless", [L.STRATUM1_B], idle_s=1.0, max_bytes=4 << 20, deadline_s=5)
    assert res.truncated and len(res.data) == 4 << 20
    assert b"\n" not in res.data and res.data.startswith(b'{"id":1,"result":"AAAA')


def test_reset_mid_line(lab):
    async def run():
        r, w = await asyncio.open_connection("127.0.0.1", lab.port("hostile-reset"))
        w.write(L.STRATUM1_B)
        await w.drain()
        got = b""
        try:
            while True:
                chunk = await asyncio.wait_for(r.read(4096), 3)
                if not chunk:
                    return got, "eof"
                got += chunk
        except ConnectionResetError:
            return got, "reset"
        finally:
            w.transport.abort()

    got, how = asyncio.run(run())
    assert how == "reset"
    assert got.startswith(b'{"id":2,"result":') and not got.endswith(b"\n")


def test_garbage_is_binary_then_closes(lab):
    res = talk(lab, "garbage", [L.STRATUM1_B], idle_s=1.0)
    assert res.closed and len(res.data) == 256 * 1024
    try:
        res.data.decode("utf-8")
        decoded = True
    except UnicodeDecodeError:
        decoded = False
    assert not decoded


def test_slowloris_one_byte_per_half_second(lab):
    t0 = time.monotonic()
    res = talk(lab, "slowloris", [L.STRATUM1_B], idle_s=0.9, deadline_s=1.8)
    assert time.monotonic() - t0 >= 1.7
    assert 2 <= len(res.data) <= 5
    assert all(len(c) == 1 for _, c in res.chunks)
    assert not res.closed


def test_bigline_is_ten_mebibytes_then_newline(lab):
    async def run():
        r, w = await asyncio.open_connection("127.0.0.1", lab.port("hostile-bigline"))
        w.write(L.STRATUM1_B)
        await w.drain()
        total, last = 0, b""
        while True:
            chunk = await asyncio.wait_for(r.read(1 << 16), 5)
            if not chunk:
                break
            total += len(chunk)
            last = (last + chunk)[-32:]
        w.close()
        return total, last

    total, last = asyncio.run(run())
    assert total > 10 * 1024 * 1024
    assert last.endswith(b'","error":null}\n')


def test_banner_speaks_first(lab):
    res = talk(lab, "banner", [L.STRATUM1_B], wait_first=True, idle_s=0.5)
    assert res.chunks[0][1].startswith(b"SSH-2.0-")
    assert res.data.endswith(b"Invalid SSH identification string.\r\n")


def test_tarpit_accepts_and_never_reads(lab):
    async def run():
        conns = [await asyncio.open_connection("127.0.0.1", lab.port("hostile-tarpit")) for _ in range(20)]
        r, w = conns[0]
        w.write(b"x" * (8 << 20))
        try:
            await asyncio.wait_for(w.drain(), 1.0)
            blocked = False
        except asyncio.TimeoutError:
            blocked = True
        try:
            data = await asyncio.wait_for(r.read(10), 0.3)
        except asyncio.TimeoutError:
            data = None
        for _, cw in conns:
            cw.transport.abort()
        return blocked, data

    blocked, data = asyncio.run(run())
    assert blocked  # nobody reads: the 8 MiB write cannot drain
    assert data is None  # nothing sent, nothing closed
