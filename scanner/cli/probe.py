"""``poolscan probe HOST[:PORT]`` — the ad hoc probe of one suspicious host, answered in seconds."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import sys
from typing import AsyncIterator

import click

from scanner import aio
from scanner.cli import cli
from rich.markup import escape

from scanner.cli.output import print_json_line, print_result_cards, stderr, stdout
from scanner.errors import UsageError
from scanner.model import ProbeResult
from scanner.pipeline import enrich_stage
from scanner.probes.engine import ProbeOptions, probe_port
from scanner.transport.limits import Limits


def parse_hostport(spec: str) -> tuple[str, str, int | None]:
    """Split ``HOST[:PORT]`` (``203.0.113.7:3333``, ``[2001:db8::1]:3333``, ``::1``, ``pool.example:4444``).

    Returns (ip, name, port) with ``name`` the host as given (for SNI) and ``port`` None when absent.
    Raises :class:`~scanner.errors.UsageError` for a malformed host or a port outside 1-65535. A host name is
    resolved with the system resolver (first address).
    """
    s = spec.strip()
    if not s:
        raise UsageError("empty host")
    host, port_s = s, None
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise UsageError(f"{spec!r}: missing ']' after an IPv6 address")
        host, rest = s[1:end], s[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"{spec!r}: expected ':PORT' after ']'")
            port_s = rest[1:]
    elif s.count(":") == 1:
        host, port_s = s.split(":")
    port = None
    if port_s is not None:
        if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
            raise UsageError(f"{spec!r}: port {port_s!r} is not a number in 1-65535")
        port = int(port_s)
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        if not host or any(c.isspace() for c in host) or "/" in host or all(c.isdigit() or c == "." for c in host) \
                or not all(c.isascii() and (c.isalnum() or c in "-._") for c in host):
            # dotted digits that are no IP (300.1.1.1) and odd names are typos: no DNS query for them
            raise UsageError(f"{spec!r}: not an IP address or host name") from None
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UsageError(f"{spec!r}: cannot resolve host name ({exc})") from None
        ip = infos[0][4][0]
    return ip, host, port


def _check_allowed(ip: str, allow_reserved: bool) -> None:
    """Refuse excluded addresses (IANA special-purpose ranges, user excludes); loopback is always allowed for an
    ad hoc probe (it is this machine)."""
    from scanner.lab.netns import check_socket_scope
    from scanner.targets import parse_targets

    check_socket_scope([(ip, ip)])  # a lab's addresses exist only inside its namespaces
    addr = ipaddress.ip_address(ip)
    if addr.is_loopback:
        return
    ts = parse_targets([ip], allow_reserved=allow_reserved)
    if ts.count() == 0:
        raise UsageError(
            f"{ip} is in an excluded or reserved range (seeds/exclude.txt); "
            f"pass --allow-reserved to probe a lab or private address you own")


async def _open_ports(ip: str, ports: list[int], timeout: float, concurrency: int) -> list[int]:
    from scanner.sweep.connect import connect_sweep_host

    return sorted(await connect_sweep_host(ip, ports, timeout=timeout, concurrency=concurrency))


def _parse_stdin_line(line: str, n: int) -> tuple[str, int] | None:
    """An open port from one input line: an OpenPort JSON object (``poolscan sweep --json``) or ``ip:port``."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    if line.startswith("{"):
        try:
            d = json.loads(line)
            ip, port = str(ipaddress.ip_address(d["ip"])), int(d["port"])
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"<stdin>:{n}: not an open-port record (want {{\"ip\",\"port\"}} or ip:port)") from None
    else:
        try:
            ip, _, port_opt = parse_hostport(line)
        except UsageError as exc:
            raise UsageError(f"<stdin>:{n}: {exc}") from None
        if port_opt is None:
            raise UsageError(f"<stdin>:{n}: {line[:60]!r} has no port")
        port = port_opt
    if not 1 <= port <= 65535:
        raise UsageError(f"<stdin>:{n}: port {port} is not in 1-65535")
    return ip, port


def _probe_stdin(options: ProbeOptions, allow_reserved: bool, concurrency: int, as_json: bool,
                 transcripts: bool) -> None:
    """Probe every open port read from stdin (``poolscan sweep --json | poolscan probe -``), ``concurrency`` at
    a time, printing results as they finish."""
    from scanner.lab.netns import check_socket_scope
    from scanner.model import OpenPort
    from scanner.pipeline import probe_stage
    from scanner.targets import load_exclusions

    exclusions = load_exclusions(allow_reserved=allow_reserved, allow_loopback=True)

    async def source():
        loop = asyncio.get_running_loop()
        n = 0
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            n += 1
            parsed = _parse_stdin_line(line, n)
            if parsed is None:
                continue
            ip, port = parsed
            if exclusions.contains(ip):
                stderr.print(f"[yellow]skipped {escape(ip)}:{port}: excluded (seeds/exclude.txt; --allow-reserved "
                             f"for your own lab)[/]")
                continue
            check_socket_scope([(ip, ip)])
            yield OpenPort(ip=ip, port=port, source="input")

    async def go() -> list[ProbeResult]:
        out: list[ProbeResult] = []
        async for r in probe_stage(source(), options, concurrency=concurrency):
            if as_json:
                print_json_line(r.to_dict() if transcripts else r.summary())
            else:
                out.append(r)
        return out

    results = aio.run(go())
    if not as_json:
        if results:
            print_result_cards(sorted(results, key=lambda r: (r.ip, r.port)))
        stdout.print(f"{sum(r.verdict.is_pool is True for r in results)} of {len(results)} probed port(s) "
                     f"look like a mining pool.")


@cli.command()
@click.argument("target", metavar="HOST[:PORT]|-")
@click.option("--ports", "ports_spec", default="pool", show_default=True,
              help="Ports to try when HOST has no port: a list (3333,4444,14000-14010), a file, or the named "
                   "list 'pool' (seeds/ports.txt, ranked).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per probed port.")
@click.option("--transcripts", is_flag=True, help="With --json: include every transcript (bytes sent and received).")
@click.option("--fast", is_flag=True, help="Skip the unknown-method steps (fewer round trips, less evidence).")
@click.option("--tls", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="TLS variants of the probes: on TLS ports or when the port looks like TLS (auto).")
@click.option("--timeout-scale", type=click.FloatRange(0.1, 20), default=1.0, show_default=True,
              help="Multiply every timeout (slow links: 2-3).")
@click.option("--allow-reserved", is_flag=True, help="Allow private/reserved addresses (your own lab).")
@click.option("--enrich/--no-enrich", default=True, show_default=True,
              help="ASN/country (with --mmdb), TLS certificate names, pool web front for confirmed pools.")
@click.option("--mmdb", multiple=True, type=click.Path(dir_okay=False), help="MaxMind-format database (repeatable).")
@click.option("--concurrency", type=click.IntRange(1, 20000), default=100, show_default=True,
              help="With '-': ports probed at once.")
def probe(target: str, ports_spec: str, as_json: bool, transcripts: bool, fast: bool, tls: str,
          timeout_scale: float, allow_reserved: bool, enrich: bool, mmdb: tuple[str, ...], concurrency: int) -> None:
    """Probe one host and say whether it is a mining pool.

    \b
    With a port, probe that port. Without, find the open pool ports first (TCP connect to the ranked ports
    of seeds/ports.txt), then probe each. With '-', probe the open ports read from stdin (JSON lines of
    `poolscan sweep --json`, or ip:port lines). Output: a table with the evidence, or --json.
    Exit 0 when it ran (whatever it found), 2 on bad input.
    \b
    Examples:
      poolscan probe 203.0.113.7:3333
      poolscan probe 203.0.113.7 --json
      poolscan probe pool.example.net:14433 --tls always
      poolscan sweep --targets 198.51.100.0/24 --ports pool --json | poolscan probe - --json
    """
    from scanner.fingerprint import load_fingerprints

    fingerprints = load_fingerprints()  # before the event loop: a first load inside it would stall connections
    if target == "-":
        options = ProbeOptions(limits=Limits().scaled(timeout_scale), fast=fast, tls=tls, fingerprints=fingerprints)
        _probe_stdin(options, allow_reserved, concurrency, as_json, transcripts)
        return
    ip, name, port = parse_hostport(target)
    _check_allowed(ip, allow_reserved)
    limits = Limits().scaled(timeout_scale)
    options = ProbeOptions(limits=limits, fast=fast, tls=tls, fingerprints=fingerprints)
    server_name = None if name == ip else name
    from scanner.enrich import EnrichOptions

    enrich_options = EnrichOptions(mmdb=list(mmdb)) if enrich else None

    async def go() -> list[ProbeResult]:
        if port is not None:
            ports = [port]
        else:
            from scanner.targets import parse_ports

            candidates = parse_ports(ports_spec)
            if not as_json:
                stderr.print(f"[dim]sweeping {len(candidates)} pool ports on {ip} (TCP connect)…[/]")
            ports = await _open_ports(ip, candidates, timeout=limits.connect_s, concurrency=64)
            if not ports:
                return []
            if not as_json:
                stderr.print(f"[dim]open: {', '.join(map(str, ports))}; probing…[/]")
        results = await asyncio.gather(*(probe_port(ip, p, options, server_name=server_name) for p in ports))

        async def each() -> AsyncIterator[ProbeResult]:
            for r in results:
                yield r

        return [r async for r in enrich_stage(each(), enrich_options)]

    results = aio.run(go())
    if as_json:
        for r in results:
            print_json_line(r.to_dict() if transcripts else r.summary())
        if not results:
            print_json_line({"ip": ip, "port": None, "status": "no-open-port", "tls": False, "is_pool": None,
                             "protocol": None, "software": None, "coin": None, "algo": None, "confidence": 0.0,
                             "evidence": []})
        return
    if not results:
        stdout.print(f"{ip}: no open port among the ones tried (--ports {ports_spec}).")
        return
    print_result_cards(results)
    pools = sum(1 for r in results if r.verdict.is_pool is True)
    stdout.print(f"{pools} of {len(results)} probed port(s) look like a mining pool.")
    sys.stdout.flush()
