"""CSV of mining pools: one row per pool, every verdict field plus first/last seen, new/known, enrichment.

Columns: :data:`scanner.export.common.POOL_FIELDS`. Lists and dicts are written as compact JSON in their
cell; booleans as ``true``/``false``; missing values empty. Every text cell is cleaned (control characters
escaped, capped at 1000 characters) and a cell starting with ``= + - @`` (a spreadsheet formula, OWASP
"CSV injection") gets a leading ``'``. Quoting is the ``csv`` module's (RFC 4180 style, ``\\r\\n`` rows).
"""

from __future__ import annotations

import csv as _csv
import io
import json
from typing import Any, Iterable

from scanner.export.common import POOL_FIELDS, clean

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One CSV cell for any value (see the module doc)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple, dict)):
        text = clean(json.dumps(value, ensure_ascii=False, default=str), 1000)
    else:
        text = clean(value, 1000)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(pools: Iterable[dict]) -> str:
    """The CSV text (header row first) of the pools, in the order given."""
    buf = io.StringIO()
    w = _csv.writer(buf, quoting=_csv.QUOTE_MINIMAL)
    w.writerow(POOL_FIELDS)
    for pool in pools:
        w.writerow([cell(pool.get(k)) for k in POOL_FIELDS])
    return buf.getvalue()
