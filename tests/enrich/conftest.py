"""Helpers for the enrichment tests: real tiny .mmdb files (mmdb-writer), real HTTP servers on
127.0.0.1 (aiohttp.web and raw asyncio for the hostile ones), and ProbeResult builders."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from scanner.model import Exchange, ProbeResult, Status, Transcript, Verdict

_REPO = Path(__file__).resolve().parents[2]
# the repo's copy of ../shared/transcripts (recorded from real pool software, see its README)
RECORDED = _REPO / "tests" / "transcripts" / "recorded"
if not RECORDED.is_dir():
    RECORDED = _REPO.parent / "shared" / "transcripts"


def write_mmdb(path: Path, database_type: str, networks: dict[str, dict], ip_version: int = 6) -> Path:
    """A real MaxMind-format file: ``networks`` maps CIDR -> record."""
    w = MMDBWriter(ip_version=ip_version, ipv4_compatible=(ip_version == 6), database_type=database_type,
                   languages=["en"], description={"en": f"poolscan test {database_type}"})
    for cidr, record in networks.items():
        w.insert_network(IPSet([cidr]), record)
    w.to_db_file(str(path))
    return path


def recorded_http(software: str, path: str, port: int | None = None) -> dict[str, Any]:
    """The first recorded ``HTTP GET <path>`` answer of ``software`` in ../shared/transcripts
    (status, headers, body_prefix)."""
    with open(RECORDED / f"{software}.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("probe_id") == f"HTTP GET {path}" and r.get("http") and port in (None, r.get("port")):
                return r["http"]
    raise LookupError(f"no recorded HTTP GET {path} for {software}")


def probe_result(ip: str = "127.0.0.1", port: int = 3333, software: str | None = None,
                 http_seen: bool = False, tls_info: dict | None = None, http_tls: bool = False) -> ProbeResult:
    """A ProbeResult as the probe stage makes it: an optional ``http`` transcript that saw an HTTP
    status line, an optional TLS stratum transcript with ``tls_info``."""
    ts = []
    if http_seen:
        ts.append(Transcript(ip=ip, port=port, probe="http", status=Status.SUCCESS, tls=http_tls,
                             tls_info={"version": "TLSv1.3"} if http_tls else None, exchanges=(
            Exchange(0.0, "send", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Exchange(0.01, "recv", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))))
    else:
        ts.append(Transcript(ip=ip, port=port, probe="stratum1", status=Status.SUCCESS, exchanges=(
            Exchange(0.0, "send", b'{"id":1,"method":"mining.subscribe","params":[]}\n'),
            Exchange(0.01, "recv", b'{"id":1,"result":[[],"00",4],"error":null}\n'))))
    if tls_info is not None:
        ts.append(Transcript(ip=ip, port=port, probe="stratum1", status=Status.SUCCESS, tls=True,
                             tls_info=tls_info, exchanges=()))
    return ProbeResult(ip=ip, port=port, status=Status.SUCCESS,
                       verdict=Verdict(is_pool=True if software else None, software=software, confidence=0.9),
                       transcripts=tuple(ts), tls=tls_info is not None)


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run one async test body on a fresh event loop."""
    return asyncio.run(coro_fn())


class Served:
    """An aiohttp.web app on 127.0.0.1:<free port>; counts the requests per path."""

    def __init__(self, routes: dict[str, Callable], ssl_context=None) -> None:
        from aiohttp import web

        self.ssl_context = ssl_context
        self.hits: dict[str, int] = {}
        self.app = web.Application()

        def wrap(handler):
            async def h(request):
                self.hits[request.path] = self.hits.get(request.path, 0) + 1
                self.last_headers = dict(request.headers)
                return await handler(request)
            return h

        for path, handler in routes.items():
            self.app.router.add_get(path, wrap(handler))
        self.runner = web.AppRunner(self.app, access_log=None)
        self.port = 0

    async def __aenter__(self) -> "Served":
        from aiohttp import web

        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


class RawServer:
    """A raw asyncio TCP server on 127.0.0.1:<free port> running ``handler(reader, writer)``."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.port = 0
        self.connections = 0

    async def _h(self, reader, writer):
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> "RawServer":
        self.server = await asyncio.start_server(self._h, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            if getattr(task.get_coro(), "__qualname__", "").startswith("RawServer._h"):
                task.cancel()
        await self.server.wait_closed()


@pytest.fixture(autouse=True)
def _fresh_readers():
    from scanner.enrich import geo

    yield
    geo.close_all()
