"""Formatting of results for people (rich tables on a terminal) and for programs (JSON lines).

Everything printed that came from a peer passes through :func:`scanner.textsafe.safe_text` and rich's
markup escaping, so a hostile banner cannot drive the terminal.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scanner.model import ProbeResult
from scanner.textsafe import safe_text

def _width() -> int | None:
    # On a terminal rich measures it; in a pipe or a log (make demo | tee) use $COLUMNS or a wide default
    # so that the table's columns are not elided.
    if sys.stdout.isatty():
        return None
    try:
        return max(80, int(os.environ.get("COLUMNS", "160")))
    except ValueError:
        return 160


stdout = Console(highlight=False, soft_wrap=False, width=_width())
stderr = Console(stderr=True, highlight=False)


def _pool_cell(v: bool | None) -> str:
    return {True: "[bold red]yes[/]", False: "no", None: "[yellow]?[/]"}[v]


def _s(value: Any, n: int = 40) -> str:
    return escape(safe_text(value, n)) if value not in (None, "") else "-"


def results_table(results: Iterable[ProbeResult], *, evidence: bool = True, title: str | None = None) -> Table:
    """A table: host:port, status, pool, protocol, software, coin, algo, confidence (+ evidence)."""
    t = Table(title=title, show_lines=evidence, header_style="bold")
    for col in ("host:port", "status", "pool", "protocol", "software", "coin", "algo", "conf"):
        t.add_column(col, no_wrap=col in ("host:port", "status", "pool", "conf"), overflow="fold")
    if evidence:
        t.add_column("evidence", overflow="fold", ratio=1)
    for r in results:
        v = r.verdict
        host = f"[{r.ip}]:{r.port}" if ":" in r.ip else f"{r.ip}:{r.port}"
        row = [
            escape(host) + (" [dim](tls)[/]" if r.tls else ""),
            escape(r.status.value),
            _pool_cell(v.is_pool),
            _s(v.protocol),
            _s(v.software) if v.software or not v.label else f"[dim]({_s(v.label)})[/]",
            _s(v.coin),
            _s(v.algo),
            f"{v.confidence:.2f}",
        ]
        if evidence:
            lines = [escape(safe_text(e, 160)) for e in v.evidence[:8]]
            if len(v.evidence) > 8:
                lines.append(f"… {len(v.evidence) - 8} more")
            if v.label and v.is_pool is not True:
                lines.insert(0, f"[dim]service:[/] {escape(safe_text(v.label, 40))}")
            extra = r.enrichment or {}
            geo = " ".join(str(extra[k]) for k in ("country", "asn", "as_org") if extra.get(k))
            if geo:
                lines.append(f"[dim]net:[/] {escape(safe_text(geo, 80))}")
            if extra.get("domains"):
                lines.append(f"[dim]names:[/] {escape(safe_text(', '.join(map(str, extra['domains'][:5])), 120))}")
            row.append("\n".join(lines) or "-")
        t.add_row(*row)
    return t


def print_json_line(obj: dict[str, Any]) -> None:
    """One compact JSON object per line on stdout (UTF-8; non-ASCII escaped so any terminal is safe)."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=True) + "\n")
    sys.stdout.flush()


def print_result_cards(results: Iterable[ProbeResult], console: Console | None = None) -> None:
    """One block per probed port — the verdict on one line, then the evidence, one item a line — readable at
    any terminal width (the ad hoc probe's default output)."""
    c = console or stdout
    for r in results:
        v = r.verdict
        host = f"[{r.ip}]:{r.port}" if ":" in r.ip else f"{r.ip}:{r.port}"
        verdict = {True: "[bold red]POOL[/]", False: "[green]not a pool[/]", None: "[yellow]can't tell[/]"}[v.is_pool]
        what = " / ".join(escape(safe_text(x, 40)) for x in (v.protocol, v.software, v.coin, v.algo) if x)
        if v.is_pool is not True and v.label:
            what = f"service: {escape(safe_text(v.label, 40))}"
        elif v.is_pool is True and not what:
            what = "[dim]protocol and software not determinable[/]"
        c.print(f"[bold]{escape(host)}[/]  {verdict} ({v.confidence:.2f})  {what}"
                + ("  [dim]tls[/]" if r.tls else "") + f"  [dim]{escape(r.status.value)}[/]",
                soft_wrap=True)
        for e in v.evidence:
            c.print(f"    - {escape(safe_text(e, 300))}", soft_wrap=True, highlight=False)
        extra = r.enrichment or {}
        geo = " ".join(str(extra[k]) for k in ("country", "asn", "as_org") if extra.get(k))
        if geo:
            c.print(f"    [dim]network:[/] {escape(safe_text(geo, 120))}", soft_wrap=True)
        if extra.get("domains"):
            c.print(f"    [dim]names:[/] {escape(safe_text(', '.join(map(str, extra['domains'][:10])), 300))}",
                    soft_wrap=True)
        web = extra.get("web_api") or {}
        if web:
            bits = ", ".join(f"{k}={safe_text(web[k], 40)}" for k in ("pool_name", "coins", "hashrate", "miners", "fee")
                             if web.get(k) not in (None, "", []))
            if bits:
                c.print(f"    [dim]pool API:[/] {escape(bits)}", soft_wrap=True)
        if extra.get("favicon_mmh3") is not None:
            c.print(f"    [dim]favicon mmh3:[/] {extra['favicon_mmh3']}", soft_wrap=True)
