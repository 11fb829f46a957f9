"""IOC exports of the pools in the store: STIX 2.1, MISP event, MISP feed, CSV, JSONL, blocklists, Suricata,
and a TAXII 2.1 push.

Every exporter takes an iterable of pool dicts (the rows of :meth:`scanner.store.Store.pools`) and
returns text, except ``misp-feed`` which writes a folder. :data:`EXPORTERS` maps the ``--format`` names
of ``poolscan export`` to :class:`Exporter` entries::

    text = EXPORTERS["stix"].render(store.pools(new_only=True))
    EXPORTERS["misp-feed"].write(store.pools(), "results/misp-feed")

Server strings in a pool (software, labels, evidence, certificate names) are untrusted; each format
escapes or filters them (see :mod:`scanner.export.common`) so its output stays valid whatever a server sent.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable


@dataclass(frozen=True)
class Exporter:
    """One export format; its module is imported on first use (so ``poolscan probe`` does not load stix2
    and pymisp).

    name: the ``--format`` value; kind: ``"text"`` (:meth:`render` returns str) or ``"dir"`` (:meth:`write`
    fills a folder); help: one line; suffix: the usual file name ending; target: ``"module:function"``.
    """

    name: str
    kind: str
    help: str
    suffix: str
    target: str

    def _func(self):
        module, func = self.target.split(":")
        return getattr(importlib.import_module(module), func)

    def render(self, pools: Iterable[dict], **options: Any) -> str:
        """The export as text (text formats only; options go to the format's function)."""
        if self.kind != "text":
            raise TypeError(f"{self.name} writes a folder: use write()")
        return self._func()(pools, **options)

    def write(self, pools: Iterable[dict], directory: str | Path, **options: Any) -> list[Path]:
        """Fill ``directory`` (folder formats only); returns the paths written."""
        if self.kind != "dir":
            raise TypeError(f"{self.name} renders text: use render() or to_path()")
        return self._func()(pools, directory, **options)

    def to_path(self, pools: Iterable[dict], path: str | Path, **options: Any) -> list[Path]:
        """Write the export to ``path`` (a file for text formats, replaced atomically; a folder for
        ``dir``); returns the paths written."""
        p = Path(path)
        if self.kind == "dir":
            return self.write(pools, p, **options)
        text = self.render(pools, **options)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(text, encoding="utf-8", newline="")
        tmp.replace(p)
        return [p]


EXPORTERS: dict[str, Exporter] = {e.name: e for e in (
    Exporter("stix", "text", "STIX 2.1 bundle (indicators, infrastructure, observed-data)", ".json",
             "scanner.export.stix:render"),
    Exporter("misp", "text", "MISP event JSON with ip-port objects and cryptojacking tags", ".json",
             "scanner.export.misp:render"),
    Exporter("misp-feed", "dir", "MISP feed folder (manifest.json, hashes.csv, event file)", "",
             "scanner.export.misp_feed:write_feed"),
    Exporter("csv", "text", "CSV, one row per pool, every verdict field", ".csv", "scanner.export.csv:render"),
    Exporter("jsonl", "text", "JSON lines, one object per pool", ".jsonl", "scanner.export.jsonl:render"),
    Exporter("ips", "text", "unique pool IPs, one per line", ".txt", "scanner.export.blocklist:render_ips"),
    Exporter("ip-port", "text", "unique ip:port endpoints, one per line", ".txt",
             "scanner.export.blocklist:render_ip_ports"),
    Exporter("suricata", "text", "Suricata alert rules (unique sids)", ".rules", "scanner.export.suricata:render"),
)}

__all__ = ["EXPORTERS", "Exporter"]
