"""The HTML report of a campaign run: one self-contained file (inline CSS, inline SVG, no script, no
external asset), written by every ``poolscan campaign run`` into ``out_dir/<run id>/report.html`` and on
demand by ``poolscan campaign report``.

Content: the run summary (status, times, seed, counts, diff against the previous finished run), the new
pools, pools whose labels or certificate changed, pools gone, counts by coin, software, country and port,
a bar chart (SVG) of the pools found per run over the campaign's last runs, and the table of every pool.

Everything that came from a peer or a database (labels, evidence quoting banners, certificate names, AS
names) is hostile: each value goes through :func:`scanner.textsafe.safe_text` (control and bidi characters
escaped, length capped) and then :func:`html.escape` (``& < > " '``) before it is placed in the page, in
text and in attributes alike. The page carries a Content-Security-Policy that forbids scripts and remote
loads, as a second fence.
"""

from __future__ import annotations

import html
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from scanner.textsafe import safe_text

#: Rows shown in the table of all pools (the store has them all).
MAX_POOL_ROWS = 2000
#: Rows of each "counts by" table.
MAX_COUNT_ROWS = 25

_CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--bg:#fff;--card:#f5f7fa;--line:#dde2ea;--accent:#2363c9;--new:#1a8a4a;--gone:#b3362c}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg);margin:0;padding:24px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.muted{color:var(--muted)}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:14px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card .n{font-size:22px;font-weight:600}.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);
vertical-align:top}th{background:var(--card);font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.counts{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:16px}
.bar{background:var(--accent);height:10px;border-radius:2px;display:inline-block;vertical-align:middle}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
.tag{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;background:var(--card);border:1px solid var(--line)}
.new{color:var(--new);font-weight:600}.gone{color:var(--gone);font-weight:600}.ok{color:var(--new)}.bad{color:var(--gone)}
svg text{font:11px system-ui,sans-serif;fill:var(--muted)}footer{margin-top:32px;color:var(--muted);font-size:12px}
"""


def esc(value: Any, max_len: int = 300) -> str:
    """``value`` made safe for HTML text or a quoted attribute: control/bidi characters escaped and length
    capped (:func:`safe_text`), then ``& < > " '`` escaped. None becomes an em dash."""
    if value is None or value == "":
        return "—"
    return html.escape(safe_text(value, max_len), quote=True)


def _num(n: Any) -> str:
    return f'<td class="num">{esc(n)}</td>'


def _fmt_duration(a: str | None, b: str | None) -> str:
    from scanner.store import parse_time

    if not a or not b:
        return "—"
    try:
        s = int((parse_time(b) - parse_time(a)).total_seconds())
    except Exception:
        return "—"
    return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


# ------------------------------------------------------------------------------------------ data
def report_data(store: Any, run_id: str, *, history: int = 30, status: str | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (also handy for tests and ``--json``).

    ``status`` overrides the run's stored status (the run writes its report just before it turns ``ok``).
    Keys: run (row), campaign, status, counts, pools (this run's pools, :func:`run_pools` items), previous
    (run id or None), diff (:func:`diff_runs` or None), new (pool items new against the previous finished
    run; all pools when there is none), by_coin / by_software / by_country / by_port (lists of
    ``(label, n)``), history (``[{"id", "started_at", "pools", "new", "status"}]``, oldest first).
    Raises :class:`scanner.errors.UsageError` for an unknown run.
    """
    from scanner.campaign.runs import (diff_runs, finished_runs, pool_sets, previous_finished, require_run,
                                       run_counts, run_pools)

    run = require_run(store, run_id)
    campaign = run.get("campaign") or ""
    pools = run_pools(store, run_id)
    prev = previous_finished(store, run)
    diff = diff_runs(store, prev["id"], run_id) if prev else None
    new = diff["new"] if diff else pools
    counts = run_counts(store, run_id)

    def by(key: str, fmt=lambda v: v) -> list[tuple[str, int]]:
        c = Counter(fmt(p.get(key)) if p.get(key) not in (None, "") else "unknown" for p in pools)
        return sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0])))

    # the chart: finished runs of the campaign (+ this run when it is not finished yet), the last `history`
    runs = [r for r in finished_runs(store, campaign) if r["started_at"] <= run["started_at"] and r["id"] != run_id]
    runs = (runs + [run])[-history:]
    sets = pool_sets(store, [r["id"] for r in runs])
    hist = []
    seen_prev: set | None = None
    first_prev = previous_finished(store, runs[0]) if runs else None
    if first_prev is not None:
        seen_prev = pool_sets(store, [first_prev["id"]])[first_prev["id"]]
    for r in runs:
        s = sets.get(r["id"], set())
        hist.append({"id": r["id"], "started_at": r.get("started_at"), "pools": len(s),
                     "new": len(s - seen_prev) if seen_prev is not None else len(s),
                     "status": status if (r["id"] == run_id and status) else r.get("status")})
        seen_prev = s
    return {
        "run": run, "campaign": campaign, "status": status or run.get("status"), "counts": counts, "pools": pools,
        "previous": prev["id"] if prev else None, "diff": diff, "new": new,
        "by_coin": by("coin"), "by_software": by("software"), "by_country": by("country"),
        "by_port": by("port", str), "history": hist,
    }


# ------------------------------------------------------------------------------------------ rendering
def chart_svg(history: list[dict[str, Any]], width: int = 900, height: int = 220) -> str:
    """An inline SVG bar chart of pools per run (``history`` from :func:`report_data`): one bar per run,
    its new pools stacked in a second colour, the run date under every bar (thinned when crowded), a
    ``<title>`` tooltip per bar. Returns ``<svg ...>...</svg>``; an empty history gives a note instead."""
    if not history:
        return '<p class="muted">No runs yet.</p>'
    left, right, top, bottom = 40, 10, 14, 36
    w, h = width - left - right, height - top - bottom
    step = max(1, -(-max(int(r["pools"]) for r in history) // 4))  # integer grid: 4 steps of `step` pools
    peak = 4 * step
    n = len(history)
    slot = w / n
    bw = max(2.0, min(48.0, slot * 0.7))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" aria-label="pools found per run">']
    for k in range(5):  # grid lines and y labels
        y = top + h - h * k / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#dde2ea"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{step * k}</text>')
    every = max(1, int(n / 12) + (1 if n % 12 else 0)) if n > 12 else 1
    for i, r in enumerate(history):
        x = left + slot * i + (slot - bw) / 2
        total, new = int(r["pools"]), min(int(r["new"]), int(r["pools"]))
        th = h * total / peak
        nh = h * new / peak
        label = f"{r.get('started_at') or ''} run {r['id']}: {total} pools, {new} new, status {r.get('status')}"
        parts.append(f'<g class="run" data-run="{esc(r["id"])}" data-pools="{total}" data-new="{new}">'
                     f'<title>{esc(label)}</title>'
                     f'<rect x="{x:.1f}" y="{top + h - th:.1f}" width="{bw:.1f}" height="{th:.1f}" fill="#2363c9"/>'
                     f'<rect x="{x:.1f}" y="{top + h - nh:.1f}" width="{bw:.1f}" height="{nh:.1f}" fill="#1a8a4a"/>'
                     f'</g>')
        if total and bw >= 14:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{top + h - th - 3:.1f}" text-anchor="middle">{total}</text>')
        if i % every == 0 or i == n - 1:
            day = esc((r.get("started_at") or "")[5:16].replace("T", " "))
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">{day}</text>')
    parts.append(f'<rect x="{left}" y="{height - 14}" width="10" height="10" fill="#2363c9"/>'
                 f'<text x="{left + 14}" y="{height - 5}">pools found</text>'
                 f'<rect x="{left + 100}" y="{height - 14}" width="10" height="10" fill="#1a8a4a"/>'
                 f'<text x="{left + 114}" y="{height - 5}">new since the run before</text></svg>')
    return "".join(parts)


def _pool_table(pools: Iterable[dict], css_id: str, limit: int = MAX_POOL_ROWS, evidence: bool = True) -> str:
    rows = []
    shown = 0
    total = 0
    for p in pools:
        total += 1
        if shown >= limit:
            continue
        shown += 1
        asn = f"AS{p['asn']}" if p.get("asn") not in (None, "") else None
        ev = "<br>".join(esc(e, 200) for e in (p.get("evidence") or [])[:3]) if evidence else ""
        rows.append(
            f'<tr data-endpoint="{esc(p["id"])}"><td class="mono">{esc(p["id"])}</td><td>{esc(p.get("protocol"))}</td>'
            f'<td>{esc(p.get("software"))}</td><td>{esc(p.get("coin"))}</td><td>{esc(p.get("algo"))}</td>'
            f'<td class="num">{esc(round(float(p.get("confidence") or 0), 2))}</td>'
            f'<td>{"TLS" if p.get("tls") else ""}</td><td>{esc(p.get("country"))}</td>'
            f'<td>{esc(asn)} {esc(p.get("as_org"), 80) if p.get("as_org") else ""}</td>'
            f'<td class="mono">{esc(", ".join(p.get("cert_names") or []) or None, 200)}</td>'
            + (f'<td class="mono">{ev or "—"}</td>' if evidence else "") + "</tr>")
    if not total:
        return '<p class="muted">None.</p>'
    head = ("<tr><th>endpoint</th><th>protocol</th><th>software</th><th>coin</th><th>algo</th><th>conf.</th>"
            "<th>TLS</th><th>country</th><th>AS</th><th>certificate names</th>"
            + ("<th>evidence</th>" if evidence else "") + "</tr>")
    more = f'<p class="muted">{total - shown} more not shown (see the exports or the database).</p>' if total > shown else ""
    return f'<table id="{css_id}">{head}{"".join(rows)}</table>{more}'


def _changed_table(changed: list[dict]) -> str:
    if not changed:
        return '<p class="muted">None.</p>'
    rows = []
    for c in changed:
        for field, (a, b) in c["changes"].items():
            fa = ", ".join(map(str, a)) if isinstance(a, list) else a
            fb = ", ".join(map(str, b)) if isinstance(b, list) else b
            rows.append(f'<tr><td class="mono">{esc(c["id"])}</td><td>{esc(field)}</td>'
                        f'<td class="mono">{esc(fa, 200)}</td><td class="mono">{esc(fb, 200)}</td></tr>')
    return ('<table id="changed"><tr><th>endpoint</th><th>what</th><th>before</th><th>now</th></tr>'
            + "".join(rows) + "</table>")


def _counts_table(title: str, items: list[tuple[str, int]], css_id: str) -> str:
    if not items:
        body = '<p class="muted">No pools.</p>'
    else:
        peak = max(n for _, n in items) or 1
        rows = "".join(
            f'<tr><td>{esc(label, 80)}</td>{_num(n)}<td><span class="bar" style="width:{int(120 * n / peak)}px">'
            f"</span></td></tr>" for label, n in items[:MAX_COUNT_ROWS])
        more = (f'<p class="muted">{len(items) - MAX_COUNT_ROWS} more.</p>' if len(items) > MAX_COUNT_ROWS else "")
        body = f'<table id="{css_id}"><tr><th>{esc(title)}</th><th>pools</th><th></th></tr>{rows}</table>{more}'
    return f"<div><h3>{esc(title)}</h3>{body}</div>"


def render_report(data: dict[str, Any]) -> str:
    """The HTML page for :func:`report_data`'s result (a str; UTF-8 when written)."""
    run, counts, diff = data["run"], data["counts"], data["diff"]
    status = data["status"] or "?"
    title = f"poolscan — campaign {data['campaign']} — run {run['id']}"
    cards = [("pools", counts["pools"]), ("new", len(data["new"])),
             ("gone", len(diff["gone"]) if diff else "—"), ("changed", len(diff["changed"]) if diff else "—"),
             ("open ports", counts["open_ports"]), ("probed", counts["probed"]), ("not pools", counts["not_pools"]),
             ("unknown", counts["unknown"])]
    cards_html = "".join(f'<div class="card" data-key="{esc(k)}"><div class="n">{esc(v)}</div>'
                         f'<div class="l">{esc(k)}</div></div>' for k, v in cards)
    args = run.get("args") or {}
    summary_rows = [
        ("campaign", data["campaign"]), ("campaign file", args.get("campaign_file")), ("run", run["id"]),
        ("status", status), ("started", run.get("started_at")), ("finished", run.get("finished_at") or "(now)"),
        ("duration", _fmt_duration(run.get("started_at"), run.get("finished_at")
                                   or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))),
        ("seed", run.get("seed")), ("compared with", data["previous"] or "(no earlier finished run: every pool counts as new)"),
    ]
    summary = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary_rows)
    status_cls = "ok" if status == "ok" else "bad"
    new_ids = {p["id"] for p in data["new"]}
    new_full = [p for p in data["pools"] if p["id"] in new_ids]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">Status <span id="status" class="{status_cls}">{esc(status)}</span> · '
        f'generated {esc(time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()))} by poolscan</p>',
        f'<div class="grid" id="cards">{cards_html}</div>',
        f'<h2>Summary</h2><table id="summary">{summary}</table>',
        f'<h2>Pools found per run</h2><div id="chart">{chart_svg(data["history"])}</div>',
        f'<h2 class="new">New pools ({len(new_full)})</h2>{_pool_table(new_full, "new-pools")}',
    ]
    if diff:
        parts.append(f'<h2>Changed ({len(diff["changed"])})</h2>{_changed_table(diff["changed"])}')
        parts.append(f'<h2 class="gone">Gone ({len(diff["gone"])})</h2>'
                     f'{_pool_table(diff["gone"], "gone-pools", evidence=False)}')
    parts.append('<h2>Counts</h2><div class="counts">'
                 + _counts_table("coin", data["by_coin"], "by-coin")
                 + _counts_table("software", data["by_software"], "by-software")
                 + _counts_table("country", data["by_country"], "by-country")
                 + _counts_table("port", data["by_port"], "by-port") + "</div>")
    parts.append(f'<h2>All pools of this run ({len(data["pools"])})</h2>{_pool_table(data["pools"], "all-pools")}')
    parts.append('<footer>Values from scanned servers are shown escaped. The database has every transcript '
                 "(<code>poolscan db</code>, Datasette).</footer></body></html>")
    return "\n".join(parts) + "\n"


def write_report(store: Any, run_id: str, path: str | os.PathLike[str], *, history: int = 30,
                 status: str | None = None) -> Path:
    """Render the report of ``run_id`` and write it to ``path`` atomically (temp file + rename); returns
    the path. ``history``: runs in the chart; ``status``: see :func:`report_data`."""
    data = report_data(store, run_id, history=history, status=status)
    page = render_report(data)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
