"""A strict parser for the subset of the Suricata rule language that poolscan writes (suricata itself is
not installable here: Debian bookworm has no candidate). Grammar per docs.suricata.io "Rules format":

    action proto src_addr src_port -> dst_addr dst_port (keyword[:value]; ...)

Only poolscan's keywords are accepted; quoted values may not hold an unescaped ``"`` or ``;`` or any
backslash; sid/rev are positive integers; addresses are validated with ``ipaddress``.
"""

from __future__ import annotations

import ipaddress
import re

KEYWORDS = {"msg", "flow", "classtype", "sid", "rev", "metadata", "dns.query", "tls.sni", "content", "nocase",
            "startswith", "endswith"}
HEADER = re.compile(r"^alert (tcp|dns|tls) (\$HOME_NET|any) (any) -> (\S+) (\S+) \((.*)\)$")
OPTION = re.compile(r'\s*([a-z_.]+)(?::("(?:[^"\\;]|\\[\\";])*"|[^;"]*))?;')


def parse_rule(line: str) -> dict:
    """Parse one rule into {"proto", "dst", "dst_port", "options": [(name, value)], "sid", "rev", "msg"};
    raises ValueError on anything outside the grammar."""
    m = HEADER.match(line)
    if not m:
        raise ValueError(f"bad rule header: {line[:120]!r}")
    proto, _src, _sport, dst, dport, body = m.groups()
    if dst != "any":
        ipaddress.ip_address(dst)
    if dport != "any" and not (dport.isdigit() and 1 <= int(dport) <= 65535):
        raise ValueError(f"bad port {dport!r}")
    options, pos = [], 0
    while pos < len(body):
        om = OPTION.match(body, pos)
        if not om:
            raise ValueError(f"bad option at {body[pos:pos + 60]!r}")
        name, value = om.group(1), om.group(2)
        if name not in KEYWORDS:
            raise ValueError(f"unknown keyword {name!r}")
        if value is not None and value.startswith('"') and "\\" in value:
            raise ValueError(f"escape in quoted value {value!r}")
        options.append((name, value))
        pos = om.end()
    opts = dict(options)
    for need in ("msg", "sid", "rev", "classtype"):
        if need not in opts:
            raise ValueError(f"missing {need}")
    if not (opts["sid"].isdigit() and opts["rev"].isdigit()):
        raise ValueError("sid/rev not integers")
    if not (opts["msg"].startswith('"') and opts["msg"].endswith('"')):
        raise ValueError("msg not quoted")
    if proto in ("dns", "tls"):
        sticky = "dns.query" if proto == "dns" else "tls.sni"
        names = [n for n, _ in options]
        if sticky not in names or names.index(sticky) > names.index("content"):
            raise ValueError("content not after its sticky buffer")
    return {"proto": proto, "dst": dst, "dst_port": dport, "options": options, "sid": int(opts["sid"]),
            "rev": int(opts["rev"]), "msg": opts["msg"][1:-1], "content": (opts.get("content") or '""')[1:-1]}


def parse_rules(text: str) -> list[dict]:
    """Parse a rules file: blank lines and ``#`` comments skipped; sids must be unique."""
    rules = [parse_rule(line) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    sids = [r["sid"] for r in rules]
    if len(sids) != len(set(sids)):
        raise ValueError("duplicate sid")
    return rules
