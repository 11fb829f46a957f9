"""A plain, bounded asyncio client for talking to lab personas in tests (not the probe engine).

:func:`exchange` writes each step, reads what comes back, and reports how the conversation ended. Every read
is bounded in bytes (``max_bytes``) and time (``idle_s`` of silence ends a step; ``deadline_s`` ends it all).
Only loopback addresses are accepted (``ValueError`` otherwise).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    """What one :func:`exchange` saw: ``data`` (all bytes read, capped), ``closed`` (EOF from the peer),
    ``reset`` (connection reset), ``truncated`` (``max_bytes`` reached), ``chunks`` (``(t_s, bytes)`` of every
    read), ``tls_cert`` (the peer's DER certificate for TLS)."""

    data: bytes = b""
    closed: bool = False
    reset: bool = False
    truncated: bool = False
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    tls_cert: bytes | None = None


def client_tls_context() -> ssl.SSLContext:
    """A TLS client context that accepts the lab's self-signed certificate (no verification)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def exchange(host: str, port: int, steps: list[bytes], *, tls: bool = False, idle_s: float = 0.4,
                   deadline_s: float = 10.0, max_bytes: int = 1 << 20, wait_first: bool = False) -> Result:
    """Connect to ``host``:``port`` (TLS when ``tls``), write each step and read until ``idle_s`` seconds of
    silence after it, EOF, reset, ``max_bytes`` or ``deadline_s`` (seconds, whole exchange).
    ``wait_first``: read before the first write (for peers that speak first)."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"lab client talks to loopback only, not {host}")
    res = Result()
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port, ssl=client_tls_context() if tls else None)
    if tls:
        sslobj = writer.get_extra_info("ssl_object")
        res.tls_cert = sslobj.getpeercert(binary_form=True) if sslobj else None

    async def read_phase() -> None:
        while len(res.data) < max_bytes:
            left = deadline_s - (time.monotonic() - t0)
            if left <= 0:
                return
            try:
                chunk = await asyncio.wait_for(reader.read(min(65536, max_bytes - len(res.data))), min(idle_s, left))
            except asyncio.TimeoutError:
                return
            if not chunk:
                res.closed = True
                return
            res.chunks.append((time.monotonic() - t0, chunk))
            res.data += chunk
        res.truncated = True

    try:
        if wait_first:
            await read_phase()
        for step in steps:
            if res.closed or res.truncated:
                break
            writer.write(step)
            await writer.drain()
            await read_phase()
    except (ConnectionResetError, BrokenPipeError):
        res.reset = True
    except ssl.SSLError:
        res.reset = True
    finally:
        writer.transport.abort()
    return res
