"""Suricata rules that alert on traffic from the protected network to each mining pool.

Per pool endpoint (Suricata rule format, docs.suricata.io "Rules format"; keywords ``flow``, ``msg``,
``classtype``, ``sid``, ``rev``, ``metadata``)::

    alert tcp $HOME_NET any -> 203.0.113.7 3333 (msg:"POOLSCAN mining pool 203.0.113.7:3333 stratum1
      ckpool BTC"; flow:established,to_server; classtype:policy-violation; sid:1712345; rev:1;
      metadata:poolscan_first_seen 2026_01_01, poolscan_last_seen 2026_01_02, poolscan_confidence 90;)

and, with ``domains=True``, per valid DNS name found by enrichment, a ``dns`` rule on ``dns.query`` and
a ``tls`` rule on ``tls.sni`` (exact name: ``content``, ``nocase``, ``startswith``, ``endswith``;
Suricata >= 5).

Safety: the destination is an ``ipaddress``-validated address and an int port; domains pass
:func:`scanner.export.common.hostname`; ``msg`` keeps only ``[A-Za-z0-9 ._:/()\\[\\]-]`` (everything else
becomes ``_``), so no quote, ``;`` or backslash from a server ever reaches a rule. sids are unique in the
file and stable across exports: ``base + crc32(key) % span``, the next free one on a collision (keys
taken in sorted order). The default range 1700000..1999999 lies in the 1000000-1999999 range that the
Snort/Suricata sid conventions leave for local rules.
"""

from __future__ import annotations

import re
import zlib
from typing import Iterable

from scanner.export.common import endpoint, ip_of, pool_domains, port_of, summary, confidence_100

SID_BASE = 1_700_000
SID_SPAN = 300_000
_MSG_BAD = re.compile(r"[^A-Za-z0-9 ._:/()\[\]-]")


def msg_text(text: str, limit: int = 200) -> str:
    """Text safe inside ``msg:"..."`` (see the module doc), at most ``limit`` characters."""
    return _MSG_BAD.sub("_", text)[:limit]


def _date(value: object) -> str | None:
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", str(value or ""))
    return "_".join(m.groups()) if m else None


def render(pools: Iterable[dict], domains: bool = True, sid_base: int = SID_BASE, sid_span: int = SID_SPAN,
           classtype: str = "policy-violation") -> str:
    """The rules text (a ``#`` header line, then one rule per line). Pools with a bad ip/port are left out.

    Raises ``ValueError`` when more rules are needed than ``sid_span``.
    """
    items: dict[str, tuple[str, dict]] = {}
    for pool in pools:
        try:
            ep = endpoint(pool)
        except (ValueError, TypeError):
            continue
        items.setdefault(f"ep|{ep}", ("ep", pool))
        if domains:
            for d in pool_domains(pool):
                items.setdefault(f"dns|{d}", ("dns", {**pool, "_domain": d}))
                items.setdefault(f"tls|{d}", ("tls", {**pool, "_domain": d}))
    if len(items) > sid_span:
        raise ValueError(f"{len(items)} rules do not fit in {sid_span} sids")
    used: set[int] = set()
    lines = ["# poolscan mining pool rules (Suricata); sids are stable per endpoint/domain"]
    for key in sorted(items):
        kind, pool = items[key]
        off = zlib.crc32(key.encode("utf-8")) % sid_span
        while sid_base + off in used:
            off = (off + 1) % sid_span
        sid = sid_base + off
        used.add(sid)
        meta = []
        for name, val in (("poolscan_first_seen", _date(pool.get("first_seen"))),
                          ("poolscan_last_seen", _date(pool.get("last_seen"))),
                          ("poolscan_confidence", str(confidence_100(pool)))):
            if val:
                meta.append(f"{name} {val}")
        metadata = f" metadata:{', '.join(meta)};" if meta else ""
        tail = f" classtype:{classtype}; sid:{sid}; rev:1;{metadata})"
        if kind == "ep":
            ip = ip_of(pool).compressed
            msg = msg_text(f"POOLSCAN mining pool {endpoint(pool)} {summary(pool)}")
            lines.append(f'alert tcp $HOME_NET any -> {ip} {port_of(pool)} (msg:"{msg}"; '
                         f"flow:established,to_server;{tail}")
        else:
            d = pool["_domain"]
            what = "DNS query" if kind == "dns" else "TLS SNI"
            buf = "dns.query" if kind == "dns" else "tls.sni"
            msg = msg_text(f"POOLSCAN mining pool {what} {d} {summary(pool)}")
            lines.append(f'alert {kind} $HOME_NET any -> any any (msg:"{msg}"; {buf}; content:"{d}"; '
                         f"nocase; startswith; endswith;{tail}")
    return "\n".join(lines) + "\n"
