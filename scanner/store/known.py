"""The list of pools already known before scanning (``seeds/known-pools.txt``).

Format, one entry a line (``#`` starts a comment, blank lines are skipped)::

    203.0.113.7:3333        # an IPv4 endpoint
    [2001:db8::7]:3333      # an IPv6 endpoint (brackets required with a port)
    203.0.113.8             # every port of that address
    pool.example.org:3333   # a host name and port (matched against certificate names / domains)
    pool.example.org        # every port of that host name

A pool is *known* when one of these matches its ip:port, its ip, or one of its domains (with or without
the port). Host names are never resolved (no DNS query leaves the machine); they match only the names that
the enrich stage found (certificate names, pool web API).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from scanner.errors import UsageError

#: ``seeds/known-pools.txt`` at the root of the repository.
DEFAULT_KNOWN_POOLS = Path(__file__).resolve().parents[2] / "seeds" / "known-pools.txt"

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def endpoint_id(ip: str, port: int) -> str:
    """The canonical ``ip:port`` key of an endpoint: ``203.0.113.7:3333`` or ``[2001:db8::7]:3333``."""
    addr = ipaddress.ip_address(ip)
    return f"[{addr.compressed}]:{port}" if addr.version == 6 else f"{addr.compressed}:{port}"


@dataclass
class KnownPools:
    """Parsed known-pools entries: endpoints (``ip:port`` keys), bare ips, ``host:port`` and bare hosts."""

    endpoints: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    host_ports: set[tuple[str, int]] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.endpoints) + len(self.ips) + len(self.host_ports) + len(self.hosts)

    def matches(self, ip: str, port: int, domains: Iterable[str] = ()) -> bool:
        """True when ip:port, ip, or any of ``domains`` (with or without ``port``) is listed."""
        try:
            if endpoint_id(ip, port) in self.endpoints or ipaddress.ip_address(ip).compressed in self.ips:
                return True
        except ValueError:
            return False
        for d in domains:
            d = str(d).lower().rstrip(".")
            if d.startswith("*."):
                d = d[2:]
            if d in self.hosts or (d, port) in self.host_ports:
                return True
        return False

    @classmethod
    def parse(cls, lines: Iterable[str], source: str = "<known-pools>") -> "KnownPools":
        """Parse the lines of a known-pools file.

        Raises :class:`UsageError` naming ``source:line`` for an entry that is neither an IP, ``ip:port``,
        ``[ipv6]:port``, a host name nor ``host:port`` with a port in 1..65535.
        """
        out = cls()
        for n, raw in enumerate(lines, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            host, port = line, None
            if line.startswith("["):
                m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)", line)
                if not m:
                    raise UsageError(f"{source}:{n}: {line!r} is not [ipv6]:port")
                host, port = m.group(1), int(m.group(2))
            elif line.count(":") == 1:
                host, p = line.split(":")
                if not p.isdigit():
                    raise UsageError(f"{source}:{n}: {line!r} has a port that is not a number")
                port = int(p)
            if port is not None and not 1 <= port <= 65535:
                raise UsageError(f"{source}:{n}: port {port} out of range 1..65535")
            try:
                addr = ipaddress.ip_address(host)
            except ValueError:
                addr = None
            if addr is not None:
                if port is None:
                    out.ips.add(addr.compressed)
                else:
                    out.endpoints.add(endpoint_id(addr.compressed, port))
                continue
            name = host.lower().rstrip(".")
            if not _HOST_RE.match(name):
                raise UsageError(f"{source}:{n}: {line!r} is not an ip, ip:port, host or host:port")
            if port is None:
                out.hosts.add(name)
            else:
                out.host_ports.add((name, port))
        return out

    @classmethod
    def load(cls, path: str | Path | None = None) -> "KnownPools":
        """Read a known-pools file (default :data:`DEFAULT_KNOWN_POOLS`); a missing default file is an
        empty list, a missing explicit file raises :class:`UsageError`."""
        p = Path(path) if path is not None else DEFAULT_KNOWN_POOLS
        if not p.exists():
            if path is None:
                return cls()
            raise UsageError(f"{p}: known-pools file not found")
        with p.open(encoding="utf-8", errors="replace") as fh:
            return cls.parse(fh, source=str(p))
