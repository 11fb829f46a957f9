"""Hostile peers: servers that stall, flood, reset or lie, to prove every probe read is bounded.

Each behaviour is a coroutine ``(reader, writer) -> None`` run by :func:`scanner.lab.emulator.handle_connection`
for personas of kind ``hostile:<name>``. None of them buffers what the client sends beyond one read of at
most 64 KiB, and the flooding ones write with ``drain()`` (back-pressure), so the lab's memory stays bounded
whatever the client does. All stop when the client goes away or the lab is stopped.

Behaviours (name -> what the client sees):

* ``silent``      — accepts, reads and discards everything, never writes, never closes.
* ``endless``     — after the first bytes from the client, writes ``{"id":1,"result":"`` then ``A`` forever,
  64 KiB per write, never a newline, until the client closes.
* ``reset``       — after the first request line, writes half a JSON line, then closes with RST
  (SO_LINGER on, 0 s).
* ``garbage``     — after the first bytes, writes 256 KiB of random binary (``os.urandom``), then closes.
* ``slowloris``   — after the first bytes, writes a plausible JSON reply one byte every 0.5 s, forever
  (the line never ends: the reply is repeated).
* ``bigline``     — after the first bytes, writes one 10 MiB line (a JSON string of ``A``), ``\\n``, then
  closes.
* ``banner``      — speaks first: an SSH identification line on accept; to anything else it answers
  ``Invalid SSH identification string.`` and closes (OpenSSH ``sshd`` behaviour, written from memory for the
  lab, not recorded).
* ``tarpit``      — accepts every connection and then neither reads nor writes (the client's writes fill the
  socket buffers); each connection is held ``TARPIT_HOLD_S`` (300 s) or until the lab stops.
"""

from __future__ import annotations

import asyncio
import os

from scanner.lab.emulator import _abort

CHUNK = 64 * 1024
BIG_LINE = 10 * 1024 * 1024
TARPIT_HOLD_S = 300.0
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"

NAMES = ("silent", "endless", "reset", "garbage", "slowloris", "bigline", "banner", "tarpit")
DESCRIPTIONS = {
    "silent": "accepts, reads, never writes, never closes",
    "endless": "one line without end: {\"id\":1,\"result\":\" then A forever, 64 KiB per write",
    "reset": "half a JSON line after the first request line, then RST",
    "garbage": "256 KiB of random binary after the first bytes, then FIN",
    "slowloris": "a plausible JSON reply, one byte every 0.5 s, forever",
    "bigline": "one 10 MiB line after the first bytes, then FIN",
    "banner": "speaks first (SSH banner), then 'Invalid SSH identification string.' and FIN",
    "tarpit": "accepts, never reads or writes; held 300 s or until the lab stops",
}


async def _first_bytes(reader: asyncio.StreamReader) -> bytes:
    return await reader.read(CHUNK)


async def _drain_until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(CHUNK):
        pass


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _drain_until_eof(reader)


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if not await _first_bytes(reader):
        return
    eof = asyncio.create_task(_drain_until_eof(reader))
    try:
        writer.write(b'{"id":1,"result":"')
        block = b"A" * CHUNK
        while not eof.done():
            writer.write(block)
            await writer.drain()
    finally:
        eof.cancel()


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    buf = b""
    while b"\n" not in buf:
        data = await reader.read(CHUNK)
        if not data:
            return
        buf = (buf + data)[-CHUNK:]
    writer.write(b'{"id":2,"result":[[["mining.notify","ae6812eb4cd7735a3')
    await writer.drain()
    await asyncio.sleep(0.05)
    _abort(writer)


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if not await _first_bytes(reader):
        return
    for _ in range(4):
        writer.write(os.urandom(CHUNK))
        await writer.drain()


async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if not await _first_bytes(reader):
        return
    eof = asyncio.create_task(_drain_until_eof(reader))
    reply = b'{"id":2,"result":[[["mining.set_difficulty","1"],["mining.notify","1"]],"00000000",4],"error":null}'
    try:
        i = 0
        while not eof.done():
            writer.write(reply[i % len(reply):i % len(reply) + 1])
            await writer.drain()
            i += 1
            await asyncio.sleep(0.5)
    finally:
        eof.cancel()


async def bigline(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if not await _first_bytes(reader):
        return
    writer.write(b'{"id":2,"result":"')
    block = b"A" * CHUNK
    for _ in range(BIG_LINE // CHUNK):
        writer.write(block)
        await writer.drain()
    writer.write(b'","error":null}\n')
    await writer.drain()


async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(SSH_BANNER)
    await writer.drain()
    data = await reader.read(CHUNK)
    if data and not data.startswith(b"SSH-"):
        writer.write(b"Invalid SSH identification string.\r\n")
        await writer.drain()


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.transport.pause_reading()
    # held (not read, not written) for TARPIT_HOLD_S seconds or until the lab stops
    await asyncio.sleep(TARPIT_HOLD_S)


BEHAVIOURS = {
    "silent": silent,
    "endless": endless,
    "reset": reset,
    "garbage": garbage,
    "slowloris": slowloris,
    "bigline": bigline,
    "banner": banner,
    "tarpit": tarpit,
}


async def serve(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Run hostile behaviour ``name`` on one connection. Raises ``KeyError`` for an unknown name."""
    await BEHAVIOURS[name](reader, writer)
