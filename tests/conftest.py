"""Shared fixtures: the lab's emulated servers running in a background thread for the whole session.

``lab`` is a :class:`ThreadLab`: every persona of :mod:`scanner.lab.personas` listens on an ephemeral
127.0.0.1 port (real sockets, real TLS), served by its own event loop in a daemon thread, so a test can drive
clients (or the real probe engine) with ``asyncio.run`` in the main thread. ``lab.port(name)`` /
``lab.endpoint(name)`` find a persona.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from scanner.lab.serve import Endpoint, LoopbackLab


class ThreadLab:
    """A :class:`LoopbackLab` on its own event loop in a daemon thread (start/stop are blocking)."""

    def __init__(self, personas: str | list = "all") -> None:
        self.loop = asyncio.new_event_loop()
        self.lab = LoopbackLab(personas, "127.0.0.1", real_ports=False)
        self.thread = threading.Thread(target=self.loop.run_forever, name="poolscan-lab", daemon=True)

    def start(self) -> "ThreadLab":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.lab.start(), self.loop).result(30)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.lab.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def endpoint(self, persona: str) -> Endpoint:
        return self.lab.endpoint(persona)

    def port(self, persona: str) -> int:
        return self.lab.endpoint(persona).port

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.lab.endpoints


@pytest.fixture(scope="session")
def lab():
    """Every persona on an ephemeral loopback port for the whole test session."""
    tl = ThreadLab("all").start()
    yield tl
    tl.stop()


MEDALLION = Path(sys.executable).with_name("medallion")


@contextlib.contextmanager
def medallion_server(workdir: Path, user: str, password: str, writable: str, readonly: str) -> Iterator[str]:
    """A real TAXII 2.1 server (medallion, memory backend) on a free 127.0.0.1 port, with one writable and one
    read-only collection; yields its base URL (``http://127.0.0.1:PORT``); stopped by PID at the end.
    Config as in ../shared/reference/environment.md section 4."""
    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    coll = {"can_read": True, "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}
    data = {
        "/discovery": {"title": "poolscan test TAXII", "description": "medallion memory backend",
                       "contact": "test@example.invalid", "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
        "api1": {"information": {"title": "API root 1", "description": "test api root",
                                 "versions": ["application/taxii+json;version=2.1"], "max_content_length": 10485760},
                 "status": [],
                 "collections": [{"id": writable, "title": "mining-pools", "description": "writable",
                                  "can_write": True, **coll},
                                 {"id": readonly, "title": "read-only", "description": "", "can_write": False, **coll}]},
    }
    (workdir / "data.json").write_text(json.dumps(data))
    (workdir / "config.json").write_text(json.dumps({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": str(workdir / "data.json")},
        "users": {user: password}, "taxii": {"max_page_size": 100}}))
    log = open(workdir / "medallion.log", "wb")
    proc = subprocess.Popen([str(MEDALLION), "--host", "127.0.0.1", "--port", str(port),
                             str(workdir / "config.json")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/taxii2/", auth=(user, password), timeout=1,
                                headers={"Accept": "application/taxii+json;version=2.1"}).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("medallion did not start: " + (workdir / "medallion.log").read_text()[-2000:])
            time.sleep(0.1)
        yield base
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def taxii_server():
    """:func:`medallion_server` for tests: ``with taxii_server(dir, user, pw, writable_id, readonly_id) as base``."""
    if not MEDALLION.exists():
        pytest.skip("medallion is not installed in the venv")
    return medallion_server
