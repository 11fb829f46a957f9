"""Plain blocklists for firewalls and DNS/IP filters: unique IPs, or unique ``ip:port`` endpoints.

One entry per line, no comments (so ``ipset restore``-style and "one IP per line" consumers take it as
is), sorted numerically (IPv4 before IPv6). Entries whose ip or port is not valid are left out: only
``ipaddress``-validated text reaches the file.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

from scanner.export.common import ip_of, port_of


def render_ips(pools: Iterable[dict]) -> str:
    """Unique pool IPs, one per line."""
    ips = set()
    for p in pools:
        try:
            ips.add(ip_of(p))
        except (ValueError, TypeError):
            continue
    return "".join(f"{ip.compressed}\n" for ip in sorted(ips, key=lambda a: (a.version, int(a))))


def render_ip_ports(pools: Iterable[dict]) -> str:
    """Unique pool endpoints ``ip:port`` (``[ipv6]:port``), one per line."""
    eps: set[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]] = set()
    for p in pools:
        try:
            eps.add((ip_of(p), port_of(p)))
        except (ValueError, TypeError):
            continue
    lines = []
    for ip, port in sorted(eps, key=lambda e: (e[0].version, int(e[0]), e[1])):
        lines.append(f"[{ip.compressed}]:{port}\n" if ip.version == 6 else f"{ip.compressed}:{port}\n")
    return "".join(lines)
