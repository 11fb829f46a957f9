"""A fast benchmark server: a ckpool and a CryptoNote pool that answer at once, and the one-line echo of the
baseline floor.

``python -m bench.fastpool --hosts 127.77.0.1,127.77.0.2 [--loop uvloop|asyncio]`` listens, on every host,
on three ports (the same numbers on every host) and prints ``READY {"hosts": [...], "pool_port": P,
"cn_port": C, "echo_port": E, "loop": ...}``:

* ``pool_port``: a Stratum v1 server that answers with the bytes ckpool sent on loopback, taken from the lab's
  ckpool persona (``scanner.lab.personas.get("ckpool")``, itself built from
  ``tests/transcripts/recorded/ckpool.jsonl`` P1, pool mode): ``mining.configure`` -> the version-rolling
  result; ``mining.subscribe`` -> subscribe result + ``mining.set_difficulty`` + ``mining.notify`` (ckpool
  pushes the job right after subscribe in that recording); ``mining.authorize`` -> ``true``; anything else ->
  silence (ckpool ignores unknown methods, protocols.md §6.1). Only the request id is substituted.
* ``cn_port``: a CryptoNote (xmrig-style ``login``) server that answers ``login`` with the bytes
  cryptonote-nodejs-pool sent on loopback, taken from the lab persona
  (``scanner.lab.personas.get("cryptonote-nodejs-pool")``, built from
  ``tests/transcripts/recorded/cryptonote-nodejs-pool.jsonl`` port 3333 ``X4_xmr_valid_login``): one line,
  ``result.job`` is the first job (1 round trip by protocol). Anything else -> silence. Only the request id
  is substituted.
* ``echo_port``: reads one line and writes it back; closes when the client closes (the floor: connect +
  send one line + read one line + close, as in ``../shared/reference/environment.md`` §7).

It uses ``asyncio.Protocol`` (no streams, no JSON parsing: the method is found by substring), so that the
server costs less CPU per connection than the client under test and the measurement is of the client.
Every read is bounded: a connection whose unterminated line exceeds 64 KiB is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
from typing import Any

MAX_LINE = 65536
_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"[^"\\]{0,64}"|null)')


def ckpool_replies() -> dict[bytes, list[str]]:
    """Method (bytes) -> reply line templates (``{{id}}`` placeholders), from the lab's ckpool persona."""
    from scanner.lab import personas

    p = personas.get("ckpool")
    out: dict[bytes, list[str]] = {}
    for method in ("mining.configure", "mining.subscribe", "mining.authorize"):
        rule = p.methods[method][0]
        out[method.encode()] = list(rule.lines)
    return out


def cryptonote_replies(persona: str = "cryptonote-nodejs-pool") -> dict[bytes, list[str]]:
    """Method marker (bytes) -> reply line templates (``{{id}}`` placeholders) for ``login``, from the lab's
    ``persona`` (``cryptonote-nodejs-pool`` or ``xmrig-proxy``: both built from recordings). The marker is
    ``"method":"login"`` as the compact JSON of xmrig and poolscan writes it (``"login"`` alone is also a
    key of the params)."""
    from scanner.lab import personas

    rule = personas.get(persona).methods["login"][0]
    return {b'"method":"login"': list(rule.lines)}


class PoolProtocol(asyncio.Protocol):
    """One connection of the fast ckpool (see the module docstring). Subclasses change ``replies``."""

    replies: dict[bytes, list[str]] = {}
    cache: dict[tuple[bytes, bytes], bytes] = {}

    def connection_made(self, transport: Any) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        out = []
        while True:
            i = buf.find(b"\n")
            if i < 0:
                break
            line, buf = buf[:i], buf[i + 1:]
            for method in self.replies:
                if method in line:
                    m = _ID.search(line)
                    rid = m.group(1) if m else b"null"
                    key = (method, rid)
                    reply = self.cache.get(key)
                    if reply is None:
                        reply = "".join(self.replies[method]).replace("{{id}}", rid.decode()).encode()
                        if len(self.cache) < 1000:
                            self.cache[key] = reply
                    out.append(reply)
                    break
        if len(buf) > MAX_LINE:
            self.t.close()
            return
        self.buf = buf
        if out:
            self.t.write(b"".join(out))


class CryptoNoteProtocol(PoolProtocol):
    """One connection of the fast CryptoNote pool: ``login`` -> the recorded login reply with its job."""

    replies: dict[bytes, list[str]] = {}
    cache: dict[tuple[bytes, bytes], bytes] = {}


class EchoProtocol(asyncio.Protocol):
    """One connection of the echo floor: every complete line is written back."""

    def connection_made(self, transport: Any) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        i = buf.rfind(b"\n")
        if i >= 0:
            self.t.write(buf[: i + 1])
            buf = buf[i + 1:]
        if len(buf) > MAX_LINE:
            self.t.close()
            return
        self.buf = buf


async def _listen_all(factory: Any, hosts: list[str]) -> tuple[int, list[Any]]:
    """Listen with ``factory`` on every host, the same port number on each (tries a few ports)."""
    loop = asyncio.get_running_loop()
    for _attempt in range(20):
        servers = []
        port = 0
        try:
            for h in hosts:
                srv = await loop.create_server(factory, h, port, backlog=4096, reuse_address=True)
                servers.append(srv)
                port = srv.sockets[0].getsockname()[1]
            return port, servers
        except OSError:
            for s in servers:
                s.close()
    raise OSError("could not find one free port on every host")


async def serve(hosts: list[str], loop_kind: str) -> None:
    """Listen, print ``READY {...}``, serve until SIGTERM/SIGINT."""
    PoolProtocol.replies = ckpool_replies()
    CryptoNoteProtocol.replies = cryptonote_replies()
    pool_port, s1 = await _listen_all(PoolProtocol, hosts)
    cn_port, s3 = await _listen_all(CryptoNoteProtocol, hosts)
    echo_port, s2 = await _listen_all(EchoProtocol, hosts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("READY " + json.dumps({"hosts": hosts, "pool_port": pool_port, "cn_port": cn_port,
                                 "echo_port": echo_port,
                                 "loop": loop_kind}), flush=True)
    await stop.wait()
    for s in s1 + s2 + s3:
        s.close()


def hosts_range(prefix: str, n: int) -> list[str]:
    """``n`` loopback addresses ``prefix.0.1``, ``prefix.0.2``... (``prefix`` like ``127.77``); loopback only."""
    if not prefix.startswith("127."):
        raise ValueError(f"{prefix!r}: benchmark servers listen on 127.0.0.0/8 only")
    return [f"{prefix}.{i // 250}.{i % 250 + 1}" for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fastpool")
    ap.add_argument("--hosts", default="127.77.0.1", help="comma-separated 127.x.y.z addresses")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = ap.parse_args(argv)
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    if not hosts or not all(h.startswith("127.") for h in hosts):
        print("error: --hosts: loopback (127.x.y.z) addresses only", file=sys.stderr)
        return 2
    from bench import run_async

    try:
        run_async(lambda: serve(hosts, args.loop), args.loop)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
