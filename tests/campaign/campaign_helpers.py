"""Helpers for the campaign tests: a farm of real loopback listeners that answer like pools (the lab's
recorded personas, :mod:`scanner.lab.emulator`), optionally after a delay, run by an asyncio loop in a
background thread so that ``poolscan`` itself can run as a real subprocess; and campaign-file writing."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


class PoolFarm:
    """Loopback listeners on 127.0.0.1 (ephemeral ports), each serving one lab persona.

    ``add(persona, delay_s, port=0)`` starts one listener (on ``port``, 0 = ephemeral) and returns its port; every connection waits
    ``delay_s`` seconds before the persona reads the first line (a slow pool). ``stop(port)`` closes one
    listener (a pool that went away). ``close()`` stops everything.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: dict[int, Any] = {}
        self.personas: dict[int, str] = {}

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def add(self, persona: str, delay_s: float = 0.0, port: int = 0) -> int:
        from scanner.lab import personas
        from scanner.lab.emulator import handle_connection

        p = personas.get(persona)

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if delay_s:
                await asyncio.sleep(delay_s)
            await handle_connection(p, reader, writer)

        async def start() -> Any:
            return await asyncio.start_server(on_conn, "127.0.0.1", port, reuse_address=True)

        server = self._call(start())
        port = server.sockets[0].getsockname()[1]
        self.servers[port] = server
        self.personas[port] = persona
        return port

    def stop(self, port: int) -> None:
        server = self.servers.pop(port)
        self.personas.pop(port, None)

        async def close() -> None:
            server.close()
            await server.wait_closed()

        try:
            self._call(asyncio.wait_for(close(), 5))
        except Exception:
            pass

    def close(self) -> None:
        for port in list(self.servers):
            self.stop(port)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def write_campaign(directory: Path, name: str, ports: list[int], *, extra: str = "", probe: str = "",
                   exports: str = "") -> Path:
    """Write a loopback campaign file into ``directory`` (db and out dir inside it); returns its path."""
    text = f"""
name = "{name}"
[targets]
cidrs = ["127.0.0.1"]
[ports]
explicit = {json.dumps(ports)}
[exclusions]
allow_reserved = true
[sweep]
engine = "connect"
rate = 5000
connect_timeout_s = 1.0
[probe]
{probe or 'concurrency = 16'}
[enrich]
enabled = false
[store]
db = "db/poolscan.db"
[exports]
out_dir = "out"
{exports or 'formats = ["jsonl", "csv"]'}
{extra}
"""
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def poolscan(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m scanner ARGS`` (the real CLI) and return the completed process (text mode)."""
    e = dict(os.environ)
    e.update(env or {})
    e.setdefault("COLUMNS", "200")
    return subprocess.run([PY, "-m", "scanner", *args], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=timeout, env=e)


def spawn_poolscan(*args: str, stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE) -> subprocess.Popen:
    """Start ``python -m scanner ARGS`` in its own session and return the Popen."""
    return subprocess.Popen([PY, "-m", "scanner", *args], cwd=str(ROOT), stdout=stdout, stderr=stderr, text=True,
                            start_new_session=True)


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the store with plain sqlite3 (read-only URI, works while a run writes: WAL)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def wait_for(pred, timeout: float, step: float = 0.05, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stored_verdicts(db: Path) -> int:
    """Verdict rows in the store so far (0 while the file or its tables do not exist yet)."""
    if not db.exists():
        return 0
    try:
        return query(db, "SELECT count(*) FROM verdicts")[0][0]
    except sqlite3.OperationalError:
        return 0


def run_inproc(cfg: Path, **kwargs: Any) -> tuple[Any, list[str]]:
    """Run a campaign in this process (the library, as the CLI calls it); returns (RunOutcome, log lines).
    Cheaper than the CLI: the fingerprints stay loaded between tests."""
    from scanner.campaign import run_campaign
    from scanner.config import load_campaign

    lines: list[str] = []
    kwargs.setdefault("display", "log")
    kwargs.setdefault("progress_interval", 0.2)
    out = run_campaign(load_campaign(cfg), echo=lines.append, **kwargs)
    return out, lines
