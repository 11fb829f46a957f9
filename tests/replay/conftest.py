"""Replay fixtures: the REAL probe engine (scanner.probes.engine.probe_port) against the lab's personas.

Every persona of the session lab (tests/conftest.py, real loopback sockets) is probed once, concurrently
(at most 8 at a time), and the ProbeResults are cached for the session, so each replay test only asserts.
"""

from __future__ import annotations

import asyncio

import pytest

from scanner.probes.engine import ProbeOptions, probe_port


@pytest.fixture(scope="session")
def replay(lab):
    """``replay(persona) -> ProbeResult`` with the engine's default options (cached, probed concurrently)."""
    names = [e.persona for e in lab.endpoints if not e.persona.startswith("hostile-")]
    results: dict[str, object] = {}

    async def run_all():
        sem = asyncio.Semaphore(8)

        async def one(name):
            async with sem:
                results[name] = await asyncio.wait_for(
                    probe_port("127.0.0.1", lab.port(name), ProbeOptions()), 120)

        await asyncio.gather(*(one(n) for n in names))

    asyncio.run(run_all())
    return results.__getitem__
