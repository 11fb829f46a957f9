"""Record what a real server on loopback answers to poolscan's probe lines (lab data with provenance).

Usage::

    python -m scanner.lab.record --port 16379 --software redis-server --version "Redis 7.0.15" \\
        --notes "apt redis-server, default config, --save ''" > scanner/lab/data/recorded/redis.jsonl

Output: one JSON object per probe in the format of ``tests/transcripts/README.md`` (``software``,
``software_version_or_commit``, ``port``, ``probe_id``, ``sent`` = one element per write, ``received`` =
``[{"t_ms", "data"}]`` chunks, ``closed_by_server``, ``notes``). Received bytes that are not UTF-8 are kept
as ``{"t_ms", "b64"}``.

Safety: only loopback targets (127.0.0.0/8, ::1) are accepted; anything else raises ``UsageError``.
Every read is bounded: at most ``max_bytes`` (default 64 KiB) per probe and ``wait_s`` seconds after the
last write.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import json
import sys
import time

from scanner.errors import UsageError
from scanner.lab import probelines


def _check_loopback(host: str) -> None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--host {host!r}: give a loopback IP address (127.0.0.0/8 or ::1)") from None
    if not ip.is_loopback:
        raise UsageError(f"--host {host}: the recorder only talks to loopback addresses")


async def record_probe(host: str, port: int, steps: list[bytes], *, pause_s: float = 0.3,
                       wait_s: float = 2.0, max_bytes: int = 65536) -> dict:
    """Open one connection, write each step (``pause_s`` seconds apart), read until ``wait_s`` seconds after
    the last write, EOF, reset or ``max_bytes``. Returns ``{"sent", "received", "closed_by_server"}``."""
    _check_loopback(host)
    reader, writer = await asyncio.open_connection(host, port)
    t0 = time.monotonic()
    received: list[dict] = []
    total = 0
    closed = False

    async def reader_task() -> None:
        nonlocal total, closed
        try:
            while total < max_bytes:
                data = await reader.read(4096)
                if not data:
                    closed = True
                    return
                total += len(data)
                t_ms = round((time.monotonic() - t0) * 1000, 1)
                try:
                    received.append({"t_ms": t_ms, "data": data.decode("utf-8")})
                except UnicodeDecodeError:
                    received.append({"t_ms": t_ms, "b64": base64.b64encode(data).decode()})
        except (ConnectionError, OSError):
            closed = True

    task = asyncio.create_task(reader_task())
    sent = []
    try:
        for i, step in enumerate(steps):
            if i:
                await asyncio.sleep(pause_s)
            if task.done():
                break
            writer.write(step)
            await writer.drain()
            sent.append(step.decode("utf-8", "replace"))
        try:
            await asyncio.wait_for(asyncio.shield(task), wait_s)
        except asyncio.TimeoutError:
            pass
    except (ConnectionError, OSError):
        closed = True
    finally:
        task.cancel()
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    return {"sent": sent, "received": received, "closed_by_server": closed}


def default_probes(host: str, port: int) -> dict[str, list[bytes]]:
    """poolscan's probe set (:mod:`scanner.lab.probelines`) plus the HTTP probes, keyed by probe id."""
    hp = f"{host}:{port}"
    probes = dict(probelines.PROBES)
    probes["http"] = [probelines.http_get(hp)]
    probes["getwork"] = [probelines.http_post_jsonrpc(hp, "eth_getWork")]
    probes["web3"] = [probelines.http_post_jsonrpc(hp, "web3_clientVersion")]
    return probes


async def _main(args: argparse.Namespace) -> None:
    for probe_id, steps in default_probes(args.host, args.port).items():
        rec = await record_probe(args.host, args.port, steps, wait_s=args.wait)
        out = {"software": args.software, "software_version_or_commit": args.version, "port": args.port,
               "probe_id": probe_id, **rec, "notes": args.notes}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 on bad input)."""
    p = argparse.ArgumentParser(prog="python -m scanner.lab.record", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--software", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--notes", default="")
    p.add_argument("--wait", type=float, default=2.0, help="seconds to read after the last write")
    args = p.parse_args(argv)
    try:
        asyncio.run(_main(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
