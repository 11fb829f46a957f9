"""A MISP feed folder of mining pools, that a MISP instance can subscribe to (Sync Actions > Feeds, format
"MISP Feed", URL = where the folder is served, or a local path).

Layout, as MISP reads it (MISP/MISP ``app/Model/Feed.php``: ``manifest.json`` is fetched first, then
``<uuid>.json`` for each event whose manifest ``timestamp`` is newer than the stored copy; and as PyMISP
writes it, ``pymisp/tools/feed.py``, ``MISPEvent.to_feed(with_meta=True)``)::

    DIR/manifest.json       {"<event uuid>": {"Orgc": {...}, "Tag": [...], "info", "date", "analysis",
                                              "threat_level_id", "timestamp"}, ...}
    DIR/hashes.csv          one line per attribute value: "<md5 of the value>,<event uuid>"
    DIR/<event uuid>.json   {"Event": {... the event in feed form, Attribute/Object/Tag ...}}

Each export adds (or replaces, same uuid) one event file; the manifest and hashes.csv keep the entries of
earlier events whose files are still in the folder, so nightly delta exports accumulate into one feed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable

from scanner.export.misp import build_event

_UUID_FILE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json$")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_feed(pools: Iterable[dict], directory: str | Path, **event_kwargs) -> list[Path]:
    """Write (or update) a MISP feed folder with one event built from ``pools`` (see
    :func:`scanner.export.misp.build_event`; keyword arguments go to it). Returns the paths written:
    ``[event file, manifest.json, hashes.csv]``. Creates the directory. Each file is replaced atomically.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ev = build_event(pools, **event_kwargs)
    feed = ev.to_feed(with_meta=True)["Event"]
    manifest_entry = feed.pop("_manifest")
    hashes = feed.pop("_hashes")
    uuid = ev.uuid
    event_path = out / f"{uuid}.json"
    _write_atomic(event_path, json.dumps({"Event": feed}, indent=1, ensure_ascii=False) + "\n")

    manifest_path = out / "manifest.json"
    manifest: dict = {}
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
            if isinstance(old, dict):
                manifest = {k: v for k, v in old.items() if (out / f"{k}.json").exists()}
        except ValueError:
            manifest = {}
    manifest.update(manifest_entry)
    _write_atomic(manifest_path, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

    hashes_path = out / "hashes.csv"
    lines: list[str] = []
    if hashes_path.exists():
        for line in hashes_path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.strip().split(",")
            if len(parts) == 2 and parts[1] != uuid and parts[1] in manifest:
                lines.append(line.strip())
    lines += [f"{h},{uuid}" for h in hashes]
    _write_atomic(hashes_path, "".join(f"{line}\n" for line in lines))
    return [event_path, manifest_path, hashes_path]


def event_files(directory: str | Path) -> list[Path]:
    """The event files (``<uuid>.json``) of a feed folder, sorted."""
    return sorted(p for p in Path(directory).iterdir() if _UUID_FILE.match(p.name))
