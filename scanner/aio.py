"""The event loop poolscan's commands run on: uvloop when it is installed, else asyncio's own.

uvloop (libuv) roughly halves the client CPU of a probe connection against asyncio's selector loop
(``make bench``, throughput section: full Stratum v1 handshakes per second and CPU per handshake for both
loops). ``POOLSCAN_LOOP=asyncio`` forces the standard loop (to compare, or to debug with asyncio's debug mode).
Both run the coroutine under :class:`asyncio.Runner`, so Ctrl-C cancels the main task the same way.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from typing import Any, Callable, Coroutine, TypeVar

T = TypeVar("T")


def loop_name() -> str:
    """``"uvloop"`` when commands will run on uvloop, else ``"asyncio"``."""
    if os.environ.get("POOLSCAN_LOOP", "auto").strip().lower() == "asyncio":
        return "asyncio"
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for :class:`asyncio.Runner` (None = asyncio's default loop)."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on :func:`loop_name`'s loop, like :func:`asyncio.run` (which it replaces in
    the CLI). Raises whatever the coroutine raises; Ctrl-C raises ``KeyboardInterrupt`` after cancelling it."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)
