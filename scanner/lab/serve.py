"""Run the lab: one listener per persona (and per host), a JSON manifest, clean stop.

Command line (foreground; stops on SIGINT/SIGTERM)::

    python -m scanner.lab.serve --host 127.0.0.1 [--host 10.77.0.2 ...]
        [--base-port N | --ports SPEC] [--personas default|all|NAME,NAME...] [--manifest PATH]

* ``--personas``: ``default`` = :data:`scanner.lab.personas.DEFAULT_LAB`; ``all`` = every persona;
  or a comma list of names (``python -m scanner.lab.personas`` lists them).
* Ports: by default each persona asks for its real-world port (``DEFAULT_LAB`` / ``Persona.port``); when that
  port is taken (or two personas want the same one) the listener falls back to an ephemeral port and the
  manifest says so (``"port_fallback": true, "wanted_port": N``). ``--base-port N`` gives ports N, N+1, ... in
  persona order; ``--ports SPEC`` gives ``name=port,name=port`` or the path of a JSON object ``{name: port}``.
  An explicit port that is taken is an error (exit 2).
* ``--host`` may be given several times: every persona listens on every host, same port.
* The manifest (``--manifest PATH``, else stdout) is written once all listeners are up: a JSON list of
  ``{"persona","host","port","tls","expect":{is_pool,protocol,software,coin,algo,label},"source",
  "port_fallback","wanted_port"}``.

Library::

    async with LoopbackLab(personas=["ckpool", "nomp"], host="127.0.0.1") as lab:
        for ep in lab.endpoints:  # Endpoint(persona, host, port, tls, expect, source, ...)
            ...

TLS personas get a self-signed certificate generated at start with ``cryptography`` (EC P-256, CN and SAN
``pool.example.test`` plus the listen IPs, valid 30 days), written to a temporary directory removed at stop.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import json
import os
import signal
import ssl
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from scanner.errors import UsageError
from scanner.lab import personas as P
from scanner.lab.emulator import Persona, handle_connection


@dataclass(frozen=True)
class Endpoint:
    """One listening persona: ``host``:``port`` (TCP), ``tls`` (True = speak TLS first), ``expect`` (the right
    verdict fields), ``source`` (provenance), ``wanted_port`` / ``port_fallback`` (the preferred port and
    whether it could not be used)."""

    persona: str
    host: str
    port: int
    tls: bool
    expect: dict[str, Any]
    source: str = ""
    wanted_port: int | None = None
    port_fallback: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"persona": self.persona, "host": self.host, "port": self.port, "tls": self.tls,
                "expect": self.expect, "source": self.source, "wanted_port": self.wanted_port,
                "port_fallback": self.port_fallback}


def make_certificate(directory: str, cn: str = "pool.example.test", ips: Iterable[str] = ()) -> tuple[str, str]:
    """Write a self-signed certificate and key (PEM) for ``cn`` into ``directory``; returns their paths.

    EC P-256, SAN = DNS ``cn`` + the given IP addresses, valid from one day ago for 30 days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "poolscan lab")])
    san: list[x509.GeneralName] = [x509.DNSName(cn)]
    for ip in ips:
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            pass
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "lab-cert.pem"), os.path.join(directory, "lab-key.pem")
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(key_path).write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return cert_path, key_path


def resolve_personas(spec: str | Iterable[str | Persona] | None) -> list[tuple[Persona, int | None]]:
    """Turn ``default`` / ``all`` / ``"a,b"`` / a list of names or Persona objects into (persona, wanted port).

    Raises ``UsageError`` naming an unknown persona."""
    if spec is None or spec == "default":
        return [(P.get(n), port) for n, port in P.DEFAULT_LAB.items()]
    if spec == "all":
        out = []
        for p in P.all_personas():
            out.append((p, P.DEFAULT_LAB.get(p.name, p.port)))
        return out
    items: Iterable[Any] = spec.split(",") if isinstance(spec, str) else spec
    out = []
    for item in items:
        if isinstance(item, Persona):
            out.append((item, item.port))
            continue
        name = item.strip()
        if not name:
            continue
        try:
            p = P.get(name)
        except KeyError as exc:
            raise UsageError(f"--personas: {exc.args[0]}") from None
        out.append((p, P.DEFAULT_LAB.get(name, p.port)))
    return out


def parse_ports(spec: str) -> dict[str, int]:
    """``--ports``: ``name=port,...`` or a JSON file ``{name: port}``. Raises ``UsageError`` on bad input."""
    if os.path.exists(spec):
        try:
            data = json.loads(Path(spec).read_text())
            return {str(k): int(v) for k, v in data.items()}
        except (ValueError, AttributeError) as exc:
            raise UsageError(f"--ports {spec}: not a JSON object of persona -> port ({exc})") from None
    out = {}
    for part in spec.split(","):
        name, sep, port = part.partition("=")
        if not sep or not port.strip().isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--ports: {part!r} is not name=port (port 1-65535)")
        out[name.strip()] = int(port)
    return out


class LoopbackLab:
    """A set of persona listeners on one or more hosts, as an async context manager.

    Arguments: personas (see :func:`resolve_personas`), host (one address or a list), base_port (ports
    base_port, base_port+1, ... in persona order; no fallback), ports ({name: port}, no fallback),
    real_ports (False = every listener on an ephemeral port; tests use that), tls_cn.
    After ``start()``: ``endpoints`` (list of :class:`Endpoint`), ``manifest()`` (list of dicts).
    Raises ``UsageError`` when an explicitly requested port cannot be bound.
    """

    def __init__(self, personas: str | Iterable[str | Persona] | None = "default",
                 host: str | Iterable[str] = "127.0.0.1", *, base_port: int | None = None,
                 ports: dict[str, int] | None = None, real_ports: bool = True,
                 tls_cn: str = "pool.example.test") -> None:
        self.hosts = [host] if isinstance(host, str) else list(host)
        self.selected = resolve_personas(personas)
        self.base_port = base_port
        self.ports = ports or {}
        self.real_ports = real_ports
        self.tls_cn = tls_cn
        self.endpoints: list[Endpoint] = []
        self._servers: list[asyncio.base_events.Server] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ssl: ssl.SSLContext | None = None
        self._conns: set[asyncio.Task[Any]] = set()

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="poolscan-lab-")
            cert, key = make_certificate(self._tmp.name, self.tls_cn, self.hosts)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._ssl = ctx
        return self._ssl

    async def _listen(self, persona: Persona, port: int) -> list[asyncio.base_events.Server]:
        servers = []
        ctx = self._ssl_context() if persona.tls else None

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._conns.add(task)
            try:
                await handle_connection(persona, reader, writer)
            except asyncio.CancelledError:
                pass  # the lab is stopping: end quietly (asyncio's stream callback would log a cancelled task)
            finally:
                if task is not None:
                    self._conns.discard(task)

        chosen = port
        try:
            for host in self.hosts:
                srv = await asyncio.start_server(on_conn, host, chosen, ssl=ctx, reuse_address=True,
                                                 backlog=1024, ssl_handshake_timeout=10 if ctx else None,
                                                 limit=1 << 16)
                servers.append(srv)
                if chosen == 0:
                    chosen = srv.sockets[0].getsockname()[1]
        except OSError:
            for srv in servers:
                srv.close()
            raise
        return servers

    async def start(self) -> "LoopbackLab":
        """Bind every listener; returns self. On error, closes what was opened and re-raises."""
        used: set[int] = set()
        try:
            for i, (persona, wanted) in enumerate(self.selected):
                explicit = None
                if persona.name in self.ports:
                    explicit = self.ports[persona.name]
                elif self.base_port is not None:
                    explicit = self.base_port + i
                want = explicit if explicit is not None else (wanted if self.real_ports else None)
                fallback = False
                servers = None
                if want and want not in used:
                    try:
                        servers = await self._listen(persona, want)
                    except OSError as exc:
                        if explicit is not None:
                            raise UsageError(f"port {want} for persona {persona.name}: {exc.strerror or exc}") from None
                        fallback = True  # taken (EADDRINUSE) or not allowed (EACCES): ephemeral port
                elif want:
                    if explicit is not None:
                        raise UsageError(f"port {want} given to two personas ({persona.name})")
                    fallback = True
                if servers is None:
                    servers = await self._listen(persona, 0)
                port = servers[0].sockets[0].getsockname()[1]
                used.add(port)
                self._servers.extend(servers)
                for host in self.hosts:
                    self.endpoints.append(Endpoint(persona.name, host, port, persona.tls, dict(persona.expect),
                                                   persona.source, want or None, fallback))
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """Close every listener and every open connection; remove the certificate directory."""
        for srv in self._servers:
            srv.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)
        for srv in self._servers:
            try:
                await asyncio.wait_for(srv.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass
        self._servers.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> "LoopbackLab":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    def manifest(self) -> list[dict[str, Any]]:
        """The manifest: one dict per endpoint (see the module docstring)."""
        return [e.to_dict() for e in self.endpoints]

    def endpoint(self, persona: str, host: str | None = None) -> Endpoint:
        """The endpoint of ``persona`` (on ``host``, default the first host). Raises ``KeyError``."""
        for e in self.endpoints:
            if e.persona == persona and (host is None or e.host == host):
                return e
        raise KeyError(persona)


async def _serve(args: argparse.Namespace) -> None:
    ports = parse_ports(args.ports) if args.ports else None
    lab = LoopbackLab(args.personas, args.host or ["127.0.0.1"], base_port=args.base_port, ports=ports)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with lab:
        text = json.dumps(lab.manifest(), indent=1, ensure_ascii=False) + "\n"
        if args.manifest:
            tmp = args.manifest + ".tmp"
            Path(tmp).write_text(text)
            os.replace(tmp, args.manifest)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        for e in lab.endpoints:
            if e.port_fallback:
                print(f"lab: {e.persona}: port {e.wanted_port} unavailable, listening on {e.host}:{e.port}",
                      file=sys.stderr)
        print(f"lab: {len(lab.endpoints)} listeners up; Ctrl-C or SIGTERM to stop", file=sys.stderr)
        await stop.wait()
    print("lab: stopped", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scanner.lab.serve``; returns the exit code (2 on bad input)."""
    ap = argparse.ArgumentParser(prog="python -m scanner.lab.serve",
                                 description="Run the poolscan lab's emulated servers in the foreground.")
    ap.add_argument("--host", action="append", help="address to listen on (repeatable; default 127.0.0.1)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--base-port", type=int, help="ports N, N+1, ... in persona order")
    group.add_argument("--ports", help="name=port,... or a JSON file {name: port}")
    ap.add_argument("--personas", default="default", help="default | all | NAME,NAME,...")
    ap.add_argument("--manifest", help="write the JSON manifest here (default: stdout)")
    args = ap.parse_args(argv)
    if args.base_port is not None and not 0 < args.base_port < 65536:
        print(f"error: --base-port {args.base_port}: not a port (1-65535)", file=sys.stderr)
        return 2
    for h in args.host or ():
        try:
            ip = ipaddress.ip_address(h)
        except ValueError:
            print(f"error: --host {h!r}: not an IP address", file=sys.stderr)
            return 2
        if ip.is_unspecified:
            print(f"error: --host {h}: give the lab a specific address (loopback or a lab namespace address), "
                  "not every interface", file=sys.stderr)
            return 2
    try:
        asyncio.run(_serve(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
