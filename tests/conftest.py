"""Shared fixtures: the lab's emulated servers running in a background thread for the whole session.

``lab`` is a :class:`ThreadLab`: every persona of :mod:`scanner.lab.personas` listens on an ephemeral
127.0.0.1 port (real sockets, real TLS), served by its own event loop in a daemon thread, so a test can drive
clients (or the real probe engine) with ``asyncio.run`` in the main thread. ``lab.port(name)`` /
``lab.endpoint(name)`` find a persona.
"""

from __future__ import annotations

import asyncio
import threading

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
