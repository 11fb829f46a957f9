"""The CLI's event loop choice (scanner/aio.py): uvloop when installed, asyncio on request."""

import asyncio

import pytest

from scanner import aio


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_the_default_when_installed(monkeypatch):
    pytest.importorskip("uvloop")
    monkeypatch.delenv("POOLSCAN_LOOP", raising=False)
    assert aio.loop_name() == "uvloop"
    assert aio.run(_loop_module()).startswith("uvloop")


def test_poolscan_loop_asyncio_forces_the_standard_loop(monkeypatch):
    monkeypatch.setenv("POOLSCAN_LOOP", "asyncio")
    assert aio.loop_name() == "asyncio"
    assert aio.run(_loop_module()).startswith("asyncio")


def test_run_propagates_the_coroutine_error(monkeypatch):
    monkeypatch.setenv("POOLSCAN_LOOP", "asyncio")

    async def boom():
        raise ValueError("x")

    with pytest.raises(ValueError):
        aio.run(boom())
