"""Campaign runs in the store: which run to resume, the finished runs, per-run counts, and the diff.

All functions take a :class:`scanner.store.Store` and read its tables (``runs``, ``verdicts``,
``transcripts``, ``pools``) with plain SQL; nothing here writes.

Run statuses (``scanner.store``): ``running`` (in progress, or killed with ``kill -9``), ``interrupted``
(Ctrl-C / SIGTERM), ``failed``, ``ok`` (finished). A campaign run is *unfinished* when its status is
``running`` or ``interrupted``; ``poolscan campaign run`` resumes the latest run of the campaign when it is
unfinished. A ``failed`` run is final (the failure was reported with exit code 1); ``--resume RUN`` can
still finish it explicitly.
"""

from __future__ import annotations

from typing import Any

from scanner.errors import UsageError

UNFINISHED = ("running", "interrupted")
FINISHED = "ok"
#: Fields compared by :func:`diff_runs` (``changed``), besides the certificate.
DIFF_FIELDS = ("protocol", "software", "coin", "algo", "tls")


def campaign_runs(store: Any, campaign: str | None = None) -> list[dict]:
    """Runs of kind ``campaign`` (of ``campaign`` when given), oldest first (dicts as ``Store.runs``)."""
    return [r for r in store.runs() if r.get("kind") == "campaign" and (campaign is None or r.get("campaign") == campaign)]


def latest_run(store: Any, campaign: str) -> dict | None:
    """The most recently started run of ``campaign``, or None."""
    runs = campaign_runs(store, campaign)
    return runs[-1] if runs else None


def unfinished_run(store: Any, campaign: str) -> dict | None:
    """The run to resume: the latest run of ``campaign`` when its status is unfinished, else None."""
    last = latest_run(store, campaign)
    return last if last is not None and last.get("status") in UNFINISHED else None


def finished_runs(store: Any, campaign: str | None = None) -> list[dict]:
    """Finished (status ``ok``) campaign runs, oldest first."""
    return [r for r in campaign_runs(store, campaign) if r.get("status") == FINISHED]


def previous_finished(store: Any, run: dict) -> dict | None:
    """The latest finished run of the same campaign started before ``run``, or None."""
    prev = None
    for r in finished_runs(store, run.get("campaign")):
        if r["id"] != run["id"] and r["started_at"] <= run["started_at"]:
            prev = r
    return prev


def require_run(store: Any, run_id: str, campaign: str | None = None) -> dict:
    """The run ``run_id`` (of ``campaign`` when given) or :class:`UsageError` naming what is wrong."""
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"run {run_id!r} not found in {store.path or ':memory:'}")
    if campaign is not None and run.get("campaign") != campaign:
        raise UsageError(f"run {run_id!r} belongs to campaign {run.get('campaign')!r}, not {campaign!r}")
    return run


def run_counts(store: Any, run_id: str) -> dict[str, int]:
    """What a run stored, counted in the database (so a resumed run counts every session):
    open_ports, probed, pools, not_pools, unknown."""
    row = next(iter(store.db.query(
        "SELECT count(*) AS probed, coalesce(sum(is_pool = 1), 0) AS pools, coalesce(sum(is_pool = 0), 0) AS "
        "not_pools, coalesce(sum(is_pool IS NULL), 0) AS unknown FROM verdicts WHERE run_id = ?", [run_id])))
    op = next(iter(store.db.query("SELECT count(*) AS n FROM open_ports WHERE run_id = ?", [run_id])))["n"]
    return {"open_ports": int(op), "probed": int(row["probed"]), "pools": int(row["pools"]),
            "not_pools": int(row["not_pools"]), "unknown": int(row["unknown"])}


def pools_per_run(store: Any, run_ids: list[str]) -> dict[str, int]:
    """Number of pools (verdicts with is_pool = 1) of each run."""
    if not run_ids:
        return {}
    marks = ",".join("?" * len(run_ids))
    out = {r: 0 for r in run_ids}
    for row in store.db.query(
            f"SELECT run_id, count(*) AS n FROM verdicts WHERE is_pool = 1 AND run_id IN ({marks}) GROUP BY run_id",
            run_ids):
        out[row["run_id"]] = int(row["n"])
    return out


def _cert_fingerprints(store: Any, run_id: str, keys: set[tuple[str, int]]) -> dict[tuple[str, int], list[str]]:
    """sha256 of the TLS certificates seen per (ip, port) in a run (from ``transcripts.tls_info``)."""
    import json

    out: dict[tuple[str, int], set[str]] = {}
    for row in store.db.query(
            "SELECT ip, port, tls_info FROM transcripts WHERE run_id = ? AND tls = 1 AND tls_info IS NOT NULL",
            [run_id]):
        key = (row["ip"], int(row["port"]))
        if key not in keys:
            continue
        try:
            info = json.loads(row["tls_info"])
        except ValueError:
            continue
        sha = info.get("sha256") if isinstance(info, dict) else None
        if isinstance(sha, str) and sha:
            out.setdefault(key, set()).add(sha)
    return {k: sorted(v) for k, v in out.items()}


def _pool_rows(store: Any, run_id: str) -> dict[tuple[str, int], dict]:
    import json

    out = {}
    for r in store.db.query("SELECT * FROM verdicts WHERE run_id = ? AND is_pool = 1", [run_id]):
        r = dict(r)
        try:
            r["enrichment"] = json.loads(r["enrichment"]) if r.get("enrichment") else {}
        except ValueError:
            r["enrichment"] = {}
        if not isinstance(r["enrichment"], dict):
            r["enrichment"] = {}
        try:
            r["evidence"] = json.loads(r["evidence"]) if r.get("evidence") else []
        except ValueError:
            r["evidence"] = []
        r["tls"] = bool(r.get("tls"))
        out[(r["ip"], int(r["port"]))] = r
    return out


def _endpoint(ip: str, port: int) -> str:
    """The store's pool id (:func:`scanner.store.endpoint_id`), also for a malformed stored address."""
    from scanner.store import endpoint_id

    try:
        return endpoint_id(ip, port)
    except ValueError:
        return f"{ip}:{port}"


def _sort_key(k: tuple[str, int]) -> tuple:
    import ipaddress

    try:
        a = ipaddress.ip_address(k[0])
        return (a.version, int(a), k[1])
    except ValueError:
        return (9, 0, k[1])


def _item(r: dict) -> dict:
    e = r["enrichment"]
    names = e.get("cert_names") or []
    return {"id": _endpoint(r["ip"], int(r["port"])), "ip": r["ip"], "port": int(r["port"]),
            **{k: r.get(k) for k in ("protocol", "software", "coin", "algo", "tls", "confidence", "label")},
            "country": e.get("country"), "asn": e.get("asn"), "as_org": e.get("as_org"),
            "cert_names": sorted(str(n) for n in names) if isinstance(names, list) else [str(names)],
            "evidence": [str(x) for x in (r.get("evidence") or [])][:20], "observed_at": r.get("observed_at")}


def run_pools(store: Any, run_id: str) -> list[dict]:
    """The pools of one run as its own verdicts saw them (not the cross-run aggregate), sorted by address:
    dicts with id (``ip:port``), ip, port, protocol, software, coin, algo, tls, confidence, label, country,
    asn, as_org, cert_names (list), evidence (list, at most 20), observed_at."""
    rows = _pool_rows(store, run_id)
    return [_item(rows[k]) for k in sorted(rows, key=_sort_key)]


def pool_sets(store: Any, run_ids: list[str]) -> dict[str, set[tuple[str, int]]]:
    """The (ip, port) pairs with is_pool = 1 of each run."""
    out: dict[str, set[tuple[str, int]]] = {r: set() for r in run_ids}
    if not run_ids:
        return out
    marks = ",".join("?" * len(run_ids))
    for row in store.db.query(f"SELECT run_id, ip, port FROM verdicts WHERE is_pool = 1 AND run_id IN ({marks})",
                              run_ids):
        out[row["run_id"]].add((row["ip"], int(row["port"])))
    return out


def diff_runs(store: Any, run_a: str, run_b: str) -> dict[str, Any]:
    """Pools of ``run_b`` against ``run_a``.

    Returns ``{"run_a", "run_b", "new": [...], "gone": [...], "changed": [...]}``. ``new``/``gone`` items are
    ``{"id": "ip:port", "ip", "port", "protocol", "software", "coin", "algo", "tls", "confidence",
    "country", "asn", "cert_names"}`` (from the run that has the pool); ``changed`` items are
    ``{"id", "ip", "port", "changes": {field: [in a, in b]}}`` where field is one of protocol, software,
    coin, algo, tls, cert_names (enrichment) or cert_sha256 (the TLS certificate's sha256 from the
    transcripts). A pool is a verdict with ``is_pool`` = 1 in that run.
    """
    require_run(store, run_a)
    require_run(store, run_b)
    a, b = _pool_rows(store, run_a), _pool_rows(store, run_b)
    both = set(a) & set(b)
    ca, cb = _cert_fingerprints(store, run_a, both), _cert_fingerprints(store, run_b, both)

    item = _item

    changed = []
    for key in sorted(both, key=_sort_key):
        ra, rb = item(a[key]), item(b[key])
        changes: dict[str, list] = {}
        for f in DIFF_FIELDS:
            if ra[f] != rb[f]:
                changes[f] = [ra[f], rb[f]]
        if ra["cert_names"] != rb["cert_names"]:
            changes["cert_names"] = [ra["cert_names"], rb["cert_names"]]
        sa, sb = ca.get(key, []), cb.get(key, [])
        if sa and sb and sa != sb:  # a missing TLS probe is not a certificate change
            changes["cert_sha256"] = [sa, sb]
        if changes:
            changed.append({"id": rb["id"], "ip": rb["ip"], "port": rb["port"], "changes": changes})
    return {"run_a": run_a, "run_b": run_b,
            "new": [item(b[k]) for k in sorted(set(b) - set(a), key=_sort_key)],
            "gone": [item(a[k]) for k in sorted(set(a) - set(b), key=_sort_key)],
            "changed": changed}


def default_diff_pair(store: Any, campaign: str | None) -> tuple[str, str]:
    """The last two finished runs of ``campaign`` (None: of the campaign of the latest finished campaign
    run). Raises :class:`UsageError` when there are fewer than two."""
    if campaign is None:
        done = finished_runs(store)
        if not done:
            raise UsageError("no finished campaign run in the store (pass RUN_A RUN_B or --campaign FILE)")
        campaign = done[-1].get("campaign")
    done = finished_runs(store, campaign)
    if len(done) < 2:
        raise UsageError(f"campaign {campaign} has {len(done)} finished run(s); a diff needs two "
                         "(or pass RUN_A RUN_B)")
    return done[-2]["id"], done[-1]["id"]
